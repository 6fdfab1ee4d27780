import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { envelopeValidator } from '../../../src/shared/envelope-validator.js';
import { envelopeKey } from '../../../src/protocol/wire.js';
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
const HOST = 'web-1';
const series = (sample: SystemSample): string[] => collectMetrics(sample, HOST).map((e) => `${e.data.metric_type}|${e.data.source}`);

describe('collectMetrics', () => {
  it('maps the first recorded sample: cpu, memory, load and the root disk, but no network rates yet (they are null)', () => {
    expect(first.networkStats.every((n) => n.rx_sec === null && n.tx_sec === null)).toBe(true);
    expect(series(first)).toEqual(['cpu|web-1', 'memory|web-1', 'load|web-1', 'disk|web-1:/']);
  });

  it('maps a steady recorded sample, field for field', () => {
    const t = steady.time;
    const eth0 = steady.networkStats.find((n) => n.iface === 'eth0')!;
    const lo = steady.networkStats.find((n) => n.iface === 'lo')!;
    const root = steady.fsSize.find((f) => f.mount === '/')!;
    expect(collectMetrics(steady, HOST)).toEqual([
      {
        type: 'system_metric',
        data: {
          time: t,
          metric_type: 'cpu',
          value: round2(steady.currentLoad.currentLoad),
          source: 'web-1',
          meta: { unit: 'percent', host: 'web-1' },
        },
      },
      {
        type: 'system_metric',
        data: {
          time: t,
          metric_type: 'memory',
          value: round2((steady.mem.active / steady.mem.total) * 100),
          source: 'web-1',
          meta: { unit: 'percent', used_bytes: steady.mem.active, total_bytes: steady.mem.total, host: 'web-1' },
        },
      },
      {
        type: 'system_metric',
        data: {
          time: t,
          metric_type: 'load',
          value: round2(steady.loadavg[0]!),
          source: 'web-1',
          meta: { unit: 'load', window: '1m', cpus: 2, host: 'web-1' },
        },
      },
      {
        type: 'system_metric',
        data: {
          time: t,
          metric_type: 'disk',
          value: root.use,
          source: 'web-1:/',
          meta: {
            unit: 'percent',
            mount: '/',
            fs: root.fs,
            fs_type: root.type,
            used_bytes: root.used,
            size_bytes: root.size,
            host: 'web-1',
          },
        },
      },
      {
        type: 'system_metric',
        data: {
          time: t,
          metric_type: 'net_rx',
          value: Math.round(eth0.rx_sec!),
          source: 'web-1:eth0',
          meta: { unit: 'bytes/s', iface: 'eth0', host: 'web-1' },
        },
      },
      {
        type: 'system_metric',
        data: {
          time: t,
          metric_type: 'net_tx',
          value: Math.round(eth0.tx_sec!),
          source: 'web-1:eth0',
          meta: { unit: 'bytes/s', iface: 'eth0', host: 'web-1' },
        },
      },
      {
        type: 'system_metric',
        data: {
          time: t,
          metric_type: 'net_rx',
          value: Math.round(lo.rx_sec!),
          source: 'web-1:lo',
          meta: { unit: 'bytes/s', iface: 'lo', host: 'web-1' },
        },
      },
      {
        type: 'system_metric',
        data: {
          time: t,
          metric_type: 'net_tx',
          value: Math.round(lo.tx_sec!),
          source: 'web-1:lo',
          meta: { unit: 'bytes/s', iface: 'lo', host: 'web-1' },
        },
      },
    ]);
  });

  it('reports memory from `active` (page cache excluded), not `used`', () => {
    const memory = collectMetrics(docker, HOST).find((e) => e.data.metric_type === 'memory')!;
    expect(memory.data.value).toBe(92.5); // active 7.4 GB of 8 GB; `used` would say 98.75
  });

  it('lists every mount once, sorted, and skips filesystems without a size', () => {
    const disks = collectMetrics(docker, HOST).filter((e) => e.data.metric_type === 'disk');
    expect(disks.map((e) => [e.data.source, e.data.value])).toEqual([
      ['web-1:/', 93.5],
      ['web-1:/var/lib/docker', 20],
    ]);
  });

  it('sorts interfaces and rounds rates to whole bytes per second', () => {
    const net = collectMetrics(docker, HOST).filter((e) => e.data.metric_type.startsWith('net_'));
    expect(net.map((e) => [e.data.metric_type, e.data.source, e.data.value])).toEqual([
      ['net_rx', 'web-1:docker0', 0],
      ['net_tx', 'web-1:docker0', 13],
      ['net_rx', 'web-1:eth0', 125000],
      ['net_tx', 'web-1:eth0', 64001],
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
    expect(collectMetrics(broken, HOST).map((e) => [e.data.metric_type, e.data.source, e.data.value])).toEqual([['disk', 'web-1:/x', 10]]);
  });

  it('clamps percentages to 0..100', () => {
    const sample: SystemSample = { ...steady, currentLoad: { currentLoad: 100.0000001 } };
    expect(collectMetrics(sample, HOST)[0]!.data.value).toBe(100);
  });

  it.each([
    ['first-sample.json', first],
    ['steady-sample.json', steady],
    ['docker-host.json', docker],
  ])('produces only envelopes the schema accepts (%s)', (_name, sample) => {
    const validate = envelopeValidator();
    for (const e of [
      ...collectMetrics(sample, HOST),
      ...collectContainers(sample, HOST).containers.map((data) => ({ type: 'container_status', data })),
    ]) {
      expect(validate(e), JSON.stringify(validate.errors)).toBe(true);
    }
  });
});

describe('collectMetrics for a fleet', () => {
  it('keeps two hosts apart: every series key differs, and meta.host names the host', () => {
    const keys = (host: string): string[] => collectMetrics(steady, host).map((e) => envelopeKey(e));
    const a = keys('web-1');
    const b = keys('web-2');
    expect(a).toHaveLength(b.length);
    expect(a.filter((k) => b.includes(k))).toEqual([]);
    expect(collectMetrics(steady, 'web-2').every((e) => e.data.meta?.['host'] === 'web-2')).toBe(true);
  });

  it('leaves out a mount whose `<host>:<mount>` would be longer than the schema allows', () => {
    const sample: SystemSample = { ...steady, fsSize: [{ ...steady.fsSize[0]!, mount: `/${'m'.repeat(250)}` }] };
    expect(series(sample).filter((s) => s.startsWith('disk|'))).toEqual([]);
  });
});

describe('collectContainers', () => {
  it('maps si.dockerContainers(true) to container states by name, sorted, skipping nameless ones', () => {
    expect(collectContainers(docker, HOST)).toEqual({
      isDockerAvailable: true,
      containers: [
        { container: 'web-1/api', status: 'restarting', time: docker.time },
        { container: 'web-1/nightly-backup', status: 'exited', time: docker.time },
        { container: 'web-1/redis', status: 'running', time: docker.time },
        { container: 'web-1/tick-archiver', status: 'running', time: docker.time },
      ],
    });
  });

  it('reports Docker as unavailable on the recorded host without a daemon (dockerInfo() has no id)', () => {
    expect(steady.dockerInfo).toEqual({});
    expect(collectContainers(steady, HOST)).toEqual({ isDockerAvailable: false, containers: [] });
  });

  it('tells "no containers" from "no daemon" by dockerInfo().id', () => {
    expect(collectContainers({ ...steady, dockerInfo: { id: 'ABCD:EFGH' } }, HOST)).toEqual({ isDockerAvailable: true, containers: [] });
  });

  it('skips a state the schema does not know', () => {
    const sample: SystemSample = {
      ...docker,
      dockerContainers: [
        { name: 'odd', state: 'hibernating' },
        { name: 'ok', state: 'paused' },
      ],
    };
    expect(collectContainers(sample, HOST).containers.map((c) => c.container)).toEqual(['web-1/ok']);
  });
});
