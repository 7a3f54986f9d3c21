// Lambda: closes a decision for the incident workflow, when its approval wait times out (before it escalates),
// when it ends and when it fails. The message loses its buttons and says how the decision ended and what became
// of it, and the closing goes to the incident's audit chain; nothing is sent to the task token (the workflow has
// stopped waiting on it).

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import {
  CLOSE_OUTCOMES,
  type ClosedDecision,
  type CloseOutcome,
  closeDecision as closeDecisionWith,
} from '../core/decision/approval';
import { auditLog } from './incident-runtime';
import { agentMetrics, count, METRIC, publishMetrics } from './metrics';
import { approvalDeps, approvalsConfig, bundledConfig, logger } from './runtime';

/** Audit records not written (the closing stands); the name slack-interactions counts them under too. */

const { config } = bundledConfig();
const metrics = agentMetrics(config.environment);
const audit = auditLog();
const deps = {
  ...approvalDeps(approvalsConfig(config)),
  audit,
  // A failed audit append never fails the closing: it is logged (by `warn`) and counted.
  auditFailed: () => count(metrics, METRIC.AuditAppendFailures, 1),
};

/** The close request is not what the function takes. */
export class CloseApprovalInputError extends Error {
  override readonly name = 'CloseApprovalInputError';
}

const inputSchema = z.object({
  decisionId: z.string().min(1),
  outcome: z.enum(CLOSE_OUTCOMES),
  /**
   * Shown on the message, e.g. "escalated to the incident commander", "remediated, recovered in 7 min" or
   * "workflow failed at Remediate: <error>".
   */
  note: z.string().max(500).optional(),
});

/**
 * Marks a pending decision `timed-out`, `closed` or `failed` (a decided one keeps its status and gets the
 * outcome and note beside it) and updates its Slack message.
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
  const closed = await closeDecision(decisionId, outcome, note).finally(() => audit.flush());
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
