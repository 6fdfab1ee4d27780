import { describe, expect, it } from 'vitest';
import type { EventEmitter } from 'node:events';
import * as ws from 'ws';
import { WebSocket } from 'ws';

// ws exports its frame parser, but @types/ws does not declare it.
const { Receiver } = ws as unknown as {
  Receiver: new (options: { maxPayload: number; skipUTF8Validation: boolean }) => EventEmitter & { write(chunk: Buffer): void };
};
import { directSocket, encodeTextFrame } from '../../src/raw-frame.js';

function decode(frame: Buffer): Promise<{ data: Buffer; isBinary: boolean }> {
  return new Promise((resolve, reject) => {
    const receiver = new Receiver({ maxPayload: 1 << 30, skipUTF8Validation: false });
    receiver.on('message', (data: Buffer, isBinary: boolean) => resolve({ data, isBinary }));
    receiver.on('error', reject);
    receiver.write(frame);
  });
}

describe('encodeTextFrame', () => {
  it.each([0, 1, 125, 126, 65535, 65536, 200_000])('frames a %i-byte payload that ws decodes as the same text', async (size) => {
    const payload = Buffer.from('é'.repeat(Math.floor(size / 2)) + 'x'.repeat(size % 2));
    const { data, isBinary } = await decode(encodeTextFrame(payload));
    expect(isBinary).toBe(false);
    expect(data.equals(payload)).toBe(true);
  });
});

describe('directSocket', () => {
  it('relies on ws internals that still exist in the installed ws', () => {
    const ws = Object.create(WebSocket.prototype) as WebSocket & Record<string, unknown>;
    Object.defineProperty(ws, 'readyState', { value: 1 });
    const socket = { write() {} };
    Object.assign(ws, { _socket: socket, _sender: { _state: 0, _queue: [] } });
    expect(directSocket(ws)).toBe(socket);
    Object.assign(ws, { _sender: { _state: 1, _queue: [] } });
    expect(directSocket(ws)).toBeNull();
  });
});
