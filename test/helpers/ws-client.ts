import http from 'node:http';
import type { IncomingMessage } from 'node:http';
import { WebSocket, type ClientOptions } from 'ws';
import { type Envelope, type ServerPacket } from '../../src/protocol/wire.js';
import { parsePacket } from '../../src/protocol/parse-packet.js';
import { checkFrame } from './conformance.js';

/** A ws client that records every packet it receives, for tests. */
export interface TestClient {
  readonly ws: WebSocket;
  /** Every packet received so far (one per frame), in order. */
  readonly packets: ServerPacket[];
  /** Raw text frames received, in order. */
  readonly frames: string[];
  /** Resolves with the first packet (from now or already received after `fromIndex`) that matches. */
  waitFor<T extends ServerPacket = ServerPacket>(
    predicate: (p: ServerPacket) => boolean,
    timeoutMs?: number,
    fromIndex?: number,
  ): Promise<T>;
  waitForClose(timeoutMs?: number): Promise<{ code: number; reason: string }>;
  close(): Promise<void>;
}

/** ws client options, plus the subprotocols to offer. */
export type ConnectOptions = ClientOptions & { readonly protocols?: readonly string[] };

export function connect(url: string, { protocols = [], ...options }: ConnectOptions = {}): TestClient {
  const ws = new WebSocket(url, [...protocols], options);
  const packets: ServerPacket[] = [];
  const frames: string[] = [];
  const waiters = new Set<() => void>();
  let closeEvent: { code: number; reason: string } | null = null;
  ws.on('message', (data) => {
    const text = data.toString();
    checkFrame(text);
    frames.push(text);
    try {
      packets.push(parsePacket(text));
    } catch {
      // not one packet: the conformance check has recorded it
    }
    for (const wake of waiters) wake();
  });
  ws.on('close', (code, reason) => {
    closeEvent = { code, reason: reason.toString() };
    for (const wake of waiters) wake();
  });
  ws.on('error', () => {});

  const until = <T>(check: () => T | undefined, timeoutMs: number, what: string): Promise<T> =>
    new Promise((resolve, reject) => {
      const wake = (): void => {
        const value = check();
        if (value === undefined) return;
        clearTimeout(timer);
        waiters.delete(wake);
        resolve(value);
      };
      const timer = setTimeout(() => {
        waiters.delete(wake);
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; got ${JSON.stringify(packets).slice(0, 500)}`));
      }, timeoutMs);
      waiters.add(wake);
      wake();
    });

  return {
    ws,
    packets,
    frames,
    waitFor: (predicate, timeoutMs = 5000, fromIndex = 0) =>
      until(() => packets.slice(fromIndex).find(predicate) as never, timeoutMs, 'a matching packet'),
    waitForClose: (timeoutMs = 5000) => until(() => closeEvent ?? undefined, timeoutMs, 'close'),
    async close() {
      if (ws.readyState === WebSocket.CLOSED) return;
      const closed = new Promise((resolve) => ws.once('close', resolve)); // not once(): it rejects on 'error'
      if (ws.readyState === WebSocket.CONNECTING) ws.terminate();
      else ws.close();
      // A client whose socket was paused never reads the server's answer: cut it off.
      const fallback = setTimeout(() => ws.terminate(), 500);
      await closed;
      clearTimeout(fallback);
    },
  };
}

/** Opens a client and waits until it is open and its snapshot is complete. */
export async function connectOpen(url: string, options?: ConnectOptions): Promise<TestClient> {
  const client = connect(url, options);
  await client.waitFor((p) => p.type === 'snapshot_end');
  return client;
}

/** Attempts a handshake that should be refused; resolves with the HTTP status. Never opens a socket. */
export function expectRefused(
  url: string,
  { protocols = [], ...options }: ConnectOptions = {},
): Promise<{ status: number; headers: IncomingMessage['headers'] }> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, [...protocols], options);
    ws.on('open', () => {
      ws.terminate();
      reject(new Error('handshake was accepted'));
    });
    ws.on('unexpected-response', (_req, res) => {
      resolve({ status: res.statusCode ?? 0, headers: res.headers });
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err) => reject(err));
  });
}

/**
 * Sends a WebSocket upgrade request with exactly `headers` (which a ws client may refuse to send, e.g. a
 * repeated subprotocol) and resolves with the HTTP status of the answer (101 if it was accepted).
 */
export function rawUpgradeStatus(url: string, headers: Record<string, string>): Promise<number> {
  return new Promise((resolve, reject) => {
    const req = http.request(url.replace(/^ws/, 'http'), {
      headers: {
        Connection: 'Upgrade',
        Upgrade: 'websocket',
        'Sec-WebSocket-Version': '13',
        'Sec-WebSocket-Key': 'dGhlIHNhbXBsZSBub25jZQ==',
        ...headers,
      },
    });
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve(res.statusCode ?? 0);
    });
    req.on('response', (res) => {
      res.resume();
      resolve(res.statusCode ?? 0);
    });
    req.on('error', reject);
    req.end();
  });
}

/** The envelopes of a client's snapshot: what it received before `snapshot_end`. */
export function snapshotEnvelopes(client: TestClient): Envelope[] {
  const end = client.packets.findIndex((p) => p.type === 'snapshot_end');
  return client.packets.slice(0, end === -1 ? 0 : end) as Envelope[];
}

/** The packet that says Redis is unavailable (503). */
export const is503 = (p: ServerPacket): boolean => p.type === 'error' && p.data.code === 503;
/** The packet that says live data flows again (200). */
export const is200 = (p: ServerPacket): boolean => p.type === 'status' && p.data.code === 200;
