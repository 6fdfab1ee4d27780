import { describe, expect, it } from 'vitest';
import type { ContainerStatus } from '../../../src/protocol.js';
import { ContainerTracker } from '../../../src/sentinel/containers.js';

const at = (s: number): string => new Date(Date.UTC(2026, 0, 17, 4, 30, s)).toISOString();
const c = (container: string, status: ContainerStatus['status'], s = 0): ContainerStatus => ({ container, status, time: at(s) });
const names = (out: { data: ContainerStatus }[]): string[] => out.map((e) => `${e.data.container}:${e.data.status}`);

describe('ContainerTracker', () => {
  it('announces every container first, then only changes, then all again after reannounceMs', () => {
    const tracker = new ContainerTracker(30_000);
    expect(names(tracker.update([c('api', 'running'), c('db', 'running')], 0, at(0)))).toEqual(['api:running', 'db:running']);
    expect(names(tracker.update([c('api', 'running', 1), c('db', 'running', 1)], 1000, at(1)))).toEqual([]);
    expect(names(tracker.update([c('api', 'restarting', 2), c('db', 'running', 2)], 2000, at(2)))).toEqual(['api:restarting']);
    expect(names(tracker.update([c('api', 'running', 29), c('db', 'running', 29)], 29_999, at(29)))).toEqual(['api:running']);
    expect(names(tracker.update([c('api', 'running', 30), c('db', 'running', 30)], 30_000, at(30)))).toEqual(['api:running', 'db:running']);
    expect(names(tracker.update([c('api', 'running', 31), c('db', 'running', 31)], 31_000, at(31)))).toEqual([]);
  });

  it('announces a container that appears, and `removing` once for one that vanishes from the list', () => {
    const tracker = new ContainerTracker(30_000);
    tracker.update([c('api', 'running')], 0, at(0));
    expect(names(tracker.update([c('api', 'running'), c('worker', 'created')], 1000, at(1)))).toEqual(['worker:created']);
    const out = tracker.update([c('worker', 'running')], 2000, at(2));
    expect(out).toEqual([
      { type: 'container_status', data: c('worker', 'running') },
      { type: 'container_status', data: { container: 'api', status: 'removing', time: at(2) } },
    ]);
    expect(names(tracker.update([c('worker', 'running')], 3000, at(3)))).toEqual([]);
  });

  it('announces everything on the next update after invalidate()', () => {
    const tracker = new ContainerTracker(30_000);
    tracker.update([c('api', 'running')], 0, at(0));
    tracker.invalidate();
    expect(names(tracker.update([c('api', 'running')], 1000, at(1)))).toEqual(['api:running']);
    expect(names(tracker.update([c('api', 'running')], 2000, at(2)))).toEqual([]);
  });
});
