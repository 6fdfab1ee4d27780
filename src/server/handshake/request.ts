// The one parser of a stream request (a WebSocket handshake, or a snapshot or metrics request on the router):
// every rule after it reads the typed value it returns, and every 400 names the part that was wrong.
import type { IncomingMessage } from 'node:http';
import { isEnvelopeType, KEY_PROTOCOL_PREFIX, type EnvelopeType } from '../../protocol/wire.js';

/** The largest API key accepted, in bytes. Longer presented keys are refused before hashing. */
export const MAX_API_KEY_BYTES = 512;
/** Most values one `types`, `source` or `metric_type` list may hold. */
export const MAX_FILTER_VALUES = 100;
/** Longest source a filter may name, in characters (code points), as the schema's `maxLength` counts them. */
const MAX_SOURCE_CHARACTERS = 256;
/** The schema's `metric_type`: a name that can match no envelope is refused rather than silently empty. */
const METRIC_TYPE = /^[A-Za-z0-9_.-]{1,64}$/;
/** The largest epoch-milliseconds value a `since` may have: what a Date can hold. */
const MAX_TIME_MS = 8.64e15;
const ISO_TIME = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2})$/i;

/** The credential a request presents, if any. */
export interface PresentedCredential {
  /** `undefined` when none is presented; `null` for a key subprotocol that is not valid base64url. */
  readonly key: string | null | undefined;
  /** The parameter repeated, several key subprotocols, or different keys in different places. */
  readonly ambiguous: boolean;
}

/** A stream request, parsed once. */
export interface StreamRequest {
  /** The path without the query. */
  readonly path: string;
  readonly origin: string | undefined;
  /** The subprotocols offered, in order. */
  readonly protocols: readonly string[];
  readonly credential: PresentedCredential;
  /** `?types=`; `undefined` when absent. */
  readonly types: ReadonlySet<EnvelopeType> | undefined;
  /** `?source=`; `undefined` when absent. */
  readonly sources: ReadonlySet<string> | undefined;
  /** `?metric_type=`; `undefined` when absent. */
  readonly metricTypes: ReadonlySet<string> | undefined;
  /** `?since=` in epoch milliseconds; `undefined` when absent. */
  readonly sinceMs: number | undefined;
  /** The request itself, for the `authenticate` hook. */
  readonly raw: IncomingMessage;
  /** The query parameter that is not valid (the request is answered 400); `undefined` when all are. */
  readonly invalid: BadRequestPart | undefined;
}

/** The part of a request that made it a bad request (answered 400). */
export type BadRequestPart = 'types' | 'source' | 'metric_type' | 'since';

/**
 * Parses `req` once: path, origin, subprotocols, credential and the query's `types`, `source`,
 * `metric_type` and `since`. A query parameter that is present but empty, names more than
 * {@link MAX_FILTER_VALUES} values or a value no envelope can have, or a `since` that is not one valid
 * time, makes the request bad: `invalid` names the first such parameter, and the query's values are
 * left `undefined`.
 */
export function parseStreamRequest(req: IncomingMessage): StreamRequest {
  const url = req.url ?? '';
  const queryAt = url.indexOf('?');
  const query = new URLSearchParams(queryAt === -1 ? '' : url.slice(queryAt + 1));
  const protocols = offeredProtocols(req);
  const request = {
    path: queryAt === -1 ? url : url.slice(0, queryAt),
    origin: req.headers.origin,
    protocols,
    credential: presentedCredential(req, query, protocols),
    types: undefined,
    sources: undefined,
    metricTypes: undefined,
    sinceMs: undefined,
    raw: req,
  };
  const types = queryList(query, 'types', isEnvelopeType) as ReadonlySet<EnvelopeType> | null | undefined;
  if (types === null) return { ...request, invalid: 'types' };
  const sources = queryList(query, 'source', isSourceName);
  if (sources === null) return { ...request, invalid: 'source' };
  const metricTypes = queryList(query, 'metric_type', (m) => METRIC_TYPE.test(m));
  if (metricTypes === null) return { ...request, invalid: 'metric_type' };
  const sinceMs = sinceOf(query);
  if (sinceMs === null) return { ...request, invalid: 'since' };
  return { ...request, types, sources, metricTypes, sinceMs, invalid: undefined };
}

/** Whether `source` is a name the schema accepts: 1 to 256 characters, counted as code points. */
function isSourceName(source: string): boolean {
  if (source.length <= MAX_SOURCE_CHARACTERS) return true;
  if (source.length > 2 * MAX_SOURCE_CHARACTERS) return false;
  let characters = 0;
  for (const _ of source) if (++characters > MAX_SOURCE_CHARACTERS) return false;
  return true;
}

/**
 * A comma list from a query (`?source=a,b`, also repeated: `?source=a&source=b`): `undefined` when the
 * parameter is absent, `null` when it is present but names nothing, too many values, or a value `isValid`
 * refuses.
 */
function queryList(query: URLSearchParams, name: string, isValid: (value: string) => boolean): ReadonlySet<string> | null | undefined {
  const raw = query.getAll(name);
  if (raw.length === 0) return undefined;
  const values = raw.join(',').split(',').filter(Boolean);
  if (values.length === 0 || values.length > MAX_FILTER_VALUES || !values.every(isValid)) return null;
  return new Set(values);
}

/**
 * `?since=` in milliseconds since the epoch: `undefined` when there is none, `null` when it is not one
 * valid value. Accepted: epoch milliseconds (digits only) or an ISO-8601 date-time with a timezone (`Z` or
 * `±hh:mm`). A `+` offset sent unencoded arrives as a space (form encoding) and is read as `+`.
 */
function sinceOf(query: URLSearchParams): number | null | undefined {
  const values = query.getAll('since');
  if (values.length === 0) return undefined;
  if (values.length > 1) return null;
  const raw = (values[0] as string).replace(/ (\d{2}:\d{2})$/, '+$1');
  let ms: number;
  if (/^\d{1,16}$/.test(raw)) ms = Number(raw);
  else if (ISO_TIME.test(raw)) ms = Date.parse(raw);
  else return null;
  return Number.isFinite(ms) && Math.abs(ms) <= MAX_TIME_MS ? ms : null;
}

/** The subprotocols a handshake offers, in order. */
function offeredProtocols(req: IncomingMessage): string[] {
  const header = req.headers['sec-websocket-protocol'];
  if (typeof header !== 'string') return [];
  return header
    .split(',')
    .map((p) => p.trim())
    .filter(Boolean);
}

/**
 * The credential a request presents: the `api_key` query parameter, the `x-api-key` header,
 * `Authorization: Bearer` or the `system-stream.key.<base64url>` subprotocol. An `Authorization` header
 * of another scheme (Basic, …) is not a credential: it is left to the `authenticate` hook.
 */
function presentedCredential(req: IncomingMessage, query: URLSearchParams, protocols: readonly string[]): PresentedCredential {
  const fromQuery = query.getAll('api_key');
  const fromProtocols = protocols
    .filter((p) => p.startsWith(KEY_PROTOCOL_PREFIX))
    .map((p) => decodeKeyProtocol(p.slice(KEY_PROTOCOL_PREFIX.length)));
  const candidates = [...fromQuery, ...fromProtocols];
  const header = req.headers['x-api-key'];
  if (typeof header === 'string') candidates.push(header);
  const bearer = /^Bearer +(\S+) *$/i.exec(req.headers.authorization ?? '');
  if (bearer) candidates.push(bearer[1] as string);
  if (candidates.length === 0) return { key: undefined, ambiguous: false };
  const ambiguous = fromQuery.length > 1 || fromProtocols.length > 1 || candidates.some((c) => c !== candidates[0]);
  return { key: candidates[0], ambiguous };
}

/** A key subprotocol's payload; `null` when it is not canonical base64url (a key that was not sent as one). */
function decodeKeyProtocol(encoded: string): string | null {
  const bytes = Buffer.from(encoded, 'base64url');
  return /^[A-Za-z0-9_-]+$/.test(encoded) && bytes.toString('base64url') === encoded ? bytes.toString('utf8') : null;
}
