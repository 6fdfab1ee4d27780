import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import { runTs, type TsProcess } from '../helpers/child-process.js';
import { command, freePorts, pollUntil, redisProcess, type RedisProcess } from '../helpers/redis-process.js';

// Every ```ts block of the README is a module a user could paste: each is written to its own file in a
// private folder and type-checked with `tsc` under `strict` and `exactOptionalPropertyTypes`, with
// `system-stream*` mapped to the sources (as test/tsconfig.json does) and everything else resolved from
// node_modules as an app would (express, ws, @types/node).
const root = fileURLToPath(new URL('../../', import.meta.url));
const dir = `${root}temp/readme-snippets-${randomUUID()}`;
afterAll(() => rmSync(dir, { recursive: true, force: true }));

/** The README's fenced ```ts blocks, with the line each starts on and the `##` heading it sits under. */
function tsBlocks(markdown: string): { line: number; code: string; heading: string }[] {
  const blocks: { line: number; code: string; heading: string }[] = [];
  const lines = markdown.split('\n');
  let heading = '';
  for (let i = 0; i < lines.length; i++) {
    if (/^##? /.test(lines[i]!)) heading = lines[i]!.replace(/^#+ /, '');
    if (lines[i]!.trim() !== '```ts') continue;
    const start = i + 1;
    const indent = /^\s*/.exec(lines[i]!)![0].length;
    let end = start;
    while (end < lines.length && lines[end]!.trim() !== '```') end++;
    blocks.push({
      line: start + 1,
      heading,
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
    expect(blocks.length).toBeGreaterThanOrEqual(6);
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

/** GET `path` on 127.0.0.1:`port`: the status, or `undefined` when nothing answers. */
async function statusOf(port: number, path: string): Promise<number | undefined> {
  try {
    const res = await fetch(`http://127.0.0.1:${port}${path}`, { signal: AbortSignal.timeout(2000) });
    await res.arrayBuffer();
    return res.status;
  } catch {
    return undefined;
  }
}

// The README's "Mount it into your app" block, run as it is written (types erased by esbuild, nothing else
// changed) in a child process, against a Redis port where nothing listens yet. `system-stream` resolves by
// the package's own name to the built dist/, as it would from node_modules.
describe('README: the mount snippet, run with Redis down at start', () => {
  let app: TsProcess | undefined;
  let redis: RedisProcess | undefined;
  const cleanup: string[] = [];
  afterAll(async () => {
    await app?.stop('SIGKILL');
    await redis?.kill();
    for (const path of cleanup) rmSync(path, { recursive: true, force: true });
  });

  it('keeps serving the app, logs the outage, turns ready once Redis starts and logs a dropped message', async () => {
    if (!existsSync(`${root}dist/index.js`)) throw new Error('dist/ is missing: run `npx tsc -p tsconfig.json` first (npm test does)');
    // The first block under the heading: the snippet a user copies (the next one shows how to wait for ready).
    const mount = tsBlocks(readFileSync(`${root}README.md`, 'utf8')).filter((b) => b.heading === 'Mount it into your app');
    expect(mount[0]?.code).toMatch(/attachSystemStream\(server/);
    // A folder of its own, without the package.json the type-check above writes: `system-stream` must resolve
    // through this package's own name, which only the nearest package.json (the repository's) provides.
    const appDir = `${root}temp/readme-mount-${randomUUID()}`;
    mkdirSync(appDir, { recursive: true });
    cleanup.push(appDir);
    const file = `${appDir}/mount-app.ts`;
    writeFileSync(file, `${mount[0]!.code}\n`);

    const [redisPort, appPort] = (await freePorts(2)) as [number, number];
    const key = `key-${randomUUID()}`;
    app = runTs(file, { DASHBOARD_KEY: key, REDIS_URL: `redis://127.0.0.1:${redisPort}`, PORT: String(appPort) });

    // The app's own route answers while Redis is down; the stream's readiness says 503.
    // (A generous bound: on a loaded machine, Node with the TypeScript loader starts slowly.)
    await pollUntil(
      'the app to serve /api/health',
      async () => ((await statusOf(appPort, '/api/health')) === 200 ? true : undefined),
      60_000,
    ).catch((err: unknown) => {
      throw new Error(`${String(err)}; the app wrote: ${app?.output().slice(-2000)}`);
    });
    expect(await statusOf(appPort, '/api/system/ready')).toBe(503);
    expect(await statusOf(appPort, '/api/system/health')).toBe(200);
    // The outage is logged through the snippet's logger, naming where Redis is (host:port, never the URL's secrets).
    await app.waitFor(new RegExp(`still waiting for redis[^\\n]*|127\\.0\\.0\\.1:${redisPort}`), 15_000);
    // Past readyTimeoutMs (10 s) `stream.ready` rejects: the old snippet's top-level await ended the process here.
    await app.waitFor(/Redis not reachable yet; still retrying/, 20_000);
    expect(app.child.exitCode).toBeNull();
    expect(await statusOf(appPort, '/api/health')).toBe(200);

    redis = redisProcess({ port: redisPort, args: ['--save', '', '--appendonly', 'no'] });
    await redis.start();
    await pollUntil(
      '/api/system/ready to answer 200',
      async () => ((await statusOf(appPort, '/api/system/ready')) === 200 ? true : undefined),
      20_000,
    );

    // A producer's first mistakes are logged at warn by default, naming the field, without the payload.
    const marker = `payload-${randomUUID()}`;
    const naive = { type: 'system_metric', data: { time: '2026-01-17T04:30:00', metric_type: 'cpu', value: 1, source: marker } };
    await command(redisPort, 'PUBLISH', 'system:metrics', JSON.stringify(naive));
    await app.waitFor(/dropped invalid message from a producer/, 10_000);
    expect(app.output()).toMatch(/\/data\/time must match format "date-time"/);
    expect(app.output()).not.toContain(marker);
    expect(app.output()).not.toContain(key);

    // SIGTERM: the snippet's handler closes the stream, then the server, and the process ends by itself.
    expect(await app.stop('SIGTERM')).toEqual({ code: 0, signal: null });
  }, 150_000);
});
