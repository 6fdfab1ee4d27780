import type { IncomingMessage } from 'node:http';
import { Duplex } from 'node:stream';
import { describe, expect, it } from 'vitest';
import type { Admission } from '../../../../src/server/handshake/admission.js';
import type { Refusal } from '../../../../src/server/handshake/outcomes.js';
import { createUpgradeHandler, type UpgradeHandlerOptions } from '../../../../src/server/handshake/upgrade.js';
import { noopLogger } from '../../../../src/shared/logger.js';

/** A socket that records what is written to it; enough of net.Socket for ws to complete a handshake on it. */
class FakeSocket extends Duplex {
  written = '';
  override _read(): void {}
  override _write(chunk: Buffer, _encoding: BufferEncoding, done: () => void): void {
    this.written += chunk.toString();
    done();
  }
  setTimeout(): this {
    return this;
  }
  setNoDelay(): this {
    return this;
  }
  get status(): number | undefined {
    const m = /^HTTP\/1\.1 (\d{3})/.exec(this.written);
    return m ? Number(m[1]) : undefined;
  }
}

const V1 = 'system-stream.v1';
function request(url = '/ws', headers: Record<string, string> = {}): IncomingMessage {
  return {
    url,
    method: 'GET',
    headers: {
      upgrade: 'websocket',
      connection: 'Upgrade',
      'sec-websocket-key': 'dGhlIHNhbXBsZSBub25jZQ==',
      'sec-websocket-version': '13',
      ...headers,
    },
  } as unknown as IncomingMessage;
}

const ALLOW: Admission = { ok: true, filter: { types: null }, sinceMs: undefined };
const UNAUTHORIZED: Refusal = { ok: false, status: 401, outcome: 'unauthorized' };

function handler(overrides: Partial<UpgradeHandlerOptions> = {}) {
  const refused: Refusal[] = [];
  const accepted: Admission[] = [];
  const admitted: string[] = [];
  const upgrade = createUpgradeHandler({
    path: '/ws',
    logger: noopLogger,
    allowedOrigins: new Set(['http://good']),
    compression: false,
    admit: (r) => (admitted.push(r.path), ALLOW),
    hasCapacity: () => true,
    accept: (ws, a) => {
      accepted.push(a);
      ws.terminate();
    },
    onRejected: (r) => refused.push(r),
    ...overrides,
  });
  const run = (req: IncomingMessage): FakeSocket => {
    const socket = new FakeSocket();
    upgrade(req, socket, Buffer.alloc(0));
    return socket;
  };
  return { upgrade, run, refused, accepted, admitted };
}

describe('createUpgradeHandler', () => {
  it('accepts a good request: 101, the v1 subprotocol chosen, the admission handed to accept', () => {
    const h = handler();
    const socket = h.run(request('/ws', { 'sec-websocket-protocol': `${V1}, system-stream.key.YQ` }));
    expect(socket.status).toBe(101);
    expect(socket.written).toMatch(/Sec-WebSocket-Protocol: system-stream\.v1\r\n/i);
    expect(socket.written).not.toContain('system-stream.key');
    expect(h.accepted).toEqual([ALLOW]);
    expect(h.refused).toEqual([]);
  });

  it('checks in order: origin (403) before subprotocol (400) before admission before capacity (503)', () => {
    const h = handler({ admit: () => UNAUTHORIZED, hasCapacity: () => false });
    expect(h.run(request('/ws', { origin: 'http://evil', 'sec-websocket-protocol': 'other' })).status).toBe(403);
    expect(h.run(request('/ws', { origin: 'http://good', 'sec-websocket-protocol': 'other' })).status).toBe(400);
    expect(h.run(request('/ws', { origin: 'http://good' })).status).toBe(401);
    expect(h.refused.map((r) => r.outcome)).toEqual(['forbidden', 'bad_request', 'unauthorized']);
    expect(h.refused[1]).toMatchObject({ part: 'protocol' });
  });

  it('refuses for capacity only after admission, with Retry-After', () => {
    const h = handler({ hasCapacity: () => false });
    const socket = h.run(request());
    expect(socket.status).toBe(503);
    expect(socket.written).toContain('Retry-After: 5');
    expect(h.admitted).toEqual(['/ws']);
    expect(h.refused).toEqual([{ ok: false, status: 503, outcome: 'full' }]);
  });

  it('answers the status of a refused admission, and 503 with Retry-After for a slow hook', () => {
    const busy: Refusal = { ok: false, status: 503, outcome: 'timeout' };
    const h = handler({ admit: () => busy });
    const socket = h.run(request());
    expect(socket.status).toBe(503);
    expect(socket.written).toContain('Retry-After: 5');
    expect(h.accepted).toEqual([]);
  });

  it('passes requests without Origin (non-browser clients) whatever allowedOrigins says', () => {
    expect(handler().run(request()).status).toBe(101);
  });

  it('waits for an asynchronous admission; close() destroys the sockets still waiting and nothing is accepted', async () => {
    let resolve: (a: Admission) => void = () => {};
    const h = handler({ admit: () => new Promise<Admission>((r) => (resolve = r)) });
    const socket = h.run(request());
    expect(socket.written).toBe('');
    h.upgrade.close();
    expect(socket.destroyed).toBe(true);
    resolve(ALLOW);
    await Promise.resolve();
    expect(h.accepted).toEqual([]);
  });

  it('completes an asynchronous admission once it settles', async () => {
    const h = handler({ admit: () => Promise.resolve(ALLOW) });
    const socket = h.run(request());
    await new Promise((r) => setImmediate(r));
    expect(socket.status).toBe(101);
    expect(h.accepted).toEqual([ALLOW]);
  });
});
