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

/**
 * {@link encodeEnvelopes}, cut into messages of at most `maxBytes` bytes of JSON each (what a server with
 * that `maxMessageBytes` accepts): a batch too large for one message becomes several consecutive batches,
 * in order, each member whole. Throws {@link SystemStreamValidationError} when one envelope alone is larger.
 */
export function encodeEnvelopeMessages(envelopes: unknown, maxBytes: number): string[] {
  const json = encodeEnvelopes(envelopes);
  if (Buffer.byteLength(json) <= maxBytes) return [json];
  const tooLarge = (path: string, bytes: number): SystemStreamValidationError =>
    new SystemStreamValidationError([
      { path, message: `must be at most ${maxBytes} bytes as JSON (maxMessageBytes), got ${bytes}: the server would drop it` },
    ]);
  const members = JSON.parse(json) as unknown;
  if (!Array.isArray(members)) throw tooLarge('', Buffer.byteLength(json));
  const messages: string[] = [];
  let part: string[] = [];
  let partBytes = 2; // the brackets
  members.forEach((member: unknown, index) => {
    const text = JSON.stringify(member);
    const bytes = Buffer.byteLength(text);
    if (bytes + 2 > maxBytes) throw tooLarge(`/${index}`, bytes);
    if (part.length > 0 && partBytes + 1 + bytes > maxBytes) {
      messages.push(`[${part.join(',')}]`);
      part = [];
      partBytes = 2;
    }
    partBytes += (part.length > 0 ? 1 : 0) + bytes;
    part.push(text);
  });
  messages.push(`[${part.join(',')}]`);
  return messages;
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
