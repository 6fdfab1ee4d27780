// Measures how long importing an entry takes in a fresh node process, for the package's entries and for
// express alone, from the built dist/ (run `npm run compile` first). The entries are measured in turns
// (one process each per round, RUNS rounds, default 15), so that a machine busy with something else
// slows them all alike. Prints a markdown table of the median and the range.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const runs = Number(process.env.RUNS ?? 15);
const cases = [
  ['express'],
  ['system-stream'],
  ['system-stream', 'system-stream/sentinel'], // what the main entry loaded when it held the sentinel
  ['system-stream/client'],
  ['system-stream/publisher'],
  ['system-stream/sentinel'],
];

function once(specifiers) {
  const imports = specifiers.map((s) => `await import(${JSON.stringify(s)});`).join(' ');
  const code = `const t = performance.now(); ${imports} process.stdout.write(String(performance.now() - t));`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 30_000 }));
}

const times = cases.map(() => []);
cases.forEach((c) => once(c)); // warm the file system cache
for (let round = 0; round < runs; round++) cases.forEach((c, i) => times[i].push(once(c)));

console.log(`Node ${process.version}, ${runs} fresh processes each, in turns\n`);
console.log('| import | median | range |\n|---|---:|---:|');
cases.forEach((c, i) => {
  const sorted = times[i].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const label = c.map((s) => `\`${s}\``).join(' + ');
  console.log(`| ${label} | ${median.toFixed(0)} ms | ${sorted[0].toFixed(0)}–${sorted.at(-1).toFixed(0)} ms |`);
});
