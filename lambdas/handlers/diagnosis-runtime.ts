// Module-scope wiring for the Diagnose step on AWS: where deploys, logs, Kubernetes state, the key series' metrics,
// past cases and the model come from, each built only when the configuration asks for it and connected on first use.

import { CloudWatchClient } from '@aws-sdk/client-cloudwatch';
import { CloudWatchMetricsReader } from '../adapters/cloudwatch/cloudwatch-metrics';
import { DynamoDeployEventStore } from '../adapters/dynamodb/deploy-event-store';
import { createEksKubeReader } from '../adapters/eks/kube-reader';
import { createKnowledgeBase } from '../adapters/knowledge/knowledge-base';
import { anthropicLlmClient } from '../adapters/llm/anthropic-client';
import { bedrockLlmClient } from '../adapters/llm/bedrock-client';
import { LokiLogSource } from '../adapters/loki/loki-log-source';
import type { DeployRecord } from '../core/cognition/classify';
import type { KubeStateReader } from '../core/cognition/kube-findings';
import type { AgentConfig, SignalCatalog } from '../core/config/schema';
import { type CaseKnowledge, caseKnowledge } from '../core/diagnosis/case-knowledge';
import type { AwsMetricsReader } from '../core/diagnosis/evidence';
import type { KeyMetrics } from '../core/diagnosis/key-series';
import { type KnowledgeBase, type KnowledgeDocument, storeDocuments } from '../core/diagnosis/knowledge';
import { type LlmClient, type RerankOutcome, type RerankRequest, rerank } from '../core/diagnosis/rerank';
import type { LogSource } from '../core/perception/log-source';
import { dynamoClient, logger, metricSource, readSecret, requiredEnv, workBlobs } from './runtime';

/** Where the embedded knowledge base lives in the work bucket. */
export const KNOWLEDGE_KEY = 'knowledge/cases.jsonl';

/** Deploys from the deploy-events table the Kafka consumer fills; none when no topic is configured. */
export function deploysSource(
  config: AgentConfig,
): (service: string, fromMs: number, toMs: number) => Promise<DeployRecord[]> {
  if (!config.kafka?.deployEvents) return async () => [];
  const store = new DynamoDeployEventStore(dynamoClient(), requiredEnv('DEPLOY_EVENTS_TABLE'));
  return (service, fromMs, toMs) => store.deploysFor(service, fromMs, toMs);
}

export function logSource(config: AgentConfig): LogSource | undefined {
  const logs = config.diagnosis.logs;
  return logs ? new LokiLogSource(logs, { secrets: readSecret }) : undefined;
}

/** Read-only Kubernetes through the reader access entry; DescribeCluster runs on first use and is retried. */
export function kubeReader(config: AgentConfig): KubeStateReader | undefined {
  const cluster = config.cluster;
  if (!cluster) return undefined;
  let reader: Promise<KubeStateReader> | undefined;
  const get = (): Promise<KubeStateReader> => {
    reader ??= createEksKubeReader({ clusterName: cluster.name, region: cluster.region ?? config.region }).catch(
      (error: unknown) => {
        reader = undefined;
        throw error;
      },
    );
    return reader;
  };
  return {
    listEvents: async (namespace, query) => (await get()).listEvents(namespace, query),
    listPods: async (namespace, selector) => (await get()).listPods(namespace, selector),
    listDeployments: async (namespace, selector) => (await get()).listDeployments(namespace, selector),
    getDeployment: async (namespace, name) => (await get()).getDeployment(namespace, name),
    listHpas: async (namespace) => (await get()).listHpas(namespace),
  };
}

/**
 * The collector's metric source (Prometheus, Mimir or AMP, its secret read on first query) and signal catalog,
 * from which Diagnose reads the key series shown on the approval message.
 */
export function keyMetrics(config: AgentConfig, catalog: SignalCatalog): KeyMetrics {
  return { source: metricSource(config), catalog };
}

/** CloudWatch metrics of the AWS resources behind services, per `diagnosis.cloudwatch`. */
export function awsMetrics(config: AgentConfig): AwsMetricsReader | undefined {
  const cloudwatch = config.diagnosis.cloudwatch;
  if (!cloudwatch) return undefined;
  const region = cloudwatch.region ?? config.region;
  return new CloudWatchMetricsReader(new CloudWatchClient({ region }), cloudwatch, { region });
}

/** Past cases and the bundled runbooks; the runbooks are (re)stored once per container, on first use. */
export function knowledge(config: AgentConfig, runbooks: readonly KnowledgeDocument[]): CaseKnowledge {
  const settings = config.diagnosis.knowledge;
  let ready: Promise<CaseKnowledge> | undefined;
  const get = (): Promise<CaseKnowledge> => {
    ready ??= (async () => {
      const kb: KnowledgeBase = await createKnowledgeBase(settings, {
        embedded: { blob: workBlobs(), key: KNOWLEDGE_KEY },
        readSecret,
      });
      await storeDocuments(runbooks, kb);
      return caseKnowledge(kb, settings);
    })().catch((error: unknown) => {
      ready = undefined;
      throw error;
    });
    return ready;
  };
  return {
    similar: async (incident, diagnosed) => (await get()).similar(incident, diagnosed),
    remember: async (c) => (await get()).remember(c),
  };
}

/** The model that re-ranks, per `diagnosis.llm`; undefined when none is configured. */
export function reranker(config: AgentConfig): ((request: RerankRequest) => Promise<RerankOutcome>) | undefined {
  const llm = config.diagnosis.llm;
  if (!llm || llm.provider === 'none') return undefined;
  const common = {
    model: llm.model,
    maxRetries: llm.maxRetries,
    ...(llm.toolChoice ? { toolChoice: llm.toolChoice } : {}),
    ...(llm.effort ? { effort: llm.effort } : {}),
  };
  const client: LlmClient =
    llm.provider === 'anthropic'
      ? anthropicLlmClient({
          ...common,
          secrets: readSecret,
          apiKeySecret: llm.apiKeySecret,
          ...(llm.baseUrl ? { baseUrl: llm.baseUrl } : {}),
        })
      : bedrockLlmClient({ ...common, ...(llm.region ? { region: llm.region } : {}) });
  return async (request) => {
    // Diagnose runs once per incident, so the incident's whole budget is this call's.
    const outcome = await rerank(request, client, {
      tokensPerIncident: llm.tokenBudgetPerIncident,
      maxTokens: llm.maxTokens,
      timeoutMs: llm.timeoutMs,
    });
    logger.info('llm re-rank', {
      source: outcome.source,
      fallbackReason: outcome.fallbackReason,
      model: outcome.model,
      usage: outcome.usage,
    });
    return outcome;
  };
}
