import { describe, expect, it } from 'vitest';
import { encodeBatch, envelopeDelivery } from '../../src/delivery.js';
import { envelopeKey } from '../../src/protocol.js';
import { alert, container, metric } from '../helpers/fixtures.js';

describe('encodeBatch', () => {
  it('sends a single packet as itself and several as one JSON array', () => {
    const m = metric();
    const one = [envelopeDelivery(m, envelopeKey(m))];
    expect(JSON.parse(encodeBatch(one).toString())).toEqual(m);
    const two = [envelopeDelivery(m, envelopeKey(m)), envelopeDelivery(container(), envelopeKey(container()))];
    expect(JSON.parse(encodeBatch(two).toString())).toEqual([m, expect.objectContaining({ type: 'container_status' })]);
  });

  it('joins a batch once however many clients send it', () => {
    const batch = [envelopeDelivery(metric(), 'a'), envelopeDelivery(metric('memory'), 'b')];
    expect(encodeBatch(batch)).toBe(encodeBatch(batch));
  });

  it('lets only metrics be conflated', () => {
    expect(envelopeDelivery(metric(), 'k').conflationKey).toBe('k');
    expect(envelopeDelivery(container(), 'k').conflationKey).toBeNull();
    expect(envelopeDelivery(alert(), 'k').conflationKey).toBeNull();
  });
});
