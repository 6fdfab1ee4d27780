// Pure parsers for the Linux files the procfs sampler reads, and the rules that pick the filesystems
// a sample lists. No I/O: proc-sampler.ts reads the files and calls these. Each rule reproduces what the
// systeminformation calls the sentinel used before computed (noted at each function), so that a host
// publishes the same series, with the same values, whichever sampler runs.

/** CPU time counters of the aggregate `cpu` line of /proc/stat, in clock ticks. */
export interface CpuTimes {
  /** user + nice + system + irq + steal + guest. */
  readonly busy: number;
  /** busy + idle. iowait and softirq count as neither, as in `si.currentLoad()`. */
  readonly total: number;
  /** Number of `cpuN` lines: the logical CPUs, as `os.cpus().length` counts them. */
  readonly cpuCount: number;
}

const CPU = 0x63; // 'c'
const P = 0x70;
const U = 0x75;
const NEWLINE = 0x0a;
const SPACE = 0x20;
const ZERO = 0x30;
const NINE = 0x39;

/**
 * Reads /proc/stat's aggregate line and counts the per-CPU lines, straight from the bytes (the file is
 * read every tick, and grows with the number of CPUs). `null` when the first line is not a `cpu` line.
 */
export function parseCpuTimes(buf: Uint8Array, length: number): CpuTimes | null {
  if (length < 4 || buf[0] !== CPU || buf[1] !== P || buf[2] !== U || buf[3] !== SPACE) return null;
  // Fields after "cpu": user nice system idle iowait irq softirq steal guest guest_nice.
  const fields = [0, 0, 0, 0, 0, 0, 0, 0, 0];
  let field = -1;
  let i = 3;
  let inNumber = false;
  for (; i < length && buf[i] !== NEWLINE; i++) {
    const c = buf[i]!;
    if (c >= ZERO && c <= NINE) {
      if (!inNumber) {
        inNumber = true;
        field++;
      }
      if (field < fields.length) fields[field] = fields[field]! * 10 + (c - ZERO);
    } else {
      inNumber = false;
    }
  }
  if (field < 3) return null;
  let cpuCount = 0;
  // Per-CPU lines follow the aggregate one: "cpu0 …", "cpu1 …".
  while (i + 4 < length && buf[i + 1] === CPU && buf[i + 2] === P && buf[i + 3] === U && buf[i + 4]! >= ZERO && buf[i + 4]! <= NINE) {
    cpuCount++;
    i = buf.indexOf(NEWLINE, i + 1);
    if (i < 0) break;
  }
  const [user, nice, system, idle, , irq, , steal, guest] = fields as [
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
    number,
  ];
  const busy = user + nice + system + irq + steal + guest;
  return { busy, total: busy + idle, cpuCount };
}

/**
 * % busy between two readings, as `si.currentLoad().currentLoad` computes it (a zero interval counts
 * as one tick). systeminformation adds steal and guest in ticks to the other counters in milliseconds;
 * here all counters are ticks, which matters only on a host with steal or guest time.
 */
export function cpuPercent(before: CpuTimes, after: CpuTimes): number {
  const ticks = after.total - before.total || 1;
  return ((after.busy - before.busy) / ticks) * 100;
}

/**
 * `total` and `active` (total − available) in bytes from /proc/meminfo, as `si.mem()` computes them:
 * without `MemAvailable` (kernels before 3.14) available is free + buffers + cached + slab.
 */
export function parseMeminfo(text: string): { total: number; active: number } | null {
  const kib = (name: string): number => {
    const at = text.indexOf(`\n${name}:`);
    const start = at < 0 ? (text.startsWith(`${name}:`) ? 0 : -1) : at + 1;
    if (start < 0) return 0;
    // "MemTotal:       24683748 kB": parseInt skips the padding and stops at the unit.
    return (Number.parseInt(text.slice(start + name.length + 1, start + name.length + 40), 10) || 0) * 1024;
  };
  const total = kib('MemTotal');
  if (!(total > 0)) return null;
  const available = kib('MemAvailable') || kib('MemFree') + kib('Buffers') + kib('Cached') + kib('Slab');
  return { total, active: total - available };
}

/** Received and sent byte counters of one interface in /proc/net/dev. */
export interface NetCounters {
  readonly rx: number;
  readonly tx: number;
}

/** Byte counters per interface from /proc/net/dev (the same counters as /sys/class/net/<iface>/statistics). */
export function parseNetDev(text: string, into: Map<string, NetCounters> = new Map()): Map<string, NetCounters> {
  into.clear();
  let start = 0;
  for (let line = 0; start < text.length; line++) {
    let end = text.indexOf('\n', start);
    if (end < 0) end = text.length;
    const colon = text.indexOf(':', start);
    if (line >= 2 && colon > start && colon < end) {
      const name = text.slice(start, colon).trim();
      const numbers = text
        .slice(colon + 1, end)
        .trim()
        .split(/\s+/);
      // Receive: bytes packets errs drop fifo frame compressed multicast; then transmit: bytes …
      const rx = Number(numbers[0]);
      const tx = Number(numbers[8]);
      if (name.length > 0 && Number.isFinite(rx) && Number.isFinite(tx)) into.set(name, { rx, tx });
    }
    start = end + 1;
  }
  return into;
}

/** One line of /proc/self/mountinfo, the fields the filesystem rules read. */
export interface MountEntry {
  /** `major:minor` of the filesystem's device. */
  readonly device: string;
  /** The root of the mount inside its filesystem (`/` unless a bind mount of a subdirectory). */
  readonly root: string;
  /** Where it is mounted, unescaped. */
  readonly mount: string;
  readonly type: string;
  /** The mount source (`/dev/vda`, `tmpfs`, `server:/export`), unescaped. */
  readonly source: string;
}

/** Parses /proc/self/mountinfo (see proc(5)); lines it cannot read are skipped. */
export function parseMountinfo(text: string): MountEntry[] {
  const out: MountEntry[] = [];
  for (const line of text.split('\n')) {
    const dash = line.indexOf(' - ');
    if (dash < 0) continue;
    const left = line.slice(0, dash).split(' ');
    const right = line.slice(dash + 3).split(' ');
    const [, , device, root, mount] = left;
    const [type, source] = right;
    if (device === undefined || root === undefined || mount === undefined || type === undefined || source === undefined) continue;
    out.push({ device, root: unescapeMount(root), mount: unescapeMount(mount), type: unescapeMount(type), source: unescapeMount(source) });
  }
  return out;
}

/** The kernel writes space, tab, newline and backslash in mount fields as octal escapes (`\040`). */
function unescapeMount(value: string): string {
  return value.includes('\\')
    ? value.replace(/\\([0-7]{3})/g, (_m, octal: string) => String.fromCharCode(Number.parseInt(octal, 8)))
    : value;
}

/**
 * File system types `df` leaves out unless asked for all (gnulib's ME_DUMMY list), plus `squashfs`,
 * which `si.fsSize()` excludes with `df -x squashfs`. Pseudo filesystems not named here (cgroup,
 * tracefs, …) report a size of 0 and are left out for that.
 */
const DF_SKIPPED_TYPES: ReadonlySet<string> = new Set([
  'autofs',
  'proc',
  'subfs',
  'debugfs',
  'devpts',
  'fusectl',
  'fuse.portal',
  'mqueue',
  'rpc_pipefs',
  'sysfs',
  'devfs',
  'kernfs',
  'ignore',
  'none',
  'rootfs',
  'squashfs',
]);

/**
 * The mounts `df -kPTx squashfs` lists, before it drops those of size 0 (the caller does, from
 * statfs): dummy types left out, and one entry per device, chosen as df chooses (a source with a `/`
 * wins over one without; else the mount point nearer the root, unless it is a bind mount of a deeper
 * directory; a mount over the same mount point hides the one below it).
 */
export function dfMounts(entries: readonly MountEntry[]): MountEntry[] {
  const byDevice = new Map<string, MountEntry>();
  const byMount = new Map<string, string>(); // mount point -> device of the entry listed for it
  for (const me of entries) {
    if (DF_SKIPPED_TYPES.has(me.type)) continue;
    // A later mount on the same mount point hides the earlier one: stat() on the path sees only the top one.
    const hiddenDevice = byMount.get(me.mount);
    if (hiddenDevice !== undefined && hiddenDevice !== me.device && byDevice.get(hiddenDevice)?.mount === me.mount) {
      byDevice.delete(hiddenDevice);
    }
    const seen = byDevice.get(me.device);
    if (seen) {
      const isTargetNearerRoot = seen.mount.length > me.mount.length;
      const isSourceBelowRoot = seen.root.length < me.root.length;
      const isRealDevice = me.source.includes('/') && !seen.source.includes('/');
      const isOvermount = seen.source !== me.source && seen.mount === me.mount;
      if (!(isRealDevice || (isTargetNearerRoot && !isSourceBelowRoot) || isOvermount)) continue;
    }
    byDevice.set(me.device, me);
    byMount.set(me.mount, me.device);
  }
  return [...byDevice.values()];
}

/** Type names `si.fsSize()` treats as memory-backed (matched as substrings, as it does). */
const TMP_FS_TYPES = [
  'rootfs',
  'unionfs',
  'squashfs',
  'cramfs',
  'initrd',
  'initramfs',
  'devtmpfs',
  'tmpfs',
  'udev',
  'devfs',
  'specfs',
  'type',
  'appimaged',
];

/**
 * Whether `si.fsSize()` keeps a filesystem `df` listed: one with a device path, the root, a remote
 * source (`host:/path`, `C:`-style) or a type that is not memory-backed (so tmpfs and devtmpfs are left out).
 */
export function isListedFilesystem(source: string, type: string, mount: string): boolean {
  if (source.startsWith('/') || mount === '/' || source.indexOf('/') > 0 || source.indexOf(':') === 1) return true;
  const lower = type.toLowerCase();
  return !TMP_FS_TYPES.some((t) => lower.includes(t));
}

/** What statfs reports, as Node's `fs.statfs` gives it. */
export interface StatfsLike {
  readonly bsize: number;
  readonly blocks: number;
  readonly bfree: number;
  readonly bavail: number;
}

/** Bytes as `df -k` prints them (KiB rounded up) times 1024, as `si.fsSize()` reads them. */
export function dfBytes(blocks: number, blockSize: number): number {
  return Math.ceil((blocks * blockSize) / 1024) * 1024;
}

/** One `si.fsSize()` entry from a mount and its statfs. `null` for a filesystem of size 0, which df leaves out. */
export function filesystemEntry(
  me: MountEntry,
  st: StatfsLike,
): { fs: string; type: string; size: number; used: number; available: number; use: number; mount: string } | null {
  if (!(st.blocks > 0)) return null;
  const size = dfBytes(st.blocks, st.bsize);
  const used = dfBytes(Math.max(0, st.blocks - st.bfree), st.bsize);
  const available = dfBytes(st.bavail, st.bsize);
  const use = Number.parseFloat(((100 * used) / (used + available)).toFixed(2));
  return { fs: me.source, type: me.type, size, used, available, use, mount: me.mount };
}
