import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';

// The package is ESM only. Node >= 20.19 can require() an ES module that has no top-level await, so a
// CommonJS app can use it as it is. A .cjs file inside the package requires each entry by name (a package
// can refer to itself by name), which resolves through the exports map to the built dist/.
const root = fileURLToPath(new URL('../../', import.meta.url));
const consumer = fileURLToPath(new URL('./fixtures/require-entries.cjs', import.meta.url));

describe('CommonJS consumers', () => {
  it('require() every entry from a .cjs file, with no warning', () => {
    if (!existsSync(`${root}dist/index.js`)) throw new Error('dist/ is missing: run `npm run compile` first (npm test does)');
    const child = spawnSync(process.execPath, [consumer], {
      cwd: root,
      env: { PATH: process.env['PATH'] ?? '' },
      encoding: 'utf8',
      timeout: 20_000,
    });
    expect(child.stderr).toBe(''); // no ExperimentalWarning, no ERR_REQUIRE_ASYNC_MODULE
    expect(child.status).toBe(0);
    expect(JSON.parse(child.stdout)).toEqual({
      requireModule: true,
      main: { attachSystemStream: 'function', CloseCode: expect.objectContaining({ Unauthorized: 4401 }), esModule: false },
      client: { StreamManager: 'function' },
      publisher: { createSystemPublisher: 'function' },
      sentinel: { startSentinel: 'function', cpuWarning: 90 },
    });
  });
});
