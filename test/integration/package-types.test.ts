import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const root = fileURLToPath(new URL('../../', import.meta.url));
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
  });
});
