// Pure mapping from one raw systeminformation sample to envelopes. No I/O, no clock: the sample carries its time.
import type { ContainerState, ContainerStatus, MetricMeta, SystemMetricMessage } from '../protocol/wire.js';
import type { SystemSample } from './sample.js';
import { containerName, seriesSource } from './source.js';

/**
 * The `metric_type`s the sentinel publishes. Every metric's `meta.host` is the host, and its `source`
 * follows {@link seriesSource}.
 */
export const SentinelMetric = {
  /** % busy across all cores, source `<host>`. */
  Cpu: 'cpu',
  /** % of memory in use (`active / total`, page cache excluded), source `<host>`. */
  Memory: 'memory',
  /** % of a filesystem in use, source `<host>:<mount point>`, `meta.mount` the mount point. */
  Disk: 'disk',
  /** 1-minute load average, source `<host>`. */
  Load: 'load',
  /** Bytes received per second, source `<host>:<interface>`, `meta.iface` the interface. */
  NetRx: 'net_rx',
  /** Bytes sent per second, source `<host>:<interface>`, `meta.iface` the interface. */
  NetTx: 'net_tx',
} as const;

/** The schema's limits on `source` and on `meta` strings. */
const MAX_NAME_LENGTH = 256;
const CONTAINER_STATES: ReadonlySet<string> = new Set<ContainerState>([
  'created',
  'running',
  'paused',
  'restarting',
  'removing',
  'exited',
  'dead',
  'stopped',
]);

/**
 * The host metrics of one sample, in a stable order: cpu, memory, load, disks by mount point,
 * network by interface, each with `host` in its `source` and its `meta`. Values that are missing or not
 * finite (a first network sample, an empty filesystem) are left out rather than sent as 0.
 */
export function collectMetrics(sample: SystemSample, host: string): SystemMetricMessage[] {
  const out: SystemMetricMessage[] = [];
  const push = (metric_type: string, value: number | null | undefined, part: string | undefined, meta: MetricMeta): void => {
    if (part !== undefined && part.length === 0) return;
    const source = seriesSource(host, part);
    if (typeof value !== 'number' || !Number.isFinite(value) || source.length > MAX_NAME_LENGTH || (part?.length ?? 0) > MAX_NAME_LENGTH)
      return;
    out.push({ type: 'system_metric', data: { time: sample.time, metric_type, value, source, meta: { ...meta, host } } });
  };

  push(SentinelMetric.Cpu, percent(sample.currentLoad?.currentLoad), undefined, { unit: 'percent' });

  const { total, active } = sample.mem ?? {};
  if (typeof total === 'number' && Number.isFinite(total) && total > 0 && typeof active === 'number' && Number.isFinite(active)) {
    push(SentinelMetric.Memory, percent((active / total) * 100), undefined, { unit: 'percent', used_bytes: active, total_bytes: total });
  }

  const load1 = sample.loadavg?.[0];
  if (typeof load1 === 'number') {
    const meta: Record<string, string | number> = { unit: 'load', window: '1m' };
    if (Number.isInteger(sample.cpuCount)) meta['cpus'] = sample.cpuCount;
    push(SentinelMetric.Load, round(load1, 2), undefined, meta);
  }

  const mounts = new Set<string>();
  for (const fs of [...(sample.fsSize ?? [])].sort((a, b) => compare(a.mount, b.mount))) {
    // The same mount can be listed twice (bind mounts); the first entry wins.
    if (!(fs.size > 0) || mounts.has(fs.mount)) continue;
    mounts.add(fs.mount);
    push(SentinelMetric.Disk, percent(fs.use ?? (fs.used / fs.size) * 100), fs.mount, {
      unit: 'percent',
      mount: fs.mount,
      fs: truncate(fs.fs),
      fs_type: truncate(fs.type),
      ...(Number.isFinite(fs.used) ? { used_bytes: fs.used } : {}),
      size_bytes: fs.size,
    });
  }

  for (const net of [...(sample.networkStats ?? [])].sort((a, b) => compare(a.iface, b.iface))) {
    push(SentinelMetric.NetRx, bytesPerSecond(net.rx_sec), net.iface, { unit: 'bytes/s', iface: net.iface });
    push(SentinelMetric.NetTx, bytesPerSecond(net.tx_sec), net.iface, { unit: 'bytes/s', iface: net.iface });
  }
  return out;
}

/** Containers of one sample, and whether a Docker daemon answered at all. */
export interface ContainerSample {
  /** `false` when no daemon is reachable: then `containers` is empty and means nothing. */
  readonly isDockerAvailable: boolean;
  /**
   * By name, sorted, each named `<host>/<name>` ({@link containerName}); containers without a name or
   * with an unknown state are left out.
   */
  readonly containers: readonly ContainerStatus[];
}

/** The container states of one sample, with the sample's time. */
export function collectContainers(sample: SystemSample, host: string): ContainerSample {
  const listed = sample.dockerContainers ?? [];
  const isDockerAvailable = listed.length > 0 || Boolean(sample.dockerInfo?.id);
  const byName = new Map<string, ContainerStatus>();
  for (const c of listed) {
    if (typeof c.name !== 'string' || c.name.length === 0) continue;
    const name = containerName(host, c.name);
    if (name.length > MAX_NAME_LENGTH || !CONTAINER_STATES.has(c.state)) continue;
    byName.set(name, { container: name, status: c.state as ContainerState, time: sample.time });
  }
  const containers = [...byName.values()].sort((a, b) => compare(a.container, b.container));
  return { isDockerAvailable, containers };
}

function percent(value: number | null | undefined): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value)) return undefined;
  return round(Math.min(100, Math.max(0, value)), 2);
}

function bytesPerSecond(value: number | null | undefined): number | undefined {
  if (typeof value !== 'number' || !Number.isFinite(value) || value < 0) return undefined;
  return Math.round(value);
}

function round(value: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(value * f) / f;
}

function truncate(value: unknown): string {
  return typeof value === 'string' ? value.slice(0, MAX_NAME_LENGTH) : '';
}

function compare(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}
