// Lambda: the incident workflow's decision steps (Diagnose, PlanRemediation, AssessRisk, CheckGuardrails, Close),
// counting the model's calls, tokens and fallbacks of each diagnosis for the agent's health alarms. CheckGuardrails
// sets how long an approval waits (config `approvals.timeoutMinutes`); Close says in one line how the case ended.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { auditStep } from '../core/action/audit-steps';
import { approvalTimeoutSecondsOf, type IncidentCase } from '../core/decision/incident-case';
import { type CaseInput, decideStep } from '../core/decision/steps';
import { auditLog, decideDeps } from './incident-runtime';
import { agentMetrics, publishMetrics } from './metrics';
import { bundledConfig, logger } from './runtime';
import { countSteps, diagnosisCounts } from './workflow-metrics';

const { config, catalog, playbooks, runbooks } = bundledConfig();
const timeoutMinutes = config.approvals?.timeoutMinutes;
const deps = {
  ...decideDeps(config, playbooks, runbooks, catalog),
  ...(timeoutMinutes ? { approvalTimeoutSeconds: approvalTimeoutSecondsOf(timeoutMinutes) } : {}),
};
const audit = auditLog();
const metrics = agentMetrics(config.environment);

export const handler = middy(async (event: { step: string; case: CaseInput }): Promise<IncidentCase> => {
  const result = await decideStep(event.step, event.case, deps);
  countSteps(metrics, diagnosisCounts(event.step, result));
  await auditStep(audit, event.step, result, new Date().toISOString());
  await audit.flush();
  logger.info('incident step done', { step: event.step, incidentId: result.incidentId, tier: result.risk?.tier });
  return result;
})
  .use(injectLambdaContext(logger))
  .use(publishMetrics(metrics));
