// Lambda: the incident workflow's RequestApproval task (lambda:invoke.waitForTaskToken). Stores the decision
// with its task token, posts the approval message and writes the request to the incident's audit chain; the
// workflow then waits until the interactions endpoint or its own timeout answers the token.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import { threadedApprovalMessenger } from '../adapters/notify/threaded-approvals';
import { renderApprovalMessage } from '../adapters/slack/blocks';
import { rankByTopology } from '../core/cognition/rank';
import {
  type ApprovalContext,
  type ApprovalDiagnosis,
  type ApprovalRequest,
  ApprovalRequestError,
  CriticalApprovalError,
  type OpenedDecision,
  openDecision,
} from '../core/decision/approval';
import { isCatalogAction, TIERS } from '../core/decision/types';
import { ServiceGraph } from '../core/topology';
import { slackThreads } from './delivery-runtime';
import { auditLog } from './incident-runtime';
import { agentMetrics, count, METRIC, publishMetrics } from './metrics';
import { approvalDeps, approvalsConfig, bundledConfig, logger } from './runtime';

/** Audit records not written (the request stands); the name slack-interactions counts them under too. */

const { config } = bundledConfig();
const approvals = approvalsConfig(config);
const graph = new ServiceGraph(config.topology);
// With the alert state table (where Slack threads are remembered), the request opens the incident's thread.
const threads = process.env.ALERT_STATE_TABLE ? slackThreads(config) : undefined;
const metrics = agentMetrics(config.environment);
const audit = auditLog();
const baseDeps = {
  ...approvalDeps(approvals),
  audit,
  // A failed audit append never fails the request: it is logged (by `warn`) and counted.
  auditFailed: () => count(metrics, METRIC.AuditAppendFailures, 1),
};
const deps = threads
  ? { ...baseDeps, messenger: threadedApprovalMessenger(baseDeps.messenger, threads, renderApprovalMessage) }
  : baseDeps;

// Numbers may arrive as null: JSON has no NaN, and an incident's gaps are NaN.
const maybeNumber = z.number().nullable().optional();

const signalSchema = z
  .object({
    key: z.string(),
    signalId: z.string(),
    entity: z.string(),
    firstAnomalousAt: z.string(),
    lastRaisedAt: z.string(),
    peakZ: maybeNumber,
    peakScore: z.number(),
    valueAtPeak: maybeNumber,
    expectedAtPeak: maybeNumber,
    hardLimitBreached: z.boolean(),
    predictedBreachAt: z.string().optional(),
    limit: maybeNumber,
  })
  .passthrough();

/** The RequestApproval task's payload, as the workflow sends it. */
const payloadSchema = z.object({
  taskToken: z.string().min(1).max(2048),
  decisionId: z.string().regex(/^[A-Za-z0-9._:#-]{1,200}$/, 'letters, digits and ._:#- only, at most 200'),
  tier: z.enum(TIERS),
  timeoutSeconds: z.number().int().positive().optional(),
  incident: z
    .object({
      id: z.string().min(1),
      kind: z.enum(['anomaly', 'forecast']).default('anomaly'),
      openedAt: z.string(),
      services: z.array(z.string()),
      signals: z.array(signalSchema),
    })
    .passthrough(),
  plan: z.array(
    z
      .object({
        action: z.string().refine(isCatalogAction, 'not an action of the catalog'),
        service: z.string(),
        target: z.object({ namespace: z.string(), kind: z.string(), name: z.string() }).passthrough(),
        params: z.record(z.string(), z.union([z.string(), z.number(), z.boolean()])).default({}),
        reason: z.string(),
      })
      .passthrough(),
  ),
  risk: z
    .object({
      score: z.number(),
      tier: z.enum(TIERS),
      factors: z.array(
        z.object({
          name: z.string(),
          value: z.number(),
          weight: z.number(),
          contribution: z.number(),
          explanation: z.string(),
        }),
      ),
      overrides: z.array(z.string()).default([]),
    })
    .passthrough(),
  keySeries: z.object({ series: z.string(), points: z.array(z.number().nullable()) }).nullish(),
  // The diagnosis step's shape (rootCause as an object) and a plain one (rootCause as text) are both accepted.
  diagnosis: z
    .object({
      rootCause: z.union([
        z.string(),
        z.object({ service: z.string(), kind: z.string().optional(), confidence: z.number().optional() }),
      ]),
      confidence: z.number().optional(),
      evidence: z.array(z.string()).default([]),
      summary: z.string().optional(),
    })
    .passthrough()
    .nullish(),
});

export const handler = middy(async (event: unknown): Promise<OpenedDecision> => {
  const request = parseRequest(event);
  const opened = await openDecision(request, deps, approvals.channel).finally(() => audit.flush());
  logger.info(opened.replaced ? 'approval request retried: new task token' : 'approval requested', {
    decisionId: opened.decisionId,
    tier: request.tier,
    channel: opened.channel,
    messageTs: opened.messageTs,
    expiresAt: opened.expiresAt,
  });
  // A retried invocation takes a new task token for the same decision: one request, counted once.
  count(metrics, METRIC.ApprovalsRequested, opened.replaced ? 0 : 1);
  return opened;
})
  .use(injectLambdaContext(logger))
  .use(publishMetrics(metrics));

function parseRequest(event: unknown): ApprovalRequest {
  const parsed = payloadSchema.safeParse(event);
  if (!parsed.success) {
    const problems = parsed.error.issues.map((issue) => `${issue.path.join('.') || '(payload)'}: ${issue.message}`);
    throw new ApprovalRequestError(`invalid RequestApproval payload: ${problems.slice(0, 5).join('; ')}`);
  }
  const payload = parsed.data;
  if (payload.tier === 'CRITICAL') throw new CriticalApprovalError(`decision ${payload.decisionId}`);
  if (payload.tier === 'LOW') throw new ApprovalRequestError('tier LOW runs without approval');
  const incident = payload.incident as unknown as ApprovalContext['incident'];
  const context: ApprovalContext = {
    incident,
    plan: payload.plan as unknown as ApprovalContext['plan'],
    risk: payload.risk as unknown as ApprovalContext['risk'],
    ...(payload.keySeries ? { keySeries: payload.keySeries } : {}),
    diagnosis: diagnosisOf(payload.diagnosis, incident),
  };
  return {
    taskToken: payload.taskToken,
    decisionId: payload.decisionId,
    tier: payload.tier,
    // The workflow's own TimeoutSeconds is what ends the wait; the configured one stands in when it sends none.
    timeoutSeconds: payload.timeoutSeconds ?? approvals.timeoutMinutes[payload.tier] * 60,
    context,
  };
}

/** The diagnosis as sent, or, without one, the topology ranking's first candidate. */
function diagnosisOf(
  sent: z.infer<typeof payloadSchema>['diagnosis'],
  incident: ApprovalContext['incident'],
): ApprovalDiagnosis | undefined {
  if (sent) {
    const root = sent.rootCause;
    const named = typeof root === 'string' ? root : root.kind ? `${root.service} (${root.kind})` : root.service;
    const confidence = sent.confidence ?? (typeof root === 'string' ? undefined : root.confidence);
    return {
      rootCause: named,
      confidence: confidence ?? Number.NaN,
      evidence: sent.evidence,
      ...(sent.summary ? { summary: sent.summary } : {}),
    };
  }
  const [top] = rankByTopology(incident, graph);
  return top ? { rootCause: top.service, confidence: top.score, evidence: top.evidence } : undefined;
}
