// Picks the default sampler for this operating system.
import type { Logger } from '../shared/logger.js';
import { createProcSampler, type HostSampler } from './proc-sampler.js';
import { sampleSystem } from './sample.js';

/**
 * The default sampler: on Linux the procfs sampler (no process started per tick), elsewhere
 * {@link sampleSystem} (systeminformation, which reads the Docker socket from `DOCKER_SOCKET`).
 */
export function createHostSampler(options: { dockerSocket: string; dockerResyncMs: number; logger: Logger }): HostSampler {
  if (process.platform === 'linux') return createProcSampler(options);
  return { sample: sampleSystem, close() {} };
}
