import type { Observable, Observer, Subscription } from 'rxjs';
import type { WebSocket } from 'ws';
import { CloseCode } from '../../protocol/close-codes.js';
import { encodeFrames, HEARTBEAT, type Delivery } from './delivery.js';
import { SharedChunks, type Initial, type InitialProgress, type InitialSource } from './initial-packets.js';
import type { Logger } from '../../shared/logger.js';
import { backpressure, type BackpressureOptions } from '../operators/backpressure.js';
import type { ClientDeflate } from './compression.js';
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
 * filter is the same; see filter-groups.ts) through its own backpressure operator, and writes each batch
 * (one text frame per packet) with one socket write. It is its own observer and its own backpressure
 * options (prototype methods, no closures per client). Everything it sets up is torn down on the socket's
 * `close`.
 *
 * Every write goes through one rule: nothing new while the socket holds more than `maxBufferedBytes`
 * unsent (and a client over it for `slowClientTimeoutMs` is closed 4429). The initial packets go first,
 * a chunk at a time when the hub asks ({@link ClientConnection.sendInitialChunk}); until they are all
 * out, live batches are held (conflated by key) by the backpressure operator. So the server holds per
 * client at most `maxBufferedBytes` plus one chunk or batch, plus the held packets (at most one per key).
 */
export class ClientConnection implements Observer<readonly Delivery[]>, BackpressureOptions<Delivery> {
  /** Heartbeat flag: set by each pong, cleared by each ping. */
  isAlive = true;
  readonly #ws: WebSocket;
  readonly #ctx: ConnectionContext;
  readonly #subscription: Subscription;
  #tokens: number;
  #refilledAt = performance.now();
  /** When its socket went over `maxBufferedBytes` (`performance.now()`), or `-1` while it is not. */
  #overLimitSince = -1;
  #closing = false;
  /** What it receives before live data, in order; empty once all is out. */
  #initial: InitialSource[];
  /** Live packets held while the initial packets go out: each one's own conflation key. */
  #heldWhileStarting = 0;
  /** Its permessage-deflate compression; `null` when it gets plain frames. */
  readonly #deflate: ClientDeflate | null;

  constructor(
    readonly id: string,
    ws: WebSocket,
    visible$: Observable<readonly Delivery[]>,
    ctx: ConnectionContext,
    initial: readonly Initial[] = [],
    deflate: ClientDeflate | null = null,
  ) {
    this.#ws = ws;
    this.#ctx = ctx;
    this.#deflate = deflate;
    this.#tokens = ctx.maxMessagesPerSecond;
    this.#initial = initial
      .filter((part) => !Array.isArray(part) || part.length > 0)
      .map((part) => (Array.isArray(part) ? new SharedChunks(part) : (part as InitialSource)));
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

  /**
   * While its snapshot or backfill is still going out, live packets are held in full, in order (each gets a
   * key of its own): the client is not behind, it is waiting for what it asked for, and a value must not be
   * lost to that wait. Past `maxHeld` the oldest of them are dropped (counted as conflated). Afterwards a
   * packet replaces the one held with the same key.
   */
  conflationKey(delivery: Delivery): string | null {
    if (this.#initial.length > 0) return `${delivery.conflationKey ?? ''}\u0001${this.#heldWhileStarting++}`;
    return delivery.conflationKey;
  }

  onConflated(): void {
    this.#ctx.counters.conflated++;
    // While the initial packets go out, nothing held is replaced: a packet is only dropped past the bound,
    // and the backfill the client is waiting for can no longer say it is complete.
    for (const source of this.#initial) source.markIncomplete?.();
  }

  onOverflow(): void {
    this.#closeSlow('held packets overflowed');
  }

  /**
   * Whether the client cannot take live packets now: its socket buffer is over the limit, its initial
   * packets are not all out yet, or its rate budget is spent.
   */
  isBlocked(): boolean {
    if (this.#isFull() || this.#initial.length > 0) return true;
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

  // Initial packets

  /** The initial source it is on, if any is left. */
  get initialSource(): InitialSource | undefined {
    return this.#initial[0];
  }

  /** How long its socket has been over `maxBufferedBytes` without a break, in milliseconds; `0` when it is not. */
  get fullForMs(): number {
    return this.#overLimitSince < 0 ? 0 : performance.now() - this.#overLimitSince;
  }

  /**
   * Writes the next chunk of its initial packets if its socket can take it (the same limit as live data;
   * the rate cap, which paces live updates, does not apply to what the client asked for at connect).
   */
  sendInitialChunk(): InitialProgress {
    if (this.#ws.readyState !== 1) return 'done';
    for (let source = this.#initial[0]; source !== undefined; source = this.#initial[0]) {
      // Work that needs no socket goes on while it is full: a cut backfill lets go of most of what it held.
      if (this.#isFull()) return source.prepare() ? 'full' : 'sent';
      const chunk = source.next();
      if (chunk === null) {
        this.#initial.shift();
        continue;
      }
      if (chunk.length > 0) this.#write(chunk);
      return 'sent';
    }
    return 'done';
  }

  /** Cuts what is left of its initial packets (see {@link InitialSource.cut}). */
  cutInitial(): void {
    this.#initial[0]?.cut();
  }

  // Lifecycle

  /**
   * The heartbeat: a WebSocket ping (answered by a pong, also from browsers) and a heartbeat packet that
   * clients can see, unless the socket is over its limit or the initial packets are still going out (the
   * client then has traffic to see already, or is not reading).
   */
  ping(): void {
    this.isAlive = false;
    this.#ws.ping();
    if (this.#ws.readyState === 1 && this.#initial.length === 0 && !this.#isFull()) this.#write(HEARTBEAT);
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
    for (const source of this.#initial.splice(0)) source.close();
    this.#subscription.unsubscribe();
    this.#ws.off('pong', onPong);
    this.#ws.off('message', onData);
    this.#ws.off('close', onClose);
    connections.delete(this.#ws);
    this.#ctx.onClosed(this, code);
  }

  /**
   * Same bytes for every client: one write of frames built once, rather than ws framing each packet per
   * client; compressed frames (built once per group, or once per packet) for a client that negotiated it.
   */
  #write(batch: readonly Delivery[]): void {
    const plain = encodeFrames(batch);
    const frames = this.#deflate === null ? plain : this.#deflate.frames(batch);
    const counters = this.#ctx.counters;
    if (writeFrames(this.#ws, frames)) {
      counters.bytesBeforeCompression += plain.length;
      counters.bytesWritten += frames.length;
      return;
    }
    this.#deflate?.outOfStep(); // ws frames these itself, uncompressed: the shared context's history is not the client's
    for (const delivery of batch) this.#ws.send(delivery.json);
  }

  /** The filter group whose shared compression context it uses; `undefined` when it has none. */
  get deflateGroup(): string | undefined {
    return this.#deflate?.groupKey;
  }

  /** Whether its socket holds more than `maxBufferedBytes` unsent; closes it 4429 once it has for `slowClientTimeoutMs`. */
  #isFull(): boolean {
    if (this.#ws.bufferedAmount > this.#ctx.maxBufferedBytes) {
      const now = performance.now();
      if (this.#overLimitSince < 0) this.#overLimitSince = now;
      else if (now - this.#overLimitSince > this.#ctx.slowClientTimeoutMs) this.#closeSlow('send buffer over limit');
      return true;
    }
    this.#overLimitSince = -1;
    return false;
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
