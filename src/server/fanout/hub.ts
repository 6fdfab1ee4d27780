import { interval, share, Subject } from 'rxjs';
import type { WebSocket } from 'ws';
import type { ClientFilter } from './client-filter.js';
import { ClientConnection, type ConnectionContext } from './client-connection.js';
import type { Delivery } from './delivery.js';
import { createFilterGroups, type FilterGroups } from './filter-groups.js';
import type { Logger } from '../../shared/logger.js';
import type { StreamCounters } from '../stats.js';

/** How often a client that is behind is retried (one shared timer, running only while someone is behind). */
const DRAIN_INTERVAL_MS = 25;
/** Most packets held for one slow client: a dashboard's keys, with room to spare. */
const MAX_HELD_PER_CLIENT = 5000;

export interface FanoutOptions {
  readonly counters: StreamCounters;
  readonly logger: Logger;
  readonly maxBufferedBytes: number;
  readonly slowClientTimeoutMs: number;
  readonly maxMessagesPerSecond: number;
  readonly heartbeatIntervalMs: number;
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
  /** Resolves `closeAll()` once the last client has closed. */
  #whenEmpty: (() => void) | null = null;

  constructor(o: FanoutOptions) {
    const { counters, logger } = o;
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

  /** Serves a new WebSocket: first the `initial` batches (the snapshot, a state packet), then what `filter` lets through. */
  accept(ws: WebSocket, filter: ClientFilter, initial: readonly (readonly Delivery[])[]): ClientConnection {
    const client = new ClientConnection(`c${++this.#nextClientId}`, ws, this.#groups.join(filter), this.#ctx);
    this.#clients.add(client);
    for (const batch of initial) client.sendNow(batch);
    this.#ctx.logger.debug({ event: 'client_connected', clientId: client.id }, 'client connected');
    return client;
  }

  /**
   * Stops the heartbeat and the shared stream, closes every client with `code`, and resolves when all
   * have closed, terminating those still open after `graceMs`.
   */
  async closeAll(code: number, reason: string, graceMs: number): Promise<void> {
    clearInterval(this.#heartbeat);
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
  }
}
