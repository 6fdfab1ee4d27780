import { fileURLToPath } from 'node:url';
import ts from 'typescript';
import { describe, expect, it } from 'vitest';

const fixture = fileURLToPath(new URL('./fixtures/env-options.ts', import.meta.url));
const control = fileURLToPath(new URL('./fixtures/control.ts', import.meta.url));
// A file only this test's compiler host knows: an optional property without `| undefined` given
// `undefined`, which must fail, proving the setting is in force.
const CONTROL_SOURCE = 'interface Strict { readonly a?: number }\nexport const strict: Strict = { a: undefined };\n';

/** The messages of compiling `files` under strict settings with `exactOptionalPropertyTypes`. */
function diagnostics(files: readonly string[]): { file: string; message: string }[] {
  const options: ts.CompilerOptions = {
    module: ts.ModuleKind.NodeNext,
    moduleResolution: ts.ModuleResolutionKind.NodeNext,
    target: ts.ScriptTarget.ES2022,
    lib: ['lib.es2022.d.ts', 'lib.dom.d.ts'],
    types: ['node'],
    strict: true,
    exactOptionalPropertyTypes: true,
    skipLibCheck: true,
    noEmit: true,
  };
  const host = ts.createCompilerHost(options);
  const { getSourceFile, fileExists, readFile } = host;
  host.fileExists = (name) => name === control || fileExists.call(host, name);
  host.readFile = (name) => (name === control ? CONTROL_SOURCE : readFile.call(host, name));
  host.getSourceFile = (name, language, ...rest) =>
    name === control ? ts.createSourceFile(name, CONTROL_SOURCE, language) : getSourceFile.call(host, name, language, ...rest);
  const program = ts.createProgram(files, options, host);
  return ts.getPreEmitDiagnostics(program).map((d) => ({
    file: d.file?.fileName ?? '',
    message: ts.flattenDiagnosticMessageText(d.messageText, '\n'),
  }));
}

describe('option types under exactOptionalPropertyTypes', () => {
  it('accept undefined for every optional option of the stream, the publisher, the sentinel and thresholds', () => {
    const found = diagnostics([fixture, control]);
    // The control file fails, so the setting is in force; the fixture compiles cleanly.
    expect(found.filter((d) => d.file === control).map((d) => d.message)).toEqual([expect.stringMatching(/exactOptionalPropertyTypes/)]);
    // Only the fixture counts: users compile against the published declarations, not against src/,
    // which is written for this package's own settings (exactOptionalPropertyTypes off).
    expect(found.filter((d) => d.file === fixture)).toEqual([]);
  }, 60_000);
});
