import type { Observable, Observer, Subscription } from 'rxjs';
import type { WebSocket } from 'ws';
import { CloseCode } from '../../protocol/close-codes.js';
import { encodeFrames, HEARTBEAT, type Delivery } from './delivery.js';
import type { Logger } from '../../shared/logger.js';
import { backpressure, type BackpressureOptions } from '../operators/backpressure.js';
import { writeFrames } from './raw-frame.js';
import type { StreamCounters } from '../stats.js';

/** What every connection shares: created once per stream. */
export interface ConnectionContext {
  readonly drain$: Observable<unknown>;
  readonly counters: StreamCounters;
  readonly logger: Logger;
  readonly maxBufferedBytes: number;
  readonly slowClientTimeoutMs: number;
  readonly maxMessagesPerSecond: number;
  /** Most packets held for one client that is behind. */
  readonly maxHeldPerClient: number;
  /** Called after each socket write of a live batch (the snapshot and heartbeats are not live): the metrics' hook. */
  readonly onWritten: ((batch: readonly Delivery[]) => void) | undefined;
  /** Called once when the client's socket has closed, after the connection has torn itself down. */
  onClosed(connection: ClientConnection, code: number): void;
}

// A slow consumer is sent a close frame, then cut off this much later if it has not closed by then.
const SLOW_CLOSE_GRACE_MS = 1000;

// The socket's listeners are shared functions that find their connection here, rather than four
// closures per client: with 10,000 clients, per-client closures cost more than the sockets themselves.
const connections = new WeakMap<WebSocket, ClientConnection>();
function onPong(this: WebSocket): void {
  const connection = connections.get(this);
  if (connection) connection.isAlive = true;
}
function onData(this: WebSocket): void {
  connections.get(this)?.rejectData();
}
function onSocketError(this: WebSocket, err: Error): void {
  const connection = connections.get(this);
  connection?.logger.debug({ event: 'client_socket_error', clientId: connection.id, err }, 'client socket error');
}
function onClose(this: WebSocket, code: number): void {
  connections.get(this)?.closed(code);
}

/**
 * One WebSocket client: subscribes it to the batches of its filter group (shared with every client whose
 * filter is the same; see filter-groups.ts) through its own backpressure operator, and writes each batch (one text frame per packet) with one socket write. It is its own observer and its own
 * backpressure options (prototype methods, no closures per client). Everything it sets up is torn down
 * on the socket's `close`.
 */
export class ClientConnection implements Observer<readonly Delivery[]>, BackpressureOptions<Delivery> {
  /** Heartbeat flag: set by each pong, cleared by each ping. */
  isAlive = true;
  readonly #ws: WebSocket;
  readonly #ctx: ConnectionContext;
  readonly #subscription: Subscription;
  #tokens: number;
  #refilledAt = performance.now();
  #overLimitSince = 0;
  #closing = false;

  constructor(
    readonly id: string,
    ws: WebSocket,
    visible$: Observable<readonly Delivery[]>,
    ctx: ConnectionContext,
  ) {
    this.#ws = ws;
    this.#ctx = ctx;
    this.#tokens = ctx.maxMessagesPerSecond;
    connections.set(ws, this);
    ws.on('pong', onPong);
    ws.on('message', onData);
    ws.on('error', onSocketError);
    ws.on('close', onClose);
    this.#subscription = visible$.pipe(backpressure<Delivery>(this)).subscribe(this);
  }

  get logger(): Logger {
    return this.#ctx.logger;
  }

  // BackpressureOptions

  get drain$(): Observable<unknown> {
    return this.#ctx.drain$;
  }

  get maxHeld(): number {
    return this.#ctx.maxHeldPerClient;
  }

  conflationKey(delivery: Delivery): string | null {
    return delivery.conflationKey;
  }

  onConflated(): void {
    this.#ctx.counters.conflated++;
  }

  onOverflow(): void {
    this.#closeSlow('held packets overflowed');
  }

  /** Whether the client cannot take more now: its socket buffer is over the limit, or its rate budget is spent. */
  isBlocked(): boolean {
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

  // Observer of the client's batches

  next(batch: readonly Delivery[]): void {
    if (this.#ws.readyState !== 1) return;
    this.#tokens -= batch.length;
    this.#ctx.counters.delivered += batch.length;
    this.#write(batch);
    this.#ctx.onWritten?.(batch);
  }

  error(): void {}

  complete(): void {}

  // Lifecycle

  /** Sends packets outside the shared stream (the snapshot, a state packet on connect). */
  sendNow(batch: readonly Delivery[]): void {
    if (this.#ws.readyState === 1) this.#write(batch);
  }

  /** The heartbeat: a WebSocket ping (answered by a pong, also from browsers) and a heartbeat packet that clients can see. */
  ping(): void {
    this.isAlive = false;
    this.#ws.ping();
    if (this.#ws.readyState === 1) this.#write(HEARTBEAT);
  }

  /** Whether the server has begun to close it (slow, sent data, shutting down): the heartbeat leaves it to that close. */
  get isClosing(): boolean {
    return this.#closing;
  }

  terminate(): void {
    this.#ws.terminate();
  }

  close(code: number, reason: string): void {
    this.#closing = true;
    this.#ws.close(code, reason);
  }

  /** Clients only listen: any data frame is a protocol error. */
  rejectData(): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#ctx.logger.info({ event: 'client_sent_data', clientId: this.id }, 'client sent a data frame; closing');
    this.#ws.close(CloseCode.BadRequest, 'clients must not send data');
  }

  /** The socket has closed: tear down. */
  closed(code: number): void {
    this.#subscription.unsubscribe();
    this.#ws.off('pong', onPong);
    this.#ws.off('message', onData);
    this.#ws.off('close', onClose);
    connections.delete(this.#ws);
    this.#ctx.onClosed(this, code);
  }

  /** Same bytes for every client: one write of frames built once, rather than ws framing each packet per client. */
  #write(batch: readonly Delivery[]): void {
    if (writeFrames(this.#ws, encodeFrames(batch))) return;
    for (const delivery of batch) this.#ws.send(delivery.json);
  }

  #closeSlow(why: string): void {
    if (this.#closing) return;
    this.#closing = true;
    this.#ctx.counters.slowClientsClosed++;
    this.#ctx.logger.warn({ event: 'slow_client_closed', clientId: this.id, why }, 'closing slow client');
    this.#ws.close(CloseCode.SlowConsumer, 'slow consumer');
    // Its buffer is full, so the close frame may never get through: cut it off after a grace period.
    setTimeout(() => this.#ws.terminate(), SLOW_CLOSE_GRACE_MS).unref();
  }
}
