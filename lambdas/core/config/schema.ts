// The agent's configuration: one schema, checked at synth, at Lambda cold start and by the CLI.

import { z } from 'zod';
import { alertingConfigSchema, alertingTopologyProblems } from '../alerting/alerting-config';
import { QUORUM } from '../decision/types';
import { cloudWatchConfigSchema, cloudWatchTopologyProblems } from './cloudwatch-schema';
import { criticalitySchema } from './criticality';
import { integrationsSchema } from './integrations-schema';
import { kafkaConfigSchema } from './kafka-schema';
import { knowledgeConfigSchema } from './knowledge-schema';
import { llmConfigSchema } from './llm-schema';
import { logSourceSchema } from './log-source-schema';
import { promqlSyntaxError } from './promql-syntax';

const durationMinutes = z.number().int().positive();

export { type Criticality, criticalitySchema } from './criticality';

export const serviceSchema = z
  .object({
    name: z.string().regex(/^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/, 'must be a DNS-1123 label (lower case, digits, dashes)'),
    kind: z.enum(['service', 'datastore', 'queue']).default('service'),
    criticality: criticalitySchema.default('standard'),
    namespace: z.string().min(1).default('default'),
    deployment: z.string().min(1).optional(),
    replicas: z.number().int().nonnegative().optional(),
    dependsOn: z.array(z.string()).default([]),
  })
  .strict();
export type ServiceSpec = z.infer<typeof serviceSchema>;

/**
 * One cycle per group of services that reach one another (a strongly connected component, Tarjan), starting and
 * ending at the group's first service in config order. Self-dependencies and unknown services are reported on
 * their own and left out here.
 */
function dependencyCycles(services: readonly Pick<ServiceSpec, 'name' | 'dependsOn'>[]): string[][] {
  const order = new Map(services.map((s, i) => [s.name, i]));
  const edges = new Map(
    services.map((s) => [s.name, s.dependsOn.filter((d) => d !== s.name && order.has(d))] as const),
  );
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const connect = (name: string): void => {
    index.set(name, index.size);
    low.set(name, index.get(name)!);
    stack.push(name);
    onStack.add(name);
    for (const next of edges.get(name) ?? []) {
      if (!index.has(next)) {
        connect(next);
        low.set(name, Math.min(low.get(name)!, low.get(next)!));
      } else if (onStack.has(next)) {
        low.set(name, Math.min(low.get(name)!, index.get(next)!));
      }
    }
    if (low.get(name) !== index.get(name)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== name);
    if (component.length > 1) components.push(component);
  };
  for (const { name } of services) if (!index.has(name)) connect(name);
  return components
    .map((component) => component.sort((a, b) => order.get(a)! - order.get(b)!))
    .sort((a, b) => order.get(a[0])! - order.get(b[0])!)
    .map((component) => shortestCycle(component[0], new Set(component), edges));
}

/** The shortest way from `start` back to itself inside `within` (breadth first, dependencies in config order). */
function shortestCycle(start: string, within: ReadonlySet<string>, edges: ReadonlyMap<string, readonly string[]>) {
  const cameFrom = new Map<string, string>();
  const queue = [start];
  for (let head = 0; head < queue.length; head++) {
    const name = queue[head];
    for (const next of edges.get(name) ?? []) {
      if (!within.has(next)) continue;
      if (next === start) {
        const path = [start];
        for (let at: string | undefined = name; at !== undefined && at !== start; at = cameFrom.get(at)) path.push(at);
        return [start, ...path.slice(1).reverse(), start];
      }
      if (!cameFrom.has(next)) {
        cameFrom.set(next, name);
        queue.push(next);
      }
    }
  }
  return [start, start]; // unreachable for a component of two or more: every member reaches every other
}

export const topologySchema = z
  .object({ services: z.array(serviceSchema).min(1, 'must name at least one service') })
  .strict()
  .superRefine((topology, ctx) => {
    const names = new Set<string>();
    topology.services.forEach((service, index) => {
      if (names.has(service.name)) {
        ctx.addIssue({
          code: 'custom',
          path: ['services', index, 'name'],
          message: `duplicate service "${service.name}"`,
        });
      }
      names.add(service.name);
    });
    topology.services.forEach((service, index) => {
      service.dependsOn.forEach((dependency, depIndex) => {
        if (dependency === service.name) {
          ctx.addIssue({
            code: 'custom',
            path: ['services', index, 'dependsOn', depIndex],
            message: `"${dependency}" depends on itself`,
          });
        } else if (!names.has(dependency)) {
          ctx.addIssue({
            code: 'custom',
            path: ['services', index, 'dependsOn', depIndex],
            message: `unknown service "${dependency}" (known: ${[...names].join(', ')})`,
          });
        }
      });
    });
    // With a cycle every service on it is both cause and symptom of the others: root-cause ranking has no answer.
    for (const cycle of dependencyCycles(topology.services)) {
      ctx.addIssue({ code: 'custom', path: ['services'], message: `dependency cycle ${cycle.join(' -> ')}` });
    }
  });
export type Topology = z.infer<typeof topologySchema>;

const hardLimitSchema = z
  .object({ above: z.number().optional(), below: z.number().optional() })
  .strict()
  .refine((limit) => limit.above !== undefined || limit.below !== undefined, 'needs "above" or "below"');
export type HardLimit = z.infer<typeof hardLimitSchema>;

const isNonEmptyString = (value: unknown): value is string => typeof value === 'string' && value.length > 0;

export const signalSchema = z
  .object({
    id: z.string().regex(/^[a-z][a-z0-9_]*$/, 'must be snake_case'),
    description: z.string().optional(),
    query: z.string().min(1),
    entityLabel: z.string().min(1).default('service'),
    unit: z.enum(['ratio', 'seconds', 'requests_per_second', 'count', 'messages', 'bytes', 'percent']),
    /** Which direction is bad: latency and errors only when they rise. */
    badDirection: z.enum(['up', 'down', 'both']),
    /** gauge: scored as is; counter: scored on its per-tick rate of change. */
    kind: z.enum(['gauge', 'counter']).default('gauge'),
    /** Smallest change that matters, in the signal's unit: keeps near-constant series from paging on noise. */
    minDeviation: z.number().nonnegative().default(0),
    /** Hard limit (SLO) for every entity, overridden per entity by `limits`. */
    hardLimit: hardLimitSchema.optional(),
    limits: z.record(z.string(), hardLimitSchema).default({}),
    /**
     * Also raise a slow, steady climb in the bad direction before any single point is far enough out (a
     * weighted mean of the z-score over the last minutes): for resources that leak, such as memory.
     */
    drift: z.boolean().default(false),
  })
  .strict()
  .superRefine(
    (signal, ctx) => {
      // Checked here, not at the first tick: Prometheus would reject the query on every tick, and only in the logs.
      const error = promqlSyntaxError(signal.query);
      if (error) {
        ctx.addIssue({
          code: 'custom',
          path: ['query'],
          message: [
            `signal "${String(signal.id)}": PromQL syntax error at ${error.where}: ${error.message}`,
            error.snippet,
          ]
            .filter(Boolean)
            .join('\n'),
        });
      }
    },
    // Reported with the signal's other mistakes, not after they are fixed; needs only a query to parse.
    { when: (payload) => isNonEmptyString((payload.value as { query?: unknown } | null | undefined)?.query) },
  );
export type Signal = z.infer<typeof signalSchema>;

export const signalCatalogSchema = z
  .object({ signals: z.array(signalSchema).min(1, 'must define at least one signal') })
  .strict()
  .superRefine((catalog, ctx) => {
    const ids = new Set<string>();
    catalog.signals.forEach((signal, index) => {
      if (ids.has(signal.id)) {
        ctx.addIssue({ code: 'custom', path: ['signals', index, 'id'], message: `duplicate signal id "${signal.id}"` });
      }
      ids.add(signal.id);
    });
  });
export type SignalCatalog = z.infer<typeof signalCatalogSchema>;

const authSchema = z.discriminatedUnion('type', [
  z.object({ type: z.literal('none') }).strict(),
  z.object({ type: z.literal('basic'), secretName: z.string().min(1) }).strict(),
  z.object({ type: z.literal('bearer'), secretName: z.string().min(1) }).strict(),
  z
    .object({ type: z.literal('sigv4'), region: z.string().min(1).optional(), service: z.string().default('aps') })
    .strict(),
]);
export type MetricSourceAuth = z.infer<typeof authSchema>;

export const metricSourceSchema = z
  .object({
    flavor: z.enum(['prometheus', 'mimir', 'amp']),
    /** Base URL of the Prometheus HTTP API, e.g. https://prometheus.monitoring:9090 or the AMP workspace URL. */
    url: z.url(),
    /** Mimir tenant, sent as X-Scope-OrgID. */
    tenant: z.string().min(1).optional(),
    auth: authSchema.default({ type: 'none' }),
    timeoutMs: z.number().int().positive().max(30_000).default(5_000),
    retries: z.number().int().min(0).max(5).default(2),
  })
  .strict()
  .superRefine((source, ctx) => {
    if (source.flavor === 'mimir' && !source.tenant) {
      ctx.addIssue({ code: 'custom', path: ['tenant'], message: 'Mimir needs a tenant (sent as X-Scope-OrgID)' });
    }
    if (source.timeoutMs * (source.retries + 1) > 30_000) {
      ctx.addIssue({
        code: 'custom',
        path: ['timeoutMs'],
        message: `timeoutMs x (retries + 1) is ${source.timeoutMs * (source.retries + 1)} ms; keep it within 30000 ms so a tick's collection ends well inside the collector's 45 s timeout`,
      });
    }
    if (source.flavor === 'amp' && source.auth.type !== 'sigv4') {
      ctx.addIssue({
        code: 'custom',
        path: ['auth', 'type'],
        message: 'Amazon Managed Prometheus needs auth type sigv4',
      });
    }
  });
export type MetricSourceConfig = z.infer<typeof metricSourceSchema>;

export const detectionSchema = z
  .object({
    /** Robust z-score at which a point counts as anomalous. */
    threshold: z.number().positive().default(5),
    /** Consecutive anomalous ticks before a series is raised. */
    persistenceTicks: z.number().int().positive().max(30).default(3),
    /** Consecutive normal ticks before a raised series clears. */
    clearTicks: z.number().int().positive().default(5),
    /** Anomalies on related services starting within this window join one incident. */
    correlationWindowMinutes: durationMinutes.default(15),
    /** An incident with no raised series for this long is resolved. */
    resolveAfterMinutes: durationMinutes.default(15),
    /** Resolution of the learned daily profile. */
    slotMinutes: z.number().int().positive().max(60).default(5),
    /** History the daily baseline job learns from. */
    historyDays: z.number().int().min(2).max(30).default(7),
  })
  .strict();
export type DetectionConfig = z.infer<typeof detectionSchema>;

/** Who may vote on approvals in Slack, keyed by Slack user id; a person has one role. */
export const approverSchema = z
  .object({
    slackUserId: z.string().regex(/^[UW][A-Z0-9]{2,}$/, 'must be a Slack user id such as U012ABCDEF'),
    name: z.string().min(1),
    role: z.enum(['sre', 'tech-lead']),
  })
  .strict();
export type ApproverConfig = z.infer<typeof approverSchema>;

/** Slack approvals of MEDIUM and HIGH plans (see lambdas/core/decision/approval.ts for the quorum rules). */
export const approvalsSchema = z
  .object({
    /** Channel the approval messages are posted to: an id (C0123ABCD) or a name. */
    channel: z.string().min(1),
    /** Secrets Manager secret holding the Slack app's signing secret. */
    signingSecretName: z.string().min(1),
    /** Secrets Manager secret holding the bot token (xoxb-...), raw or as JSON {"token": "..."}. */
    botTokenSecretName: z.string().min(1),
    approvers: z.array(approverSchema).min(1, 'must name at least one approver'),
    /** How long each tier waits for its quorum before the workflow escalates. */
    timeoutMinutes: z.object({ MEDIUM: durationMinutes.max(1440), HIGH: durationMinutes.max(1440) }).strict(),
  })
  .strict()
  .superRefine((approvals, ctx) => {
    const ids = new Set<string>();
    approvals.approvers.forEach((approver, index) => {
      if (ids.has(approver.slackUserId)) {
        ctx.addIssue({
          code: 'custom',
          path: ['approvers', index, 'slackUserId'],
          message: `duplicate approver "${approver.slackUserId}" (a person has one role)`,
        });
      }
      ids.add(approver.slackUserId);
    });
    // The quorum must be reachable, or every HIGH plan would wait for its timeout.
    const count = (role: ApproverConfig['role']) => approvals.approvers.filter((a) => a.role === role).length;
    const high = QUORUM.HIGH;
    if (count('sre') < high.sre || count('tech-lead') < high['tech-lead']) {
      ctx.addIssue({
        code: 'custom',
        path: ['approvers'],
        message: `HIGH needs ${high.sre} distinct SREs and ${high['tech-lead']} tech lead; the list has ${count('sre')} SRE(s) and ${count('tech-lead')} tech lead(s)`,
      });
    }
  });
export type ApprovalsConfig = z.infer<typeof approvalsSchema>;

const isoTime = z.iso.datetime({ offset: true });

/** Safety settings no automation passes; the iron rule on money is code and needs no entry here. */
export const guardrailsSchema = z
  .object({
    /** Actions no automation may take, matched by service, namespace and/or action. */
    denyList: z
      .array(
        z
          .object({
            service: z.string().min(1).optional(),
            namespace: z.string().min(1).optional(),
            action: z.string().min(1).optional(),
            reason: z.string().min(1),
          })
          .strict()
          .refine((rule) => rule.service || rule.namespace || rule.action, 'needs a service, a namespace or an action'),
      )
      .default([]),
    /** Windows in which a change freeze is in force: remediation risk rises. */
    changeFreezes: z.array(z.object({ start: isoTime, end: isoTime, reason: z.string().min(1) }).strict()).default([]),
  })
  .strict();
export type GuardrailsConfig = z.infer<typeof guardrailsSchema>;

/** The EKS cluster the executor acts on. */
export const clusterSchema = z
  .object({
    name: z.string().regex(/^[0-9A-Za-z][A-Za-z0-9\-_]{0,99}$/, 'must be an EKS cluster name'),
    /** @default the config's region */
    region: z.string().optional(),
    /** Every change as a server-side dry run only (`dryRun=All`): a safe first week in a new environment. */
    dryRun: z.boolean().default(false),
  })
  .strict();
export type ClusterConfig = z.infer<typeof clusterSchema>;

export const diagnosisSchema = z
  .object({
    llm: llmConfigSchema.optional(),
    /** Loki: error lines and signatures per service. */
    logs: logSourceSchema.optional(),
    /** CloudWatch metrics of AWS resources (RDS, ElastiCache, ALB) behind topology services. */
    cloudwatch: cloudWatchConfigSchema.optional(),
    knowledge: knowledgeConfigSchema.prefault({}),
  })
  .strict();
export type DiagnosisSettings = z.infer<typeof diagnosisSchema>;

export const agentConfigSchema = z
  .object({
    environment: z.enum(['dev', 'staging', 'prod']),
    account: z
      .string()
      .regex(/^\d{12}$/, 'must be a 12-digit AWS account id')
      .optional(),
    region: z.string().regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as ap-northeast-1'),
    metricSource: metricSourceSchema,
    /** Signal catalog file, relative to the config directory. */
    signalCatalog: z.string().min(1).default('promql-queries.yaml'),
    /** Playbooks file, relative to the config directory. */
    playbooks: z.string().min(1).default('playbooks.yaml'),
    topology: topologySchema,
    detection: detectionSchema.default(detectionSchema.parse({})),
    /** Days CloudWatch keeps the agent's logs: one of the retention periods lib/agent-function.ts maps. */
    logRetentionDays: z.literal([7, 14, 30, 90, 365]).default(30),
    alarmEmail: z.email().optional(),
    /** Slack approvals; without it no plan that needs approval can run. */
    approvals: approvalsSchema.optional(),
    guardrails: guardrailsSchema.default(guardrailsSchema.parse({})),
    /** The EKS cluster remediation acts on; without it remediation refuses every action. */
    cluster: clusterSchema.optional(),
    /** Evidence beyond metrics, the model that re-ranks, and the knowledge base. */
    diagnosis: diagnosisSchema.prefault({}),
    /** Noise reduction and routing for external alerts and the agent's own findings. */
    alerting: alertingConfigSchema.prefault({}),
    /** PagerDuty, Jira and a generic webhook, besides Slack. */
    integrations: integrationsSchema.optional(),
    kafka: kafkaConfigSchema.optional(),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.diagnosis.cloudwatch) {
      for (const problem of cloudWatchTopologyProblems(config.diagnosis.cloudwatch, config.topology)) {
        ctx.addIssue({ code: 'custom', path: ['diagnosis', 'cloudwatch'], message: problem });
      }
    }
    for (const problem of alertingTopologyProblems(config.alerting, config.topology)) {
      ctx.addIssue({ code: 'custom', path: ['alerting'], message: problem.replace(/^alerting\./, '') });
    }
    const known = new Set(config.topology.services.map((s) => s.name));
    config.guardrails.denyList.forEach((rule, index) => {
      if (rule.service && !known.has(rule.service)) {
        ctx.addIssue({
          code: 'custom',
          path: ['guardrails', 'denyList', index, 'service'],
          message: `unknown service "${rule.service}"`,
        });
      }
    });
  });
export type AgentConfig = z.infer<typeof agentConfigSchema>;
