import { EventEmitter } from 'node:events';
import type { WebSocket } from 'ws';
import { vi } from 'vitest';

/**
 * Enough of a server-side ws `WebSocket` for the hub and a client connection, with no network: it records
 * each packet sent (it has no `_socket`, so the fan-out falls back to `send()`, one call per packet), pings,
 * closes and terminations, and lets the test set `bufferedAmount` (a socket that is full, or drains).
 * `close()` and `terminate()` only record; `closedByPeer()` emits `close` as the socket would.
 */
export class FakeWs extends EventEmitter {
  readyState = 1;
  bufferedAmount = 0;
  /** Every packet sent, in order, as JSON text. */
  readonly sent: string[] = [];
  pings = 0;
  closedWith: { code: number; reason: string } | null = null;
  terminated = false;
  /** Bytes added to `bufferedAmount` by each packet sent (0: everything is flushed at once). */
  bytesKeptPerPacket = 0;

  send(json: string): void {
    this.sent.push(json);
    this.bufferedAmount += this.bytesKeptPerPacket;
  }

  ping(): void {
    this.pings++;
  }

  close(code: number, reason: string): void {
    this.closedWith ??= { code, reason };
    this.readyState = 2;
  }

  terminate(): void {
    this.terminated = true;
    this.closedByPeer(1006);
  }

  /** The socket has closed: emits `close` once, as ws does. */
  closedByPeer(code = 1000): void {
    if (this.readyState === 3) return;
    this.readyState = 3;
    this.emit('close', code, Buffer.alloc(0));
  }

  /** The packets sent, parsed. */
  packets(): { type: string; data?: unknown }[] {
    return this.sent.map((json) => JSON.parse(json) as { type: string; data?: unknown });
  }

  asWs(): WebSocket {
    return this as unknown as WebSocket;
  }
}

/**
 * Fake timers for the fan-out: intervals, timeouts, setImmediate and `performance.now()` move only when the
 * test advances them. Call `vi.useRealTimers()` after each test.
 */
export function useFanoutFakeTimers(): void {
  vi.useFakeTimers({
    toFake: ['setTimeout', 'clearTimeout', 'setInterval', 'clearInterval', 'setImmediate', 'clearImmediate', 'performance', 'Date'],
  });
}
