// CloudWatch metrics of AWS resources through a mocked GetMetricData: the config and its presets, batches of at
// most 500 queries with valid ids, NextToken pagination, datapoints merged in time order, and failures as values.

import {
  CloudWatchClient,
  CloudWatchServiceException,
  GetMetricDataCommand,
  type GetMetricDataCommandInput,
  type MetricDataResult,
} from '@aws-sdk/client-cloudwatch';
import { mockClient } from 'aws-sdk-client-mock';
import {
  CloudWatchMetricsReader,
  MAX_QUERIES_PER_CALL,
  QUERY_ID,
  queryId,
} from '../../lambdas/adapters/cloudwatch/cloudwatch-metrics';
import {
  type CloudWatchConfig,
  cloudWatchConfigSchema,
  cloudWatchMetricSpecs,
} from '../../lambdas/core/config/cloudwatch-schema';
import { ConfigError } from '../../lambdas/core/config/config-error';
import { parseCloudWatchConfig } from '../../lambdas/core/config/load';
import { topologySchema } from '../../lambdas/core/config/schema';

const cw = mockClient(CloudWatchClient);
const client = new CloudWatchClient({ region: 'eu-west-1', credentials: { accessKeyId: 'a', secretAccessKey: 'b' } });

beforeEach(() => cw.reset());
afterAll(() => cw.restore());

const T0 = Date.parse('2026-11-04T03:00:00Z') / 1000;
const date = (seconds: number) => new Date(seconds * 1000);

const config: CloudWatchConfig = cloudWatchConfigSchema.parse({
  resources: [
    { service: 'mysql-main', resource: 'orders-db', type: 'rds', dimensions: { DBInstanceIdentifier: 'orders-db-1' } },
    {
      service: 'redis-cache',
      resource: 'sessions',
      type: 'elasticache',
      dimensions: { CacheClusterId: 'sessions-001' },
      period: 300,
    },
    {
      service: 'api-gateway',
      resource: 'public-alb',
      type: 'alb',
      dimensions: { LoadBalancer: 'app/public-alb/50dc6c495c0c9188' },
      metrics: [
        { name: 'TargetResponseTime', stat: 'p99.9' },
        { name: 'HTTPCode_Target_5XX_Count', stat: 'Sum', period: 60 },
      ],
    },
  ],
});

const inputs = (): GetMetricDataCommandInput[] => cw.commandCalls(GetMetricDataCommand).map((c) => c.args[0].input);

describe('CloudWatch config', () => {
  it('fills in presets, namespaces and periods', () => {
    expect(cloudWatchMetricSpecs(config)).toEqual([
      {
        service: 'mysql-main',
        resource: 'orders-db',
        namespace: 'AWS/RDS',
        dimensions: { DBInstanceIdentifier: 'orders-db-1' },
        metric: 'CPUUtilization',
        stat: 'Average',
        period: 60,
      },
      expect.objectContaining({ metric: 'DatabaseConnections', stat: 'Maximum', period: 60 }),
      expect.objectContaining({ metric: 'ReadLatency', stat: 'Average' }),
      expect.objectContaining({ namespace: 'AWS/ElastiCache', metric: 'EngineCPUUtilization', period: 300 }),
      expect.objectContaining({ metric: 'CurrConnections', period: 300 }),
      expect.objectContaining({ metric: 'Evictions', stat: 'Sum', period: 300 }),
      expect.objectContaining({ namespace: 'AWS/ApplicationELB', metric: 'TargetResponseTime', stat: 'p99.9' }),
      expect.objectContaining({ metric: 'HTTPCode_Target_5XX_Count', stat: 'Sum', period: 60 }),
    ]);
  });

  it('names every problem: unknown service, missing dimension, bad period and statistic', () => {
    const topology = topologySchema.parse({ services: [{ name: 'mysql-main', kind: 'datastore' }] });
    const text = [
      'period: 45',
      'resources:',
      '  - {service: mysql-main, resource: db, type: rds, dimensions: {DBClusterIdentifier: orders}}',
      '  - {service: redis, resource: c, type: elasticache, dimensions: {CacheNodeId: "0001"}, metrics: [{name: X, stat: Median}]}',
      '  - {service: mysql-main, resource: x, type: custom, dimensions: {}}',
    ].join('\n');
    expect(() => parseCloudWatchConfig(text, 'cloudwatch.yaml', topology)).toThrow(ConfigError);
    try {
      parseCloudWatchConfig(text, 'cloudwatch.yaml', topology);
    } catch (error) {
      expect((error as ConfigError).problems).toEqual([
        'period: must be 1, 5, 10, 20 or 30 seconds or a multiple of 60',
        'resources[1].metrics[0].stat: must be Average, Sum, Minimum, Maximum, SampleCount or a percentile such as p99',
        'resources[1].dimensions: elasticache needs the dimension CacheClusterId or ReplicationGroupId',
        'resources[2].namespace: custom needs a namespace',
        'resources[2].metrics: custom needs metrics',
      ]);
    }
    const valid = text.replace('period: 45', 'period: 60').split('\n').slice(0, 3).join('\n');
    expect(() => parseCloudWatchConfig(valid, 'cloudwatch.yaml', topology)).not.toThrow();
    const unknown = valid.replace('service: mysql-main', 'service: mysql-replica');
    expect(() => parseCloudWatchConfig(unknown, 'cloudwatch.yaml', topology)).toThrow(
      'resources[0].service: unknown service "mysql-replica" (known: mysql-main)',
    );
  });
});

describe('queryId', () => {
  it('always matches CloudWatch id rule and stays unique per position', () => {
    const names = ['CPUUtilization', 'HTTPCode_Target_5XX_Count', 'Latency.p99-ms', '5xx', 'x'.repeat(400), 'Ärger'];
    const ids = names.map((name, i) => queryId(i, name));
    for (const id of ids) {
      expect(id).toMatch(QUERY_ID);
      expect(id.length).toBeLessThanOrEqual(255);
    }
    expect(new Set(ids).size).toBe(ids.length);
    expect(ids.slice(0, 3)).toEqual(['q0_cpuutilization', 'q1_httpcode_target_5xx_count', 'q2_latency_p99_ms']);
  });
});

describe('CloudWatchMetricsReader', () => {
  it('asks for every metric in one call and returns ascending series labelled service, resource and metric', async () => {
    cw.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => ({
      MetricDataResults: (input.MetricDataQueries ?? []).map(
        (q, i): MetricDataResult => ({
          Id: q.Id,
          StatusCode: 'Complete',
          // Newest first, as CloudWatch answers by default: the reader must not rely on ScanBy alone.
          Timestamps: [date(T0 + 120), date(T0 + 60), date(T0)],
          Values: [i + 0.3, i + 0.2, i + 0.1],
        }),
      ),
    }));
    const reader = new CloudWatchMetricsReader(client, config);
    const result = await reader.range(T0, T0 + 180);
    if (!result.ok) throw new Error(result.error.message);
    expect(result.value.problems).toEqual([]);
    expect(result.value.series).toHaveLength(8);
    const first = result.value.series[0];
    expect(first.labels).toEqual({ service: 'mysql-main', resource: 'orders-db', metric: 'CPUUtilization' });
    expect([...first.timestamps]).toEqual([T0, T0 + 60, T0 + 120]);
    expect([...first.values]).toEqual([0.1, 0.2, 0.3]);
    expect(result.value.series[7].labels).toEqual({
      service: 'api-gateway',
      resource: 'public-alb',
      metric: 'HTTPCode_Target_5XX_Count',
    });

    const [input] = inputs();
    expect(input.StartTime).toEqual(date(T0));
    expect(input.EndTime).toEqual(date(T0 + 180));
    expect(input.ScanBy).toBe('TimestampAscending');
    expect(input.MetricDataQueries![0]).toEqual({
      Id: 'q0_cpuutilization',
      ReturnData: true,
      MetricStat: {
        Metric: {
          Namespace: 'AWS/RDS',
          MetricName: 'CPUUtilization',
          Dimensions: [{ Name: 'DBInstanceIdentifier', Value: 'orders-db-1' }],
        },
        Period: 60,
        Stat: 'Average',
      },
    });
    expect(input.MetricDataQueries![6].MetricStat).toMatchObject({ Stat: 'p99.9', Period: 60 });
  });

  it('splits more than 500 queries into batches, each with its own valid, unique ids', async () => {
    const many: CloudWatchConfig = cloudWatchConfigSchema.parse({
      resources: Array.from({ length: 170 }, (_, i) => ({
        service: 'mysql-main',
        resource: `shard-${i}`,
        type: 'rds',
        dimensions: { DBInstanceIdentifier: `orders-shard-${i}` },
      })),
    });
    cw.on(GetMetricDataCommand).callsFake((input: GetMetricDataCommandInput) => ({
      MetricDataResults: (input.MetricDataQueries ?? []).map((q) => ({
        Id: q.Id,
        StatusCode: 'Complete',
        Timestamps: [date(T0)],
        Values: [1],
      })),
    }));
    const result = await new CloudWatchMetricsReader(client, many).range(T0, T0 + 60);
    if (!result.ok) throw new Error(result.error.message);
    expect(result.value.series).toHaveLength(510);
    const calls = inputs();
    expect(calls.map((c) => c.MetricDataQueries!.length)).toEqual([MAX_QUERIES_PER_CALL, 10]);
    const ids = calls.flatMap((c) => c.MetricDataQueries!.map((q) => q.Id!));
    expect(ids.every((id) => QUERY_ID.test(id))).toBe(true);
    expect(new Set(ids).size).toBe(510);
    expect(result.value.series[509].labels).toEqual({
      service: 'mysql-main',
      resource: 'shard-169',
      metric: 'ReadLatency',
    });
  });

  it('follows NextToken and merges each query’s datapoints across pages in time order', async () => {
    cw.on(GetMetricDataCommand)
      .resolvesOnce({
        MetricDataResults: [
          {
            Id: 'q0_cpuutilization',
            StatusCode: 'PartialData',
            Timestamps: [date(T0), date(T0 + 60)],
            Values: [10, 11],
          },
          { Id: 'q1_databaseconnections', StatusCode: 'PartialData', Timestamps: [date(T0)], Values: [100] },
        ],
        NextToken: 'page-2',
      })
      .resolvesOnce({
        MetricDataResults: [
          { Id: 'q0_cpuutilization', StatusCode: 'PartialData', Timestamps: [date(T0 + 180)], Values: [13] },
          { Id: 'q1_databaseconnections', StatusCode: 'Complete', Timestamps: [], Values: [] },
        ],
        NextToken: 'page-3',
      })
      .resolvesOnce({
        MetricDataResults: [
          // A later page may overlap an earlier one: the same timestamp is one datapoint.
          {
            Id: 'q0_cpuutilization',
            StatusCode: 'Complete',
            Timestamps: [date(T0 + 120), date(T0 + 60)],
            Values: [12, 11],
          },
        ],
      });
    const reader = new CloudWatchMetricsReader(client, cloudWatchMetricSpecs(config).slice(0, 2));
    const result = await reader.range(T0, T0 + 240);
    if (!result.ok) throw new Error(result.error.message);
    expect(inputs().map((i) => i.NextToken)).toEqual([undefined, 'page-2', 'page-3']);
    expect(result.value.problems).toEqual([]);
    const [cpu, connections] = result.value.series;
    expect([...cpu.timestamps]).toEqual([T0, T0 + 60, T0 + 120, T0 + 180]);
    expect([...cpu.values]).toEqual([10, 11, 12, 13]);
    expect([...connections.timestamps]).toEqual([T0]);
    expect([...connections.values]).toEqual([100]);
  });

  it('reports metrics CloudWatch refused or cut short as problems, keeping the rest', async () => {
    cw.on(GetMetricDataCommand).resolves({
      MetricDataResults: [
        { Id: 'q0_cpuutilization', StatusCode: 'Complete', Timestamps: [date(T0)], Values: [5] },
        {
          Id: 'q1_databaseconnections',
          StatusCode: 'Forbidden',
          Timestamps: [],
          Values: [],
          Messages: [{ Code: 'Forbidden', Value: 'not authorized for AWS/RDS' }],
        },
        { Id: 'q2_readlatency', StatusCode: 'PartialData', Timestamps: [date(T0)], Values: [0.002] },
      ],
    });
    const result = await new CloudWatchMetricsReader(client, cloudWatchMetricSpecs(config).slice(0, 3)).range(
      T0,
      T0 + 60,
    );
    if (!result.ok) throw new Error(result.error.message);
    expect(result.value.series.map((s) => s.labels.metric)).toEqual(['CPUUtilization', 'ReadLatency']);
    expect(result.value.problems).toEqual([
      {
        service: 'mysql-main',
        resource: 'orders-db',
        metric: 'DatabaseConnections',
        message: 'forbidden: the reader identity cannot read this metric (Forbidden: not authorized for AWS/RDS)',
      },
      {
        service: 'mysql-main',
        resource: 'orders-db',
        metric: 'ReadLatency',
        message: 'partial data: CloudWatch had more datapoints than it returned',
      },
    ]);
  });

  it('turns a refused call into a value naming the permission, and a failed batch into problems', async () => {
    const denied = new CloudWatchServiceException({
      name: 'AccessDenied',
      $fault: 'client',
      $metadata: { httpStatusCode: 403 },
      message:
        'User: arn:aws:sts::111122223333:assumed-role/sre-agent/diagnose is not authorized to perform: cloudwatch:GetMetricData',
    });
    cw.on(GetMetricDataCommand).rejects(denied);
    const reader = new CloudWatchMetricsReader(client, config, { region: 'eu-west-1' });
    const result = await reader.range(T0, T0 + 60);
    expect(result).toEqual({
      ok: false,
      error: {
        kind: 'forbidden',
        code: 'AccessDenied',
        message: `forbidden: the reader identity cannot call cloudwatch:GetMetricData in eu-west-1 (batch 1 of 1, 8 queries such as mysql-main/orders-db CPUUtilization): AccessDenied: ${denied.message}`,
      },
    });

    // One batch of two fails: its metrics become problems, the other batch's series stay.
    cw.reset();
    const throttled = new CloudWatchServiceException({
      name: 'Throttling',
      $fault: 'client',
      $metadata: { httpStatusCode: 400 },
      message: 'Rate exceeded',
    });
    cw.on(GetMetricDataCommand)
      .resolvesOnce({
        MetricDataResults: [
          { Id: 'q0_cpuutilization', StatusCode: 'Complete', Timestamps: [date(T0)], Values: [1] },
          { Id: 'q1_databaseconnections', StatusCode: 'Complete', Timestamps: [date(T0)], Values: [2] },
        ],
      })
      .rejectsOnce(throttled);
    const split = new CloudWatchMetricsReader(client, cloudWatchMetricSpecs(config).slice(0, 3), {
      maxQueriesPerCall: 2,
    });
    const partial = await split.range(T0, T0 + 60);
    if (!partial.ok) throw new Error(partial.error.message);
    expect(partial.value.series).toHaveLength(2);
    expect(partial.value.problems).toEqual([
      {
        service: 'mysql-main',
        resource: 'orders-db',
        metric: 'ReadLatency',
        message:
          'cloudwatch:GetMetricData failed for batch 2 of 2 (1 queries such as mysql-main/orders-db ReadLatency): Throttling: Rate exceeded',
      },
    ]);
    expect(inputs().map((i) => i.MetricDataQueries!.map((q) => q.Id))).toEqual([
      ['q0_cpuutilization', 'q1_databaseconnections'],
      ['q2_readlatency'],
    ]);
  });

  it('reads only the services asked for, and checks its arguments', async () => {
    cw.on(GetMetricDataCommand).resolves({ MetricDataResults: [] });
    const reader = new CloudWatchMetricsReader(client, config);
    const result = await reader.range(T0, T0 + 60, { services: ['redis-cache'] });
    expect(result).toEqual({ ok: true, value: { series: [], problems: [] } });
    expect(inputs()[0].MetricDataQueries!.map((q) => q.MetricStat!.Metric!.MetricName)).toEqual([
      'EngineCPUUtilization',
      'CurrConnections',
      'Evictions',
    ]);
    expect(await reader.range(T0, T0)).toEqual({
      ok: false,
      error: { kind: 'invalid', message: `the range end (${T0}) must be after its start (${T0})` },
    });
    expect(() => new CloudWatchMetricsReader(client, config, { maxQueriesPerCall: 501 })).toThrow(
      'maxQueriesPerCall must be an integer from 1 to 500, got 501',
    );
  });
});
