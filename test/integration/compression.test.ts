import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import type { ServerPacket } from '../../src/protocol/wire.js';
import { pythonPath } from '../helpers/executables.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { connectOpen, type TestClient } from '../helpers/ws-client.js';

const PYTHON_CLIENT = fileURLToPath(new URL('../interop/deflate_client.py', import.meta.url));

const metric = (i: number, source = `web-${i % 7}`) => ({
  type: 'system_metric',
  data: {
    time: new Date(Date.now() - 60_000 + i).toISOString(),
    metric_type: `m${i % 13}`,
    value: (i * 7.3) % 100,
    source,
    meta: { seq: i },
  },
});

/** The packets after the snapshot's end, as JSON text, in order. */
const livePackets = (client: TestClient): string[] => {
  const end = client.packets.findIndex((p) => p.type === 'snapshot_end');
  return client.packets
    .slice(end + 1)
    .filter((p) => p.type !== 'heartbeat')
    .map((p) => JSON.stringify(p));
};
const isEnvelope = (p: ServerPacket): boolean => p.type === 'system_metric';
const envelopesOf = (client: TestClient): number => client.packets.filter(isEnvelope).length;

describe('compression: permessage-deflate shared per group of clients', () => {
  const fx = useStreamFixtures();

  it('sends the same packets to a client that negotiated deflate, one that offered none, and Python websockets', async () => {
    const s = await fx.server({ compression: true, throttleMs: 0 });
    const deflating = fx.track(await connectOpen(s.wsUrl('api_key=k'))); // ws offers permessage-deflate by default
    const plain = fx.track(await connectOpen(s.wsUrl('api_key=k'), { perMessageDeflate: false }));
    expect(deflating.ws.extensions).toContain('permessage-deflate');
    expect(plain.ws.extensions).toBe('');

    const COUNT = 240;
    const python = spawn(pythonPath(), [PYTHON_CLIENT, '--ws', s.wsUrl(), '--key', 'k', '--count', String(COUNT)], {
      stdio: ['ignore', 'pipe', 'inherit'],
    });
    fx.defer(() => python.exitCode === null && python.kill('SIGKILL'));
    const pythonLines: { event: string; packet?: ServerPacket; extensions?: string }[] = [];
    const lines = createInterface({ input: python.stdout });
    const pythonOpen = new Promise<void>((resolve) =>
      lines.on('line', (line) => {
        const parsed = JSON.parse(line) as { event: string };
        pythonLines.push(parsed);
        if (parsed.event === 'open') resolve();
      }),
    );
    const pythonDone = new Promise<number | null>((resolve) => python.on('exit', resolve));
    await pythonOpen;
    await expect.poll(() => s.stream.stats().clients).toBe(3);

    const publisher = fx.redis().publisher();
    for (let i = 0; i < COUNT; i += 4) await publisher.publish(s.channel, JSON.stringify([0, 1, 2, 3].map((k) => metric(i + k))));
    await expect.poll(() => Math.min(envelopesOf(deflating), envelopesOf(plain)), { timeout: 20_000 }).toBe(COUNT);
    expect(await pythonDone).toBe(0);

    expect(livePackets(deflating)).toEqual(livePackets(plain));
    const fromPython = pythonLines
      .filter((l) => l.event === 'packet' && l.packet!.type === 'system_metric')
      .map((l) => JSON.stringify(l.packet));
    expect(fromPython).toEqual(livePackets(plain).filter((p) => p.startsWith('{"type":"system_metric"')));
    expect(pythonLines.at(-1)).toMatchObject({ event: 'summary', extensions: expect.stringContaining('permessage-deflate') });

    const { bytesWritten, bytesBeforeCompression } = s.stream.stats();
    expect(bytesWritten).toBeLessThan(bytesBeforeCompression * 0.8);
  }, 60_000);

  it('is on by default, and `compression: false` turns it off for every client', async () => {
    for (const [options, negotiated] of [
      [{}, true],
      [{ compression: false }, false],
    ] as const) {
      const s = await fx.server({ ...options, throttleMs: 0 });
      const client = fx.track(await connectOpen(s.wsUrl('api_key=k'))); // offers permessage-deflate
      expect(client.ws.extensions.includes('permessage-deflate')).toBe(negotiated);
      const publisher = fx.redis().publisher();
      for (let i = 0; i < 40; i++) await publisher.publish(s.channel, JSON.stringify(metric(i)));
      await expect.poll(() => envelopesOf(client), { timeout: 10_000 }).toBe(40);
      const { bytesWritten, bytesBeforeCompression } = s.stream.stats();
      if (negotiated) expect(bytesWritten).toBeLessThan(bytesBeforeCompression * 0.8);
      else expect(bytesWritten).toBe(bytesBeforeCompression);
    }
  }, 30_000);

  it('decodes everything for a client that joins mid-stream and one that asks for server_no_context_takeover', async () => {
    const s = await fx.server({ compression: { resetEvery: 20 }, throttleMs: 0 });
    const early = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    const publisher = fx.redis().publisher();
    let sent = 0;
    const publishBatches = async (batches: number): Promise<void> => {
      for (let b = 0; b < batches; b++, sent += 3)
        await publisher.publish(s.channel, JSON.stringify([0, 1, 2].map((k) => metric(sent + k))));
    };
    await publishBatches(5); // 15 messages: the late clients join in the middle of an epoch
    await expect.poll(() => envelopesOf(early)).toBe(15);
    const late = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    const alone = fx.track(await connectOpen(s.wsUrl('api_key=k'), { perMessageDeflate: { serverNoContextTakeover: true } }));
    // What the server accepted, as the ws client recorded it (ws's `extensions` getter lists only names).
    const accepted = (alone.ws as unknown as { _extensions: Record<string, { params: object }> })._extensions['permessage-deflate'];
    expect(accepted?.params).toMatchObject({ server_no_context_takeover: true });
    await expect.poll(() => s.stream.stats().clients).toBe(3);
    await publishBatches(20);
    await expect.poll(() => [envelopesOf(early), envelopesOf(late), envelopesOf(alone)], { timeout: 20_000 }).toEqual([75, 75, 75]);
    // The late ones' snapshot holds the 15 first values; after it, all three saw the same live packets.
    expect(livePackets(late)).toEqual(livePackets(alone));
    expect(livePackets(early).slice(-60)).toEqual(livePackets(late).slice(-60));
    for (const client of [early, late, alone]) expect(client.ws.readyState).toBe(1);
  }, 60_000);

  it('decodes everything for a client that fell behind and was conflated, across resets', async () => {
    const s = await fx.server({ compression: { resetEvery: 10 }, throttleMs: 0, maxMessagesPerSecond: 50 });
    const reader = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    const publisher = fx.redis().publisher();
    // 600 values of 13 keys as fast as Redis takes them: over the rate cap, so most are conflated to each key's latest.
    for (let i = 0; i < 600; i += 6)
      await publisher.publish(s.channel, JSON.stringify([0, 1, 2, 3, 4, 5].map((k) => metric(i + k, 'web-1'))));
    await expect.poll(() => s.stream.stats().conflated, { timeout: 20_000 }).toBeGreaterThan(0);
    // Every key's last value arrives, decoded, and the client is still open.
    const lastValues = new Map<string, number>();
    for (let i = 0; i < 600; i++) lastValues.set(`m${i % 13}`, metric(i).data.value);
    const seen = (): Map<string, number> => {
      const byKey = new Map<string, number>();
      for (const p of reader.packets) if (p.type === 'system_metric') byKey.set(p.data.metric_type, p.data.value);
      return byKey;
    };
    await expect.poll(seen, { timeout: 20_000 }).toEqual(lastValues);
    expect(reader.ws.readyState).toBe(1);
    expect(s.stream.stats().bytesWritten).toBeLessThan(s.stream.stats().bytesBeforeCompression);
  }, 60_000);
});
