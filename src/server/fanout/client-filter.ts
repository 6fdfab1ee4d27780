import type { Delivery } from './delivery.js';
import type { EnvelopeType } from '../../protocol/wire.js';

/**
 * What one client receives, from its handshake (`?types=`, `?source=`, `?metric_type=`) and from what
 * `authenticate()` granted, all combined by AND. What each part narrows, packet type by packet type:
 *
 * | packet             | `types`                      | `sources`                  | `metricTypes`  |
 * |--------------------|------------------------------|----------------------------|----------------|
 * | `system_metric`    | its type                     | its `source`               | its type       |
 * | `alert`            | its type                     | its `source`               | its type       |
 * | `container_status` | its type                     | its `container`            | passes         |
 * | `source_status`    | as a `system_metric` would   | its `data.source`          | passes         |
 * | control packets    | pass                         | pass                       | pass           |
 *
 * `source_status` reports whether a source still publishes metrics, so a client that may not see
 * `system_metric` does not see it either, and one narrowed to some sources sees only theirs: the
 * source names of other tenants never reach it. Control packets (`snapshot_end`, `error`, `status`,
 * `heartbeat`) name no source and always pass.
 */
export interface ClientFilter {
  /** Envelope types; `null`: every type. */
  readonly types: ReadonlySet<EnvelopeType> | null;
  /** Lists of sources, each of which must match (the request's, the grant's); absent or empty: any source. */
  readonly sources?: readonly ReadonlySet<string>[] | undefined;
  /** Metric types (of metrics and alerts; container status has none and passes); absent: any. */
  readonly metricTypes?: ReadonlySet<string> | undefined;
}

/** Most values one `source` or `metric_type` list may hold. */
export const MAX_FILTER_VALUES = 100;
/** Longest source a filter may name: the schema's longest `source`. */
const MAX_SOURCE_LENGTH = 256;
/** The schema's `metric_type`: a name that cannot match no envelope is refused rather than silently empty. */
const METRIC_TYPE = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The host a series belongs to, by the naming the package's sentinel uses: a mount point or an interface
 * is `<host>:<part>` (`web-1:/var`), a container `<host>/<name>` (`web-1/nginx`). A host has neither `:`
 * nor `/`, so it is everything before the first of them; a source without either is its own host.
 */
function hostOf(source: string): string {
  for (let i = 0; i < source.length; i++) {
    const c = source.charCodeAt(i);
    if (c === 58 /* : */ || c === 47 /* / */) return source.slice(0, i);
  }
  return source;
}

/**
 * Whether `source` (a metric's or alert's `source`, a container's name) is one of `allowed`: equal to one,
 * or a part of one of them as a host (`web-1` allows `web-1:/var` and the container `web-1/nginx`), so a
 * dashboard for one host receives its disks, interfaces and containers too.
 */
export function sourceMatches(allowed: ReadonlySet<string>, source: string): boolean {
  if (allowed.has(source)) return true;
  const host = hostOf(source);
  return host !== source && allowed.has(host);
}

/**
 * Whether `filter` lets `delivery` through (an envelope's or a `source_status` packet's delivery, or the
 * fields of one); see {@link ClientFilter} for what narrows which packet. Fails closed: a `source_status`
 * delivery without its `source` never reaches a client narrowed by source.
 */
export function canSee(filter: ClientFilter, delivery: Pick<Delivery, 'type' | 'source' | 'metricType'>): boolean {
  const { type, source, metricType } = delivery;
  if (type === 'source_status') {
    if (filter.types !== null && !filter.types.has('system_metric')) return false;
  } else {
    if (source === undefined) return true; // not an envelope: control packets reach everyone
    if (filter.types !== null && !filter.types.has(type as EnvelopeType)) return false;
    if (filter.metricTypes !== undefined && metricType !== undefined && !filter.metricTypes.has(metricType)) return false;
  }
  if (filter.sources !== undefined) {
    for (const allowed of filter.sources) if (source === undefined || !sourceMatches(allowed, source)) return false;
  }
  return true;
}

/** Whether `filter` lets everything through, so that a client can share the unfiltered stream. */
export function isUnfiltered(filter: ClientFilter): boolean {
  return filter.types === null && filter.metricTypes === undefined && (filter.sources === undefined || filter.sources.length === 0);
}

/**
 * The same text for every filter that lets the same envelopes through (sets sorted, source lists sorted),
 * so that clients with equal filters share one filtered stream; `''` for no filter at all.
 */
export function filterKey(filter: ClientFilter): string {
  if (isUnfiltered(filter)) return '';
  const list = (values: Iterable<string>): string => JSON.stringify([...values].sort());
  const sources = (filter.sources ?? []).map(list).sort();
  return JSON.stringify([
    filter.types === null ? null : list(filter.types),
    filter.metricTypes === undefined ? null : list(filter.metricTypes),
    sources,
  ]);
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
 * The `?source=` and `?metric_type=` of a handshake or snapshot request: each `undefined` when absent;
 * `null` (answered 400) when either is present but empty, names more than {@link MAX_FILTER_VALUES}
 * values, a source longer than 256 characters, or a metric type no envelope can have.
 */
export function requestedFilter(
  query: URLSearchParams,
): { sources: ReadonlySet<string> | undefined; metricTypes: ReadonlySet<string> | undefined } | null {
  const sources = queryList(query, 'source', (s) => s.length <= MAX_SOURCE_LENGTH);
  const metricTypes = queryList(query, 'metric_type', (m) => METRIC_TYPE.test(m));
  if (sources === null || metricTypes === null) return null;
  return { sources, metricTypes };
}
