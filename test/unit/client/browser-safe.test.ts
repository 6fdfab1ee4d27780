import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

// The browser entry is bundled from source as an app's bundler would take it (platform: browser), and the
// bundle's import graph is checked: only the client folder, the protocol and the close codes may be in it.
const root = fileURLToPath(new URL('../../..', import.meta.url));
const FORBIDDEN = /^(node:|ws$|ws\/|ioredis|rxjs|ajv|express|systeminformation)/;

let metafile: Metafile;
let code: string;

beforeAll(async () => {
  const result = await build({
    absWorkingDir: root,
    entryPoints: ['src/client.ts'],
    bundle: true,
    format: 'esm',
    platform: 'browser',
    write: false,
    metafile: true,
    logLevel: 'silent',
  });
  metafile = result.metafile;
  code = result.outputFiles[0]!.text;
});

describe('system-stream/client', () => {
  it('bundles for the browser from only the client folder, the protocol and the close codes', () => {
    const inputs = Object.keys(metafile.inputs).sort();
    expect(inputs).toContain('src/client/stream-manager.ts');
    for (const input of inputs) expect(input).toMatch(/^src\/(client|client\/[a-z-]+|protocol\/(wire|close-codes))\.ts$/);
  });

  it('imports no Node built-in, ws, ioredis, rxjs or other server dependency', () => {
    const specifiers = Object.values(metafile.inputs).flatMap((input) => input.imports.map((i) => i.original ?? i.path));
    expect(specifiers.length).toBeGreaterThan(0);
    expect(specifiers.filter((s) => FORBIDDEN.test(s))).toEqual([]);
    expect(Object.values(metafile.inputs).flatMap((input) => input.imports.filter((i) => i.external))).toEqual([]);
  });

  it('leaves no import, require or process reference in the bundle', () => {
    expect(code).not.toMatch(/\bimport\s*\(|\bimport\s+[\w{*]|\brequire\s*\(|\bprocess\./);
  });
});
