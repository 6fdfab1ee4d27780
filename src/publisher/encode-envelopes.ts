import { envelopeValidator, toValidationIssues } from '../shared/envelope-validator.js';
import { SystemStreamValidationError } from '../shared/errors.js';
import { MAX_BATCH_SIZE } from '../protocol/schemas.js';

/**
 * Serializes one envelope or a batch for Redis and validates what will be sent: the JSON text is
 * written once, parsed back, and the parsed value is what the schema checks, as the server will parse
 * and check the same bytes. So what passes is exactly what is published, whatever the input held that
 * JSON does not carry: a prototype (an own `__proto__` key assigned into an object, inherited fields),
 * getters that answer differently on a second read, `toJSON` methods, `undefined` fields. Throws
 * {@link SystemStreamValidationError}, naming the first field that fails (`/1/data/value` in a batch).
 * @returns the JSON text to publish, byte for byte what was validated
 */
export function encodeEnvelopes(envelopes: unknown): string {
  let json: string | undefined;
  try {
    json = JSON.stringify(envelopes);
  } catch {
    // A BigInt or a cycle; the TypeError's text may quote property names, so it is not passed on.
    throw new SystemStreamValidationError([{ path: '', message: 'must be serializable as JSON (no BigInt values, no cycles)' }]);
  }
  if (json === undefined) throw new SystemStreamValidationError([{ path: '', message: 'must be an envelope or an array of envelopes' }]);
  validateSent(JSON.parse(json) as unknown);
  return json;
}

function validateSent(sent: unknown): void {
  const check = envelopeValidator();
  if (!Array.isArray(sent)) {
    if (!check(sent)) throw new SystemStreamValidationError(toValidationIssues(check.errors));
    return;
  }
  if (sent.length === 0) throw new SystemStreamValidationError([{ path: '', message: 'must NOT have fewer than 1 items' }]);
  if (sent.length > MAX_BATCH_SIZE) {
    throw new SystemStreamValidationError([{ path: '', message: `must NOT have more than ${MAX_BATCH_SIZE} items` }]);
  }
  sent.forEach((envelope: unknown, index) => {
    if (!check(envelope)) {
      throw new SystemStreamValidationError(toValidationIssues(check.errors).map((i) => ({ ...i, path: `/${index}${i.path}` })));
    }
  });
}
