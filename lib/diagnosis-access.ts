// What the Diagnose and Close steps may call on AWS for the sources the configuration names: one secret per
// authenticated Loki, Qdrant or Claude API, the EKS cluster's endpoint, the Bedrock models it invokes, and the
// metric source the key series is read from (as the collector reads it); and how long the step may take. The
// deploy-events table and the work bucket are bound where they are built.

import { ArnFormat, Duration, Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { KnowledgeConfig } from '../lambdas/core/config/knowledge-schema';
import type { LlmConfig } from '../lambdas/core/config/llm-schema';
import type { LogSourceConfig } from '../lambdas/core/config/log-source-schema';
import type { AgentConfig, ClusterConfig } from '../lambdas/core/config/schema';
import { metricSourceStatements } from './metric-source-access';
import { secretArn } from './slack-approvals';

/**
 * Prefixes of Bedrock's system-defined (cross-Region) inference profiles. `global.` routes to any commercial
 * Region; the others to the Regions of one geography.
 */
export const INFERENCE_PROFILE_PREFIXES = ['global', 'us', 'us-gov', 'eu', 'apac', 'jp', 'au', 'ca'] as const;

const PROFILE_ID = new RegExp(`^(${INFERENCE_PROFILE_PREFIXES.join('|')})\\.(.+)$`);

/** Lower bound of the Decide function's timeout: the PlanRemediation, AssessRisk and CheckGuardrails steps need no more. */
export const MIN_DECIDE_TIMEOUT = Duration.seconds(30);

/** The evidence phase without Loki: deploy-events query, EKS DescribeCluster and the Kubernetes list calls. */
const EVIDENCE_FLOOR_MS = 10_000;
/** Reading the incident, writing the audit records, and opening connections on a cold start. */
const MARGIN_MS = 10_000;

const readSecrets = (scope: Construct, names: readonly string[]): PolicyStatement[] =>
  names.length === 0
    ? []
    : [
        new PolicyStatement({
          actions: ['secretsmanager:GetSecretValue'],
          resources: names.map((name) => secretArn(scope, name)),
        }),
      ];

/** Loki: nothing for an open gateway, its one secret for basic or bearer auth. */
export function logSourceStatements(scope: Construct, logs: LogSourceConfig | undefined): PolicyStatement[] {
  if (!logs || logs.auth.type === 'none') return [];
  return readSecrets(scope, [logs.auth.secretName]);
}

/**
 * `bedrock:InvokeModel` on exactly what invoking `model` in `region` touches.
 *
 * - A foundation model id: that model in that Region.
 * - A cross-Region inference profile id (`global.anthropic.claude-sonnet-4-6`): the profile in the calling Region,
 *   and the foundation model it routes to, only through that profile (`bedrock:InferenceProfileArn`). A global
 *   profile is authorised on the model in the source Region and on its Region-less ARN
 *   (`arn:aws:bedrock:::foundation-model/<model>`); a geographic one on the model in each destination Region, a
 *   list AWS extends over time, hence any Region, still held to the one profile by the condition.
 * - An ARN (an application inference profile, a provisioned model): as given.
 */
export function bedrockModelStatements(scope: Construct, model: string, region: string): PolicyStatement[] {
  if (model.startsWith('arn:')) return [new PolicyStatement({ actions: ['bedrock:InvokeModel'], resources: [model] })];
  const stack = Stack.of(scope);
  const foundationModel = (modelRegion: string, id: string) =>
    stack.formatArn({
      service: 'bedrock',
      region: modelRegion,
      account: '',
      resource: 'foundation-model',
      resourceName: id,
      arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
    });
  const profile = PROFILE_ID.exec(model);
  if (!profile) {
    return [new PolicyStatement({ actions: ['bedrock:InvokeModel'], resources: [foundationModel(region, model)] })];
  }
  const [, geography, foundationId] = profile;
  const profileArn = stack.formatArn({
    service: 'bedrock',
    region,
    resource: 'inference-profile',
    resourceName: model,
    arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
  });
  const routedTo =
    geography === 'global'
      ? [foundationModel(region, foundationId), foundationModel('', foundationId)]
      : [foundationModel('*', foundationId)];
  return [
    new PolicyStatement({ actions: ['bedrock:InvokeModel'], resources: [profileArn] }),
    new PolicyStatement({
      actions: ['bedrock:InvokeModel'],
      resources: routedTo,
      conditions: { StringEquals: { 'bedrock:InferenceProfileArn': profileArn } },
    }),
  ];
}

/** The re-ranking model: the API key's secret (Claude API), the model (Bedrock), nothing without one. */
export function llmStatements(scope: Construct, llm: LlmConfig | undefined, defaultRegion: string): PolicyStatement[] {
  if (!llm) return [];
  switch (llm.provider) {
    case 'none':
      return [];
    case 'anthropic':
      return readSecrets(scope, [llm.apiKeySecret]);
    case 'bedrock':
      return bedrockModelStatements(scope, llm.model, llm.region ?? defaultRegion);
  }
}

/**
 * The knowledge base beyond the work bucket: Qdrant's API key when it has one, and the Titan model when cases are
 * embedded with it (the embedder's client takes the function's Region). The embedded store's object is bound by
 * the caller, which holds the bucket.
 */
export function knowledgeStatements(
  scope: Construct,
  knowledge: KnowledgeConfig,
  defaultRegion: string,
): PolicyStatement[] {
  const statements: PolicyStatement[] = [];
  if (knowledge.store === 'qdrant' && knowledge.qdrant?.apiKeySecret) {
    statements.push(...readSecrets(scope, [knowledge.qdrant.apiKeySecret]));
  }
  if (knowledge.embeddings === 'bedrock-titan') {
    statements.push(...bedrockModelStatements(scope, knowledge.titanModel, defaultRegion));
  }
  return statements;
}

/** Endpoint and CA of exactly the configured cluster; what the role may do inside it is Kubernetes RBAC's. */
export function describeClusterStatement(
  scope: Construct,
  cluster: ClusterConfig,
  defaultRegion: string,
): PolicyStatement {
  return new PolicyStatement({
    actions: ['eks:DescribeCluster'],
    resources: [
      Stack.of(scope).formatArn({
        service: 'eks',
        region: cluster.region ?? defaultRegion,
        resource: 'cluster',
        resourceName: cluster.name,
      }),
    ],
  });
}

/**
 * Everything the Decide function calls on AWS for its configured evidence, knowledge and model, and for the key
 * series: the metric source's secret or AMP workspace, the same grant as the collector's. `configFile` names the
 * file in the error a metric source that cannot be granted fails synth with.
 */
export function diagnosisStatements(
  scope: Construct,
  config: AgentConfig,
  configFile = 'the agent configuration',
): PolicyStatement[] {
  const { diagnosis, region, cluster } = config;
  return [
    ...metricSourceStatements(scope, config.metricSource, configFile),
    ...logSourceStatements(scope, diagnosis.logs),
    ...knowledgeStatements(scope, diagnosis.knowledge, region),
    ...llmStatements(scope, diagnosis.llm, region),
    ...(cluster ? [describeClusterStatement(scope, cluster, region)] : []),
    ...(diagnosis.cloudwatch ? [cloudWatchReadStatement()] : []),
  ];
}

/**
 * GetMetricData for the AWS resources behind services. CloudWatch has no resource-level permissions for it
 * (the action only accepts `*`), so the action itself is the narrow part: no Put, no alarms, no dashboards.
 */
export function cloudWatchReadStatement(): PolicyStatement {
  return new PolicyStatement({ actions: ['cloudwatch:GetMetricData'], resources: ['*'] });
}

/**
 * The Decide function's timeout: enough for the slowest Diagnose the configuration allows. Evidence is read
 * concurrently (Loki's retries usually bound it), then past cases are searched (twice: the incident, then its
 * root cause's runbooks), then the model re-ranks within its own deadline, then the key series of the root cause
 * it settled on is read (the metric source's retries bound it). Never below MIN_DECIDE_TIMEOUT.
 */
export function decideTimeout(config: AgentConfig): Duration {
  const { llm, logs, knowledge } = config.diagnosis;
  const evidenceMs = Math.max(EVIDENCE_FLOOR_MS, logs ? logs.timeoutMs * (logs.retries + 1) : 0);
  const knowledgeMs = knowledge.store === 'qdrant' && knowledge.qdrant ? 2 * knowledge.qdrant.timeoutMs : 0;
  const llmMs = llm && llm.provider !== 'none' ? llm.timeoutMs : 0;
  const keySeriesMs = config.metricSource.timeoutMs * (config.metricSource.retries + 1);
  const seconds = Math.ceil((evidenceMs + knowledgeMs + llmMs + keySeriesMs + MARGIN_MS) / 1000);
  return Duration.seconds(Math.max(MIN_DECIDE_TIMEOUT.toSeconds(), seconds));
}
