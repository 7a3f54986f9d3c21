// Lambda behind POST /slack/interactions (API Gateway HTTP API or REST proxy): Approve and Reject clicks and the
// reject dialog. The signature is checked before anything is parsed, and a verified request is accepted once:
// a copy replayed inside the five minutes its timestamp stays valid is refused.
//
// Slack gives up after 3 s, so each request has one deadline, ANSWER_WITHIN_MS after API Gateway received it.
// The replay marker, the conditional vote and decision writes and SendTaskSuccess/SendTaskFailure come first
// and are never cut short; the reject dialog (its trigger id dies with the request), the message update, the
// private note and the audit records share what is left, with no retry past it, and what does not fit is
// skipped with a warning: the next vote or the workflow's close refreshes the message.
//
// Answers: 401 when the request is not provably from Slack now (missing, forged or stale signature, or a replay
// of one already received), 400 when a signed request cannot be read, and 200 otherwise, refusals included:
// Slack shows any other status as an error to the person who clicked, so a refused vote is explained to them
// privately instead. Every refusal is recorded and goes to the audit trail.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { z } from 'zod';
import {
  APPROVE_ACTION,
  REASON_BLOCK,
  REASON_INPUT,
  REJECT_ACTION,
  REJECT_REASON_CALLBACK,
} from '../adapters/slack/blocks';
import { headerValue, SIGNATURE_HEADER, TIMESTAMP_HEADER, verifySlackSignature } from '../adapters/slack/signature';
import {
  type ApprovalDeps,
  answerDeadline,
  castVote,
  type Refusal,
  recordRefusedRequest,
  startReject,
  type VoteOutcome,
} from '../core/decision/approval';
import { auditLog } from './incident-runtime';
import { agentMetrics, count, METRIC, publishMetrics } from './metrics';
import { approvalDeps, approvalsConfig, bundledConfig, logger, readSecret } from './runtime';

/** Time from API Gateway's receipt to the answer; Slack shows an error to the person after 3 s. */
export const ANSWER_WITHIN_MS = 2_500;
/** How long past its timestamp's window a request's replay marker is kept. */
const REPLAY_MARGIN_MS = 60_000;
/** Audit records not written, or not confirmed before the answer was due (the votes stand). */

const { config } = bundledConfig();
const approvals = approvalsConfig(config);
const metrics = agentMetrics(config.environment);
const audit = auditLog();
// Each Web API call gets one quick retry at most, never waits out a long Retry-After, and never outlasts the
// request's deadline.
const deps: ApprovalDeps = {
  ...approvalDeps(approvals, { timeoutMs: 1_200, retries: 1, maxRetryAfterMs: 500, backoffStartMs: 100 }),
  audit,
  auditFailed: () => count(metrics, METRIC.AuditAppendFailures, 1),
};

/** The parts of an API Gateway proxy event (HTTP API payload 2.0 or REST) this function reads. */
export interface HttpEvent {
  readonly body?: string | null;
  readonly isBase64Encoded?: boolean;
  readonly headers?: Readonly<Record<string, string | undefined>> | null;
  /** REST proxy. */
  readonly httpMethod?: string;
  readonly path?: string;
  /** HTTP API 2.0. */
  readonly rawPath?: string;
  readonly requestContext?: {
    readonly http?: { readonly sourceIp?: string; readonly method?: string; readonly path?: string };
    readonly identity?: { readonly sourceIp?: string };
    /** When API Gateway received the request, epoch ms: `timeEpoch` (HTTP API), `requestTimeEpoch` (REST). */
    readonly timeEpoch?: number;
    readonly requestTimeEpoch?: number;
  };
}

export interface HttpResult {
  readonly statusCode: number;
  readonly headers?: Record<string, string>;
  readonly body: string;
}

export const handler = middy(async (event: HttpEvent): Promise<HttpResult> => {
  const deadline = answerDeadline(receivedAt(event) + ANSWER_WITHIN_MS);
  try {
    return await answer(event, { ...deps, deadline });
  } finally {
    // Audit records queued for the stream leave before the sandbox freezes, within what is left.
    await audit.flush(Math.max(0, deadline.remainingMs()));
  }
})
  .use(injectLambdaContext(logger))
  .use(publishMetrics(metrics));

async function answer(event: HttpEvent, deps: ApprovalDeps): Promise<HttpResult> {
  const rawBody = Buffer.from(event.body ?? '', event.isBase64Encoded ? 'base64' : 'utf8');
  const timestamp = headerValue(event.headers, TIMESTAMP_HEADER);
  const sourceIp = event.requestContext?.http?.sourceIp ?? event.requestContext?.identity?.sourceIp;
  const method = event.requestContext?.http?.method ?? event.httpMethod;
  const path = event.requestContext?.http?.path ?? event.rawPath ?? event.path;
  // What is known of any request before its signature is checked: never its body.
  const seen = {
    at: new Date().toISOString(),
    ...(sourceIp ? { sourceIp } : {}),
    ...(timestamp ? { requestTimestamp: timestamp.slice(0, 20) } : {}),
    ...(method ? { method: method.slice(0, 10) } : {}),
    ...(path ? { path: path.slice(0, 200) } : {}),
  };

  const secret = (await readSecret(approvals.signingSecretName)).trim();
  const signature = headerValue(event.headers, SIGNATURE_HEADER);
  const verified = verifySlackSignature({ rawBody, timestamp, signature }, secret);
  if (!verified.ok) {
    return refuseRequest({ ...seen, code: verified.error.reason, detail: verified.error.detail, status: 401 }, deps);
  }

  // From here the request is Slack's own: what its payload says may be recorded.
  const interaction = parseInteraction(rawBody);
  // The signature covers timestamp and body, so a second request with the same one is a copy of the first.
  const { fingerprint, acceptedUntil } = verified.value;
  const keepUntil = new Date(acceptedUntil.getTime() + REPLAY_MARGIN_MS);
  if ((await deps.store.claimRequest(fingerprint, keepUntil)) === 'replayed') {
    const about = interaction.ok
      ? {
          decisionId: interaction.value.decisionId,
          userId: interaction.value.userId,
          action: actionOf(interaction.value),
        }
      : {};
    const detail = 'a copy of a request already received (same signature)';
    return refuseRequest({ ...seen, ...about, code: 'replayed-request', detail, status: 401 }, deps);
  }
  if (!interaction.ok) {
    return refuseRequest({ ...seen, code: 'malformed-payload', detail: interaction.detail, status: 400 }, deps);
  }
  const { value } = interaction;
  const who = { decisionId: value.decisionId, userId: value.userId, ...(sourceIp ? { sourceIp } : {}) };

  if (value.kind === 'reason') {
    const outcome = await castVote({ ...who, choice: 'reject', reason: value.reason }, deps);
    report(value.decisionId, outcome);
    // A refused submission keeps the dialog open with the reason under the field; anything else closes it.
    return outcome.kind === 'refused'
      ? json({ response_action: 'errors', errors: { [REASON_BLOCK]: outcome.message } })
      : { statusCode: 200, body: '' };
  }
  const click = {
    ...who,
    ...(value.channelId ? { channelId: value.channelId } : {}),
    ...(value.messageTs ? { messageTs: value.messageTs } : {}),
  };
  const outcome =
    value.action === APPROVE_ACTION
      ? await castVote({ ...click, choice: 'approve' }, deps)
      : await startReject({ ...click, choice: 'reject', triggerId: value.triggerId }, deps);
  report(value.decisionId, outcome);
  return { statusCode: 200, body: '' };
}

/**
 * When API Gateway received the request, the start of Slack's 3 s (never later than now: clocks differ a little);
 * the function's own start stands in when the event carries no receipt time or an implausible one.
 */
function receivedAt(event: HttpEvent): number {
  const now = Date.now();
  const stamped = event.requestContext?.timeEpoch ?? event.requestContext?.requestTimeEpoch;
  return typeof stamped === 'number' && Math.abs(now - stamped) < 30_000 ? Math.min(now, stamped) : now;
}

async function refuseRequest(refusal: Refusal, deps: ApprovalDeps): Promise<HttpResult> {
  logger.warn('Slack interaction refused', { ...refusal });
  count(metrics, METRIC.InteractionsRefused);
  await recordRefusedRequest(refusal, deps);
  return { statusCode: refusal.status, body: '' };
}

const actionOf = (interaction: Interaction): string => (interaction.kind === 'reason' ? 'reject' : interaction.action);

function report(decisionId: string, outcome: VoteOutcome | { readonly kind: 'asked' }): void {
  if (outcome.kind === 'refused') logger.warn('vote refused', { decisionId, code: outcome.code });
  else logger.info('vote handled', { decisionId, outcome: outcome.kind });
  switch (outcome.kind) {
    case 'refused':
      count(metrics, METRIC.VotesRefused);
      return;
    case 'asked':
      // The reject dialog opened: the vote is cast when it is submitted.
      return;
    case 'approved':
    case 'rejected':
      count(metrics, METRIC.VotesRecorded);
      count(metrics, outcome.kind === 'approved' ? METRIC.ApprovalsGranted : METRIC.ApprovalsRejected);
      // Undelivered, the workflow waits out its timeout and escalates although people decided.
      if (!outcome.delivered) count(metrics, METRIC.ApprovalDeliveryFailures);
      return;
    case 'recorded':
    case 'already-decided':
      count(metrics, METRIC.VotesRecorded);
      return;
  }
}

const json = (body: unknown): HttpResult => ({
  statusCode: 200,
  headers: { 'content-type': 'application/json' },
  body: JSON.stringify(body),
});

type Interaction =
  | {
      readonly kind: 'click';
      readonly action: typeof APPROVE_ACTION | typeof REJECT_ACTION;
      readonly decisionId: string;
      readonly userId: string;
      readonly triggerId: string;
      readonly channelId?: string;
      readonly messageTs?: string;
    }
  | { readonly kind: 'reason'; readonly decisionId: string; readonly userId: string; readonly reason: string };

const user = z.object({ id: z.string().min(1) });

const blockActions = z.object({
  type: z.literal('block_actions'),
  user,
  trigger_id: z.string().min(1),
  channel: z.object({ id: z.string() }).optional(),
  container: z.object({ message_ts: z.string().optional(), channel_id: z.string().optional() }).optional(),
  actions: z
    .array(z.object({ action_id: z.enum([APPROVE_ACTION, REJECT_ACTION]), value: z.string().min(1) }))
    .length(1),
});

const viewSubmission = z.object({
  type: z.literal('view_submission'),
  user,
  view: z.object({
    callback_id: z.literal(REJECT_REASON_CALLBACK),
    private_metadata: z.string(),
    state: z.object({
      values: z.object({
        [REASON_BLOCK]: z.object({ [REASON_INPUT]: z.object({ value: z.string().nullable().optional() }) }),
      }),
    }),
  }),
});

const payloadSchema = z.discriminatedUnion('type', [blockActions, viewSubmission]);

/** The `payload` form field of a signed request, read into a click or a dialog submission. */
function parseInteraction(rawBody: Buffer): { ok: true; value: Interaction } | { ok: false; detail: string } {
  const text = new URLSearchParams(rawBody.toString('utf8')).get('payload');
  if (!text) return { ok: false, detail: 'no "payload" form field' };
  let body: unknown;
  try {
    body = JSON.parse(text);
  } catch {
    return { ok: false, detail: 'the payload is not JSON' };
  }
  const parsed = payloadSchema.safeParse(body);
  if (!parsed.success) {
    const issues = parsed.error.issues.slice(0, 3).map((i) => `${i.path.join('.') || '(payload)'}: ${i.message}`);
    return { ok: false, detail: `unexpected payload: ${issues.join('; ')}` };
  }
  const payload = parsed.data;
  if (payload.type === 'view_submission') {
    let decisionId: unknown;
    try {
      decisionId = (JSON.parse(payload.view.private_metadata) as { decisionId?: unknown }).decisionId;
    } catch {
      decisionId = undefined;
    }
    if (typeof decisionId !== 'string' || decisionId === '') {
      return { ok: false, detail: 'the dialog does not name its decision' };
    }
    const reason = payload.view.state.values[REASON_BLOCK][REASON_INPUT].value ?? '';
    return { ok: true, value: { kind: 'reason', decisionId, userId: payload.user.id, reason } };
  }
  const [action] = payload.actions;
  const channelId = payload.container?.channel_id ?? payload.channel?.id;
  const messageTs = payload.container?.message_ts;
  return {
    ok: true,
    value: {
      kind: 'click',
      action: action.action_id,
      decisionId: action.value,
      userId: payload.user.id,
      triggerId: payload.trigger_id,
      ...(channelId ? { channelId } : {}),
      ...(messageTs ? { messageTs } : {}),
    },
  };
}
