// Reads CloudWatch metrics of the AWS resources behind topology services (RDS, ElastiCache, ALB) with
// GetMetricData, and returns them as the RangeSeries the Prometheus sources return, labelled
// {service, resource, metric}. Queries go in batches of up to 500 per call and each call follows its NextToken;
// failures come back as values.

import {
  type CloudWatchClient,
  GetMetricDataCommand,
  type GetMetricDataCommandOutput,
  type MetricDataQuery,
} from '@aws-sdk/client-cloudwatch';
import {
  type CloudWatchConfig,
  type CloudWatchMetricSpec,
  cloudWatchMetricSpecs,
} from '../../core/config/cloudwatch-schema';
import type { RangeSeries } from '../../core/perception/metric-source';
import { fail, ok, type Result } from '../../core/result';

/** GetMetricData takes at most 500 MetricDataQuery structures per call. */
export const MAX_QUERIES_PER_CALL = 500;
/** CloudWatch's rule for MetricDataQuery ids: a lower-case letter first, then letters, digits and underscores. */
export const QUERY_ID = /^[a-z][a-zA-Z0-9_]*$/;
const MAX_ID_CHARS = 255;
/** Pages one call may take before the answer counts as runaway (100,800 datapoints each). */
const MAX_PAGES = 100;

export type CloudWatchErrorKind = 'forbidden' | 'throttled' | 'invalid' | 'unreachable' | 'aws';

export interface CloudWatchMetricsError {
  readonly kind: CloudWatchErrorKind;
  readonly message: string;
  /** The AWS error name, e.g. AccessDenied. */
  readonly code?: string;
}

/** A metric that could not be read (in full) while others were. */
export interface CloudWatchProblem {
  readonly service: string;
  readonly resource: string;
  readonly metric: string;
  readonly message: string;
}

export interface CloudWatchRange {
  /** One series per metric that returned datapoints, timestamps ascending (epoch seconds). */
  readonly series: RangeSeries[];
  readonly problems: CloudWatchProblem[];
}

export type CloudWatchRangeResult = Result<CloudWatchRange, CloudWatchMetricsError>;

export interface CloudWatchMetricsOptions {
  /**
   * Queries per GetMetricData call, at most 500.
   * @default 500
   */
  readonly maxQueriesPerCall?: number;
  /** Region, for messages. */
  readonly region?: string;
}

/** `q<n>_<metric>`: unique per call and valid for CloudWatch whatever the metric name holds. */
export function queryId(index: number, metric: string): string {
  const slug = metric.replace(/[^A-Za-z0-9_]/g, '_').toLowerCase();
  return `q${index}_${slug}`.slice(0, MAX_ID_CHARS);
}

/** The MetricDataQuery for one spec. */
export function metricDataQuery(id: string, spec: CloudWatchMetricSpec): MetricDataQuery {
  return {
    Id: id,
    ReturnData: true,
    MetricStat: {
      Metric: {
        Namespace: spec.namespace,
        MetricName: spec.metric,
        Dimensions: Object.entries(spec.dimensions).map(([Name, Value]) => ({ Name, Value })),
      },
      Period: spec.period,
      Stat: spec.stat,
    },
  };
}

const describeSpec = (spec: CloudWatchMetricSpec) => `${spec.service}/${spec.resource} ${spec.metric}`;

function classify(error: unknown): { kind: CloudWatchErrorKind; code: string; text: string } {
  const code = error instanceof Error ? error.name : 'Error';
  const text = error instanceof Error ? error.message : String(error);
  if (/AccessDenied|UnauthorizedOperation|NotAuthorized|InvalidClientTokenId|ExpiredToken/i.test(code)) {
    return { kind: 'forbidden', code, text };
  }
  if (/Throttl|LimitExceeded|TooManyRequests/i.test(code)) return { kind: 'throttled', code, text };
  if (/InvalidParameter|MissingParameter|Validation|InvalidNextToken/i.test(code)) {
    return { kind: 'invalid', code, text };
  }
  const network = (error as { code?: unknown }).code;
  if (code === 'TimeoutError' || (typeof network === 'string' && /^E[A-Z]+/.test(network))) {
    return { kind: 'unreachable', code: typeof network === 'string' ? network : code, text };
  }
  return { kind: 'aws', code, text };
}

interface Accumulator {
  readonly spec: CloudWatchMetricSpec;
  readonly points: Map<number, number>;
  status?: string;
  readonly messages: string[];
}

export class CloudWatchMetricsReader {
  readonly specs: readonly CloudWatchMetricSpec[];
  private readonly batchSize: number;
  private readonly region: string | undefined;

  constructor(
    private readonly client: Pick<CloudWatchClient, 'send'>,
    config: CloudWatchConfig | readonly CloudWatchMetricSpec[],
    options: CloudWatchMetricsOptions = {},
  ) {
    this.specs = Array.isArray(config) ? config : cloudWatchMetricSpecs(config as CloudWatchConfig);
    const size = options.maxQueriesPerCall ?? MAX_QUERIES_PER_CALL;
    if (!Number.isInteger(size) || size < 1 || size > MAX_QUERIES_PER_CALL) {
      throw new Error(`maxQueriesPerCall must be an integer from 1 to ${MAX_QUERIES_PER_CALL}, got ${size}`);
    }
    this.batchSize = size;
    this.region = options.region;
  }

  /**
   * Every configured metric (or those of `services`) from `startSeconds` up to `endSeconds` (epoch seconds;
   * CloudWatch treats the end as exclusive). Metrics without datapoints return no series, as an absent series
   * in PromQL. Batches that fail turn into problems of their metrics; only when nothing could be read is the
   * answer an error.
   */
  async range(
    startSeconds: number,
    endSeconds: number,
    filter: { readonly services?: readonly string[] } = {},
  ): Promise<CloudWatchRangeResult> {
    if (!(endSeconds > startSeconds)) {
      return fail({
        kind: 'invalid',
        message: `the range end (${endSeconds}) must be after its start (${startSeconds})`,
      });
    }
    const wanted = filter.services ? new Set(filter.services) : undefined;
    const specs = this.specs.filter((s) => !wanted || wanted.has(s.service));
    if (specs.length === 0) return ok({ series: [], problems: [] });

    const batches: { id: string; spec: CloudWatchMetricSpec }[][] = [];
    specs.forEach((spec, index) => {
      if (index % this.batchSize === 0) batches.push([]);
      batches[batches.length - 1].push({ id: queryId(index, spec.metric), spec });
    });

    const series: RangeSeries[] = [];
    const problems: CloudWatchProblem[] = [];
    let firstError: CloudWatchMetricsError | undefined;
    let failedBatches = 0;
    for (const [index, batch] of batches.entries()) {
      const read = await this.readBatch(batch, startSeconds, endSeconds, index + 1, batches.length);
      if (!read.ok) {
        firstError ??= read.error;
        failedBatches++;
        for (const { spec } of batch) problems.push({ ...labelsOf(spec), message: read.error.message });
        continue;
      }
      for (const acc of read.value) {
        if (acc.status === 'Forbidden' || acc.status === 'InternalError' || acc.status === 'PartialData') {
          const why =
            acc.status === 'PartialData'
              ? 'partial data: CloudWatch had more datapoints than it returned'
              : acc.status === 'Forbidden'
                ? 'forbidden: the reader identity cannot read this metric'
                : 'CloudWatch reported an internal error for this metric';
          const said = acc.messages.length > 0 ? ` (${acc.messages.join('; ')})` : '';
          problems.push({ ...labelsOf(acc.spec), message: `${why}${said}` });
        }
        if (acc.points.size === 0) continue;
        const times = [...acc.points.keys()].sort((a, b) => a - b);
        series.push({
          labels: { service: acc.spec.service, resource: acc.spec.resource, metric: acc.spec.metric },
          timestamps: Float64Array.from(times),
          values: Float64Array.from(times, (t) => acc.points.get(t) ?? Number.NaN),
        });
      }
    }
    if (firstError && failedBatches === batches.length) return fail(firstError);
    return ok({ series, problems });
  }

  /** One batch: GetMetricData with NextToken until the last page, datapoints merged per query id. */
  private async readBatch(
    batch: readonly { id: string; spec: CloudWatchMetricSpec }[],
    startSeconds: number,
    endSeconds: number,
    number: number,
    of: number,
  ): Promise<Result<Accumulator[], CloudWatchMetricsError>> {
    const byId = new Map<string, Accumulator>(
      batch.map(({ id, spec }) => [id, { spec, points: new Map(), messages: [] }]),
    );
    const queries = batch.map(({ id, spec }) => metricDataQuery(id, spec));
    let token: string | undefined;
    for (let page = 1; ; page++) {
      if (page > MAX_PAGES) {
        return fail({
          kind: 'aws',
          message: `GetMetricData batch ${number} of ${of} did not end after ${MAX_PAGES} pages; shorten the range`,
        });
      }
      let answer: GetMetricDataCommandOutput;
      try {
        answer = await this.client.send(
          new GetMetricDataCommand({
            MetricDataQueries: queries,
            StartTime: new Date(startSeconds * 1000),
            EndTime: new Date(endSeconds * 1000),
            ScanBy: 'TimestampAscending',
            ...(token ? { NextToken: token } : {}),
          }),
        );
      } catch (error) {
        const { kind, code, text } = classify(error);
        const where = this.region ? ` in ${this.region}` : '';
        const example = describeSpec(batch[0].spec);
        const message =
          kind === 'forbidden'
            ? `forbidden: the reader identity cannot call cloudwatch:GetMetricData${where} (batch ${number} of ${of}, ${batch.length} queries such as ${example}): ${code}: ${text}`
            : `cloudwatch:GetMetricData${where} failed for batch ${number} of ${of} (${batch.length} queries such as ${example}): ${code}: ${text}`;
        return fail({ kind, code, message });
      }
      for (const result of answer.MetricDataResults ?? []) {
        const acc = result.Id ? byId.get(result.Id) : undefined;
        if (!acc) continue;
        const timestamps = result.Timestamps ?? [];
        const values = result.Values ?? [];
        for (let i = 0; i < Math.min(timestamps.length, values.length); i++) {
          acc.points.set(new Date(timestamps[i]).getTime() / 1000, values[i]);
        }
        acc.status = result.StatusCode;
        for (const m of result.Messages ?? []) {
          const text = [m.Code, m.Value].filter(Boolean).join(': ');
          if (text && !acc.messages.includes(text)) acc.messages.push(text);
        }
      }
      token = answer.NextToken || undefined;
      if (!token) return ok([...byId.values()]);
    }
  }
}

const labelsOf = (spec: CloudWatchMetricSpec) => ({
  service: spec.service,
  resource: spec.resource,
  metric: spec.metric,
});
