import { Subject } from 'rxjs';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import type { Envelope } from '../../../src/protocol/wire.js';
import { createPipelineHooks } from '../../../src/server/pipeline-hooks.js';
import { SnapshotStore } from '../../../src/server/state/snapshot.js';
import { createCounters, createLabelledCounters } from '../../../src/server/stats.js';
import { envelopeValidator } from '../../../src/shared/envelope-validator.js';
import { recordingLogger, type RecordingLogger } from '../../helpers/logger.js';

// A producer's dropped message is logged by default at warn, naming what to fix, never the payload, at
// most once per 10 s after the first.
let logger: RecordingLogger;
let hooks: ReturnType<typeof createPipelineHooks>;
const validate = envelopeValidator();
const metric = (data: Record<string, unknown>): unknown => ({
  type: 'system_metric',
  data: { time: '2026-01-17T04:30:00Z', metric_type: 'cpu', value: 1, source: 'secret-payload-source', ...data },
});
/** Runs the server's validator on `value` and reports its errors as the pipeline does. */
const drop = (value: unknown): void => {
  expect(validate(value)).toBe(false);
  hooks.onInvalid('schema', { errors: validate.errors ?? [] });
};

beforeEach(() => {
  vi.useFakeTimers({ now: 0 });
  logger = recordingLogger();
  const messages = new Subject<Envelope>();
  hooks = createPipelineHooks({
    counters: createCounters(),
    labelled: createLabelledCounters(),
    snapshot: new SnapshotStore(10),
    messages,
    logger,
    channel: 'system:metrics',
  });
});
afterEach(() => {
  vi.useRealTimers();
});

describe('createPipelineHooks: invalid messages', () => {
  it.each([
    ['a time without a timezone', metric({ time: '2026-01-17T04:30:00' }), '/data/time must match format "date-time"'],
    ['an unknown field', metric({ host: 'web-1' }), '/data/host is not an allowed field'],
    [
      'a missing field',
      { type: 'system_metric', data: { time: '2026-01-17T04:30:00Z', metric_type: 'cpu', source: 'a' } },
      '/data/value is required',
    ],
    ['an unknown type', { type: 'metric', data: {} }, '/type must be system_metric, container_status or alert'],
  ])('logs %s at warn, naming the field, without the payload', (_what, value, field) => {
    drop(value);
    const warnings = logger.warnings();
    expect(warnings).toHaveLength(1);
    expect(warnings[0]!.msg).toMatch(/^dropped invalid message from a producer/);
    expect(warnings[0]!.obj).toMatchObject({ event: 'invalid_messages', reason: 'schema', fields: [field] });
    expect(logger.dump()).not.toContain('secret-payload-source');
  });

  it('says what was wrong when there is no field to name (not JSON, a bad batch)', () => {
    hooks.onInvalid('not_json', { byteLength: 11 });
    expect(logger.warnings()[0]!.obj).toMatchObject({ reason: 'not_json', problem: 'not JSON text', byteLength: 11 });
  });

  it('logs the first at once, then at most one line per 10 s with the number suppressed', () => {
    for (let i = 0; i < 5; i++) drop(metric({ time: 'yesterday' }));
    expect(logger.warnings()).toHaveLength(1);
    vi.advanceTimersByTime(10_000);
    drop(metric({ time: 'yesterday' }));
    expect(logger.warnings()).toHaveLength(2);
    expect(logger.warnings()[1]!.obj).toMatchObject({ suppressed: 4 });
    expect(logger.count('debug', 'dropped')).toBe(0); // no per-message line: a host passing console prints debug too
  });
});
