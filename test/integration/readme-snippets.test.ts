import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// Every ```ts block of the README is a module a user could paste: each is written to its own file in a
// private folder and type-checked with `tsc` under `strict` and `exactOptionalPropertyTypes`, with
// `system-stream*` mapped to the sources (as test/tsconfig.json does) and everything else resolved from
// node_modules as an app would (express, ws, @types/node).
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = `${root}temp/readme-snippets-${randomUUID()}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The README's fenced ```ts blocks, with the line each starts on. */
function tsBlocks(markdown: string): { line: number; code: string }[] {
  const blocks: { line: number; code: string }[] = [];
  const lines = markdown.split('\n');
  for (let i = 0; i < lines.length; i++) {
    if (lines[i]!.trim() !== '```ts') continue;
    const start = i + 1;
    const indent = /^\s*/.exec(lines[i]!)![0].length;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    blocks.push({
      line: start + 1,
      code: lines
        .slice(start, end)
        .map((l) => l.slice(indent))
        .join('\n'),
    });
    i = end;
  }
  return blocks;
}

describe('README', () => {
  it('every ts snippet compiles under strict and exactOptionalPropertyTypes', () => {
    const blocks = tsBlocks(readFileSync(`${root}README.md`, 'utf8'));
    expect(blocks.length).toBeGreaterThanOrEqual(7);
    mkdirSync(dir, { recursive: true });
    const files = blocks.map((b, i) => {
      const name = `snippet-${String(i + 1).padStart(2, '0')}-line-${b.line}.ts`;
      writeFileSync(`${dir}/${name}`, `${b.code}\n`);
      return name;
    });
    writeFileSync(`${dir}/package.json`, JSON.stringify({ type: 'module', private: true }));
    writeFileSync(
      `${dir}/tsconfig.json`,
      JSON.stringify({
        compilerOptions: {
          target: 'ES2022',
          module: 'NodeNext',
          moduleResolution: 'NodeNext',
          lib: ['ES2022', 'DOM', 'DOM.Iterable'],
          types: ['node'],
          strict: true,
          exactOptionalPropertyTypes: true,
          noUncheckedIndexedAccess: true,
          verbatimModuleSyntax: true,
          skipLibCheck: true,
          noEmit: true,
          paths: {
            'system-stream': [`${root}src/index.ts`],
            'system-stream/client': [`${root}src/client.ts`],
            'system-stream/publisher': [`${root}src/publisher.ts`],
            'system-stream/sentinel': [`${root}src/sentinel.ts`],
          },
        },
        files,
      }),
    );
    let output = '';
    try {
      execFileSync(process.execPath, [`${root}node_modules/typescript/bin/tsc`, '-p', `${dir}/tsconfig.json`, '--pretty', 'false'], {
        cwd: dir, // so that tsc names the snippets by their file names
        encoding: 'utf8',
        timeout: 120_000,
      });
    } catch (err) {
      output = String((err as { stdout?: string }).stdout ?? err);
    }
    // The snippets' own errors. The library's sources are compiled with its own tsconfig; what counts
    // here is what a user's code sees of them.
    const errors = output.split('\n').filter((l) => /^snippet-[\w-]+\.ts\(\d+,\d+\): error /.test(l));
    expect(errors).toEqual([]);
    // tsc ran and checked the snippets: a failure to run at all would show as output without any of them.
    expect(output.split('\n').filter((l) => l.trim() !== '' && !/^\.\.\/\.\.\/src\/.+: error |^\s/.test(l) && !errors.includes(l))).toEqual(
      [],
    );
  }, 120_000);
});
