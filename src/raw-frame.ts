import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/**
 * An unmasked, final WebSocket text frame (RFC 6455 §5.2) around `payload`. Server frames are never
 * masked, so the same bytes are valid on every connection: the fan-out frames a batch once and writes
 * these bytes to each socket, instead of ws framing it again per client.
 */
export function encodeTextFrame(payload: Buffer): Buffer {
  const length = payload.length;
  let header: Buffer;
  if (length < 126) {
    header = Buffer.from([0x81, length]);
  } else if (length < 65536) {
    header = Buffer.allocUnsafe(4);
    header[0] = 0x81;
    header[1] = 126;
    header.writeUInt16BE(length, 2);
  } else {
    header = Buffer.allocUnsafe(10);
    header[0] = 0x81;
    header[1] = 127;
    header.writeUInt32BE(Math.floor(length / 2 ** 32), 2);
    header.writeUInt32BE(length >>> 0, 6);
  }
  return Buffer.concat([header, payload], header.length + length);
}

interface WsInternals {
  _socket?: Socket;
  _sender?: { _state?: number; _queue?: unknown[] };
}

/**
 * The socket under an open ws connection, when writing a pre-built frame to it directly keeps ws's
 * own ordering: ws's sender holds nothing back (it queues only while compressing, and this server never
 * compresses). `null` means: use `ws.send()`. Relies on ws 8 internals (`_socket`, `_sender`), which the
 * exact ws pin in package.json and a unit test keep honest.
 */
export function directSocket(ws: WebSocket): Socket | null {
  const internals = ws as unknown as WsInternals;
  const sender = internals._sender;
  if (ws.readyState !== 1 || !internals._socket || sender?._state !== 0 || sender._queue?.length !== 0) return null;
  return internals._socket;
}
