import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';
import { beforeAll, describe, expect, it } from 'vitest';

// The browser entry is bundled from source as an app's bundler would take it (platform: browser), and the
// bundle's import graph is checked: only the client folder, the protocol, the close codes and the
// browser-safe part of shared/ (the option kit and what it imports: errors, logger) may be in it.
const root = fileURLToPath(new URL('../../..', import.meta.url));
const FORBIDDEN = /^(node:|ws$|ws\/|ioredis|rxjs|ajv|express|systeminformation)/;
/** The files of shared/ the client may use: none of them imports a Node module or a dependency. */
const BROWSER_SAFE_SHARED = ['option-kit', 'errors', 'logger'];
const ALLOWED_INPUT = new RegExp(
  `^src/(client|client/[a-z-]+|protocol/(wire|parse-packet|close-codes)|shared/(${BROWSER_SAFE_SHARED.join('|')}))\\.ts$`,
);

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
  it('bundles for the browser from only the client folder, the protocol, the close codes and the option kit', () => {
    const inputs = Object.keys(metafile.inputs).sort();
    expect(inputs).toContain('src/client/stream-manager.ts');
    expect(inputs).toContain('src/shared/option-kit.ts'); // the same option rules as the server
    for (const input of inputs) expect(input).toMatch(ALLOWED_INPUT);
  });

  it('the browser-safe shared files import no Node built-in or dependency, so that the check above stays meaningful', async () => {
    for (const name of BROWSER_SAFE_SHARED) {
      const result = await build({
        absWorkingDir: root,
        entryPoints: [`src/shared/${name}.ts`],
        bundle: true,
        platform: 'neutral',
        write: false,
        metafile: true,
        logLevel: 'silent',
      });
      const imports = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((i) => i.original ?? i.path));
      expect(
        imports.filter((s) => FORBIDDEN.test(s) || !s.startsWith('.')),
        name,
      ).toEqual([]);
    }
  });

  it('fails for a Node import: a file that imports node:fs does not pass the input check', async () => {
    const result = await build({
      stdin: {
        contents: "import { readFileSync } from 'node:fs'; export const x = readFileSync;",
        resolveDir: root,
        sourcefile: 'probe.ts',
      },
      bundle: true,
      format: 'esm',
      platform: 'browser',
      write: false,
      metafile: true,
      logLevel: 'silent',
      external: ['node:*'],
    });
    const specifiers = Object.values(result.metafile.inputs).flatMap((input) => input.imports.map((i) => i.original ?? i.path));
    expect(specifiers.filter((s) => FORBIDDEN.test(s))).toEqual(['node:fs']);
    expect(Object.keys(result.metafile.inputs).every((input) => ALLOWED_INPUT.test(input))).toBe(false);
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
