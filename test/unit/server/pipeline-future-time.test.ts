// The pipeline refuses envelopes dated too far ahead (maxClockSkewMs), counted as `schema`, per batch member.
import { Subject } from 'rxjs';
import { describe, expect, it } from 'vitest';
import { createPipeline, type InvalidReason } from '../../../src/server/pipeline.js';
import type { Delivery } from '../../../src/server/fanout/delivery.js';
import { metric } from '../../helpers/fixtures.js';

const NOW = Date.parse('2026-01-17T04:30:00Z');
const iso = (ms: number): string => new Date(ms).toISOString();

async function run(messages: readonly unknown[], maxClockSkewMs?: number) {
  const raw = new Subject<string>();
  const invalid: { reason: InvalidReason; paths: string[] }[] = [];
  const valid: number[] = [];
  const delivered: Delivery[] = [];
  const options = { maxMessageBytes: 65536, throttleMs: 0, writeDelayMs: 0, now: () => NOW };
  createPipeline(raw, maxClockSkewMs === undefined ? options : { ...options, maxClockSkewMs }, {
    onInvalid: (reason, detail) => invalid.push({ reason, paths: (detail.errors ?? []).map((e) => e.instancePath) }),
    onValid: (envelope) => valid.push((envelope.data as { value: number }).value),
    onThrottled: () => {},
  }).subscribe((batch) => delivered.push(...batch));
  for (const m of messages) raw.next(JSON.stringify(m));
  raw.complete();
  await new Promise((resolve) => setImmediate(resolve));
  return { invalid, valid, delivered };
}

describe('createPipeline: times too far ahead', () => {
  it('drops an envelope dated more than 5 minutes ahead by default, as a schema failure of /data/time', async () => {
    const { invalid, valid } = await run([
      metric('cpu', 1, 'host', iso(NOW + 300_000)),
      metric('cpu', 2, 'host', iso(NOW + 300_001)),
      metric('cpu', 3, 'host', iso(NOW + 3_600_000)),
      metric('cpu', 4, 'host', '9999-12-31T23:59:59Z'),
      metric('cpu', 5, 'host', iso(NOW - 3_600_000)),
    ]);
    expect(valid).toEqual([1, 5]);
    expect(invalid).toEqual(Array.from({ length: 3 }, () => ({ reason: 'schema', paths: ['/data/time'] })));
  });

  it('drops only the members of a batch that are too far ahead', async () => {
    const { valid, invalid } = await run([[metric('cpu', 1, 'host', iso(NOW)), metric('cpu', 2, 'host', iso(NOW + 600_000))]]);
    expect(valid).toEqual([1]);
    expect(invalid).toHaveLength(1);
  });

  it('takes maxClockSkewMs', async () => {
    const { valid } = await run([metric('cpu', 1, 'host', iso(NOW + 1000)), metric('cpu', 2, 'host', iso(NOW + 1001))], 1000);
    expect(valid).toEqual([1]);
  });

  it('reads offsets: 10:00+01:00 is 09:00Z', async () => {
    const { valid } = await run([metric('cpu', 1, 'host', '2026-01-17T05:34:00+01:00')]); // 04:34Z, 4 min ahead
    expect(valid).toEqual([1]);
  });
});
