// Module hooks for register.mjs: `./x.js` falls back to `./x.ts` (the sources import with NodeNext's
// `.js` suffixes), and `.ts` files are transformed by esbuild (types erased, nothing bundled).
import { readFile } from 'node:fs/promises';
import { fileURLToPath } from 'node:url';
import { transform } from 'esbuild';

export async function resolve(specifier, context, nextResolve) {
  try {
    return await nextResolve(specifier, context);
  } catch (err) {
    const isRelative = specifier.startsWith('.') || specifier.startsWith('/') || specifier.startsWith('file:');
    if (err?.code !== 'ERR_MODULE_NOT_FOUND' || !isRelative || !specifier.endsWith('.js')) throw err;
    return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
  }
}

export async function load(url, context, nextLoad) {
  if (!url.startsWith('file:') || !url.endsWith('.ts')) return nextLoad(url, context);
  const path = fileURLToPath(url);
  const { code } = await transform(await readFile(path, 'utf8'), {
    loader: 'ts',
    format: 'esm',
    target: 'node20',
    sourcefile: path,
    sourcemap: 'inline',
  });
  return { format: 'module', source: code, shortCircuit: true };
}
