// Measures the browser client as a bundler would ship it: dist/client.js bundled with its imports,
// minified, then gzipped; and the one-file build the router serves (dist/system-stream-client.js, written
// by scripts/bundle-client.mjs). Run `npx tsc -p tsconfig.json && node scripts/bundle-client.mjs` first.
//
// The tab sharing (`shareAcrossTabs`) is a dynamic import, so a bundler that splits code (Vite, Rollup,
// webpack, esbuild --splitting) puts it in its own chunk, loaded only by apps that turn the option on.
// Reported: that split (the entry chunk every app loads, and the sharing chunk), and the whole client
// as one file, as a bundler that does not split would ship it. Exits 1 when the entry chunk is above
// the 7.5 KiB budget (5 KiB until resume and history arrived, 0.6 KiB; 6 KiB until the client checked its
// options with the server's option kit, unknown names and "did you mean" included, 1.2 KiB).
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const BUDGET_BYTES = 7.5 * 1024;
const common = {
  entryPoints: ['dist/client.js'],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  logLevel: 'error',
};
const sizes = (file) => ({ minified: file.contents.length, gzipped: gzipSync(file.contents, { level: 9 }).length });
const line = (name, { minified, gzipped }) =>
  `${name.padEnd(34)} ${String(minified).padStart(6)} bytes minified, ${String(gzipped).padStart(5)} bytes min+gzip`;

const outdir = mkdtempSync(join(tmpdir(), 'client-size-'));
let split;
try {
  split = await build({ ...common, splitting: true, outdir });
} finally {
  rmSync(outdir, { recursive: true, force: true });
}
const entry = split.outputFiles.find((f) => /[/\\]client\.js$/.test(f.path));
const chunks = split.outputFiles.filter((f) => f !== entry);
const whole = (await build(common)).outputFiles[0];

const entrySize = sizes(entry);
console.log(line('client entry (every app loads)', entrySize) + ` (budget ${BUDGET_BYTES})`);
for (const chunk of chunks) console.log(line(`  + lazy chunk ${chunk.path.split(/[/\\]/).pop()}`, sizes(chunk)));
console.log(line('client as one file (no splitting)', sizes(whole)));
const oneFile = 'dist/system-stream-client.js';
if (existsSync(oneFile)) console.log(line(`${oneFile} (GET …/client.js)`, sizes({ contents: readFileSync(oneFile) })));
if (entrySize.gzipped > BUDGET_BYTES) process.exitCode = 1;
