import { collectSignals, parseSeriesKey, seriesKey } from '../../lambdas/core/perception/collect';
import type {
  InstantResult,
  InstantSample,
  MetricSource,
  RangeResult,
} from '../../lambdas/core/perception/metric-source';
import { fail, ok } from '../../lambdas/core/result';
import { testCatalog } from '../support/catalog';

class FixedSource implements MetricSource {
  async instant(query: string, time: number): Promise<InstantResult> {
    if (query.includes('duration')) return fail({ kind: 'timeout', query, message: 'no answer after 5000 ms', time });
    if (query.includes('http_errors')) {
      return ok<InstantSample[]>([
        { labels: { service: 'order-api' }, value: 0.01 },
        { labels: { service: 'order-api', pod: 'b' }, value: 0.02 },
        { labels: { pod: 'orphan' }, value: 0.03 },
      ]);
    }
    return ok([{ labels: { service: 'order-api' }, value: 5 }]);
  }

  async range(): Promise<RangeResult> {
    return ok([]);
  }
}

describe('collectSignals', () => {
  it('collects every signal, reports the failing one, and drops ambiguous series with a reason', async () => {
    const tick = await collectSignals(new FixedSource(), testCatalog, 1_700_000_000);
    expect(tick.errors).toEqual([expect.objectContaining({ signalId: 'latency_p99', kind: 'timeout' })]);
    expect(tick.points).toEqual([
      { signalId: 'error_ratio', entity: 'order-api', value: 0.01 },
      { signalId: 'request_rate', entity: 'order-api', value: 5 },
      { signalId: 'disk_free', entity: 'order-api', value: 5 },
    ]);
    expect(tick.dropped.map((d) => d.reason)).toEqual([
      'several series for service="order-api": aggregate the query by service',
      'a series has no "service" label',
    ]);
  });

  it('names series as signal{entity}', () => {
    expect(seriesKey('error_ratio', 'order-api')).toBe('error_ratio{order-api}');
    expect(parseSeriesKey('error_ratio{order-api}')).toEqual({ signalId: 'error_ratio', entity: 'order-api' });
    expect(() => parseSeriesKey('broken')).toThrow('malformed series key "broken"');
  });
});
