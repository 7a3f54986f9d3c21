// Lambda: Remediate and VerifyRecovery, the only steps that may change a cluster.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { auditStep } from '../core/action/audit-steps';
import { remediate, verifyRecovery } from '../core/action/remediate';
import { CaseError, type IncidentCase } from '../core/decision/incident-case';
import { actionLedger, auditLog, clusterExecutor, decideDeps } from './incident-runtime';
import { bundledConfig, logger } from './runtime';

const { config, playbooks } = bundledConfig();
const { graph, denyList } = decideDeps(config, playbooks);
const audit = auditLog();
const deps = {
  graph,
  denyList,
  cluster: clusterExecutor(config),
  ledger: actionLedger(),
  dryRun: config.cluster?.dryRun ?? false,
  now: () => Date.now(),
};

export const handler = middy(async (event: { step: string; case: IncidentCase }): Promise<IncidentCase> => {
  let result: IncidentCase;
  if (event.step === 'Remediate') result = await remediate(event.case, deps);
  else if (event.step === 'VerifyRecovery') result = await verifyRecovery(event.case, deps);
  else throw new CaseError(`unknown remediation step "${event.step}" (expected Remediate or VerifyRecovery)`);
  await auditStep(audit, event.step, result, new Date().toISOString());
  logger.info('remediation step done', {
    step: event.step,
    incidentId: result.incidentId,
    execution: result.execution,
  });
  return result;
}).use(injectLambdaContext(logger));
