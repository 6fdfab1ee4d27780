import type { IncomingMessage } from 'node:http';
import { describe, expect, it } from 'vitest';
import { parseStreamRequest } from '../../../../src/server/handshake/request.js';

const req = (url: string, headers: Record<string, string> = {}): IncomingMessage => ({ url, headers }) as unknown as IncomingMessage;
const parse = (url: string, headers?: Record<string, string>) => parseStreamRequest(req(url, headers));

describe('parseStreamRequest', () => {
  it('reads the path, origin, subprotocols and every query filter into one value', () => {
    const request = parse('/api/system/ws?types=alert&source=web-1,web-2&metric_type=cpu&since=1000', {
      origin: 'http://127.0.0.1:3000',
      'sec-websocket-protocol': 'system-stream.v1, other',
    });
    expect(request).toMatchObject({
      path: '/api/system/ws',
      origin: 'http://127.0.0.1:3000',
      protocols: ['system-stream.v1', 'other'],
      types: new Set(['alert']),
      sources: new Set(['web-1', 'web-2']),
      metricTypes: new Set(['cpu']),
      sinceMs: 1000,
      invalid: undefined,
    });
  });

  it('leaves absent filters undefined', () => {
    expect(parse('/ws')).toMatchObject({ path: '/ws', types: undefined, sources: undefined, metricTypes: undefined, sinceMs: undefined });
  });

  it.each([
    ['types=', 'types'],
    ['types=bogus', 'types'],
    ['source=', 'source'],
    [`source=${'a,'.repeat(101)}`, 'source'],
    ['metric_type=a:b', 'metric_type'],
    ['since=yesterday', 'since'],
    ['since=1&since=2', 'since'],
  ])('names the bad part of %s', (query, part) => {
    expect(parse(`/ws?${query}`).invalid).toBe(part);
  });

  it('names the first bad part, and still reads origin, subprotocols and credential', () => {
    const request = parse('/ws?types=bogus&since=x&api_key=k', { origin: 'http://a', 'sec-websocket-protocol': 'system-stream.v1' });
    expect(request).toMatchObject({ invalid: 'types', origin: 'http://a', protocols: ['system-stream.v1'], credential: { key: 'k' } });
  });

  it('counts a source in characters as the schema does: 256 non-BMP characters pass, 257 do not', () => {
    const astral = '\u{1F600}'; // two UTF-16 code units
    expect(parse(`/ws?source=${encodeURIComponent(astral.repeat(256))}`).sources).toEqual(new Set([astral.repeat(256)]));
    expect(parse(`/ws?source=${encodeURIComponent(astral.repeat(257))}`).invalid).toBe('source');
    expect(parse(`/ws?source=${'a'.repeat(256)}`).invalid).toBeUndefined();
    expect(parse(`/ws?source=${'a'.repeat(257)}`).invalid).toBe('source');
  });

  it('reads since as epoch milliseconds or an ISO time with a timezone, a + offset sent as a space too', () => {
    expect(parse('/ws?since=0').sinceMs).toBe(0);
    expect(parse('/ws?since=2026-01-01T00:00:00Z').sinceMs).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(parse('/ws?since=2026-01-01T01:00:00 01:00').sinceMs).toBe(Date.parse('2026-01-01T00:00:00Z'));
    expect(parse('/ws?since=2026-01-01T00:00:00').invalid).toBe('since'); // no timezone
    expect(parse('/ws?since=99999999999999999').invalid).toBe('since');
  });
});
