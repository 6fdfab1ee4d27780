import { readFileSync } from 'node:fs';
import { DiagnosticSeverity, Parser } from '@asyncapi/parser';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { buildAsyncApiDocument } from '../../../scripts/asyncapi-document.mjs';
import * as schemas from '../../../src/protocol/schemas.js';

const committed = readFileSync(new URL('../../../asyncapi.yaml', import.meta.url), 'utf8');
const { version } = JSON.parse(readFileSync(new URL('../../../package.json', import.meta.url), 'utf8')) as { version: string };

describe('asyncapi.yaml', () => {
  it("is what scripts/asyncapi-document.mjs builds from the validator's schemas (run `npm run asyncapi` after changing them)", () => {
    expect(committed).toBe(stringify(buildAsyncApiDocument(schemas, { version }), { lineWidth: 0 }));
  });

  it('parses as AsyncAPI 3.0 with no errors or warnings', async () => {
    const { document, diagnostics } = await new Parser().parse(committed);
    expect(
      diagnostics.filter((d) => d.severity <= DiagnosticSeverity.Warning).map((d) => `${d.code}: ${d.message} at ${d.path.join('.')}`),
    ).toEqual([]);
    expect(document?.version()).toBe('3.0.0');
    expect(
      document
        ?.channels()
        .get('stream')
        ?.messages()
        .all()
        .map((m) => m.name())
        .sort(),
    ).toEqual(['alert', 'container_status', 'error', 'heartbeat', 'snapshot_end', 'source_status', 'status', 'system_metric']);
    expect(document?.channels().get('metrics')?.address()).toBe('system:metrics');
  });
});
