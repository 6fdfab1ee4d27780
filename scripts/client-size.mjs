// Measures the browser client as a bundler would ship it: dist/client/index.js bundled with its imports,
// minified, then gzipped. Run `npx tsc -p tsconfig.json` first. Exits 1 above the 5 KiB budget.
import { gzipSync } from 'node:zlib';
import { build } from 'esbuild';

const BUDGET_BYTES = 5 * 1024;

const result = await build({
  entryPoints: ['dist/client/index.js'],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  logLevel: 'error',
});
const code = result.outputFiles[0].contents;
const gzipped = gzipSync(code, { level: 9 }).length;
console.log(`client bundle: ${code.length} bytes minified, ${gzipped} bytes min+gzip (budget ${BUDGET_BYTES})`);
if (gzipped > BUDGET_BYTES) process.exitCode = 1;
