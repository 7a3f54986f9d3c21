// Lambda: the incident workflow's notices (outcome, diagnosis-only report, page, rejection, escalation,
// failure). Each is logged and appended to the incident's audit chain; chat and paging adapters plug in here.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { auditStep } from '../core/action/audit-steps';
import type { IncidentCase } from '../core/decision/incident-case';
import { auditLog } from './incident-runtime';
import { logger } from './runtime';

const audit = auditLog();

export const handler = middy(async (event: { step: string; case: IncidentCase }): Promise<IncidentCase> => {
  const c = event.case;
  logger.warn('incident notice', {
    notice: event.step,
    incidentId: c.incidentId,
    tier: c.risk?.tier,
    rootCause: c.diagnosis?.rootCause,
    refused: c.guardrails?.refused,
    failure: c.failure,
  });
  await auditStep(audit, event.step, c, new Date().toISOString());
  await audit.flush();
  return c;
}).use(injectLambdaContext(logger));
