import { spawn } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import { pythonPath } from '../helpers/executables.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';

// A client that knows only the message shapes, in another language: a Python 3 with websockets and redis
// (Debian's python3-websockets and python3-redis, which .ci/run installs), found through $PYTHON or PATH.
// Fails, never skips, when it is missing.
const SCRIPT = fileURLToPath(new URL('../interop/spec_client.py', import.meta.url));

describe('a client written from the message shapes alone (Python websockets + redis-py)', () => {
  const fx = useStreamFixtures();

  it('receives one envelope per frame, the snapshot as envelopes, and the 503/200 packets around a Redis restart', async () => {
    const python = pythonPath();
    const s = await fx.server();
    // Something in the snapshot before the client connects.
    await fx
      .redis()
      .publisher()
      .publish(
        s.channel,
        JSON.stringify([
          { type: 'system_metric', data: { time: new Date().toISOString(), metric_type: 'memory', value: 61, source: 'host' } },
          { type: 'system_metric', data: { time: new Date().toISOString(), metric_type: 'load', value: 0.5, source: 'host' } },
        ]),
      );
    await expect.poll(() => s.stream.stats().valid).toBe(2);

    const child = spawn(
      python,
      [SCRIPT, '--ws', s.wsUrl(), '--key', 'k', '--redis-port', String(fx.redis().port), '--channel', s.channel],
      {
        stdio: ['ignore', 'pipe', 'pipe'],
      },
    );
    fx.defer(() => child.exitCode === null && child.kill('SIGKILL'));
    let stderr = '';
    child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
    const events: Array<{ event: string; [k: string]: unknown }> = [];
    const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
    for await (const line of createInterface({ input: child.stdout })) {
      const event = JSON.parse(line) as { event: string };
      events.push(event);
      if (event.event === 'live') {
        await fx.redis().kill('SIGKILL');
        await new Promise((resolve) => setTimeout(resolve, 300));
        await fx.redis().start();
      }
    }
    expect(await exited, stderr).toBe(0);
    expect(events.map((e) => e.event)).toEqual(['live', 'error', 'status', 'summary']);
    const summary = events.at(-1) as unknown as { frames: number; types: string[] };
    // The snapshot as ordinary envelopes, its marker, the spec's two examples, 503, 200, live again.
    expect(summary.types.filter((t) => t !== 'heartbeat')).toEqual([
      'system_metric',
      'system_metric',
      'snapshot_end',
      'system_metric',
      'container_status',
      'error',
      'status',
      'system_metric',
    ]);
    expect(summary.frames).toBe(summary.types.length);
  }, 30_000);
});
