// Module-scope wiring for the incident workflow's Lambdas: stores, the audit log and the guardrail settings,
// built once per cold start from the bundled configuration.

import { DynamoActionLedger } from '../adapters/dynamodb/action-ledger';
import { appendModeFor, DynamoAuditLog } from '../adapters/dynamodb/audit-log';
import { DynamoDecisionStore } from '../adapters/dynamodb/decision-store';
import { DynamoIncidentStore } from '../adapters/dynamodb/incident-store';
import { DynamoSnapshotStore } from '../adapters/dynamodb/snapshot-store';
import { createEksExecutor } from '../adapters/eks/eks-executor';
import type { KubeExchange } from '../adapters/eks/kube-client';
import { type AuditProducer, createAuditProducer, KafkaAuditStream } from '../adapters/kafka/audit-stream';
import { PublishingAuditLog } from '../adapters/kafka/publishing-audit-log';
import type { ClusterExecutor, TargetSnapshot } from '../core/action/ports';
import type { AgentConfig, SignalCatalog } from '../core/config/schema';
import { denyListFrom, inChangeFreeze } from '../core/decision/guardrails';
import type { Playbooks } from '../core/decision/plan';
import type { DecideStepDeps } from '../core/decision/steps';
import { formatTarget } from '../core/decision/types';
import type { KnowledgeDocument } from '../core/diagnosis/knowledge';
import type { AuditLog } from '../core/ports';
import { ServiceGraph } from '../core/topology';
import { awsMetrics, deploysSource, keyMetrics, knowledge, kubeReader, logSource, reranker } from './diagnosis-runtime';
import { dynamoClient, logger, readSecret, requiredEnv } from './runtime';

/**
 * The audit trail: DynamoDB, and also the Kafka audit stream when the stack set one up (AUDIT_STREAM_TOPIC and
 * AUDIT_STREAM_BROKERS, with AUDIT_STREAM_SASL_SECRET for SASL/SCRAM). Handlers call `flushAudit` before
 * returning so queued records leave before the sandbox freezes.
 */
export function auditLog(): AuditLog & { flush(timeoutMs?: number): Promise<boolean> } {
  const dynamo = new DynamoAuditLog(dynamoClient(), requiredEnv('AUDIT_TABLE'), { append: appendModeFor(process.env) });
  const topic = process.env.AUDIT_STREAM_TOPIC;
  const brokers = process.env.AUDIT_STREAM_BROKERS?.split(',').filter((b) => b.trim() !== '');
  if (!topic || !brokers || brokers.length === 0) return Object.assign(dynamo, { flush: async () => true });
  const saslSecret = process.env.AUDIT_STREAM_SASL_SECRET;
  let producer: Promise<AuditProducer> | undefined;
  // The SASL secret is read when the stream first connects, not at cold start.
  const connectProducer = (): Promise<AuditProducer> => {
    producer ??= (async () => {
      const sasl = saslSecret ? scramFrom(await readSecret(saslSecret)) : undefined;
      return createAuditProducer({ clientId: 'sre-agent', brokers, ...(sasl ? { sasl } : {}) });
    })();
    return producer;
  };
  const stream = new KafkaAuditStream({
    topic,
    producer: {
      connect: async () => (await connectProducer()).connect(),
      disconnect: async () => (await connectProducer()).disconnect(),
      send: async (record) => (await connectProducer()).send(record),
    },
    onFailure: (failure) => logger.warn('audit stream', { ...failure }),
  });
  return new PublishingAuditLog(dynamo, stream);
}

/** SASL/SCRAM credentials from a secret: {"username", "password"} (MSK's format). */
function scramFrom(secret: string): { mechanism: 'scram-sha-512'; username: string; password: string } {
  const parsed = JSON.parse(secret) as { username?: unknown; password?: unknown };
  if (typeof parsed.username !== 'string' || typeof parsed.password !== 'string') {
    throw new Error('the audit stream SASL secret must be JSON with "username" and "password"');
  }
  return { mechanism: 'scram-sha-512', username: parsed.username, password: parsed.password };
}

export function decideDeps(
  config: AgentConfig,
  playbooks: Playbooks,
  runbooks: readonly KnowledgeDocument[] = [],
  /** With the catalog, Diagnose reads the key metric's last hour for the approval message's sparkline. */
  catalog?: SignalCatalog,
): DecideStepDeps {
  const logs = logSource(config);
  const kube = kubeReader(config);
  const rerank = reranker(config);
  const aws = awsMetrics(config);
  return {
    playbooks,
    graph: new ServiceGraph(config.topology),
    topology: config.topology,
    incidents: incidentStore(),
    decisions: decisionStore(),
    denyList: denyListFrom(config.guardrails.denyList),
    deploysFor: deploysSource(config),
    ...(logs ? { logs } : {}),
    ...(kube ? { kube } : {}),
    ...(aws ? { awsMetrics: aws } : {}),
    ...(catalog ? { metrics: keyMetrics(config, catalog) } : {}),
    knowledge: knowledge(config, runbooks),
    ...(rerank ? { reranker: rerank } : {}),
    changeFreezeAt: inChangeFreeze(config.guardrails.changeFreezes),
    now: () => Date.now(),
  };
}

/**
 * The environment's executor: EKS when a cluster is configured, else one that refuses every change.
 * `onExchange` sees every request to the API server, for the audit trail.
 */
export function clusterExecutor(config: AgentConfig, onExchange?: (exchange: KubeExchange) => void): ClusterExecutor {
  const cluster = config.cluster;
  if (!cluster) return new NoClusterExecutor();
  let executor: Promise<ClusterExecutor> | undefined;
  // DescribeCluster runs on first use, not at cold start, and is retried on the next call if it failed.
  const get = (): Promise<ClusterExecutor> => {
    executor ??= createEksExecutor({
      clusterName: cluster.name,
      region: cluster.region ?? config.region,
      ...(onExchange ? { onExchange } : {}),
    }).catch((error: unknown) => {
      executor = undefined;
      throw error;
    });
    return executor;
  };
  return {
    snapshot: async (target) => (await get()).snapshot(target),
    execute: async (step, options) => (await get()).execute(step, options),
    rolloutStatus: async (step) => (await get()).rolloutStatus(step),
    restore: async (snapshot, options) => (await get()).restore(snapshot, options),
  };
}

export const snapshotStore = () => new DynamoSnapshotStore(dynamoClient(), requiredEnv('INCIDENTS_TABLE'));
export const incidentStore = () => new DynamoIncidentStore(dynamoClient(), requiredEnv('INCIDENTS_TABLE'));
export const decisionStore = () => new DynamoDecisionStore(dynamoClient(), requiredEnv('INCIDENTS_TABLE'));

export const actionLedger = () => new DynamoActionLedger(dynamoClient(), requiredEnv('ACTION_LEDGER_TABLE'));

/**
 * The cluster executor of an environment without a configured cluster: it cannot snapshot, so the
 * remediation step refuses every action ("no-snapshot") and the workflow reports it instead of changing
 * anything blind.
 */
export class NoClusterExecutor implements ClusterExecutor {
  async snapshot(target: Parameters<ClusterExecutor['snapshot']>[0]): Promise<TargetSnapshot> {
    throw new Error(
      `no cluster executor is configured for this environment; ${formatTarget(target)} was left untouched`,
    );
  }

  async execute(): Promise<{ ok: boolean; detail: string }> {
    return { ok: false, detail: 'no cluster executor is configured for this environment' };
  }

  async rolloutStatus(): Promise<{ complete: boolean; detail: string }> {
    return { complete: false, detail: 'no cluster executor is configured for this environment' };
  }

  async restore(): Promise<{ ok: boolean; detail: string }> {
    return { ok: false, detail: 'no cluster executor is configured for this environment' };
  }
}
