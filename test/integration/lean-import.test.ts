import { spawnSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';

// Each entry is imported in a child `node`, through the package's own exports map (a package can import
// itself by name from inside its folder), under a resolve hook that records every module resolved.
// The built dist/ is what is imported, as a user's app would import it.
const root = fileURLToPath(new URL('../../', import.meta.url));
const hook = fileURLToPath(new URL('./fixtures/record-resolve.mjs', import.meta.url));
const outDir = `${root}temp/lean-import-${randomUUID()}`;
mkdirSync(outDir, { recursive: true });
afterAll(() => rmSync(outDir, { recursive: true, force: true }));

interface Resolved {
  readonly specifier: string;
  readonly url: string;
  readonly parent: string | null;
}

function resolvedBy(specifier: string): Resolved[] {
  if (!existsSync(`${root}dist/index.js`)) throw new Error('dist/ is missing: run `npm run compile` first (npm test does)');
  const record = `${outDir}/${randomUUID()}.jsonl`;
  const child = spawnSync(
    process.execPath,
    ['--import', hook, '--input-type=module', '-e', `await import(${JSON.stringify(specifier)});`],
    {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '', RECORD_RESOLVED: record },
      encoding: 'utf8',
      timeout: 20_000,
    },
  );
  expect(child.stderr).toBe('');
  expect(child.status).toBe(0);
  return readFileSync(record, 'utf8')
    .trim()
    .split('\n')
    .map((line) => JSON.parse(line) as Resolved);
}

/** Package names of the resolved URLs under node_modules. */
const packagesOf = (resolved: readonly Resolved[]): Set<string> =>
  new Set(resolved.flatMap((r) => /\/node_modules\/((?:@[^/]+\/)?[^/]+)\//.exec(r.url)?.[1] ?? []));

describe('import graph of the built entries', () => {
  it("`system-stream` never resolves systeminformation, nor the package's sentinel", () => {
    const resolved = resolvedBy('system-stream');
    // The hook saw the import itself, resolved through the exports map to dist/.
    expect(resolved[0]).toMatchObject({ specifier: 'system-stream', url: `file://${root}dist/index.js` });
    const packages = packagesOf(resolved);
    for (const dependency of ['ws', 'ioredis', 'rxjs', 'ajv']) expect(packages).toContain(dependency);
    expect(packages).not.toContain('systeminformation');
    expect(packages).not.toContain('jose'); // loaded with a dynamic import only by a stream with the `jwt` option
    expect(resolved.filter((r) => /systeminformation/.test(r.specifier) || /systeminformation/.test(r.url))).toEqual([]);
    expect(resolved.filter((r) => r.url.includes('/dist/sentinel/'))).toEqual([]);
  });

  it('`system-stream/sentinel` loads its own modules and the publisher, never the server, and systeminformation only when used', () => {
    const resolved = resolvedBy('system-stream/sentinel');
    expect(resolved[0]).toMatchObject({ specifier: 'system-stream/sentinel', url: `file://${root}dist/sentinel.js` });
    expect(resolved.some((r) => r.url.includes('/dist/sentinel/'))).toBe(true);
    expect(packagesOf(resolved)).toContain('ioredis');
    // On Linux the sentinel samples /proc; systeminformation is imported by sampleSystem() on first use.
    expect(packagesOf(resolved)).not.toContain('systeminformation');
    expect(resolved.filter((r) => r.url.includes('/dist/server/attach.js'))).toEqual([]);
  });
});
