// The sentinel's cost next to Prometheus's node_exporter, side by side on this host.
//
//   npm run bench:sentinel [-- --seconds 30 --interval 1000 --with-si]
//
// Starts a private redis-server on a free 127.0.0.1 port, the sentinel CLI (bundled from src/ with
// esbuild into node_modules/.cache, so no build is needed) publishing to it at its default 1 s interval,
// and, when installed, prometheus-node-exporter on a free port, scraped once a second by this script.
// With --with-si, a third process runs the sentinel with the systeminformation sampler it used before
// (startSentinel({ sampler: sampleSystem })) for comparison.
//
// Over the measured window (after a warm-up) it prints, per process: CPU % of one core counting the
// children it waited for (utime + stime + cutime + cstime from /proc/PID/stat), RSS at the end and at
// its peak (sampled each second), and the processes it started (execve counted by strace -f, when strace
// exists). Each measured process is launched under `strace -f --seccomp-bpf -e trace=execve`: with
// seccomp-bpf only execve stops the process, so tracing costs nothing the rest of the time (attaching
// with -p would stop it at every system call and inflate the CPU being measured).
import { spawn, execFileSync } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { connect, createServer } from 'node:net';
import { cpus, loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { build } from 'esbuild';
import { Redis } from 'ioredis';

const { values: args } = parseArgs({
  options: {
    seconds: { type: 'string', default: '30' },
    warmup: { type: 'string', default: '5' },
    interval: { type: 'string', default: '1000' },
    'with-si': { type: 'boolean', default: false },
    json: { type: 'boolean', default: false },
  },
});
const SECONDS = Number(args.seconds);
const WARMUP_S = Number(args.warmup);
const root = fileURLToPath(new URL('../../', import.meta.url));
const work = join(root, 'node_modules/.cache/system-stream-bench', `sentinel-${process.pid}`);
mkdirSync(work, { recursive: true });

const which = (name) => {
  try {
    return execFileSync('sh', ['-c', `command -v ${name}`], { encoding: 'utf8' }).trim() || null;
  } catch {
    return null;
  }
};
const STRACE = which('strace');
const NODE_EXPORTER = which('prometheus-node-exporter') ?? which('node_exporter');
const REDIS_SERVER = which('redis-server');
if (!REDIS_SERVER) throw new Error('redis-server is not on PATH: the sentinel needs a Redis to publish to');
const CLK_TCK = Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim()) || 100;

async function freePort() {
  const server = createServer();
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address();
  await new Promise((resolve) => server.close(resolve));
  return port;
}

function canConnect(port) {
  return new Promise((resolve) => {
    const socket = connect({ host: '127.0.0.1', port });
    socket.once('connect', () => {
      socket.destroy();
      resolve(true);
    });
    socket.once('error', () => resolve(false));
  });
}

const started = [];
function launch(name, command, argv, { traced }) {
  const straceLog = join(work, `${name}.strace`);
  const useStrace = traced && STRACE !== null;
  const child = useStrace
    ? spawn(STRACE, ['-f', '--seccomp-bpf', '-e', 'trace=execve', '-qq', '-o', straceLog, command, ...argv], {
        stdio: ['ignore', 'ignore', 'pipe'],
      })
    : spawn(command, argv, { stdio: ['ignore', 'ignore', 'pipe'] });
  if (process.env.BENCH_DEBUG) child.stderr.pipe(process.stderr);
  let stderr = '';
  child.stderr.on('data', (c) => (stderr = (stderr + c).slice(-4000)));
  child.on('exit', (code, signal) => (stderr += ` [exit ${code ?? signal}]`));
  const entry = { name, command, child, straceLog: useStrace ? straceLog : null, stderr: () => stderr, pid: undefined };
  started.push(entry);
  return entry;
}

/** The measured process: strace's only child when launched under strace, else the process itself. */
async function targetPid(entry) {
  if (!entry.straceLog) return entry.child.pid;
  for (let i = 0; i < 100; i++) {
    try {
      // strace forks short-lived children of its own at start (to probe ptrace features): wait for the
      // one that has exec'd the command.
      const children = readFileSync(`/proc/${entry.child.pid}/task/${entry.child.pid}/children`, 'utf8').trim().split(/\s+/);
      for (const pid of children.filter(Boolean)) {
        const exe = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')[0];
        if (exe === entry.command) return Number(pid);
      }
    } catch {
      // not yet
    }
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`${entry.name}: no process under strace`);
}

function cpuTicks(pid) {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // Fields 14-17 of proc(5), counted from the state (field 3) here: utime, stime, cutime, cstime.
  return Number(fields[11]) + Number(fields[12]) + Number(fields[13]) + Number(fields[14]);
}

function rssKb(pid) {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  return Number(/VmRSS:\s+(\d+)/.exec(status)?.[1] ?? NaN);
}

function execveCount(entry) {
  if (!entry.straceLog || !existsSync(entry.straceLog)) return null;
  return readFileSync(entry.straceLog, 'utf8')
    .split('\n')
    .filter((line) => /\bexecve\(/.test(line) && !/resumed>/.test(line)).length;
}

function scrape(port) {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, path: '/metrics', agent: false }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (c) => (body += c));
      res.on('end', () => resolve(body));
    });
    req.on('error', reject);
    req.end();
  });
}

const cleanup = () => {
  for (const e of started) if (e.child.exitCode === null && e.child.signalCode === null) e.child.kill('SIGKILL');
};
process.on('exit', cleanup);

try {
  // The sentinel CLI, and a runner for the systeminformation sampler, bundled from source.
  const cli = join(work, 'cli.mjs');
  await build({
    entryPoints: [join(root, 'src/sentinel/cli.ts')],
    outfile: cli,
    bundle: true,
    packages: 'external',
    platform: 'node',
    format: 'esm',
    logLevel: 'silent',
  });
  const siRunner = join(work, 'si-runner.mjs');
  if (args['with-si']) {
    const entry = join(work, 'sentinel-entry.mjs');
    await build({
      entryPoints: [join(root, 'src/sentinel.ts')],
      outfile: entry,
      bundle: true,
      packages: 'external',
      platform: 'node',
      format: 'esm',
      logLevel: 'silent',
    });
    writeFileSync(
      siRunner,
      `import { startSentinel, sampleSystem } from ${JSON.stringify(entry)};\n` +
        `const [redis, channel, intervalMs] = process.argv.slice(2);\n` +
        `const s = startSentinel({ redis, channel, intervalMs: Number(intervalMs), source: 'si-sampler', sampler: sampleSystem });\n` +
        `process.once('SIGTERM', () => s.stop().then(() => process.exit(0)));\n`,
    );
  }

  const redisPort = await freePort();
  const redisDir = join(tmpdir(), `sst-bench-redis-${process.pid}`);
  mkdirSync(redisDir, { recursive: true });
  const redis = launch(
    'redis',
    REDIS_SERVER,
    ['--port', String(redisPort), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--dir', redisDir],
    {
      traced: false,
    },
  );
  const url = `redis://127.0.0.1:${redisPort}`;
  for (let i = 0; !(await canConnect(redisPort)); i++) {
    if (i > 100) throw new Error(`redis-server did not start: ${redis.stderr()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
  const probe = new Redis(url, { maxRetriesPerRequest: 1 });
  probe.on('error', () => {});
  const channel = `bench:sentinel:${process.pid}`;
  let batches = 0;
  await probe.subscribe(channel);
  probe.on('message', () => batches++);

  const measured = [];
  measured.push(
    launch(
      'system-stream-sentinel',
      process.execPath,
      [cli, '--redis', url, '--channel', channel, '--interval', args.interval, '--log-level', 'warn'],
      {
        traced: true,
      },
    ),
  );
  if (args['with-si']) {
    measured.push(
      launch('sentinel, systeminformation sampler', process.execPath, [siRunner, url, channel, args.interval], { traced: true }),
    );
  }
  let exporterPort;
  if (NODE_EXPORTER) {
    exporterPort = await freePort();
    measured.push(
      launch('prometheus-node-exporter', NODE_EXPORTER, [`--web.listen-address=127.0.0.1:${exporterPort}`, '--log.level=warn'], {
        traced: true,
      }),
    );
  }
  for (const m of measured) m.pid = await targetPid(m);

  // Scrape node_exporter once a second for the whole run, as Prometheus would.
  let series = 0;
  let scrapes = 0;
  const scraper = exporterPort
    ? setInterval(() => {
        scrape(exporterPort).then(
          (body) => {
            scrapes++;
            series = body.split('\n').filter((l) => l !== '' && !l.startsWith('#')).length;
          },
          () => {},
        );
      }, 1000)
    : undefined;

  await new Promise((r) => setTimeout(r, WARMUP_S * 1000));
  for (const m of measured) if (!existsSync(`/proc/${m.pid}`)) throw new Error(`${m.name} exited: ${m.stderr()}`);
  const before = measured.map((m) => ({ ticks: cpuTicks(m.pid), execs: execveCount(m) ?? 0, peak: rssKb(m.pid) }));
  const batchesBefore = batches;
  const scrapesBefore = scrapes;
  const t0 = performance.now();
  for (let s = 0; s < SECONDS; s++) {
    await new Promise((r) => setTimeout(r, 1000));
    measured.forEach((m, i) => (before[i].peak = Math.max(before[i].peak, rssKb(m.pid))));
  }
  const elapsedS = (performance.now() - t0) / 1000;
  const rows = measured.map((m, i) => {
    const ticks = cpuTicks(m.pid) - before[i].ticks;
    const execs = execveCount(m);
    return {
      process: m.name,
      cpuPercentOfOneCore: Math.round((ticks / CLK_TCK / elapsedS) * 100 * 100) / 100,
      rssMb: Math.round((rssKb(m.pid) / 1024) * 10) / 10,
      peakRssMb: Math.round((before[i].peak / 1024) * 10) / 10,
      processesStarted: execs === null ? null : execs - before[i].execs,
    };
  });
  clearInterval(scraper);

  const sentinelBatches = batches - batchesBefore;
  const exporterScrapes = scrapes - scrapesBefore;
  const sentinelRow = rows[0];
  const exporterRow = rows.find((r) => r.process === 'prometheus-node-exporter');
  const ticksInWindow = Math.round((elapsedS * 1000) / Number(args.interval));
  if (args.json) {
    console.log(JSON.stringify({ seconds: elapsedS, rows, sentinelBatches, exporterScrapes, exporterSeries: series }, null, 2));
  } else {
    const fmt = (v) => (v === null ? 'n/a (no strace)' : String(v));
    console.log(`\nSentinel vs node_exporter, ${elapsedS.toFixed(1)} s measured after ${WARMUP_S} s warm-up, interval ${args.interval} ms`);
    console.log(
      `(${sentinelBatches} sentinel batches received from Redis; node_exporter scraped ${exporterScrapes} times, ${series} series;`,
    );
    console.log(
      ` ${cpus().length} CPUs, 1-minute load average ${loadavg()[0].toFixed(2)} at the end: other work on the host shares the cores)\n`,
    );
    console.log('| Process | CPU % of one core | RSS (MB), end / peak | Processes started | per tick |');
    console.log('| --- | ---: | ---: | ---: | ---: |');
    for (const r of rows) {
      const perTick =
        r.processesStarted === null || r.process === 'prometheus-node-exporter' ? '' : (r.processesStarted / ticksInWindow).toFixed(2);
      console.log(
        `| ${r.process} | ${r.cpuPercentOfOneCore.toFixed(2)} | ${r.rssMb} / ${r.peakRssMb} | ${fmt(r.processesStarted)} | ${perTick} |`,
      );
    }
    if (exporterRow) {
      const ratio = sentinelRow.cpuPercentOfOneCore / exporterRow.cpuPercentOfOneCore;
      console.log(
        `\nsentinel CPU / node_exporter CPU = ${ratio.toFixed(2)} (goal <= 0.8); sentinel CPU ${sentinelRow.cpuPercentOfOneCore.toFixed(2)} % (goal <= 1.5 %)`,
      );
    } else {
      console.log('\nprometheus-node-exporter is not installed: no comparison row.');
    }
  }
  await probe.quit().catch(() => {});
  // Signal the measured process itself: strace exits once its tracee has.
  for (const m of measured) process.kill(m.pid, 'SIGTERM');
  await Promise.all(measured.map((m) => (m.child.exitCode === null ? once(m.child, 'exit') : null)));
  redis.child.kill('SIGTERM');
  await once(redis.child, 'exit');
  rmSync(redisDir, { recursive: true, force: true });
} finally {
  cleanup();
  rmSync(work, { recursive: true, force: true });
}
