import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectMetrics } from '../../src/sentinel/collect.js';
import { createProcSampler, type HostSampler } from '../../src/sentinel/proc-sampler.js';

// The procfs sampler reading a procfs of the test's making (a temp dir): values computed from known
// counters, files rewritten between samples (the sampler keeps them open and reads from the start
// each time), and files that are missing.

let root: string;
let sampler: HostSampler | undefined;
let warnings: { file: unknown; msg: string }[];

const noop = (): void => {};
const logger = {
  debug: noop,
  info: noop,
  error: noop,
  warn: (obj: object, msg?: string) => void warnings.push({ file: (obj as { file?: unknown }).file, msg: msg ?? '' }),
};

const stat = (user: number, idle: number): string =>
  [`cpu  ${user} 0 0 ${idle} 0 0 0 0 0 0`, `cpu0 ${user} 0 0 ${idle} 0 0 0 0 0 0`, 'intr 1', ''].join('\n');
const meminfo = (totalKb: number, availableKb: number): string =>
  `MemTotal: ${totalKb} kB\nMemFree: 1 kB\nMemAvailable: ${availableKb} kB\n`;

beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'sst-proc-'));
  warnings = [];
});
afterEach(() => {
  sampler?.close();
  sampler = undefined;
  rmSync(root, { recursive: true, force: true });
});

function start(): HostSampler {
  sampler = createProcSampler({ dockerSocket: join(root, 'no-docker.sock'), dockerResyncMs: 30_000, logger, procRoot: root });
  return sampler;
}

describe.runIf(process.platform === 'linux')('the procfs sampler on a procfs of known content', () => {
  it('computes CPU busy from the counters between two samples, and memory from MemTotal and MemAvailable', async () => {
    writeFileSync(join(root, 'stat'), stat(100, 900));
    writeFileSync(join(root, 'meminfo'), meminfo(1000, 250));
    mkdirSync(join(root, 'net'));
    writeFileSync(join(root, 'net/dev'), 'h1\nh2\n');
    mkdirSync(join(root, 'self'));
    writeFileSync(join(root, 'self/mountinfo'), '');
    const s = start();
    // The first sample reads the counters, waits, and reads them again: nothing moved in between.
    const first = await s.sample();
    expect(first.currentLoad.currentLoad).toBe(0);
    writeFileSync(join(root, 'stat'), stat(130, 970)); // +30 busy, +70 idle
    writeFileSync(join(root, 'meminfo'), meminfo(1000, 100));
    const second = await s.sample();
    expect(second.currentLoad.currentLoad).toBe(30);
    expect(second.cpuCount).toBe(1);
    expect(second.mem).toEqual({ total: 1000 * 1024, active: 900 * 1024 });
    expect(collectMetrics(second, 'web-1').map((e) => [e.data.metric_type, e.data.value])).toEqual([
      ['cpu', 30],
      ['memory', 90],
      ['load', expect.any(Number)],
    ]);
    expect(warnings).toEqual([]);
  });

  it('leaves out the metrics of a file it cannot read, with one warning per file, and samples the rest', async () => {
    writeFileSync(join(root, 'stat'), stat(100, 900));
    writeFileSync(join(root, 'meminfo'), meminfo(1000, 250));
    // No net/dev, no self/mountinfo.
    const s = start();
    await s.sample();
    const second = await s.sample();
    expect(collectMetrics(second, 'web-1').map((e) => e.data.metric_type)).toEqual(['cpu', 'memory', 'load']);
    await s.sample();
    expect(warnings.map((w) => w.file).sort()).toEqual([join(root, 'net/dev'), join(root, 'self/mountinfo')]);
    expect(new Set(warnings.map((w) => w.msg))).toEqual(new Set(['cannot read a system file; its metrics are left out']));
  });
});
