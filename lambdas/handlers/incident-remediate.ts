// Lambda: Remediate, VerifyRecovery and UndoRemediation, the only steps that may change a cluster. Every
// request to the API server is appended to the incident's audit chain, and the case is recorded after each
// change so the incident shows what was done while verification is still running. The actions' results and the
// recovery verdicts are counted for the agent's health dashboard.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { KubeExchange } from '../adapters/eks/kube-client';
import { auditExchanges, auditStep } from '../core/action/audit-steps';
import { remediate, undoRemediation, verifyRecovery } from '../core/action/remediate';
import { CaseError, type IncidentCase } from '../core/decision/incident-case';
import {
  actionLedger,
  auditLog,
  clusterExecutor,
  decideDeps,
  decisionStore,
  incidentStore,
  snapshotStore,
} from './incident-runtime';
import { agentMetrics, publishMetrics } from './metrics';
import { bundledConfig, logger } from './runtime';
import { countSteps, remediationCounts } from './workflow-metrics';

const { config, playbooks } = bundledConfig();
const { graph, denyList } = decideDeps(config, playbooks);
const audit = auditLog();
const metrics = agentMetrics(config.environment);
const decisions = decisionStore();
// One invocation at a time per container: the buffer holds exactly this step's requests.
const exchanges: KubeExchange[] = [];
const deps = {
  graph,
  denyList,
  cluster: clusterExecutor(config, (exchange) => exchanges.push(exchange)),
  ledger: actionLedger(),
  snapshots: snapshotStore(),
  incidents: incidentStore(),
  dryRun: config.cluster?.dryRun ?? false,
  now: () => Date.now(),
};

const STEPS = {
  Remediate: (c: IncidentCase) => remediate(c, deps),
  VerifyRecovery: (c: IncidentCase) => verifyRecovery(c, deps),
  UndoRemediation: (c: IncidentCase) => undoRemediation(c, deps),
} as const;

export const handler = middy(async (event: { step: string; case: IncidentCase }): Promise<IncidentCase> => {
  const run = STEPS[event.step as keyof typeof STEPS];
  if (!run) {
    throw new CaseError(`unknown remediation step "${event.step}" (expected ${Object.keys(STEPS).join(', ')})`);
  }
  exchanges.length = 0;
  let result: IncidentCase;
  try {
    result = await run(event.case);
  } finally {
    await auditExchanges(audit, event.case.incidentId, event.step, exchanges.splice(0));
  }
  countSteps(metrics, remediationCounts(event.step, result));
  await auditStep(audit, event.step, result, new Date().toISOString());
  await audit.flush();
  if (event.step !== 'VerifyRecovery') await decisions.record(result);
  logger.info('remediation step done', {
    step: event.step,
    incidentId: result.incidentId,
    execution: result.execution,
    verification: result.verification?.status,
    undo: result.undo,
  });
  return result;
})
  .use(injectLambdaContext(logger))
  .use(publishMetrics(metrics));
