// Per-client filters: `?source=` and `?metric_type=` at the handshake (and on GET …/snapshot), ANDed with
// `?types=` and with what authenticate() grants. The server sends a client only what matches.
import request from 'supertest';
import { describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { StreamManager } from '../../src/client/stream-manager.js';
import type { StreamStatus } from '../../src/client/types.js';
import type { WebSocketConstructor } from '../../src/client/environment.js';
import type { Envelope, ServerPacket } from '../../src/protocol/wire.js';
import { alert, container, metric } from '../helpers/fixtures.js';
import { useStreamFixtures } from '../helpers/lifecycle.js';
import { connectOpen, expectRefused, snapshotEnvelopes, type TestClient } from '../helpers/ws-client.js';

/** A small fleet, as the package's sentinel names it: host metrics, a mount, an interface, containers, an alert. */
function fleet(): Envelope[] {
  const hostAlert = alert('critical', 97);
  return [
    metric('cpu', 11, 'web-1'),
    metric('memory', 12, 'web-1'),
    metric('disk', 13, 'web-1:/var'),
    metric('net_rx', 14, 'web-1:eth0'),
    container('web-1/nginx'),
    { ...hostAlert, data: { ...hostAlert.data, source: 'web-1' } },
    metric('cpu', 21, 'web-2'),
    metric('memory', 22, 'web-2'),
    container('web-2/nginx'),
    metric('cpu', 31, 'web-10'),
  ];
}

/** What an envelope is, in a few characters: `cpu@web-1`, `container@web-1/nginx`, `alert:cpu@web-1`. */
function label(p: ServerPacket): string {
  if (p.type === 'system_metric') return `${p.data.metric_type}@${p.data.source}`;
  if (p.type === 'container_status') return `container@${p.data.container}`;
  if (p.type === 'alert') return `alert:${p.data.metric_type}@${p.data.source}`;
  return p.type;
}

/** ws as a browser's WebSocket behaves: its errors carry no message, so a refused handshake is only a 1006 close. */
const BrowserLikeWebSocket = function (url: string, protocols?: string | string[]) {
  return new Proxy(new WebSocket(url, protocols), {
    set: (target, prop, value: unknown) =>
      Reflect.set(target, prop, prop === 'onerror' && typeof value === 'function' ? () => (value as (e: object) => void)({}) : value),
  });
} as unknown as WebSocketConstructor;

const live = (c: TestClient): string[] =>
  c.packets
    .slice(c.packets.findIndex((p) => p.type === 'snapshot_end') + 1)
    .filter((p) => p.type !== 'heartbeat')
    .map(label);

describe('per-client filters', () => {
  const fx = useStreamFixtures();

  /** Publishes the fleet, then a marker every client sees, and waits for the marker at each client. */
  async function publishFleet(channel: string, clients: readonly TestClient[]): Promise<void> {
    const pub = fx.redis().publisher();
    await pub.publish(channel, JSON.stringify(fleet()));
    // A marker every filter below lets through: cpu on web-1 … except a web-2 client: send one of each.
    await pub.publish(channel, JSON.stringify([metric('cpu', 99, 'web-1'), metric('cpu', 99, 'web-2')]));
    await Promise.all(clients.map((c) => c.waitFor((p) => p.type === 'system_metric' && p.data.value === 99, 3000)));
  }

  /**
   * What `c` received live, once it has `count` packets: a client that negotiated permessage-deflate (ws's
   * does by default) inflates each message on its own, so a marker may arrive before the packets that came
   * in the same socket read after it.
   */
  async function liveOnce(c: TestClient, count: number): Promise<string[]> {
    await expect.poll(() => live(c).length).toBeGreaterThanOrEqual(count);
    return live(c);
  }

  it('?source= sends only that host: its metrics, mounts, interfaces, containers and alerts, not web-10', async () => {
    const s = await fx.server({ throttleMs: 0 });
    const web1 = fx.track(await connectOpen(s.wsUrl('api_key=k&source=web-1')));
    const both = fx.track(await connectOpen(s.wsUrl('api_key=k&source=web-1,web-2')));
    const everyone = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    await publishFleet(s.channel, [web1, both, everyone]);
    expect(live(web1)).toEqual([
      'cpu@web-1',
      'memory@web-1',
      'disk@web-1:/var',
      'net_rx@web-1:eth0',
      'container@web-1/nginx',
      'alert:cpu@web-1',
      'cpu@web-1',
    ]);
    expect(await liveOnce(both, 7 + 3 + 1)).toHaveLength(7 + 3 + 1);
    expect(await liveOnce(everyone, fleet().length + 2)).toHaveLength(fleet().length + 2);
  });

  it('?metric_type= narrows metrics and alerts, leaves containers alone, and ANDs with ?types= and ?source=', async () => {
    const s = await fx.server({ throttleMs: 0 });
    const cpu = fx.track(await connectOpen(s.wsUrl('api_key=k&metric_type=cpu,memory')));
    const cpuMetricsOfWeb2 = fx.track(await connectOpen(s.wsUrl('api_key=k&metric_type=cpu&types=system_metric&source=web-2')));
    await publishFleet(s.channel, [cpu, cpuMetricsOfWeb2]);
    expect(await liveOnce(cpu, 10)).toEqual([
      'cpu@web-1',
      'memory@web-1',
      'container@web-1/nginx',
      'alert:cpu@web-1',
      'cpu@web-2',
      'memory@web-2',
      'container@web-2/nginx',
      'cpu@web-10',
      'cpu@web-1',
      'cpu@web-2',
    ]);
    expect(await liveOnce(cpuMetricsOfWeb2, 2)).toEqual(['cpu@web-2', 'cpu@web-2']);
  });

  it('applies the filter to the snapshot, on the WebSocket and on GET …/snapshot', async () => {
    const s = await fx.server({ throttleMs: 0 });
    const first = fx.track(await connectOpen(s.wsUrl('api_key=k')));
    await publishFleet(s.channel, [first]);
    const late = fx.track(await connectOpen(s.wsUrl('api_key=k&source=web-2&metric_type=memory')));
    expect(snapshotEnvelopes(late).map(label)).toEqual(['memory@web-2', 'container@web-2/nginx']);
    const end = late.packets.find((p) => p.type === 'snapshot_end');
    expect(end).toEqual({ type: 'snapshot_end', data: { count: 2 } });
    const res = await request(s.server).get('/api/system/snapshot?api_key=k&source=web-2&metric_type=memory');
    expect(res.status).toBe(200);
    expect((res.body as { data: ServerPacket[] }).data.map(label)).toEqual(['memory@web-2', 'container@web-2/nginx']);
    expect((await request(s.server).get('/api/system/snapshot?api_key=k&source=')).status).toBe(400);
  });

  it('refuses an empty list, or a metric type no envelope can have, with 400 before any WebSocket', async () => {
    const s = await fx.server();
    for (const query of ['source=', 'source=,', 'metric_type=', 'metric_type=cpu:1', `source=${'x'.repeat(300)}`]) {
      expect((await expectRefused(s.wsUrl(`api_key=k&${query}`))).status).toBe(400);
    }
    expect(s.stream.stats()).toMatchObject({ clients: 0, rejected: 5 });
  });

  it('lets authenticate() narrow sources; ?source= narrows further but never widens', async () => {
    const s = await fx.server({
      apiKeys: undefined,
      authenticate: (req) =>
        req.headers['x-tenant'] === 'blue' ? { types: ['system_metric', 'container_status', 'alert'], sources: ['web-2'] } : false,
      throttleMs: 0,
    });
    const tenant = fx.track(await connectOpen(s.wsUrl(), { headers: { 'x-tenant': 'blue' } }));
    const widening = fx.track(await connectOpen(s.wsUrl('source=web-1,web-2'), { headers: { 'x-tenant': 'blue' } }));
    const outside = fx.track(await connectOpen(s.wsUrl('source=web-1'), { headers: { 'x-tenant': 'blue' } }));
    await publishFleet(s.channel, [tenant, widening]);
    expect(live(tenant)).toEqual(['cpu@web-2', 'memory@web-2', 'container@web-2/nginx', 'cpu@web-2']);
    expect(live(widening)).toEqual(live(tenant));
    // web-1 only, within a grant of web-2 only: nothing at all, but the marker for web-2 is not for it either.
    await fx
      .redis()
      .publisher()
      .publish(s.channel, JSON.stringify(metric('cpu', 100, 'web-2')));
    await tenant.waitFor((p) => p.type === 'system_metric' && p.data.value === 100, 3000);
    expect(live(outside)).toEqual([]);
  });

  it('sends a filtered client nothing it does not want: deliveries are counted only for matches', async () => {
    const s = await fx.server({ throttleMs: 0 });
    const clients = (await Promise.all(Array.from({ length: 3 }, () => connectOpen(s.wsUrl('api_key=k&source=web-1'))))).map((c) =>
      fx.track(c),
    );
    const before = s.stream.stats().delivered;
    await publishFleet(s.channel, clients);
    // 7 packets for web-1 (6 of the fleet and one marker), to each of 3 clients.
    expect(s.stream.stats().delivered - before).toBe(3 * 7);
    // Clients with the same filter received the same bytes.
    expect(clients[1]!.frames).toEqual(clients[0]!.frames);
  });

  it('ends a browser StreamManager in closed 4400 when its source or metric_type is refused, instead of retrying', async () => {
    const s = await fx.server();
    for (const query of [`source=${'x'.repeat(300)}`, 'metric_type=cpu:1', 'source=web-1&metric_type=']) {
      const manager = new StreamManager({ url: s.wsUrl(query), apiKey: 'k', WebSocket: BrowserLikeWebSocket, backoffMs: [60_000] });
      fx.defer(() => manager.close());
      const states: StreamStatus[] = [];
      const closed = new Promise<StreamStatus>((resolve) =>
        manager.on('state', (st) => {
          states.push(st);
          if (st.state === 'closed') resolve(st);
        }),
      );
      manager.connect();
      expect(await closed, query).toMatchObject({ state: 'closed', code: 4400 });
      // It learnt the status from the snapshot endpoint: the socket itself said only 1006.
      expect(states.map((st) => st.state)).toEqual(['connecting', 'reconnecting', 'closed']);
      expect(states[1]).toMatchObject({ code: 1006 });
    }
    expect(s.stream.stats().clients).toBe(0);
  });
});
