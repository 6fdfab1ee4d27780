// Sources bundled for a plain `node` process, as the tests and the soak run them: one .mjs with the
// package's dependencies left external (resolved as an installed package would resolve them), so that a
// child process runs the sources without `npm run compile` and without a TypeScript loader.
import { mkdirSync } from 'node:fs';
import { dirname } from 'node:path';
import { build, type BuildOptions } from 'esbuild';

/** Bundles `entry` into `outfile` (an ES module for Node 20); `options` adds to or overrides the defaults. */
export async function bundleForNode(entry: string, outfile: string, options: BuildOptions = {}): Promise<string> {
  mkdirSync(dirname(outfile), { recursive: true });
  await build({
    entryPoints: [entry],
    outfile,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
    ...options,
  });
  return outfile;
}

/** The sentinel CLI (src/sentinel/cli.ts) bundled into `outDir`; returns the bundle's path. */
export function buildCli(root: string, outDir: string): Promise<string> {
  return bundleForNode(`${root}src/sentinel/cli.ts`, `${outDir}/cli.mjs`);
}
