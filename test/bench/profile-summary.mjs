// `node test/bench/profile-summary.mjs <file.cpuprofile> [more…]`: where a bench server's CPU went. The
// profiles of one scenario and implementation (`…-<impl>-<round>.cpuprofile`) are added up.
// Each sample is charged to the nearest library module on its stack (dist/<module>.js, so ajv's compiled
// validator counts as the validator that called it and JSON.stringify as delivery.js), or, with no library
// frame on the stack, to the package or runtime part at its top (ws, ioredis, rxjs, node:net, GC, idle).
// Prints milliseconds and the share of busy (non-idle) time per part, for each profile given (the profiler's
// own stopping counts as idle).
import { readFileSync } from 'node:fs';
import { basename } from 'node:path';

function partOf(frame) {
  const { url, functionName } = frame.callFrame;
  const pkg = /node_modules\/(@[^/]+\/[^/]+|[^/]+)\//.exec(url);
  if (pkg) return { part: pkg[1], isLib: false };
  const lib = /\/dist[^/]*\/(.+)\.js$/.exec(url); // dist/, or an earlier build copied to dist-before/ (--before)
  if (lib) return { part: `lib: ${lib[1]}`, isLib: true };
  if (url.startsWith('node:'))
    return {
      part: url
        .replace(/^node:internal\//, 'node:')
        .split('/')
        .slice(0, 2)
        .join('/'),
      isLib: false,
    };
  if (functionName === '(garbage collector)') return { part: 'GC', isLib: false };
  if (functionName === '(idle)') return { part: 'idle', isLib: false };
  if (functionName === '(program)') return { part: 'V8/native (program)', isLib: false };
  return { part: url ? basename(url) : `native: ${functionName || '(anonymous)'}`, isLib: false };
}

function partsOf(file) {
  const profile = JSON.parse(readFileSync(file, 'utf8'));
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const chargeOf = new Map();
  const charge = (id) => {
    let cached = chargeOf.get(id);
    if (cached) return cached;
    const leaf = partOf(byId.get(id));
    let part = leaf.part;
    for (let at = id; at !== undefined; at = parent.get(at)) {
      if (byId.get(at).callFrame.url === 'node:inspector') {
        part = 'idle'; // the profiler stopping itself
        break;
      }
      const p = partOf(byId.get(at));
      if (p.isLib) {
        part = p.part;
        break;
      }
    }
    chargeOf.set(id, (cached = part));
    return cached;
  };
  const us = new Map();
  profile.samples.forEach((id, i) => {
    const part = charge(id);
    us.set(part, (us.get(part) ?? 0) + (profile.timeDeltas[i] ?? 0));
  });
  return us;
}

const groups = new Map();
for (const file of process.argv.slice(2)) {
  const label = basename(file).replace(/(-\d+)?\.cpuprofile$/, '');
  const group = groups.get(label) ?? { runs: 0, us: new Map() };
  for (const [part, v] of partsOf(file)) group.us.set(part, (group.us.get(part) ?? 0) + v);
  group.runs++;
  groups.set(label, group);
}
for (const [label, { runs, us }] of groups) {
  const busy = [...us].filter(([part]) => part !== 'idle').reduce((a, [, v]) => a + v, 0);
  console.log(`\n${label}: ${(busy / 1000 / runs).toFixed(0)} ms busy per run (${runs} run${runs > 1 ? 's' : ''})\n`);
  console.log('| part | ms per run | share of busy |');
  console.log('|---|---:|---:|');
  for (const [part, v] of [...us]
    .filter(([p]) => p !== 'idle')
    .sort((a, b) => b[1] - a[1])
    .slice(0, 60)) {
    console.log(`| ${part} | ${(v / 1000 / runs).toFixed(1)} | ${((100 * v) / busy).toFixed(1)} % |`);
  }
}
