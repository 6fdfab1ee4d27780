import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The architecture as the tree shows it: each top-level room of src/ may import only the rooms listed here
// (type imports included). Entries (src/*.ts) may import any room.
const ALLOWED: Record<string, readonly string[]> = {
  protocol: [],
  shared: ['protocol'],
  redis: ['protocol', 'shared'],
  publisher: ['redis', 'protocol', 'shared'],
  server: ['redis', 'protocol', 'shared'],
  sentinel: ['publisher', 'redis', 'protocol', 'shared'],
  client: ['protocol', 'shared'],
};

const src = fileURLToPath(new URL('../../src/', import.meta.url));

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sourceFiles(path);
    return entry.name.endsWith('.ts') ? [relative(src, path)] : [];
  });
}

/** Every relative import and re-export of `file`, type-only ones included, as paths relative to src/. */
function importsOf(file: string): string[] {
  const text = readFileSync(join(src, file), 'utf8');
  const specifiers = [...text.matchAll(/(?:^|\n)\s*(?:import|export)\b[^'";]*?from\s*'(\.[^']+)'|\bimport\s*\(\s*'(\.[^']+)'\s*\)/g)].map(
    (m) => (m[1] ?? m[2])!,
  );
  return specifiers.map((s) => relative(src, resolve(dirname(join(src, file)), s)).replace(/\.js$/, '.ts'));
}

const files = sourceFiles(src);
const graph = new Map(files.map((f) => [f, importsOf(f)]));
const roomOf = (file: string): string => (file.includes('/') ? file.slice(0, file.indexOf('/')) : '(entry)');

/** One cycle per strongly connected file set, found by depth-first search. */
function cycles(): string[][] {
  const found: string[][] = [];
  const state = new Map<string, 'open' | 'done'>();
  const stack: string[] = [];
  const visit = (file: string): void => {
    state.set(file, 'open');
    stack.push(file);
    for (const next of graph.get(file) ?? []) {
      if (state.get(next) === 'open') found.push([...stack.slice(stack.indexOf(next)), next]);
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(file, 'done');
  };
  for (const file of files) if (!state.has(file)) visit(file);
  return found;
}

describe('the import graph of src/', () => {
  it('resolves every relative import to a file in src/', () => {
    const missing = [...graph].flatMap(([file, imports]) => imports.filter((i) => !graph.has(i)).map((i) => `${file} -> ${i}`));
    expect(missing).toEqual([]);
  });

  it('has no import cycle between files, type imports included', () => {
    expect(cycles().map((c) => c.join(' -> '))).toEqual([]);
  });

  it('lets each room import only the rooms below it', () => {
    const wrong = [...graph].flatMap(([file, imports]) => {
      const room = roomOf(file);
      if (room === '(entry)') return [];
      return imports.filter((i) => roomOf(i) !== room && !(ALLOWED[room] ?? []).includes(roomOf(i))).map((i) => `${file} -> ${i}`);
    });
    expect(wrong).toEqual([]);
  });

  it('keeps only the package entries at the top of src/ (at most 4)', () => {
    expect(files.filter((f) => !f.includes('/')).sort()).toEqual(['client.ts', 'index.ts', 'publisher.ts', 'sentinel.ts']);
  });
});
