import type { ContainerStatus, ContainerStatusMessage } from '../protocol.js';

/**
 * Decides which container states to publish: a container's state when it first appears or changes,
 * every container's state again every `reannounceMs` (so that a stream restarted in between relearns
 * them), and `removing` once for a container that has vanished from Docker's list, so that a dashboard
 * does not show it running forever. Pure: the caller passes the time.
 */
export class ContainerTracker {
  readonly #reannounceMs: number;
  readonly #known = new Map<string, ContainerStatus['status']>();
  #lastAnnouncedAtMs = -Infinity;

  constructor(reannounceMs: number) {
    this.#reannounceMs = reannounceMs;
  }

  /** The envelopes to publish for the containers listed now (Docker's full list, not a delta). */
  update(containers: readonly ContainerStatus[], nowMs: number, time: string): ContainerStatusMessage[] {
    const isReannounce = nowMs - this.#lastAnnouncedAtMs >= this.#reannounceMs;
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
    if (isReannounce) this.#lastAnnouncedAtMs = nowMs;
    return out;
  }

  /** Makes the next `update()` announce every container, e.g. after a publish failed. */
  invalidate(): void {
    this.#lastAnnouncedAtMs = -Infinity;
  }
}
