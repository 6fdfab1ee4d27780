// The browser client with no bundler: a page imports StreamManager from the stream's own router
// (GET /api/system/client.js), the one-file ES module built by scripts/bundle-client.mjs, in Debian's
// Chromium (playwright-core). The page loads nothing else from the server: the module has no imports.
import { once } from 'node:events';
import { existsSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import express from 'express';
import type { Browser, BrowserContext } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attachSystemStream, createInProcessBus, createSystemPublisher, type SystemPublisher, type SystemStream } from '../../src/index.js';
import { launchChromium } from '../helpers/executables.js';

const BUNDLE = new URL('../../dist/system-stream-client.js', import.meta.url);
const KEY = 'client-module-key';

/** A page that uses the client as a user would without a bundler: one module script, one import. */
const PAGE = `<!doctype html>
<html><head><meta charset="utf-8"><title>client.js</title><link rel="icon" href="data:,">
<script type="module">
  import { StreamManager, CloseCode } from '/api/system/client.js';
  const stream = new StreamManager({ url: '/api/system/ws', apiKey: ${JSON.stringify(KEY)}, types: ['system_metric'] });
  window.values = [];
  window.closeCodes = CloseCode;
  stream.on('system_metric', ({ data }) => window.values.push(data.value));
  stream.on('state', (s) => { document.body.dataset.state = s.state; });
  stream.connect();
</script></head><body></body></html>`;

let browser: Browser;
let context: BrowserContext;
let server: Server;
let stream: SystemStream;
let publisher: SystemPublisher;
let base: string;

beforeAll(async () => {
  if (!existsSync(BUNDLE)) throw new Error(`${BUNDLE.pathname} is missing: run npm run compile first (npm test does)`);
  const bus = createInProcessBus();
  const app = express();
  app.get('/', (_req, res) => {
    res.type('html').send(PAGE);
  });
  server = createServer(app);
  stream = attachSystemStream(server, { redis: bus, apiKeys: [KEY] });
  app.use('/api/system', stream.router());
  publisher = createSystemPublisher({ redis: bus });
  await stream.ready;
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  base = `http://127.0.0.1:${(server.address() as { port: number }).port}`;
  browser = await launchChromium();
  context = await browser.newContext();
});

afterAll(async () => {
  await context?.close();
  await browser?.close();
  await publisher?.close();
  await stream?.close();
  server?.close();
});

describe('GET …/client.js', () => {
  it('is one ES module a page imports with no bundler: it connects, receives a metric, and loads nothing else', async () => {
    const page = await context.newPage();
    const errors: string[] = [];
    page.on('pageerror', (err) => errors.push(err.message));
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    const requested: string[] = [];
    page.on('request', (req) => requested.push(new URL(req.url()).pathname));
    await page.goto(`${base}/`);
    await page.waitForFunction(() => document.body.dataset['state'] === 'open', null, { timeout: 10_000 });
    await publisher.publishMetric({ metric_type: 'cpu', value: 42.5, source: 'client-module-test' });
    await page.waitForFunction(() => (window as unknown as { values: number[] }).values.includes(42.5), null, { timeout: 10_000 });
    expect(await page.evaluate(() => (window as unknown as { closeCodes: Record<string, number> }).closeCodes['Unauthorized'])).toBe(4401);
    expect(requested.filter((p) => p !== '/api/system/ws')).toEqual(['/', '/api/system/client.js']);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('is served as JavaScript, cacheable with an ETag, and answers 304 to If-None-Match', async () => {
    const first = await fetch(`${base}/api/system/client.js`);
    const body = await first.text();
    expect(first.status).toBe(200);
    expect(first.headers.get('content-type')).toBe('text/javascript; charset=utf-8');
    expect(first.headers.get('cache-control')).toBe('public, no-cache');
    const etag = first.headers.get('etag');
    expect(etag).toMatch(/^"[\w-]{27}"$/);
    expect(body).toContain('StreamManager');
    // Self-contained: no static import, re-export from another file, or dynamic import.
    expect(body).not.toMatch(/\bimport\s*\(|\bimport\s*[\w{*"']|\bfrom\s*["']/);

    const again = await fetch(`${base}/api/system/client.js`, { headers: { 'If-None-Match': etag! } });
    expect(again.status).toBe(304);
    expect(again.headers.get('etag')).toBe(etag);
    expect(await again.text()).toBe('');
    const weak = await fetch(`${base}/api/system/client.js`, { headers: { 'If-None-Match': `"other", W/${etag!}` } });
    expect(weak.status).toBe(304);
    const stale = await fetch(`${base}/api/system/client.js`, { headers: { 'If-None-Match': '"an-older-build"' } });
    expect(stale.status).toBe(200);
    expect(await stale.text()).toBe(body);
    const head = await fetch(`${base}/api/system/client.js`, { method: 'HEAD' });
    expect(head.status).toBe(200);
    expect(head.headers.get('content-length')).toBe(String(Buffer.byteLength(body)));
  });
});
