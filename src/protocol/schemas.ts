// The JSON Schemas (draft-07) every envelope is validated against, by the server and by the publisher.
// `npm run schemas` writes them to schemas/*.json for producers in other languages; a unit test keeps
// those files identical to these objects.

const isoTime = { type: 'string', format: 'date-time', maxLength: 40 } as const;
// No `:` in metric_type keeps envelopeKey() unambiguous.
const metricType = { type: 'string', pattern: '^[A-Za-z0-9_.-]{1,64}$' } as const;
const name = { type: 'string', minLength: 1, maxLength: 256 } as const;
const finiteNumber = { type: 'number' } as const;

function envelopeSchema(id: string, title: string, type: string, data: object): Record<string, unknown> {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `urn:system-stream:schema:${id}`,
    title,
    type: 'object',
    required: ['type', 'data'],
    additionalProperties: false,
    properties: { type: { const: type }, data },
  };
}

/**
 * JSON Schema of a `system_metric` envelope.
 * @public
 */
export const systemMetricSchema: Readonly<Record<string, unknown>> = envelopeSchema(
  'system-metric',
  'system_metric envelope',
  'system_metric',
  {
    type: 'object',
    required: ['time', 'metric_type', 'value', 'source'],
    additionalProperties: false,
    properties: {
      time: isoTime,
      metric_type: metricType,
      value: finiteNumber,
      source: name,
      meta: {
        type: 'object',
        maxProperties: 16,
        // Keys that mean something to JavaScript objects are refused outright.
        propertyNames: { pattern: '^[A-Za-z0-9_.-]{1,64}$', not: { enum: ['__proto__', 'constructor', 'prototype'] } },
        additionalProperties: {
          anyOf: [{ type: 'string', maxLength: 256 }, { type: 'number' }, { type: 'boolean' }, { type: 'null' }],
        },
      },
    },
  },
);

/**
 * JSON Schema of a `container_status` envelope.
 * @public
 */
export const containerStatusSchema: Readonly<Record<string, unknown>> = envelopeSchema(
  'container-status',
  'container_status envelope',
  'container_status',
  {
    type: 'object',
    required: ['container', 'status', 'time'],
    additionalProperties: false,
    properties: {
      container: name,
      status: { enum: ['created', 'running', 'paused', 'restarting', 'removing', 'exited', 'dead', 'stopped'] },
      time: isoTime,
    },
  },
);

/**
 * JSON Schema of an `alert` envelope.
 * @public
 */
export const alertSchema: Readonly<Record<string, unknown>> = envelopeSchema('alert', 'alert envelope', 'alert', {
  type: 'object',
  required: ['level', 'metric_type', 'source', 'value', 'threshold', 'message', 'time'],
  additionalProperties: false,
  properties: {
    level: { enum: ['warning', 'critical', 'resolved'] },
    metric_type: metricType,
    source: name,
    value: finiteNumber,
    threshold: finiteNumber,
    message: { type: 'string', maxLength: 1024 },
    time: isoTime,
  },
});

/**
 * JSON Schema of one envelope of any type, or of a batch: an array of 1 to 1,000 envelopes.
 * This is what a Redis message on the channel must satisfy (invalid batch members are dropped one by one).
 * @public
 */
export const messageSchema: Readonly<Record<string, unknown>> = {
  $schema: 'http://json-schema.org/draft-07/schema#',
  $id: 'urn:system-stream:schema:message',
  title: 'system-stream Redis message: one envelope or a batch of envelopes',
  definitions: {
    envelope: {
      oneOf: [withoutIdentity(systemMetricSchema), withoutIdentity(containerStatusSchema), withoutIdentity(alertSchema)],
    },
  },
  oneOf: [{ $ref: '#/definitions/envelope' }, { type: 'array', minItems: 1, maxItems: 1000, items: { $ref: '#/definitions/envelope' } }],
};

/** The largest batch the server accepts in one Redis message. @internal */
export const MAX_BATCH_SIZE = 1000;

function withoutIdentity(schema: Readonly<Record<string, unknown>>): Record<string, unknown> {
  const { $schema: _s, $id: _i, ...rest } = schema;
  return rest;
}

/**
 * The schemas by file name, as shipped in the package's `schemas/` folder.
 * @public
 */
export const schemaFiles: Readonly<Record<string, Readonly<Record<string, unknown>>>> = {
  'system-metric.json': systemMetricSchema,
  'container-status.json': containerStatusSchema,
  'alert.json': alertSchema,
  'message.json': messageSchema,
};

function packetSchema(id: string, type: string, data?: object): Record<string, unknown> {
  return {
    $schema: 'http://json-schema.org/draft-07/schema#',
    $id: `urn:system-stream:schema:${id}`,
    title: `${type} packet`,
    type: 'object',
    required: data ? ['type', 'data'] : ['type'],
    additionalProperties: false,
    properties: data ? { type: { const: type }, data } : { type: { const: type } },
  };
}

const integer = { type: 'integer', minimum: 0 } as const;

/**
 * JSON Schemas of the server's own packets on the WebSocket (beside the envelopes), by `type`:
 * the snapshot marker, the Redis state packets, the heartbeat and the producers' staleness. The wire contract (`asyncapi.yaml`)
 * embeds them. @internal
 */
export const packetSchemas: Readonly<
  Record<'snapshot_end' | 'error' | 'status' | 'heartbeat' | 'source_status', Readonly<Record<string, unknown>>>
> = {
  snapshot_end: packetSchema('snapshot-end', 'snapshot_end', {
    type: 'object',
    required: ['count'],
    additionalProperties: false,
    properties: { count: integer, since: isoTime, complete: { type: 'boolean' } },
  }),
  error: packetSchema('error', 'error', {
    type: 'object',
    required: ['code', 'message', 'reason', 'time'],
    additionalProperties: false,
    properties: { code: { const: 503 }, message: { type: 'string' }, reason: { type: 'string' }, time: isoTime },
  }),
  status: packetSchema('status', 'status', {
    type: 'object',
    required: ['code', 'message', 'time'],
    additionalProperties: false,
    properties: { code: { const: 200 }, message: { type: 'string' }, time: isoTime },
  }),
  heartbeat: packetSchema('heartbeat', 'heartbeat'),
  source_status: packetSchema('source-status', 'source_status', {
    type: 'object',
    required: ['source', 'status', 'last_seen'],
    additionalProperties: false,
    properties: { source: name, status: { enum: ['stale', 'live'] }, last_seen: isoTime },
  }),
};
