import { interval, share, Subject, type Subscription } from 'rxjs';
import type { WebSocket } from 'ws';
import { filterKey, type ClientFilter } from './client-filter.js';
import { FanoutCompression } from './compression.js';
import { deflatePeerOf } from './raw-frame.js';
import type { DeflateSettings } from './shared-deflate.js';
import { ClientConnection, type ConnectionContext } from './client-connection.js';
import type { Initial, InitialSource } from './initial-packets.js';
import type { Delivery } from './delivery.js';
import { createFilterGroups, type FilterGroups } from './filter-groups.js';
import type { Logger } from '../../shared/logger.js';
import type { StreamCounters } from '../stats.js';

/** How often a client that is behind is retried (one shared timer, running only while someone is behind). */
const DRAIN_INTERVAL_MS = 25;
/** Most packets held for one slow client: a dashboard's keys, with room to spare. */
const MAX_HELD_PER_CLIENT = 5000;
/** Backfills being gathered and sent at once; later ones wait, in the order their clients connected. */
export const MAX_REPLAYS = 4;
/** Longest run of initial-packet writes before the hub yields to the event loop (setImmediate). */
const SLICE_MS = 10;
/** A backfill whose socket stays full this long is cut (each key's latest only, `complete: false`) and frees its slot. */
export const REPLAY_STALL_MS = 250;
/** A backfill still going out after this long is cut too, so that a client on a slow link cannot hold a slot for long. */
export const REPLAY_MAX_MS = 10_000;

/** The stream options the hub reads (see {@link FanoutOptions}). */
export const FANOUT_OPTION_NAMES = [
  'logger',
  'maxBufferedBytes',
  'slowClientTimeoutMs',
  'maxMessagesPerSecond',
  'heartbeatIntervalMs',
  'compression',
] as const;

export interface FanoutOptions {
  readonly counters: StreamCounters;
  readonly logger: Logger;
  readonly maxBufferedBytes: number;
  readonly slowClientTimeoutMs: number;
  readonly maxMessagesPerSecond: number;
  readonly heartbeatIntervalMs: number;
  /** permessage-deflate settings; `null`: plain frames for everyone. */
  readonly compression: DeflateSettings | null;
  /** Called after each live batch is written to a client (for the delivery-lag metric). */
  readonly onWritten?: ((batch: readonly Delivery[]) => void) | undefined;
}

/**
 * The hub: every connected client, the shared batches they subscribe to, the drain ticker for clients
 * that are behind, and the heartbeat. One timer serves all clients; a client that missed the previous
 * ping is terminated.
 */
export class Fanout {
  readonly #clients = new Set<ClientConnection>();
  readonly #batches = new Subject<readonly Delivery[]>();
  readonly #ctx: ConnectionContext;
  /** Clients with the same filter share one filtered copy of the batches (and its encoded frames). */
  readonly #groups: FilterGroups;
  readonly #heartbeat: ReturnType<typeof setInterval>;
  #nextClientId = 0;
  /** Shared compression contexts per filter group; `null` when compression is off. */
  readonly #compression: FanoutCompression | null;
  /** Resolves `closeAll()` once the last client has closed. */
  #whenEmpty: (() => void) | null = null;
  /** Clients with initial packets still to send, in the order they connected. */
  readonly #starting = new Set<ClientConnection>();
  /** Clients whose backfill holds one of the {@link MAX_REPLAYS} slots: the source, and when it took the slot. */
  readonly #replays = new Map<ClientConnection, { source: InitialSource; sinceMs: number }>();
  #isPumpScheduled = false;
  /** The drain ticker, subscribed while every client still starting waits for its socket to drain. */
  #waitingForDrain: Subscription | null = null;

  constructor(o: FanoutOptions) {
    const { counters, logger } = o;
    this.#compression = o.compression && new FanoutCompression(o.compression);
    this.#groups = createFilterGroups(this.#batches);
    this.#ctx = {
      drain$: interval(DRAIN_INTERVAL_MS).pipe(share()),
      counters,
      logger,
      maxBufferedBytes: o.maxBufferedBytes,
      slowClientTimeoutMs: o.slowClientTimeoutMs,
      maxMessagesPerSecond: o.maxMessagesPerSecond,
      maxHeldPerClient: MAX_HELD_PER_CLIENT,
      onWritten: o.onWritten,
      onClosed: (client, code) => {
        this.#clients.delete(client);
        if (client.deflateGroup !== undefined) this.#compression?.leave(client.deflateGroup);
        this.#starting.delete(client);
        if (this.#replays.delete(client)) this.#schedulePump(); // its slot is free
        logger.debug({ event: 'client_disconnected', clientId: client.id, code }, 'client disconnected');
        if (this.#clients.size === 0) this.#whenEmpty?.();
      },
    };
    this.#heartbeat = setInterval(() => {
      for (const client of this.#clients) {
        if (client.isClosing) continue; // its own close ends it; counting it as dead too would count it twice
        if (client.isAlive) {
          client.ping();
        } else {
          counters.deadClientsTerminated++;
          logger.info({ event: 'dead_client_terminated', clientId: client.id }, 'no pong; terminating client');
          client.terminate();
        }
      }
    }, o.heartbeatIntervalMs);
    this.#heartbeat.unref();
  }

  /** Clients connected now. */
  get size(): number {
    return this.#clients.size;
  }

  /** Sends a batch to every client (through each one's authorize and backpressure operators). */
  broadcast(batch: readonly Delivery[]): void {
    this.#batches.next(batch);
  }

  /** Backfills in progress now (at most {@link MAX_REPLAYS}). */
  get replaysInProgress(): number {
    return this.#replays.size;
  }

  /** Clients whose initial packets are not all out yet (sending, waiting for their socket, or for a slot). */
  get starting(): number {
    return this.#starting.size;
  }

  /**
   * Serves a new WebSocket: first the `initial` packets (the snapshot or a backfill, a state packet), then
   * what `filter` lets through. Nothing is written here: the initial packets go out a chunk at a time as
   * the socket drains (see {@link Fanout.pump}), and live packets are held for the client until they are out.
   */
  accept(ws: WebSocket, filter: ClientFilter, initial: readonly Initial[]): ClientConnection {
    const visible$ = this.#groups.join(filter);
    const peer = this.#compression && deflatePeerOf(ws);
    const deflate = peer ? this.#compression!.join(filterKey(filter), visible$, peer) : null;
    const client = new ClientConnection(`c${++this.#nextClientId}`, ws, visible$, this.#ctx, initial, deflate);
    this.#clients.add(client);
    if (client.initialSource !== undefined) {
      this.#starting.add(client);
      this.#schedulePump();
    }
    this.#ctx.logger.debug({ event: 'client_connected', clientId: client.id }, 'client connected');
    return client;
  }

  /**
   * Writes the initial packets of the clients still starting, one chunk per client in turn, for at most
   * {@link SLICE_MS}; then yields (setImmediate) if some client could take more, or waits for the drain
   * ticker if every one is full or waiting for a slot. A backfill is gathered only once it has one of the
   * {@link MAX_REPLAYS} slots, which are given in the order clients connected; it keeps its slot until it
   * is out, or is cut when its socket stays full for {@link REPLAY_STALL_MS} or it has taken
   * {@link REPLAY_MAX_MS}.
   */
  pump(): void {
    const started = performance.now();
    let progressed = true;
    while (progressed && performance.now() - started < SLICE_MS) {
      progressed = false;
      for (const client of this.#starting) {
        if (this.#step(client)) progressed = true;
        if (performance.now() - started >= SLICE_MS) break;
      }
    }
    if (progressed) {
      this.#stopWaitingForDrain();
      this.#schedulePump();
    } else if (this.#starting.size > 0) {
      this.#waitingForDrain ??= this.#ctx.drain$.subscribe(() => this.#schedulePump());
    } else {
      this.#stopWaitingForDrain();
    }
  }

  /** One client's turn: whether it wrote something or changed state (so that another round may help). */
  #step(client: ClientConnection): boolean {
    const source = client.initialSource;
    const replay = this.#replays.get(client);
    if (replay !== undefined && replay.source !== source) this.#replays.delete(client); // its backfill is out
    if (source === undefined) {
      this.#starting.delete(client);
      return true;
    }
    if (!source.isStarted && replay?.source !== source) {
      if (this.#replays.size >= MAX_REPLAYS) return false; // waits for a slot
      this.#replays.set(client, { source, sinceMs: performance.now() });
    }
    const progress = client.sendInitialChunk();
    if (progress === 'done') {
      this.#starting.delete(client);
      this.#replays.delete(client);
      return true;
    }
    const held = this.#replays.get(client);
    if (held !== undefined && (client.fullForMs > REPLAY_STALL_MS || performance.now() - held.sinceMs > REPLAY_MAX_MS)) {
      client.cutInitial();
      this.#replays.delete(client);
      this.#ctx.counters.backfillsCut++;
      this.#ctx.logger.debug({ event: 'backfill_cut', clientId: client.id }, 'backfill cut: the client cannot take it all');
      return true;
    }
    return progress === 'sent';
  }

  #schedulePump(): void {
    if (this.#isPumpScheduled) return;
    this.#isPumpScheduled = true;
    setImmediate(() => {
      this.#isPumpScheduled = false;
      this.pump();
    });
  }

  #stopWaitingForDrain(): void {
    this.#waitingForDrain?.unsubscribe();
    this.#waitingForDrain = null;
  }

  /**
   * Stops the heartbeat and the shared stream, closes every client with `code`, and resolves when all
   * have closed, terminating those still open after `graceMs`.
   */
  async closeAll(code: number, reason: string, graceMs: number): Promise<void> {
    clearInterval(this.#heartbeat);
    this.#stopWaitingForDrain();
    this.#batches.complete();
    if (this.#clients.size > 0) {
      const empty = new Promise<void>((resolve) => (this.#whenEmpty = resolve));
      for (const client of this.#clients) client.close(code, reason);
      let timer: ReturnType<typeof setTimeout> | undefined;
      await Promise.race([empty, new Promise<void>((resolve) => (timer = setTimeout(resolve, graceMs)))]);
      clearTimeout(timer);
    }
    for (const client of this.#clients) client.terminate();
    this.#clients.clear();
    this.#compression?.close();
  }
}
