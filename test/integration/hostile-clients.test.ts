import { connect as netConnect, type Socket } from 'node:net';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { metric } from '../helpers/fixtures.js';
import { heapAfterGc } from '../helpers/heap.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { connect, connectOpen, type TestClient } from '../helpers/ws-client.js';

/** A raw HTTP upgrade request; resolves with the status line's code. */
function rawHandshake(port: number, target: string, extraHeaders = ''): Promise<number> {
  return new Promise((resolve, reject) => {
    const socket = netConnect(port, '127.0.0.1');
    let response = '';
    socket.setEncoding('latin1');
    socket.on('data', (chunk: string) => (response += chunk));
    socket.on('error', reject);
    socket.on('close', () => resolve(Number(/^HTTP\/1\.1 (\d{3})/.exec(response)?.[1] ?? 0)));
    socket.write(
      `GET ${target} HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n` +
        `Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n${extraHeaders}\r\n`,
    );
  });
}

/** A ws client that only counts frames, for load on many connections. */
async function openCountingReader(url: string): Promise<{ ws: WebSocket; frames: number; waitForFrames(n: number): Promise<void> }> {
  const ws = new WebSocket(url, { skipUTF8Validation: true });
  const reader = {
    ws,
    frames: 0,
    waiting: null as null | { n: number; resolve: () => void },
    waitForFrames(n: number): Promise<void> {
      if (reader.frames >= n) return Promise.resolve();
      return new Promise<void>((resolve) => (reader.waiting = { n, resolve }));
    },
  };
  ws.on('message', () => {
    reader.frames++;
    if (reader.waiting && reader.frames >= reader.waiting.n) {
      reader.waiting.resolve();
      reader.waiting = null;
    }
  });
  await once(ws, 'open');
  return reader;
}

describe('hostile clients', () => {
  const fx = useStreamFixtures();

  describe('frames from clients', () => {
    it('closes a client that sends a text or a binary frame with 4400', async () => {
      const s = await fx.server();
      const text = connect(s.wsUrl('api_key=k'));
      const binary = connect(s.wsUrl('api_key=k'));
      await Promise.all([text, binary].map((c) => c.waitFor((p) => p.type === 'snapshot_end')));
      text.ws.send('hello');
      binary.ws.send(Buffer.from([1, 2, 3]));
      expect((await text.waitForClose()).code).toBe(CloseCode.BadRequest);
      expect((await binary.waitForClose()).code).toBe(CloseCode.BadRequest);
    });

    it('closes a client whose frame, or fragmented flood, exceeds the 1 KiB limit with 1009, without buffering it', async () => {
      const s = await fx.server();
      const big = connect(s.wsUrl('api_key=k'));
      const fragments = connect(s.wsUrl('api_key=k'));
      await Promise.all([big, fragments].map((c) => c.waitFor((p) => p.type === 'snapshot_end')));
      big.ws.send('x'.repeat(64 * 1024));
      for (let i = 0; i < 100; i++) fragments.ws.send('y'.repeat(100), { fin: false });
      expect((await big.waitForClose()).code).toBe(1009);
      expect((await fragments.waitForClose()).code).toBe(1009);
      await expect.poll(() => s.stream.stats().clients).toBe(0);
    });
  });

  describe('dead peers', () => {
    it('terminates a half-open connection (a peer that stopped reading and answering) via the heartbeat', async () => {
      const s = await fx.server({ heartbeatIntervalMs: 100 });
      const c = connect(s.wsUrl('api_key=k'));
      await c.waitFor((p) => p.type === 'snapshot_end');
      // Stop reading: pings are never seen, so no pong is ever sent, as with a peer that vanished.
      (c.ws as unknown as { _socket: Socket })._socket.pause();
      await expect.poll(() => s.stream.stats().clients, { timeout: 2000 }).toBe(0);
      expect(s.stream.stats().deadClientsTerminated).toBe(1);
      c.ws.terminate();
    });
  });

  describe('handshake abuse', () => {
    it('answers 10,000 wrong-key attempts with 401, accepts none, and keeps memory flat', async () => {
      const s = await fx.server({ apiKeys: ['the-right-key'] });
      const attempt = (i: number): Promise<number> => rawHandshake(s.port, `/api/system/ws?api_key=wrong-${i}`);
      for (let i = 0; i < 500; i++) await attempt(i); // warm up
      const before = heapAfterGc();
      const started = performance.now();
      const statuses = new Map<number, number>();
      const concurrency = 50;
      for (let i = 0; i < 10_000; i += concurrency) {
        const batch = await Promise.all(Array.from({ length: concurrency }, (_, j) => attempt(i + j)));
        for (const status of batch) statuses.set(status, (statuses.get(status) ?? 0) + 1);
      }
      const elapsed = performance.now() - started;
      expect(statuses).toEqual(new Map([[401, 10_000]]));
      expect(s.stream.stats().clients).toBe(0);
      expect(elapsed / 10_000).toBeLessThan(5); // ms per attempt, generous
      expect(heapAfterGc() - before).toBeLessThan(2 * 1024 * 1024);
    }, 60_000);

    it('rejects odd bytes, very long keys, repeated parameters and keys in the wrong place', async () => {
      const s = await fx.server({ apiKeys: ['the-right-key'] });
      const cases: [string, string][] = [
        ['/api/system/ws?api_key=the-right-key%00', ''],
        ['/api/system/ws?api_key=%FF%FE%C0%AF', ''],
        ['/api/system/ws?api_key=the-right-key%0d%0aX-Injected:%201', ''],
        [`/api/system/ws?api_key=${'a'.repeat(8000)}`, ''],
        ['/api/system/ws?api_key=the-right-key&api_key=the-right-key', ''],
        ['/api/system/ws?api_key=wrong&api_key=the-right-key', ''],
        ['/api/system/ws?apiKey=the-right-key', ''],
        ['/api/system/ws/the-right-key', ''],
        ['/api/system/ws', 'Cookie: api_key=the-right-key\r\n'],
        ['/api/system/ws', 'Authorization: Basic dGhlLXJpZ2h0LWtleQ==\r\n'],
        ['/api/system/ws?api_key=other', 'X-Api-Key: the-right-key\r\n'],
      ];
      for (const [target, headers] of cases) {
        const status = await rawHandshake(s.port, target, headers);
        expect([401, 404], `${target.slice(0, 60)} ${headers}`).toContain(status);
      }
      // A key too long for Node's header limit never reaches us: Node answers 431 itself.
      expect(await rawHandshake(s.port, `/api/system/ws?api_key=${'a'.repeat(20_000)}`)).toBe(431);
      expect(s.stream.stats().clients).toBe(0);
    });
  });

  describe('connection storm', () => {
    it('1,000 connects and disconnects against maxClients 100: never more than 100 served, back to exactly 0, nothing leaked', async () => {
      let served = 0;
      let peak = 0;
      const noop = (): void => {};
      const logger = {
        info: noop,
        warn: noop,
        error: noop,
        debug: (_o: object, msg?: string) => {
          if (msg === 'client connected') peak = Math.max(peak, ++served);
          if (msg === 'client disconnected') served--;
        },
      };
      const s = await fx.server({ maxClients: 100, logger });
      const baseline = process.getActiveResourcesInfo().length;
      const outcomes = { open: 0, refused: 0 };
      const attempt = async (): Promise<TestClient> => {
        const c: TestClient = connect(s.wsUrl('api_key=k'));
        const opened = await new Promise<boolean>((resolve) => {
          c.ws.once('open', () => resolve(true));
          c.ws.once('unexpected-response', () => resolve(false));
        });
        if (opened) outcomes.open++;
        else outcomes.refused++;
        return c;
      };
      // Waves of 200 at once, each held until the whole wave has an answer, then dropped: half
      // closed politely, half cut off.
      for (let wave = 0; wave < 5; wave++) {
        const clients = await Promise.all(Array.from({ length: 200 }, attempt));
        await Promise.all(clients.map((c, i) => (i % 2 === 0 ? c.ws.terminate() : c.close())));
      }
      expect(outcomes.open + outcomes.refused).toBe(1000);
      expect(outcomes.refused).toBeGreaterThan(0);
      expect(peak).toBeLessThanOrEqual(100);
      await expect.poll(() => s.stream.stats().clients, { timeout: 5000 }).toBe(0);
      expect(served).toBe(0);
      const connections = await new Promise<number>((r) => s.server.getConnections((_e, n) => r(n)));
      expect(connections).toBe(0);
      await expect.poll(() => process.getActiveResourcesInfo().length, { timeout: 5000 }).toBeLessThanOrEqual(baseline);
    }, 60_000);
  });

  describe('slow consumer', () => {
    it('one client that never reads among 99 readers: bounded memory, closed after the timeout, the others unaffected', async () => {
      const s = await fx.server({
        throttleMs: 0,
        maxBufferedBytes: 256 * 1024,
        slowClientTimeoutMs: 1000,
        maxMessagesPerSecond: 1e9,
        maxMessageBytes: 4 * 1024 * 1024,
      });
      // Readers count bytes and look for each round's marker without parsing 10 MB of JSON each.
      const readers = await Promise.all(Array.from({ length: 99 }, () => openCountingReader(s.wsUrl('api_key=k'))));
      fx.defer(() => readers.forEach((r) => r.ws.terminate()));
      // Uncompressed, so that the repetitive test data fills its buffers.
      const slow = fx.track(await connectOpen(s.wsUrl('api_key=k'), { perMessageDeflate: false }));
      (slow.ws as unknown as { _socket: Socket })._socket.pause();
      const pub = fx.redis().publisher();
      const meta = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`m${i}`, 'z'.repeat(250)]));
      const rssBefore = process.memoryUsage().rss;
      let peakRss = rssBefore;
      const latencies: number[] = [];
      // 25 rounds of 100 envelopes of ~4 KB: ~10 MB to every client, past what loopback's socket buffers absorb for the slow one.
      const rounds = 25;
      for (let round = 0; round < rounds; round++) {
        const batch = Array.from({ length: 100 }, (_, i) => ({
          type: 'system_metric',
          data: { ...metric('load', round, `s${i}`).data, meta },
        }));
        const sentAt = performance.now();
        await pub.publish(s.channel, JSON.stringify(batch));
        await Promise.all(readers.map((r) => r.waitForFrames(1 + (round + 1) * 100))); // snapshot_end + one frame per envelope
        latencies.push(performance.now() - sentAt);
        peakRss = Math.max(peakRss, process.memoryUsage().rss);
      }
      await expect.poll(() => s.stream.stats().slowClientsClosed, { timeout: 5000 }).toBe(1);
      expect(readers.every((r) => r.frames === 1 + rounds * 100)).toBe(true);
      latencies.sort((a, b) => a - b);
      // Generous: each round moves 40 MB through loopback; the benchmark measures latency properly.
      expect(latencies[Math.floor(latencies.length / 2)]).toBeLessThan(1000);
      // The documented bound per slow client: maxBufferedBytes + one frame, plus at most 5,000 held packets.
      expect(peakRss - rssBefore).toBeLessThan(200 * 1024 * 1024);
      await expect.poll(() => s.stream.stats().clients, { timeout: 3000 }).toBe(99);
    }, 60_000);
  });
});
