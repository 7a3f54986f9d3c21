// Lambda: the incident workflow's decision steps (Diagnose, PlanRemediation, AssessRisk, CheckGuardrails, Close).

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { auditStep } from '../core/action/audit-steps';
import type { IncidentCase } from '../core/decision/incident-case';
import { type CaseInput, decideStep } from '../core/decision/steps';
import { auditLog, decideDeps } from './incident-runtime';
import { bundledConfig, logger } from './runtime';

const { config, playbooks, runbooks } = bundledConfig();
const deps = decideDeps(config, playbooks, runbooks);
const audit = auditLog();

export const handler = middy(async (event: { step: string; case: CaseInput }): Promise<IncidentCase> => {
  const result = await decideStep(event.step, event.case, deps);
  await auditStep(audit, event.step, result, new Date().toISOString());
  await audit.flush();
  logger.info('incident step done', { step: event.step, incidentId: result.incidentId, tier: result.risk?.tier });
  return result;
}).use(injectLambdaContext(logger));
