import { readdirSync, readFileSync } from 'node:fs';
import { Ajv } from 'ajv';
import addFormats from 'ajv-formats';
import { describe, expect, it } from 'vitest';
import { envelopeValidator } from '../../../src/shared/envelope-validator.js';
import { schemaFiles } from '../../../src/protocol/schemas.js';

const folder = new URL('../../../schemas/', import.meta.url);

// The envelopes of the spec (ISSUE-044 §3.1, §3.2) and the alert of issue 4, verbatim.
const SPEC_EXAMPLES = {
  system_metric: `{
    "type": "system_metric",
    "data": { "time": "2026-01-17T04:30:00Z", "metric_type": "cpu", "value": 45.2, "source": "host", "meta": { "unit": "percent" } }
  }`,
  container_status: `{
    "type": "container_status",
    "data": { "container": "tick-archiver", "status": "running", "time": "2026-01-17T04:30:00Z" }
  }`,
  alert: `{
    "type": "alert",
    "data": { "level": "critical", "metric_type": "cpu", "source": "host", "value": 97.5, "threshold": 95,
              "message": "cpu on host at 97.5 % (critical threshold 95 %)", "time": "2026-01-17T04:30:00Z" }
  }`,
} as const;

/** What a producer in another language does: load the shipped files into a draft-07 validator. */
function fileValidator(name: string) {
  const ajv = new Ajv({ strict: true });
  addFormats.default(ajv, ['date-time']);
  return ajv.compile(JSON.parse(readFileSync(new URL(name, folder), 'utf8')) as object);
}

describe('schemas/*.json', () => {
  it('holds exactly the files of schemaFiles (run `npm run schemas` after changing src/protocol/schemas.ts)', () => {
    expect(
      readdirSync(folder)
        .filter((f) => f.endsWith('.json'))
        .sort(),
    ).toEqual(Object.keys(schemaFiles).sort());
  });

  it.each(Object.keys(schemaFiles))('%s equals its schema, as pretty JSON with a trailing newline', (name) => {
    expect(readFileSync(new URL(name, folder), 'utf8')).toBe(`${JSON.stringify(schemaFiles[name], null, 2)}\n`);
  });

  it.each(Object.entries(SPEC_EXAMPLES))('the spec example %s passes the validator and the shipped files', (type, json) => {
    const envelope: unknown = JSON.parse(json);
    expect(envelopeValidator()(envelope)).toBe(true);
    const file = { system_metric: 'system-metric.json', container_status: 'container-status.json', alert: 'alert.json' }[type]!;
    expect(fileValidator(file)(envelope)).toBe(true);
    const message = fileValidator('message.json');
    expect(message(envelope)).toBe(true);
    expect(message([envelope, envelope])).toBe(true);
  });

  it('message.json refuses what the stream drops: a wrong field, an empty batch', () => {
    const message = fileValidator('message.json');
    const metric = JSON.parse(SPEC_EXAMPLES.system_metric) as { data: Record<string, unknown> };
    expect(message({ ...metric, data: { ...metric.data, value: '45.2' } })).toBe(false);
    expect(message({ ...metric, data: { ...metric.data, time: '2026-01-17 04:30' } })).toBe(false);
    expect(message([])).toBe(false);
  });
});
