// Narrowed clients against every packet type: a real redis-server, a real http.Server and real ws clients,
// some narrowed by what authenticate() grants, some by ?types=, ?source= and ?metric_type=. Every packet a
// client receives (live, in the snapshot, in a `since` backfill, before and after snapshot_end) is checked
// against an independent statement of the rule written in docs/filters.md; each client must also receive
// every kind of packet the rule allows it, so a test that passes because nothing arrived cannot pass.
import type { IncomingMessage } from 'node:http';
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import type { Envelope, EnvelopeType, ServerPacket } from '../../../src/protocol/wire.js';
import type { SystemStreamOptions } from '../../../src/server/options.js';
import { alert, container, metric } from '../../helpers/fixtures.js';
import { useStreamFixtures } from '../../helpers/lifecycle.js';
import { connectOpen, is200, is503, type TestClient } from '../../helpers/ws-client.js';

/** What one client may see, stated independently of the server's code. */
interface Narrowing {
  /** Envelope types; `null`: all. */
  readonly types: readonly string[] | null;
  /** Every list must match the packet's source (the grant's and the query's). */
  readonly sources: readonly (readonly string[])[];
  readonly metricTypes: readonly string[] | null;
}

/** `allowed` names the source, or is a host (no `:` or `/`) and the source is a part of it. */
const sourceMatches = (allowed: string, source: string): boolean =>
  source === allowed || (!/[:/]/.test(allowed) && (source.startsWith(`${allowed}:`) || source.startsWith(`${allowed}/`)));

const CONTROL = new Set(['snapshot_end', 'error', 'status', 'heartbeat']);

/** The rule of docs/filters.md, packet type by packet type. */
function mayReceive(n: Narrowing, p: ServerPacket): boolean {
  if (CONTROL.has(p.type)) return true;
  const typeAllowed = (t: string): boolean => n.types === null || n.types.includes(t);
  const sourceAllowed = (s: string): boolean => n.sources.every((list) => list.some((a) => sourceMatches(a, s)));
  switch (p.type) {
    case 'system_metric':
    case 'alert':
      return typeAllowed(p.type) && sourceAllowed(p.data.source) && (n.metricTypes === null || n.metricTypes.includes(p.data.metric_type));
    case 'container_status':
      return typeAllowed(p.type) && sourceAllowed(p.data.container);
    case 'source_status':
      return typeAllowed('system_metric') && sourceAllowed(p.data.source);
    default:
      return false; // a type this test does not know: never expected
  }
}

const ALL_TYPES: EnvelopeType[] = ['system_metric', 'container_status', 'alert'];
const TENANTS: Record<string, true | { types: EnvelopeType[]; sources?: string[] }> = {
  admin: true,
  a: { types: ALL_TYPES, sources: ['tenant-a'] },
  b: { types: ALL_TYPES, sources: ['tenant-b'] },
  alerts: { types: ['alert'] },
};

/** The clients under test: who they are, what they ask for, what that means, and which packet types they must get. */
const CLIENTS: readonly { name: string; tenant: string; query: string; narrowing: Narrowing; expects: readonly string[] }[] = [
  {
    name: 'tenant a (grant)',
    tenant: 'a',
    query: '',
    narrowing: { types: null, sources: [['tenant-a']], metricTypes: null },
    expects: [...ALL_TYPES, 'source_status'],
  },
  {
    name: 'tenant b asking for a and b (grant, query cannot widen)',
    tenant: 'b',
    query: 'source=tenant-a,tenant-b',
    narrowing: { types: null, sources: [['tenant-b'], ['tenant-a', 'tenant-b']], metricTypes: null },
    expects: [...ALL_TYPES, 'source_status'],
  },
  {
    name: 'a mount by ?source=',
    tenant: 'admin',
    query: 'source=tenant-a:/var',
    narrowing: { types: null, sources: [['tenant-a:/var']], metricTypes: null },
    expects: ['system_metric', 'source_status'],
  },
  {
    name: 'alerts only (grant)',
    tenant: 'alerts',
    query: '',
    narrowing: { types: ['alert'], sources: [], metricTypes: null },
    expects: ['alert'],
  },
  {
    name: 'containers of tenant a (grant and ?types=)',
    tenant: 'a',
    query: 'types=container_status',
    narrowing: { types: ['container_status'], sources: [['tenant-a']], metricTypes: null },
    expects: ['container_status'],
  },
  {
    name: 'cpu only (?metric_type=)',
    tenant: 'admin',
    query: 'metric_type=cpu',
    narrowing: { types: null, sources: [], metricTypes: ['cpu'] },
    expects: [...ALL_TYPES, 'source_status'],
  },
];

const INTERVAL_MS = 100;

/** One tick of two tenants: host cpu, a mount's disk, a container, an alert per tenant. */
function tick(value: number): Envelope[] {
  return ['tenant-a', 'tenant-b'].flatMap((host) => {
    const a = alert('warning', value);
    return [
      metric('cpu', value, host),
      metric('disk', value, `${host}:/var`),
      container(`${host}/nginx`),
      { ...a, data: { ...a.data, source: host } },
    ];
  });
}

const typesOf = (packets: readonly ServerPacket[]): string[] => [...new Set(packets.map((p) => p.type))].sort();
const forbidden = (n: Narrowing, packets: readonly ServerPacket[]): ServerPacket[] => packets.filter((p) => !mayReceive(n, p));
const endIndex = (c: TestClient): number => c.packets.findIndex((p) => p.type === 'snapshot_end');

describe('narrowed clients against every packet type', () => {
  const fx = useStreamFixtures();
  const options = (): SystemStreamOptions => ({
    authenticate: (req: IncomingMessage) => TENANTS[String(req.headers['x-tenant'])] ?? false,
    throttleMs: 0,
    staleFloorMs: 300,
    heartbeatIntervalMs: 1000,
  });
  const connectAs = async (s: { wsUrl(q?: string): string }, tenant: string, query: string): Promise<TestClient> =>
    fx.track(await connectOpen(s.wsUrl(query), { headers: { 'x-tenant': tenant } }));

  it('live: each client receives exactly what its grant and filters allow, of every packet type', async () => {
    const s = await fx.server(options());
    const admin = await connectAs(s, 'admin', '');
    const clients = await Promise.all(CLIENTS.map((c) => connectAs(s, c.tenant, c.query)));
    const pub = fx.redis().publisher();

    // Envelopes of both tenants, on an interval the staleness tracker learns; then silence makes them stale.
    for (let i = 0; i < 4; i++) {
      await pub.publish(s.channel, JSON.stringify(tick(91 + i)));
      await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
    }
    for (const source of ['tenant-a', 'tenant-a:/var', 'tenant-b', 'tenant-b:/var']) {
      await admin.waitFor((p) => p.type === 'source_status' && p.data.source === source && p.data.status === 'stale', 3000);
    }
    // Redis lost and back: error (503) and status (200) to every client.
    await fx.redis().kill('SIGKILL');
    await Promise.all([admin, ...clients].map((c) => c.waitFor(is503, 5000)));
    await fx.redis().start();
    await Promise.all([admin, ...clients].map((c) => c.waitFor(is200, 10_000)));
    await Promise.all([admin, ...clients].map((c) => c.waitFor((p) => p.type === 'heartbeat', 5000)));
    // The sources publish again: source_status live, to those who may see them.
    await fx
      .redis()
      .publisher()
      .publish(s.channel, JSON.stringify(tick(99)));
    for (const source of ['tenant-a', 'tenant-b:/var']) {
      await admin.waitFor((p) => p.type === 'source_status' && p.data.source === source && p.data.status === 'live', 3000);
    }
    // A marker every client sees last: the heartbeat after everything above.
    const marks = clients.map((c) => c.packets.length);
    await Promise.all(clients.map((c, i) => c.waitFor((p) => p.type === 'heartbeat', 5000, marks[i])));

    expect(typesOf(admin.packets)).toEqual([...ALL_TYPES, 'error', 'heartbeat', 'snapshot_end', 'source_status', 'status'].sort());
    CLIENTS.forEach((spec, i) => {
      const got = clients[i]!.packets;
      expect(forbidden(spec.narrowing, got), spec.name).toEqual([]);
      expect(typesOf(got), spec.name).toEqual([...spec.expects, 'error', 'heartbeat', 'snapshot_end', 'status'].sort());
      // Live source_status: both transitions of each visible source, and nothing of the others.
      const statuses = got.filter((p) => p.type === 'source_status');
      if (spec.expects.includes('source_status')) expect(statuses.length, spec.name).toBeGreaterThanOrEqual(2);
    });
    // The same bytes for clients with the same narrowing: one encoding per filter group.
    const twin = await connectAs(s, 'a', '');
    await pub.publish(s.channel, JSON.stringify(tick(100)));
    await twin.waitFor((p) => p.type === 'alert' && p.data.value === 100, 3000);
    await clients[0]!.waitFor((p) => p.type === 'alert' && p.data.value === 100, 3000);
    const tail = (c: TestClient): string[] =>
      c.frames.slice(c.frames.findIndex((f) => f.includes('"value":100'))).filter((f) => f !== '{"type":"heartbeat"}');
    expect(tail(twin)).toEqual(tail(clients[0]!));
  });

  it('before snapshot_end: the snapshot, the stale list and a since backfill are narrowed the same way', async () => {
    const s = await fx.server(options());
    const admin = await connectAs(s, 'admin', '');
    const pub = fx.redis().publisher();
    for (let i = 0; i < 4; i++) {
      await pub.publish(s.channel, JSON.stringify(tick(91 + i)));
      await new Promise((resolve) => setTimeout(resolve, INTERVAL_MS));
    }
    for (const source of ['tenant-a', 'tenant-a:/var', 'tenant-b', 'tenant-b:/var']) {
      await admin.waitFor((p) => p.type === 'source_status' && p.data.source === source && p.data.status === 'stale', 3000);
    }

    for (const since of ['', 'since=0']) {
      for (const spec of CLIENTS) {
        const query = [spec.query, since].filter(Boolean).join('&');
        const c = await connectAs(s, spec.tenant, query);
        const what = `${spec.name} ${since}`;
        const before = c.packets.slice(0, endIndex(c));
        expect(forbidden(spec.narrowing, before), what).toEqual([]);
        expect(typesOf(before), what).toEqual([...spec.expects].sort());
        const envelopes = before.filter((p) => (ALL_TYPES as string[]).includes(p.type));
        expect(c.packets[endIndex(c)], what).toMatchObject({ type: 'snapshot_end', data: { count: envelopes.length } });
        // The stale list comes after the envelopes, right before the marker.
        const firstStatus = before.findIndex((p) => p.type === 'source_status');
        if (firstStatus !== -1)
          expect(
            before.slice(firstStatus).every((p) => p.type === 'source_status'),
            what,
          ).toBe(true);
        if (since) expect(envelopes.length, `${what}: the backfill holds every tick`).toBeGreaterThanOrEqual(4);
      }
    }

    // GET …/snapshot (envelopes only) under the same grant and filters.
    for (const spec of CLIENTS) {
      const res = await request(s.server)
        .get(`/api/system/snapshot${spec.query ? `?${spec.query}` : ''}`)
        .set('x-tenant', spec.tenant);
      expect(res.status, spec.name).toBe(200);
      const data = (res.body as { data: ServerPacket[] }).data;
      expect(forbidden(spec.narrowing, data), spec.name).toEqual([]);
      expect(typesOf(data), spec.name).toEqual(spec.expects.filter((t) => t !== 'source_status').sort());
    }

    // While Redis is down, a new client learns it right after its snapshot, whatever its narrowing.
    await fx.redis().kill('SIGKILL');
    await admin.waitFor(is503, 5000);
    for (const spec of CLIENTS) {
      const c = await connectAs(s, spec.tenant, spec.query);
      const error = await c.waitFor(is503, 3000);
      expect(c.packets.indexOf(error), spec.name).toBe(endIndex(c) + 1);
      expect(forbidden(spec.narrowing, c.packets), spec.name).toEqual([]);
    }
    await fx.redis().start();
    await admin.waitFor(is200, 10_000);
  });
});
