import { Cluster, Redis } from 'ioredis';
import { afterEach, describe, expect, it } from 'vitest';
import { describeEndpoint, openRedisConnection } from '../../../src/redis/redis-connection.js';
import { recordingLogger } from '../../helpers/logger.js';

// Every connection here is lazy (`lazyConnect: true` as an override), so nothing touches the network.
const opened: (Redis | Cluster)[] = [];
afterEach(() => {
  for (const c of opened.splice(0)) c.disconnect();
});

function open(...args: Parameters<typeof openRedisConnection>): Redis {
  const connection = openRedisConnection(...args);
  opened.push(connection);
  return connection;
}

describe('openRedisConnection', () => {
  it('opens a URL with the role settings and its connection name', () => {
    const sub = open('redis://127.0.0.1:1', 'subscriber', recordingLogger(), { lazyConnect: true });
    expect(sub.options).toMatchObject({ connectionName: 'system-stream:subscriber', maxRetriesPerRequest: null, enableOfflineQueue: true });
    const pub = open('redis://127.0.0.1:1', 'publisher', recordingLogger(), { lazyConnect: true, commandTimeout: 300 });
    expect(pub.options).toMatchObject({
      connectionName: 'system-stream:publisher',
      enableOfflineQueue: false,
      maxRetriesPerRequest: 1,
      commandTimeout: 300,
    });
    expect(pub.options.retryStrategy?.(10)).toBe(1000);
  });

  it("duplicates a host's Redis client, keeping its settings and adding the role's", () => {
    const host = new Redis({ port: 1, password: 'pw', lazyConnect: true });
    opened.push(host);
    const sub = open(host, 'subscriber', recordingLogger(), { lazyConnect: true });
    expect(sub).not.toBe(host);
    expect(sub.options).toMatchObject({ port: 1, password: 'pw', connectionName: 'system-stream:subscriber', maxRetriesPerRequest: null });
    expect(host.options.connectionName).not.toBe('system-stream:subscriber');
  });

  it('duplicates a Cluster with (startupNodes, options): retry and offline queue on the cluster, the name on each node', () => {
    const host = new Cluster([{ host: '127.0.0.1', port: 1 }], { lazyConnect: true, redisOptions: { password: 'pw' } });
    opened.push(host);
    const sub: unknown = open(host, 'subscriber', recordingLogger(), { lazyConnect: true });
    if (!(sub instanceof Cluster)) throw new Error('expected a Cluster');
    expect(sub).not.toBe(host);
    expect(sub.options.enableOfflineQueue).toBe(true);
    expect(sub.options.clusterRetryStrategy?.(10)).toBe(500);
    expect(sub.options.redisOptions).toMatchObject({
      password: 'pw',
      connectionName: 'system-stream:subscriber',
      maxRetriesPerRequest: null,
    });
    expect(sub.options.redisOptions).not.toHaveProperty('retryStrategy');
    expect(sub.options.redisOptions).not.toHaveProperty('enableOfflineQueue');
    expect(describeEndpoint(sub)).toBe('cluster 127.0.0.1:1');
  });

  it('logs errors at warn with only message and code, rate-limited', () => {
    const logger = recordingLogger();
    const sub = open('redis://:s3cret@127.0.0.1:1', 'subscriber', logger, { lazyConnect: true });
    const err = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED', options: { password: 's3cret' } });
    sub.emit('error', err);
    sub.emit('error', err);
    expect(logger.warnings()).toEqual([
      { obj: { event: 'redis_error', err: { message: 'connect ECONNREFUSED', code: 'ECONNREFUSED' } }, msg: 'redis subscriber error' },
    ]);
  });
});

describe('describeEndpoint', () => {
  it('names host and port, never the password', () => {
    const sub = open('redis://user:s3cret@127.0.0.1:6400/2', 'subscriber', recordingLogger(), { lazyConnect: true });
    expect(describeEndpoint(sub)).toBe('127.0.0.1:6400');
  });

  it('names a socket path, a Sentinel group and Cluster nodes given as URLs without their credentials', () => {
    expect(describeEndpoint({ options: { path: '/run/redis.sock' } })).toBe('unix:/run/redis.sock');
    expect(describeEndpoint({ options: { name: 'main', sentinels: [{ host: '127.0.0.11', port: 26379 }, { host: '127.0.0.12' }] } })).toBe(
      'sentinel group main via 127.0.0.11:26379, 127.0.0.12:26379',
    );
    expect(describeEndpoint({ startupNodes: ['redis://:s3cret@127.0.0.13:7000', 7001, { host: '127.0.0.14', port: 7002 }] })).toBe(
      'cluster 127.0.0.13:7000, 127.0.0.1:7001, 127.0.0.14:7002',
    );
    expect(describeEndpoint({})).toBe('an unknown address');
  });
});
