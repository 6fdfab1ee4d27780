import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
const fixture = (name: string): string => `${root}test/integration/fixtures/${name}`;

/**
 * What tsc reports for `files` under `options` (strict), outside node_modules, as `TS<code>: message`. The
 * .d.ts files themselves are checked once, by the test above; here what counts is how a consumer resolves them.
 */
function compile(files: readonly string[], options: ts.CompilerOptions): { errors: string[]; program: ts.Program } {
  const program = ts.createProgram(files, {
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: ['node'],
    strict: true,
    noEmit: true,
    skipLibCheck: true,
    ...options,
  });
  const errors = ts
    .getPreEmitDiagnostics(program)
    .filter((d) => d.file === undefined || !d.file.fileName.includes('/node_modules/'))
    .map((d) => `TS${d.code}: ${ts.flattenDiagnosticMessageText(d.messageText, '\n')}`);
  return { errors, program };
}

// The settings the README names as supported: an ES module app under node16/nodenext, and an app whose
// bundler resolves (Vite, esbuild, webpack). `moduleResolution: node` (node10) ignores the exports map
// and cannot see `system-stream/publisher`; the README says so.
const SUPPORTED: readonly [string, ts.CompilerOptions][] = [
  ['module node16', { module: ts.ModuleKind.Node16, moduleResolution: ts.ModuleResolutionKind.Node16 }],
  ['module nodenext', { module: ts.ModuleKind.NodeNext, moduleResolution: ts.ModuleResolutionKind.NodeNext }],
  ['moduleResolution bundler, module esnext', { module: ts.ModuleKind.ESNext, moduleResolution: ts.ModuleResolutionKind.Bundler }],
  ['moduleResolution bundler, module preserve', { module: ts.ModuleKind.Preserve, moduleResolution: ts.ModuleResolutionKind.Bundler }],
];
const rollup = (name: string): string => {
  const path = `${root}dist/${name}`;
  if (!existsSync(path))
    throw new Error(`${path} is missing: run \`npm run build\` first (npm test runs compile and api:check, which write it)`);
  return readFileSync(path, 'utf8');
};

describe('published types', () => {
  it('each entry point has its own rollup (built by npm test before the suite runs)', () => {
    const main = rollup('system-stream.d.ts');
    const client = rollup('system-stream-client.d.ts');
    const publisher = rollup('system-stream-publisher.d.ts');
    const sentinel = rollup('system-stream-sentinel.d.ts');
    expect(main).toMatch(/declare function attachSystemStream/);
    expect(main).not.toMatch(/declare function (startSentinel|sampleSystem)|DEFAULT_THRESHOLDS|'systeminformation'/);
    expect(sentinel).toMatch(/declare function startSentinel/);
    expect(sentinel).toMatch(/declare function sampleSystem/);
    expect(sentinel).not.toMatch(/attachSystemStream\(/);
    expect(client).toMatch(/declare class StreamManager/);
    expect(client).not.toMatch(/attachSystemStream\(/);
    expect(publisher).toMatch(/declare function createSystemPublisher/);
    expect(publisher).not.toMatch(/attachSystemStream\(/);
  });

  it('a consumer type-checks against the exports map, as a user of the package would', () => {
    rollup('system-stream.d.ts'); // a clear message when the build is missing
    const program = ts.createProgram([`${root}test/integration/fixtures/consumer.ts`], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
      target: ts.ScriptTarget.ES2022,
      lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
      types: ['node'],
      strict: true,
      noEmit: true,
      skipLibCheck: false,
    });
    const diagnostics = ts
      .getPreEmitDiagnostics(program)
      .filter((d) => d.file === undefined || !d.file.fileName.includes('/node_modules/'));
    expect(diagnostics.map((d) => ts.flattenDiagnosticMessageText(d.messageText, '\n'))).toEqual([]);
    // Resolved through package.json "exports" to the rollups, not to src/.
    const resolved = program.getSourceFiles().map((f) => f.fileName.replace(root, ''));
    expect(resolved).toEqual(
      expect.arrayContaining([
        'dist/system-stream.d.ts',
        'dist/system-stream-client.d.ts',
        'dist/system-stream-publisher.d.ts',
        'dist/system-stream-sentinel.d.ts',
      ]),
    );
  }, 120_000); // checks the rollups and lib.dom in full: 25-35 s on 2 shared cores

  it.each(SUPPORTED)(
    'an ES module consumer and the mount snippet compile under %s (with @types/node and @types/express)',
    (_name, options) => {
      rollup('system-stream.d.ts');
      const { errors, program } = compile([fixture('consumer.ts'), fixture('consumer-express.ts')], options);
      expect(errors).toEqual([]);
      const resolved = program.getSourceFiles().map((f) => f.fileName.replace(root, ''));
      expect(resolved).toEqual(expect.arrayContaining(['dist/system-stream.d.ts', 'dist/system-stream-client.d.ts']));
      expect(resolved.some((f) => f.includes('node_modules/@types/express/'))).toBe(true);
    },
  );

  it('a CommonJS consumer (.cts) compiles under module nodenext, and gets TS1479 under node16', () => {
    rollup('system-stream.d.ts');
    const nodenext = compile([fixture('consumer-commonjs.cts')], {
      module: ts.ModuleKind.NodeNext,
      moduleResolution: ts.ModuleResolutionKind.NodeNext,
    });
    expect(nodenext.errors).toEqual([]);
    // What the README tells CommonJS projects on node16: use nodenext (TypeScript >= 5.8), or import().
    const node16 = compile([fixture('consumer-commonjs.cts')], {
      module: ts.ModuleKind.Node16,
      moduleResolution: ts.ModuleResolutionKind.Node16,
    });
    expect(node16.errors.length).toBeGreaterThan(0);
    expect(node16.errors.every((e) => e.startsWith('TS1479:'))).toBe(true);
  }, 120_000);
});
