import { once } from 'node:events';
import { createServer, type Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket, WebSocketServer } from 'ws';
import { encodeFrames } from '../../../../src/server/fanout/delivery.js';
import { writeFrames } from '../../../../src/server/fanout/raw-frame.js';

// Runs against a real ws server socket: if a ws release renames the internals writeFrames relies on,
// the fast path turns off and these tests fail, rather than the CPU gain silently disappearing.
let server: Server;
let wss: WebSocketServer;

afterEach(async () => {
  for (const ws of wss?.clients ?? []) ws.terminate();
  wss?.close();
  await new Promise((resolve) => server?.close(resolve));
});

/** A connected pair: the server side's ws and the client that reads it. */
async function connectPair(): Promise<{ serverSide: WebSocket; client: WebSocket; received: string[] }> {
  server = createServer();
  wss = new WebSocketServer({ server, perMessageDeflate: false });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = new WebSocket(`ws://127.0.0.1:${(server.address() as AddressInfo).port}`);
  const received: string[] = [];
  client.on('message', (data) => received.push(data.toString()));
  const [[serverSide]] = await Promise.all([once(wss, 'connection') as Promise<[WebSocket]>, once(client, 'open')]);
  return { serverSide, client, received };
}

const frames = encodeFrames([
  { type: 'heartbeat', json: '{"type":"heartbeat"}', conflationKey: null },
  { type: 'snapshot_end', json: '{"type":"snapshot_end","data":{"count":0}}', conflationKey: null },
]);

describe('writeFrames', () => {
  it('takes the fast path on an open ws connection: one socket write, which the client reads as separate messages', async () => {
    const { serverSide, received } = await connectPair();
    const socket = (serverSide as unknown as { _socket: Socket })._socket;
    const writes: unknown[] = [];
    const write = socket.write.bind(socket);
    socket.write = ((chunk: unknown, ...rest: never[]) => (writes.push(chunk), write(chunk as Buffer, ...rest))) as typeof socket.write;
    expect(writeFrames(serverSide, frames)).toBe(true);
    expect(writes).toEqual([frames]);
    await expect.poll(() => received).toEqual(['{"type":"heartbeat"}', '{"type":"snapshot_end","data":{"count":0}}']);
  });

  it('is counted by bufferedAmount while the socket has not flushed it, so backpressure sees it', async () => {
    const { serverSide, client } = await connectPair();
    (client as unknown as { _socket: Socket })._socket.pause(); // the client stops reading
    const big = encodeFrames([
      { type: 'heartbeat', json: JSON.stringify({ type: 'heartbeat', pad: 'x'.repeat(64 * 1024) }), conflationKey: null },
    ]);
    const before = serverSide.bufferedAmount;
    let written = 0;
    // Fill the kernel's buffers (a few MB on loopback) until bytes stay queued in the socket.
    for (let i = 0; i < 2000 && serverSide.bufferedAmount === before; i++) {
      writeFrames(serverSide, big);
      written += big.length;
    }
    expect(serverSide.bufferedAmount).toBeGreaterThan(before);
    expect(serverSide.bufferedAmount).toBeLessThanOrEqual(written);
  });

  it('falls back (writes nothing, returns false) once the connection is closing', async () => {
    const { serverSide } = await connectPair();
    serverSide.close();
    expect(writeFrames(serverSide, frames)).toBe(false);
  });
});
