// Learning baselines from a metric source: a few signals fetched at once, results in catalog order, errors named.

import { learnBaselines } from '../../lambdas/core/cognition/learn';
import { signalCatalogSchema } from '../../lambdas/core/config/schema';
import type { MetricSource, RangeResult } from '../../lambdas/core/perception/metric-source';
import { testDetection } from '../support/catalog';

const DAY = 86_400;
const UNTIL = Date.parse('2026-11-04T00:00:00Z') / 1000;

const catalog = signalCatalogSchema.parse({
  signals: Array.from({ length: 8 }, (_, i) => ({
    id: `signal_${i}`,
    query: `max by (service) (metric_${i})`,
    unit: 'ratio',
    badDirection: 'up',
  })),
});

/** A source that answers each range query after `delayMs`, one daily-seasonal series per query; `metric_3` fails. */
function slowSource(delayMs: number): MetricSource & { maxInFlight: number } {
  let inFlight = 0;
  const source = {
    maxInFlight: 0,
    instant: async () => ({ ok: true as const, value: [] }),
    range: async (query: string, start: number, end: number, step: number): Promise<RangeResult> => {
      inFlight++;
      source.maxInFlight = Math.max(source.maxInFlight, inFlight);
      await new Promise((resolve) => setTimeout(resolve, delayMs));
      inFlight--;
      if (query.includes('metric_3')) {
        return { ok: false, error: { kind: 'timeout', query, message: 'no answer within 5000 ms' } };
      }
      const n = Math.floor((end - start) / step) + 1;
      const timestamps = Float64Array.from({ length: n }, (_, i) => start + i * step);
      const values = timestamps.map((t) => 1 + Math.sin((2 * Math.PI * (t % DAY)) / DAY) + 0.01 * Math.cos(t));
      return { ok: true, value: [{ labels: { service: 'order-api' }, timestamps, values }] };
    },
  };
  return source;
}

describe('learnBaselines', () => {
  it('fetches four signals at a time, keeps catalog order and names the signal whose history failed', async () => {
    const source = slowSource(20);
    const outcome = await learnBaselines(source, catalog, { ...testDetection, historyDays: 2 }, UNTIL);
    expect(source.maxInFlight).toBe(4);
    expect(outcome.baselines.map((b) => b.key)).toEqual([0, 1, 2, 4, 5, 6, 7].map((i) => `signal_${i}{order-api}`));
    expect(outcome.errors).toEqual([
      expect.objectContaining({ signalId: 'signal_3', kind: 'timeout', message: 'no answer within 5000 ms' }),
    ]);
  });
});
