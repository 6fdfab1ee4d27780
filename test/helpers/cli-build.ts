// The sentinel CLI as the tests run it: a private esbuild bundle of src/sentinel/cli.ts (dependencies left
// external), so that a test exercises the sources without `npm run compile`.
import { mkdirSync } from 'node:fs';
import { build } from 'esbuild';

/** Bundles the CLI into `outDir` and returns the bundle's path. */
export async function buildCli(root: string, outDir: string): Promise<string> {
  mkdirSync(outDir, { recursive: true });
  const outfile = `${outDir}/cli.mjs`;
  await build({
    entryPoints: [`${root}src/sentinel/cli.ts`],
    outfile,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    target: 'node20',
    logLevel: 'silent',
  });
  return outfile;
}
