import { describe, expect, it } from 'vitest';
import { RESUME_OVERLAP_MS, ResumeTracker } from '../../../src/client/resume.js';
import type { Envelope } from '../../../src/protocol/wire.js';

const T0 = Date.parse('2026-01-17T04:30:00Z');
const URL_ = 'ws://example.test/api/system/ws?types=system_metric';
const metric = (value: number, timeMs: number, metric_type = 'cpu'): Envelope => ({
  type: 'system_metric',
  data: { time: new Date(timeMs).toISOString(), metric_type, value, source: 'host' },
});
const since = (url: string): string | null => new URL(url).searchParams.get('since');

describe('ResumeTracker', () => {
  it('asks for nothing on the first connection without historyMs, and for now - historyMs with it', () => {
    expect(since(new ResumeTracker(0, true, () => T0).url(URL_))).toBeNull();
    const url = new ResumeTracker(300_000, true, () => T0).url(URL_);
    expect(since(url)).toBe(String(T0 - 300_000));
    expect(new URL(url).searchParams.get('types')).toBe('system_metric');
  });

  it('reconnects from the newest time received, less the overlap', () => {
    const tracker = new ResumeTracker(0, true, () => T0 + 60_000);
    tracker.url(URL_);
    tracker.accept(metric(1, T0 + 5000));
    tracker.accept(metric(2, T0 + 3000, 'memory'));
    expect(since(tracker.url(URL_))).toBe(String(T0 + 5000 - RESUME_OVERLAP_MS));
  });

  it('caps since at the local clock when a producer`s clock runs ahead', () => {
    let now = T0;
    const tracker = new ResumeTracker(0, true, () => now);
    tracker.url(URL_);
    now = T0 + 1000;
    tracker.accept(metric(1, T0 + 3_600_000)); // an hour ahead
    expect(since(tracker.url(URL_))).toBe(String(T0 + 1000 - RESUME_OVERLAP_MS));
  });

  it('reconnects from what the first connection asked for (or its time) when nothing arrived', () => {
    const withHistory = new ResumeTracker(60_000, true, () => T0);
    withHistory.url(URL_);
    expect(since(withHistory.url(URL_))).toBe(String(T0 - 60_000));
    let now = T0;
    const plain = new ResumeTracker(0, true, () => now);
    plain.url(URL_);
    now += 10_000;
    expect(since(plain.url(URL_))).toBe(String(T0));
  });

  it('passes each value once per key: newer times pass, older ones and exact repeats do not', () => {
    const tracker = new ResumeTracker(0, true, () => T0);
    expect(tracker.accept(metric(1, T0))).toBe(true);
    expect(tracker.accept(metric(1, T0))).toBe(false); // the same envelope again
    expect(tracker.accept(metric(2, T0))).toBe(true); // same time, other content
    expect(tracker.accept(metric(2, T0))).toBe(false);
    expect(tracker.accept(metric(0, T0 - 1))).toBe(false); // older than the key shows
    expect(tracker.accept(metric(0, T0 - 1, 'memory'))).toBe(true); // another key
    expect(tracker.accept(metric(3, T0 + 1))).toBe(true);
    expect(tracker.accept(metric(1, T0))).toBe(false);
  });

  it('does nothing with resume off: no since on reconnect, every envelope passes', () => {
    const tracker = new ResumeTracker(0, false, () => T0);
    tracker.url(URL_);
    expect(tracker.accept(metric(1, T0))).toBe(true);
    expect(tracker.accept(metric(1, T0))).toBe(true);
    expect(since(tracker.url(URL_))).toBeNull();
  });
});
