// A browser sees a refused WebSocket handshake only as close code 1006. The dashboard signs in with the key
// of its link first (the stream itself then sees only short-lived tokens): a refused key must end in
// `closed` and ask for another key, with no WebSocket attempted and no retry.
import { chromium, type Browser } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startExample, type Example } from '../../example/server.js';
import { chromiumPath } from '../helpers/executables.js';

let browser: Browser;
let example: Example;

beforeAll(async () => {
  browser = await chromium.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run'],
  });
  example = await startExample({ port: 0, apiKey: 'the-right-key', sentinel: { thresholds: { cpu: false, memory: false, disk: false } } });
});

afterAll(async () => {
  await example?.close();
  await browser?.close();
});

describe('a refused key in Chromium', () => {
  it('ends in closed within one attempt and asks for another key; no retry follows', async () => {
    const context = await browser.newContext();
    const page = await context.newPage();
    const handshakes: string[] = [];
    page.on('websocket', (ws) => handshakes.push(ws.url()));
    await page.goto(`${example.url}#key=wrong-key`);
    await page.waitForFunction(
      () => document.querySelector('[data-testid="connection-state"]')?.getAttribute('data-state') === 'closed',
      null,
      { timeout: 5000 },
    );
    expect(await page.locator('[data-testid="connection-text"]').innerText()).toBe('API key refused');
    // The first retry would come 2 s (± 10 %) after the refusal: wait past it.
    await page.waitForTimeout(2500);
    expect(handshakes).toHaveLength(0); // the key is refused at sign-in: no WebSocket carries it
    await context.close();
  });
});
