import type { Observable, Subscription } from 'rxjs';
import type { Delivery } from './delivery.js';
import {
  framesFor,
  FreshDeflater,
  SharedDeflater,
  type CompressedBatch,
  type DeflateCursor,
  type DeflatePeer,
  type DeflateSettings,
} from './shared-deflate.js';

/** One filter group's shared context, alive while a client of the group compresses. */
interface GroupDeflate {
  readonly deflater: SharedDeflater;
  /** Each batch the group emitted, compressed once against the shared context. */
  readonly compressed: WeakMap<readonly Delivery[], CompressedBatch>;
  clients: number;
  readonly subscription: Subscription;
}

/**
 * The hub's compression: one shared context per filter group that has compressing clients, fed by one
 * subscription to the group's batches (so every batch the group emits is compressed once, in order, before
 * its clients write it), and the frames of everything else (snapshot and backfill chunks, held batches,
 * heartbeats) compressed from an empty context, cached per batch, so that content shared by many clients
 * (the snapshot's chunks) is compressed once.
 */
export class FanoutCompression {
  readonly settings: DeflateSettings;
  readonly #groups = new Map<string, GroupDeflate>();
  /** One context for every batch compressed from an empty context. */
  readonly #fresh: FreshDeflater;
  readonly #freshBatches = [new WeakMap<readonly Delivery[], Buffer>(), new WeakMap<readonly Delivery[], Buffer>()];

  constructor(settings: DeflateSettings) {
    this.settings = settings;
    this.#fresh = new FreshDeflater(settings);
  }

  /**
   * The compression of a client whose negotiation allows `peer`, in the group `key` whose batches are
   * `batches$`; `null` when the client's window is smaller than the shared contexts' (it gets plain frames).
   * Call before the client subscribes to `batches$`, so that the group's context sees each batch first.
   */
  join(key: string, batches$: Observable<readonly Delivery[]>, peer: DeflatePeer): ClientDeflate | null {
    if (peer.maxWindowBits < this.settings.windowBits) return null;
    let group = this.#groups.get(key);
    if (group === undefined) {
      const deflater = new SharedDeflater(this.settings, this.#fresh);
      const compressed = new WeakMap<readonly Delivery[], CompressedBatch>();
      const subscription = batches$.subscribe((batch) => {
        if (batch.length > 0) compressed.set(batch, deflater.compress(batch.map((d) => Buffer.from(d.json))));
      });
      group = { deflater, compressed, clients: 0, subscription };
      this.#groups.set(key, group);
    }
    group.clients++;
    return new ClientDeflate(this, key, group, peer);
  }

  /** A client of the group `key` left: the group's context goes with its last compressing client. */
  leave(key: string): void {
    const group = this.#groups.get(key);
    if (group === undefined || --group.clients > 0) return;
    group.subscription.unsubscribe();
    group.deflater.close();
    this.#groups.delete(key);
  }

  /** Frees the native contexts; call once no client is left. */
  close(): void {
    for (const group of this.#groups.values()) {
      group.subscription.unsubscribe();
      group.deflater.close();
    }
    this.#groups.clear();
    this.#fresh.close();
  }

  /** Groups with a shared context now. */
  get groups(): number {
    return this.#groups.size;
  }

  /**
   * `batch` as frames compressed from an empty context (decodable whatever the client's window holds): as
   * one stream, or `eachAlone` for a client that asked for server_no_context_takeover. Built once per batch.
   */
  fresh(batch: readonly Delivery[], eachAlone: boolean): Buffer {
    const cache = this.#freshBatches[eachAlone ? 1 : 0]!;
    let frames = cache.get(batch);
    if (frames === undefined) {
      frames = this.#fresh.compress(
        batch.map((delivery) => Buffer.from(delivery.json)),
        eachAlone,
      );
      cache.set(batch, frames);
    }
    return frames;
  }
}

/** One client's compression, and its own cursor: where it stands against its group's shared context. */
export class ClientDeflate implements DeflateCursor {
  epoch = -1;
  next = 0;

  constructor(
    private readonly compression: FanoutCompression,
    readonly groupKey: string,
    private readonly group: GroupDeflate,
    private readonly peer: DeflatePeer,
  ) {}

  /**
   * The frames of `batch` for this client: its group's shared frames while it is in step, else the batch
   * compressed from an empty context (which also puts it out of step until the next reset: its window now
   * holds other bytes than the group's).
   */
  frames(batch: readonly Delivery[]): Buffer {
    const shared = this.group.compressed.get(batch);
    const frames = shared && framesFor(shared, this.peer, this, this.compression.settings.windowBits);
    if (frames) return frames;
    this.epoch = -1;
    return this.compression.fresh(batch, this.peer.noContextTakeover);
  }

  /** The frames it was given did not reach its socket as they were (ws wrote them itself): wait for a reset. */
  outOfStep(): void {
    this.epoch = -1;
  }
}
