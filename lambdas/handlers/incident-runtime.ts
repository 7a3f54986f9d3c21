// Module-scope wiring for the incident workflow's Lambdas: stores, the audit log and the guardrail settings,
// built once per cold start from the bundled configuration.

import { DynamoActionLedger } from '../adapters/dynamodb/action-ledger';
import { DynamoAuditLog } from '../adapters/dynamodb/audit-log';
import { DynamoDecisionStore } from '../adapters/dynamodb/decision-store';
import { DynamoIncidentStore } from '../adapters/dynamodb/incident-store';
import { DynamoSnapshotStore } from '../adapters/dynamodb/snapshot-store';
import { createEksExecutor } from '../adapters/eks/eks-executor';
import type { KubeExchange } from '../adapters/eks/kube-client';
import type { ClusterExecutor, TargetSnapshot } from '../core/action/ports';
import type { AgentConfig } from '../core/config/schema';
import { denyListFrom, inChangeFreeze } from '../core/decision/guardrails';
import type { Playbooks } from '../core/decision/plan';
import type { DecideStepDeps } from '../core/decision/steps';
import { formatTarget } from '../core/decision/types';
import type { KnowledgeDocument } from '../core/diagnosis/knowledge';
import { ServiceGraph } from '../core/topology';
import { awsMetrics, deploysSource, knowledge, kubeReader, logSource, reranker } from './diagnosis-runtime';
import { dynamoClient, requiredEnv } from './runtime';

export const auditLog = () => new DynamoAuditLog(dynamoClient(), requiredEnv('AUDIT_TABLE'));

export function decideDeps(
  config: AgentConfig,
  playbooks: Playbooks,
  runbooks: readonly KnowledgeDocument[] = [],
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
