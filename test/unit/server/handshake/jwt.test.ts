import { EventEmitter } from 'node:events';
import { generateKeyPairSync } from 'node:crypto';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { CloseCode } from '../../../../src/protocol/close-codes.js';
import type { IncomingMessage } from 'node:http';
import { createAuthenticator, type AuthResult } from '../../../../src/server/handshake/auth.js';
import { createJwtVerifier, isJwtShaped, jwtOption } from '../../../../src/server/handshake/jwt.js';
import { parseStreamRequest } from '../../../../src/server/handshake/request.js';
import type { SystemStreamOptions } from '../../../../src/server/options.js';
import { createSessionRegistry, EXPIRED_REASON, REVOKED_REASON } from '../../../../src/server/handshake/session-expiry.js';
import { resolveOptions } from '../../../../src/server/options.js';
import { noopLogger } from '../../../../src/shared/logger.js';
import { recordingLogger } from '../../../helpers/logger.js';
import { inSeconds, mintAlgNone, mintHs256 } from '../../../helpers/jwt-tokens.js';

const SECRET = 'a-unit-test-secret-of-32-bytes-or-more';

describe('jwtOption', () => {
  it('needs exactly one of secret and publicKey', () => {
    expect(() => jwtOption({})).toThrow(/exactly one of `secret`/);
    const { publicKey } = generateKeyPairSync('ed25519', { publicKeyEncoding: { type: 'spki', format: 'pem' } } as never) as unknown as {
      publicKey: string;
    };
    expect(() => jwtOption({ secret: SECRET, publicKey })).toThrow(/exactly one of `secret`/);
  });

  it('refuses a secret under 32 bytes without echoing it', () => {
    let message = '';
    try {
      jwtOption({ secret: 'short-secret-value' });
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toMatch(/at least 32 bytes .* got 18 bytes/);
    expect(message).not.toContain('short-secret-value');
  });

  it('derives the algorithms from the key and refuses algorithms of another family', () => {
    expect(jwtOption({ secret: SECRET })?.algorithms).toEqual(['HS256', 'HS384', 'HS512']);
    const ec = generateKeyPairSync('ec', { namedCurve: 'P-256' }).publicKey.export({ type: 'spki', format: 'pem' }) as string;
    expect(jwtOption({ publicKey: ec })?.algorithms).toEqual(['ES256']);
    expect(() => jwtOption({ secret: SECRET, algorithms: ['RS256'] })).toThrow(/lists "RS256", which this key cannot verify/);
    expect(() => jwtOption({ publicKey: ec, algorithms: ['HS256'] })).toThrow(/cannot verify; it can verify ES256/);
    expect(() => jwtOption({ secret: SECRET, algorithms: ['none'] })).toThrow(/cannot verify/);
  });

  it('refuses what is not a public key, unknown fields and a bad tolerance', () => {
    expect(() => jwtOption({ publicKey: 'not a pem' })).toThrow(/PEM public key/);
    expect(() => jwtOption({ secret: SECRET, issuer: '' })).toThrow(/jwt.issuer/);
    expect(() => jwtOption({ secret: SECRET, clockTolerance: 5 })).toThrow(/Unknown option `jwt.clockTolerance`/);
    expect(() => jwtOption({ secret: SECRET, clockToleranceMs: -1 })).toThrow(/clockToleranceMs/);
  });

  it('is checked by resolveOptions, and counts as authentication', () => {
    expect(resolveOptions({ jwt: { secret: SECRET } }).authRequired).toBe(true);
    expect(() => resolveOptions({ jwt: { secret: 'x' } })).toThrow(/SST_ERR_INVALID_OPTION|at least 32 bytes/);
    expect(() => resolveOptions({ jwt: { secret: SECRET }, auth: false })).toThrow(/contradicts/);
  });
});

describe('createJwtVerifier', () => {
  const verify = createJwtVerifier(jwtOption({ secret: SECRET, clockToleranceMs: 2000 })!, noopLogger);

  it('recognises the shape of a JWT, alg: none included', () => {
    expect(isJwtShaped(mintHs256({ exp: 1 }, SECRET))).toBe(true);
    expect(isJwtShaped(mintAlgNone({ exp: 1 }))).toBe(true);
    expect(isJwtShaped('an-api-key')).toBe(false);
    expect(isJwtShaped('a.b')).toBe(false);
  });

  it('grants what the types and sources claims say, until exp plus the tolerance', async () => {
    const exp = inSeconds(60);
    expect(await verify(mintHs256({ exp, types: ['alert', 'nope'], sources: ['web-1'] }, SECRET))).toEqual({
      types: new Set(['alert']),
      sources: new Set(['web-1']),
      expiresAtMs: exp * 1000 + 2000,
    });
    expect(await verify(mintHs256({ exp }, SECRET))).toEqual({ types: null, sources: undefined, expiresAtMs: exp * 1000 + 2000 });
  });

  it('refuses alg: none, a missing exp, claims of the wrong shape and a token not yet valid, logging only a code', async () => {
    const logger = recordingLogger();
    const strict = createJwtVerifier(jwtOption({ secret: SECRET, issuer: 'api', audience: 'dashboard' })!, logger);
    const exp = inSeconds(60);
    const refused = [
      mintAlgNone({ exp, iss: 'api', aud: 'dashboard' }),
      mintHs256({ iss: 'api', aud: 'dashboard' }, SECRET),
      mintHs256({ exp, iss: 'api', aud: 'dashboard', types: 'alert' }, SECRET),
      mintHs256({ exp, iss: 'api', aud: 'dashboard', sources: [1] }, SECRET),
      mintHs256({ exp, iss: 'api', aud: 'dashboard', nbf: inSeconds(30) }, SECRET),
      mintHs256({ exp, iss: 'other', aud: 'dashboard' }, SECRET),
      mintHs256({ exp, iss: 'api', aud: 'other' }, SECRET),
    ];
    for (const token of refused) expect(await strict(token)).toBeNull();
    expect(await strict(mintHs256({ exp, iss: 'api', aud: 'dashboard' }, SECRET))).not.toBeNull();
    expect(logger.lines.map((l) => (l.obj as { code?: string }).code)).toEqual([
      'ERR_JOSE_ALG_NOT_ALLOWED',
      'ERR_JWT_CLAIM_VALIDATION_FAILED',
      'ERR_CLAIM_INVALID',
      'ERR_CLAIM_INVALID',
      'ERR_JWT_CLAIM_VALIDATION_FAILED',
      'ERR_JWT_CLAIM_VALIDATION_FAILED',
      'ERR_JWT_CLAIM_VALIDATION_FAILED',
    ]);
    for (const token of refused) expect(logger.dump()).not.toContain(token.split('.')[1]);
  });
});

describe('createAuthenticator: what a session depends on', () => {
  const authenticate = (options: SystemStreamOptions, headers: Record<string, string> = {}): AuthResult | Promise<AuthResult> =>
    createAuthenticator(resolveOptions(options))(parseStreamRequest({ url: '/api/system/ws', headers } as unknown as IncomingMessage));

  it('remembers the key a session was let in with (as a digest id, never the key)', () => {
    const result = authenticate({ apiKeys: ['the-key'] }, { 'x-api-key': 'the-key' }) as AuthResult;
    expect(result.ok && result.session?.keyId).toMatch(/^[0-9a-f]{64}$/);
    expect(JSON.stringify(result)).not.toContain('the-key');
  });

  it("takes an authenticate() grant's expiresAt as epoch ms or a Date, and refuses one past, or not a time", async () => {
    const at = Date.now() + 60_000;
    const grant = (expiresAt: unknown): Promise<AuthResult> =>
      Promise.resolve(authenticate({ authenticate: () => ({ types: ['alert'], expiresAt }) as never })) as Promise<AuthResult>;
    expect(await grant(at)).toMatchObject({ ok: true, session: { expiresAtMs: at } });
    expect(await grant(new Date(at))).toMatchObject({ ok: true, session: { expiresAtMs: at } });
    for (const bad of [Date.now() - 1, new Date(NaN), 'tomorrow', Infinity, null])
      expect(await grant(bad)).toMatchObject({ ok: false, status: 401 });
    expect(await grant(undefined)).toEqual({ ok: true, grant: { types: new Set(['alert']) } });
  });

  it('lets a token through only with the jwt option, and hands an unverifiable one to the hook', async () => {
    const exp = inSeconds(60);
    const token = mintHs256({ exp }, SECRET);
    expect(await authenticate({ apiKeys: ['k'] }, { authorization: `Bearer ${token}` })).toMatchObject({ ok: false, status: 401 });
    expect(await authenticate({ jwt: { secret: SECRET } }, { authorization: `Bearer ${token}` })).toMatchObject({
      ok: true,
      session: { expiresAtMs: exp * 1000 },
    });
    const forged = mintHs256({ exp: inSeconds(60) }, 'not-the-secret-but-just-as-long-as-it!');
    const viaHook = authenticate(
      { jwt: { secret: SECRET }, authenticate: (req) => req.headers.cookie === 'ok' },
      { authorization: `Bearer ${forged}`, cookie: 'ok' },
    );
    expect(await viaHook).toEqual({ ok: true, grant: { types: null } });
  });
});

describe('createSessionRegistry', () => {
  class FakeSocket extends EventEmitter {
    closedWith: [number, string] | null = null;
    close(code: number, reason: string): void {
      this.closedWith = [code, reason];
      queueMicrotask(() => this.emit('close'));
    }
  }

  beforeEach(() => {
    vi.useFakeTimers({ now: 1_000_000 });
  });
  afterEach(() => {
    vi.useRealTimers();
  });

  it('closes each session at its deadline with 4440, with one timer for all of them', () => {
    const registry = createSessionRegistry(noopLogger);
    const sockets = [3000, 1000, 2000, 1000].map((inMs) => {
      const socket = new FakeSocket();
      registry.track(socket, { expiresAtMs: Date.now() + inMs });
      return socket;
    });
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(999);
    expect(sockets.map((s) => s.closedWith)).toEqual([null, null, null, null]);
    vi.advanceTimersByTime(1);
    expect(sockets.map((s) => s.closedWith?.[0] ?? null)).toEqual([null, CloseCode.CredentialsExpired, null, CloseCode.CredentialsExpired]);
    expect(sockets[1]?.closedWith?.[1]).toBe(EXPIRED_REASON);
    expect(vi.getTimerCount()).toBe(1);
    vi.advanceTimersByTime(2000);
    expect(sockets.every((s) => s.closedWith?.[0] === CloseCode.CredentialsExpired)).toBe(true);
    expect(registry.size).toBe(0);
    expect(vi.getTimerCount()).toBe(0);
  });

  it('forgets a session that closes first, and re-arms for the next deadline', () => {
    const registry = createSessionRegistry(noopLogger);
    const first = new FakeSocket();
    const second = new FakeSocket();
    registry.track(first, { expiresAtMs: Date.now() + 1000 });
    registry.track(second, { expiresAtMs: Date.now() + 5000 });
    first.emit('close');
    expect(registry.size).toBe(1);
    vi.advanceTimersByTime(4999);
    expect(second.closedWith).toBeNull();
    vi.advanceTimersByTime(1);
    expect(second.closedWith?.[0]).toBe(CloseCode.CredentialsExpired);
  });

  it('closes the sessions of keys no longer accepted with 4401, and follows nothing else', () => {
    const registry = createSessionRegistry(noopLogger);
    const [a, b, c, plain] = [new FakeSocket(), new FakeSocket(), new FakeSocket(), new FakeSocket()];
    registry.track(a, { keyId: 'old' });
    registry.track(b, { keyId: 'old' });
    registry.track(c, { keyId: 'kept' });
    registry.track(plain, undefined);
    expect(registry.size).toBe(3);
    expect(vi.getTimerCount()).toBe(0);
    expect(registry.revokeKeys((id) => id === 'kept')).toBe(2);
    expect([a, b, c].map((s) => s.closedWith)).toEqual([
      [CloseCode.Unauthorized, REVOKED_REASON],
      [CloseCode.Unauthorized, REVOKED_REASON],
      null,
    ]);
    expect(registry.size).toBe(1);
  });
});
