// Lambda: closes a decision for the incident workflow, when its approval wait times out (before it escalates)
// and when it ends. The message loses its buttons and says how the decision ended; nothing is sent to the
// task token (the workflow has stopped waiting on it).

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { type ClosedDecision, type CloseOutcome, closeDecision as closeDecisionWith } from '../core/decision/approval';
import { approvalDeps, approvalsConfig, bundledConfig, logger } from './runtime';

const { config } = bundledConfig();
const deps = approvalDeps(approvalsConfig(config));

/** The close request is not what the function takes. */
export class CloseApprovalInputError extends Error {
  override readonly name = 'CloseApprovalInputError';
}

const inputSchema = z.object({
  decisionId: z.string().min(1),
  outcome: z.enum(['timed-out', 'closed']),
  /** Shown on the message, e.g. "escalated to the incident commander" or "remediation succeeded". */
  note: z.string().max(500).optional(),
});

/**
 * Marks a pending decision `timed-out` or `closed` (a decided one keeps its status and gets the note) and
 * updates its Slack message.
 */
export const closeDecision = (decisionId: string, outcome: CloseOutcome, note?: string): Promise<ClosedDecision> =>
  closeDecisionWith(decisionId, outcome, deps, note);

export const handler = middy(async (event: unknown): Promise<ClosedDecision> => {
  const parsed = inputSchema.safeParse(event);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(input)'}: ${issue.message}`);
    throw new CloseApprovalInputError(`invalid close request: ${problems.join('; ')}`);
  }
  const { decisionId, outcome, note } = parsed.data;
  const closed = await closeDecision(decisionId, outcome, note);
  logger.info('decision closed', { ...closed, outcome });
  return closed;
}).use(injectLambdaContext(logger));
