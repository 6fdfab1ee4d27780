import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import type { Envelope } from '../../src/protocol/wire.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { connectOpen } from '../helpers/ws-client.js';

/** A batch of `n` metrics with distinct keys, each about 4 KB, so a few batches outgrow the kernel's socket buffers. */
function bigBatch(round: number, n: number): Envelope[] {
  const meta = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`k${i}`, 'x'.repeat(250)]));
  const time = new Date().toISOString();
  return Array.from({ length: n }, (_, i) => ({
    type: 'system_metric' as const,
    data: { time, metric_type: 'load', value: round, source: `s${i}`, meta },
  }));
}

describe('backpressure', () => {
  const fx = useStreamFixtures();

  it('conflates for a client that does not read, closes it after slowClientTimeoutMs, and leaves the others unaffected', async () => {
    const s = await fx.server({
      throttleMs: 0,
      maxBufferedBytes: 64 * 1024,
      slowClientTimeoutMs: 500,
      maxMessageBytes: 16 * 1024 * 1024,
      maxMessagesPerSecond: 1e9,
    });
    const fast = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    // Uncompressed, so that its buffers fill with the repetitive test data (compressed non-readers:
    // adversarial/non-reading-clients.test.ts).
    const slow = fx.track(await connectOpen(s.wsUrl('api_key=k'), { perMessageDeflate: false }));
    (slow.ws as unknown as { _socket: Socket })._socket.pause();

    const pub = fx.redis().publisher();
    const rounds = 12;
    const perRound = 500; // ~2 MB per round: 24 MB in all, well past loopback's socket buffers
    for (let round = 1; round <= rounds; round++) {
      await pub.publish(s.channel, JSON.stringify(bigBatch(round, perRound)));
      await fast.waitFor((p) => p.type === 'system_metric' && p.data.value === round && p.data.source === `s${perRound - 1}`, 10_000, 1);
    }
    expect(fast.packets.filter((p) => p.type === 'system_metric')).toHaveLength(rounds * perRound);

    await expect.poll(() => s.stream.stats().slowClientsClosed, { timeout: 10_000 }).toBe(1);
    await expect.poll(() => s.stream.stats().clients, { timeout: 5_000 }).toBe(1);
    expect(s.stream.stats().conflated).toBeGreaterThan(0);
  });

  it('holds only the latest value per key for a client over its rate cap, then delivers it', async () => {
    const s = await fx.server({ throttleMs: 0, maxMessagesPerSecond: 5 });
    const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    const pub = fx.redis().publisher();
    const time = new Date().toISOString();
    const burst = Array.from({ length: 50 }, (_, i): Envelope => ({
      type: 'system_metric',
      data: { time, metric_type: i % 2 === 0 ? 'cpu' : 'memory', value: i, source: 'host' },
    }));
    // 50 envelopes, one at a time; the first 5 go out, the rest are conflated to the latest cpu and memory.
    for (const envelope of burst) await pub.publish(s.channel, JSON.stringify(envelope));
    await c.waitFor((p) => p.type === 'system_metric' && p.data.value === 49, 5000);
    await c.waitFor((p) => p.type === 'system_metric' && p.data.value === 48, 5000);
    const values = c.packets.flatMap((p) => (p.type === 'system_metric' ? [p.data.value] : []));
    expect(values.length).toBeLessThan(15);
    expect(s.stream.stats().conflated).toBeGreaterThan(30);
  });

  it('keeps a client that reads everything connected under a flood of container re-announcements: over the rate cap they conflate by container', async () => {
    // 200 containers announced again and again (as an agent re-announcing unchanged state would), ~3,000 a
    // second against a cap of 100: held one by one, they would pass the 5,000 held packets within 2 s.
    const s = await fx.server({ throttleMs: 0, maxMessagesPerSecond: 100, maxMessageBytes: 1024 * 1024 });
    const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    const pub = fx.redis().publisher();
    const announce = (status: 'running' | 'exited'): Envelope[] =>
      Array.from({ length: 200 }, (_, i) => ({
        type: 'container_status' as const,
        data: { container: `svc-${i}`, status, time: new Date().toISOString() },
      }));
    const until = Date.now() + 3000;
    while (Date.now() < until) {
      await pub.publish(s.channel, JSON.stringify(announce('running')));
      await new Promise((resolve) => setTimeout(resolve, 60));
    }
    await pub.publish(s.channel, JSON.stringify(announce('exited')));
    // The latest state of every container arrives, and the client was never closed.
    await expect
      .poll(
        () =>
          new Set(c.packets.flatMap((p) => (p.type === 'container_status' && p.data.status === 'exited' ? [p.data.container] : []))).size,
        {
          timeout: 15_000,
        },
      )
      .toBe(200);
    expect(s.stream.stats().slowClientsClosed).toBe(0);
    expect(s.stream.stats().conflated).toBeGreaterThan(1000);
    expect(c.ws.readyState).toBe(c.ws.OPEN);
  }, 30_000);
});
