// Clients that never read, against every kind of write the server makes (the snapshot at many keys, a
// `?since=0` backfill of a big history, control packets, live data): the server's unsent bytes per client
// stay near `maxBufferedBytes` and the process does not grow with what they ask for; a client that reads
// gets everything meanwhile. The bounds are generous (a loaded machine), the failures they catch are not:
// without the bound, each non-reading client holds its whole backfill or snapshot (megabytes) unsent.
// Non-readers that negotiated permessage-deflate get frames compressed alone and cached per packet: the
// same bounds hold for them. The clients that read do not offer it: they run in this process, and ws
// inflates on the thread pool, whose queue would count in the memory measured here as the server's.
import { randomBytes } from 'node:crypto';
import type { Socket } from 'node:net';
import type { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Envelope, SnapshotEndPacket, SystemMetricMessage } from '../../../src/protocol/wire.js';
import { container } from '../../helpers/fixtures.js';
import { memoryAfterGc } from '../../helpers/heap.js';
import { useStreamFixtures } from '../../helpers/lifecycle.js';
import { openNonReadingSocket } from '../../helpers/raw-socket.js';
import { serverSideSockets } from '../../helpers/server.js';
import { connect, connectOpen, type TestClient } from '../../helpers/ws-client.js';

const MAX_BUFFERED = 256 * 1024;
/** What the server may hold unsent for one client: the limit, one chunk of ~64 KB, and room for one large frame. */
const BOUND = MAX_BUFFERED + 256 * 1024;
// Random text (base64 of random bytes: deflate keeps ~75 % of it), so that compressed frames are not much
// smaller than plain ones and a non-reader that negotiated permessage-deflate fills its buffers too.
const pad = (): string => randomBytes(150).toString('base64');
const PLAIN = { perMessageDeflate: false } as const;
const NON_READERS = [
  ['plain', false],
  ['permessage-deflate', true],
] as const;

/** A metric of about 500 bytes. */
function bigMetric(i: number, keys: number, timeMs: number): SystemMetricMessage {
  return {
    type: 'system_metric',
    data: { time: new Date(timeMs).toISOString(), metric_type: 'load', value: i, source: `host-${i % keys}`, meta: { a: pad(), b: pad() } },
  };
}

describe('non-reading clients against every kind of write', () => {
  const fx = useStreamFixtures();

  /** A server with a small send-buffer limit, and what it has not flushed per upgraded client. */
  async function serverWithProbe(options: Parameters<typeof fx.server>[0] = {}) {
    const s = await fx.server({ throttleMs: 0, maxBufferedBytes: MAX_BUFFERED, maxMessagesPerSecond: 1e6, ...options });
    const sockets = serverSideSockets(s.server);
    return { s, sockets };
  }

  /** Publishes `count` values in batches of 100 and waits until a watcher has them all (so the history holds them). */
  async function fill(s: { channel: string }, watcher: TestClient, count: number, keys: number): Promise<void> {
    const pub = fx.redis().publisher();
    const start = Date.now() - 60_000;
    for (let i = 0; i < count; i += 100) {
      const batch = Array.from({ length: 100 }, (_, j) => bigMetric(i + j, keys, start + Math.floor(((i + j) * 50_000) / count)));
      await pub.publish(s.channel, JSON.stringify(batch));
    }
    await expect.poll(() => lastValue(watcher), { timeout: 30_000, interval: 20 }).toBe(count - 1);
  }

  /** The value of the last metric a client received (-1 if none): cheap to poll on tens of thousands of packets. */
  function lastValue(client: TestClient): number {
    for (let i = client.packets.length - 1; i >= 0; i--) {
      const p = client.packets[i];
      if (p?.type === 'system_metric') return p.data.value;
    }
    return -1;
  }

  /** Resolves once `client` has received its `snapshot_end`, looking only at what arrived since the last look. */
  function snapshotEnded(client: TestClient, timeoutMs: number): Promise<SnapshotEndPacket> {
    return new Promise((resolve, reject) => {
      let from = 0;
      const deadline = Date.now() + timeoutMs;
      const timer = setInterval(() => {
        const found = client.packets.slice(from).find((p): p is SnapshotEndPacket => p.type === 'snapshot_end');
        from = client.packets.length;
        if (found !== undefined || Date.now() > deadline) {
          clearInterval(timer);
          if (found) resolve(found);
          else reject(new Error(`no snapshot_end within ${timeoutMs} ms (${client.packets.length} packets)`));
        }
      }, 20);
    });
  }

  /** Samples the largest unsent bytes of any of `sockets` and the process memory every 10 ms, until `until` settles. */
  async function watchPeaks(sockets: readonly Duplex[], until: Promise<unknown>): Promise<{ maxUnsent: number }> {
    let maxUnsent = 0;
    const sample = (): void => {
      for (const socket of sockets) maxUnsent = Math.max(maxUnsent, socket.writableLength);
    };
    const timer = setInterval(sample, 10);
    try {
      await until;
    } finally {
      clearInterval(timer);
      sample();
    }
    return { maxUnsent };
  }

  const settle = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

  it.each(NON_READERS)(
    '?since=0 with a big history, %s non-readers: each holds at most ~maxBufferedBytes, the heap stays flat, and a reader gets every value',
    async (_, deflate) => {
      const { s, sockets } = await serverWithProbe({ slowClientTimeoutMs: 60_000, maxMessageBytes: 1024 * 1024 });
      const watcher = fx.track(await connectOpen(s.wsUrl('api_key=k'), PLAIN));
      const VALUES = 20_000; // ~10 MB of JSON: more than loopback's socket buffers absorb for each client
      await fill(s, watcher, VALUES, 200);

      const before = memoryAfterGc();
      const nonReaders: Socket[] = [];
      fx.defer(() => nonReaders.forEach((socket) => socket.destroy()));
      for (let i = 0; i < 8; i++) nonReaders.push(await openNonReadingSocket(s.port, '/api/system/ws?api_key=k&since=0', { deflate }));
      const reader = fx.track(connect(s.wsUrl('api_key=k&since=0'), PLAIN));
      const { maxUnsent } = await watchPeaks(
        sockets,
        snapshotEnded(reader, 60_000).then(() => settle(1000)),
      );
      const grown = memoryAfterGc() - before;

      expect(maxUnsent).toBeLessThan(BOUND);
      // Eight clients asked for 10 MB each: held whole, that is 80 MB (and more while being built).
      expect(grown).toBeLessThan(40 * 1024 * 1024);
      const end = reader.packets.find((p): p is SnapshotEndPacket => p.type === 'snapshot_end') as SnapshotEndPacket;
      const values = reader.packets.flatMap((p) => (p.type === 'system_metric' ? [p.data.value] : []));
      expect(values).toEqual(Array.from({ length: VALUES }, (_, i) => i));
      expect(end.data.count).toBe(VALUES);
      expect(s.stream.stats().clients).toBe(10);
    },
    120_000,
  );

  it('a backfill its client does not take is cut: of the rest, each key`s latest, and complete: false', async () => {
    const { s } = await serverWithProbe({ slowClientTimeoutMs: 3000, maxMessageBytes: 1024 * 1024 });
    const watcher = fx.track(await connectOpen(s.wsUrl('api_key=k'), PLAIN));
    await fill(s, watcher, 20_000, 50);
    // A ws client whose socket is paused right after the handshake: it reads nothing until resumed.
    const slow = fx.track(connect(s.wsUrl('api_key=k&since=0'), PLAIN));
    await new Promise((resolve) => slow.ws.once('open', resolve));
    const socket = (slow.ws as unknown as { _socket: Socket })._socket;
    socket.pause();
    await settle(1500); // well past the 250 ms a backfill may stall before it is cut
    socket.resume();
    const end = await snapshotEnded(slow, 20_000);
    expect(end.data.complete).toBe(false);
    expect(s.stream.stats().backfillsCut).toBe(1);
    const before = slow.packets.filter((p) => p.type === 'system_metric').length;
    expect(before).toBeLessThan(20_000);
    expect(end.data.count).toBe(before);
    // What was sent after the cut ends with each key's latest value: the last 50 values, one per key.
    const values = slow.packets.flatMap((p) => (p.type === 'system_metric' ? [p.data.value] : []));
    expect(values.slice(-50)).toEqual(Array.from({ length: 50 }, (_, i) => 19_950 + i));
  }, 120_000);

  it.each(NON_READERS)(
    'the plain snapshot at 10,000 keys, %s non-readers: each holds at most ~maxBufferedBytes, and a reader gets every key',
    async (_, deflate) => {
      const { s, sockets } = await serverWithProbe({ slowClientTimeoutMs: 60_000, maxMessageBytes: 1024 * 1024, historyMs: 0 });
      const watcher = fx.track(await connectOpen(s.wsUrl('api_key=k'), PLAIN));
      await fill(s, watcher, 10_000, 10_000); // ~5 MB snapshot
      await expect.poll(() => s.stream.snapshot().length, { timeout: 10_000 }).toBe(10_000);

      const before = memoryAfterGc();
      const nonReaders: Socket[] = [];
      fx.defer(() => nonReaders.forEach((socket) => socket.destroy()));
      for (let i = 0; i < 8; i++) nonReaders.push(await openNonReadingSocket(s.port, '/api/system/ws?api_key=k', { deflate }));
      const reader = fx.track(connect(s.wsUrl('api_key=k'), PLAIN));
      const { maxUnsent } = await watchPeaks(
        sockets,
        snapshotEnded(reader, 60_000).then(() => settle(1000)),
      );
      const grown = memoryAfterGc() - before;

      expect(maxUnsent).toBeLessThan(BOUND);
      // Held whole, eight snapshots of 5 MB would be 40 MB more. Compressing clients share one more copy of
      // the snapshot, compressed.
      expect(grown).toBeLessThan((deflate ? 36 : 30) * 1024 * 1024);
      const end = reader.packets.find((p): p is SnapshotEndPacket => p.type === 'snapshot_end') as SnapshotEndPacket;
      expect(end.data.count).toBe(10_000);
    },
    120_000,
  );

  it('live data and control packets (container events, source_status): a non-reader stays bounded until it is closed 4429; a reader gets every packet', async () => {
    const { s, sockets } = await serverWithProbe({ slowClientTimeoutMs: 1500, staleFloorMs: 300, maxMessageBytes: 1024 * 1024 });
    const nonReader = await openNonReadingSocket(s.port, '/api/system/ws?api_key=k');
    fx.defer(() => nonReader.destroy());
    const reader = fx.track(await connectOpen(s.wsUrl('api_key=k'), PLAIN));
    const pub = fx.redis().publisher();
    const now = Date.now();
    const rounds = 30;
    // ~4 KB each: 400 KB a round, 12 MB in all, well past what loopback's socket buffers absorb.
    const meta = Object.fromEntries(Array.from({ length: 16 }, (_, i) => [`m${i}`, 'z'.repeat(250)]));
    const publishing = (async () => {
      for (let round = 0; round < rounds; round++) {
        const batch: Envelope[] = Array.from({ length: 100 }, (_, j) => {
          const m = bigMetric(round * 100 + j, 100, now + round);
          return { ...m, data: { ...m.data, meta } };
        });
        batch.push(container(`svc-${round % 5}`, round % 2 === 0 ? 'running' : 'restarting'));
        await pub.publish(s.channel, JSON.stringify(batch));
        await reader.waitFor((p) => p.type === 'system_metric' && p.data.value === round * 100 + 99, 10_000, 0);
      }
    })();
    // Then the 100 sources fall silent: each is reported stale (a control packet per source).
    const stale = publishing.then(() =>
      expect.poll(() => reader.packets.filter((p) => p.type === 'source_status').length, { timeout: 10_000 }).toBe(100),
    );
    const { maxUnsent } = await watchPeaks(sockets, stale);
    expect(maxUnsent).toBeLessThan(BOUND);
    expect(reader.packets.filter((p) => p.type === 'system_metric')).toHaveLength(rounds * 100);
    expect(reader.packets.filter((p) => p.type === 'container_status')).toHaveLength(rounds);
    await expect.poll(() => s.stream.stats().slowClientsClosed, { timeout: 10_000 }).toBe(1);
  }, 60_000);
});
