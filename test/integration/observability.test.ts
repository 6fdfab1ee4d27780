import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { once } from 'node:events';
import { rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { Socket } from 'node:net';
import { fileURLToPath } from 'node:url';
import { Counter, Registry } from 'prom-client';
import request from 'supertest';
import { afterAll, describe, expect, it } from 'vitest';
import { attachSystemStream } from '../../src/server/attach.js';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { SystemStreamError } from '../../src/shared/errors.js';
import type { Envelope } from '../../src/protocol/wire.js';
import { bundleForNode } from '../helpers/bundle.js';
import { alert, container, metric } from '../helpers/fixtures.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { parseExposition, type Exposition } from '../helpers/prometheus.js';
import { connect, connectOpen, expectRefused, rawUpgradeStatus } from '../helpers/ws-client.js';

const KEY = 'scenario-key-7f3a9c';
const WRONG_KEY = 'wrong-key-b41d';

interface LogLine {
  readonly level: 'debug' | 'info' | 'warn' | 'error';
  readonly obj: Record<string, unknown>;
  readonly msg: string | undefined;
}

function capturingLogger(): { lines: LogLine[]; logger: Record<LogLine['level'], (obj: object, msg?: string) => void> } {
  const lines: LogLine[] = [];
  const at = (level: LogLine['level']) => (obj: object, msg?: string) =>
    void lines.push({ level, obj: obj as Record<string, unknown>, msg });
  return { lines, logger: { debug: at('debug'), info: at('info'), warn: at('warn'), error: at('error') } };
}

/** Polls `condition` every 10 ms until it holds (true) or `timeoutMs` passes (false). */
async function eventually(condition: () => boolean, timeoutMs: number): Promise<boolean> {
  const deadline = performance.now() + timeoutMs;
  while (!condition()) {
    if (performance.now() > deadline) return false;
    await new Promise((resolve) => setTimeout(resolve, 10));
  }
  return true;
}

/** A Redis message of 1000 distinct metrics of about 4.3 KB each: a few of them outgrow loopback's socket buffers. */
function bigBatch(round: number): Envelope[] {
  const meta = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'x'.repeat(250)]));
  const time = new Date().toISOString();
  return Array.from({ length: 1000 }, (_, i) => ({
    type: 'system_metric' as const,
    data: { time, metric_type: 'load', value: round, source: `r${round}s${i}`, meta },
  }));
}

describe('observability', () => {
  const fx = useStreamFixtures();

  describe('scripted scenario', () => {
    it('every series is at the value the script implies, the lag histogram counts each delivered envelope once, and every listed log event is emitted', async () => {
      const { lines, logger } = capturingLogger();
      const s = await fx.server({
        apiKeys: [KEY],
        // A bad key goes to the hook, which refuses it; a request with x-boom makes it throw (500).
        authenticate: (req) => {
          if (req.headers['x-boom'] !== undefined) throw new Error('hook failed');
          return false;
        },
        allowedOrigins: ['http://dashboard.test'],
        metrics: true,
        logger,
        throttleMs: 0,
        maxMessagesPerSecond: 1e9,
        maxBufferedBytes: 64 * 1024,
        slowClientTimeoutMs: 100,
        maxMessageBytes: 16 * 1024 * 1024,
        heartbeatIntervalMs: 2000,
      });
      const scrape = async (): Promise<Exposition> => {
        const res = await request(s.server).get('/api/system/metrics').set('Authorization', `Bearer ${KEY}`).expect(200);
        return parseExposition(res.text);
      };
      const ws = (query = '') => s.wsUrl(`api_key=${KEY}${query}`);
      let pub = fx.redis().publisher();

      // 1. Two clients connect; a wrong key, a foreign origin, unknown types and a failing hook are refused.
      const a = fx.track(await connectOpen(ws()));
      const b = fx.track(await connectOpen(ws()));
      expect((await expectRefused(s.wsUrl(`api_key=${WRONG_KEY}`))).status).toBe(401);
      expect((await expectRefused(ws(), { headers: { origin: 'http://evil.test' } })).status).toBe(403);
      expect((await expectRefused(ws('&types=nope'))).status).toBe(400);
      expect(await rawUpgradeStatus(s.wsUrl(), { 'x-boom': '1' })).toBe(500);

      // 2. Messages, one Redis message at a time, each awaited by both clients: one batch each.
      const seen = (value: number) => (p: { type: string; data?: unknown }) =>
        p.type === 'system_metric' && (p.data as { value: number }).value === value;
      for (let i = 1; i <= 5; i++) {
        await pub.publish(s.channel, JSON.stringify(metric('cpu', i, `host${i}`)));
        await Promise.all([a, b].map((c) => c.waitFor(seen(i))));
      }
      await pub.publish(s.channel, JSON.stringify([alert('critical', 97), container('db', 'exited')]));
      await Promise.all([a, b].map((c) => c.waitFor((p) => p.type === 'container_status')));
      await pub.publish(s.channel, '{not json');
      await pub.publish(s.channel, JSON.stringify({ type: 'system_metric', data: { value: 'high' } }));
      await pub.publish(s.channel, JSON.stringify(metric('cpu', 6, 'marker')));
      await Promise.all([a, b].map((c) => c.waitFor(seen(6))));

      const afterMessages = await scrape();
      expect(afterMessages.value('system_stream_clients')).toBe(2);
      expect(afterMessages.value('system_stream_redis_messages_total')).toBe(9);
      expect(afterMessages.value('system_stream_deliveries_total')).toBe(16); // 8 envelopes × 2 clients
      expect(afterMessages.value('system_stream_delivery_lag_seconds_count')).toBe(8); // each envelope once, not per client
      expect(afterMessages.value('system_stream_fanout_seconds_count')).toBe(7); // one per Redis message that carried envelopes

      // 3. A client that never answers pings is terminated by the heartbeat; one that sends data is closed with 4400.
      const dead = fx.track(connect(ws(), { autoPong: false }));
      await dead.waitFor((p) => p.type === 'snapshot_end');
      const talker = fx.track(await connectOpen(ws()));
      talker.ws.send('hello');
      expect((await talker.waitForClose()).code).toBe(CloseCode.BadRequest);
      expect(await eventually(() => s.stream.stats().deadClientsTerminated === 1, 6000)).toBe(true);
      await a.close();
      await b.close();
      expect(await eventually(() => s.stream.stats().clients === 0, 2000)).toBe(true);

      // 4. A client that stops reading is sent more than loopback's buffers hold, and closed as slow.
      // Uncompressed, so that the repetitive test data fills its buffers.
      const slow = fx.track(await connectOpen(ws(), { perMessageDeflate: false }));
      (slow.ws as unknown as { _socket: Socket })._socket.pause();
      const before = await scrape();
      let bigBatches = 0;
      while (bigBatches < 6 && s.stream.stats().slowClientsClosed === 0) {
        const received = s.stream.stats().received;
        await pub.publish(s.channel, JSON.stringify(bigBatch(++bigBatches)));
        expect(await eventually(() => s.stream.stats().received > received, 5000)).toBe(true);
        if (bigBatches >= 2) await eventually(() => s.stream.stats().slowClientsClosed > 0, 400);
      }
      expect(await eventually(() => s.stream.stats().slowClientsClosed === 1, 3000)).toBe(true);
      expect(await eventually(() => s.stream.stats().clients === 0, 3000)).toBe(true);
      const afterSlow = await scrape();
      // Written to the slow client before it fell behind: whole batches of 1000, each envelope observed once.
      const slowDeliveries = afterSlow.value('system_stream_deliveries_total') - before.value('system_stream_deliveries_total');
      expect(slowDeliveries % 1000).toBe(0);
      expect(slowDeliveries).toBeGreaterThanOrEqual(1000);
      expect(slowDeliveries).toBeLessThan(bigBatches * 1000);
      expect(afterSlow.value('system_stream_delivery_lag_seconds_count') - before.value('system_stream_delivery_lag_seconds_count')).toBe(
        slowDeliveries,
      );

      // 5. Redis restarts under a connected client, which is told 503 and then 200; live data flows again.
      const last = fx.track(await connectOpen(ws()));
      await fx.redis().kill('SIGKILL');
      await last.waitFor((p) => p.type === 'error');
      expect((await scrape()).value('system_stream_redis_up')).toBe(0);
      expect(await eventually(() => lines.some((l) => l.obj['event'] === 'redis_error'), 5000)).toBe(true);
      await fx.redis().start();
      await last.waitFor((p) => p.type === 'status', 10_000);
      pub = fx.redis().publisher();
      await pub.publish(s.channel, JSON.stringify(metric('cpu', 7, 'after-restart')));
      await last.waitFor(seen(7));

      // Every series at the value the script implies.
      const final = await scrape();
      const messages = 9 + bigBatches + 1;
      expect(final.value('system_stream_clients')).toBe(1);
      expect(final.value('system_stream_redis_up')).toBe(1);
      expect(final.value('system_stream_redis_reconnects_total')).toBe(1);
      expect(final.value('system_stream_redis_messages_total')).toBe(messages);
      for (const [outcome, count] of Object.entries({
        accepted: 6,
        unauthorized: 1,
        forbidden: 1,
        bad_request: 1,
        error: 1,
        full: 0,
        timeout: 0,
        busy: 0,
      })) {
        expect(final.value('system_stream_handshakes_total', { outcome }), outcome).toBe(count);
      }
      expect(final.value('system_stream_envelopes_total', { type: 'system_metric' })).toBe(6 + bigBatches * 1000 + 1);
      expect(final.value('system_stream_envelopes_total', { type: 'alert' })).toBe(1);
      expect(final.value('system_stream_envelopes_total', { type: 'container_status' })).toBe(1);
      for (const [reason, count] of Object.entries({ not_json: 1, schema: 1, too_large: 0, bad_batch: 0 })) {
        expect(final.value('system_stream_invalid_messages_total', { reason }), reason).toBe(count);
      }
      expect(final.value('system_stream_throttled_total')).toBe(0); // throttleMs: 0
      expect(final.value('system_stream_conflated_total')).toBe(0); // distinct keys, fewer held than maxHeld
      expect(final.value('system_stream_slow_clients_closed_total')).toBe(1);
      expect(final.value('system_stream_dead_clients_terminated_total')).toBe(1);
      // 16 in step 2, the slow client's, then 503, 200 and one envelope to the last client.
      expect(final.value('system_stream_deliveries_total')).toBe(16 + slowDeliveries + 3);
      // The envelopes delivered: 8, the slow client's, and one after the restart; control packets have no lag.
      const lagCount = final.value('system_stream_delivery_lag_seconds_count');
      expect(lagCount).toBe(8 + slowDeliveries + 1);
      expect(final.value('system_stream_delivery_lag_seconds_bucket', { le: '+Inf' })).toBe(lagCount);
      expect(final.value('system_stream_delivery_lag_seconds_sum')).toBeGreaterThanOrEqual(0);
      expect(final.value('system_stream_fanout_seconds_count')).toBe(7 + bigBatches + 1);
      expect(final.value('system_stream_fanout_seconds_bucket', { le: '+Inf' })).toBe(7 + bigBatches + 1);
      // And stats() tells the same story.
      expect(s.stream.stats()).toMatchObject({
        clients: 1,
        received: messages,
        delivered: 16 + slowDeliveries + 3,
        rejected: 4,
        slowClientsClosed: 1,
        deadClientsTerminated: 1,
      });

      await s.stream.close();

      // Every listed event was logged; every line carries one; no line holds a key.
      const events = new Set(lines.map((l) => l.obj['event']));
      for (const event of [
        'subscribed',
        'handshakes_refused',
        'handshake_refused',
        'authenticate_failed',
        'client_connected',
        'client_disconnected',
        'invalid_messages',
        'dead_client_terminated',
        'client_sent_data',
        'slow_client_closed',
        'redis_down',
        'redis_error',
        'redis_up',
        'closed',
      ]) {
        expect(events, event).toContain(event);
      }
      expect(lines.filter((l) => typeof l.obj['event'] !== 'string')).toEqual([]);
      const text = JSON.stringify(
        lines.map((l) => [l.obj, l.msg]),
        (_k, v: unknown) => (v instanceof Error ? v.message : v),
      );
      expect(text).not.toContain(KEY);
      expect(text).not.toContain(WRONG_KEY);
      // One line per state change, never per message: 1,000s of envelopes, a handful of lines above debug.
      expect(lines.filter((l) => l.level !== 'debug').length).toBeLessThan(30);
      // The refusal summary accounts for each refusal exactly once (the tail flushed by close()).
      const summaries = lines.filter((l) => l.obj['event'] === 'handshakes_refused');
      expect(summaries.every((l) => l.level === 'warn')).toBe(true);
      expect(summaries.reduce((n, l) => n + (l.obj['total'] as number), 0)).toBe(4);
      // Once per outage and once per restore, at error and info.
      expect(lines.filter((l) => l.obj['event'] === 'redis_down').map((l) => l.level)).toEqual(['error']);
      expect(lines.filter((l) => l.obj['event'] === 'redis_up').map((l) => l.level)).toEqual(['info']);
      expect(lines.filter((l) => l.obj['event'] === 'slow_client_closed').map((l) => l.level)).toEqual(['warn']);
      expect(lines.filter((l) => l.obj['event'] === 'dead_client_terminated').map((l) => l.level)).toEqual(['info']);
      // close() took the stream's metrics out of its registry.
      expect(await s.stream.metrics?.metrics()).toBe('\n');
    }, 60_000);
  });

  describe('GET …/metrics', () => {
    it('asks for what the snapshot asks for by default, and answers in the Prometheus text format', async () => {
      const s = await fx.server({ apiKeys: [KEY], metrics: true });
      expect((await request(s.app).get('/api/system/metrics')).status).toBe(401);
      expect((await request(s.app).get('/api/system/metrics').set('Authorization', `Bearer ${WRONG_KEY}`)).status).toBe(401);
      const res = await request(s.app).get('/api/system/metrics').set('x-api-key', KEY).expect(200);
      expect(res.headers['content-type']).toBe('text/plain; version=0.0.4; charset=utf-8');
      expect(res.headers['cache-control']).toBe('no-store');
      const text = parseExposition(res.text);
      expect(text.types.get('system_stream_delivery_lag_seconds')).toBe('histogram');
      expect(text.types.get('system_stream_deliveries_total')).toBe('counter');
      expect(text.value('system_stream_redis_up')).toBe(1);
      const head = await request(s.app).head('/api/system/metrics').set('x-api-key', KEY).expect(200);
      expect(head.text ?? '').toBe('');
    });

    it('serves anyone with metricsAuth: none, and is not there without metrics', async () => {
      const open = await fx.server({ apiKeys: [KEY], metrics: true, metricsAuth: 'none' });
      expect(parseExposition((await request(open.app).get('/api/system/metrics').expect(200)).text).value('system_stream_clients')).toBe(0);
      const off = await fx.server({ apiKeys: [KEY] });
      expect(off.stream.metrics).toBeUndefined();
      expect((await request(off.app).get('/api/system/metrics').set('x-api-key', KEY)).status).toBe(404); // left to the host
    });

    it('serves a host registry with the host’s metrics beside the stream’s; a failing collector is a 500, logged', async () => {
      const registry = new Registry();
      new Counter({ name: 'host_jobs_total', help: 'the host’s own', registers: [registry] }).inc(2);
      const { lines, logger } = capturingLogger();
      const s = await fx.server({ auth: false, metrics: registry, logger });
      expect(s.stream.metrics).toBe(registry);
      const text = parseExposition((await request(s.app).get('/api/system/metrics').expect(200)).text);
      expect(text.value('host_jobs_total')).toBe(2);
      expect(text.value('system_stream_clients')).toBe(0);
      new Counter({
        name: 'host_broken_total',
        help: 'throws',
        registers: [registry],
        collect() {
          throw new Error('collector failed');
        },
      });
      expect((await request(s.app).get('/api/system/metrics')).status).toBe(500);
      expect(lines.filter((l) => l.obj['event'] === 'metrics_failed').map((l) => l.level)).toEqual(['error']);
    });
  });

  describe('attaching with metrics', () => {
    it('refuses a registry that already holds the stream’s metrics and leaves nothing attached; a corrected retry works', async () => {
      const registry = new Registry();
      const first = await fx.server({ auth: false, metrics: registry });
      const server = http.createServer();
      const attempt = () => attachSystemStream(server, { auth: false, redis: fx.redis().url, channel: first.channel, metrics: registry });
      expect(attempt).toThrow(SystemStreamError);
      expect(attempt).toThrow(/registry already holds system_stream_clients/);
      expect(server.listenerCount('upgrade')).toBe(0);
      const retry = attachSystemStream(server, { auth: false, redis: fx.redis().url, channel: first.channel, metrics: true });
      fx.defer(() => retry.close());
      await retry.ready;
      expect(retry.metrics).not.toBe(registry);
    });
  });

  describe('prom-client stays unloaded', () => {
    const root = fileURLToPath(new URL('../../', import.meta.url));
    const outDir = `${root}node_modules/.cache/system-stream-test/metrics-${randomUUID()}`;
    afterAll(() => rmSync(outDir, { recursive: true, force: true }));

    it('is not loaded by importing the main entry or attaching without metrics, only by attaching with them', async () => {
      // The main entry, bundled from source with its dependencies left external, as an installed package would load them.
      await bundleForNode(`${root}src/index.ts`, `${outDir}/index.mjs`);
      writeFileSync(
        `${outDir}/probe.mjs`,
        `import http from 'node:http';
import { createRequire } from 'node:module';
const require = createRequire(import.meta.url);
const loaded = (name) => Object.keys(require.cache).some((file) => file.includes('/node_modules/' + name + '/'));
const { attachSystemStream } = await import('./index.mjs');
const result = { ws: loaded('ws'), afterImport: loaded('prom-client') };
const plain = attachSystemStream(http.createServer(), { auth: false, redis: process.argv[2] });
result.afterPlainAttach = loaded('prom-client');
const measured = attachSystemStream(http.createServer(), { auth: false, redis: process.argv[2], metrics: true });
result.afterMetricsAttach = loaded('prom-client');
await Promise.all([plain.close(), measured.close()]);
process.stdout.write(JSON.stringify(result));
`,
      );
      const child = spawn(process.execPath, [`${outDir}/probe.mjs`, fx.redis().url], { stdio: ['ignore', 'pipe', 'pipe'] });
      let stdout = '';
      let stderr = '';
      child.stdout.on('data', (chunk: Buffer) => (stdout += chunk.toString()));
      child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
      const [code] = (await once(child, 'close')) as [number | null];
      expect(stderr).toBe('');
      expect(code).toBe(0);
      // ws, which the entry imports statically, shows the probe sees what an import loads.
      expect(JSON.parse(stdout)).toEqual({ ws: true, afterImport: false, afterPlainAttach: false, afterMetricsAttach: true });
    });
  });
});
