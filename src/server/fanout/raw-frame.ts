// The one place that knows ws internals: writing pre-built frames straight to a ws connection's socket.
import type { Socket } from 'node:net';
import type { WebSocket } from 'ws';

/** Bytes of the header of an unmasked frame with a payload of `length` bytes (RFC 6455 §5.2). */
export function frameHeaderLength(length: number): number {
  return length < 126 ? 2 : length < 65536 ? 4 : 10;
}

/**
 * Writes the header of an unmasked, final text frame at `offset`; returns the offset after it. Server
 * frames are never masked, so the same bytes are valid on every connection: the fan-out frames a batch
 * once and writes these bytes to each socket, instead of ws framing it again per client.
 */
export function writeFrameHeader(target: Buffer, offset: number, length: number): number {
  target[offset] = 0x81; // FIN + text
  if (length < 126) {
    target[offset + 1] = length;
    return offset + 2;
  }
  if (length < 65536) {
    target[offset + 1] = 126;
    target.writeUInt16BE(length, offset + 2);
    return offset + 4;
  }
  target[offset + 1] = 127;
  target.writeUInt32BE(Math.floor(length / 2 ** 32), offset + 2);
  target.writeUInt32BE(length >>> 0, offset + 6);
  return offset + 10;
}

interface WsInternals {
  _socket?: Socket;
  _sender?: { _state?: number; _queue?: unknown[] };
}

/**
 * Writes complete, pre-built frames to an open ws connection's socket and returns `true`; returns `false`
 * (writing nothing) when that would not keep ws's own ordering, and the caller must use `ws.send()`.
 * ws's sender holds nothing back unless it is compressing (this server never compresses), and
 * `ws.bufferedAmount` counts what the socket has not flushed, so backpressure still sees these bytes.
 * Relies on ws 8 internals (`_socket`, `_sender._state`, `_sender._queue`); a test on a real ws server
 * socket fails the day a ws release renames them, and package.json pins ws to the tested minor.
 */
export function writeFrames(ws: WebSocket, frames: Buffer): boolean {
  const internals = ws as unknown as WsInternals;
  const socket = internals._socket;
  const sender = internals._sender;
  if (ws.readyState !== 1 || !socket || sender?._state !== 0 || sender._queue?.length !== 0) return false;
  socket.write(frames);
  return true;
}

interface DeflateExtension {
  params?: { server_no_context_takeover?: boolean; server_max_window_bits?: number };
}

interface DeflatePeer {
  readonly noContextTakeover: boolean;
  readonly maxWindowBits: number;
}

/** One object per outcome of the negotiation, shared by the clients that negotiated it. */
const peers = new Map<string, DeflatePeer>();

/**
 * What a client's permessage-deflate negotiation allows the server to send it, or `null` when none was
 * negotiated (it gets uncompressed frames). Reads ws 8's `_extensions` (the negotiated parameters), and
 * replaces ws's copy of them, a prototype-less object that V8 keeps as a hash table for the life of the
 * connection, by a plain object with the same keys: ~0.1 KB less per idle connection.
 */
export function deflatePeerOf(ws: WebSocket): DeflatePeer | null {
  const extension = (ws as unknown as { _extensions?: Record<string, DeflateExtension> })._extensions?.['permessage-deflate'];
  if (extension?.params === undefined) return null;
  extension.params = { ...extension.params };
  const { server_no_context_takeover: noContextTakeover = false, server_max_window_bits: maxWindowBits = 15 } = extension.params;
  const key = `${noContextTakeover}:${maxWindowBits}`;
  let peer = peers.get(key);
  if (peer === undefined) peers.set(key, (peer = Object.freeze({ noContextTakeover, maxWindowBits })));
  return peer;
}
