import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { attachSystemStream } from '../../src/server/attach.js';
import { createSystemPublisher } from '../../src/publisher/publisher.js';
import { failOnProcessCrash } from '../helpers/crash-guard.js';
import { deliverEventually } from '../helpers/deliver-eventually.js';
import { metric } from '../helpers/fixtures.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { upgradeThenReset } from '../helpers/raw-socket.js';
import { connectOpen, is200, is503 } from '../helpers/ws-client.js';

// One run of mixed hostile traffic against a host process (this test's): RST storms on every path,
// authenticate() hooks that hang, deny or answer through a non-native thenable, ACL flips of the
// subscriber's user, and options with malformed Redis URLs. The host must never see an unhandled error,
// and the stream must deliver again once the ACL allows it. HOSTILE_SECONDS sets the length (default 60).
const SECONDS = Number(process.env['HOSTILE_SECONDS'] ?? 60);
const BAD_URLS = ['redis://:pw@[::1', 'redis://127.0.0.1:70000', 'redis://:p%zz@127.0.0.1:1', 'redis://127.0.0.1:1/x'];

describe('a host under mixed hostile traffic', () => {
  const fx = useStreamFixtures();
  failOnProcessCrash();

  it(
    `survives ${SECONDS} s and keeps serving`,
    async () => {
      const redis = fx.redis();
      const channel = redis.channel();
      const allow = ['on', '>pw', 'resetchannels', `&${channel}`, '-@all', '+subscribe', '+ping'];
      await redis.setUser('feed', ...allow);
      const authenticate = (req: IncomingMessage): unknown => {
        switch (req.headers['x-mode']) {
          case 'hang':
            return new Promise(() => {});
          case 'deny':
            return false;
          case 'thenable':
            return { then: (resolve: (v: unknown) => void) => resolve({ types: ['system_metric'] }) };
          default:
            return { ok: false }; // not a grant: fail closed
        }
      };
      const s = await fx.server({
        redis: redis.userUrl('feed', 'pw'),
        channel,
        apiKeys: ['k'],
        authenticate: authenticate as never,
        authenticateTimeoutMs: 300,
        maxPendingAuthentications: 20,
        throttleMs: 0,
      });
      const watcher = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const counts = { resets: 0, handshakes: 0, refusedOptions: 0, aclFlips: 0, published: 0 };
      const deadline = Date.now() + SECONDS * 1000;
      const until = async (everyMs: number, step: () => Promise<void> | void): Promise<void> => {
        for (let i = 0; i < 1_000_000 && Date.now() < deadline; i++) {
          await step();
          await new Promise((resolve) => setTimeout(resolve, everyMs));
        }
      };

      await Promise.all([
        until(50, () =>
          Promise.all(
            ['/api/system/ws?api_key=k', '/api/system/ws/', '/elsewhere', '/api/system/ws?types='].map((path) =>
              upgradeThenReset(s.port, path),
            ),
          ).then(() => void (counts.resets += 4)),
        ),
        until(100, async () => {
          const mode = ['hang', 'deny', 'thenable', 'none'][counts.handshakes++ % 4] as string;
          const ws = new WebSocket(s.wsUrl(), { headers: { 'x-mode': mode } });
          ws.on('error', () => {});
          ws.on('unexpected-response', (_req, res) => res.resume());
          await new Promise((resolve) => setTimeout(resolve, 20 + (counts.handshakes % 7) * 10));
          ws.terminate();
        }),
        until(3000, async () => {
          const allowed = counts.aclFlips++ % 2 === 1;
          await redis.setUser('feed', ...(allowed ? allow : ['resetchannels', '&other']));
          await redis
            .publisher()
            .call('CLIENT', 'KILL', 'USER', 'feed')
            .catch(() => {});
        }),
        until(500, () => {
          const url = BAD_URLS[counts.refusedOptions % BAD_URLS.length] as string;
          for (const attempt of [
            () => attachSystemStream(s.server, { redis: url, auth: false, path: '/other' }),
            () => createSystemPublisher({ redis: url }),
          ]) {
            try {
              attempt();
            } catch (err) {
              if ((err as { code?: string }).code === 'SST_ERR_INVALID_OPTION') counts.refusedOptions++;
            }
          }
        }),
        until(50, async () => {
          await redis.publisher().publish(channel, JSON.stringify(metric('cpu', counts.published++ % 100)));
        }),
      ]);

      // Every refused option refused cleanly (two per round), and the flips were seen by the client.
      expect(counts.refusedOptions % 2).toBe(0);
      expect(counts.refusedOptions).toBeGreaterThan(SECONDS);
      if (SECONDS >= 10) {
        expect(watcher.packets.some(is503)).toBe(true);
        expect(watcher.packets.some(is200)).toBe(true);
      }
      // Allowed again: the stream recovers by itself and delivers.
      await redis.setUser('feed', ...allow);
      await redis
        .publisher()
        .call('CLIENT', 'KILL', 'USER', 'feed')
        .catch(() => {});
      await deliverEventually(redis.publisher(), channel, watcher, 1234.5);
      expect(s.stream.stats().clients).toBe(1);
      console.log(`hostile traffic for ${SECONDS} s: ${JSON.stringify(counts)}, stats ${JSON.stringify(s.stream.stats())}`);
    },
    (SECONDS + 60) * 1000,
  );
});
