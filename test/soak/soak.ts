// Soak test of issue 3: 100 clients at the spec's rates against one server process for a configurable
// time, with Redis SIGKILLs and restarts, client churn, a flood now and then, invalid messages, a slow
// reader and a half-open client. Prints a markdown summary and exits non-zero when something is clearly
// broken. Not part of `npm test`:
//
//   npm run soak                      # 10 minutes
//   SOAK_MINUTES=0.5 npm run soak     # quick check; or: npm run soak -- --minutes 0.5 [--seed 7]
//   SOAK_SERVER_NODE_ARGS=--cpu-prof  # extra node flags for the server process
//
// Processes: this driver (redis control, producer, clients), the server (server.ts, forked, so that its
// memory and event loop are measured alone) and a private redis-server on a free port. 127.0.0.1 only.
import { fork, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import { bundleForNode } from '../helpers/bundle.js';
import { startRedis, type TestRedis } from '../helpers/redis.js';
import { Fleet, sleep, type Outage } from './clients.js';
import type { FromServer, ServerSample, ToServer } from './ipc.js';
import { Producer } from './producer.js';
import { printReport, type HistoryResult, type SoakResult } from './report.js';

const CLIENTS = 100;
const API_KEY = 'soak-key';
const CHANNEL = 'system:metrics'; // the library's default: the server is attached with default options
/** Everything repeats every minute; offsets in seconds within the cycle. */
const CYCLE_S = 60;
const SLOW_PAUSE_AT_S = 3;
const SLOW_PAUSE_MS = 25_000; // under the 30 s heartbeat: a pause must not look like a dead peer
const FLOOD_FROM_S = 8;
const FLOOD_UNTIL_S = 13;
const REDIS_KILL_AT_S = 20;
/** `CLIENT KILL TYPE pubsub` (the server's subscriber only), right before that second's sentinel batch. */
const PUBSUB_KILL_AT_S = 40;
const REDIS_DOWN_MS = [500, 3000] as const;
const CHURN_EVERY_S = 10;
const CHURN_COUNT = 5;
const SAMPLE_EVERY_S = 10;
/** The zombie stops reading this long after it connects, and is recycled this long after that. */
const ZOMBIE_AFTER_MS = 10_000;
const ZOMBIE_RECYCLE_MS = 75_000;
/** How long after Redis is back the soak looks at who got the 200 and live data. */
const RECOVERY_CHECK_MS = 5000;
/** A restart after which live data takes longer than this to reach clients counts as broken. */
const RECOVERY_LIMIT_MS = 5000;
/** An acknowledged message is expected at a client only from this long after its first snapshot. */
const LOSS_MARGIN_MS = 1500;
/** SOAK_HISTORY_STREAM=0: Pub/Sub only (the in-memory history alone), as before the Redis-backed history. */
const USE_HISTORY_STREAM = process.env['SOAK_HISTORY_STREAM'] !== '0';
/** SOAK_AOF=0: Redis restarts without AOF, so the history stream does not survive them. */
const USE_AOF = process.env['SOAK_AOF'] !== '0';

function parseArgs(): { minutes: number; seed: number } {
  const args = process.argv.slice(2);
  const flag = (name: string): string | undefined => {
    const i = args.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
    if (i < 0) return undefined;
    const arg = args[i] as string;
    return arg.includes('=') ? arg.slice(arg.indexOf('=') + 1) : args[i + 1];
  };
  const minutes = Number(flag('minutes') ?? process.env['SOAK_MINUTES'] ?? 10);
  const seed = Number(flag('seed') ?? process.env['SOAK_SEED'] ?? 1);
  if (!Number.isFinite(minutes) || minutes <= 0 || minutes > 24 * 60) {
    console.error(`Expected --minutes / SOAK_MINUTES to be a number of minutes in (0, 1440], got ${minutes}`);
    process.exit(2);
  }
  if (!Number.isInteger(seed)) {
    console.error(`Expected --seed / SOAK_SEED to be an integer, got ${seed}`);
    process.exit(2);
  }
  return { minutes, seed };
}

/** mulberry32: a small seeded PRNG, so that a run's choices can be repeated. */
function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const log = (msg: string): void => void process.stderr.write(`[soak ${new Date().toISOString().slice(11, 19)}] ${msg}\n`);

/** The forked server process and a request/response channel to it. */
class ServerProcess {
  readonly child: ChildProcess;
  exit: { code: number | null; signal: string | null } | undefined;
  readonly exited: Promise<void>;
  readonly #pending = new Map<number, (sample: ServerSample) => void>();
  #nextId = 0;

  constructor(script: string, redisUrl: string) {
    this.child = fork(script, [], {
      // SOAK_SERVER_NODE_ARGS adds flags for a look inside, e.g. "--trace-gc" or "--cpu-prof".
      execArgv: ['--expose-gc', '--enable-source-maps', ...(process.env['SOAK_SERVER_NODE_ARGS'] ?? '').split(' ').filter(Boolean)],
      env: { ...process.env, SOAK_REDIS_URL: redisUrl, SOAK_API_KEY: API_KEY, SOAK_HISTORY_STREAM: USE_HISTORY_STREAM ? '1' : '0' },
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    this.child.on('message', (message: FromServer) => {
      if (message.type === 'reply') {
        this.#pending.get(message.id)?.(message.sample);
        this.#pending.delete(message.id);
      }
    });
    this.exited = new Promise((resolve) =>
      this.child.once('exit', (code, signal) => {
        this.exit = { code, signal };
        resolve();
      }),
    );
  }

  async ready(timeoutMs: number): Promise<number> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error('server process did not become ready')), timeoutMs);
      this.child.on('message', (message: FromServer) => {
        if (message.type !== 'ready') return;
        clearTimeout(timer);
        resolve(message.port);
      });
      this.child.once('exit', (code) => {
        clearTimeout(timer);
        reject(new Error(`server process exited with ${code} before it was ready`));
      });
    });
  }

  sample(gc = false, timeoutMs = 5000): Promise<ServerSample | undefined> {
    return this.#request({ type: 'sample', id: ++this.#nextId, gc }, timeoutMs);
  }

  close(timeoutMs = 10_000): Promise<ServerSample | undefined> {
    return this.#request({ type: 'close', id: ++this.#nextId }, timeoutMs);
  }

  #request(message: ToServer, timeoutMs: number): Promise<ServerSample | undefined> {
    if (this.exit || !this.child.connected) return Promise.resolve(undefined);
    return new Promise((resolve) => {
      const timer = setTimeout(() => {
        this.#pending.delete(message.id);
        resolve(undefined);
      }, timeoutMs);
      this.#pending.set(message.id, (sample) => {
        clearTimeout(timer);
        resolve(sample);
      });
      this.child.send(message);
    });
  }
}

async function main(): Promise<number> {
  const { minutes, seed } = parseArgs();
  const random = seededRandom(seed);
  const totalS = Math.round(minutes * 60);
  const loop = monitorEventLoopDelay({ resolution: 10 });
  loop.enable();

  log(
    `starting: ${minutes} min, ${CLIENTS} clients, seed ${seed}, history stream ${USE_HISTORY_STREAM ? 'on' : 'off'}, AOF ${USE_AOF ? 'everysec' : 'off'}`,
  );
  // AOF with fsync every second, in a directory of its own: the history stream survives each SIGKILL
  // (less at most its last second of writes).
  const aofDir = USE_AOF ? mkdtempSync(join(tmpdir(), 'soak-aof-')) : undefined;
  const redis: TestRedis = await startRedis(
    aofDir === undefined ? {} : { args: ['--appendonly', 'yes', '--appendfsync', 'everysec', '--dir', aofDir] },
  );
  const server = new ServerProcess(await bundleServer(), redis.url);
  const cleanup = async (): Promise<void> => {
    if (!server.exit) server.child.kill('SIGKILL');
    await redis.stop().catch(() => {});
    if (aofDir !== undefined) rmSync(aofDir, { recursive: true, force: true });
  };
  let isAborted = false;
  process.once('SIGINT', () => {
    log('SIGINT: finishing early');
    isAborted = true;
  });

  try {
    const port = await server.ready(20_000);
    const baseline = await server.sample(true);
    const producer = new Producer(redis.url, CHANNEL, random, USE_HISTORY_STREAM);
    const fleet = new Fleet(`ws://127.0.0.1:${port}/api/system/ws?api_key=${API_KEY}`, random, true);
    const connectStarted = performance.now();
    await fleet.start(CLIENTS, 20_000);
    const connectMs = performance.now() - connectStarted;
    log(`${fleet.openCount}/${CLIENTS} clients open in ${Math.round(connectMs)} ms; load starts`);

    const samples: { atS: number; sample: ServerSample }[] = [];
    const marks: Partial<Record<'start' | 'middle' | 'end', ServerSample>> = {};
    const badKeyStatuses: Record<string, number> = {};
    const inFlight = new Set<Promise<unknown>>();
    const track = (p: Promise<unknown>): void => {
      inFlight.add(p);
      void p.finally(() => inFlight.delete(p));
    };
    let restart: Promise<void> | undefined;
    let restartFailure: string | undefined;
    let zombieRecycles = 0;

    const admin = redis.publisher();
    const restartRedis = async (outage: Outage): Promise<void> => {
      if (outage.kind === 'pubsub kill') {
        // Redis stays up; the server's subscriber reconnects while the batch of this second is published.
        await admin.call('CLIENT', 'KILL', 'TYPE', 'pubsub');
      } else {
        await redis.kill('SIGKILL');
        await sleep(REDIS_DOWN_MS[0] + random() * (REDIS_DOWN_MS[1] - REDIS_DOWN_MS[0]));
        await redis.start();
      }
      outage.restartedAt = performance.now();
      outage.downMs = outage.restartedAt - outage.killAt;
      // Probes on their own key, every 50 ms until a client sees live data again: the first one the
      // server gets times the recovery more finely than the next 1 s sentinel batch would.
      for (let i = 0; i < RECOVERY_LIMIT_MS / 50 && outage.firstLive.size === 0; i++) {
        track(producer.probe());
        await sleep(50);
      }
      await sleep(Math.max(0, outage.restartedAt + RECOVERY_CHECK_MS - performance.now()));
      const open = fleet.openConnIds();
      outage.stayed = new Set([...outage.readingAtKill].filter((id) => open.has(id)));
    };

    const t0 = performance.now();
    const driverCpu = process.cpuUsage();
    const middleS = Math.max(1, Math.round(totalS / 2));
    const startS = Math.min(5, middleS - 1);
    let elapsedS = 0;
    for (let s = 1; s <= totalS && !isAborted && !server.exit && restartFailure === undefined; s++) {
      await sleep(t0 + s * 1000 - performance.now());
      elapsedS = s;
      const offset = s % CYCLE_S;
      if (offset === PUBSUB_KILL_AT_S && restart === undefined) {
        const outage = fleet.beginOutage(fleet.outages.length + 1, 'pubsub kill');
        log(`CLIENT KILL TYPE pubsub #${outage.index}`);
        restart = restartRedis(outage)
          .catch((err: unknown) => void (restartFailure = String(err)))
          .finally(() => (restart = undefined));
        await sleep(1); // the kill is on its way before the batch
      }
      track(producer.sentinelTick());
      track(producer.invalidTick());
      if (offset === FLOOD_FROM_S) {
        producer.startFlood();
        fleet.isFlooding = true;
      }
      if (offset === FLOOD_UNTIL_S) producer.stopFlood();
      if (offset === FLOOD_UNTIL_S + 1) fleet.isFlooding = false;
      if (offset === SLOW_PAUSE_AT_S) fleet.clients.find((c) => c.role === 'slow')?.pauseFor(SLOW_PAUSE_MS);
      if (offset === REDIS_KILL_AT_S && restart === undefined) {
        const outage = fleet.beginOutage(fleet.outages.length + 1);
        log(`Redis SIGKILL #${outage.index}`);
        restart = restartRedis(outage)
          .catch((err: unknown) => void (restartFailure = String(err)))
          .finally(() => (restart = undefined));
      }
      if (s % CHURN_EVERY_S === 5) {
        fleet.churn(CHURN_COUNT);
        track(fleet.badKeyAttempt().then((status) => void (badKeyStatuses[status] = (badKeyStatuses[status] ?? 0) + 1)));
      }
      const zombie = fleet.clients.find((c) => c.role === 'zombie');
      if (zombie?.isOpen && !zombie.isPaused && performance.now() - zombie.openedAt > ZOMBIE_AFTER_MS) zombie.pause();
      if (zombie?.isPaused && performance.now() - zombie.pausedAt > ZOMBIE_RECYCLE_MS) {
        zombieRecycles++;
        void zombie.leaveAndRejoin('zombie recycled after 75 s', false, 100);
      }
      const mark = s === startS ? 'start' : s === middleS ? 'middle' : s === totalS ? 'end' : undefined;
      if (mark !== undefined || s % SAMPLE_EVERY_S === 0) {
        // A marked sample forces a full gc in the server, which stalls it for tens of ms: take it between
        // two sentinel ticks, so that no batch's latency measures the soak's own gc() instead of the library.
        if (mark !== undefined) await sleep(t0 + s * 1000 + 500 - performance.now());
        const sample = await server.sample(mark !== undefined);
        if (sample) {
          samples.push({ atS: s, sample });
          if (mark) marks[mark] = sample;
          if (s % 60 === 0 || mark) {
            log(
              `${s}s rss ${mb(sample.rss)} heap ${mb(sample.heapUsed)} clients ${sample.stats.clients} redis ${sample.stats.redis} ` +
                `delivered ${sample.stats.delivered} loop max ${sample.loopDelay.max.toFixed(0)} ms`,
            );
          }
        }
      }
    }
    const loadMs = performance.now() - t0;
    const loadEndedAt = performance.now();
    if (isAborted || restartFailure) marks.end ??= await server.sample(true);

    // Wind down: no more flood, let a restart finish, everyone reading again, then check the steady state.
    producer.stopFlood();
    fleet.isFlooding = false;
    await restart;
    // The zombie is recycled as it would be after 75 s (resuming it would only show it the heartbeat's
    // termination, as a 1006); the slow reader reads again.
    const zombie = fleet.clients.find((c) => c.role === 'zombie');
    if (zombie?.isPaused) await zombie.leaveAndRejoin('zombie recycled at the end', false, 100);
    fleet.clients.find((c) => c.role === 'slow')?.resume();
    await Promise.allSettled([...inFlight]);
    await sleep(500); // a close that was waiting in a paused socket's buffer is seen now
    const openAtEnd = await fleet.waitAllOpen(35_000); // a client may be in a 30 s backoff step
    await sleep(1000);
    const finalProbe = await finalLiveness(fleet, producer);
    const steady = await server.sample();
    const afterLoad = { clientsOpen: fleet.openCount, serverClients: steady?.stats.clients, serverSockets: steady?.sockets };
    const history = historyAccounting(producer, fleet, loadEndedAt, t0);

    await fleet.closeAll();
    let drained = await server.sample();
    for (let i = 0; i < 30 && drained && (drained.stats.clients > 0 || drained.sockets > 0); i++) {
      await sleep(100);
      drained = await server.sample();
    }
    const serverCrash = server.exit; // before close(): an exit after it is the expected one
    const closedSample = await server.close();
    const exitedByItself = await Promise.race([server.exited.then(() => true), sleep(5000).then(() => false)]);
    producer.close();
    loop.disable();

    const result: SoakResult = {
      minutes,
      seed,
      plannedS: totalS,
      loadMs,
      elapsedS,
      aborted: isAborted,
      restartFailure,
      serverExit: serverCrash,
      connectMs,
      clients: CLIENTS,
      producer,
      fleet,
      baseline,
      marks,
      samples,
      badKeyStatuses,
      zombieRecycles,
      openAtEnd,
      finalProbe,
      afterLoad,
      drained,
      closedSample,
      exitedByItself,
      driverLoopMaxMs: loop.max / 1e6,
      driverLoopP99Ms: loop.percentile(99) / 1e6,
      driverCpuMicros: (() => {
        const cpu = process.cpuUsage(driverCpu);
        return cpu.user + cpu.system;
      })(),
      recoveryLimitMs: RECOVERY_LIMIT_MS,
      redisVersion: await redisVersion(),
      history,
    };
    return printReport(result);
  } finally {
    await cleanup();
  }
}

/**
 * server.ts and the library bundled into one plain .mjs, so that the server process runs no TypeScript
 * loader (whose worker thread would add to the RSS measured). Packages stay external; the file lives in
 * node_modules/.cache so that they resolve from there.
 */
async function bundleServer(): Promise<string> {
  return bundleForNode(
    fileURLToPath(new URL('./server.ts', import.meta.url)),
    fileURLToPath(new URL('../../node_modules/.cache/system-stream-soak/server.mjs', import.meta.url)),
    { sourcemap: 'inline', logLevel: 'warning' },
  );
}

/**
 * Every sentinel metric Redis acknowledged (with the history stream: also those it had no subscriber
 * for) must reach every client that always reads, once: the observer, which is never churned, across the
 * Redis restarts; the readers across their churn too, since they rejoin with `?since=`. Counted from
 * LOSS_MARGIN_MS after a client's first snapshot to the end of the load.
 */
function historyAccounting(producer: Producer, fleet: Fleet, endAt: number, t0: number): HistoryResult {
  const acked = producer.ackedMetrics.filter((a) => USE_HISTORY_STREAM || !a.isUnsubscribed);
  const count = (role: 'observer' | 'reader') => {
    let expected = 0;
    let lost = 0;
    let lostUnsubscribed = 0;
    const examples: string[] = [];
    for (const c of fleet.clients.filter((x) => x.role === role && x.firstOpenAt > 0)) {
      for (const a of acked) {
        if (a.ackedAt < c.firstOpenAt + LOSS_MARGIN_MS || a.ackedAt > endAt) continue;
        expected++;
        if (c.passedSeqs.has(a.seq)) continue;
        lost++;
        if (a.isUnsubscribed) lostUnsubscribed++;
        if (examples.length < 5) {
          // When it was acknowledged, and whether it reached the client at all (else the resume rule dropped it).
          const how = c.receivedSeqs.has(a.seq) ? 'received, dropped by the resume rule' : 'never received';
          examples.push(`seq ${a.seq} at client ${c.slot} (acked at ${((a.ackedAt - t0) / 1000).toFixed(1)} s, ${how})`);
        }
      }
    }
    return { expected, lost, lostUnsubscribed, examples };
  };
  return {
    isStreamOn: USE_HISTORY_STREAM,
    isAofOn: USE_AOF,
    ackedMetrics: producer.ackedMetrics.length,
    ackedUnsubscribed: producer.ackedMetrics.filter((a) => a.isUnsubscribed).length,
    observer: count('observer'),
    readers: count('reader'),
  };
}

/** Publishes one probe and counts the open clients that receive it within 3 s. */
async function finalLiveness(fleet: Fleet, producer: Producer): Promise<{ reached: number; open: number }> {
  const open = fleet.openConnIds();
  const before = new Map([...open].map((id) => [id, fleet.lastProbeSeq.get(id) ?? 0]));
  for (let attempt = 0; attempt < 5; attempt++) {
    await producer.probe();
    const deadline = performance.now() + 600;
    while (performance.now() < deadline) {
      const reached = [...open].filter((id) => (fleet.lastProbeSeq.get(id) ?? 0) > (before.get(id) ?? 0)).length;
      if (reached === open.size) return { reached, open: open.size };
      await sleep(20);
    }
  }
  const reached = [...open].filter((id) => (fleet.lastProbeSeq.get(id) ?? 0) > (before.get(id) ?? 0)).length;
  return { reached, open: open.size };
}

async function redisVersion(): Promise<string> {
  const { execFile } = await import('node:child_process');
  return new Promise((resolve) => {
    execFile('redis-server', ['--version'], (err, stdout) => resolve(err ? 'unknown' : (/v=(\S+)/.exec(stdout)?.[1] ?? 'unknown')));
  });
}

function mb(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MB`;
}

main().then(
  (code) => {
    process.exitCode = code;
    // Anything still open (a stuck socket) must not keep the run alive after the report.
    setTimeout(() => process.exit(code), 2000).unref();
  },
  (err: unknown) => {
    console.error(err);
    process.exit(1);
  },
);
