// The example dashboard as a browser user lives with it, in Debian's Chromium via playwright-core: several
// tabs sharing one connection, a tab hidden for long, the network going away and coming back, and a host
// whose producer stops. The server's own health endpoint counts the WebSocket clients.
import { hostname } from 'node:os';
import { randomBytes } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { startExample, type Example, type ExampleOptions } from '../../example/server.js';
import type { SystemSample } from '../../src/sentinel/sample.js';
import { startSentinel, type Sentinel } from '../../src/sentinel/sentinel.js';
import { launchChromium } from '../helpers/executables.js';

const CLIENT_BUILD = new URL('../../dist/system-stream-client.js', import.meta.url);
const QUIET_SENTINEL: ExampleOptions['sentinel'] = { thresholds: { cpu: false, memory: false, disk: false } };

let browser: Browser;
const contexts: BrowserContext[] = [];
const examples: Example[] = [];
const sentinels: Sentinel[] = [];

beforeAll(async () => {
  if (!existsSync(CLIENT_BUILD)) throw new Error(`${CLIENT_BUILD.pathname} is missing: run npm run compile first (npm test does)`);
  browser = await launchChromium();
});

afterEach(async () => {
  for (const s of sentinels.splice(0)) await s.stop();
  for (const c of contexts.splice(0)) await c.close();
  for (const e of examples.splice(0)) await e.close();
});

afterAll(async () => {
  await browser?.close();
});

async function example(options: ExampleOptions = {}): Promise<Example> {
  const e = await startExample({ port: 0, apiKey: randomBytes(16).toString('hex'), sentinel: QUIET_SENTINEL, ...options });
  examples.push(e);
  return e;
}

async function context(): Promise<BrowserContext> {
  const c = await browser.newContext({ viewport: { width: 1200, height: 800 } });
  contexts.push(c);
  return c;
}

/** A dashboard tab, with the WebSockets it opened and the console errors it logged. */
interface Tab {
  readonly page: Page;
  readonly sockets: string[];
  /** How many of `sockets` the browser reports closed. */
  readonly closedSockets: () => number;
  readonly errors: string[];
}

async function openTab(ctx: BrowserContext, url: string): Promise<Tab> {
  const page = await ctx.newPage();
  let closed = 0;
  const tab: Tab = { page, sockets: [], closedSockets: () => closed, errors: [] };
  page.on('websocket', (ws) => {
    tab.sockets.push(ws.url());
    ws.on('close', () => closed++);
  });
  page.on('console', (m) => m.type() === 'error' && tab.errors.push(m.text()));
  page.on('pageerror', (e) => tab.errors.push(`uncaught: ${e.message}`));
  await page.goto(url);
  return tab;
}

const state = (tab: Tab): Promise<string | null> => tab.page.locator('[data-testid="connection-state"]').getAttribute('data-state');

async function waitForState(tab: Tab, wanted: string, timeoutMs: number): Promise<void> {
  await tab.page.waitForFunction(
    (s) => document.querySelector('[data-testid="connection-state"]')?.getAttribute('data-state') === s,
    wanted,
    {
      timeout: timeoutMs,
    },
  );
}

/** Waits until the CPU card shows `text`. */
async function waitForCpu(tab: Tab, text: string, timeoutMs: number): Promise<void> {
  await tab.page.waitForFunction((t) => document.querySelector('[data-testid="value-cpu"]')?.textContent === t, text, {
    timeout: timeoutMs,
  });
}

/** Waits until the CPU card shows a sample taken at or after `sinceMs`. */
async function waitForSampleSince(tab: Tab, sinceMs: number, timeoutMs: number): Promise<void> {
  await tab.page.waitForFunction(
    (after) => Number(document.querySelector('[data-testid="value-cpu"]')?.getAttribute('data-time')) >= after,
    sinceMs,
    { timeout: timeoutMs },
  );
}

async function clients(e: Example): Promise<number> {
  const res = await fetch(`${e.url}api/system/health`);
  return ((await res.json()) as { clients: number }).clients;
}

/** Polls the server's client count (bounded) until it is `n`. */
async function expectClients(e: Example, n: number, timeoutMs = 3000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let seen = await clients(e);
  while (seen !== n && Date.now() < deadline) {
    await new Promise((resolve) => setTimeout(resolve, 50));
    seen = await clients(e);
  }
  expect(seen).toBe(n);
}

/** Emulates the page being hidden or shown, as a browser does when the tab is switched or minimised. */
async function setVisibility(tab: Tab, visibility: 'hidden' | 'visible'): Promise<void> {
  await tab.page.evaluate((v) => {
    Object.defineProperty(document, 'visibilityState', { configurable: true, get: () => v });
    Object.defineProperty(document, 'hidden', { configurable: true, get: () => v === 'hidden' });
    document.dispatchEvent(new Event('visibilitychange'));
  }, visibility);
}

describe('several tabs of the example dashboard (shareAcrossTabs)', () => {
  it('share one connection: the server counts one client, both tabs update', async () => {
    const e = await example();
    const ctx = await context();
    const a = await openTab(ctx, e.dashboardUrl);
    await waitForState(a, 'open', 5000);
    const b = await openTab(ctx, e.dashboardUrl);
    await waitForState(b, 'open', 5000);
    await expectClients(e, 1);
    expect([a.sockets.length, b.sockets.length]).toEqual([1, 0]);

    // Both show the sentinel's samples, and a published value, from the one connection.
    const now = Date.now();
    await Promise.all([a, b].map((t) => waitForSampleSince(t, now, 3000)));
    await e.publisher.publishMetric({ metric_type: 'cpu', source: hostname(), value: 12.3 });
    await Promise.all([a, b].map((t) => waitForCpu(t, '12.3', 1000)));
    expect([...a.errors, ...b.errors]).toEqual([]);
  });

  it('when the leader tab closes, the other takes over within a second and keeps updating', async () => {
    const e = await example();
    const ctx = await context();
    const a = await openTab(ctx, e.dashboardUrl);
    await waitForState(a, 'open', 5000);
    const b = await openTab(ctx, e.dashboardUrl);
    await waitForState(b, 'open', 5000);
    expect(b.sockets).toEqual([]);

    const closedAt = Date.now();
    await a.page.close();
    await expect.poll(() => b.sockets.length, { timeout: 1000, interval: 20 }).toBe(1);
    await waitForState(b, 'open', 1000 - (Date.now() - closedAt));
    expect(Date.now() - closedAt).toBeLessThan(1000);
    await expectClients(e, 1);

    await e.publisher.publishMetric({ metric_type: 'cpu', source: hostname(), value: 45.6 });
    await waitForCpu(b, '45.6', 1000);
    const now = Date.now();
    await waitForSampleSince(b, now, 3000); // and the sentinel's next sample
    expect(b.errors).toEqual([]);
  });

  it('when the leader tab crashes (no pagehide, no close()), the browser frees its lock and the other takes over within a second', async () => {
    const e = await example();
    const ctx = await context();
    const a = await openTab(ctx, e.dashboardUrl);
    await waitForState(a, 'open', 5000);
    const b = await openTab(ctx, e.dashboardUrl);
    await waitForState(b, 'open', 5000);
    expect(b.sockets).toEqual([]);

    const cdp = await ctx.newCDPSession(a.page);
    const crashed = new Promise<void>((resolve) => a.page.once('crash', () => resolve()));
    const crashedAt = Date.now();
    void cdp.send('Page.crash').catch(() => {}); // the renderer dies: the session never answers
    await crashed;
    await expect.poll(() => b.sockets.length, { timeout: 1000, interval: 20 }).toBe(1);
    await waitForState(b, 'open', Math.max(1, 1000 - (Date.now() - crashedAt)));
    expect(Date.now() - crashedAt).toBeLessThan(1000);
    await e.publisher.publishMetric({ metric_type: 'cpu', source: hostname(), value: 67.8 });
    await waitForCpu(b, '67.8', 1000);
    // The crashed tab's socket is gone with its process: the server soon counts only the new leader.
    await expectClients(e, 1);
    expect(b.errors).toEqual([]);
  });
});

describe('a hidden dashboard (hiddenTimeoutMs)', () => {
  it('disconnects after the timeout and refills when shown again', async () => {
    const e = await example();
    const tab = await openTab(await context(), `${e.dashboardUrl}&hiddenTimeoutMs=500`);
    await waitForState(tab, 'open', 5000);
    await expectClients(e, 1);

    const hiddenAt = Date.now();
    await setVisibility(tab, 'hidden');
    await waitForState(tab, 'closed', 3000);
    // 500 ms hidden, then up to 250 ms for other tabs to say they are visible (there are none).
    expect(Date.now() - hiddenAt).toBeGreaterThanOrEqual(500);
    expect(await tab.page.locator('[data-testid="connection-text"]').innerText()).toBe('Paused while hidden');
    await expectClients(e, 0);

    // Shown again: reconnects after a random wait of up to 1 s, and the snapshot refills the cards.
    await tab.page.evaluate(() => {
      for (const id of ['value-cpu', 'value-memory']) document.querySelector(`[data-testid="${id}"]`)!.textContent = '–';
    });
    const shownAt = Date.now();
    await setVisibility(tab, 'visible');
    await waitForState(tab, 'open', 2500);
    expect(Date.now() - shownAt).toBeLessThan(2500);
    await tab.page.waitForFunction(
      () => /^\d{1,3}\.\d$/.test(document.querySelector('[data-testid="value-memory"]')?.textContent ?? ''),
      null,
      {
        timeout: 1000,
      },
    );
    await expectClients(e, 1);
    expect(tab.sockets).toHaveLength(2);
    expect(tab.errors).toEqual([]);
  });
});

describe('the network going away (offline/online)', () => {
  it('says offline without counting down, and reconnects at once when the network is back', async () => {
    const e = await example();
    const ctx = await context();
    const tab = await openTab(ctx, e.dashboardUrl);
    await waitForState(tab, 'open', 5000);

    await ctx.setOffline(true);
    await waitForState(tab, 'reconnecting', 2000);
    expect(await tab.page.locator('[data-testid="connection-text"]').innerText()).toBe('Offline: waiting for the network');
    // The page dropped its socket. (Whether the server hears of it before the network is back depends on
    // when Chromium's offline emulation starts holding the socket's bytes, so the server's count is checked
    // only once the network is back.)
    await expect.poll(() => tab.closedSockets(), { timeout: 3000 }).toBe(1);
    // Well past the first backoff wait (2 s): nothing is attempted while offline.
    await new Promise((resolve) => setTimeout(resolve, 2500));
    expect(tab.sockets).toHaveLength(1);
    expect(await tab.page.locator('[data-testid="connection-text"]').innerText()).toBe('Offline: waiting for the network');

    const onlineAt = Date.now();
    await ctx.setOffline(false);
    await waitForState(tab, 'open', 1500);
    expect(Date.now() - onlineAt).toBeLessThan(1500); // at once, not after a backoff wait
    await expectClients(e, 1, 10_000); // the new socket, and the old one gone
    expect(tab.sockets).toHaveLength(2);
    expect(tab.errors).toEqual([]);
  });
});

describe('a host whose producer stops (source_status)', () => {
  const INTERVAL_MS = 250;
  const sample = JSON.parse(readFileSync(new URL('../fixtures/si/steady-sample.json', import.meta.url), 'utf8')) as SystemSample;
  const sentinel = (e: Example): Sentinel => {
    const s = startSentinel({
      publisher: e.publisher,
      intervalMs: INTERVAL_MS,
      thresholds: { cpu: false, memory: false, disk: false },
      sampler: async () => ({ ...sample, time: new Date().toISOString() }),
    });
    sentinels.push(s);
    return s;
  };

  it('turns its cards stale within 3 intervals, says since when, and live again when it restarts', async () => {
    const e = await example({ sentinel: false, stream: { staleFloorMs: 300 } });
    const producer = sentinel(e);
    const tab = await openTab(await context(), e.dashboardUrl);
    await waitForState(tab, 'open', 5000);
    await waitForSampleSince(tab, Date.now(), 2000);
    const staleHost = (): Promise<string | null> => tab.page.locator('[data-testid="dashboard"]').getAttribute('data-stale-host');
    const cpuCardFilter = (filter: string): Promise<unknown> =>
      tab.page.waitForFunction((f) => getComputedStyle(document.querySelector('[data-testid="stat-cpu"]')!).filter === f, filter, {
        timeout: 1000,
      });
    expect(await staleHost()).toBeNull();

    await producer.stop();
    sentinels.splice(sentinels.indexOf(producer), 1);
    const stoppedAt = Date.now();
    await tab.page.waitForFunction(() => document.querySelector('[data-testid="dashboard"]')?.hasAttribute('data-stale-host'), null, {
      timeout: 5000,
    });
    const staleAfterMs = Date.now() - stoppedAt;
    // 3 intervals after its last sample, found by a check every 75 ms, then delivered.
    expect(staleAfterMs).toBeLessThan(3 * INTERVAL_MS + 500);
    // The host is the sentinel's `source` for cpu and memory (`host` here; a hostname where the sentinel names it).
    const host = (await staleHost()) ?? '';
    expect(host).toMatch(/^[\w.-]+$/);
    const note = await tab.page.locator('[data-testid="stale-note"]').innerText();
    expect(note).toMatch(
      new RegExp(`^No data from ${host.replace(/\./g, '\\.')} since (\\d\\d:\\d\\d:\\d\\d): its producer has stopped publishing\\.$`),
    );
    // Since its last sample: at most one interval before it was stopped, shown as the page's clock time.
    const candidates = await tab.page.evaluate(
      ([at, interval]) => [at - interval - 1000, at - interval, at].map((ms) => new Date(ms).toLocaleTimeString([], { hour12: false })),
      [stoppedAt, INTERVAL_MS] as const,
    );
    expect(candidates).toContain(/since (\S+):/.exec(note)?.[1]);
    await cpuCardFilter('grayscale(1)'); // greyed (after its 0.3 s transition)
    expect(await state(tab)).toBe('open'); // the connection is fine: only the producer is silent

    sentinel(e);
    await tab.page.waitForFunction(() => !document.querySelector('[data-testid="dashboard"]')?.hasAttribute('data-stale-host'), null, {
      timeout: 1000,
    });
    expect(await tab.page.locator('[data-testid="stale-note"]').isHidden()).toBe(true);
    await cpuCardFilter('none');
    expect(tab.errors).toEqual([]);
  });
});
