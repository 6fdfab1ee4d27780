import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { ContainerStatusMessage, Envelope } from '../../src/protocol/wire.js';
import { startSentinel, type Sentinel } from '../../src/sentinel/sentinel.js';
import type { SentinelOptions } from '../../src/sentinel/sentinel-options.js';
import { container, startFakeDocker, type FakeDocker } from '../helpers/fake-docker.js';

// The sentinel's default sampler (the procfs one on Linux) reading containers from a fake Docker
// Engine API served on a Unix socket in a temp dir: the list at start, changes through the event
// stream, re-announcements, and a daemon that goes away and comes back. Batches go to an in-process
// publisher, so that each test sees exactly what one sentinel sends.

const HOST = 'web-1';

interface Recorder {
  readonly batches: Envelope[][];
  readonly warnings: string[];
  readonly infos: string[];
  /** Resolves with the first batch from index `from` on that `match` accepts. */
  next(match: (batch: Envelope[]) => boolean, from?: number, timeoutMs?: number): Promise<Envelope[]>;
  /** Resolves once `count` more batches than now have arrived. */
  more(count: number, timeoutMs?: number): Promise<void>;
}

function recorder(): Recorder & {
  publish: (batch: Envelope | readonly Envelope[]) => Promise<number>;
  logger: NonNullable<SentinelOptions['logger']>;
} {
  const batches: Envelope[][] = [];
  const warnings: string[] = [];
  const infos: string[] = [];
  const wakers = new Set<() => void>();
  const wait = (done: () => boolean, what: string, timeoutMs: number): Promise<void> =>
    new Promise((resolve, reject) => {
      const wake = (): void => {
        if (!done()) return;
        clearTimeout(timer);
        wakers.delete(wake);
        resolve();
      };
      const timer = setTimeout(() => {
        wakers.delete(wake);
        reject(new Error(`timed out waiting for ${what} (${batches.length} batches)`));
      }, timeoutMs);
      wakers.add(wake);
      wake();
    });
  const noop = (): void => {};
  return {
    batches,
    warnings,
    infos,
    async publish(batch) {
      batches.push(Array.isArray(batch) ? [...(batch as readonly Envelope[])] : [batch as Envelope]);
      for (const wake of [...wakers]) wake();
      return 1;
    },
    logger: {
      debug: noop,
      error: noop,
      info: (_obj, msg) => void infos.push(msg ?? ''),
      warn: (_obj, msg) => void warnings.push(msg ?? ''),
    },
    async next(match, from = 0, timeoutMs = 10_000) {
      let found: Envelope[] | undefined;
      await wait(
        () => {
          found = batches.slice(from).find(match);
          return found !== undefined;
        },
        'a matching batch',
        timeoutMs,
      );
      return found!;
    },
    async more(count, timeoutMs = 10_000) {
      const target = batches.length + count;
      await wait(() => batches.length >= target, `${count} more batches`, timeoutMs);
    },
  };
}

const statuses = (batch: readonly Envelope[]): [string, string][] =>
  batch.filter((e): e is ContainerStatusMessage => e.type === 'container_status').map((e) => [e.data.container, e.data.status]);
const hasCpu = (batch: readonly Envelope[]): boolean => batch.some((e) => e.type === 'system_metric' && e.data.metric_type === 'cpu');

let docker: FakeDocker;
let sentinel: Sentinel | undefined;
let rec: ReturnType<typeof recorder>;

beforeEach(async () => {
  docker = await startFakeDocker([
    container('api', 'running'),
    container('nightly-backup', 'exited'),
    container('cache', 'paused'),
    container('worker', 'restarting'),
    container('init', 'created'),
    container('old', 'dead'),
    container('leaving', 'removing'),
    container('odd', 'hibernating'), // a state the schema does not know: left out
    { Id: 'no-name', State: 'running' }, // no Names: left out
    { Names: ['/no-id'], State: 'running' }, // no Id: left out, as systeminformation did
  ]);
  rec = recorder();
});

afterEach(async () => {
  await sentinel?.stop();
  sentinel = undefined;
  await docker.dispose();
});

function start(options: Partial<SentinelOptions> = {}): Sentinel {
  sentinel = startSentinel({
    publisher: rec,
    source: HOST,
    intervalMs: 100,
    containerReannounceMs: 60_000,
    thresholds: { cpu: false, memory: false, disk: false },
    dockerSocket: docker.socketPath,
    logger: rec.logger,
    ...options,
  });
  return sentinel;
}

describe('startSentinel with the Docker Engine API on a Unix socket', () => {
  it('publishes every container with a known state in the first batch, named <host>/<name>, sorted', async () => {
    start();
    const first = await rec.next((b) => statuses(b).length > 0);
    expect(statuses(first)).toEqual([
      ['web-1/api', 'running'],
      ['web-1/cache', 'paused'],
      ['web-1/init', 'created'],
      ['web-1/leaving', 'removing'],
      ['web-1/nightly-backup', 'exited'],
      ['web-1/old', 'dead'],
      ['web-1/worker', 'restarting'],
    ]);
    expect(hasCpu(first)).toBe(true); // host metrics in the same batch
    expect(rec.warnings.filter((w) => /Docker/.test(w))).toEqual([]);
    expect(docker.requests.find((p) => p.startsWith('/containers/json'))).toBe('/containers/json?all=1');
  });

  it('asks nothing while no container event comes; a state change arrives through the event stream at the next tick', async () => {
    start();
    await rec.next((b) => statuses(b).length > 0);
    await docker.waitForEventStreams(1);
    await rec.more(3);
    expect(docker.listCount()).toBe(1);

    // Health checks and execs change no state: still no request.
    docker.emit('exec_start: /bin/sh -c healthcheck', 'api');
    docker.emit('health_status: healthy', 'api');
    await rec.more(3);
    expect(docker.listCount()).toBe(1);
    expect(rec.batches.slice(1).flatMap(statuses)).toEqual([]);

    docker.setContainers([
      container('api', 'exited'),
      container('nightly-backup', 'exited'),
      container('cache', 'paused'),
      container('worker', 'restarting'),
      container('init', 'created'),
      container('old', 'dead'),
      container('leaving', 'removing'),
    ]);
    const from = rec.batches.length;
    docker.emit('die', 'api');
    const changed = await rec.next((b) => statuses(b).length > 0, from);
    expect(statuses(changed)).toEqual([['web-1/api', 'exited']]); // only what changed
    expect(docker.listCount()).toBe(2);
  });

  it('publishes `removing` once for a container that left the list', async () => {
    start();
    await rec.next((b) => statuses(b).length > 0);
    await docker.waitForEventStreams(1);
    docker.setContainers([container('api', 'running')]);
    const from = rec.batches.length;
    docker.emit('destroy', 'nightly-backup');
    const gone = await rec.next((b) => statuses(b).length > 0, from);
    expect(statuses(gone)).toEqual([
      ['web-1/cache', 'removing'],
      ['web-1/init', 'removing'],
      ['web-1/leaving', 'removing'],
      ['web-1/nightly-backup', 'removing'],
      ['web-1/old', 'removing'],
      ['web-1/worker', 'removing'],
    ]);
    const after = rec.batches.length;
    await rec.more(3);
    expect(rec.batches.slice(after).flatMap(statuses)).toEqual([]);
  });

  it('re-announces every container every containerReannounceMs, from a list read again', async () => {
    start({ containerReannounceMs: 600 });
    const first = await rec.next((b) => statuses(b).length > 0);
    const from = rec.batches.indexOf(first) + 1;
    const again = await rec.next((b) => statuses(b).length > 0, from, 5000);
    expect(statuses(again)).toEqual(statuses(first));
    expect(docker.listCount()).toBeGreaterThanOrEqual(2);
  });

  it('a daemon that goes away: one warning and host metrics go on; back again: every container is announced', async () => {
    start();
    const first = await rec.next((b) => statuses(b).length > 0);
    await docker.waitForEventStreams(1);
    await docker.stop();
    const from = rec.batches.length;
    await rec.more(5);
    expect(rec.warnings.filter((w) => /no Docker daemon reachable/.test(w))).toHaveLength(1);
    expect(rec.batches.slice(from).every(hasCpu)).toBe(true);
    expect(rec.batches.slice(from).flatMap(statuses)).toEqual([]);

    await docker.start();
    const back = await rec.next((b) => statuses(b).length > 0, from);
    expect(statuses(back)).toEqual(statuses(first));
    expect(rec.infos).toContain('Docker daemon reachable again; publishing container status');
    expect(rec.warnings.filter((w) => /no Docker daemon reachable/.test(w))).toHaveLength(1);
  });

  it('without a socket at the path: one warning, host metrics only', async () => {
    start({ dockerSocket: `${docker.socketPath}.missing` });
    await rec.next(hasCpu);
    await rec.more(4);
    expect(rec.batches.every(hasCpu)).toBe(true);
    expect(rec.batches.flatMap(statuses)).toEqual([]);
    expect(rec.warnings.filter((w) => /Docker/.test(w))).toEqual(['no Docker daemon reachable; publishing host metrics only']);
    expect(docker.requests).toEqual([]);
  });

  it('honours DOCKER_HOST=unix://<path> when no dockerSocket is given', async () => {
    const saved = process.env['DOCKER_HOST'];
    process.env['DOCKER_HOST'] = `unix://${docker.socketPath}`;
    try {
      start({ dockerSocket: undefined });
    } finally {
      if (saved === undefined) delete process.env['DOCKER_HOST'];
      else process.env['DOCKER_HOST'] = saved;
    }
    const first = await rec.next((b) => statuses(b).length > 0);
    expect(statuses(first)).toContainEqual(['web-1/api', 'running']);
  });

  it('a daemon without an event stream: the list is read at every tick, and changes still arrive', async () => {
    const partial = await startFakeDocker([container('api', 'running')], { hasEvents: false });
    try {
      start({ dockerSocket: partial.socketPath });
      const first = await rec.next((b) => statuses(b).length > 0);
      expect(statuses(first)).toEqual([['web-1/api', 'running']]);
      partial.setContainers([container('api', 'paused')]);
      const changed = await rec.next((b) => statuses(b).length > 0, rec.batches.indexOf(first) + 1);
      expect(statuses(changed)).toEqual([['web-1/api', 'paused']]);
      expect(partial.listCount()).toBeGreaterThanOrEqual(2);
      expect(rec.warnings.filter((w) => /Docker/.test(w))).toEqual([]);
    } finally {
      await sentinel?.stop();
      sentinel = undefined;
      await partial.dispose();
    }
  });

  it('stop() closes the event stream', async () => {
    start();
    await rec.next((b) => statuses(b).length > 0);
    await docker.waitForEventStreams(1);
    await sentinel!.stop();
    sentinel = undefined;
    for (let i = 0; i < 100 && docker.eventStreams() > 0; i++) await new Promise((r) => setTimeout(r, 20));
    expect(docker.eventStreams()).toBe(0);
  });
});
