// Credentials end to end: JSON Web Tokens minted by PyJWT and by node:crypto by hand (implementations
// independent of jose, which the stream verifies with), sessions closed when their token or grant expires,
// API keys replaced at runtime, and a StreamManager that renews its token across expiries without a gap.
import { generateKeyPairSync, type KeyObject } from 'node:crypto';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { CloseCode } from '../../src/protocol/close-codes.js';
import { keyProtocol, PROTOCOL_V1, type SystemMetricMessage } from '../../src/protocol/wire.js';
import { StreamManager } from '../../src/client/stream-manager.js';
import type { StreamStatus } from '../../src/client/types.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { metric } from '../helpers/fixtures.js';
import { connect, connectOpen, expectRefused } from '../helpers/ws-client.js';
import { recordingLogger } from '../helpers/logger.js';
import { inSeconds, mintAlgNone, mintHs256, mintWithPyJwt, rsaPem } from '../helpers/jwt-tokens.js';

const SECRET = 'a-test-secret-of-at-least-32-bytes!!';
const bearer = (token: string): { headers: Record<string, string> } => ({ headers: { authorization: `Bearer ${token}` } });

describe('credentials', () => {
  const fx = useStreamFixtures();

  describe('option: jwt', () => {
    it('accepts an HS256 token from PyJWT as Bearer, and one made with node:crypto as the key subprotocol', async () => {
      const s = await fx.server({ jwt: { secret: SECRET } });
      const fromPython = mintWithPyJwt({ sub: 'dashboard', exp: inSeconds(60) }, SECRET);
      fx.track(await connectOpen(s.wsUrl(), bearer(fromPython)));
      const byHand = mintHs256({ sub: 'dashboard', exp: inSeconds(60) }, SECRET);
      fx.track(await connectOpen(s.wsUrl(), { protocols: [PROTOCOL_V1, keyProtocol(byHand)] }));
      expect(s.stream.stats().clients).toBe(2);
    });

    it('refuses with 401 expired, wrongly signed, alg: none and exp-less tokens, and never logs one', async () => {
      const logger = recordingLogger();
      const s = await fx.server({ jwt: { secret: SECRET }, logger });
      const tokens = {
        expired: mintWithPyJwt({ sub: 'd', exp: inSeconds(-5) }, SECRET),
        wrongSignature: mintWithPyJwt({ sub: 'd', exp: inSeconds(60) }, 'another-secret-of-at-least-32-bytes!!'),
        algNone: mintAlgNone({ sub: 'd', exp: inSeconds(60) }),
        withoutExp: mintWithPyJwt({ sub: 'd' }, SECRET),
        byHandWithoutExp: mintHs256({ sub: 'd' }, SECRET),
      };
      for (const [name, token] of Object.entries(tokens)) {
        const bearerStatus = (await expectRefused(s.wsUrl(), bearer(token))).status;
        const protocolStatus = (await expectRefused(s.wsUrl(), { protocols: [PROTOCOL_V1, keyProtocol(token)] })).status;
        expect({ name, bearerStatus, protocolStatus }).toEqual({ name, bearerStatus: 401, protocolStatus: 401 });
      }
      expect(s.stream.stats()).toMatchObject({ clients: 0, rejected: 10 });
      const logged = logger.dump();
      for (const token of Object.values(tokens)) {
        for (const part of token.split('.').filter((p) => p.length > 8)) expect(logged).not.toContain(part);
      }
    });

    it('refuses algorithm confusion: an HS256 token keyed with the RS256 public key', async () => {
      const { publicKey, privateKey } = rsaPem();
      const s = await fx.server({ jwt: { publicKey } });
      fx.track(await connectOpen(s.wsUrl(), bearer(mintWithPyJwt({ exp: inSeconds(60) }, privateKey, 'RS256'))));
      const confused = mintHs256({ exp: inSeconds(60) }, publicKey);
      expect((await expectRefused(s.wsUrl(), bearer(confused))).status).toBe(401);
    });

    it('accepts ES256 and EdDSA tokens from PyJWT with the matching public key, and refuses an HS256 token there', async () => {
      const pem = (pair: { publicKey: KeyObject; privateKey: KeyObject }): { publicKey: string; privateKey: string } => ({
        publicKey: pair.publicKey.export({ type: 'spki', format: 'pem' }) as string,
        privateKey: pair.privateKey.export({ type: 'pkcs8', format: 'pem' }) as string,
      });
      const pairs = [
        ['ES256', pem(generateKeyPairSync('ec', { namedCurve: 'P-256' }))],
        ['EdDSA', pem(generateKeyPairSync('ed25519'))],
      ] as const;
      for (const [alg, pair] of pairs) {
        const s = await fx.server({ jwt: { publicKey: pair.publicKey } });
        fx.track(await connectOpen(s.wsUrl(), bearer(mintWithPyJwt({ exp: inSeconds(60) }, pair.privateKey, alg))));
        const token = mintWithPyJwt({ exp: inSeconds(60) }, SECRET);
        expect((await expectRefused(s.wsUrl(`api_key=${token}`))).status).toBe(401);
      }
    });

    it('narrows what arrives to the sources claim, in the snapshot and live', async () => {
      const s = await fx.server({ jwt: { secret: SECRET }, throttleMs: 0 });
      const publisher = fx.redis().publisher();
      await publisher.publish(s.channel, JSON.stringify(metric('cpu', 1, 'host-a')));
      await publisher.publish(s.channel, JSON.stringify(metric('cpu', 2, 'host-b')));
      const token = mintWithPyJwt({ exp: inSeconds(60), sources: ['host-a'], types: ['system_metric'] }, SECRET);
      const client = fx.track(connect(s.wsUrl(), bearer(token)));
      await client.waitFor((p) => p.type === 'snapshot_end');
      await publisher.publish(s.channel, JSON.stringify(metric('cpu', 3, 'host-b')));
      await publisher.publish(s.channel, JSON.stringify(metric('cpu', 4, 'host-a')));
      await client.waitFor((p) => p.type === 'system_metric' && p.data.value === 4);
      const seen = client.packets.filter((p): p is SystemMetricMessage => p.type === 'system_metric').map((p) => p.data.source);
      expect(new Set(seen)).toEqual(new Set(['host-a']));
    });

    it('lets apiKeys, jwt and authenticate combine: any one passes', async () => {
      const s = await fx.server({
        apiKeys: ['k'],
        jwt: { secret: SECRET },
        authenticate: (req) => req.headers.cookie === 'session=ok',
      });
      fx.track(await connectOpen(s.wsUrl('api_key=k')));
      fx.track(await connectOpen(s.wsUrl(), bearer(mintHs256({ exp: inSeconds(60) }, SECRET))));
      fx.track(await connectOpen(s.wsUrl(`api_key=${mintHs256({ exp: inSeconds(60) }, SECRET)}`)));
      fx.track(await connectOpen(s.wsUrl(), { headers: { 'x-api-key': mintWithPyJwt({ exp: inSeconds(60) }, SECRET) } }));
      fx.track(await connectOpen(s.wsUrl(), { headers: { cookie: 'session=ok' } }));
      expect((await expectRefused(s.wsUrl(), bearer(mintHs256({ exp: inSeconds(-1) }, SECRET)))).status).toBe(401);
      const snapshot = await request(s.httpUrl)
        .get('/api/system/snapshot')
        .set('authorization', `Bearer ${mintHs256({ exp: inSeconds(60) }, SECRET)}`);
      expect(snapshot.status).toBe(200);
    });
  });

  describe('expiry', () => {
    it('closes a live connection when its token expires, with 4440, within 1 s of exp', async () => {
      const s = await fx.server({ jwt: { secret: SECRET } });
      const exp = inSeconds(2);
      const client = fx.track(await connectOpen(s.wsUrl(), bearer(mintWithPyJwt({ exp }, SECRET))));
      const closed = await client.waitForClose(5000);
      const lateMs = Date.now() - exp * 1000;
      expect(closed).toEqual({ code: CloseCode.CredentialsExpired, reason: 'credentials expired: renew and reconnect' });
      expect(Math.abs(lateMs)).toBeLessThan(1000);
      console.log(`closed ${lateMs} ms after exp`);
    });

    it('closes a connection when the expiresAt of its authenticate() grant passes (a Date or epoch ms)', async () => {
      const s = await fx.server({
        authenticate: (req) => ({
          types: ['system_metric'],
          expiresAt: req.headers['x-as'] === 'date' ? new Date(Date.now() + 800) : Date.now() + 600,
        }),
      });
      const asDate = fx.track(await connectOpen(s.wsUrl(), { headers: { 'x-as': 'date' } }));
      const asMs = fx.track(await connectOpen(s.wsUrl()));
      const [a, b] = await Promise.all([asDate.waitForClose(3000), asMs.waitForClose(3000)]);
      expect(a.code).toBe(CloseCode.CredentialsExpired);
      expect(b.code).toBe(CloseCode.CredentialsExpired);
      expect(s.stream.stats()).toMatchObject({ sessionsExpired: 2, sessionsRevoked: 0 });
    });

    it('leaves connections opened with an API key alone', async () => {
      const s = await fx.server({ apiKeys: ['k'], jwt: { secret: SECRET } });
      const keyed = fx.track(await connectOpen(s.wsUrl('api_key=k')));
      const tokened = fx.track(await connectOpen(s.wsUrl(), bearer(mintHs256({ exp: inSeconds(1) }, SECRET))));
      await tokened.waitForClose(3000);
      expect(keyed.ws.readyState).toBe(WebSocket.OPEN);
    });
  });

  describe('stream.setApiKeys', () => {
    it('closes the sessions of a removed key with 4401 within 1 s, and every request uses the new keys at once', async () => {
      const s = await fx.server({ apiKeys: ['old', 'kept'], metrics: true });
      const old = [
        fx.track(await connectOpen(s.wsUrl('api_key=old'))),
        fx.track(await connectOpen(s.wsUrl(), { headers: { 'x-api-key': 'old' } })),
      ];
      const kept = fx.track(await connectOpen(s.wsUrl('api_key=kept')));
      const replacedAt = Date.now();
      s.stream.setApiKeys(['kept', 'new']);
      const closes = await Promise.all(old.map((c) => c.waitForClose(1000)));
      const tookMs = Date.now() - replacedAt;
      for (const close of closes) expect(close).toEqual({ code: CloseCode.Unauthorized, reason: 'API key revoked' });
      expect(tookMs).toBeLessThan(1000);
      console.log(`removed key's sessions closed ${tookMs} ms after setApiKeys()`);
      expect(kept.ws.readyState).toBe(WebSocket.OPEN);
      expect(s.stream.stats()).toMatchObject({ sessionsRevoked: 2, sessionsExpired: 0 });

      expect((await expectRefused(s.wsUrl('api_key=old'))).status).toBe(401);
      fx.track(await connectOpen(s.wsUrl('api_key=new')));
      expect((await request(s.httpUrl).get('/api/system/snapshot').set('x-api-key', 'old')).status).toBe(401);
      expect((await request(s.httpUrl).get('/api/system/snapshot').set('x-api-key', 'new')).status).toBe(200);
      expect((await request(s.httpUrl).get('/api/system/metrics').set('authorization', 'Bearer old')).status).toBe(401);
      expect((await request(s.httpUrl).get('/api/system/metrics').set('authorization', 'Bearer new')).status).toBe(200);
    });

    it('checks the keys like the option and changes nothing for a bad list', async () => {
      const s = await fx.server({ apiKeys: ['k'] });
      expect(() => s.stream.setApiKeys(['ok', ''])).toThrow(/non-empty strings/);
      expect(() => s.stream.setApiKeys(['x'.repeat(513)])).toThrow(/at most 512 bytes/);
      expect(() => s.stream.setApiKeys('k' as never)).toThrow(/SST_ERR_INVALID_OPTION|array/);
      fx.track(await connectOpen(s.wsUrl('api_key=k')));
    });
  });

  describe('StreamManager with a token provider', () => {
    it('crosses three expiries while values are published every 100 ms and passes each value on exactly once', async () => {
      const s = await fx.server({ jwt: { secret: SECRET }, throttleMs: 0 });
      const publisher = fx.redis().publisher();
      let provided = 0;
      const manager = new StreamManager({
        url: s.wsUrl(),
        WebSocket,
        authCheckUrl: false,
        // Tokens of 2 to 3 s (exp is in whole seconds), minted by hand as another backend would.
        apiKey: () => {
          provided++;
          return mintHs256({ sub: 'dashboard', exp: inSeconds(3) }, SECRET);
        },
      });
      fx.defer(() => manager.close());
      const values: number[] = [];
      const states: StreamStatus[] = [];
      manager.on('system_metric', (e) => values.push(e.data.value));
      manager.on('state', (st) => states.push(st));
      const opened = new Promise<void>((resolve) => manager.on('state', (st) => st.state === 'open' && resolve()));
      manager.connect();
      await opened;

      let published = 0;
      const expiries = (): number => states.filter((st) => st.code === CloseCode.CredentialsExpired).length;
      const startedAt = Date.now();
      while (expiries() < 3 && Date.now() - startedAt < 20_000) {
        const at = Date.now();
        await publisher.publish(s.channel, JSON.stringify(metric('cpu', ++published, 'host', new Date(at).toISOString())));
        await new Promise((resolve) => setTimeout(resolve, Math.max(0, 100 - (Date.now() - at))));
      }
      // Two more after the last expiry, then wait for the last to arrive.
      for (let i = 0; i < 2; i++) await publisher.publish(s.channel, JSON.stringify(metric('cpu', ++published, 'host')));
      const deadline = Date.now() + 5000;
      while (values.at(-1) !== published && Date.now() < deadline) await new Promise((resolve) => setTimeout(resolve, 20));

      expect(expiries()).toBeGreaterThanOrEqual(3);
      expect(values).toEqual(Array.from({ length: published }, (_, i) => i + 1));
      expect(provided).toBeGreaterThanOrEqual(4);
      // No backoff step: after an expiry the manager goes straight to connecting, never to reconnecting.
      expect(states.filter((st) => st.state === 'reconnecting')).toEqual([]);
      console.log(`${published} values over ${expiries()} expiries, ${provided} tokens, in ${Date.now() - startedAt} ms`);
    }, 30_000);

    it('is reconnecting with backoff and a clear reason when the provider throws or returns nothing', async () => {
      const s = await fx.server({ jwt: { secret: SECRET } });
      for (const provider of [
        () => {
          throw new Error('token service down');
        },
        () => Promise.reject(new Error('token service down')),
        () => '' as string,
        () => undefined as unknown as string,
      ]) {
        const manager = new StreamManager({ url: s.wsUrl(), WebSocket, authCheckUrl: false, apiKey: provider, backoffMs: [60_000] });
        fx.defer(() => manager.close());
        const reconnecting = new Promise<StreamStatus>((resolve) =>
          manager.on('state', (st) => st.state === 'reconnecting' && resolve(st)),
        );
        manager.connect();
        const status = await reconnecting;
        expect(status.attempt).toBe(1);
        expect(status.nextAttemptAt).toBeGreaterThan(Date.now() + 50_000);
        expect(status.reason).toMatch(/^the apiKey function (failed: token service down|returned no key)$/);
        await manager.close();
      }
      expect(s.stream.stats().clients).toBe(0);
    });
  });
});
