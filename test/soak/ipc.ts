// Messages between the soak driver (soak.ts) and the server process it forks (server.ts).
import type { SystemStreamStats } from '../../src/server/stats.js';

/** What the server process reports when asked. Times in ms, sizes in bytes. */
export interface ServerSample {
  readonly rss: number;
  readonly heapUsed: number;
  readonly heapTotal: number;
  readonly external: number;
  /** CPU time (user + system) of the server process so far, in µs. */
  readonly cpuMicros: number;
  readonly stats: SystemStreamStats;
  /** Event-loop delay since the previous sample (monitorEventLoopDelay, 10 ms resolution). */
  readonly loopDelay: { readonly max: number; readonly p99: number; readonly mean: number };
  /** TCP sockets open on the http.Server (WebSocket clients and anything still closing). */
  readonly sockets: number;
  /** Largest `writableLength` of any socket since the previous sample (checked every 250 ms). */
  readonly maxSocketBuffer: number;
  /** `process.getActiveResourcesInfo()` counted by kind. */
  readonly resources: Readonly<Record<string, number>>;
  /** Logger calls at warn and above (and info), counted by `level message`. */
  readonly logs: Readonly<Record<string, number>>;
}

export type ToServer =
  { readonly type: 'sample'; readonly id: number; readonly gc: boolean } | { readonly type: 'close'; readonly id: number };

export type FromServer =
  { readonly type: 'ready'; readonly port: number } | { readonly type: 'reply'; readonly id: number; readonly sample: ServerSample };
