// Tokens for the credential tests, minted by implementations independent of the one under test: Python's
// PyJWT (Debian's python3-jwt) and node:crypto by hand. The stream verifies with jose; neither of these
// shares code with it.
import { spawnSync } from 'node:child_process';
import { createHmac, generateKeyPairSync } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { delimiter, join } from 'node:path';

const INSTALL = 'install Python 3 with PyJWT (Debian: apt-get install python3-jwt; .ci/run does it)';

let python: string | undefined;

/**
 * A Python 3 that can `import jwt`: `$PYTHON` if set, else the first python3/python on PATH that can (a
 * pyenv shim earlier on PATH without PyJWT is passed over). Throws naming what to install.
 */
export function pythonWithJwt(): string {
  if (python !== undefined) return python;
  const canImport = (path: string): boolean => spawnSync(path, ['-c', 'import jwt'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
  const fromEnv = process.env['PYTHON'];
  if (fromEnv) {
    if (!canImport(fromEnv)) throw new Error(`PYTHON=${fromEnv} cannot import jwt: ${INSTALL}`);
    return (python = fromEnv);
  }
  for (const dir of (process.env['PATH'] ?? '').split(delimiter).filter(Boolean)) {
    for (const name of ['python3', 'python']) {
      const path = join(dir, name);
      try {
        accessSync(path, constants.X_OK);
      } catch {
        continue;
      }
      if (canImport(path)) return (python = path);
    }
  }
  throw new Error(`no python3 on PATH can import jwt, and PYTHON is not set: ${INSTALL}`);
}

/** A token minted by PyJWT: `jwt.encode(payload, key, algorithm=alg)`; `key` is a secret or a PEM private key. */
export function mintWithPyJwt(payload: object, key: string, alg = 'HS256'): string {
  const script = 'import jwt, json, sys; print(jwt.encode(json.loads(sys.argv[1]), sys.argv[2], algorithm=sys.argv[3]))';
  const result = spawnSync(pythonWithJwt(), ['-c', script, JSON.stringify(payload), key, alg], { encoding: 'utf8', timeout: 20_000 });
  if (result.status !== 0) throw new Error(`PyJWT failed: ${result.stderr}`);
  return result.stdout.trim();
}

const part = (value: object): string => Buffer.from(JSON.stringify(value)).toString('base64url');

/** An HS256 token built by hand with node:crypto (RFC 7519 §3.1). */
export function mintHs256(payload: object, secret: string): string {
  const signingInput = `${part({ alg: 'HS256', typ: 'JWT' })}.${part(payload)}`;
  return `${signingInput}.${createHmac('sha256', secret).update(signingInput).digest('base64url')}`;
}

/** An unsecured token (`alg: none`, empty signature), as an attacker would send it. */
export const mintAlgNone = (payload: object): string => `${part({ alg: 'none', typ: 'JWT' })}.${part(payload)}.`;

/** Epoch seconds `seconds` from now (whole seconds, as `exp` is). */
export const inSeconds = (seconds: number): number => Math.floor(Date.now() / 1000) + seconds;

/** A fresh RSA key pair as PEM (SPKI public, PKCS#8 private). */
export function rsaPem(): { publicKey: string; privateKey: string } {
  return generateKeyPairSync('rsa', {
    modulusLength: 2048,
    publicKeyEncoding: { type: 'spki', format: 'pem' },
    privateKeyEncoding: { type: 'pkcs8', format: 'pem' },
  });
}
