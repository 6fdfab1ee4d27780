import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envelopeValidator } from '../../../src/envelope-validator.js';
import { collectContainers, collectMetrics } from '../../../src/sentinel/collect.js';
import type { SystemSample } from '../../../src/sentinel/sample.js';

// first-sample.json and steady-sample.json are what systeminformation returned on a 2-vCPU VM without
// Docker (recorded with scripts/record-si-fixtures.mjs, one second apart). docker-host.json is made by
// hand from steady-sample.json: a fuller disk, busy memory, duplicate and empty mounts, and containers
// in the shape si.dockerContainers(true) returns.
function fixture(name: string): SystemSample {
  return JSON.parse(readFileSync(new URL(`../../fixtures/si/${name}`, import.meta.url), 'utf8')) as SystemSample;
}

const first = fixture('first-sample.json');
const steady = fixture('steady-sample.json');
const docker = fixture('docker-host.json');

const round2 = (n: number): number => Math.round(n * 100) / 100;
const series = (sample: SystemSample): string[] => collectMetrics(sample).map((e) => `${e.data.metric_type}:${e.data.source}`);

describe('collectMetrics', () => {
  it('maps the first recorded sample: cpu, memory, load and the root disk, but no network rates yet (they are null)', () => {
    expect(first.networkStats.every((n) => n.rx_sec === null && n.tx_sec === null)).toBe(true);
    expect(series(first)).toEqual(['cpu:host', 'memory:host', 'load:host', 'disk:/']);
  });

  it('maps a steady recorded sample, field for field', () => {
    const t = steady.time;
    const eth0 = steady.networkStats.find((n) => n.iface === 'eth0')!;
    const lo = steady.networkStats.find((n) => n.iface === 'lo')!;
    const root = steady.fsSize.find((f) => f.mount === '/')!;
    expect(collectMetrics(steady)).toEqual([
      { type: 'system_metric', data: { time: t, metric_type: 'cpu', value: round2(steady.currentLoad.currentLoad), source: 'host', meta: { unit: 'percent' } } },
      {
        type: 'system_metric',
        data: {
          time: t,
          metric_type: 'memory',
          value: round2((steady.mem.active / steady.mem.total) * 100),
          source: 'host',
          meta: { unit: 'percent', used_bytes: steady.mem.active, total_bytes: steady.mem.total },
        },
      },
      {
        type: 'system_metric',
        data: { time: t, metric_type: 'load', value: round2(steady.loadavg[0]!), source: 'host', meta: { unit: 'load', window: '1m', cpus: 2 } },
      },
      {
        type: 'system_metric',
        data: {
          time: t,
          metric_type: 'disk',
          value: root.use,
          source: '/',
          meta: { unit: 'percent', fs: root.fs, fs_type: root.type, used_bytes: root.used, size_bytes: root.size },
        },
      },
      { type: 'system_metric', data: { time: t, metric_type: 'net_rx', value: Math.round(eth0.rx_sec!), source: 'eth0', meta: { unit: 'bytes/s' } } },
      { type: 'system_metric', data: { time: t, metric_type: 'net_tx', value: Math.round(eth0.tx_sec!), source: 'eth0', meta: { unit: 'bytes/s' } } },
      { type: 'system_metric', data: { time: t, metric_type: 'net_rx', value: Math.round(lo.rx_sec!), source: 'lo', meta: { unit: 'bytes/s' } } },
      { type: 'system_metric', data: { time: t, metric_type: 'net_tx', value: Math.round(lo.tx_sec!), source: 'lo', meta: { unit: 'bytes/s' } } },
    ]);
  });

  it('reports memory from `active` (page cache excluded), not `used`', () => {
    const memory = collectMetrics(docker).find((e) => e.data.metric_type === 'memory')!;
    expect(memory.data.value).toBe(92.5); // active 7.4 GB of 8 GB; `used` would say 98.75
  });

  it('lists every mount once, sorted, and skips filesystems without a size', () => {
    const disks = collectMetrics(docker).filter((e) => e.data.metric_type === 'disk');
    expect(disks.map((e) => [e.data.source, e.data.value])).toEqual([
      ['/', 93.5],
      ['/var/lib/docker', 20],
    ]);
  });

  it('sorts interfaces and rounds rates to whole bytes per second', () => {
    const net = collectMetrics(docker).filter((e) => e.data.metric_type.startsWith('net_'));
    expect(net.map((e) => [e.data.metric_type, e.data.source, e.data.value])).toEqual([
      ['net_rx', 'docker0', 0],
      ['net_tx', 'docker0', 13],
      ['net_rx', 'eth0', 125000],
      ['net_tx', 'eth0', 64001],
    ]);
  });

  it('leaves out values that are missing or not finite instead of sending 0', () => {
    const broken: SystemSample = {
      ...steady,
      currentLoad: { currentLoad: Number.NaN },
      mem: { total: 0, active: 0 },
      loadavg: [],
      fsSize: [{ fs: 'x', type: 'x', size: 10, used: 1, use: null, mount: '/x' }],
      networkStats: [{ iface: 'eth1', rx_sec: null, tx_sec: -1 }],
    };
    expect(collectMetrics(broken).map((e) => [e.data.metric_type, e.data.source, e.data.value])).toEqual([['disk', '/x', 10]]);
  });

  it('clamps percentages to 0..100', () => {
    const sample: SystemSample = { ...steady, currentLoad: { currentLoad: 100.0000001 } };
    expect(collectMetrics(sample)[0]!.data.value).toBe(100);
  });

  it.each([
    ['first-sample.json', first],
    ['steady-sample.json', steady],
    ['docker-host.json', docker],
  ])('produces only envelopes the schema accepts (%s)', (_name, sample) => {
    const validate = envelopeValidator();
    for (const e of [...collectMetrics(sample), ...collectContainers(sample).containers.map((data) => ({ type: 'container_status', data }))]) {
      expect(validate(e), JSON.stringify(validate.errors)).toBe(true);
    }
  });
});

describe('collectContainers', () => {
  it('maps si.dockerContainers(true) to container states by name, sorted, skipping nameless ones', () => {
    expect(collectContainers(docker)).toEqual({
      isDockerAvailable: true,
      containers: [
        { container: 'api', status: 'restarting', time: docker.time },
        { container: 'nightly-backup', status: 'exited', time: docker.time },
        { container: 'redis', status: 'running', time: docker.time },
        { container: 'tick-archiver', status: 'running', time: docker.time },
      ],
    });
  });

  it('reports Docker as unavailable on the recorded host without a daemon (dockerInfo() has no id)', () => {
    expect(steady.dockerInfo).toEqual({});
    expect(collectContainers(steady)).toEqual({ isDockerAvailable: false, containers: [] });
  });

  it('tells "no containers" from "no daemon" by dockerInfo().id', () => {
    expect(collectContainers({ ...steady, dockerInfo: { id: 'ABCD:EFGH' } })).toEqual({ isDockerAvailable: true, containers: [] });
  });

  it('skips a state the schema does not know', () => {
    const sample: SystemSample = { ...docker, dockerContainers: [{ name: 'odd', state: 'hibernating' }, { name: 'ok', state: 'paused' }] };
    expect(collectContainers(sample).containers.map((c) => c.container)).toEqual(['ok']);
  });
});
