// Publisher: `rate` messages per second for `seconds`, or a back-to-back burst of `burst` messages.
// Each message is a valid ~230-byte system_metric whose meta carries `t` (process.hrtime in µs),
// `seq` and `k` (its key), so clients can measure latency and find each key's final value.
import { parseArgs } from 'node:util';
import { Redis } from 'ioredis';

const { values: args } = parseArgs({
  options: {
    redis: { type: 'string' },
    channel: { type: 'string' },
    rate: { type: 'string', default: '10' },
    seconds: { type: 'string', default: '10' },
    burst: { type: 'string', default: '0' },
    keys: { type: 'string', default: '1000' },
    'metric-type': { type: 'string', default: 'bench' },
    // With --sources S, each message's source is `h<seq % S>:<key>`: a part of host h<seq % S>, as a mount
    // is (`web-1:/var`), so that `?source=h7` takes it. Keys stay one per `--keys`.
    sources: { type: 'string', default: '0' },
  },
});
const redis = new Redis(args.redis);
const keys = Number(args.keys);
const nowUs = () => Number(process.hrtime.bigint() / 1000n);
const time = new Date().toISOString();

const sources = Number(args.sources);

// Without --sources, one host publishes every key (each its own metric_type), as one sentinel does: a source
// that publishes all the time, so the stream never reports it stale. (With a source per key, each would
// publish once every `keys / rate` seconds and the stream would, correctly, keep announcing sources going
// stale and coming back: `source_status` packets that the bare baseline does not send.)
function message(seq) {
  const k = `b${seq % keys}`;
  const source = sources > 0 ? `h${seq % sources}:${k}` : 'bench-host-01';
  const metricType = sources > 0 ? args['metric-type'] : `${args['metric-type']}.${k}`;
  // ~230 bytes, like a sentinel's sample with its unit and host annotations.
  return JSON.stringify({
    type: 'system_metric',
    data: { time, metric_type: metricType, value: seq, source, meta: { t: nowUs(), seq, k, unit: 'percent', host: 'bench-host-01' } },
  });
}

// Connected before the first timestamp is taken: a message created while ioredis is still connecting
// would wait in its offline queue and count the connect time as latency.
await redis.ping();

let published = 0;
if (Number(args.burst) > 0) {
  const pipeline = redis.pipeline();
  for (let seq = 0; seq < Number(args.burst); seq++) pipeline.publish(args.channel, message(seq));
  await pipeline.exec();
  published = Number(args.burst);
  process.send?.({ kind: 'burst-end', atUs: nowUs() });
} else {
  const rate = Number(args.rate);
  const total = Math.round(rate * Number(args.seconds));
  const start = performance.now();
  for (let seq = 0; seq < total; seq++) {
    const due = start + (seq * 1000) / rate;
    const wait = due - performance.now();
    if (wait > 1) await new Promise((r) => setTimeout(r, wait));
    redis.publish(args.channel, message(seq));
    published++;
  }
  await redis.ping();
}
process.send?.({ kind: 'done', published });
redis.disconnect();
