// Measures how long `await import(specifier)` takes in a fresh node process, for the package's entries
// and for express alone, from the built dist/ (run `npm run compile` first). Prints a markdown table of
// the median and the range over RUNS processes each (default 15), run one after the other.
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../', import.meta.url));
const runs = Number(process.env.RUNS ?? 15);
const specifiers = ['express', 'system-stream', 'system-stream/client', 'system-stream/publisher', 'system-stream/sentinel'];

function once(specifier) {
  const code = `const t = performance.now(); await import(${JSON.stringify(specifier)}); process.stdout.write(String(performance.now() - t));`;
  return Number(execFileSync(process.execPath, ['--input-type=module', '-e', code], { cwd: root, encoding: 'utf8', timeout: 30_000 }));
}

const rows = [];
for (const specifier of specifiers) {
  once(specifier); // warm the file system cache
  const times = Array.from({ length: runs }, () => once(specifier)).sort((a, b) => a - b);
  const median = times[Math.floor(times.length / 2)];
  rows.push(`| \`import '${specifier}'\` | ${median.toFixed(0)} ms | ${times[0].toFixed(0)}–${times.at(-1).toFixed(0)} ms |`);
}
console.log(`Node ${process.version}, ${runs} fresh processes each\n`);
console.log('| import | median | range |\n|---|---:|---:|');
console.log(rows.join('\n'));
