// The example dashboard in Debian's Chromium (playwright-core), opened after minutes of samples: its
// StreamManager asks for the last 5 minutes (`historyMs`), so the CPU chart spans them at once instead of
// starting empty. The chart's data is read from the uPlot instances the page creates: the test serves
// uPlot wrapped in a module that records each instance, leaving the page's own code untouched.
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExample, type Example } from '../../example/server.js';
import { launchChromium } from '../helpers/executables.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';

const CLIENT_BUILD = new URL('../../dist/system-stream-client.js', import.meta.url);
const sleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** uPlot as the page imports it, but recording every chart it makes in `globalThis.__plots`. */
const TRACKED_UPLOT = `
import uPlot from './uPlot.esm.js?original';
export default function TrackedPlot(opts, data, target) {
  const plot = new uPlot(opts, data, target);
  (globalThis.__plots ??= []).push(plot);
  return plot;
}
Object.assign(TrackedPlot, uPlot);
`;

/** The x range (seconds) and point count of the CPU chart of the host shown, or null before it exists. */
function cpuChartRange(page: Page): Promise<{ min: number; max: number; points: number } | null> {
  return page.evaluate(() => {
    const plots = (globalThis as { __plots?: { root: HTMLElement; data: number[][] }[] }).__plots ?? [];
    const plot = plots.find((p) => p.root.closest('[data-testid="chart-cpu"]') !== null && p.root.isConnected);
    const xs = plot?.data[0];
    if (!xs || xs.length === 0) return null;
    return { min: xs[0] as number, max: xs[xs.length - 1] as number, points: xs.length };
  });
}

describe('example dashboard in Chromium: history on open', () => {
  const apiKey = randomBytes(16).toString('hex');
  let browser: Browser | undefined;
  let redis: TestRedis | undefined;
  let example: Example | undefined;
  const errors: string[] = [];

  beforeAll(async () => {
    if (!existsSync(CLIENT_BUILD)) throw new Error(`${CLIENT_BUILD.pathname} is missing: run npm run compile first (npm test does)`);
    browser = await launchChromium();
    redis = await startRedis();
    example = await startExample({ port: 0, apiKey, redisUrl: redis.url });
  });

  afterAll(async () => {
    await browser?.close();
    await example?.close();
    await redis?.stop();
  });

  it('shows a CPU chart that already spans the last minutes when the page opens', async () => {
    const now = Date.now();
    // Four minutes of CPU samples, one per 10 s, published before anyone watches; 60 ms apart in real
    // time so that the stream's throttle (50 ms) lets each through. Plus one 6 minutes old, outside the window.
    const times = [now - 360_000, ...Array.from({ length: 25 }, (_, i) => now - 240_000 + i * 10_000)];
    for (const [i, time] of times.entries()) {
      await example!.publisher.publishMetric({
        metric_type: 'cpu',
        source: 'host',
        value: 20 + (i % 5) * 10,
        meta: { unit: 'percent' },
        time: new Date(time),
      });
      await sleep(60);
    }

    const context = await browser!.newContext({ viewport: { width: 1360, height: 900 } });
    const page = await context.newPage();
    page.on('console', (message) => void (message.type() === 'error' && errors.push(message.text())));
    page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
    await page.route(
      (url) => url.pathname.endsWith('/vendor/uplot/uPlot.esm.js') && url.search === '',
      (route) => route.fulfill({ status: 200, contentType: 'text/javascript; charset=utf-8', body: TRACKED_UPLOT }),
    );
    const openedAt = Date.now();
    await page.goto(example!.dashboardUrl);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="connection-state"]')?.getAttribute('data-state') === 'open',
      null,
      { timeout: 5000 },
    );
    await page.waitForFunction(() => ((globalThis as { __plots?: unknown[] }).__plots?.length ?? 0) > 0, null, { timeout: 5000 });
    let range = await cpuChartRange(page);
    for (let i = 0; i < 50 && (range === null || range.points < 25); i++) {
      await sleep(20);
      range = await cpuChartRange(page);
    }
    const shownWithinMs = Date.now() - openedAt;

    // Every sample of the last 5 minutes is on the chart at once: 4 minutes wide, none older.
    expect(range).not.toBeNull();
    expect(range!.points).toBe(25);
    expect(range!.min).toBe((now - 240_000) / 1000);
    expect(range!.max).toBe((now - 240_000 + 240_000) / 1000);
    expect(range!.max - range!.min).toBe(240);
    expect(shownWithinMs).toBeLessThan(3000);
    // The big number shows the newest sample.
    expect(await page.locator('[data-testid="value-cpu"]').innerText()).toBe((20 + (25 % 5) * 10).toFixed(1));

    // Live data goes on from there.
    await example!.publisher.publishMetric({ metric_type: 'cpu', source: 'host', value: 12.5, meta: { unit: 'percent' } });
    await page.waitForFunction(() => document.querySelector('[data-testid="value-cpu"]')?.textContent === '12.5', null, { timeout: 2000 });
    expect((await cpuChartRange(page))?.points).toBe(26);
    await context.close();
    expect(errors).toEqual([]);
  });
});
