import { finalize, type Observable, share } from 'rxjs';
import { canSee, filterKey, type ClientFilter } from './client-filter.js';
import type { Delivery } from './delivery.js';
import { authorize } from '../operators/authorize.js';

/**
 * Clients grouped by filter: what each group receives is filtered once per batch, whatever its size. Every
 * packet of a batch is filtered by `canSee`: envelopes, and `source_status` packets too (a group narrowed to
 * some sources receives the status of those only); control packets reach every group.
 */
export interface FilterGroups {
  /**
   * The batches `filter` lets through, shared by every client whose filter is equal (see `filterKey`):
   * the stream's own batches for a client without a filter. Each batch is filtered once per group, and
   * a group receives one array per batch (the same array when everything passes), so the frame bytes
   * encoded for it are shared by the group too. A group ends with its last subscriber.
   */
  join(filter: ClientFilter): Observable<readonly Delivery[]>;
  /** Filters with at least one client. */
  readonly size: number;
}

/**
 * Groups clients by filter. The cost of filtering a batch grows with the number of distinct filters,
 * not with the number of clients: 1,000 clients with 100 distinct filters cost 100 scans of a batch,
 * never a scan of every other client's filter.
 */
export function createFilterGroups(batches$: Observable<readonly Delivery[]>): FilterGroups {
  const groups = new Map<string, Observable<readonly Delivery[]>>();
  return {
    join(filter) {
      const key = filterKey(filter);
      if (key === '') return batches$;
      const existing = groups.get(key);
      if (existing) return existing;
      const group: Observable<readonly Delivery[]> = batches$.pipe(
        authorize((delivery: Delivery) => canSee(filter, delivery)),
        finalize(() => {
          if (groups.get(key) === group) groups.delete(key);
        }),
        share(),
      );
      groups.set(key, group);
      return group;
    },
    get size() {
      return groups.size;
    },
  };
}
