import { execFileSync } from 'node:child_process';
import { readFileSync, statfsSync } from 'node:fs';
import { cpus } from 'node:os';
import { fsSize, mem, networkStats } from 'systeminformation';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envelopeValidator } from '../../src/shared/envelope-validator.js';
import { collectMetrics } from '../../src/sentinel/collect.js';
import { createProcSampler, type HostSampler } from '../../src/sentinel/proc-sampler.js';
import { dfMounts, filesystemEntry, parseMountinfo } from '../../src/sentinel/procfs.js';
import type { SystemSample } from '../../src/sentinel/sample.js';

// The procfs sampler against what the sentinel published before it, on this host: systeminformation's
// readers (and the df they run) read at the same moment, and the samples systeminformation recorded on
// a host like this one (test/fixtures/si/). Values that move between two reads (CPU, used bytes, rates)
// are compared in shape and range; what does not move (series, sizes, totals, counts) exactly.

const HOST = 'web-1';
const noop = (): void => {};
const logger = { debug: noop, info: noop, warn: noop, error: noop };

function fixture(name: string): SystemSample {
  return JSON.parse(readFileSync(new URL(`../fixtures/si/${name}`, import.meta.url), 'utf8')) as SystemSample;
}

/** `metric_type|source` with the sorted names of the meta fields: what a dashboard keys on. */
const shape = (sample: SystemSample): string[] =>
  collectMetrics(sample, HOST).map(
    (e) =>
      `${e.data.metric_type}|${e.data.source}|${Object.keys(e.data.meta ?? {})
        .sort()
        .join(',')}`,
  );

let sampler: HostSampler;
let first: SystemSample;
let second: SystemSample;

beforeAll(async () => {
  sampler = createProcSampler({ dockerSocket: '/nonexistent/docker.sock', dockerResyncMs: 30_000, logger });
  first = await sampler.sample();
  second = await sampler.sample();
});
afterAll(() => sampler.close());

describe.runIf(process.platform === 'linux')('the procfs sampler on this host', () => {
  it('lists the filesystems si.fsSize() lists, with the same device, type and size', async () => {
    const si = await fsSize();
    const ours = second.fsSize;
    expect(ours.map((f) => [f.fs, f.type, f.mount, f.size])).toEqual(si.map((f) => [f.fs, f.type, f.mount, f.size]));
    for (const [i, f] of ours.entries()) {
      // Used bytes move between the two reads; both are whole KiB as df prints them.
      expect(f.used % 1024).toBe(0);
      expect(Math.abs(f.used - si[i]!.used)).toBeLessThan(si[i]!.size * 0.01 + 1);
      expect(Math.abs((f.use ?? NaN) - si[i]!.use)).toBeLessThan(1);
    }
  });

  it('finds the filesystems df -kPTx squashfs prints, with its sizes, before systeminformation drops memory-backed ones', () => {
    const df = execFileSync('df', ['-kPTx', 'squashfs'], { encoding: 'utf8', env: { ...process.env, LC_ALL: 'C' } })
      .split('\n')
      .slice(1)
      .flatMap((line) => {
        const m = /^(.+?)\s+(\S+)\s+(\d+)\s+(\d+)\s+(\d+)\s+(?:\d+%|-)\s+(.+)$/.exec(line.trim());
        return m ? [`${m[1]} ${m[2]} ${m[6]} ${Number(m[3]) * 1024}`] : [];
      })
      .sort();
    const ours = dfMounts(parseMountinfo(readFileSync('/proc/self/mountinfo', 'utf8')))
      .flatMap((me) => {
        const entry = filesystemEntry(me, statfsSync(me.mount));
        return entry ? [`${entry.fs} ${entry.type} ${entry.mount} ${entry.size}`] : [];
      })
      .sort();
    expect(df.length).toBeGreaterThan(0);
    expect(ours).toEqual(df);
  });

  it('reads memory total as si.mem() does, and active within a few percent of it', async () => {
    const si = await mem();
    expect(second.mem.total).toBe(si.total);
    expect(Math.abs(second.mem.active - si.active)).toBeLessThan(si.total * 0.05);
  });

  it('lists the interfaces si.networkStats("*") lists, with no rates in the first sample and rates in the next', async () => {
    const si = await networkStats('*');
    expect(second.networkStats.map((n) => n.iface).sort()).toEqual(si.map((n) => n.iface).sort());
    expect(first.networkStats.every((n) => n.rx_sec === null && n.tx_sec === null)).toBe(true);
    expect(second.networkStats.every((n) => typeof n.rx_sec === 'number' && n.rx_sec >= 0 && typeof n.tx_sec === 'number')).toBe(true);
  });

  it('counts the CPUs as os.cpus() does and reports CPU busy in 0..100 from the first sample on', () => {
    expect(second.cpuCount).toBe(cpus().length);
    for (const s of [first, second]) {
      expect(s.currentLoad.currentLoad).toBeGreaterThanOrEqual(0);
      expect(s.currentLoad.currentLoad).toBeLessThanOrEqual(100);
    }
  });

  it('makes the series, with the same meta fields, that the sample systeminformation recorded here makes', () => {
    // Recorded on a 2-vCPU VM without Docker, with a root disk, lo and eth0: the same kinds of series with
    // the same meta fields; the mounts and interfaces of this host may differ from the recording's.
    const kinds = (sample: SystemSample): string[] => [...new Set(shape(sample).map((s) => s.replace(/\|[^|]*\|/, '|')))].sort();
    expect(kinds(second)).toEqual(kinds(fixture('steady-sample.json')));
    expect(kinds(first)).toEqual(kinds(fixture('first-sample.json')));
    // A host without Docker, as recorded: no containers, and collect sees no daemon.
    expect(second.dockerContainers).toEqual([]);
    expect(second.dockerInfo?.id).toBeUndefined();
  });

  it('makes only envelopes the schema accepts', () => {
    const validate = envelopeValidator();
    for (const e of [...collectMetrics(first, HOST), ...collectMetrics(second, HOST)]) {
      expect(validate(e), JSON.stringify(validate.errors)).toBe(true);
    }
  });
});
