import type { Observable } from 'rxjs';
import type { WebSocket } from 'ws';
import { CloseCode } from './close-codes.js';
import { encodeBatch, encodeBatchFrame, type Delivery } from './delivery.js';
import type { Logger } from './logger.js';
import { authorize } from './operators/authorize.js';
import { backpressure } from './operators/backpressure.js';
import type { EnvelopeType } from './protocol.js';
import { directSocket } from './raw-frame.js';
import type { StreamCounters } from './stats.js';

/** What every connection shares: created once per stream. */
export interface ConnectionContext {
  readonly batches$: Observable<readonly Delivery[]>;
  readonly drain$: Observable<unknown>;
  readonly counters: StreamCounters;
  readonly logger: Logger;
  readonly maxBufferedBytes: number;
  readonly slowClientTimeoutMs: number;
  readonly maxMessagesPerSecond: number;
  /** Most packets held for one client that is behind. */
  readonly maxHeldPerClient: number;
}

// A slow consumer is sent a close frame, then cut off this much later if it has not closed by then.
const SLOW_CLOSE_GRACE_MS = 1000;

const ENVELOPE_TYPES = new Set<string>(['system_metric', 'container_status', 'alert']);
/** Frames are UTF-8 JSON: sent as text even though they are handed to ws as Buffers. */
const TEXT = { binary: false } as const;

/**
 * One WebSocket client: subscribes it to the shared batches through its own authorize and
 * backpressure operators, and writes each batch as one text frame. Everything it sets up is torn
 * down on the socket's `close`.
 */
export class ClientConnection {
  /** Heartbeat flag: set by each pong, cleared by each ping. */
  isAlive = true;
  readonly #ws: WebSocket;
  readonly #ctx: ConnectionContext;
  #tokens: number;
  #refilledAt = performance.now();
  #overLimitSince = 0;
  #closing = false;

  constructor(
    readonly id: string,
    ws: WebSocket,
    types: ReadonlySet<EnvelopeType> | null,
    ctx: ConnectionContext,
  ) {
    this.#ws = ws;
    this.#ctx = ctx;
    this.#tokens = ctx.maxMessagesPerSecond;

    const canSee = (d: Delivery): boolean => !ENVELOPE_TYPES.has(d.type) || (types as ReadonlySet<string>).has(d.type);
    const visible$ = types === null ? ctx.batches$ : ctx.batches$.pipe(authorize(canSee));
    const subscription = visible$
      .pipe(
        backpressure<Delivery>({
          isBlocked: () => this.#isBlocked(),
          drain$: ctx.drain$,
          conflationKey: (d) => d.conflationKey,
          maxHeld: ctx.maxHeldPerClient,
          onConflated: () => ctx.counters.conflated++,
          onOverflow: () => this.#closeSlow('held packets overflowed'),
        }),
      )
      .subscribe((batch) => this.#write(batch));

    ws.on('pong', () => {
      this.isAlive = true;
    });
    ws.on('message', () => {
      // Clients only listen: any data frame is a protocol error.
      if (this.#closing) return;
      this.#closing = true;
      ctx.logger.debug({ clientId: id }, 'client sent a data frame; closing');
      ws.close(CloseCode.BadRequest, 'clients must not send data');
    });
    ws.on('error', (err) => ctx.logger.debug({ clientId: id, err }, 'client socket error'));
    ws.once('close', () => subscription.unsubscribe());
  }

  /** Sends a frame outside the shared stream (the snapshot, a state packet on connect). */
  sendNow(frame: string): void {
    this.#ws.send(frame);
  }

  ping(): void {
    this.isAlive = false;
    this.#ws.ping();
  }

  terminate(): void {
    this.#ws.terminate();
  }

  close(code: number, reason: string): void {
    this.#closing = true;
    this.#ws.close(code, reason);
  }

  #write(batch: readonly Delivery[]): void {
    if (this.#ws.readyState !== 1) return;
    this.#tokens -= batch.length;
    this.#ctx.counters.delivered += batch.length;
    // Same bytes for every client: one write of a frame built once, rather than ws framing it per client.
    const socket = directSocket(this.#ws);
    if (socket) socket.write(encodeBatchFrame(batch));
    else this.#ws.send(encodeBatch(batch), TEXT);
  }

  #isBlocked(): boolean {
    if (this.#ws.bufferedAmount > this.#ctx.maxBufferedBytes) {
      const now = performance.now();
      if (this.#overLimitSince === 0) this.#overLimitSince = now;
      else if (now - this.#overLimitSince > this.#ctx.slowClientTimeoutMs) this.#closeSlow('send buffer over limit');
      return true;
    }
    this.#overLimitSince = 0;
    if (this.#tokens >= 1) return false;
    // Refill the token bucket lazily: no timer per client.
    const now = performance.now();
    const rate = this.#ctx.maxMessagesPerSecond;
    this.#tokens = Math.min(rate, this.#tokens + ((now - this.#refilledAt) * rate) / 1000);
    this.#refilledAt = now;
    return this.#tokens < 1;
  }

  #closeSlow(why: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#ctx.counters.slowClientsClosed++;
    this.#ctx.logger.warn({ clientId: this.id, why }, 'closing slow client');
    this.#ws.close(CloseCode.SlowConsumer, 'slow consumer');
    // Its buffer is full, so the close frame may never get through: cut it off after a grace period.
    setTimeout(() => this.#ws.terminate(), SLOW_CLOSE_GRACE_MS).unref();
  }
}
