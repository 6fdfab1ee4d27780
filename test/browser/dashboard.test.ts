// The example dashboard in a real browser: Debian's Chromium driven by playwright-core (which never downloads
// a browser). Each describe keeps one tab open through its tests, as a person would: first values, a
// published metric, containers, an alert and its resolution, a server restart on the same port; then the
// same page over Redis, through a Redis outage. Each ends by checking that the console stayed clean.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readFileSync } from 'node:fs';
import { hostname } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExample, type Example, type ExampleOptions } from '../../example/server.js';
import type { SystemSample } from '../../src/sentinel/sample.js';
import { startSentinel, type Sentinel } from '../../src/sentinel/sentinel.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { launchChromium } from '../helpers/executables.js';

const OUTPUT_DIR = fileURLToPath(new URL('../../test-results/', import.meta.url));
const CLIENT_BUILD = fileURLToPath(new URL('../../dist/system-stream-client.js', import.meta.url));

const testId = (id: string): string => `[data-testid="${id}"]`;

interface ConsoleError {
  readonly text: string;
  readonly at: number;
}

/** A tab in a fresh browser context (no cache, storage or cookies), recording every console error. */
class Tab {
  readonly errors: ConsoleError[] = [];

  private constructor(readonly page: Page) {
    page.on('console', (message) => {
      if (message.type() === 'error') this.errors.push({ text: message.text(), at: Date.now() });
    });
    page.on('pageerror', (error) => this.errors.push({ text: `uncaught: ${error.message}`, at: Date.now() }));
  }

  static async open(browser: Browser): Promise<Tab> {
    const context = await browser.newContext({ viewport: { width: 1360, height: 900 } });
    return new Tab(await context.newPage());
  }

  text(id: string): Promise<string> {
    return this.page.locator(testId(id)).innerText();
  }

  /** Waits for `predicate` to hold in the page (checked every animation frame), failing with what the page shows. */
  async waitFor<A extends string | number | null | readonly string[]>(
    description: string,
    timeoutMs: number,
    predicate: (arg: A) => boolean,
    arg: A,
  ): Promise<void> {
    // Playwright types the argument as Unboxed<A>, which TypeScript cannot match with a generic A; for
    // these plain JSON values the two are the same.
    const fn = predicate as unknown as (arg: unknown) => boolean;
    try {
      await this.page.waitForFunction(fn, arg as unknown, { timeout: Math.max(1, timeoutMs) });
    } catch (err) {
      throw new Error(`Expected ${description} within ${Math.round(timeoutMs)} ms; the page shows ${await this.describe()}`, {
        cause: err,
      });
    }
  }

  waitForState(state: string, timeoutMs: number): Promise<void> {
    return this.waitFor(
      `the "${state}" state`,
      timeoutMs,
      (s) => document.querySelector('[data-testid="connection-state"]')?.getAttribute('data-state') === s,
      state,
    );
  }

  waitForCpu(text: string, timeoutMs: number): Promise<void> {
    return this.waitFor(
      `CPU to read ${text}`,
      timeoutMs,
      (t) => document.querySelector('[data-testid="value-cpu"]')?.textContent === t,
      text,
    );
  }

  private describe(): Promise<string> {
    return this.page
      .evaluate(() => {
        const text = (id: string): string => document.querySelector(`[data-testid="${id}"]`)?.textContent?.trim() ?? '(missing)';
        return `connection "${text('connection-text')}", cpu "${text('value-cpu')}", memory "${text('value-memory')}", alerts "${text('alert-list')}"`;
      })
      .catch((err: unknown) => `(page not readable: ${String(err)})`);
  }

  async close(): Promise<void> {
    await this.page.context().close();
  }
}

let browser: Browser;

beforeAll(async () => {
  // Fail, never skip: the browser test is part of `npm test`, and .ci/run installs Chromium.
  if (!existsSync(CLIENT_BUILD)) throw new Error(`${CLIENT_BUILD} is missing: run npm run compile first (npm test does)`);
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
});

describe('example dashboard in Chromium (in-process bus)', () => {
  const apiKey = randomBytes(16).toString('hex');
  // The test owns the alert banner: the sentinel's own threshold alerts (a busy CI machine at 90 % CPU)
  // are turned off; everything else about the sentinel is real.
  const options: ExampleOptions = { port: 0, apiKey, sentinel: { thresholds: { cpu: false, memory: false, disk: false } } };
  let example: Example | undefined;
  let port = 0;
  let tab: Tab;
  /** While the server is down on purpose: the only time a failed WebSocket connection is expected. */
  const downtime = { from: Infinity, to: Infinity };

  beforeAll(async () => {
    example = await startExample(options);
    port = example.port;
    tab = await Tab.open(browser);
  });

  afterAll(async () => {
    try {
      await tab?.close();
    } finally {
      await example?.close();
    }
  });

  // A generous bound (the latency itself is measured by the benchmark): on a loaded 2-core machine the page
  // load alone has taken 2.8 s.
  it('shows live host values within 10 s of opening the page', async () => {
    const startedAt = Date.now();
    await tab.page.goto(example!.dashboardUrl);
    await tab.waitFor(
      'CPU, memory and disk percentages and the "Live" state',
      10_000 - (Date.now() - startedAt),
      (ids) => {
        const isPercent = (id: string): boolean => /^\d{1,3}\.\d$/.test(document.querySelector(`[data-testid="${id}"]`)?.textContent ?? '');
        return ids.every(isPercent) && document.querySelector('[data-testid="connection-state"]')?.getAttribute('data-state') === 'open';
      },
      ['value-cpu', 'value-memory', 'value-disk'],
    );
    expect(await tab.text('connection-text')).toBe('Live');
    expect(await tab.page.locator(testId('disk-row')).count()).toBeGreaterThan(0);
    expect(await tab.page.locator(`${testId('chart-cpu')} canvas`).count()).toBe(1);

    // The latency is measured on live messages only, so it appears with the sentinel's next sample.
    await tab.waitFor(
      'a delivery latency in ms',
      3000,
      () => /^\d+ ms$/.test(document.querySelector('[data-testid="latency-value"]')?.textContent ?? ''),
      null,
    );
    const latencyMs = Number(await tab.page.locator(testId('latency-value')).getAttribute('data-ms'));
    expect(latencyMs).toBeGreaterThanOrEqual(0);
    expect(latencyMs).toBeLessThan(1000);
  });

  it('receives compressed frames: Chromium negotiates permessage-deflate and the server writes fewer bytes', async () => {
    // The values above arrived (and decoded) through the compressed stream; the counters show how much it saved.
    const { bytesWritten, bytesBeforeCompression, compressionRatio } = example!.stats();
    expect(bytesBeforeCompression).toBeGreaterThan(0);
    expect(bytesWritten).toBeLessThan(bytesBeforeCompression);
    expect(compressionRatio).toBeLessThan(0.8);
  });

  it('shows a metric published through the publisher within 200 ms', async () => {
    // Publish right after one of the sentinel's samples has been shown: its next one is about a second
    // away, so it cannot overwrite ours inside the 200 ms being measured.
    const shownTime = await tab.page.locator(testId('value-cpu')).getAttribute('data-time');
    await tab.waitFor(
      'the next CPU sample from the sentinel',
      3000,
      (before) => document.querySelector('[data-testid="value-cpu"]')?.getAttribute('data-time') !== before,
      shownTime,
    );
    const current = Number(await tab.text('value-cpu'));
    const value = Math.round(((current + 37.3) % 100) * 10) / 10;

    const publishedAt = performance.now();
    // The in-app sentinel names this machine's series after its hostname: publish into the same series.
    await example!.publisher.publishMetric({ metric_type: 'cpu', source: hostname(), value, meta: { unit: 'percent' } });
    await tab.waitForCpu(value.toFixed(1), 200 - (performance.now() - publishedAt));
    expect(performance.now() - publishedAt).toBeLessThan(200);
  });

  it('lists containers with their status', async () => {
    await example!.publisher.publishContainerStatus({ container: 'api-gateway', status: 'running' });
    await example!.publisher.publishContainerStatus({ container: 'report-worker', status: 'exited' });
    const row = (name: string): string => `${testId('container-row')}[data-container="${name}"]`;
    await tab.page.locator(row('report-worker')).waitFor({ timeout: 1000 });
    expect(await tab.page.locator(row('api-gateway')).getAttribute('data-status')).toBe('running');
    expect(await tab.page.locator(`${row('report-worker')} .badge`).innerText()).toBe('exited');
    expect(await tab.text('container-count')).toBe('1 of 2 running');
  });

  it('shows an alert banner on an alert and clears it when the alert resolves', async () => {
    const banner = tab.page.locator(testId('alert-banner'));
    expect(await banner.isHidden()).toBe(true);

    const message = 'cpu on host at 97.2 % (threshold 95 %)';
    await example!.publisher.publishAlert({ level: 'critical', metric_type: 'cpu', source: 'host', value: 97.2, threshold: 95, message });
    await banner.waitFor({ state: 'visible', timeout: 1000 });
    const alert = tab.page.locator(`${testId('alert')}[data-key="cpu:host"]`);
    expect(await alert.getAttribute('data-level')).toBe('critical');
    expect(await alert.locator('.alert-message').innerText()).toBe(message);

    mkdirSync(OUTPUT_DIR, { recursive: true });
    await tab.page.screenshot({ path: join(OUTPUT_DIR, 'dashboard.png'), fullPage: true });

    await example!.publisher.publishAlert({ level: 'resolved', metric_type: 'cpu', source: 'host', value: 80.4, threshold: 90 });
    await banner.waitFor({ state: 'hidden', timeout: 1000 });
    expect(await tab.page.locator(testId('alert')).count()).toBe(0);
  });

  it('shows "reconnecting" while the server is down and live values again after it restarts on the same port', async () => {
    downtime.from = Date.now();
    await example!.close(); // dashboards get 1001 "server shutting down"
    example = undefined;
    await tab.waitForState('reconnecting', 2000);
    expect(await tab.text('connection-text')).toMatch(/^Reconnecting in [1-3] s$/);

    // Let one attempt fail against the closed port (the first retry is 2 s ± 10 % after the drop), so
    // the page lives through an outage rather than a quick restart.
    await tab.waitFor(
      'a failed reconnect attempt',
      4000,
      () => document.querySelector('[data-testid="connection-state"]')?.getAttribute('data-attempt') === '2',
      null,
    );
    expect(await tab.text('connection-text')).toMatch(/^Reconnecting in [1-6] s$/);

    const restartedAt = Date.now();
    example = await startExample({ ...options, port });
    downtime.to = Date.now();
    // The second retry comes 5 s ± 10 % after the failed one.
    await tab.waitForState('open', 7000);
    await tab.waitFor(
      'a CPU sample taken after the restart',
      3000,
      (after) => Number(document.querySelector('[data-testid="value-cpu"]')?.getAttribute('data-time')) >= after,
      restartedAt,
    );
    expect(await tab.text('connection-text')).toBe('Live');
    expect(await tab.text('value-cpu')).toMatch(/^\d{1,3}\.\d$/);
  });

  it('logs no errors to the browser console', () => {
    // Tolerated, narrowly: Chromium's reports of a WebSocket to this server's stream path (with the
    // `since` a resuming manager asks for) refused while
    // the server was down on purpose, and of the manager's check of why the handshake failed
    // (a HEAD request to the snapshot endpoint) refused likewise. Anything else (a 404, an uncaught
    // exception, a refused connection at any other time) fails the test.
    const refused = new RegExp(
      `^(WebSocket connection to 'ws://127\\.0\\.0\\.1:${port}/api/system/ws(?:\\?since=\\d+)?' failed: .*|Failed to load resource: )net::ERR_CONNECTION_REFUSED$`,
    );
    const isExpected = (e: ConsoleError): boolean => e.at >= downtime.from && e.at <= downtime.to && refused.test(e.text);
    expect(tab.errors.filter((e) => !isExpected(e)).map((e) => e.text)).toEqual([]);
    // The browser really saw the outage, so the filter above was exercised.
    expect(tab.errors.filter(isExpected).length).toBeGreaterThanOrEqual(1);
  });
});

describe('example dashboard in Chromium (REDIS_URL)', () => {
  const apiKey = randomBytes(16).toString('hex');
  let redis: TestRedis | undefined;
  let example: Example | undefined;
  let tab: Tab;

  beforeAll(async () => {
    // A private redis-server on a free port, never the one on 6379. With a Redis URL the example runs no
    // sentinel (that is `npm run sentinel`'s job); the test publishes through the example's publisher.
    redis = await startRedis();
    example = await startExample({ port: 0, apiKey, redisUrl: redis.url });
    tab = await Tab.open(browser);
  });

  afterAll(async () => {
    try {
      await tab?.close();
    } finally {
      await example?.close();
      await redis?.stop();
    }
  });

  it('shows a metric published to Redis', async () => {
    await tab.page.goto(example!.dashboardUrl);
    await tab.waitForState('open', 2000);
    await example!.publisher.publishMetric({ metric_type: 'cpu', source: 'host', value: 42.5 });
    await tab.waitForCpu('42.5', 1000);
  });

  it('shows "Degraded: Redis down" while Redis is down, and live values when it is back', async () => {
    await redis!.kill();
    // The stream's health check PINGs every second; a lost connection is noticed at once.
    await tab.waitForState('degraded', 5000);
    expect(await tab.text('connection-text')).toBe('Degraded: Redis down');
    expect(await tab.text('value-cpu')).toBe('42.5'); // the last values stay on screen, dimmed

    await redis!.start();
    await tab.waitForState('open', 10_000);
    expect(await tab.text('connection-text')).toBe('Live');
    // The stream has resubscribed (it said so: "open" again); the publisher reconnects on its own and
    // waits for Redis up to its publishTimeoutMs.
    await example!.publisher.publishMetric({ metric_type: 'cpu', source: 'host', value: 17.5 });
    await tab.waitForCpu('17.5', 1000);
  });

  it('logs no errors to the browser console', () => {
    expect(tab.errors.map((e) => e.text)).toEqual([]);
  });
});

describe('example dashboard in Chromium: two sentinels on one Redis', () => {
  const apiKey = randomBytes(16).toString('hex');
  const DOCS_DIR = fileURLToPath(new URL('../../docs/', import.meta.url));
  let redis: TestRedis | undefined;
  let example: Example | undefined;
  const sentinels: Sentinel[] = [];
  let tab: Tab;

  beforeAll(async () => {
    redis = await startRedis();
    example = await startExample({ port: 0, apiKey, redisUrl: redis.url });
    // web-1 samples this machine; web-2 replays a recorded Docker host (a fuller disk, containers) with
    // its CPU fixed at 71.3 %, so that the two hosts differ on screen.
    const dockerHost = JSON.parse(readFileSync(new URL('../fixtures/si/docker-host.json', import.meta.url), 'utf8')) as SystemSample;
    sentinels.push(startSentinel({ redis: redis.url, source: 'web-1', intervalMs: 500 }));
    sentinels.push(
      startSentinel({
        redis: redis.url,
        source: 'web-2',
        intervalMs: 500,
        sampler: async () => ({ ...dockerHost, time: new Date().toISOString(), currentLoad: { currentLoad: 71.3 } }),
      }),
    );
    tab = await Tab.open(browser);
  });

  afterAll(async () => {
    try {
      await tab?.close();
    } finally {
      await Promise.all(sentinels.map((s) => s.stop()));
      await example?.close();
      await redis?.stop();
    }
  });

  it('shows one tab per host, and the cards and charts of the host selected', async () => {
    await tab.page.goto(example!.dashboardUrl);
    await tab.waitFor(
      'a tab for web-1 and one for web-2',
      10_000,
      (hosts) => hosts.every((h) => document.querySelector(`[data-testid="host-tab"][data-host="${h}"]`) !== null),
      ['web-1', 'web-2'],
    );
    expect(await tab.page.locator(testId('host-list')).isVisible()).toBe(true);
    const tabs = await tab.page.locator(testId('host-tab')).evaluateAll((els) => els.map((el) => el.getAttribute('data-host')));
    expect([...tabs].sort()).toEqual(['web-1', 'web-2']);

    await tab.page.locator(`${testId('host-tab')}[data-host="web-2"]`).click();
    await tab.waitForCpu('71.3', 3000);
    expect(await tab.page.locator(`${testId('host-tab')}[data-host="web-2"]`).getAttribute('aria-pressed')).toBe('true');
    // The header names the host whose cards are shown, not only the server's own hostname.
    expect(await tab.text('host')).toMatch(new RegExp(`^web-2 · served by ${hostname().replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} · `));
    expect(await tab.page.title()).toBe('web-2 · System dashboard');
    await tab.waitFor(
      'the disk table of web-2',
      3000,
      () => document.querySelector('[data-testid="disk-row"][data-mount="/var/lib/docker"]')?.getAttribute('data-host') === 'web-2',
      null,
    );
    expect(await tab.text('value-disk')).toBe('93.5');
    // One set of charts per host; only the selected host's is shown.
    expect(
      await tab.page
        .locator(`${testId('chart-cpu')} .host-chart:not([hidden])`)
        .evaluateAll((els) => els.map((el) => el.getAttribute('data-host'))),
    ).toEqual(['web-2']);
    // web-2's containers carry their host.
    await tab.page.locator(`${testId('container-row')}[data-container="web-2/api"]`).waitFor({ timeout: 3000 });
    expect(await tab.page.locator(`${testId('container-row')}[data-container="web-2/api"] .container-host`).innerText()).toBe('web-2');

    await tab.page.locator(`${testId('host-tab')}[data-host="web-1"]`).click();
    await tab.waitFor('the CPU of web-1', 3000, () => document.querySelector('[data-testid="value-cpu"]')?.textContent !== '71.3', null);
    expect(await tab.text('value-cpu')).toMatch(/^\d{1,3}\.\d$/);
    expect(await tab.text('host')).toMatch(/^web-1 · /);
    expect(await tab.page.locator(`${testId('host-tab')}[data-host="web-1"] ${testId('host-figures')}`).innerText()).toMatch(
      /^CPU \d{1,3}\.\d % · Mem \d{1,3}\.\d %$/,
    );

    await tab.page.locator(`${testId('host-tab')}[data-host="web-2"]`).click();
    await tab.waitForCpu('71.3', 3000);
    // A few more samples, so that the screenshot's charts show lines rather than a first point.
    const shownAt = Number(await tab.page.locator(testId('value-cpu')).getAttribute('data-time'));
    await tab.waitFor(
      'four more seconds of samples',
      8000,
      (after) => Number(document.querySelector('[data-testid="value-cpu"]')?.getAttribute('data-time')) >= after,
      shownAt + 4000,
    );
    mkdirSync(OUTPUT_DIR, { recursive: true });
    await tab.page.screenshot({ path: join(OUTPUT_DIR, 'dashboard-fleet.png'), fullPage: true });
    expect(existsSync(DOCS_DIR)).toBe(true); // docs/dashboard-fleet.png is a copy of this screenshot
  });

  it('logs no errors to the browser console', () => {
    expect(tab.errors.map((e) => e.text)).toEqual([]);
  });
});
