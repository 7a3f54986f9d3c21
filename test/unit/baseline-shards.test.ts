// The sharded baseline job's core: narrowing PromQL to a shard's entities, hashing and packing series into
// shards, planning from a metric source, learning one shard through a fake MetricSource, and the publish rule.

import type { SeriesBaseline } from '../../lambdas/core/cognition/baseline';
import {
  BaselinePlanError,
  BaselinePublishRefusedError,
  type BaselineRun,
  type BaselineShard,
  entityBucket,
  learnShardStep,
  MAX_SHARDS,
  MAX_UNNARROWED_SERIES,
  packShards,
  planShardsStep,
  publishStep,
  SERIES_PER_QUERY,
  ShardHistoryError,
  type ShardPlan,
  scopeQuery,
  shardId,
  sliceSignal,
  TOLERATED_FAILED_SHARD_PERCENT,
} from '../../lambdas/core/cognition/baseline-shards';
import { detectionSchema, type SignalCatalog, signalCatalogSchema } from '../../lambdas/core/config/schema';
import type {
  InstantResult,
  MetricErrorKind,
  MetricSource,
  RangeResult,
  RangeSeries,
} from '../../lambdas/core/perception/metric-source';
import type { BaselinePublisher, CompletedShard, PublishOutcome } from '../../lambdas/core/ports';
import { fail, ok } from '../../lambdas/core/result';

const STEP = 300;
const DAY = 86_400;
const TIME = '2026-11-04T03:00:27Z';
const UNTIL = Date.parse('2026-11-04T03:00:00Z') / 1000;
const detection = detectionSchema.parse({ historyDays: 2 });

const names = (prefix: string, count: number) =>
  Array.from({ length: count }, (_, i) => `${prefix}-${String(i).padStart(3, '0')}`);

/**
 * Answers instant queries with every entity of the first metric the query names, and range queries with a
 * daily cycle for the entities its `service=~"..."` matcher selects (all of them without one). Records queries.
 */
class FakeHistory implements MetricSource {
  readonly instants: string[] = [];
  readonly ranges: string[] = [];
  failing?: { kind: MetricErrorKind; when: (query: string) => boolean };

  constructor(private readonly entitiesOf: Record<string, readonly string[]>) {}

  private entities(query: string): readonly string[] {
    const named = Object.keys(this.entitiesOf).filter((name) => query.includes(name));
    named.sort((a, b) => query.indexOf(a) - query.indexOf(b));
    return named.length > 0 ? this.entitiesOf[named[0]] : [];
  }

  async instant(query: string, time: number): Promise<InstantResult> {
    this.instants.push(query);
    if (this.failing?.when(query)) return fail({ kind: this.failing.kind, query, message: 'scripted failure', time });
    return ok(this.entities(query).map((service) => ({ labels: { service }, value: 1 })));
  }

  async range(query: string, start: number, end: number, stepSeconds: number): Promise<RangeResult> {
    this.ranges.push(query);
    if (this.failing?.when(query)) {
      return fail({ kind: this.failing.kind, query, message: 'scripted failure', range: { start, end, stepSeconds } });
    }
    const literal = /service=~("(?:[^"\\]|\\.)*")/.exec(query)?.[1];
    const wanted = literal === undefined ? undefined : new RegExp(`^(?:${JSON.parse(literal)})$`);
    const steps = Math.floor((end - start) / stepSeconds) + 1;
    return ok(
      this.entities(query)
        .filter((service) => !wanted || wanted.test(service))
        .map((service, k): RangeSeries => {
          const timestamps = Float64Array.from({ length: steps }, (_, i) => start + i * stepSeconds);
          const values = timestamps.map((t) => 100 + k + 20 * Math.sin((2 * Math.PI * t) / DAY) + ((t / STEP) % 7));
          return { labels: { service }, timestamps, values };
        }),
    );
  }
}

/** Keeps what shards write, and answers as the DynamoDB store does. */
class MemoryPublisher implements BaselinePublisher {
  readonly written = new Map<string, SeriesBaseline[]>();
  published?: { version: string; trainedUntil: number };
  outcome: PublishOutcome = 'published';

  async writeShard(version: string, id: string, baselines: readonly SeriesBaseline[]): Promise<void> {
    this.written.set(`${version}|${id}`, [...baselines]);
  }

  async completedShards(version: string): Promise<CompletedShard[]> {
    return [...this.written]
      .filter(([key]) => key.startsWith(`${version}|`))
      .map(([key, baselines]) => ({ shardId: key.split('|')[1], series: baselines.length }));
  }

  async publishVersion(version: string, trainedUntil: number): Promise<PublishOutcome> {
    if (this.outcome === 'published') this.published = { version, trainedUntil };
    return this.outcome;
  }
}

const catalogOf = (signals: { id: string; query: string }[]): SignalCatalog =>
  signalCatalogSchema.parse({
    signals: signals.map((s) => ({ ...s, unit: 'requests_per_second', badDirection: 'both' })),
  });

const catalog = catalogOf([
  { id: 'request_rate', query: 'sum by (service, namespace) (service:requests:rate5m)' },
  { id: 'error_ratio', query: 'max by (service) (service:errors:ratio)' },
  // Matching on chosen labels cannot be narrowed safely: learned whole, which small signals may be.
  { id: 'error_share', query: 'service:errors:ratio / on(service) group_left service:requests:total' },
]);
const entitiesOf = {
  'service:requests:rate5m': names('api', 23),
  'service:errors:ratio': names('db', 4),
};

describe('scopeQuery: narrows every series selector to the entities, or says why it cannot', () => {
  const entities = ['api-001', 'api.v2'];
  const matcher = 'service=~"api-001|api\\\\.v2"';

  test.each([
    [
      'aggregation over a recording rule',
      'max by (service, namespace) (a:b:c)',
      `max by (service, namespace) (a:b:c{${matcher}})`,
    ],
    [
      'grouping after the argument',
      'sum(rate(x{job="api"}[5m])) by (service)',
      `sum(rate(x{job="api", ${matcher}}[5m])) by (service)`,
    ],
    ['without that keeps the entity', 'sum without (pod) (x offset 1h)', `sum without (pod) (x{${matcher}} offset 1h)`],
    ['both sides of a binary operator', 'a{x="1",} / b', `a{x="1",${matcher}} / b{${matcher}}`],
    ['a selector with no metric name', '{__name__="up"}', `{__name__="up", ${matcher}}`],
    ['empty braces and a subquery', 'max_over_time((x{})[1h:5m])', `max_over_time((x{${matcher}})[1h:5m])`],
    ['strings and comments holding braces', 'x{a="}"} # see {y}', `x{a="}", ${matcher}} # see {y}`],
    [
      'a histogram quantile',
      'histogram_quantile(0.99, sum by (le, service) (rate(h_bucket[5m])))',
      `histogram_quantile(0.99, sum by (le, service) (rate(h_bucket{${matcher}}[5m])))`,
    ],
  ])('%s', (_name, query, expected) => {
    expect(scopeQuery(query, 'service', entities)).toEqual({ ok: true, value: expected });
  });

  test.each([
    ['topk(5, x)', 'topk at char 0 does not keep "service"'],
    ['sum(x)', 'sum at char 0 does not keep "service"'],
    ['sum without (service) (x)', 'does not keep "service"'],
    ['max by (namespace) (x)', 'does not keep "service"'],
    ['x / on(service) y', 'vector matching with on()'],
    ['x * ignoring(pod) y', 'vector matching with ignoring()'],
    ['label_replace(x, "service", "$1", "pod", "(.*)")', 'label_replace()'],
    ['x or vector(0)', 'vector()'],
    ['time()', 'no series selector'],
    ['x{a="b"', 'unbalanced "{"'],
    ['x{a="b}', 'unterminated string'],
  ])('refuses %s', (query, reason) => {
    const result = scopeQuery(query, 'service', entities);
    expect(result.ok).toBe(false);
    expect(result.ok ? '' : result.error).toContain(reason);
  });

  test('escapes regular-expression metacharacters, quotes and backslashes so each entity matches only itself', () => {
    const odd = ['a.b', 'c"d', 'e\\f', 'g|h', '(i)', 'j+k'];
    const result = scopeQuery('x', 'service', odd);
    if (!result.ok) throw new Error(result.error);
    const literal = /service=~("(?:[^"\\]|\\.)*")/.exec(result.value)?.[1] as string;
    const regex = new RegExp(`^(?:${JSON.parse(literal)})$`);
    for (const entity of odd) expect(regex.test(entity)).toBe(true);
    for (const other of ['aXb', 'g', 'h', 'i', 'jjk', 'c\\"d']) expect(regex.test(other)).toBe(false);
  });
});

describe('entity buckets and shard packing', () => {
  test('a bucket is stable and spreads similar names evenly', () => {
    const counts = new Array<number>(8).fill(0);
    for (const entity of names('svc', 8_000)) {
      const bucket = entityBucket(entity, 8);
      expect(entityBucket(entity, 8)).toBe(bucket);
      counts[bucket]++;
    }
    for (const count of counts) expect(Math.abs(count - 1_000)).toBeLessThan(120);
  });

  test('slices count every entity exactly once', () => {
    const slices = sliceSignal('request_rate', names('api', 2_500), 3);
    expect(slices.map((s) => s.bucket)).toEqual([0, 1, 2]);
    expect(slices.reduce((n, s) => n + s.series, 0)).toBe(2_500);
  });

  test('big signals fill shards of their own, small ones share, nothing exceeds the size unless alone', () => {
    const slices = [
      ...sliceSignal('big', names('api', 2_500), 3),
      ...sliceSignal('small', names('db', 40), 1),
      ...sliceSignal('tiny', names('q', 3), 1),
      ...sliceSignal('empty', [], 1),
    ];
    const shards = packShards(slices, 1_000);
    expect(shards.map((shard) => shard.id)).toEqual(['shard-0000', 'shard-0001', 'shard-0002']);
    for (const shard of shards) {
      expect(shard.series).toBe(shard.slices.reduce((n, s) => n + s.series, 0));
      expect(shard.series <= 1_000 || shard.slices.length === 1).toBe(true);
    }
    const placed = shards.flatMap((shard) => shard.slices.map((s) => `${s.signalId}/${s.bucket}`)).sort();
    expect(placed).toEqual(['big/0', 'big/1', 'big/2', 'small/0', 'tiny/0']);
  });

  test('the largest plan still fits the 256 KB workflow payload', () => {
    const shards: BaselineShard[] = Array.from({ length: MAX_SHARDS }, (_, i) => ({
      id: shardId(i),
      series: 1_000,
      slices: [{ signalId: 'datastore_latency_p99', bucket: i, buckets: MAX_SHARDS, series: 1_000 }],
    }));
    const plan: ShardPlan = {
      run: { version: `2026-11-04T03:00:00.000Z/${'x'.repeat(80)}`, until: UNTIL, stepSeconds: 60, historyDays: 7 },
      series: MAX_SHARDS * 1_000,
      shardCount: MAX_SHARDS,
      shards,
      unplanned: [],
    };
    // The state also keeps the scheduled event (about 300 bytes).
    expect(JSON.stringify(plan).length).toBeLessThan(256 * 1024 - 2_000);
  });
});

describe('planShardsStep', () => {
  test('counts every signal at the end of the history window and packs its slices', async () => {
    const source = new FakeHistory(entitiesOf);
    const plan = await planShardsStep(
      { time: TIME, run: 'exec-1' },
      { source, catalog, detection, seriesPerShard: 10, stepSeconds: STEP },
    );
    expect(plan.run).toEqual({
      version: '2026-11-04T03:00:00.000Z/exec-1',
      until: UNTIL,
      stepSeconds: STEP,
      historyDays: 2,
    });
    expect(plan.series).toBe(23 + 4 + 4);
    expect(plan.shardCount).toBe(plan.shards.length);
    const slicesOf = (signalId: string) => plan.shards.flatMap((s) => s.slices).filter((s) => s.signalId === signalId);
    // 23 series at 10 a shard: three hash buckets. The un-narrowable signal stays whole.
    expect(
      slicesOf('request_rate')
        .map((s) => `${s.bucket}/${s.buckets}`)
        .sort(),
    ).toEqual(['0/3', '1/3', '2/3']);
    expect(slicesOf('error_share')).toEqual([{ signalId: 'error_share', bucket: 0, buckets: 1, series: 4 }]);
    expect(plan.unplanned).toEqual([]);
    // One instant query per signal, at the last point of the window: UNTIL minus one step.
    expect(source.instants).toHaveLength(3);
    expect(source.ranges).toEqual([]);
  });

  test('leaves out a signal whose query cannot be narrowed and is too big to fetch whole, saying why', async () => {
    const source = new FakeHistory({ ...entitiesOf, 'service:requests:total': names('x', MAX_UNNARROWED_SERIES + 1) });
    const wide = catalogOf([
      { id: 'error_share', query: 'service:requests:total / on(service) group_left service:errors:ratio' },
    ]);
    const plan = await planShardsStep({ time: TIME }, { source, catalog: wide, detection, stepSeconds: STEP });
    expect(plan.shards).toEqual([]);
    expect(plan.unplanned).toEqual([
      expect.objectContaining({ signalId: 'error_share', reason: expect.stringContaining('make it a recording rule') }),
    ]);
    expect(plan.run.version).toBe('2026-11-04T03:00:00.000Z');
  });

  test('reports a query the source rejects, and plans the others', async () => {
    const source = new FakeHistory(entitiesOf);
    source.failing = { kind: 'query', when: (q) => q.includes('max by') };
    const plan = await planShardsStep({ time: TIME }, { source, catalog, detection, stepSeconds: STEP });
    expect(plan.unplanned).toEqual([
      {
        signalId: 'error_ratio',
        query: 'max by (service) (service:errors:ratio)',
        reason: 'the metric source rejected the query: scripted failure',
      },
    ]);
    expect(plan.series).toBe(23 + 4);
  });

  test('fails the plan when the source does not answer: a version without a whole signal is worse than yesterday', async () => {
    const source = new FakeHistory(entitiesOf);
    source.failing = { kind: 'timeout', when: (q) => q.includes('max by') };
    const planning = planShardsStep({ time: TIME }, { source, catalog, detection, stepSeconds: STEP });
    await expect(planning).rejects.toThrow(BaselinePlanError);
    await expect(planShardsStep({ time: TIME }, { source, catalog, detection, stepSeconds: STEP })).rejects.toThrow(
      /error_ratio: timeout at \d+: scripted failure \[max by \(service\) \(service:errors:ratio\)\]/,
    );
  });
});

describe('learnShardStep', () => {
  const planFor = (source: MetricSource, seriesPerShard: number) =>
    planShardsStep({ time: TIME, run: 'exec-1' }, { source, catalog, detection, seriesPerShard, stepSeconds: STEP });

  test('the shards together learn every series exactly once, each range query narrowed to its shard', async () => {
    const source = new FakeHistory(entitiesOf);
    const plan = await planFor(source, 10);
    const publisher = new MemoryPublisher();
    for (const shard of plan.shards) {
      source.ranges.length = 0;
      const summary = await learnShardStep({ run: plan.run, shard }, { source, catalog, detection, publisher });
      expect(summary).toEqual({ shardId: shard.id, learned: shard.series, skipped: 0, fetches: shard.slices.length });
      // Buckets of the big signal: the matchers name exactly those buckets' entities.
      const buckets = shard.slices.filter((s) => s.signalId === 'request_rate');
      const listed = source.ranges
        .filter((q) => q.includes('rate5m'))
        .flatMap((q) => JSON.parse(/service=~("(?:[^"\\]|\\.)*")/.exec(q)?.[1] as string).split('|') as string[]);
      expect(listed).toHaveLength(buckets.reduce((n, s) => n + s.series, 0));
      for (const entity of listed) {
        expect(buckets.some((s) => entityBucket(entity, s.buckets) === s.bucket)).toBe(true);
      }
    }
    const keys = [...publisher.written.values()].flat().map((b) => b.key);
    expect(keys.sort()).toEqual(
      [
        ...names('api', 23).map((e) => `request_rate{${e}}`),
        ...names('db', 4).map((e) => `error_ratio{${e}}`),
        // Learned whole, with its query as written: it cannot be narrowed.
        ...names('db', 4).map((e) => `error_share{${e}}`),
      ].sort(),
    );
    const baseline = [...publisher.written.values()].flat().find((b) => b.key === 'request_rate{api-005}');
    expect(baseline).toMatchObject({ method: 'stl', trainedUntil: UNTIL - STEP, slotMinutes: 5 });
  });

  test(`fetches a big slice in range queries of ${SERIES_PER_QUERY} series`, async () => {
    const source = new FakeHistory({ 'service:requests:rate5m': names('api', 250) });
    const one = catalogOf([catalog.signals[0]]);
    const plan = await planShardsStep({ time: TIME }, { source, catalog: one, detection, stepSeconds: STEP });
    expect(plan.shards).toHaveLength(1);
    const publisher = new MemoryPublisher();
    const summary = await learnShardStep(
      { run: plan.run, shard: plan.shards[0] },
      { source, catalog: one, detection, publisher },
    );
    expect(summary).toMatchObject({ learned: 250, fetches: 3 });
    const sizes = source.ranges.map(
      (q) => JSON.parse(/service=~("(?:[^"\\]|\\.)*")/.exec(q)?.[1] as string).split('|').length,
    );
    expect(sizes).toEqual([100, 100, 50]);
  });

  test('a failed range query fails the shard with the query and range, and writes nothing', async () => {
    const source = new FakeHistory(entitiesOf);
    const plan = await planFor(source, 10);
    const shard = plan.shards.find((s) => s.slices.some((slice) => slice.signalId === 'request_rate')) as BaselineShard;
    source.failing = { kind: 'http', when: (q) => q.includes('rate5m') && q.includes('=~') };
    const publisher = new MemoryPublisher();
    const learning = learnShardStep({ run: plan.run, shard }, { source, catalog, detection, publisher });
    await expect(learning).rejects.toThrow(ShardHistoryError);
    await expect(learnShardStep({ run: plan.run, shard }, { source, catalog, detection, publisher })).rejects.toThrow(
      new RegExp(`^${shard.id}: \\d+ quer(y|ies) failed: request_rate: http over \\d+\\.\\.\\d+ step 300s`),
    );
    expect(publisher.written.size).toBe(0);
  });
});

describe('publishStep', () => {
  const run: BaselineRun = { version: 'v2', until: UNTIL, stepSeconds: 60, historyDays: 7 };
  const publisherWith = (completed: number[]) => {
    const publisher = new MemoryPublisher();
    for (const index of completed) publisher.written.set(`v2|${shardId(index)}`, new Array(1_000));
    return publisher;
  };
  const range = (n: number) => Array.from({ length: n }, (_, i) => i);

  test('publishes when every shard completed', async () => {
    const publisher = publisherWith(range(40));
    const summary = await publishStep({ run, shardCount: 40 }, { publisher });
    expect(summary).toEqual({
      version: 'v2',
      outcome: 'published',
      shards: 40,
      completed: 40,
      failedShards: [],
      series: 40_000,
    });
    expect(publisher.published).toEqual({ version: 'v2', trainedUntil: UNTIL });
  });

  test(`publishes with up to ${TOLERATED_FAILED_SHARD_PERCENT}% of shards missing, and names them`, async () => {
    const publisher = publisherWith(range(40).filter((i) => i !== 7 && i !== 31));
    const summary = await publishStep({ run, shardCount: 40 }, { publisher });
    expect(summary).toMatchObject({ outcome: 'published', completed: 38, failedShards: ['shard-0007', 'shard-0031'] });
  });

  test('refuses when more shards failed, and the pointer stays where it was', async () => {
    const publisher = publisherWith(range(40).filter((i) => i > 2));
    const publishing = publishStep({ run, shardCount: 40 }, { publisher });
    await expect(publishing).rejects.toThrow(BaselinePublishRefusedError);
    await expect(publishStep({ run, shardCount: 40 }, { publisher })).rejects.toThrow(
      'version v2 not published, the previous one stays current: 3 of 40 shards did not complete ' +
        '(shard-0000, shard-0001, shard-0002), more than the 5% tolerated',
    );
    expect(publisher.published).toBeUndefined();
  });

  test('refuses a version with nothing learned, and ignores markers of shards the plan did not make', async () => {
    const publisher = publisherWith([5]);
    await expect(publishStep({ run, shardCount: 0 }, { publisher })).rejects.toThrow('no baselines were learned');
    expect(publisher.published).toBeUndefined();
  });

  test('reports a version superseded by a later one', async () => {
    const publisher = publisherWith([0]);
    publisher.outcome = 'superseded';
    expect((await publishStep({ run, shardCount: 1 }, { publisher })).outcome).toBe('superseded');
  });
});
