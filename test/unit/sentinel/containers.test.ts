import { describe, expect, it } from 'vitest';
import type { ContainerStatus } from '../../../src/protocol/wire.js';
import { ContainerTracker } from '../../../src/sentinel/containers.js';

const at = (s: number): string => new Date(Date.UTC(2026, 0, 17, 4, 30, s)).toISOString();
const c = (container: string, status: ContainerStatus['status'], s = 0): ContainerStatus => ({ container, status, time: at(s) });
const names = (out: { data: ContainerStatus }[]): string[] => out.map((e) => `${e.data.container}:${e.data.status}`);

describe('ContainerTracker', () => {
  it('announces every container first, then only changes, then all again on a re-announce', () => {
    const tracker = new ContainerTracker();
    expect(names(tracker.update([c('api', 'running'), c('db', 'running')], at(0), false))).toEqual(['api:running', 'db:running']);
    expect(names(tracker.update([c('api', 'running', 1), c('db', 'running', 1)], at(1), false))).toEqual([]);
    expect(names(tracker.update([c('api', 'restarting', 2), c('db', 'running', 2)], at(2), false))).toEqual(['api:restarting']);
    expect(names(tracker.update([c('api', 'running', 29), c('db', 'running', 29)], at(29), false))).toEqual(['api:running']);
    expect(names(tracker.update([c('api', 'running', 30), c('db', 'running', 30)], at(30), true))).toEqual(['api:running', 'db:running']);
    expect(names(tracker.update([c('api', 'running', 31), c('db', 'running', 31)], at(31), false))).toEqual([]);
  });

  it('announces a container that appears, and `removing` once for one that vanishes from the list', () => {
    const tracker = new ContainerTracker();
    tracker.update([c('api', 'running')], at(0), false);
    expect(names(tracker.update([c('api', 'running'), c('worker', 'created')], at(1), false))).toEqual(['worker:created']);
    const out = tracker.update([c('worker', 'running')], at(2), false);
    expect(out).toEqual([
      { type: 'container_status', data: c('worker', 'running') },
      { type: 'container_status', data: { container: 'api', status: 'removing', time: at(2) } },
    ]);
    expect(names(tracker.update([c('worker', 'running')], at(3), false))).toEqual([]);
  });
});
