// Lambda: closes a decision for the incident workflow, when its approval wait times out (before it escalates)
// and when it ends. The message loses its buttons and says how the decision ended; nothing is sent to the
// task token (the workflow has stopped waiting on it).

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { type ClosedDecision, type CloseOutcome, closeDecision as closeDecisionWith } from '../core/decision/approval';
import { agentMetrics, count, METRIC, publishMetrics } from './metrics';
import { approvalDeps, approvalsConfig, bundledConfig, logger } from './runtime';

const { config } = bundledConfig();
const deps = approvalDeps(approvalsConfig(config));
const metrics = agentMetrics(config.environment);

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
  count(metrics, METRIC.ApprovalTimeouts, isNewTimeout(outcome, closed) ? 1 : 0);
  return closed;
})
  .use(injectLambdaContext(logger))
  .use(publishMetrics(metrics));

/**
 * The workflow calls this on every approval timeout (state MarkApprovalTimedOut, after Escalate), so this is where a
 * timeout is counted once: a decision already `timed-out` is a retried call, while one a last vote decided just as
 * the wait ran out still counts (the workflow escalated all the same).
 */
export function isNewTimeout(outcome: CloseOutcome, closed: ClosedDecision): boolean {
  return outcome === 'timed-out' && (closed.changed || closed.status !== 'timed-out');
}
