import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import type { ValidationIssue } from './errors.js';
import type { Envelope } from '../protocol/wire.js';
import { alertSchema, containerStatusSchema, systemMetricSchema } from '../protocol/schemas.js';

let compiled: ValidateFunction<Envelope> | undefined;

/**
 * The envelope validator, compiled once per process on first use and shared by the server and the
 * publisher. Dispatches on `type` (ajv's `discriminator`), so errors name the fields of the envelope
 * the producer meant rather than every branch of a `oneOf`.
 */
export function envelopeValidator(): ValidateFunction<Envelope> {
  if (compiled) return compiled;
  const ajv = new Ajv({ discriminator: true, strictNumbers: true, allErrors: false });
  addFormats.default(ajv, ['date-time']);
  const branch = (schema: Readonly<Record<string, unknown>>): Record<string, unknown> => {
    const { $schema: _s, $id: _i, title: _t, ...rest } = schema;
    return rest;
  };
  compiled = ajv.compile<Envelope>({
    type: 'object',
    required: ['type'],
    discriminator: { propertyName: 'type' },
    oneOf: [branch(systemMetricSchema), branch(containerStatusSchema), branch(alertSchema)],
  });
  return compiled;
}

/** ajv's errors as {@link ValidationIssue}s. */
export function toValidationIssues(errors: readonly ErrorObject[] | null | undefined): ValidationIssue[] {
  return (errors ?? []).map((e) => ({
    path: e.instancePath,
    message:
      e.keyword === 'additionalProperties'
        ? `must not have property ${JSON.stringify((e.params as { additionalProperty: string }).additionalProperty)}`
        : (e.message ?? 'is invalid'),
  }));
}
