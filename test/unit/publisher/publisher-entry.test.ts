import { build } from 'esbuild';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../../', import.meta.url));

/** Every file esbuild pulls in when it bundles `entry` with all its dependencies, relative to the repo. */
async function importGraph(entry: string): Promise<string[]> {
  const result = await build({
    entryPoints: [entry],
    absWorkingDir: root,
    bundle: true,
    platform: 'node',
    format: 'esm',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  return Object.keys(result.metafile.inputs);
}

describe('system-stream/publisher entry', () => {
  it('pulls in ioredis and ajv but nothing from ws, express, rxjs or systeminformation', async () => {
    const files = await importGraph('src/publisher.ts');
    const packages = new Set(files.flatMap((f) => /node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(f)?.[1] ?? []));
    expect(packages).toContain('ioredis');
    expect(packages).toContain('ajv');
    for (const forbidden of ['ws', 'express', 'rxjs', 'systeminformation']) expect(packages).not.toContain(forbidden);
    // Nor the server's own modules.
    expect(files.filter((f) => /^src\/(attach|connection|pipeline|upgrade|operators\/|sentinel\/)/.test(f))).toEqual([]);
  });

  it('is what package.json exports as ./publisher, with its types first', () => {
    const pkg = JSON.parse(readFileSync(new URL('package.json', `file://${root}`), 'utf8')) as {
      exports: Record<string, Record<string, string>>;
      files: string[];
    };
    const entry = pkg.exports['./publisher'];
    expect(entry).toEqual({ types: './dist/system-stream-publisher.d.ts', default: './dist/publisher.js' });
    expect(Object.keys(entry!)[0]).toBe('types');
    expect(pkg.files).toContain('dist/system-stream-publisher.d.ts');
  });
});
