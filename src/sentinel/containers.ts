import type { ContainerStatus, ContainerStatusMessage } from '../protocol/wire.js';

/**
 * Decides which container states to publish: a container's state when it first appears or changes,
 * every container's state again on a re-announce (so that a stream restarted in between relearns them;
 * the caller decides when, on the same clock as the alerts), and `removing` once for a container that
 * has vanished from Docker's list, so that a dashboard does not show it running forever. Pure.
 */
export class ContainerTracker {
  readonly #known = new Map<string, ContainerStatus['status']>();

  /** The envelopes to publish for the containers listed now (Docker's full list, not a delta). */
  update(containers: readonly ContainerStatus[], time: string, isReannounce: boolean): ContainerStatusMessage[] {
    const out: ContainerStatusMessage[] = [];
    const seen = new Set<string>();
    for (const c of containers) {
      seen.add(c.container);
      if (isReannounce || this.#known.get(c.container) !== c.status) out.push({ type: 'container_status', data: c });
      this.#known.set(c.container, c.status);
    }
    for (const name of [...this.#known.keys()]) {
      if (seen.has(name)) continue;
      this.#known.delete(name);
      out.push({ type: 'container_status', data: { container: name, status: 'removing', time } });
    }
    return out;
  }
}
