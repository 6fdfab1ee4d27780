// StreamManager and the server's source_status packets: staleSources(), the source_status event, and the
// stale set of each snapshot.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { StreamManager } from '../../../src/client/stream-manager.js';
import type { Envelope, ServerPacket, SourceStatus } from '../../../src/protocol/wire.js';
import { FakeSocket } from '../../helpers/fake-browser.js';
import { metric } from '../../helpers/fixtures.js';

const URL = 'ws://127.0.0.1:1/api/system/ws';
const last = (): FakeSocket => FakeSocket.instances.at(-1)!;
const stale = (source: string, last_seen = '2026-01-17T04:00:00.000Z'): SourceStatus => ({ source, status: 'stale', last_seen });
const live = (source: string, last_seen = '2026-01-17T04:29:00.000Z'): SourceStatus => ({ source, status: 'live', last_seen });
const packet = (data: SourceStatus): ServerPacket => ({ type: 'source_status', data });
const end = (count: number): ServerPacket => ({ type: 'snapshot_end', data: { count } });

let manager: StreamManager;
let events: SourceStatus[];

beforeEach(() => {
  vi.useFakeTimers({ toFake: ['setTimeout', 'clearTimeout', 'Date'], now: new Date('2026-01-17T04:30:00Z') });
  FakeSocket.instances.length = 0;
  manager = new StreamManager({ url: URL, WebSocket: FakeSocket, jitter: 0, authCheckUrl: false });
  events = [];
  manager.on('source_status', (s) => events.push(s));
});

afterEach(async () => {
  await manager.close();
  vi.useRealTimers();
});

function connect(...packets: ServerPacket[]): FakeSocket {
  manager.connect();
  const socket = last();
  socket.open();
  socket.send(packets);
  return socket;
}

describe('StreamManager: stale sources', () => {
  it('reports a live source_status packet as an event and in staleSources(), until the source is live again', () => {
    const socket = connect(end(0));
    socket.send(packet(stale('web-1')));
    expect(events).toEqual([stale('web-1')]);
    expect(manager.staleSources()).toEqual(new Map([['web-1', stale('web-1')]]));
    socket.send(packet(live('web-1')));
    expect(events).toEqual([stale('web-1'), live('web-1')]);
    expect(manager.staleSources().size).toBe(0);
  });

  it('applies the snapshot’s stale set at snapshot_end, after its envelopes', () => {
    const order: string[] = [];
    manager.on('system_metric', () => order.push('metric'));
    manager.on('source_status', (s) => order.push(`source ${s.source}`));
    manager.connect();
    const socket = last();
    socket.open();
    socket.send(metric('cpu', 1, 'web-1'), packet(stale('web-1')), packet(stale('web-2')));
    expect(events).toEqual([]);
    expect(manager.staleSources().size).toBe(0);
    socket.send(end(1));
    expect([...manager.staleSources().keys()]).toEqual(['web-1', 'web-2']);
    expect(order).toEqual(['metric', 'source web-1', 'source web-2']);
  });

  it('replaces the stale set on every connection: a source no longer listed is reported live', async () => {
    connect(packet(stale('web-1')), packet(stale('web-2')), end(0));
    last().serverClose(1006);
    vi.advanceTimersByTime(2000);
    events = [];
    const socket = last();
    socket.open();
    socket.send(packet(stale('web-2', '2026-01-17T04:10:00.000Z')), end(0));
    expect([...manager.staleSources().values()]).toEqual([stale('web-2', '2026-01-17T04:10:00.000Z')]);
    expect(events).toEqual([stale('web-2', '2026-01-17T04:10:00.000Z'), live('web-1', new Date().toISOString())]);
  });

  it('keeps the stale set while reconnecting', () => {
    connect(packet(stale('web-1')), end(0));
    last().serverClose(1006);
    expect(manager.state).toBe('reconnecting');
    expect([...manager.staleSources().keys()]).toEqual(['web-1']);
  });

  it('returns a copy', () => {
    connect(packet(stale('web-1')), end(0));
    manager.staleSources().clear();
    expect(manager.staleSources().size).toBe(1);
  });

  it('does not let source_status packets into latest() or the envelope stream', () => {
    const envelopes: Envelope[] = [];
    manager.subscribe((e) => envelopes.push(e));
    const socket = connect(end(0));
    socket.send(packet(stale('web-1')));
    expect(envelopes).toEqual([]);
    expect(manager.latest().size).toBe(0);
  });
});
