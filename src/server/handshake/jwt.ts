// JSON Web Tokens as stream credentials: the `jwt` option's check (at attach) and the verifier a stream
// builds from it. `jose` is loaded with a dynamic import only when the option is set, so streams without
// tokens never load it; the import starts at attach and the first verifications wait for it.
import { createPublicKey, createSecretKey, KeyObject } from 'node:crypto';
import { describeValue, invalidOption } from '../../shared/errors.js';
import type { Logger } from '../../shared/logger.js';
import { isEnvelopeType, type EnvelopeType } from '../../protocol/wire.js';

/** The longest token verified, in bytes; longer credentials are refused without parsing. */
export const MAX_JWT_BYTES = 8192;
/** The shortest HMAC secret accepted, in bytes (RFC 7518 §3.2: at least the hash's size, 256 bits for HS256). */
const MIN_SECRET_BYTES = 32;
/** Three base64url parts; the third is empty for `alg: none`, which is verified (and refused) like any other. */
const JWT_SHAPE = /^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$/;

const HMAC_ALGORITHMS = ['HS256', 'HS384', 'HS512'] as const;
const RSA_ALGORITHMS = ['RS256', 'RS384', 'RS512', 'PS256', 'PS384', 'PS512'] as const;
/** By the curve's name as node:crypto reports it (OpenSSL's). */
const EC_ALGORITHMS: Readonly<Record<string, string>> = { prime256v1: 'ES256', secp384r1: 'ES384', secp521r1: 'ES512' };
const EDDSA_ALGORITHMS = ['EdDSA', 'Ed25519'] as const;

/** The `jwt` option after its checks: the key as a KeyObject and the algorithms it may verify. @internal */
export interface ResolvedJwt {
  readonly key: KeyObject;
  readonly algorithms: readonly string[];
  readonly issuer: string | readonly string[] | undefined;
  readonly audience: string | readonly string[] | undefined;
  readonly clockToleranceMs: number;
}

/** Whether `credential` has the shape of a JWT (three base64url parts separated by dots). */
export const isJwtShaped = (credential: string): boolean => credential.length <= MAX_JWT_BYTES && JWT_SHAPE.test(credential);

/**
 * Checks the `jwt` option once: a `secret` (string or bytes, at least 32 bytes) for HS256/384/512, or a
 * `publicKey` (PEM or KeyObject) for RSA, EC (P-256/384/521) or Ed25519, never both; `algorithms`, when
 * given, must all belong to that key's family, which is what stops algorithm confusion (an HMAC "signed"
 * with a public key's text, or `alg: none`). Throws `SST_ERR_INVALID_OPTION` naming the field; never
 * repeats the secret or the key.
 */
export function jwtOption(value: unknown): ResolvedJwt | undefined {
  if (value === undefined) return undefined;
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw invalidOption(`Expected \`jwt\` to be an object with \`secret\` or \`publicKey\`, got ${describeValue(value)}`);
  }
  const known = new Set(['secret', 'publicKey', 'algorithms', 'issuer', 'audience', 'clockToleranceMs']);
  const unknown = Object.keys(value).find((name) => !known.has(name));
  if (unknown !== undefined) throw invalidOption(`Unknown option \`jwt.${unknown}\`; known: ${[...known].join(', ')}`);
  const o = value as Record<string, unknown>;
  if ((o['secret'] === undefined) === (o['publicKey'] === undefined)) {
    throw invalidOption('Expected `jwt` to have exactly one of `secret` (HS256/384/512) and `publicKey` (PEM: RS256, ES256, EdDSA, …)');
  }
  const { key, family } = o['secret'] !== undefined ? secretKey(o['secret']) : publicKey(o['publicKey']);
  const algorithms = algorithmsOption(o['algorithms'], family);
  const clockToleranceMs = o['clockToleranceMs'] ?? 0;
  if (typeof clockToleranceMs !== 'number' || !Number.isInteger(clockToleranceMs) || clockToleranceMs < 0 || clockToleranceMs > 600_000) {
    throw invalidOption(`Expected \`jwt.clockToleranceMs\` to be an integer from 0 to 600000, got ${describeValue(clockToleranceMs)}`);
  }
  return Object.freeze({
    key,
    algorithms,
    issuer: claimOption('issuer', o['issuer']),
    audience: claimOption('audience', o['audience']),
    clockToleranceMs,
  });
}

function secretKey(secret: unknown): { key: KeyObject; family: readonly string[] } {
  const bytes = typeof secret === 'string' ? Buffer.from(secret, 'utf8') : secret instanceof Uint8Array ? Buffer.from(secret) : null;
  if (bytes === null) throw invalidOption(`Expected \`jwt.secret\` to be a string or a Uint8Array, got ${describeValue(typeof secret)}`);
  if (bytes.length < MIN_SECRET_BYTES) {
    throw invalidOption(`Expected \`jwt.secret\` to be at least ${MIN_SECRET_BYTES} bytes (256 bits), got ${bytes.length} bytes`);
  }
  return { key: createSecretKey(bytes), family: HMAC_ALGORITHMS };
}

function publicKey(pem: unknown): { key: KeyObject; family: readonly string[] } {
  let key: KeyObject;
  if (pem instanceof KeyObject) {
    key = pem;
  } else if (typeof pem === 'string') {
    try {
      key = createPublicKey(pem);
    } catch (error) {
      const reason = error instanceof Error ? error.message : 'unreadable';
      throw invalidOption(`Expected \`jwt.publicKey\` to be a PEM public key (SPKI or PKCS#1); node:crypto could not read it: ${reason}`);
    }
  } else {
    throw invalidOption(`Expected \`jwt.publicKey\` to be a PEM string or a KeyObject, got ${describeValue(typeof pem)}`);
  }
  if (key.type !== 'public') throw invalidOption(`Expected \`jwt.publicKey\` to be a public key, got a ${key.type} key`);
  const type = key.asymmetricKeyType;
  if (type === 'rsa' || type === 'rsa-pss') return { key, family: RSA_ALGORITHMS };
  if (type === 'ed25519') return { key, family: EDDSA_ALGORITHMS };
  const curve = type === 'ec' ? EC_ALGORITHMS[key.asymmetricKeyDetails?.namedCurve ?? ''] : undefined;
  if (curve !== undefined) return { key, family: [curve] };
  throw invalidOption(`Expected \`jwt.publicKey\` to be an RSA, EC (P-256, P-384, P-521) or Ed25519 key, got ${String(type)}`);
}

function algorithmsOption(value: unknown, family: readonly string[]): readonly string[] {
  if (value === undefined) return family;
  if (!Array.isArray(value) || value.length === 0 || !value.every((a) => typeof a === 'string')) {
    throw invalidOption(`Expected \`jwt.algorithms\` to be a non-empty array of algorithm names, got ${describeValue(value)}`);
  }
  const foreign = value.find((a) => !family.includes(a as string));
  if (foreign !== undefined) {
    throw invalidOption(
      `\`jwt.algorithms\` lists ${JSON.stringify(foreign)}, which this key cannot verify; it can verify ${family.join(', ')}`,
    );
  }
  return [...(value as string[])];
}

function claimOption(name: string, value: unknown): string | readonly string[] | undefined {
  if (value === undefined) return undefined;
  const isText = (v: unknown): boolean => typeof v === 'string' && v.length > 0;
  if (isText(value)) return value as string;
  if (Array.isArray(value) && value.length > 0 && value.every(isText)) return [...(value as string[])];
  throw invalidOption(`Expected \`jwt.${name}\` to be a non-empty string or array of strings, got ${describeValue(value)}`);
}

/** A verified token: what it grants and when it ends. */
export interface VerifiedToken {
  readonly types: ReadonlySet<EnvelopeType> | null;
  readonly sources: ReadonlySet<string> | undefined;
  /** `exp` (plus the clock tolerance), in epoch milliseconds: the session ends then. */
  readonly expiresAtMs: number;
}

/** Verifies a token; resolves `null` when it is not valid (never rejects). */
export type JwtVerifier = (token: string) => Promise<VerifiedToken | null>;

type Jose = typeof import('jose');

/**
 * The verifier of one stream. It starts loading `jose` now; verifications wait for it. A token passes when
 * its signature verifies with one of `algorithms`, it has `exp` and the time is before it (and after `nbf`),
 * `iss` and `aud` match when configured, and its optional `types` and `sources` claims are arrays of strings.
 * Why a token failed is logged at `debug` as jose's error code, never the token.
 */
export function createJwtVerifier(o: ResolvedJwt, logger: Logger): JwtVerifier {
  const jose: Promise<Jose | null> = import('jose').catch((error: unknown) => {
    logger.error({ err: error }, 'jwt: the jose package could not be loaded; every token is refused');
    return null;
  });
  jose.catch(() => {}); // never rejects; keeps an unawaited import from being reported
  const verifyOptions = {
    algorithms: [...o.algorithms],
    ...(o.issuer === undefined ? {} : { issuer: o.issuer as string | string[] }),
    ...(o.audience === undefined ? {} : { audience: o.audience as string | string[] }),
    clockTolerance: o.clockToleranceMs / 1000,
    requiredClaims: ['exp'],
  };
  return async (token) => {
    const lib = await jose;
    if (lib === null) return null;
    let payload: Record<string, unknown>;
    try {
      ({ payload } = await lib.jwtVerify(token, o.key, verifyOptions));
    } catch (error) {
      logger.debug({ event: 'jwt_refused', code: (error as { code?: unknown }).code ?? 'ERR_UNKNOWN' }, 'token refused');
      return null;
    }
    const { exp, types, sources } = payload as { exp?: unknown; types?: unknown; sources?: unknown };
    if (typeof exp !== 'number' || !Number.isFinite(exp)) return null; // jose checked it: only a defence in depth
    if (types !== undefined && !isStringArray(types)) return refusedClaim(logger, 'types');
    if (sources !== undefined && !isStringArray(sources)) return refusedClaim(logger, 'sources');
    return {
      types: types === undefined ? null : new Set(types.filter((t): t is EnvelopeType => isEnvelopeType(t))),
      sources: sources === undefined ? undefined : new Set(sources),
      expiresAtMs: exp * 1000 + o.clockToleranceMs,
    };
  };
}

const isStringArray = (value: unknown): value is string[] => Array.isArray(value) && value.every((v) => typeof v === 'string');

function refusedClaim(logger: Logger, claim: string): null {
  logger.debug({ event: 'jwt_refused', code: 'ERR_CLAIM_INVALID', claim }, 'token refused');
  return null;
}
