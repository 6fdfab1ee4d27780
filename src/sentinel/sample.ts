import { loadavg } from 'node:os';

/**
 * One sample of the host: raw `systeminformation` output, reduced to the fields the sentinel reads.
 * The objects `systeminformation` returns fit as they are, so a recorded sample can be replayed.
 * @public
 */
export interface SystemSample {
  /** When the sample was taken, ISO-8601 UTC. */
  readonly time: string;
  /** `si.currentLoad()`: `currentLoad` is % busy across all cores since the previous call. */
  readonly currentLoad: { readonly currentLoad: number };
  /** `si.mem()`, bytes. `active` is `total − available`: memory in use, page cache excluded. */
  readonly mem: { readonly total: number; readonly active: number };
  /** `si.fsSize()`: one entry per mounted filesystem; `use` is in percent. */
  readonly fsSize: readonly {
    readonly fs: string;
    readonly type: string;
    readonly size: number;
    readonly used: number;
    readonly use: number | null;
    readonly mount: string;
  }[];
  /** `si.networkStats('*')`: `rx_sec`/`tx_sec` are bytes per second, `null` until a second sample exists. */
  readonly networkStats: readonly {
    readonly iface: string;
    readonly operstate?: string;
    readonly rx_sec: number | null;
    readonly tx_sec: number | null;
  }[];
  /** `os.loadavg()`: 1-, 5- and 15-minute load averages. */
  readonly loadavg: readonly number[];
  /** Number of logical CPUs. */
  readonly cpuCount: number;
  /** `si.dockerContainers(true)`: every container, running or not. Empty without a Docker daemon. */
  readonly dockerContainers: readonly { readonly name: string; readonly state: string }[];
  /**
   * `si.dockerInfo()`, read only when no container is listed: without a daemon it has no `id`, which is
   * the only way to tell "no Docker" from "no containers" (systeminformation swallows the socket error).
   * The procfs sampler sets an `id` whenever the daemon answered.
   */
  readonly dockerInfo?: { readonly id?: string } | null;
}

/**
 * Takes one {@link SystemSample}. Replace it in `startSentinel({ sampler })` to feed recorded or synthetic data.
 * @public
 */
export type Sampler = () => Promise<SystemSample>;

/**
 * A {@link Sampler} that reads the host with `systeminformation`: the default on systems other than
 * Linux (on Linux the sentinel reads `/proc` itself, because several systeminformation readers start a
 * shell per call). The first call takes about 500 ms (`currentLoad` primes its counters) and reports no
 * network rates (they need two samples).
 * @public
 */
export async function sampleSystem(): Promise<SystemSample> {
  // Loaded on first use, so that a sentinel on Linux never loads it.
  const { currentLoad, dockerContainers, dockerInfo, fsSize, mem, networkStats } = await import('systeminformation');
  const [load, memory, filesystems, network, containers] = await Promise.all([
    currentLoad(),
    mem(),
    fsSize(),
    networkStats('*'),
    dockerContainers(true),
  ]);
  const info = containers.length === 0 ? await dockerInfo() : null;
  return {
    time: new Date().toISOString(),
    currentLoad: load,
    mem: memory,
    fsSize: filesystems,
    networkStats: network,
    // systeminformation's own `avgLoad` is max(1, 5, 15 min) ÷ cores; the plain 1-minute figure is what people expect.
    loadavg: loadavg(),
    cpuCount: load.cpus.length,
    dockerContainers: containers,
    dockerInfo: info,
  };
}
