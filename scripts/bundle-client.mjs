// Builds dist/system-stream-client.js: the browser client (`system-stream/client`) as one self-contained ES
// module, with no import of its own, so that a page can load it with no bundler, from the package
// (`system-stream/client.js`) or from the stream's router (`GET …/client.js`). Run by `npm run compile`
// after tsc, from the compiled dist/client.js. The tab sharing, a dynamic import in the sources, is
// inlined: one file means one request, and it costs under 1 KiB.
import { readFileSync, writeFileSync } from 'node:fs';
import { build } from 'esbuild';

const { version } = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
const outfile = new URL('../dist/system-stream-client.js', import.meta.url);

const result = await build({
  entryPoints: [new URL('../dist/client.js', import.meta.url).pathname],
  bundle: true,
  minify: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  write: false,
  logLevel: 'error',
  banner: { js: `/*! system-stream/client ${version} (MIT), one-file ES module build */` },
});
const code = result.outputFiles[0].text;
// Self-contained means no static or dynamic import left: a browser would fetch it relative to this file.
if (/\bimport\s*\(|\bimport\s*[\w{*"']|\bfrom\s*["']|\brequire\s*\(/.test(code.replace(/^\/\*![^]*?\*\//, ''))) {
  throw new Error('dist/system-stream-client.js still imports something; it must be self-contained');
}
writeFileSync(outfile, code);
console.log(`dist/system-stream-client.js: ${Buffer.byteLength(code)} bytes`);
