import { describe, expect, it } from 'vitest';
import { keyProtocol } from '../../src/protocol/wire.js';
import { metric } from '../helpers/fixtures.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { connectOpen, expectRefused, rawUpgradeStatus } from '../helpers/ws-client.js';
import { recordingLogger } from '../helpers/logger.js';

describe('protocol', () => {
  const fx = useStreamFixtures();

  describe('subprotocol system-stream.v1', () => {
    it('is selected when offered, and a client that offers none gets the same wire', async () => {
      const s = await fx.server();
      const versioned = fx.track(await connectOpen(s.wsUrl('api_key=k'), { protocols: ['system-stream.v1'] }));
      const bare = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      expect(versioned.ws.protocol).toBe('system-stream.v1');
      expect(bare.ws.protocol).toBe('');
      await fx
        .redis()
        .publisher()
        .publish(s.channel, JSON.stringify(metric('cpu', 5)));
      await Promise.all([versioned, bare].map((c) => c.waitFor((p) => p.type === 'system_metric')));
      expect(versioned.frames).toEqual(bare.frames);
    });

    it('refuses with 400 a handshake that offers only subprotocols it does not speak', async () => {
      const s = await fx.server();
      expect((await expectRefused(s.wsUrl('api_key=k'), { protocols: ['graphql-ws'] })).status).toBe(400);
      expect((await expectRefused(s.wsUrl('api_key=k'), { protocols: ['system-stream.v2'] })).status).toBe(400);
      expect((await expectRefused(s.wsUrl(), { protocols: [keyProtocol('k')] })).status).toBe(400); // a key is not a protocol
      expect(s.stream.stats()).toMatchObject({ clients: 0, rejected: 3 });
    });
  });

  describe('the key subprotocol', () => {
    it('authenticates beside system-stream.v1, which is the one selected (never the key)', async () => {
      const s = await fx.server({ apiKeys: ['s3cret/key+é'] });
      const c = fx.track(await connectOpen(s.wsUrl(), { protocols: ['system-stream.v1', keyProtocol('s3cret/key+é')] }));
      expect(c.ws.protocol).toBe('system-stream.v1');
    });

    it('refuses a wrong key, two keys, or a key that is not base64url with 401', async () => {
      const s = await fx.server({ apiKeys: ['right'] });
      const refused = (protocols: string[]) => expectRefused(s.wsUrl(), { protocols: ['system-stream.v1', ...protocols] });
      expect((await refused([keyProtocol('wrong')])).status).toBe(401);
      expect((await refused([keyProtocol('right'), keyProtocol('other')])).status).toBe(401);
      // What a ws client refuses to send: the same key twice, padding.
      const raw = (protocols: string) => rawUpgradeStatus(s.wsUrl(), { 'Sec-WebSocket-Protocol': protocols });
      expect(await raw(`system-stream.v1, ${keyProtocol('right')}`)).toBe(101);
      expect(await raw(`system-stream.v1, ${keyProtocol('right')}, ${keyProtocol('right')}`)).toBe(401);
      expect(await raw('system-stream.v1, system-stream.key.cmlnaHQ=')).toBe(401);
      expect((await expectRefused(s.wsUrl('api_key=other'), { protocols: ['system-stream.v1', keyProtocol('right')] })).status).toBe(401);
    });

    it('never logs the key subprotocol', async () => {
      const logger = recordingLogger();
      const s = await fx.server({ apiKeys: ['TOPSECRET'], logger });
      fx.track(await connectOpen(s.wsUrl(), { protocols: ['system-stream.v1', keyProtocol('TOPSECRET')] }));
      await expectRefused(s.wsUrl(), { protocols: ['system-stream.v1', keyProtocol('TOPSECRET-wrong')] });
      expect(logger.lines.length).toBeGreaterThan(1);
      const all = logger.dump();
      expect(all).not.toMatch(/TOPSECRET/);
      expect(all).not.toContain(keyProtocol('TOPSECRET').slice('system-stream.key.'.length));
    });
  });

  describe('snapshot', () => {
    it('arrives as ordinary envelopes, one per frame, then snapshot_end with their count; with 503 after it while Redis is down', async () => {
      const s = await fx.server();
      await fx
        .redis()
        .publisher()
        .publish(s.channel, JSON.stringify([metric('cpu', 1), metric('memory', 2)]));
      await expect.poll(() => s.stream.stats().valid).toBe(2);
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      expect(c.packets.map((p) => p.type)).toEqual(['system_metric', 'system_metric', 'snapshot_end']);
      expect(c.packets[2]).toEqual({ type: 'snapshot_end', data: { count: 2 } });
    });

    it('honours ?types= (the count is of what was sent)', async () => {
      const s = await fx.server();
      await fx
        .redis()
        .publisher()
        .publish(
          s.channel,
          JSON.stringify([
            metric('cpu', 1),
            { type: 'container_status', data: { container: 'db', status: 'running', time: new Date().toISOString() } },
          ]),
        );
      await expect.poll(() => s.stream.stats().valid).toBe(2);
      const c = fx.track(await connectOpen(s.wsUrl('api_key=k&types=container_status')));
      expect(c.packets.map((p) => p.type)).toEqual(['container_status', 'snapshot_end']);
      expect(c.packets[1]).toEqual({ type: 'snapshot_end', data: { count: 1 } });
    });
  });
});
