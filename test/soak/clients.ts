// The soak's 100 WebSocket clients: readers that reconnect like the browser client (2/5/10/30 s with
// jitter, in simplified form), one observer that is never churned, one slow reader that stops reading
// now and then, and one "zombie" that stops reading for good until it is recycled (a half-open peer the
// server's heartbeat must find). Every packet is checked: no invalid message, no duplicate or
// out-of-order live message per key, and each Redis outage is timed from the clients' side.
import { createHistogram, type RecordableHistogram } from 'node:perf_hooks';
import { WebSocket } from 'ws';
import { ResumeTracker } from '../../src/client/resume.js';
import { isTerminalCloseCode } from '../../src/protocol/close-codes.js';
import { type Envelope, type ServerPacket } from '../../src/protocol/wire.js';
import { parsePacket } from '../../src/protocol/parse-packet.js';
import { FLOOD_HOT_METRIC, FLOOD_METRIC, INVALID_SOURCE, PROBE_METRIC } from './producer.js';

export type Role = 'reader' | 'observer' | 'slow' | 'zombie';

/** The spec's reconnect schedule (2, 5, 10, 30 s), ±20 % jitter. */
const BACKOFF_MS = [2000, 5000, 10_000, 30_000] as const;
/** A client that closes cleanly but gets no answer is cut off after this. */
const CLOSE_FALLBACK_MS = 2000;

/** One Redis outage as the clients saw it. Times are `performance.now()`. */
export interface Outage {
  readonly index: number;
  /** A SIGKILL and restart of Redis, or `CLIENT KILL TYPE pubsub` of the server's subscriber alone. */
  readonly kind: 'sigkill' | 'pubsub kill';
  readonly killAt: number;
  downMs: number;
  /** When the restarted redis-server said "Ready to accept connections". */
  restartedAt: number | undefined;
  /** Connections of readers (not the slow reader, not the zombie) open when Redis was killed. */
  readonly readingAtKill: ReadonlySet<number>;
  /** Of those, the ones still open a few seconds after the restart: each must have seen 503, 200 and live data. */
  stayed: ReadonlySet<number>;
  readonly got503: Map<number, number>;
  readonly got200: Map<number, number>;
  /** First live envelope after the 200, per connection. */
  readonly firstLive: Map<number, number>;
}

export interface FleetTotals {
  connectionsOpened: number;
  /** Handshakes refused, by HTTP status. */
  readonly refused: Record<string, number>;
  /** Connection attempts that failed below HTTP (ECONNRESET...), by error code. */
  readonly connectErrors: Record<string, number>;
  frames: number;
  bytes: number;
  /** Packets received, by type (`snapshot`, `system_metric`, `error 503`, ...). */
  readonly packets: Record<string, number>;
  /** Live envelopes (snapshots not included). */
  liveEnvelopes: number;
  /** A live metric whose `seq` was not above the previous one of its key on the same connection. */
  orderViolations: number;
  orderViolationExamples: string[];
  /** Packets that carry a marker of an invalid message, or an unknown packet type. */
  invalidDelivered: number;
  /** A metric `seq` received twice on one connection (backfill and live overlapping, or a repeat). */
  wireDuplicates: number;
  /** A metric `seq` passed on twice to one client by the resume rule, across its connections. */
  duplicatesPassed: number;
  /** Envelopes the resume rule dropped as already passed on (the overlap of a `since` backfill). */
  resumeDropped: number;
  /** Closes the client did not ask for, by close code. */
  readonly dropped: Record<string, number>;
  /** Closes the soak asked for, by reason. */
  readonly closedByUs: Record<string, number>;
  /** 503 packets outside an outage, or a second one in the same outage after its 200. */
  spurious503: number;
  spurious503At: number[];
  /**
   * Publish → receive latency in µs (same process, same clock), at the clients that always read; the slow
   * reader and the zombie get their own histogram, since what they receive waited out their pause.
   */
  readonly latency: {
    readonly sentinel: RecordableHistogram;
    /** Sentinel envelopes received during a flood or in the second after it. */
    readonly sentinelInFlood: RecordableHistogram;
    readonly flood: RecordableHistogram;
    readonly probe: RecordableHistogram;
    readonly pausing: RecordableHistogram;
  };
}

export class Fleet {
  readonly clients: SoakClient[] = [];
  readonly totals: FleetTotals = {
    connectionsOpened: 0,
    refused: {},
    connectErrors: {},
    frames: 0,
    bytes: 0,
    packets: {},
    liveEnvelopes: 0,
    orderViolations: 0,
    orderViolationExamples: [],
    invalidDelivered: 0,
    wireDuplicates: 0,
    duplicatesPassed: 0,
    resumeDropped: 0,
    dropped: {},
    closedByUs: {},
    spurious503: 0,
    spurious503At: [],
    latency: {
      sentinel: createHistogram(),
      sentinelInFlood: createHistogram(),
      flood: createHistogram(),
      probe: createHistogram(),
      pausing: createHistogram(),
    },
  };
  readonly outages: Outage[] = [];
  outage: Outage | undefined;
  /** Set by the driver from a flood's start until a second after its end. */
  isFlooding = false;
  nextConnId = 0;
  /** Highest probe `seq` seen by each connection: the final check waits for one probe at every client. */
  readonly lastProbeSeq = new Map<number, number>();

  constructor(
    readonly url: string,
    readonly random: () => number,
    /** Clients reconnect with `?since=` and the resume rule of StreamManager (src/client/resume.ts). */
    readonly isResuming: boolean,
  ) {}

  /** Opens `count` clients (slot 0 observer, 1 slow, 2 zombie, the rest readers) and waits for their snapshots. */
  async start(count: number, timeoutMs: number): Promise<void> {
    for (let slot = 0; slot < count; slot++) {
      const role: Role = slot === 0 ? 'observer' : slot === 1 ? 'slow' : slot === 2 ? 'zombie' : 'reader';
      const client = new SoakClient(slot, role, this);
      this.clients.push(client);
      client.connect();
      if (slot % 10 === 9) await sleep(20);
    }
    await this.waitAllOpen(timeoutMs);
  }

  get openCount(): number {
    return this.clients.filter((c) => c.isOpen).length;
  }

  /** Resolves when every client has its snapshot, or at the deadline; returns how many are open. */
  async waitAllOpen(timeoutMs: number): Promise<number> {
    const deadline = performance.now() + timeoutMs;
    while (this.openCount < this.clients.length && performance.now() < deadline) await sleep(50);
    return this.openCount;
  }

  /** Churn: `count` random readers leave (some cleanly, some by dropping the TCP connection) and new ones join. */
  churn(count: number): void {
    const readers = this.clients.filter((c) => c.role === 'reader' && c.isOpen);
    for (let i = 0; i < count && readers.length > 0; i++) {
      const [client] = readers.splice(Math.floor(this.random() * readers.length), 1);
      const isClean = i % 5 < 3;
      void client?.leaveAndRejoin(isClean ? 'churn: closed (1000)' : 'churn: TCP dropped', isClean, 200 + this.random() * 800);
    }
  }

  /** A handshake with a wrong key: must be refused with 401 before any WebSocket opens. */
  badKeyAttempt(): Promise<number> {
    return new Promise((resolve) => {
      const ws = new WebSocket(this.url.replace(/api_key=[^&]*/, 'api_key=wrong-key'), { perMessageDeflate: false });
      const timer = setTimeout(() => ws.terminate(), 5000);
      ws.on('open', () => {
        clearTimeout(timer);
        ws.terminate();
        resolve(101);
      });
      ws.on('unexpected-response', (_req, res) => {
        clearTimeout(timer);
        res.resume();
        ws.terminate();
        resolve(res.statusCode ?? 0);
      });
      ws.on('error', () => {});
      ws.on('close', () => {
        clearTimeout(timer);
        resolve(0);
      });
    });
  }

  /** Marks the start of an outage: from now on 503/200/first live packets are attributed to it. */
  beginOutage(index: number, kind: Outage['kind'] = 'sigkill'): Outage {
    // The slow reader and the zombie pause on their own schedule, possibly in the middle of the outage.
    const reading = new Set(this.clients.filter((c) => c.isOpen && (c.role === 'reader' || c.role === 'observer')).map((c) => c.connId));
    this.outage = {
      index,
      kind,
      killAt: performance.now(),
      downMs: 0,
      restartedAt: undefined,
      readingAtKill: reading,
      stayed: new Set(),
      got503: new Map(),
      got200: new Map(),
      firstLive: new Map(),
    };
    this.outages.push(this.outage);
    return this.outage;
  }

  /** Connections open now, by id (a churned client's new connection has a new id). */
  openConnIds(): Set<number> {
    return new Set(this.clients.filter((c) => c.isOpen).map((c) => c.connId));
  }

  async closeAll(): Promise<void> {
    await Promise.all(this.clients.map((c) => c.stop()));
  }

  // Called by the clients.

  on503(connId: number): void {
    const o = this.outage;
    if (o === undefined || o.got200.has(connId) || o.got503.has(connId)) {
      this.totals.spurious503++;
      this.totals.spurious503At.push(performance.now());
      return;
    }
    o.got503.set(connId, performance.now());
  }

  on200(connId: number): void {
    const o = this.outage;
    if (o !== undefined && !o.got200.has(connId)) o.got200.set(connId, performance.now());
  }

  onLive(connId: number, envelope: Envelope): void {
    const o = this.outage;
    if (o !== undefined && o.got200.has(connId) && !o.firstLive.has(connId)) o.firstLive.set(connId, performance.now());
    if (envelope.type === 'system_metric' && envelope.data.metric_type === PROBE_METRIC) {
      const seq = envelope.data.meta?.['seq'];
      if (typeof seq === 'number') this.lastProbeSeq.set(connId, seq);
    }
  }
}

export class SoakClient {
  ws: WebSocket | null = null;
  connId = 0;
  /** Has its snapshot and is not closing. */
  isOpen = false;
  isPaused = false;
  openedAt = 0;
  pausedAt = 0;
  readonly #fleet: Fleet;
  #attempt = 0;
  #closingBecause: string | null = null;
  #timer: NodeJS.Timeout | undefined;
  #isStopped = false;
  #lastSeq = new Map<string, number>();
  /** Metric seqs received on the current connection. */
  #connSeqs = new Set<number>();
  readonly #resume: ResumeTracker;
  /** Metric seqs passed on by the resume rule, over every connection of this client. */
  readonly passedSeqs = new Set<number>();
  /** Metric seqs received, over every connection of this client (passed on or not). */
  readonly receivedSeqs = new Set<number>();
  /** When this client first had its snapshot (`performance.now()`); 0 before. */
  firstOpenAt = 0;

  constructor(
    readonly slot: number,
    readonly role: Role,
    fleet: Fleet,
  ) {
    this.#fleet = fleet;
    this.#resume = new ResumeTracker(0, fleet.isResuming, () => Date.now());
  }

  connect(): void {
    if (this.#isStopped) return;
    const f = this.#fleet;
    const t = f.totals;
    const ws = new WebSocket(this.#resume.url(f.url), { perMessageDeflate: false });
    const connId = ++f.nextConnId;
    this.ws = ws;
    this.connId = connId;
    this.#lastSeq = new Map();
    this.#connSeqs = new Set();
    this.#closingBecause = null;
    let hasOpened = false;

    ws.on('unexpected-response', (_req, res) => {
      const status = String(res.statusCode ?? 0);
      t.refused[status] = (t.refused[status] ?? 0) + 1;
      res.resume();
      ws.terminate();
    });
    ws.on('error', (err: Error & { code?: string }) => {
      if (hasOpened) return;
      const code = err.code ?? err.message.slice(0, 40);
      if (!err.message.includes('Unexpected server response')) t.connectErrors[code] = (t.connectErrors[code] ?? 0) + 1;
    });
    ws.on('open', () => {
      hasOpened = true;
      t.connectionsOpened++;
    });
    ws.on('message', (raw) => {
      const data = raw as Buffer; // binaryType is 'nodebuffer'
      t.frames++;
      t.bytes += data.length;
      let packet: ServerPacket;
      try {
        packet = parsePacket(data.toString());
      } catch {
        t.invalidDelivered++;
        return;
      }
      this.#onPacket(packet, connId);
    });
    ws.on('close', (code: number) => {
      if (this.ws !== ws) return;
      this.ws = null;
      this.isOpen = false;
      this.isPaused = false;
      const reason = this.#closingBecause;
      if (reason !== null) {
        t.closedByUs[reason] = (t.closedByUs[reason] ?? 0) + 1;
        return; // whoever closed it decides what comes next
      }
      if (hasOpened) {
        t.dropped[String(code)] = (t.dropped[String(code)] ?? 0) + 1;
        if (isTerminalCloseCode(code)) return; // as the real client: never retried
      }
      this.#scheduleReconnect();
    });
  }

  /** Stops reading for `ms` (the socket is paused: the server's writes pile up in its buffers). */
  pauseFor(ms: number): void {
    if (!this.ws || !this.isOpen) return;
    this.pause();
    const ws = this.ws;
    setTimeout(() => {
      if (this.ws === ws) this.resume();
    }, ms);
  }

  pause(): void {
    if (!this.ws || this.isPaused) return;
    this.ws.pause();
    this.isPaused = true;
    this.pausedAt = performance.now();
  }

  resume(): void {
    if (!this.ws || !this.isPaused) return;
    this.ws.resume();
    this.isPaused = false;
  }

  /** Closes (cleanly or by dropping TCP) and connects again as a new client after `rejoinMs`. */
  async leaveAndRejoin(reason: string, isClean: boolean, rejoinMs: number): Promise<void> {
    await this.#closeOwn(reason, isClean);
    this.#attempt = 0;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.connect(), rejoinMs);
  }

  async stop(): Promise<void> {
    this.#isStopped = true;
    clearTimeout(this.#timer);
    await this.#closeOwn('end of soak', true);
  }

  async #closeOwn(reason: string, isClean: boolean): Promise<void> {
    const ws = this.ws;
    if (!ws) return;
    this.#closingBecause = reason;
    this.isOpen = false;
    const closed = new Promise<void>((resolve) => ws.once('close', () => resolve()));
    if (isClean && ws.readyState === WebSocket.OPEN && !this.isPaused) {
      ws.close(1000, 'bye');
      const fallback = setTimeout(() => ws.terminate(), CLOSE_FALLBACK_MS);
      await closed;
      clearTimeout(fallback);
    } else {
      ws.terminate();
      await closed;
    }
  }

  #scheduleReconnect(): void {
    if (this.#isStopped) return;
    const base = BACKOFF_MS[Math.min(this.#attempt, BACKOFF_MS.length - 1)] as number;
    this.#attempt++;
    clearTimeout(this.#timer);
    this.#timer = setTimeout(() => this.connect(), base * (0.8 + 0.4 * this.#fleet.random()));
  }

  #onPacket(packet: ServerPacket, connId: number): void {
    const f = this.#fleet;
    const t = f.totals;
    const count = (name: string): void => void (t.packets[name] = (t.packets[name] ?? 0) + 1);
    switch (packet.type) {
      case 'snapshot_end':
        count('snapshot');
        if (!this.isOpen && this.#closingBecause === null) {
          this.isOpen = true;
          this.openedAt = performance.now();
          if (this.firstOpenAt === 0) this.firstOpenAt = this.openedAt;
          this.#attempt = 0;
        }
        return;
      case 'error':
        count(`error ${packet.data.code}`);
        if (packet.data.code === 503) f.on503(connId);
        return;
      case 'status':
        count(`status ${packet.data.code}`);
        if (packet.data.code === 200) f.on200(connId);
        return;
      case 'heartbeat':
        count('heartbeat');
        return;
      case 'source_status':
        // A source that went silent (the flood's sources between floods) and came back.
        count(`source_status ${packet.data.status}`);
        return;
      case 'system_metric':
      case 'container_status':
      case 'alert':
        this.#track(packet);
        if (!this.isOpen) {
          // Before snapshot_end: one of the snapshot's envelopes, not live.
          if (isMarkedInvalid(packet)) t.invalidDelivered++;
          return;
        }
        count(packet.type);
        t.liveEnvelopes++;
        if (isMarkedInvalid(packet)) t.invalidDelivered++;
        if (packet.type === 'system_metric') this.#checkMetric(packet.data);
        f.onLive(connId, packet);
        return;
      default:
        count('unknown');
        t.invalidDelivered++;
    }
  }

  /** Wire duplicates per connection, and what the resume rule passes on across connections. */
  #track(envelope: Envelope): void {
    const t = this.#fleet.totals;
    const seq = envelope.type === 'system_metric' ? envelope.data.meta?.['seq'] : undefined;
    if (typeof seq === 'number') {
      this.receivedSeqs.add(seq);
      if (this.#connSeqs.has(seq)) t.wireDuplicates++;
      this.#connSeqs.add(seq);
    }
    if (!this.#resume.accept(envelope)) {
      t.resumeDropped++;
      return;
    }
    if (typeof seq !== 'number') return;
    if (this.passedSeqs.has(seq)) t.duplicatesPassed++;
    this.passedSeqs.add(seq);
  }

  #checkMetric(data: Extract<Envelope, { type: 'system_metric' }>['data']): void {
    const t = this.#fleet.totals;
    const seq = data.meta?.['seq'];
    const sent = data.meta?.['sent'];
    if (typeof seq !== 'number' || typeof sent !== 'number') return;
    const key = `${data.metric_type}:${data.source}`;
    const last = this.#lastSeq.get(key);
    if (last !== undefined && seq <= last) {
      t.orderViolations++;
      if (t.orderViolationExamples.length < 5) t.orderViolationExamples.push(`${key} seq ${seq} after ${last} (conn ${this.connId})`);
    }
    this.#lastSeq.set(key, seq);
    const micros = Math.max(1, Math.round((performance.now() - sent) * 1000));
    const h =
      this.role === 'slow' || this.role === 'zombie'
        ? t.latency.pausing
        : data.metric_type === PROBE_METRIC
          ? t.latency.probe
          : data.metric_type === FLOOD_METRIC || data.metric_type === FLOOD_HOT_METRIC
            ? t.latency.flood
            : this.#fleet.isFlooding
              ? t.latency.sentinelInFlood
              : t.latency.sentinel;
    h.record(micros);
  }
}

function isMarkedInvalid(envelope: Envelope): boolean {
  return 'source' in envelope.data && envelope.data.source === INVALID_SOURCE;
}

export function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}
