// The default sampler on Linux: reads /proc and statfs from Node and asks the Docker Engine API over its
// socket, so that a tick starts no process (systeminformation forks a shell, cat, df or grep for several
// of its readers). Its samples have the shape and the values `sampleSystem` gives; procfs.ts has the rules.
import { closeSync, openSync, readSync, statfs, statfsSync } from 'node:fs';
import { loadavg, networkInterfaces } from 'node:os';
import type { Logger } from '../shared/logger.js';
import { DockerWatcher, type DockerView } from './docker-api.js';
import {
  cpuPercent,
  dfMounts,
  filesystemEntry,
  isListedFilesystem,
  parseCpuTimes,
  parseMeminfo,
  parseMountinfo,
  parseNetDev,
  type CpuTimes,
  type MountEntry,
  type NetCounters,
  type StatfsLike,
} from './procfs.js';
import type { SystemSample } from './sample.js';

/** A sampler with state to release: file handles, the Docker event stream. */
export interface HostSampler {
  readonly sample: () => Promise<SystemSample>;
  close(): void;
}

export interface ProcSamplerOptions {
  /** The Docker (or Podman) API socket. */
  readonly dockerSocket: string;
  /** How often the container list is read again without an event. */
  readonly dockerResyncMs: number;
  readonly logger: Logger;
  /** Where procfs is mounted; tests point it at a copy. */
  readonly procRoot?: string;
}

/** The first CPU reading waits this long for a second one, as `si.currentLoad()`'s first call does. */
const CPU_PRIMING_MS = 500;
/**
 * A statfs of a network or FUSE filesystem runs on libuv's thread pool, and one that takes longer than
 * this (a hung server) is not waited for: the sample leaves that mount out, and no second statfs is sent
 * for it until the first answers.
 */
const STATFS_TIMEOUT_MS = 1000;
/**
 * Filesystems whose statfs is answered from the kernel's own bookkeeping: read synchronously, which
 * costs a fifth of a round trip through the thread pool. Anything else (nfs, cifs, fuse.*, ceph, 9p…)
 * could block and goes through the pool.
 */
const LOCAL_TYPES: ReadonlySet<string> = new Set([
  'ext2',
  'ext3',
  'ext4',
  'xfs',
  'btrfs',
  'zfs',
  'f2fs',
  'vfat',
  'exfat',
  'ntfs3',
  'jfs',
  'reiserfs',
  'overlay',
  'tmpfs',
  'devtmpfs',
  'ramfs',
  'hugetlbfs',
]);
const isLocal = (me: MountEntry): boolean => LOCAL_TYPES.has(me.type);

/**
 * One procfs file kept open and read from offset 0 into a buffer that is reused (and grown when the
 * file outgrows it): procfs regenerates the content on each read, so no reopen is needed.
 */
class ProcFile {
  readonly #path: string;
  #fd: number | undefined;
  #buf = Buffer.allocUnsafe(8192);

  constructor(path: string) {
    this.#path = path;
  }

  /** Reads the whole file; returns the buffer and the byte count (valid until the next read). */
  read(): { buf: Buffer; length: number } {
    this.#fd ??= openSync(this.#path, 'r');
    for (;;) {
      const length = readSync(this.#fd, this.#buf, 0, this.#buf.length, 0);
      if (length < this.#buf.length) return { buf: this.#buf, length };
      this.#buf = Buffer.allocUnsafe(this.#buf.length * 2);
    }
  }

  text(): string {
    const { buf, length } = this.read();
    return buf.toString('latin1', 0, length);
  }

  close(): void {
    if (this.#fd !== undefined) closeSync(this.#fd);
    this.#fd = undefined;
  }
}

/** Creates the procfs sampler. Nothing is read until the first sample. */
export function createProcSampler(options: ProcSamplerOptions): HostSampler {
  const root = options.procRoot ?? '/proc';
  const stat = new ProcFile(`${root}/stat`);
  const meminfo = new ProcFile(`${root}/meminfo`);
  const netDev = new ProcFile(`${root}/net/dev`);
  const mountinfo = new ProcFile(`${root}/self/mountinfo`);
  const docker = new DockerWatcher({ socketPath: options.dockerSocket, resyncMs: options.dockerResyncMs });
  const files = [stat, meminfo, netDev, mountinfo];

  let cpuBefore: CpuTimes | null = null;
  const netBefore = new Map<string, NetCounters & { atMs: number }>();
  const netNow = new Map<string, NetCounters>();
  let mountText = '';
  let mounts: readonly MountEntry[] = [];
  const statfsPending = new Set<string>();

  const readCpu = (): CpuTimes | null => {
    const { buf, length } = stat.read();
    return parseCpuTimes(buf, length);
  };

  const readMounts = (): readonly MountEntry[] => {
    const text = mountinfo.text();
    // The mount table rarely changes: parse it again only when it did.
    if (text !== mountText) {
      mountText = text;
      mounts = dfMounts(parseMountinfo(text)).filter((me) => isListedFilesystem(me.source, me.type, me.mount));
    }
    return mounts;
  };

  const statfsOf = (me: MountEntry): StatfsLike | null | Promise<StatfsLike | null> => {
    const { mount } = me;
    if (isLocal(me)) {
      try {
        return statfsSync(mount);
      } catch {
        return null;
      }
    }
    if (statfsPending.has(mount)) return null;
    statfsPending.add(mount);
    return new Promise((resolve) => {
      const timer = setTimeout(() => resolve(null), STATFS_TIMEOUT_MS);
      statfs(mount, (err, st) => {
        statfsPending.delete(mount);
        clearTimeout(timer);
        resolve(err ? null : st);
      });
    });
  };

  const readFilesystems = async (listed: readonly MountEntry[]): Promise<SystemSample['fsSize']> => {
    const pending = listed.map(statfsOf);
    const stats = pending.some((st) => st instanceof Promise) ? await Promise.all(pending) : (pending as (StatfsLike | null)[]);
    const out: NonNullable<ReturnType<typeof filesystemEntry>>[] = [];
    listed.forEach((me, i) => {
      const st = stats[i];
      const entry = st ? filesystemEntry(me, st) : null;
      if (entry) out.push(entry);
    });
    return out;
  };

  const readNetwork = (nowMs: number): SystemSample['networkStats'] => {
    parseNetDev(netDev.text(), netNow);
    // The interfaces that have an address, as si.networkStats('*') lists them (os.networkInterfaces()
    // asks the kernel over netlink, no process); an alias such as eth0:1 counts as its interface.
    const names = new Set(Object.keys(networkInterfaces()).map((name) => name.split(':')[0]!.trim()));
    const out: { iface: string; rx_sec: number | null; tx_sec: number | null }[] = [];
    for (const iface of names) {
      const now = netNow.get(iface);
      if (!now) continue;
      const before = netBefore.get(iface);
      const seconds = before ? (nowMs - before.atMs) / 1000 : 0;
      // A counter that went backwards (an interface re-created) reads 0, as systeminformation reports it.
      const rate = (after: number, prev: number): number => (after - prev >= 0 && seconds > 0 ? (after - prev) / seconds : 0);
      out.push({
        iface,
        rx_sec: before ? rate(now.rx, before.rx) : null,
        tx_sec: before ? rate(now.tx, before.tx) : null,
      });
      netBefore.set(iface, { rx: now.rx, tx: now.tx, atMs: nowMs });
    }
    for (const iface of netBefore.keys()) if (!names.has(iface)) netBefore.delete(iface);
    return out;
  };

  // A file that cannot be read (a restricted /proc in a container) leaves its metrics out of the sample,
  // with one warning, instead of failing the sample and every other metric with it.
  const unreadable = new Set<string>();
  const orElse = <T>(what: string, read: () => T, fallback: T): T => {
    try {
      return read();
    } catch (err) {
      if (!unreadable.has(what)) {
        unreadable.add(what);
        options.logger.warn(
          { err: { message: (err as Error).message }, file: what },
          'cannot read a system file; its metrics are left out',
        );
      }
      return fallback;
    }
  };

  let isPrimed = false;
  const sample = async (): Promise<SystemSample> => {
    if (!isPrimed) {
      isPrimed = true;
      cpuBefore = orElse(`${root}/stat`, readCpu, null);
      await new Promise((resolve) => setTimeout(resolve, CPU_PRIMING_MS));
    }
    const dockerView: Promise<DockerView> = docker.view(performance.now());
    const filesystems = readFilesystems(orElse(`${root}/self/mountinfo`, readMounts, []));
    const cpu = orElse(`${root}/stat`, readCpu, null);
    const memory = orElse(`${root}/meminfo`, () => parseMeminfo(meminfo.text()), null);
    const nowMs = performance.now();
    const network = orElse(`${root}/net/dev`, () => readNetwork(nowMs), []);
    const load = cpu && cpuBefore ? cpuPercent(cpuBefore, cpu) : Number.NaN;
    cpuBefore = cpu ?? cpuBefore;
    const [fsSize, containers] = await Promise.all([filesystems, dockerView]);
    return {
      time: new Date().toISOString(),
      currentLoad: { currentLoad: load },
      mem: memory ?? { total: 0, active: 0 },
      fsSize,
      networkStats: network,
      // /proc/loadavg, through libuv.
      loadavg: loadavg(),
      cpuCount: cpu?.cpuCount ?? Number.NaN, // NaN: left out of meta
      dockerContainers: containers.containers,
      // The daemon answered: the one way collect tells "no containers" from "no daemon".
      dockerInfo: containers.isAvailable ? { id: 'docker-api' } : null,
    };
  };

  return {
    sample,
    close() {
      docker.close();
      for (const f of files) {
        try {
          f.close();
        } catch {
          // already closed
        }
      }
      options.logger.debug({}, 'procfs sampler closed');
    },
  };
}
