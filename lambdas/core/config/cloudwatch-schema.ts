// Which CloudWatch metrics describe the AWS resources behind topology services (RDS, ElastiCache, ALB): one entry
// per resource with its namespace, dimensions, metric names, statistic and period. Presets fill in the usual
// metrics per resource type, so a config names only the resource.

import { z } from 'zod';
import type { Topology } from './schema';

export const CLOUDWATCH_RESOURCE_TYPES = ['rds', 'elasticache', 'alb', 'custom'] as const;
export type CloudWatchResourceType = (typeof CLOUDWATCH_RESOURCE_TYPES)[number];

/** The statistics GetMetricData takes in a MetricStat: the five basic ones and percentiles such as p99 or p99.9. */
const STAT = /^(?:Average|Sum|Minimum|Maximum|SampleCount|p(?:100|\d{1,2}(?:\.\d{1,10})?))$/;

/** CloudWatch accepts periods of 1, 5, 10, 20 and 30 s (high resolution) or any multiple of 60 s. */
const validPeriod = (seconds: number): boolean => [1, 5, 10, 20, 30].includes(seconds) || seconds % 60 === 0;

const periodSchema = z
  .number()
  .int()
  .positive()
  .refine(validPeriod, 'must be 1, 5, 10, 20 or 30 seconds or a multiple of 60');

export const cloudWatchMetricSchema = z
  .object({
    /** CloudWatch metric name, e.g. CPUUtilization. */
    name: z.string().min(1).max(255),
    /** Average, Sum, Minimum, Maximum, SampleCount, or a percentile such as p99. */
    stat: z.string().regex(STAT, 'must be Average, Sum, Minimum, Maximum, SampleCount or a percentile such as p99'),
    /** Seconds per datapoint; defaults to the resource's, then the file's. */
    period: periodSchema.optional(),
  })
  .strict();
export type CloudWatchMetric = z.infer<typeof cloudWatchMetricSchema>;

/** Metrics read when a resource lists none: saturation and errors of each kind of resource. */
export const CLOUDWATCH_PRESETS: Readonly<
  Record<Exclude<CloudWatchResourceType, 'custom'>, { namespace: string; metrics: readonly CloudWatchMetric[] }>
> = {
  rds: {
    namespace: 'AWS/RDS',
    metrics: [
      { name: 'CPUUtilization', stat: 'Average' },
      { name: 'DatabaseConnections', stat: 'Maximum' },
      { name: 'ReadLatency', stat: 'Average' },
    ],
  },
  elasticache: {
    namespace: 'AWS/ElastiCache',
    metrics: [
      { name: 'EngineCPUUtilization', stat: 'Average' },
      { name: 'CurrConnections', stat: 'Maximum' },
      { name: 'Evictions', stat: 'Sum' },
    ],
  },
  alb: {
    namespace: 'AWS/ApplicationELB',
    metrics: [
      { name: 'TargetResponseTime', stat: 'p99' },
      { name: 'HTTPCode_Target_5XX_Count', stat: 'Sum' },
    ],
  },
};

/** Dimensions that identify one resource of each type (any one of each alternative). */
const REQUIRED_DIMENSIONS: Readonly<Record<Exclude<CloudWatchResourceType, 'custom'>, readonly string[]>> = {
  rds: ['DBInstanceIdentifier', 'DBClusterIdentifier'],
  elasticache: ['CacheClusterId', 'ReplicationGroupId'],
  alb: ['LoadBalancer'],
};

export const cloudWatchResourceSchema = z
  .object({
    /** Topology service the resource belongs to. */
    service: z.string().min(1),
    /** Short name for labels and messages, e.g. orders-db. */
    resource: z.string().min(1),
    type: z.enum(CLOUDWATCH_RESOURCE_TYPES),
    /** CloudWatch namespace; the preset's for rds, elasticache and alb. */
    namespace: z.string().min(1).optional(),
    /** e.g. {DBInstanceIdentifier: orders-db-1}; ALB: {LoadBalancer: app/<name>/<id>}. */
    dimensions: z
      .record(z.string().min(1), z.string().min(1))
      .refine((d) => Object.keys(d).length <= 30, 'CloudWatch allows at most 30 dimensions'),
    /** Metrics to read; the preset's when omitted. */
    metrics: z.array(cloudWatchMetricSchema).min(1).optional(),
    period: periodSchema.optional(),
  })
  .strict()
  .superRefine((resource, ctx) => {
    if (resource.type === 'custom') {
      if (!resource.namespace)
        ctx.addIssue({ code: 'custom', path: ['namespace'], message: 'custom needs a namespace' });
      if (!resource.metrics) ctx.addIssue({ code: 'custom', path: ['metrics'], message: 'custom needs metrics' });
      return;
    }
    const required = REQUIRED_DIMENSIONS[resource.type];
    if (!required.some((name) => resource.dimensions[name] !== undefined)) {
      ctx.addIssue({
        code: 'custom',
        path: ['dimensions'],
        message: `${resource.type} needs the dimension ${required.join(' or ')}`,
      });
    }
  });
export type CloudWatchResource = z.infer<typeof cloudWatchResourceSchema>;

export const cloudWatchConfigSchema = z
  .object({
    /** Region of the resources; the agent's when omitted. */
    region: z
      .string()
      .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as ap-northeast-1')
      .optional(),
    /** Seconds per datapoint unless a resource or metric says otherwise. */
    period: periodSchema.default(60),
    resources: z.array(cloudWatchResourceSchema).min(1, 'must name at least one resource'),
  })
  .strict()
  .superRefine((config, ctx) => {
    const seen = new Set<string>();
    config.resources.forEach((r, index) => {
      const key = `${r.service}/${r.resource}`;
      if (seen.has(key)) {
        ctx.addIssue({ code: 'custom', path: ['resources', index, 'resource'], message: `duplicate resource ${key}` });
      }
      seen.add(key);
    });
  });
export type CloudWatchConfig = z.infer<typeof cloudWatchConfigSchema>;

/** One metric of one resource, everything filled in: what one MetricDataQuery asks for. */
export interface CloudWatchMetricSpec {
  readonly service: string;
  readonly resource: string;
  readonly namespace: string;
  readonly dimensions: Readonly<Record<string, string>>;
  readonly metric: string;
  readonly stat: string;
  readonly period: number;
}

/** Every metric the config asks for, presets and defaults applied, in config order. */
export function cloudWatchMetricSpecs(config: CloudWatchConfig): CloudWatchMetricSpec[] {
  return config.resources.flatMap((r) => {
    const preset = r.type === 'custom' ? undefined : CLOUDWATCH_PRESETS[r.type];
    const namespace = r.namespace ?? preset?.namespace ?? '';
    const metrics = r.metrics ?? preset?.metrics ?? [];
    return metrics.map((m) => ({
      service: r.service,
      resource: r.resource,
      namespace,
      dimensions: r.dimensions,
      metric: m.name,
      stat: m.stat,
      period: m.period ?? r.period ?? config.period,
    }));
  });
}

/** Problems with services the topology does not know, one line each. */
export function cloudWatchTopologyProblems(config: CloudWatchConfig, topology: Topology): string[] {
  const known = new Set(topology.services.map((s) => s.name));
  return config.resources.flatMap((r, index) =>
    known.has(r.service)
      ? []
      : [`resources[${index}].service: unknown service "${r.service}" (known: ${[...known].join(', ')})`],
  );
}
