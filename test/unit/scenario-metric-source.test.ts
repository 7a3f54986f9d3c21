import { parseOpenMetrics } from '../../lambdas/adapters/scenario/openmetrics';
import {
  parseScenarioQuery,
  ScenarioMetricSource,
  SUPPORTED_PROMQL,
} from '../../lambdas/adapters/scenario/scenario-metric-source';
import type { InstantSample, MetricQueryError } from '../../lambdas/core/perception/metric-source';

const T0 = 1_800_000_000;

/** Lines `name{labels} value ts`, one per (offset in minutes, value) point. */
function series(name: string, labels: string, points: [number, number][]): string[] {
  return points.map(([minute, value]) => `${name}${labels} ${value} ${T0 + minute * 60}`);
}

const TEXT = [
  '# TYPE rps gauge',
  ...series('rps', '{service="api",namespace="edge",pod="api-1"}', [
    [0, 10],
    [1, 11],
    [2, 12],
  ]),
  ...series('rps', '{service="api",namespace="edge",pod="api-2"}', [
    [0, 20],
    [1, 21],
    [2, 22],
  ]),
  ...series('rps', '{service="api-gateway",namespace="edge",pod="gw-1"}', [
    [0, 5],
    [1, 6],
  ]),
  ...series('rps', '{service="orders",namespace="trading"}', [
    [0, 1],
    [1, Number.NaN],
    [2, 3],
  ]),
  '# TYPE errors gauge',
  // A scrape gap: samples at 0, 1, then nothing until 6.
  ...series('errors', '{service="api",namespace="edge"}', [
    [0, 0.1],
    [1, 0.2],
    [6, 0.7],
  ]),
  ...series('errors', '{service="orders"}', [
    [0, 0.5],
    [1, Number.NaN],
  ]),
  '# EOF',
  '',
].join('\n');

const store = parseOpenMetrics(TEXT);
const source = new ScenarioMetricSource(store);

async function instant(query: string, minute = 1, src = source): Promise<InstantSample[]> {
  const result = await src.instant(query, T0 + minute * 60);
  if (!result.ok) throw new Error(`query failed: ${result.error.message}`);
  return result.value;
}

/** Results as `label=value,...: value`, sorted, for compact assertions. */
async function rows(query: string, minute = 1, src = source): Promise<string[]> {
  return (await instant(query, minute, src))
    .map(
      (s) =>
        `${Object.entries(s.labels)
          .map(([k, v]) => `${k}=${v}`)
          .join(',')}: ${s.value}`,
    )
    .sort();
}

async function queryError(query: string): Promise<MetricQueryError> {
  const result = await source.instant(query, T0);
  if (result.ok) throw new Error(`expected "${query}" to fail`);
  return result.error;
}

describe('ScenarioMetricSource selectors', () => {
  it('returns every series of a metric with its labels and __name__', async () => {
    expect(await rows('rps')).toEqual([
      '__name__=rps,namespace=edge,pod=api-1,service=api: 11',
      '__name__=rps,namespace=edge,pod=api-2,service=api: 21',
      '__name__=rps,namespace=edge,pod=gw-1,service=api-gateway: 6',
      '__name__=rps,namespace=trading,service=orders: NaN',
    ]);
  });

  it('matches =, !=, =~ and !~, with regexes anchored at both ends', async () => {
    expect(await rows('rps{service="api"}')).toHaveLength(2);
    expect(await rows('rps{service!="api"}')).toEqual([
      '__name__=rps,namespace=edge,pod=gw-1,service=api-gateway: 6',
      '__name__=rps,namespace=trading,service=orders: NaN',
    ]);
    expect(await rows('rps{service=~"api"}')).toHaveLength(2);
    expect(await rows('rps{service=~"api.*"}')).toHaveLength(3);
    expect(await rows('rps{service=~"gate"}')).toHaveLength(0);
    expect(await rows('rps{service!~"api.*"}')).toEqual(['__name__=rps,namespace=trading,service=orders: NaN']);
    expect(await rows('rps{service=~"API|orders"}')).toHaveLength(1);
    expect(await rows('rps{service=~"(?i)API"}')).toHaveLength(2);
    expect(await rows("rps{service='api', pod=~`api-[12]`,}")).toHaveLength(2);
  });

  it('treats a missing label as the empty string', async () => {
    expect(await rows('rps{pod=""}')).toEqual(['__name__=rps,namespace=trading,service=orders: NaN']);
    expect(await rows('rps{pod!=""}')).toHaveLength(3);
    expect(await rows('errors{namespace=""}')).toEqual(['__name__=errors,service=orders: NaN']);
  });

  it('selects by __name__ and by labels across metrics', async () => {
    expect(await rows('{__name__=~"rps|errors", service="orders"}')).toEqual([
      '__name__=errors,service=orders: NaN',
      '__name__=rps,namespace=trading,service=orders: NaN',
    ]);
    expect(await rows('{service="api", pod=""}')).toEqual(['__name__=errors,namespace=edge,service=api: 0.2']);
    expect(await rows('no_such_metric')).toEqual([]);
  });

  it('returns a NaN sample as NaN', async () => {
    const [sample] = await instant('errors{service="orders"}');
    expect(sample.value).toBeNaN();
  });
});

describe('ScenarioMetricSource lookback (staleness)', () => {
  const value = async (minute: number, src = source): Promise<number | undefined> =>
    (await instant('errors{service="api"}', minute, src))[0]?.value;

  it('returns the latest sample in (t - 5m, t]', async () => {
    expect(await value(-0.01)).toBeUndefined();
    expect(await value(0)).toBe(0.1);
    expect(await value(0.5)).toBe(0.1);
    expect(await value(1)).toBe(0.2);
  });

  it('keeps returning the last value through a gap shorter than the lookback, then drops the series', async () => {
    expect(await value(2)).toBe(0.2);
    expect(await value(5.99)).toBe(0.2);
    // The window is open on the left: a sample exactly 5 minutes old is stale.
    expect(await value(6 - 1 / 60)).toBe(0.2);
    expect(await value(6)).toBe(0.7);
    expect(await value(10.99)).toBe(0.7);
    expect(await value(11)).toBeUndefined();
    expect(await rows('errors{service="orders"}', 6)).toEqual([]);
  });

  it('drops a series exactly lookback seconds after its last sample', async () => {
    expect(await rows('rps{pod="gw-1"}', 1 + 299 / 60)).toHaveLength(1);
    expect(await rows('rps{pod="gw-1"}', 1 + 300 / 60)).toHaveLength(0);
  });

  it('takes a configurable lookback', async () => {
    const short = new ScenarioMetricSource(store, { lookbackSeconds: 60 });
    expect(await value(1.5, short)).toBe(0.2);
    expect(await value(2, short)).toBeUndefined();
    expect(await value(6, short)).toBe(0.7);
    expect(() => new ScenarioMetricSource(store, { lookbackSeconds: 0 })).toThrow(RangeError);
  });
});

describe('ScenarioMetricSource aggregations', () => {
  it('sums by the listed labels and drops __name__', async () => {
    expect(await rows('sum by (service, namespace) (rps)')).toEqual([
      'namespace=edge,service=api-gateway: 6',
      'namespace=edge,service=api: 32',
      'namespace=trading,service=orders: NaN',
    ]);
    // gw-1 has no sample at minute 2: its minute-1 sample is still within the lookback.
    expect(await rows('sum by (service, namespace) (rps)', 2)).toEqual([
      'namespace=edge,service=api-gateway: 6',
      'namespace=edge,service=api: 34',
      'namespace=trading,service=orders: 3',
    ]);
  });

  it('supports the grouping after the expression, and no grouping at all', async () => {
    expect(await rows('sum(rps{service="api"}) by (service)')).toEqual(['service=api: 32']);
    expect(await rows('sum(rps{namespace="edge"})')).toEqual([': 38']);
    expect(await rows('SUM BY (namespace) (rps)')).toEqual(['namespace=edge: 38', 'namespace=trading: NaN']);
  });

  it('min and max skip NaN unless every input is NaN; avg and sum propagate it', async () => {
    expect(await rows('max by (namespace) (rps)')).toEqual(['namespace=edge: 21', 'namespace=trading: NaN']);
    expect(await rows('min by (namespace) (rps)')).toEqual(['namespace=edge: 6', 'namespace=trading: NaN']);
    expect(await rows('max({service="orders"})')).toEqual([': NaN']);
    expect(await rows('max({service=~"orders|api"})')).toEqual([': 21']);
    expect(await rows('min({service=~"orders|api"})')).toEqual([': 0.2']);
    expect(await rows('avg by (namespace) (rps)')).toEqual([
      `namespace=edge: ${(11 + 21 + 6) / 3}`,
      'namespace=trading: NaN',
    ]);
  });

  it('counts series, NaN ones included', async () => {
    expect(await rows('count by (namespace) (rps)')).toEqual(['namespace=edge: 3', 'namespace=trading: 1']);
    expect(await rows('count(rps)')).toEqual([': 4']);
  });

  it('without drops the listed labels and __name__', async () => {
    expect(await rows('sum without (pod) (rps)')).toEqual([
      'namespace=edge,service=api-gateway: 6',
      'namespace=edge,service=api: 32',
      'namespace=trading,service=orders: NaN',
    ]);
    expect(await rows('max without () (rps{pod="api-1"})')).toEqual(['namespace=edge,pod=api-1,service=api: 11']);
  });

  it('nests aggregations and parentheses', async () => {
    expect(await rows('max by (namespace) (sum by (service, namespace) ((rps)))')).toEqual([
      'namespace=edge: 32',
      'namespace=trading: NaN',
    ]);
    expect(await rows('count(count by (service) (rps))')).toEqual([': 3']);
  });

  it('uses compensated summation like Prometheus', async () => {
    const big = parseOpenMetrics(
      [`x{i="1"} 1e100 ${T0}`, `x{i="2"} 1 ${T0}`, `x{i="3"} -1e100 ${T0}`, '# EOF', ''].join('\n'),
    );
    expect(await rows('sum(x)', 0, new ScenarioMetricSource(big))).toEqual([': 1']);
  });

  it('answers the signal catalog queries', async () => {
    const [row] = await rows('max by (service, namespace) (errors{service="api"})', 6);
    expect(row).toBe('namespace=edge,service=api: 0.7');
  });
});

describe('ScenarioMetricSource range queries', () => {
  it('evaluates the instant query at every step and keeps only the steps where a series is present', async () => {
    const result = await source.range('sum by (service) (errors)', T0, T0 + 12 * 60, 120);
    if (!result.ok) throw new Error(result.error.message);
    const byService = Object.fromEntries(
      result.value.map((s) => [s.labels.service, { ts: [...s.timestamps], vs: [...s.values] }]),
    );
    const at = (...minutes: number[]): number[] => minutes.map((m) => T0 + m * 60);
    expect(byService.api).toEqual({ ts: at(0, 2, 4, 6, 8, 10), vs: [0.1, 0.2, 0.2, 0.7, 0.7, 0.7] });
    expect(byService.orders.ts).toEqual(at(0, 2, 4));
    expect(byService.orders.vs[0]).toBe(0.5);
    expect(byService.orders.vs[1]).toBeNaN();
    expect(result.value[0].timestamps).toBeInstanceOf(Float64Array);
  });

  it('rejects a bad range as a query error', async () => {
    const cases: [number, number, number, string][] = [
      [T0 + 60, T0, 60, 'end timestamp must not be before start time'],
      [T0, T0 + 60, 0, 'use a positive step'],
      [T0, T0 + 60, -1, 'use a positive step'],
      [T0, T0 + 86_400 * 30, 60, 'exceeded maximum resolution of 11000 points'],
    ];
    for (const [start, end, step, message] of cases) {
      const result = await source.range('rps', start, end, step);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.error).toMatchObject({ kind: 'query', query: 'rps', range: { start, end, stepSeconds: step } });
        expect(result.error.message).toContain(message);
      }
    }
  });

  it('rejects unsupported PromQL in a range query too', async () => {
    const result = await source.range('rate(rps[5m])', T0, T0 + 60, 60);
    expect(result.ok).toBe(false);
  });
});

describe('ScenarioMetricSource unsupported PromQL', () => {
  it.each([
    ['rate(rps[5m])', 1, 'function "rate" is not supported'],
    ['sum(rate(rps[5m]))', 5, 'function "rate" is not supported'],
    ['rps[5m]', 4, 'range vector selectors (metric[5m]) and subqueries are not supported'],
    ['sum by (service) (rps) / 2', 24, 'binary operator "/" is not supported'],
    ['rps > 0.5', 5, 'binary operator ">" is not supported'],
    ['rps != 3', 5, 'binary operator "!=" is not supported'],
    ['rps and errors', 5, 'binary operator "and" is not supported'],
    ['rps offset 5m', 5, 'the offset modifier is not supported'],
    ['rps @ 1700000000', 5, 'the @ modifier is not supported'],
    ['topk(3, rps)', 1, 'aggregation "topk" is not supported (only sum, min, max, avg, count)'],
    ['quantile by (service) (0.9, rps)', 1, 'aggregation "quantile" is not supported'],
    ['sum(rps, errors)', 8, '"sum" takes one argument'],
    ['42', 1, 'number literal "42" is not supported'],
    ['"text"', 1, 'string literals are not supported'],
    ['-rps', 1, 'unary operator "-" is not supported'],
    ['{}', 1, 'vector selector must contain at least one non-empty matcher'],
    ['{service=~".*"}', 1, 'vector selector must contain at least one non-empty matcher'],
    ['rps{__name__="errors"}', 5, 'metric name must not be set twice'],
    ['rps{service="api"', 18, 'unexpected end of query, expected "," or "}"'],
    ['rps{service=api}', 13, 'unexpected "api", expected a quoted string after "service="'],
    ['rps{service~"api"}', 12, 'unexpected character "~"'],
    ['rps{service="api}', 13, 'unterminated string'],
    ['rps{service=~"("}', 14, 'invalid regular expression "(" for label "service"'],
    ['rps{service="\\d"}', 14, 'unknown escape sequence "\\d"'],
    ['sum by (service (rps)', 17, 'unexpected "(", expected "," or ")"'],
    ['sum by (a:b) (rps)', 9, 'invalid label name "a:b"'],
    ['sum()', 5, '"sum" needs an expression to aggregate'],
    ['', 1, 'unexpected end of query, expected an expression'],
    ['rps errors', 5, 'unexpected "errors", expected end of query'],
    ['sum(rps - errors)', 9, 'binary operator "-" is not supported'],
    ['rps{!="a"}', 5, 'unexpected "!=", expected a label name or "}"'],
    ['rps{a=-1}', 7, 'unexpected "-", expected a quoted string after "a="'],
  ])('%s', async (query, position, message) => {
    const error = await queryError(query);
    expect(error.kind).toBe('query');
    expect(error.query).toBe(query);
    expect(error.time).toBe(T0);
    expect(error.message.startsWith(`unsupported query at char ${position}: ${message}`)).toBe(true);
    expect(error.message).toContain(SUPPORTED_PROMQL);
  });

  it('never throws for a bad evaluation time', async () => {
    const result = await source.instant('rps', Number.NaN);
    expect(result.ok).toBe(false);
  });

  it('parses the queries of the signal catalog', () => {
    for (const query of [
      'sum by (service, namespace) (service:http_requests:rate1m)',
      'max by (service, namespace) (service:http_errors:ratio_rate1m)',
      'min by (service, namespace) (node:filesystem_avail:ratio)',
    ]) {
      expect(parseScenarioQuery(query)).toMatchObject({ ok: true, ast: { kind: 'aggregate' } });
    }
  });

  it('decodes string escapes like PromQL', () => {
    const parsed = parseScenarioQuery('x{a="q\\"\\\\\\n\\u00e9\\x41\\101", b=\'it\\\'s\'}');
    expect(parsed).toEqual({
      ok: true,
      ast: {
        kind: 'selector',
        matchers: [
          { label: '__name__', op: '=', value: 'x' },
          { label: 'a', op: '=', value: 'q"\\\néAA' },
          { label: 'b', op: '=', value: "it's" },
        ],
      },
    });
  });
});
