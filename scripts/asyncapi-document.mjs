// The wire contract as an AsyncAPI 3.0 document. Every payload schema is passed in from src/protocol/schemas.ts
// (the schemas the validator uses), never written here: `npm run asyncapi` writes asyncapi.yaml from this,
// and test/unit/asyncapi.test.ts fails when the committed file differs from what this builds.

const JSON_SCHEMA = 'application/schema+json;version=draft-07';

/** A message whose payload is one of the JSON Schemas, embedded as it is. */
const message = (name, title, summary, schema, extra = {}) => ({
  name,
  title,
  summary,
  contentType: 'application/json',
  payload: { schemaFormat: JSON_SCHEMA, schema },
  ...extra,
});

const ref = (path) => ({ $ref: path });

/**
 * `schema` with its local `#/definitions/…` references replaced by what they name: inside an AsyncAPI
 * document a `$ref` is resolved against the document, not against the embedded schema.
 */
function inlineDefinitions(schema) {
  const { definitions = {}, ...rest } = schema;
  const inline = (node) => {
    if (Array.isArray(node)) return node.map(inline);
    if (node === null || typeof node !== 'object') return node;
    const target = typeof node.$ref === 'string' && /^#\/definitions\/(.+)$/.exec(node.$ref);
    if (target) return inline(definitions[target[1]]);
    return Object.fromEntries(Object.entries(node).map(([k, v]) => [k, inline(v)]));
  };
  return inline(rest);
}

/**
 * @param {{ systemMetricSchema: object, containerStatusSchema: object, alertSchema: object,
 *   messageSchema: object, packetSchemas: Record<string, object> }} schemas
 * @param {{ version: string }} info
 */
export function buildAsyncApiDocument(schemas, { version }) {
  const { systemMetricSchema, containerStatusSchema, alertSchema, messageSchema, packetSchemas } = schemas;
  return {
    asyncapi: '3.0.0',
    info: {
      title: 'system-stream',
      version,
      description: [
        'Real-time system metrics: producers publish envelopes to a Redis Pub/Sub channel; the server validates,',
        'throttles per key and pushes them to WebSocket clients.',
        '',
        'Wire rules (subprotocol `system-stream.v1`):',
        '- Every server → client frame is a text frame holding exactly one JSON object with a string `type`:',
        '  an envelope (`system_metric`, `container_status`, `alert`) or a control packet (`snapshot_end`,',
        '  `error`, `status`, `heartbeat`, `source_status`). Clients ignore types they do not know.',
        '- On connect the server sends the latest envelope of every key (one per frame, in order of last',
        '  update), then one `source_status` packet (`stale`) per source that is stale at that moment, then one',
        '  `snapshot_end` packet with the count of envelopes; everything after it is live. If Redis is down at',
        '  that moment, an `error` packet (503) follows `snapshot_end`.',
        '- `error` (code 503) says live data has stopped (Redis is unavailable); `status` (code 200) says it',
        '  flows again. Both are sent once per transition; the connection stays open.',
        '- `heartbeat` is sent with every WebSocket ping (default every 30 s), so that clients that cannot see',
        '  pings (browsers) can tell a quiet stream from a dead connection.',
        '- `source_status` says a producer went silent (`stale`: no `system_metric` with that `source` for',
        '  `staleAfterIntervals` times its observed publishing interval, at least `staleFloorMs`; defaults 3 and',
        '  5 s) or publishes again (`live`). Sent once per transition to every client allowed to see that',
        '  source (see the stream channel: filters and grants narrow it like the metrics it reports on).',
        '- Within a key, envelopes arrive in the order the server received them; a key is throttled to at most',
        '  one delivery per `throttleMs` (latest value wins; alerts and container status changes are never',
        '  dropped by the throttle). A client that falls behind (over its rate cap or its send buffer) receives',
        '  only the latest packet per key meanwhile: the latest value of a metric series, the current status of',
        '  a container, the latest state of an alert series. A client that keeps up receives every packet.',
        '- Clients send nothing: any data frame is closed with 4400.',
        '',
        'History and resuming (`since`):',
        '- The server keeps what it delivered in the last `historyMs` (default 5 minutes, by the envelopes`',
        '  `time`, after throttling). A handshake with `?since=<epoch ms | ISO-8601 with timezone>` asks for it:',
        '  the frames before `snapshot_end` are then every held value with `time` at or after `since`, plus the',
        '  latest envelope of every key (so that a key whose last change is older than `since` is known too),',
        '  each value once, sorted by `time` oldest first; values with equal `time` keep the order the server',
        '  delivered them in (a latest envelope not delivered yet, held by the throttle, comes after them). So each',
        '  key`s values arrive in time order, and a chart can draw them as they come. `snapshot_end.data`',
        '  then echoes `since` and says whether the backfill is `complete` (false: the server`s history starts',
        '  later, values were dropped by its bounds, it lost messages while Redis was away, or the backfill was',
        '  cut). Everything after `snapshot_end` is live; a value is never both backfilled and live on one connection.',
        '- A backfill is sent as the client reads it. The server gathers at most 4 backfills at once; a later',
        '  one waits, in the order clients connected, and its client receives nothing until its turn. A',
        '  backfill its client does not take (its socket stays full for 250 ms, or it is still going out after',
        '  10 s) is cut: of what is left, only the latest envelope of each key is sent, and `complete` is false.',
        '  Live envelopes that arrive meanwhile are held for the client in full, in order, and follow',
        '  `snapshot_end`; past 5,000 the oldest are dropped, and `complete` is false.',
        '- Resuming without repeats (what the `StreamManager` client does): reconnect with `since` = the newest',
        '  `time` received (less a margin for producer clocks that disagree, which costs bytes, never repeats),',
        '  and pass an envelope on only when its `time` is after the newest passed on for its key, or equal to',
        '  it with different content. Producers must give each key`s values increasing times. Alerts and',
        '  container status changes are events: every one inside the window is backfilled, not only the latest',
        '  (unless the backfill is cut).',
      ].join('\n'),
    },
    defaultContentType: 'application/json',
    servers: {
      api: {
        host: 'localhost:3000',
        protocol: 'ws',
        pathname: '/api/system/ws',
        description: [
          'The HTTP server the stream is attached to (path configurable with the `path` option).',
          'Unless its `compression` option is false, the server accepts permessage-deflate (RFC 7692) from clients that offer it,',
          'honouring `server_no_context_takeover` and `server_max_window_bits`; each packet is still one text message',
          'with the payloads below. Clients that offer nothing get uncompressed frames.',
        ].join(' '),
        security: [
          ref('#/components/securitySchemes/apiKeyQuery'),
          ref('#/components/securitySchemes/apiKeyHeader'),
          ref('#/components/securitySchemes/bearer'),
          ref('#/components/securitySchemes/keySubprotocol'),
          ref('#/components/securitySchemes/jwt'),
        ],
      },
      redis: {
        host: '127.0.0.1:6379',
        protocol: 'redis',
        description: 'The Redis server (or Cluster, or Sentinel-managed primary) producers publish to.',
      },
    },
    channels: {
      stream: {
        address: '/api/system/ws',
        title: 'WebSocket stream',
        description: [
          'Handshake: `GET /api/system/ws` with `Upgrade: websocket`. Optional queries narrow what is received,',
          'combined by AND (and with what the server grants the client): `types=a,b` (envelope types),',
          '`source=a,b` (the `source` of a metric or alert, the name of a container: equal, or the host part of',
          '`<host>:<mount or interface>` and `<host>/<container>`) and `metric_type=a,b` (metrics and alerts;',
          'container status has no metric type and is not narrowed by it). What the server grants a client',
          '(`authenticate()` returning `{ types, sources }`) narrows exactly as `types` and `source` do.',
          '`source_status` packets are narrowed too: by their `data.source` (same matching as `source`), and they',
          'reach only clients allowed `system_metric` (they report whether a source still publishes metrics);',
          '`metric_type` does not narrow them. Every packet is narrowed the same way wherever it is sent: live,',
          'in the snapshot, in a `since` backfill, and in the stale list before `snapshot_end`; a client never',
          'receives a packet naming a source it may not see. `snapshot_end`, `error`, `status` and `heartbeat`',
          'name no source and always arrive. See `x-narrowing` for the table. Subprotocols: offer `system-stream.v1` (selected) or none at all; a browser',
          'may add `system-stream.key.<base64url of the API key, no padding>` beside it to authenticate without',
          'putting the key in the URL (never selected, never logged). Offering only other subprotocols is refused.',
          '',
          'A key is read from `api_key` (query), `x-api-key`, `Authorization: Bearer` or the key subprotocol; a',
          'request presenting different keys, or one twice, is ambiguous and goes to the host`s `authenticate`',
          'hook if there is one, else is refused.',
          '',
          'With the `jwt` option, a credential in any of those places that has the shape of a JWT (three',
          'base64url parts) and is not an API key is verified as a JSON Web Token: see the `jwt` security',
          'scheme. A WebSocket opened with a token is closed with 4440 when its `exp` passes (so is one whose',
          '`authenticate()` grant had an `expiresAt`); a client renews its credential and reconnects at once,',
          'with `since` to resume. A WebSocket opened with an API key that the server stops accepting',
          '(`setApiKeys`) is closed with 4401 within a second.',
          '',
          'Refusals are plain HTTP responses; no WebSocket is created: see `x-handshake-refusals`.',
          'Close codes the server sends: see `x-close-codes`.',
        ].join('\n'),
        servers: [ref('#/servers/api')],
        messages: {
          systemMetric: ref('#/components/messages/systemMetric'),
          containerStatus: ref('#/components/messages/containerStatus'),
          alert: ref('#/components/messages/alert'),
          snapshotEnd: ref('#/components/messages/snapshotEnd'),
          error: ref('#/components/messages/error'),
          status: ref('#/components/messages/status'),
          heartbeat: ref('#/components/messages/heartbeat'),
          sourceStatus: ref('#/components/messages/sourceStatus'),
        },
        bindings: {
          ws: {
            method: 'GET',
            query: {
              type: 'object',
              properties: {
                api_key: { type: 'string', description: 'API key. Prefer a header or the key subprotocol: URLs end up in access logs.' },
                types: {
                  type: 'string',
                  description: 'Comma list of envelope types to receive, e.g. `system_metric,alert`. Empty or unknown: 400.',
                },
                source: {
                  type: 'string',
                  description:
                    'Comma list of sources to receive, e.g. `web-1,web-2` (`web-1` also matches `web-1:/var` and the container `web-1/nginx`). Empty, over 100 values or a value over 256 characters: 400.',
                },
                metric_type: {
                  type: 'string',
                  description:
                    'Comma list of metric types to receive, e.g. `cpu,memory` (metrics and alerts). Empty, over 100 values or not a valid metric type: 400.',
                },
                since: {
                  type: 'string',
                  description:
                    'Backfill: also send, before `snapshot_end`, every held value with `time` at or after this, in time order (see the rules above). ' +
                    'Epoch milliseconds (digits) or ISO-8601 with a timezone (`Z` or `±hh:mm`; encode `+` as `%2B`). Invalid or repeated: 400.',
                  examples: ['1768624200000', '2026-01-17T04:30:00Z'],
                },
              },
            },
            headers: {
              type: 'object',
              properties: {
                'x-api-key': { type: 'string' },
                Authorization: { type: 'string', description: '`Bearer <key>`; other schemes go to the `authenticate` hook.' },
                'Sec-WebSocket-Protocol': {
                  type: 'string',
                  description: '`system-stream.v1`, optionally with `system-stream.key.<base64url key>`.',
                },
              },
            },
          },
        },
        'x-subprotocol': 'system-stream.v1',
        'x-narrowing': [
          { packet: 'system_metric', types: 'its type', source: '`data.source`', metric_type: '`data.metric_type`' },
          { packet: 'alert', types: 'its type', source: '`data.source`', metric_type: '`data.metric_type`' },
          { packet: 'container_status', types: 'its type', source: '`data.container`', metric_type: 'not narrowed' },
          {
            packet: 'source_status',
            types: 'arrives only if `system_metric` is allowed',
            source: '`data.source`',
            metric_type: 'not narrowed',
          },
          { packet: 'snapshot_end', types: 'not narrowed', source: 'not narrowed', metric_type: 'not narrowed' },
          { packet: 'error', types: 'not narrowed', source: 'not narrowed', metric_type: 'not narrowed' },
          { packet: 'status', types: 'not narrowed', source: 'not narrowed', metric_type: 'not narrowed' },
          { packet: 'heartbeat', types: 'not narrowed', source: 'not narrowed', metric_type: 'not narrowed' },
        ],
        'x-handshake-refusals': [
          {
            status: 400,
            when: 'Offered subprotocols without `system-stream.v1`; `types` empty or naming an unknown type; `source` or `metric_type` empty or invalid; `since` not one valid time.',
          },
          {
            status: 401,
            when: 'No valid key or token (a token expired, wrongly signed, with `alg: none` or another algorithm than configured, without `exp`, or with `iss`/`aud`/`nbf` not met) and the `authenticate` hook (if any) did not grant.',
          },
          { status: 403, when: '`Origin` not in `allowedOrigins`.' },
          { status: 404, when: 'A path no stream serves, when the host has no other upgrade listener.' },
          { status: 500, when: 'The `authenticate` hook threw or rejected.' },
          { status: 503, headers: { 'Retry-After': '5' }, when: '`maxClients` reached, or the `authenticate` hook too slow or too busy.' },
        ],
        'x-close-codes': [
          { code: 1001, retry: true, when: 'The server is shutting down.' },
          { code: 1009, retry: true, when: 'The client sent a frame over 1 KiB.' },
          { code: 4400, retry: false, when: 'The client sent a data frame: clients only listen.' },
          {
            code: 4401,
            retry: false,
            when: 'Credentials refused, or the API key the connection was opened with is no longer accepted (reason `API key revoked`).',
          },
          { code: 4403, retry: false, when: 'Not allowed to use this stream.' },
          {
            code: 4440,
            retry: true,
            when: 'The connection`s credentials expired (a token`s `exp`, or an `expiresAt` of the `authenticate` grant); reason `credentials expired: renew and reconnect`. Renew the credential and reconnect at once, with `since` to resume.',
          },
          { code: 4429, retry: true, when: 'Slow consumer: the send buffer stayed over `maxBufferedBytes` past `slowClientTimeoutMs`.' },
          { code: 4500, retry: true, when: 'Unexpected server error.' },
        ],
      },
      metrics: {
        address: 'system:metrics',
        title: 'Redis Pub/Sub channel',
        description: [
          'What producers publish (`PUBLISH system:metrics <json>`, or `SPUBLISH` for a stream that uses sharded',
          'Pub/Sub; the channel is configurable, and a stream may subscribe to several): one envelope, or a',
          'batch: a JSON array of 1 to 1,000 envelopes (invalid members are dropped one by one). At most',
          '64 KiB per message by default. Batches are a Redis-side optimisation only: clients always receive',
          'one envelope per frame. `time` needs a timezone; `value` a finite number.',
          '',
          'Redis-backed history (`historyStream` on the publisher and the stream): each message is also kept in',
          'a Redis Stream, by default `{<channel>}:history` (`{system:metrics}:history`: its hash tag is the',
          'channel`s name, so in a Redis Cluster it lives in the channel`s slot, which a script using sharded',
          'SPUBLISH needs, and the channel keeps its name; a channel that has a hash tag keeps it:',
          '`{t1}:metrics` -> `{t1}:metrics:history`). One Lua script (EVALSHA) runs',
          '`XADD <stream> MAXLEN ~ <historyMaxLen> * m <json>` and then publishes `<entry id> <json>` (the entry',
          'ID, one space, the message): if XADD fails nothing is published. A stream server strips the stamp;',
          'after its subscriber reconnects it reads `XRANGE <stream> (<last id seen> +` and delivers those',
          'entries, in ID order, before the live messages held meanwhile, skipping stamped ones whose ID it has',
          'read; at start it loads the entries of the last `historyMs`. Plain PUBLISHes (no stamp) keep working',
          'and are not in the stream. Subscribers other than system-stream must strip the stamp: everything up',
          'to the first space of a message that starts with a digit.',
        ].join('\n'),
        servers: [ref('#/servers/redis')],
        messages: { published: ref('#/components/messages/published') },
      },
    },
    operations: {
      sendEnvelopes: {
        action: 'send',
        title: 'Push envelopes',
        summary: 'The snapshot (one envelope per frame), then live envelopes.',
        channel: ref('#/channels/stream'),
        messages: [
          ref('#/channels/stream/messages/systemMetric'),
          ref('#/channels/stream/messages/containerStatus'),
          ref('#/channels/stream/messages/alert'),
        ],
      },
      sendControl: {
        action: 'send',
        title: 'Push control packets',
        summary: 'The snapshot marker, Redis state changes, heartbeats and producers going stale or live.',
        channel: ref('#/channels/stream'),
        messages: [
          ref('#/channels/stream/messages/snapshotEnd'),
          ref('#/channels/stream/messages/error'),
          ref('#/channels/stream/messages/status'),
          ref('#/channels/stream/messages/heartbeat'),
          ref('#/channels/stream/messages/sourceStatus'),
        ],
      },
      receivePublished: {
        action: 'receive',
        title: 'Subscribe to producers',
        summary: 'The server subscribes to the Redis channel and validates every message.',
        channel: ref('#/channels/metrics'),
        messages: [ref('#/channels/metrics/messages/published')],
      },
    },
    components: {
      securitySchemes: {
        apiKeyQuery: { type: 'httpApiKey', name: 'api_key', in: 'query' },
        apiKeyHeader: { type: 'httpApiKey', name: 'x-api-key', in: 'header' },
        bearer: { type: 'http', scheme: 'bearer' },
        keySubprotocol: {
          type: 'httpApiKey',
          name: 'Sec-WebSocket-Protocol',
          in: 'header',
          description: '`system-stream.key.<base64url of the key, no padding>`, offered beside `system-stream.v1`.',
        },
        jwt: {
          type: 'http',
          scheme: 'bearer',
          bearerFormat: 'JWT',
          description: [
            'A JSON Web Token (RFC 7519), presented wherever an API key may be (`Authorization: Bearer`, `x-api-key`,',
            '`api_key`, or the key subprotocol). Signed with HS256/384/512 (a shared secret) or RS256/384/512,',
            'PS256/384/512, ES256/384/512 or EdDSA (a public key), as the server is configured; `alg: none` and',
            'any algorithm outside the configured key`s family are refused. Claims: `exp` (required; the',
            'connection is closed with 4440 when it passes), `nbf`, `iss` and `aud` (checked when the server is',
            'configured with them), `types` (optional array of envelope types: the client receives only these) and',
            '`sources` (optional array of sources: only these, matched as the `source` query is). `types` and',
            '`sources` narrow what the query asks for, never widen it.',
          ].join('\n'),
          'x-claims': {
            exp: { type: 'integer', required: true, description: 'Expiry, in seconds since the epoch.' },
            nbf: { type: 'integer', required: false, description: 'Not before, in seconds since the epoch.' },
            iss: { type: 'string', required: false, description: 'Checked when the server sets `jwt.issuer`.' },
            aud: { type: 'string or array of strings', required: false, description: 'Checked when the server sets `jwt.audience`.' },
            types: { type: 'array of envelope types', required: false, description: 'The only envelope types the client receives.' },
            sources: { type: 'array of strings', required: false, description: 'The only sources the client receives.' },
          },
        },
      },
      messages: {
        systemMetric: message('system_metric', 'Metric sample', 'One sample of one host or container metric.', systemMetricSchema, {
          examples: [
            {
              payload: {
                type: 'system_metric',
                data: { time: '2026-01-17T04:30:00Z', metric_type: 'cpu', value: 45.2, source: 'host', meta: { unit: 'percent' } },
              },
            },
          ],
        }),
        containerStatus: message('container_status', 'Container status', 'The state of one container.', containerStatusSchema, {
          examples: [
            {
              payload: { type: 'container_status', data: { container: 'tick-archiver', status: 'running', time: '2026-01-17T04:30:00Z' } },
            },
          ],
        }),
        alert: message('alert', 'Alert', 'A threshold crossing (`warning`, `critical`) or its end (`resolved`).', alertSchema),
        snapshotEnd: message(
          'snapshot_end',
          'Snapshot complete',
          'Follows the snapshot envelopes (and a `since` backfill) on every connection; live data comes after it.',
          packetSchemas.snapshot_end,
          {
            examples: [
              { name: 'plain', payload: { type: 'snapshot_end', data: { count: 12 } } },
              {
                name: 'after a since backfill',
                payload: { type: 'snapshot_end', data: { count: 3912, since: '2026-01-17T04:25:00.000Z', complete: true } },
              },
            ],
          },
        ),
        error: message('error', 'Live data stopped', 'Redis is unavailable (code 503); the connection stays open.', packetSchemas.error, {
          examples: [
            {
              payload: {
                type: 'error',
                data: { code: 503, message: 'Service Unavailable', reason: 'redis_unavailable', time: '2026-01-17T04:30:00.000Z' },
              },
            },
          ],
        }),
        status: message(
          'status',
          'Live data restored',
          'Sent once after an `error` packet when data flows again (code 200).',
          packetSchemas.status,
        ),
        heartbeat: message('heartbeat', 'Heartbeat', 'Proof of life, sent with every WebSocket ping.', packetSchemas.heartbeat),
        sourceStatus: message(
          'source_status',
          'Producer stale or live',
          'A `source` stopped publishing metrics (`stale`) or publishes again (`live`); also sent before `snapshot_end` for every source stale at connect. Only to clients allowed `system_metric` and that source.',
          packetSchemas.source_status,
          {
            examples: [
              { payload: { type: 'source_status', data: { source: 'web-1', status: 'stale', last_seen: '2026-01-17T04:30:00.000Z' } } },
            ],
          },
        ),
        published: message('published', 'Published message', 'One envelope or a batch of envelopes.', inlineDefinitions(messageSchema)),
      },
    },
  };
}
