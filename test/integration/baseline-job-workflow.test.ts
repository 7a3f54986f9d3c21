// The real baseline-job ASL executed by aws-local-stepfunctions, with the core steps as its Lambdas, dynalite
// behind the baseline store and a scenario metric source answering the narrowed PromQL.
//
// aws-local-stepfunctions 3.0 runs a Distributed Map as an inline Map: it reads the items from ItemsPath (it
// has no ItemReader), ignores ProcessorConfig, and has no ToleratedFailurePercentage, so one failed shard fails
// the map. The job's ASL passes the shards inline (a shard is described in about 100 bytes), so this is the
// production definition as deployed; what only AWS does, the tolerated share of failed shards, is applied again
// by PublishVersion from the completion markers, and test/unit/baseline-shards.test.ts covers that rule.

import { StateMachine } from 'aws-local-stepfunctions';
import { DynamoBaselineStore } from '../../lambdas/adapters/dynamodb/baseline-store';
import { parseOpenMetrics } from '../../lambdas/adapters/scenario/openmetrics';
import { ScenarioMetricSource } from '../../lambdas/adapters/scenario/scenario-metric-source';
import type { SeriesBaseline } from '../../lambdas/core/cognition/baseline';
import {
  learnShardStep,
  type PlanInput,
  type PublishInput,
  type PublishSummary,
  planShardsStep,
  publishStep,
  type ShardInput,
  type ShardPlan,
} from '../../lambdas/core/cognition/baseline-shards';
import { detectionSchema, signalCatalogSchema } from '../../lambdas/core/config/schema';
import type { InstantResult, MetricSource, RangeResult } from '../../lambdas/core/perception/metric-source';
import { fail } from '../../lambdas/core/result';
import { type LocalDynamo, startLocalDynamo } from '../../lambdas/local/local-dynamodb';
import { asLambdaInvoke, loadDefinition } from '../../lambdas/local/local-state-machine';

const T1 = Date.parse('2026-11-04T03:00:00Z') / 1000;
const VERSION_AT_T1 = '2026-11-04T03:00:00.000Z';
const SERVICES = Array.from({ length: 12 }, (_, i) => `svc-${String(i).padStart(2, '0')}`);
const SERIES_PER_SHARD = 5;

const catalog = signalCatalogSchema.parse({
  signals: [
    {
      id: 'request_rate',
      query: 'sum by (service) (service:http_requests:rate1m)',
      unit: 'requests_per_second',
      badDirection: 'both',
    },
    {
      id: 'error_ratio',
      query: 'max by (service) (service:http_errors:ratio_rate1m)',
      unit: 'ratio',
      badDirection: 'up',
    },
  ],
});
const detection = detectionSchema.parse({ historyDays: 2 });
const ALL_KEYS = catalog.signals.flatMap((signal) => SERVICES.map((service) => `${signal.id}{${service}}`)).sort();

/** Two days and ten minutes of one-minute samples with a daily cycle, one series per service and metric. */
function scenarioMetrics(): string {
  const lines: string[] = [];
  for (const [metric, level, amplitude] of [
    ['service:http_requests:rate1m', 200, 80],
    ['service:http_errors:ratio_rate1m', 0.01, 0.004],
  ] as const) {
    lines.push(`# TYPE ${metric} gauge`);
    SERVICES.forEach((service, k) => {
      for (let t = T1 - 2 * 86_400 - 600; t < T1; t += 60) {
        const value =
          level * (1 + k / 20) + amplitude * Math.sin((2 * Math.PI * t) / 86_400) + ((t / 60) % 5) * amplitude * 0.01;
        lines.push(`${metric}{service="${service}"} ${value.toPrecision(6)} ${t}`);
      }
    });
  }
  return `${lines.join('\n')}\n# EOF\n`;
}

/** The scenario source, with range queries naming one service failing on demand, and every query recorded. */
class RecordingSource implements MetricSource {
  readonly ranges: string[] = [];
  failRangesFor?: (query: string) => boolean;
  down = false;

  constructor(private readonly inner: MetricSource) {}

  async instant(query: string, time: number): Promise<InstantResult> {
    if (this.down) return fail({ kind: 'unreachable', query, message: 'connect ECONNREFUSED 10.0.0.9:9090', time });
    return this.inner.instant(query, time);
  }

  async range(query: string, start: number, end: number, stepSeconds: number): Promise<RangeResult> {
    this.ranges.push(query);
    if (this.failRangesFor?.(query)) {
      return fail({ kind: 'timeout', query, message: 'no answer within 5000 ms', range: { start, end, stepSeconds } });
    }
    return this.inner.range(query, start, end, stepSeconds);
  }
}

let dynamo: LocalDynamo;
let store: DynamoBaselineStore;
let source: RecordingSource;
const calls = { plan: 0, shards: 0, publish: 0 };
let lastPlan: ShardPlan | undefined;

const LOCAL_ARN = (name: string) => `arn:aws:lambda:us-east-1:000000000000:function:sre-agent-local-${name}`;

/** Runs the job as EventBridge starts it; resolves with the final state or rejects with the Fail state's error. */
async function runJob(executionName: string, time = T1): Promise<{ published: { summary: PublishSummary } }> {
  const definition = loadDefinition('baseline-job.asl.json', {
    PlanBaselineShardsFunctionArn: LOCAL_ARN('plan-baseline-shards'),
    LearnBaselineShardFunctionArn: LOCAL_ARN('learn-baseline-shard'),
    PublishBaselinesFunctionArn: LOCAL_ARN('publish-baselines'),
  });
  const machine = new StateMachine(definition as never, { validationOptions: { checkArn: true, checkPaths: true } });
  const execution = machine.run(
    {
      version: '0',
      id: `event-${executionName}`,
      'detail-type': 'Scheduled Event',
      source: 'aws.events',
      time: new Date(time * 1000).toISOString().replace('.000Z', 'Z'),
      region: 'us-east-1',
      resources: [],
      detail: {},
    },
    {
      context: { Execution: { Name: executionName } } as never,
      overrides: {
        taskResourceLocalHandlers: {
          PlanShards: asLambdaInvoke(async (input: PlanInput) => {
            calls.plan++;
            lastPlan = await planShardsStep(input, { source, catalog, detection, seriesPerShard: SERIES_PER_SHARD });
            return lastPlan;
          }),
          LearnShard: asLambdaInvoke((input: ShardInput) => {
            calls.shards++;
            return learnShardStep(input, { source, catalog, detection, publisher: store });
          }),
          PublishVersion: asLambdaInvoke((input: PublishInput) => {
            calls.publish++;
            return publishStep(input, { publisher: store });
          }),
        } as never,
        // The definition's back-offs (up to two minutes) are the production timing; here retries are immediate.
        retryIntervalOverrides: { PlanShards: 0, LearnShard: 0, PublishVersion: 0 },
      },
    },
  );
  return (await execution.result) as unknown as { published: { summary: PublishSummary } };
}

/** The Fail state's error, as aws-local-stepfunctions wraps it. */
async function failureOf(run: Promise<unknown>): Promise<{ error: string; cause: string }> {
  try {
    await run;
  } catch (error) {
    const failure = (error as Error & { cause?: Error }).cause ?? (error as Error);
    return { error: failure.name, cause: failure.message };
  }
  throw new Error('the job succeeded');
}

const keysOf = (baselines: readonly SeriesBaseline[]) => baselines.map((b) => b.key).sort();

beforeAll(async () => {
  dynamo = await startLocalDynamo('baseline-job-test');
  store = new DynamoBaselineStore(dynamo.client, dynamo.tables.baselines);
  source = new RecordingSource(new ScenarioMetricSource(parseOpenMetrics(scenarioMetrics())));
});

afterAll(async () => {
  await dynamo?.close();
});

beforeEach(() => {
  Object.assign(calls, { plan: 0, shards: 0, publish: 0 });
  source.ranges.length = 0;
  source.failRangesFor = undefined;
  source.down = false;
});

describe('baseline job workflow (state-machines/baseline-job.asl.json)', () => {
  it('plans shards, learns each in the map, and publishes the version', async () => {
    const result = await runJob('run-1');
    const plan = lastPlan as ShardPlan;
    expect(plan.run.version).toBe(`${VERSION_AT_T1}/run-1`);
    expect(plan.series).toBe(24);
    // 12 series a signal at 5 a shard: three hash buckets each, packed into shards of about 5.
    expect(plan.shards.flatMap((shard) => shard.slices)).toHaveLength(6);
    expect(plan.shardCount).toBeGreaterThanOrEqual(3);
    expect(calls).toEqual({ plan: 1, shards: plan.shardCount, publish: 1 });
    expect(result.published.summary).toEqual({
      version: `${VERSION_AT_T1}/run-1`,
      outcome: 'published',
      shards: plan.shardCount,
      completed: plan.shardCount,
      failedShards: [],
      series: 24,
    });
    // One range query per slice, each reading only its bucket's services.
    expect(source.ranges).toHaveLength(6);
    for (const query of source.ranges) expect(query).toMatch(/\{service=~"svc-\d\d(\|svc-\d\d)*"\}\)$/);

    expect(await store.currentVersion()).toBe(`${VERSION_AT_T1}/run-1`);
    const loaded = await store.load();
    expect(keysOf(loaded?.baselines ?? [])).toEqual(ALL_KEYS);
    expect(loaded?.baselines.every((b) => b.method === 'stl' && b.trainedUntil === T1 - 60)).toBe(true);
    expect((await store.completedShards(`${VERSION_AT_T1}/run-1`)).length).toBe(plan.shardCount);
  });

  it('keeps the previous version when shards fail, after retrying them', async () => {
    const failing = (query: string) => query.includes('http_requests') && query.includes('svc-03');
    source.failRangesFor = failing;
    const failure = await failureOf(runJob('run-2'));
    expect(failure.error).toBe('BaselineJobFailed');
    expect(failure.cause).toMatch(
      /^The previous baselines stay current\. ShardHistoryError: shard-\d{4}: 1 query failed: request_rate: timeout over \d+/,
    );
    // The failing shard ran three times (two ShardHistoryError retries); the pointer never moved.
    expect(source.ranges.filter(failing)).toHaveLength(3);
    expect(calls.publish).toBe(0);
    expect(await store.currentVersion()).toBe(`${VERSION_AT_T1}/run-1`);
    expect(keysOf((await store.load())?.baselines ?? [])).toEqual(ALL_KEYS);
  });

  it('keeps the previous version when PublishVersion refuses (nothing learned)', async () => {
    const empty = new ScenarioMetricSource(parseOpenMetrics('# EOF\n'));
    const saved = source;
    source = new RecordingSource(empty);
    try {
      const failure = await failureOf(runJob('run-3'));
      expect(failure).toEqual({
        error: 'BaselineJobFailed',
        cause:
          'The previous baselines stay current. BaselinePublishRefusedError: ' +
          `version ${VERSION_AT_T1}/run-3 not published, the previous one stays current: no baselines were learned ` +
          '(0 shards planned)',
      });
      expect(calls).toEqual({ plan: 1, shards: 0, publish: 1 });
    } finally {
      source = saved;
    }
    expect(await store.currentVersion()).toBe(`${VERSION_AT_T1}/run-1`);
  });

  it('retries a plan the metric source cannot answer, then fails and keeps the previous version', async () => {
    source.down = true;
    const failure = await failureOf(runJob('run-4'));
    expect(failure.error).toBe('BaselineJobFailed');
    expect(failure.cause).toMatch(
      /^The previous baselines stay current\. BaselinePlanError: series to learn not found: request_rate: unreachable at \d+/,
    );
    expect(calls.plan).toBe(3);
    expect(await store.currentVersion()).toBe(`${VERSION_AT_T1}/run-1`);
  });

  it('publishes again once the source recovers, replacing the version', async () => {
    const result = await runJob('run-5');
    expect(result.published.summary).toMatchObject({ outcome: 'published', series: 24, failedShards: [] });
    expect(await store.currentVersion()).toBe(`${VERSION_AT_T1}/run-5`);
  });
});

describe('DynamoBaselineStore: publication in shards', () => {
  const baseline = (key: string): SeriesBaseline => ({
    key,
    slotMinutes: 5,
    seasonal: new Float32Array(288).fill(1),
    scale: new Float32Array(24).fill(2),
    level: 10,
    trainedUntil: T1,
    samples: 100,
    seasonalStrength: 0.5,
    method: 'stl',
  });
  const many = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => baseline(`${prefix}{e-${i}}`));

  it('reads only completed shards, and only the chunks their marker names', async () => {
    const version = 'parts-1';
    // A first attempt wrote 450 series (3 chunks) and was retried with 250 (2 chunks): the third chunk is stale.
    await store.writeShard(version, 'shard-0000', many('a', 450));
    await store.writeShard(version, 'shard-0000', many('b', 250));
    await store.writeShard(version, 'shard-0001', many('c', 3));
    expect(await store.publishVersion(version, T1 + 86_400)).toBe('published');
    const loaded = await store.load();
    expect(loaded?.version).toBe(version);
    expect(loaded?.baselines).toHaveLength(253);
    expect(new Set(loaded?.baselines.map((b) => b.key.split('{')[0]))).toEqual(new Set(['b', 'c']));
    expect((await store.completedShards(version)).sort((x, y) => x.shardId.localeCompare(y.shardId))).toEqual([
      { shardId: 'shard-0000', series: 250 },
      { shardId: 'shard-0001', series: 3 },
    ]);
  });

  it('never moves the pointer back to baselines learned from older history', async () => {
    expect(await store.publishVersion('older', T1)).toBe('superseded');
    expect(await store.currentVersion()).toBe('parts-1');
    expect(await store.publishVersion('same-window', T1 + 86_400)).toBe('published');
    expect(await store.currentVersion()).toBe('same-window');
  });
});
