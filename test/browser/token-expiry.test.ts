// The example dashboard in Chromium with short-lived tokens: it signs in once with the key from its link
// (then forgets it), connects with tokens from the app's GET /api/dashboard-token, and stays live across
// token expiries: the server closes each connection with 4440 when its token expires, and the page fetches
// a new token and reconnects at once, without ever showing "reconnecting".
import { hostname } from 'node:os';
import type { Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExample, type Example } from '../../example/server.js';
import { launchChromium } from '../helpers/executables.js';

let browser: Browser | undefined;
let example: Example | undefined;

beforeAll(async () => {
  browser = await launchChromium();
  // Tokens of 2 to 3 s (exp is in whole seconds); no sentinel: the test publishes the values itself.
  example = await startExample({ port: 0, apiKey: 'the-dashboard-key', sentinel: false, tokenTtlMs: 3000 });
});

afterAll(async () => {
  await example?.close();
  await browser?.close();
});

describe('the example dashboard with short-lived tokens', () => {
  it('stays live across token expiries, fetching a new token each time, and never keeps the key', async () => {
    const e = example!;
    const context = await browser!.newContext();
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      const sockets: string[] = [];
      const tokenRequests: string[] = [];
      page.on('console', (m) => void (m.type() === 'error' && errors.push(m.text())));
      page.on('pageerror', (error) => errors.push(`uncaught: ${error.message}`));
      page.on('websocket', (ws) => sockets.push(ws.url()));
      page.on('request', (req) => void (new URL(req.url()).pathname === '/api/dashboard-token' && tokenRequests.push(req.method())));
      // Every state the page shows, from the start.
      await page.addInitScript(() => {
        const seen: string[] = [];
        (window as unknown as { seenStates: string[] }).seenStates = seen;
        new MutationObserver(() => {
          const state = document.querySelector('[data-testid="connection-state"]')?.getAttribute('data-state');
          if (state && seen.at(-1) !== state) seen.push(state);
        }).observe(document, { subtree: true, attributes: true, attributeFilter: ['data-state'] });
      });

      let value = 0;
      const publishing = setInterval(
        () => void e.publisher.publishMetric({ metric_type: 'cpu', source: hostname(), value: ++value % 100 }),
        200,
      );
      try {
        await page.goto(e.dashboardUrl);
        await page.waitForFunction(
          () => document.querySelector('[data-testid="connection-state"]')?.getAttribute('data-state') === 'open',
          null,
          {
            timeout: 10_000,
          },
        );
        expect(page.url()).not.toContain('the-dashboard-key'); // the sign-in link's key is gone from the address bar

        // Two expiries: at least three connections, each with a token fetched for it.
        const startedAt = Date.now();
        while (sockets.length < 3 && Date.now() - startedAt < 15_000) await page.waitForTimeout(100);
        expect(sockets.length).toBeGreaterThanOrEqual(3);
        expect(tokenRequests.filter((m) => m === 'GET').length).toBeGreaterThanOrEqual(3);
        for (const url of sockets) expect(url).not.toMatch(/key|token|eyJ/); // credentials travel in the subprotocol

        // Still live: a value published now is shown.
        const marker = 42.5;
        await e.publisher.publishMetric({ metric_type: 'cpu', source: hostname(), value: marker });
        await page.waitForFunction((text) => document.querySelector('[data-testid="value-cpu"]')?.textContent === text, marker.toFixed(1), {
          timeout: 3000,
        });
      } finally {
        clearInterval(publishing);
      }
      const seen = await page.evaluate(() => (window as unknown as { seenStates: string[] }).seenStates);
      expect(seen.filter((s) => s !== 'connecting' && s !== 'open')).toEqual([]);
      expect(errors).toEqual([]);
      console.log(`${sockets.length} connections, ${tokenRequests.length} token requests, states ${seen.join(' → ')}`);
    } finally {
      await context.close();
    }
  }, 40_000);
});
