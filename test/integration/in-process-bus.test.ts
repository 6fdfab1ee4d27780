import { describe, expect, it } from 'vitest';
import { createInProcessBus } from '../../src/redis/in-process-bus.js';
import { createSystemPublisher } from '../../src/publisher/publisher.js';
import { metric } from '../helpers/fixtures.js';
import { startServer } from '../helpers/server.js';
import { connectOpen } from '../helpers/ws-client.js';

describe('createInProcessBus', () => {
  it('carries messages from a publisher to the stream with no Redis server', async () => {
    const bus = createInProcessBus();
    const server = await startServer({ redis: bus, apiKeys: ['k'] });
    try {
      await server.stream.ready;
      expect(server.stream.stats().redis).toBe('up');
      const client = await connectOpen(server.wsUrl('api_key=k'));
      const publisher = createSystemPublisher({ redis: bus });
      await publisher.publishMetric({ metric_type: 'cpu', value: 12.5, source: 'host' });
      await bus.publish('system:metrics', JSON.stringify(metric('memory', 40)));
      await client.waitFor((p) => p.type === 'system_metric' && p.data.metric_type === 'memory');
      expect(client.packets.filter((p) => p.type === 'system_metric').map((p) => p.type === 'system_metric' && p.data.value)).toEqual([
        12.5, 40,
      ]);
      await publisher.close();
      await client.close();
    } finally {
      await server.close();
    }
    expect(bus.subscriberCount).toBe(0);
  });

  it('delivers only to subscribers of the channel, asynchronously and in order', async () => {
    const bus = createInProcessBus();
    const a = bus.duplicate() as import('node:events').EventEmitter & { subscribe(c: string): Promise<number> };
    await a.subscribe('one');
    const received: string[] = [];
    a.on('messageBuffer', (_c: Buffer, m: Buffer) => received.push(m.toString()));
    const counts = [bus.publish('one', 'x'), bus.publish('two', 'y'), bus.publish('one', 'z')];
    expect(received).toEqual([]); // not synchronously
    expect(await Promise.all(counts)).toEqual([1, 0, 1]);
    await new Promise((r) => setImmediate(r));
    expect(received).toEqual(['x', 'z']);
  });
});
