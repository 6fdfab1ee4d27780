// Prints the soak's summary as markdown (for the README's reliability section) and decides the exit code.
import type { RecordableHistogram } from 'node:perf_hooks';
import type { Fleet, Outage } from './clients.js';
import type { ServerSample } from './ipc.js';
import { FLOOD_PER_S, type Producer, type PublishKind } from './producer.js';

/** What the soak counts of the history: acknowledged sentinel metrics that a reading client never got. */
export interface HistoryResult {
  readonly isStreamOn: boolean;
  readonly isAofOn: boolean;
  /** Sentinel metric envelopes in batches Redis acknowledged. */
  readonly ackedMetrics: number;
  /** Of those, acknowledged with 0 subscribers: the stream's subscriber was reconnecting. */
  readonly ackedUnsubscribed: number;
  /** The observer (never churned): what Redis restarts could lose. */
  readonly observer: HistoryTally;
  /** The readers (churned, rejoining with `since`): what Redis restarts and client churn could lose. */
  readonly readers: HistoryTally;
}

export interface HistoryTally {
  /** (client, envelope) pairs expected. */
  readonly expected: number;
  readonly lost: number;
  /** Lost ones that Redis acknowledged with 0 subscribers. */
  readonly lostUnsubscribed: number;
  readonly examples: readonly string[];
}

export interface SoakResult {
  readonly minutes: number;
  readonly seed: number;
  readonly plannedS: number;
  readonly loadMs: number;
  readonly elapsedS: number;
  readonly aborted: boolean;
  readonly restartFailure: string | undefined;
  readonly serverExit: { code: number | null; signal: string | null } | undefined;
  readonly connectMs: number;
  readonly clients: number;
  readonly producer: Producer;
  readonly fleet: Fleet;
  readonly baseline: ServerSample | undefined;
  readonly marks: Partial<Record<'start' | 'middle' | 'end', ServerSample>>;
  readonly samples: readonly { readonly atS: number; readonly sample: ServerSample }[];
  readonly badKeyStatuses: Readonly<Record<string, number>>;
  readonly zombieRecycles: number;
  readonly openAtEnd: number;
  readonly finalProbe: { readonly reached: number; readonly open: number };
  readonly afterLoad: {
    readonly clientsOpen: number;
    readonly serverClients: number | undefined;
    readonly serverSockets: number | undefined;
  };
  readonly drained: ServerSample | undefined;
  readonly closedSample: ServerSample | undefined;
  readonly exitedByItself: boolean;
  readonly driverLoopMaxMs: number;
  readonly driverLoopP99Ms: number;
  /** CPU time of the driver during the load, in µs. */
  readonly driverCpuMicros: number;
  readonly recoveryLimitMs: number;
  readonly redisVersion: string;
  readonly history: HistoryResult;
}

interface Check {
  readonly ok: boolean;
  /** A failed `warn` check is reported but does not fail the run. */
  readonly severity: 'fail' | 'warn';
  readonly text: string;
}

const KIND_LABELS: Record<PublishKind, string> = {
  sentinel: 'sentinel batches (1/s)',
  flood: `flood (${FLOOD_PER_S.toLocaleString('en-US')} msg/s, 5 s/min)`,
  invalid: 'invalid (1/s, 8 kinds)',
  probe: 'recovery probes',
};

/** Prints the report to stdout; returns the exit code. */
export function printReport(r: SoakResult): number {
  const out: string[] = [];
  const line = (s = ''): void => void out.push(s);
  const { producer: p, fleet: f } = r;
  const t = f.totals;
  const final = r.marks.end ?? r.samples.at(-1)?.sample;
  const stats = final?.stats;
  const kinds = Object.keys(p.tallies) as PublishKind[];
  const sum = (pick: (k: PublishKind) => number): number => kinds.reduce((acc, k) => acc + pick(k), 0);
  const subscribedMessages = sum((k) => p.tallies[k].subscribed);
  const recoverable = sum((k) => p.tallies[k].recoverable);
  const expectedValid = sum((k) => p.tallies[k].validEnvelopes);
  const expectedInvalid = sum((k) => p.tallies[k].invalidItems);
  // The counters of the last sample under load; the drained sample after closing holds the final totals.
  const totals = r.drained?.stats ?? stats;

  const h = r.history;
  line(
    `### Soak: ${fmtDuration(r.loadMs)}, ${r.clients} clients, default options${h.isStreamOn ? ' + Redis-backed history' : ''}${r.aborted ? ' (ABORTED early)' : ''}`,
  );
  line();
  line(
    `Node ${process.version}, redis-server ${r.redisVersion}${h.isAofOn ? ' (AOF, appendfsync everysec)' : ' (no AOF)'}, seed ${r.seed}. Server in its own process (library defaults, ` +
      `\`apiKeys\`${h.isStreamOn ? ' and `historyStream: true`' : ' only'}); driver process: producer${h.isStreamOn ? ' (sentinel batches, floods and probes through the history script; invalid messages as plain PUBLISH)' : ''} ` +
      `and clients (which rejoin with \`?since=\` and the client's resume rule); private redis-server on 127.0.0.1.`,
  );
  line(
    `Load: sentinel batch of 13 envelopes every 1 s (cpu, memory, load, 3 disks, net rx/tx, 5 containers; plus an alert on a cpu crossing), ` +
      `a 2,000 msg/s flood on 21 keys for 5 s every minute, 1 invalid message/s (8 kinds), Redis SIGKILL every 60 s ` +
      `(down 0.5–3 s, restarted on the same port) and \`CLIENT KILL TYPE pubsub\` of the server's subscriber 20 s later, ` +
      `right before a sentinel batch, 5 clients churned every 10 s (3 clean closes, 2 dropped TCP; they rejoin with \`since\`), ` +
      `1 slow reader pausing 25 s every minute, 1 half-open "zombie" that stops reading (recycled after 75 s), ` +
      `1 wrong-key handshake every 10 s.`,
  );
  line();

  line('#### Messages');
  line();
  line(
    '| | Redis messages | reached the server live | PUBLISH saw no subscriber | of those, in the history stream | PUBLISH failed (Redis down) | valid envelopes for the server | invalid items for it |',
  );
  line('|---|---:|---:|---:|---:|---:|---:|---:|');
  for (const k of kinds) {
    const x = p.tallies[k];
    line(
      `| published: ${KIND_LABELS[k]} | ${n(x.attempted)} | ${n(x.subscribed)} | ${n(x.noSubscriber)} | ${n(x.recoverable)} | ${n(x.failed)} | ${n(x.validEnvelopes)} | ${n(x.invalidItems)} |`,
    );
  }
  line(
    `| **total** | ${n(sum((k) => p.tallies[k].attempted))} | ${n(subscribedMessages)} | ${n(sum((k) => p.tallies[k].noSubscriber))} | ` +
      `${n(recoverable)} | ${n(sum((k) => p.tallies[k].failed))} | ${n(expectedValid)} | ${n(expectedInvalid)} |`,
  );
  line();
  line('| server counter (`stream.stats()`) | value | expected from the producer |');
  line('|---|---:|---:|');
  if (totals) {
    line(
      `| received live + recovered from the history stream (Redis messages) | ${n(totals.received)} + ${n(totals.recovered)} | ` +
        `${n(subscribedMessages + recoverable)} ${mark(totals.received + totals.recovered === subscribedMessages + recoverable)} |`,
    );
    line(`| valid envelopes | ${n(totals.valid)} | ${n(expectedValid)} ${mark(totals.valid === expectedValid)} |`);
    line(
      `| invalid (messages or batch members) | ${n(totals.invalid)} | ${n(expectedInvalid)} ${mark(totals.invalid === expectedInvalid)} |`,
    );
    line(`| throttled (replaced within a throttle window) | ${n(totals.throttled)} | |`);
    line(`| conflated (for a client that was behind) | ${n(totals.conflated)} | |`);
    line(`| delivered (packets written, per client) | ${n(totals.delivered)} | |`);
    line(
      `| handshakes rejected | ${n(totals.rejected)} | ${n(sumValues(r.badKeyStatuses))} wrong-key attempts + ${n(sumValues(t.refused))} refused reconnects |`,
    );
  }
  line();
  line(
    `Clients received ${n(t.liveEnvelopes)} live envelopes in ${n(t.frames)} frames (${mb(t.bytes)}), plus ` +
      `${n(t.packets['snapshot'] ?? 0)} snapshots, ${n(t.packets['error 503'] ?? 0)} \`503\` and ${n(t.packets['status 200'] ?? 0)} \`200\` packets. ` +
      `By type: ${Object.entries(t.packets)
        .filter(([k]) => !['snapshot', 'error 503', 'status 200'].includes(k))
        .map(([k, v]) => `${k} ${n(v)}`)
        .join(', ')}. ` +
      `Invalid messages delivered: **${t.invalidDelivered}**. Duplicate or out-of-order live metrics (per key, per connection): **${t.orderViolations}**` +
      `${t.orderViolationExamples.length ? ` (e.g. ${t.orderViolationExamples.join('; ')})` : ''}.`,
  );
  line();
  line('#### History: lost and duplicated');
  line();
  line(
    `Sentinel metric envelopes in batches Redis acknowledged: ${n(h.ackedMetrics)}, of which ${n(h.ackedUnsubscribed)} while the stream's ` +
      `subscriber was reconnecting (PUBLISH reached no one${h.isStreamOn ? '; the server read them back from the history stream' : '; lost to Pub/Sub'}). ` +
      `The server counted ${n(totals?.recovered ?? 0)} messages recovered from the stream.`,
  );
  line();
  line('| | (client, envelope) pairs expected | lost | of those, published while the subscriber reconnected |');
  line('|---|---:|---:|---:|');
  line(
    `| observer (never churned): messages lost to subscriber reconnects | ${n(h.observer.expected)} | **${n(h.observer.lost)}** | ${n(h.observer.lostUnsubscribed)} |`,
  );
  line(
    `| readers (churned, rejoin with \`since\`): lost to Redis restarts and client churn | ${n(h.readers.expected)} | **${n(h.readers.lost)}** | ${n(h.readers.lostUnsubscribed)} |`,
  );
  if (h.observer.examples.length + h.readers.examples.length > 0)
    line(`\nLost, e.g.: ${[...h.observer.examples, ...h.readers.examples].join('; ')}.`);
  line();
  line(
    `Duplicates: **${n(t.duplicatesPassed)}** metric envelopes passed on twice to one client across its reconnects (after the resume rule), ` +
      `**${n(t.wireDuplicates)}** received twice on one connection (a backfill overlapping live). The resume rule dropped ${n(t.resumeDropped)} ` +
      `envelopes that a \`since\` backfill or a snapshot repeated.`,
  );
  line();
  line('| publish → client latency (all clients, same clock) | count | p50 | p99 | max |');
  line('|---|---:|---:|---:|---:|');
  latencyRow(line, 'sentinel envelopes, outside floods (never throttled at 1/s)', t.latency.sentinel);
  latencyRow(line, 'sentinel envelopes, during a flood or 1 s after', t.latency.sentinelInFlood);
  latencyRow(line, 'flood envelopes (includes the throttle window)', t.latency.flood);
  latencyRow(line, 'recovery probes', t.latency.probe);
  latencyRow(line, 'anything, at the slow reader and the zombie (waited out their pauses)', t.latency.pausing);
  line();

  line('#### Clients');
  line();
  line(
    `${r.clients} clients connected in ${Math.round(r.connectMs)} ms. ${n(t.connectionsOpened)} connections opened in all. ` +
      `Wrong-key handshakes: ${fmtRecord(r.badKeyStatuses, 'HTTP ')}. ` +
      `Reconnects refused: ${fmtRecord(t.refused, 'HTTP ') || 'none'}. Connect errors: ${fmtRecord(t.connectErrors) || 'none'}.`,
  );
  line();
  line('| closes | count |');
  line('|---|---:|');
  for (const [code, count] of Object.entries(t.dropped))
    line(`| dropped by the server, close code ${code}${closeMeaning(code)} | ${count} |`);
  if (Object.keys(t.dropped).length === 0) line('| dropped by the server (any code) | 0 |');
  for (const [reason, count] of Object.entries(t.closedByUs)) line(`| closed by the soak: ${reason} | ${count} |`);
  if (totals) {
    line(`| server: slow clients closed (4429, counted by the server) | ${totals.slowClientsClosed} |`);
    line(`| server: heartbeat terminations (no pong, counted by the server) | ${totals.deadClientsTerminated} |`);
  }
  line();
  line(
    `After the load: ${r.openAtEnd}/${r.clients} clients open; the server counted ${r.afterLoad.serverClients ?? '?'} clients and ` +
      `${r.afterLoad.serverSockets ?? '?'} TCP sockets; a final probe reached ${r.finalProbe.reached}/${r.finalProbe.open}. ` +
      `After all clients closed: server clients ${r.drained?.stats.clients ?? '?'}, sockets ${r.drained?.sockets ?? '?'}; ` +
      `after \`stream.close()\` the server process ${r.exitedByItself ? 'exited by itself' : '**did not exit by itself**'}` +
      `${r.closedSample ? ` (active resources just before: ${fmtRecord(r.closedSample.resources)})` : ''}.`,
  );
  line();

  line('#### Redis restarts (SIGKILL, then the same port) and subscriber kills (`CLIENT KILL TYPE pubsub`)');
  line();
  line(
    '| # | down | readers open at kill and after recovery | got 503 | 503 after kill (max) | got 200 | 200 after Redis ready (max) | live data after Redis ready (first / last client) |',
  );
  line('|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const o of f.outages) line(outageRow(o));
  line();

  line('#### Server process: memory and event loop');
  line();
  line('| | baseline (no clients) | start | middle | end | max of all samples |');
  line('|---|---:|---:|---:|---:|---:|');
  const cols = [r.baseline, r.marks.start, r.marks.middle, r.marks.end];
  const maxOf = (pick: (s: ServerSample) => number): number => Math.max(...r.samples.map((x) => pick(x.sample)));
  line(`| RSS | ${cols.map((s) => (s ? mb(s.rss) : '–')).join(' | ')} | ${mb(maxOf((s) => s.rss))} |`);
  line(`| heap used (after gc) | ${cols.map((s) => (s ? mb(s.heapUsed) : '–')).join(' | ')} | ${mb(maxOf((s) => s.heapUsed))} |`);
  line(`| clients | ${cols.map((s) => (s ? String(s.stats.clients) : '–')).join(' | ')} | |`);
  line();
  const first = r.samples[0];
  const last = r.samples.at(-1);
  const serverCpu =
    first && last && last.atS > first.atS
      ? `${((last.sample.cpuMicros - first.sample.cpuMicros) / 1e4 / (last.atS - first.atS)).toFixed(0)} % of one core`
      : '–';
  const loopMax = Math.max(...r.samples.map((x) => x.sample.loopDelay.max));
  const loopP99 = Math.max(...r.samples.map((x) => x.sample.loopDelay.p99));
  line(
    `Event-loop delay of the server (monitorEventLoopDelay, 10 ms resolution): max ${loopMax.toFixed(1)} ms, worst 10 s-window p99 ${loopP99.toFixed(1)} ms. ` +
      `Largest unsent buffer of one client socket: ${mb(maxOf((s) => s.maxSocketBuffer))}. ` +
      `Server CPU over the load: ${serverCpu}. Driver (clients + producer, same 2 cores): CPU ${(r.driverCpuMicros / 1e4 / (r.loadMs / 1000)).toFixed(0)} %, ` +
      `loop delay max ${r.driverLoopMaxMs.toFixed(1)} ms, p99 ${r.driverLoopP99Ms.toFixed(1)} ms.`,
  );
  line();
  line('| t | RSS | heap | clients | redis | delivered/s | server CPU | loop delay max |');
  line('|---:|---:|---:|---:|---|---:|---:|---:|');
  const everyS = r.plannedS >= 120 ? 60 : 10;
  let prev: { atS: number; sample: ServerSample } | undefined = r.marks.start && r.samples.find((x) => x.sample === r.marks.start);
  for (const x of r.samples) {
    if (x.atS % everyS !== 0 && x !== r.samples.at(-1)) continue;
    if (prev && x.atS <= prev.atS) continue;
    const rate = prev ? (x.sample.stats.delivered - prev.sample.stats.delivered) / (x.atS - prev.atS) : undefined;
    const cpuPct = prev ? (x.sample.cpuMicros - prev.sample.cpuMicros) / 1e4 / (x.atS - prev.atS) : undefined;
    const windowMax = r.samples
      .filter((y) => y.atS > (prev?.atS ?? 0) && y.atS <= x.atS)
      .reduce((m, y) => Math.max(m, y.sample.loopDelay.max), 0);
    line(
      `| ${fmtS(x.atS)} | ${mb(x.sample.rss)} | ${mb(x.sample.heapUsed)} | ${x.sample.stats.clients} | ${x.sample.stats.redis} | ` +
        `${rate === undefined ? '–' : n(Math.round(rate))} | ${cpuPct === undefined ? '–' : `${cpuPct.toFixed(0)} %`} | ${windowMax.toFixed(0)} ms |`,
    );
    prev = x;
  }
  line();

  line('#### Server log (counted by level and message)');
  line();
  const logs = r.closedSample?.logs ?? final?.logs ?? {};
  for (const [key, count] of Object.entries(logs).sort()) line(`- ${key}: ${count}`);
  line();

  const checks = evaluate(r, totals?.received, subscribedMessages);
  line('#### Checks');
  line();
  for (const c of checks) line(`- ${c.ok ? '[x]' : c.severity === 'fail' ? '[ ] **FAIL**' : '[ ] warning:'} ${c.text}`);
  const failed = checks.filter((c) => !c.ok && c.severity === 'fail').length;
  line();
  line(failed === 0 ? '**Result: PASS**' : `**Result: FAIL (${failed} check${failed === 1 ? '' : 's'})**`);
  console.log(out.join('\n'));
  return failed === 0 ? 0 : 1;
}

function evaluate(r: SoakResult, received: number | undefined, subscribedMessages: number): Check[] {
  const t = r.fleet.totals;
  const checks: Check[] = [];
  const add = (ok: boolean, text: string, severity: Check['severity'] = 'fail'): void => void checks.push({ ok, severity, text });

  add(
    r.serverExit === undefined,
    `the server process ran to the end${r.serverExit ? ` (it exited: ${JSON.stringify(r.serverExit)})` : ''}`,
  );
  add(r.restartFailure === undefined, `every Redis restart succeeded${r.restartFailure ? ` (${r.restartFailure})` : ''}`);
  add(r.aborted === false && r.elapsedS === r.plannedS, `the load ran for the planned ${fmtS(r.plannedS)} (ran ${fmtS(r.elapsedS)})`);
  for (const o of r.fleet.outages) {
    const stayed = [...o.stayed];
    const missing = (m: Map<number, number>): number => stayed.filter((id) => !m.has(id)).length;
    const ready = o.restartedAt;
    const lastLive = ready === undefined ? Infinity : Math.max(...stayed.map((id) => (o.firstLive.get(id) ?? Infinity) - ready));
    add(
      ready !== undefined &&
        stayed.length > 0 &&
        missing(o.got503) + missing(o.got200) + missing(o.firstLive) === 0 &&
        lastLive <= r.recoveryLimitMs,
      `${o.kind === 'pubsub kill' ? 'subscriber kill' : 'restart'} #${o.index}: all ${stayed.length} clients that stayed connected got 503, then 200, then live data within ` +
        `${r.recoveryLimitMs / 1000} s of Redis being ready (missing 503: ${missing(o.got503)}, 200: ${missing(o.got200)}, ` +
        `live: ${missing(o.firstLive)}; last client live after ${fmtMs(lastLive)})`,
    );
  }
  const within1s = r.fleet.outages.filter((o) => {
    const ready = o.restartedAt;
    return ready !== undefined && [...o.stayed].every((id) => (o.firstLive.get(id) ?? Infinity) - ready <= 1000);
  }).length;
  add(
    within1s === r.fleet.outages.length,
    `live data flowed again within 1 s of Redis accepting connections after ${within1s}/${r.fleet.outages.length} restarts`,
    'warn',
  );
  const late503 = r.fleet.outages.filter((o) => [...o.stayed].some((id) => (o.got503.get(id) ?? Infinity) - o.killAt > 1000)).length;
  add(late503 === 0, `every client that stayed connected got the 503 within 1 s of the SIGKILL (late in ${late503} outages)`, 'warn');
  const totals = r.drained?.stats;
  add(
    totals !== undefined && totals.deadClientsTerminated >= r.zombieRecycles,
    `the heartbeat terminated every zombie that stopped reading for 75 s (${totals?.deadClientsTerminated ?? '?'} terminations, ${r.zombieRecycles} zombies)`,
  );
  add(t.spurious503 === 0, `no 503 outside a Redis outage (got ${t.spurious503})`, 'warn');
  add(
    r.openAtEnd === r.clients && r.finalProbe.reached === r.finalProbe.open,
    `messages still flow at the end: ${r.openAtEnd}/${r.clients} clients open, final probe reached ${r.finalProbe.reached}/${r.finalProbe.open}`,
  );
  add(t.invalidDelivered === 0, `no invalid message reached a client (${t.invalidDelivered})`);
  add(t.orderViolations === 0, `no duplicate or out-of-order live metric at any client (${t.orderViolations})`);
  const terminal = ['4400', '4401', '4403', '4500'].reduce((acc, code) => acc + (t.dropped[code] ?? 0), 0);
  add(terminal === 0, `no client closed with 4400/4401/4403/4500 (${terminal})`);
  const badKeys = Object.entries(r.badKeyStatuses);
  add(
    badKeys.length > 0 && badKeys.every(([status]) => status === '401'),
    `every wrong-key handshake got 401 (${fmtRecord(r.badKeyStatuses, 'HTTP ')})`,
  );
  const { middle, end } = r.marks;
  add(
    middle !== undefined && end !== undefined && end.rss <= 2 * middle.rss,
    `RSS did not grow more than 2× from middle to end (${middle ? mb(middle.rss) : '?'} → ${end ? mb(end.rss) : '?'})`,
  );
  add(
    r.afterLoad.serverClients === r.afterLoad.clientsOpen && r.afterLoad.serverSockets === r.afterLoad.clientsOpen,
    `after the load the server's client count and TCP sockets equal the clients open (${r.afterLoad.serverClients}, ${r.afterLoad.serverSockets} vs ${r.afterLoad.clientsOpen})`,
  );
  add(
    r.drained?.stats.clients === 0 && r.drained.sockets === 0,
    `after all clients closed, the server holds 0 clients and 0 sockets (${r.drained?.stats.clients}, ${r.drained?.sockets})`,
  );
  add(r.exitedByItself, 'after stream.close() and server.close() the server process exited by itself (no leaked handles)');
  const recoverable = (Object.values(r.producer.tallies) as { recoverable: number }[]).reduce((a, x) => a + x.recoverable, 0);
  const recovered = r.drained?.stats.recovered ?? 0;
  add(
    received !== undefined && received + recovered === subscribedMessages + recoverable,
    `the server received (live or from the history stream) every message Redis acknowledged (${received} + ${recovered} vs ${subscribedMessages} + ${recoverable})`,
    'warn',
  );
  const h = r.history;
  add(
    h.observer.lost === 0,
    `no message lost to subscriber reconnects: the observer got every acknowledged sentinel metric (${h.observer.lost} of ${h.observer.expected} lost)`,
    h.isStreamOn ? 'fail' : 'warn',
  );
  add(
    h.readers.lost === 0,
    `no message lost across Redis restarts and client churn at the readers (${h.readers.lost} of ${h.readers.expected} lost)`,
    h.isStreamOn ? 'fail' : 'warn',
  );
  add(
    t.duplicatesPassed === 0 && t.wireDuplicates === 0,
    `no duplicates: passed on twice ${t.duplicatesPassed}, twice on one connection ${t.wireDuplicates}`,
  );
  return checks;
}

function outageRow(o: Outage): string {
  const stayed = [...o.stayed];
  const count = (m: Map<number, number>): string => `${stayed.filter((id) => m.has(id)).length}/${stayed.length}`;
  const maxAfter = (m: Map<number, number>, from: number | undefined): number =>
    from === undefined ? NaN : Math.max(...stayed.filter((id) => m.has(id)).map((id) => (m.get(id) as number) - from));
  const ready = o.restartedAt;
  const live = stayed.filter((id) => o.firstLive.has(id)).map((id) => (o.firstLive.get(id) as number) - (ready ?? NaN));
  return (
    `| ${o.index}${o.kind === 'pubsub kill' ? ' (CLIENT KILL TYPE pubsub)' : ''} | ${fmtMs(o.downMs)} | ${stayed.length} | ${count(o.got503)} | ${fmtMs(maxAfter(o.got503, o.killAt))} | ` +
    `${count(o.got200)} | ${fmtMs(maxAfter(o.got200, ready))} | ${live.length ? `${fmtMs(Math.min(...live))} / ${fmtMs(Math.max(...live))}` : '–'} |`
  );
}

function latencyRow(line: (s: string) => void, label: string, h: RecordableHistogram): void {
  if (h.count === 0) return void line(`| ${label} | 0 | | | |`);
  const ms = (micros: number): string => `${(micros / 1000).toFixed(1)} ms`;
  line(`| ${label} | ${n(h.count)} | ${ms(h.percentile(50))} | ${ms(h.percentile(99))} | ${ms(h.max)} |`);
}

function closeMeaning(code: string): string {
  const meanings: Record<string, string> = {
    '1001': ' (server going away)',
    '1006': ' (connection lost without a close frame: heartbeat termination, slow-consumer cut-off, crash)',
    '4400': ' (client sent data)',
    '4429': ' (slow consumer)',
    '4500': ' (internal error)',
  };
  return meanings[code] ?? '';
}

function sumValues(record: Readonly<Record<string, number>>): number {
  return Object.values(record).reduce((a, b) => a + b, 0);
}

function fmtRecord(record: Readonly<Record<string, number>>, prefix = ''): string {
  return Object.entries(record)
    .map(([k, v]) => `${prefix}${k} × ${v}`)
    .join(', ');
}

function mark(ok: boolean): string {
  return ok ? '(=)' : '(**≠**)';
}

function n(value: number): string {
  return value.toLocaleString('en-US');
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

function fmtMs(ms: number): string {
  if (!Number.isFinite(ms)) return '–';
  return ms >= 1000 ? `${(ms / 1000).toFixed(2)} s` : `${Math.round(ms)} ms`;
}

function fmtS(s: number): string {
  return `${Math.floor(s / 60)}:${String(Math.round(s % 60)).padStart(2, '0')}`;
}

function fmtDuration(ms: number): string {
  const s = Math.round(ms / 1000);
  return s >= 60 ? `${Math.floor(s / 60)} min ${s % 60 ? `${s % 60} s` : ''}`.trim() : `${s} s`;
}
