// The conformance check: every frame a test client receives must be one JSON object that one of the
// contract's WebSocket messages (asyncapi.yaml, channel `stream`) describes. Knows only the contract.
import { readFileSync } from 'node:fs';
import { Ajv, type ValidateFunction } from 'ajv';
import addFormats from 'ajv-formats';
import { WebSocket, type ClientOptions } from 'ws';
import { parse } from 'yaml';

interface Contract {
  channels: { stream: { messages: Record<string, { $ref: string }> } };
  components: { messages: Record<string, { name: string; payload: { schema: Record<string, unknown> } }> };
}

const contract = parse(readFileSync(new URL('../../asyncapi.yaml', import.meta.url), 'utf8')) as Contract;
const ajv = new Ajv({ strict: false, strictNumbers: true, allErrors: true });
addFormats.default(ajv);

/** The stream channel's payload validators, by the `type` each one's schema fixes. */
const validators = new Map<string, ValidateFunction>(
  Object.values(contract.channels.stream.messages).map(({ $ref }) => {
    const message = contract.components.messages[$ref.split('/').pop() as string];
    if (!message) throw new Error(`asyncapi.yaml: ${$ref} does not resolve`);
    const schema = message.payload.schema;
    const type = (schema['properties'] as { type: { const: string } }).type.const;
    return [type, ajv.compile(schema)];
  }),
);

/** Why `frame` breaks the contract, or `null` when it conforms. */
export function contractViolation(frame: string): string | null {
  let packet: unknown;
  try {
    packet = JSON.parse(frame);
  } catch {
    return `not JSON: ${frame.slice(0, 200)}`;
  }
  if (typeof packet !== 'object' || packet === null || Array.isArray(packet)) return `not one JSON object: ${frame.slice(0, 200)}`;
  const type = (packet as { type?: unknown }).type;
  const validate = typeof type === 'string' ? validators.get(type) : undefined;
  if (!validate) return `type ${JSON.stringify(type)} is not in the contract: ${frame.slice(0, 200)}`;
  if (!validate(packet)) return `${type} does not match its schema (${ajv.errorsText(validate.errors)}): ${frame.slice(0, 200)}`;
  return null;
}

const violations: string[] = [];

/** Checks a received text frame; a violation fails the running test (see conformance-setup.ts). */
export function checkFrame(frame: string): void {
  const violation = contractViolation(frame);
  if (violation !== null) violations.push(violation);
}

/** The violations seen since the last call, which clears them. */
export function takeViolations(): string[] {
  return violations.splice(0);
}

/** A ws WebSocket whose every received text frame goes through the conformance check: for StreamManager tests. */
export class ConformingWebSocket extends WebSocket {
  constructor(url: string, protocols?: string | string[], options?: ClientOptions) {
    super(url, protocols, options);
    this.on('message', (data, isBinary) => {
      if (isBinary) violations.push('a binary frame');
      else checkFrame(data.toString());
    });
  }
}
