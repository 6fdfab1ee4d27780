import type { Redis } from 'ioredis';
import { metric } from './fixtures.js';
import type { TestClient } from './ws-client.js';

/**
 * Publishes `value` until `client` receives it, and resolves with how long that took: after a restart
 * or a refused SUBSCRIBE, the first publishes may race the (re)subscription. At most 100 tries of 50 ms.
 */
export async function deliverEventually(pub: Redis, channel: string, client: TestClient, value: number): Promise<number> {
  const started = performance.now();
  for (let attempt = 0; attempt < 100; attempt++) {
    await pub.publish(channel, JSON.stringify(metric('probe', value))).catch(() => 0);
    try {
      await client.waitFor((p) => p.type === 'system_metric' && p.data.value === value, 50);
      return performance.now() - started;
    } catch {
      // not subscribed (again) yet
    }
  }
  throw new Error('live messages did not resume');
}
