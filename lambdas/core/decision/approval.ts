// Human approval of MEDIUM and HIGH plans: the decision record, the quorum rules, who may vote, and the flows
// that open, vote on and close a decision and write each step, vote and refusal to the audit trail. The rules
// are pure; the flows reach storage, the workflow, the chat channel and the audit trail only through ports.

import type { AuditEntry } from '../action/audit';
import { redact } from '../action/redact';
import type { Incident } from '../cognition/incident';
import type { AuditLog } from '../ports';
import { fail, ok, type Result } from '../result';
import {
  ACTION_CATALOG,
  type ApproverRole,
  type PlannedAction,
  QUORUM,
  type RiskAssessment,
  TIERS,
  type Tier,
  type Vote,
} from './types';

export type ApprovalTier = 'MEDIUM' | 'HIGH';
export type DecisionStatus = 'pending' | 'approved' | 'rejected' | 'timed-out' | 'closed' | 'failed';
export type FinalStatus = Exclude<DecisionStatus, 'pending'>;
/**
 * What the workflow closes a decision with: its own timeout ('timed-out'), its end ('closed'), or its failure
 * ('failed'). A pending decision takes it as its status; a decided one keeps its status and shows the note.
 */
export const CLOSE_OUTCOMES = ['timed-out', 'closed', 'failed'] as const;
export type CloseOutcome = (typeof CLOSE_OUTCOMES)[number];

export interface Decision {
  readonly decisionId: string;
  readonly incidentId: string;
  readonly tier: ApprovalTier;
  /** Distinct approvers needed per role, from QUORUM at the time the decision opened. */
  readonly quorum: Readonly<Record<ApproverRole, number>>;
  readonly status: DecisionStatus;
  /** The Step Functions task token the workflow waits on. A capability: never logged or shown. */
  readonly taskToken: string;
  /** Channel id and message ts of the approval message, once posted. */
  readonly channel?: string;
  readonly messageTs?: string;
  /** ISO times. */
  readonly createdAt: string;
  readonly expiresAt: string;
  readonly closedAt?: string;
  /** Slack user id whose vote decided, or 'workflow'. */
  readonly closedBy?: string;
  /** The rejection reason, or the workflow's note when it closed the decision. */
  readonly closeReason?: string;
  /**
   * What became of a decision after it was decided, as the workflow said when it ended: how it ended
   * (`workflowOutcome`) and its note, e.g. "remediated, recovered in 7 min" or "workflow failed at Remediate".
   * Kept apart from `closeReason` so a rejection's reason is never overwritten.
   */
  readonly workflowOutcome?: CloseOutcome;
  readonly outcomeNote?: string;
  /** Set when the workflow could not be told the outcome (it then times out and escalates on its own). */
  readonly deliveryError?: string;
}

/** What the diagnosis says, shown to approvers. */
export interface ApprovalDiagnosis {
  readonly rootCause: string;
  /** 0..1. */
  readonly confidence: number;
  readonly evidence: readonly string[];
  readonly summary?: string;
}

export interface KeySeries {
  readonly series: string;
  /** Oldest first; null marks a gap (JSON has no NaN). */
  readonly points: readonly (number | null)[];
}

/** Everything the approval message shows besides the decision itself. */
export interface ApprovalContext {
  readonly incident: Incident;
  readonly plan: readonly PlannedAction[];
  readonly risk: RiskAssessment;
  readonly keySeries?: KeySeries;
  readonly diagnosis?: ApprovalDiagnosis;
}

export interface Approver {
  readonly slackUserId: string;
  readonly name: string;
  readonly role: ApproverRole;
}

/** A person clicking a button: their Slack user id and, when the configuration lists them, who they are. */
export interface Voter {
  readonly userId: string;
  readonly approver?: Approver;
}

export const voterOf = (userId: string, approvers: readonly Approver[]): Voter => ({
  userId,
  approver: approvers.find((a) => a.slackUserId === userId),
});

// ---------------------------------------------------------------------------------------------------------
// Rules

/** Asked to approve a CRITICAL plan: those are diagnosis only, never executed, so never put to a vote. */
export class CriticalApprovalError extends Error {
  override readonly name = 'CriticalApprovalError';
  constructor(what: string) {
    super(`${what}: CRITICAL plans are diagnosis only and never go to approval`);
  }
}

export function quorumOf(tier: Tier): Readonly<Record<ApproverRole, number>> {
  if (tier === 'CRITICAL') throw new CriticalApprovalError('quorum of tier CRITICAL');
  if (!TIERS.includes(tier)) throw new Error(`unknown tier "${tier}"`);
  return QUORUM[tier];
}

/**
 * Whether an approval from `role` fills a seat of `tier`. Roles never stand in for each other: an approval
 * counts only toward its own role's seats. So a tech lead's approval does not count as an SRE's, not for HIGH
 * (2 SREs + 1 lead: the lead is a third person) and not for MEDIUM either: MEDIUM asks for the on-call SRE,
 * who carries the pager and the runbook for the change; a tech lead who should approve MEDIUM plans is listed
 * as an SRE in the configuration.
 */
export const countsToward = (tier: Tier, role: ApproverRole): boolean => quorumOf(tier)[role] > 0;

export interface QuorumState {
  readonly outcome: 'pending' | 'approved' | 'rejected';
  /** Approvals that fill a seat, one per person, in the order they came. */
  readonly counted: readonly Vote[];
  /** Seats still empty per role (zero once approved). */
  readonly missing: Readonly<Record<ApproverRole, number>>;
  /** The reject that ended the decision. */
  readonly rejection?: Vote;
}

const byTime = (a: Vote, b: Vote): number => a.at.localeCompare(b.at) || a.userId.localeCompare(b.userId);

/**
 * Where the votes leave the decision, taken in the order they were cast: one vote per person (a later vote
 * of the same person is ignored), an approval counts only toward its own role's seats, the first reject ends
 * the decision as rejected, and the decision is approved as soon as every seat is filled.
 */
export function evaluateQuorum(tier: Tier, votes: readonly Vote[]): QuorumState {
  const quorum = quorumOf(tier);
  const filled: Record<ApproverRole, number> = { sre: 0, 'tech-lead': 0 };
  const missing = (): Record<ApproverRole, number> => ({
    sre: Math.max(0, quorum.sre - filled.sre),
    'tech-lead': Math.max(0, quorum['tech-lead'] - filled['tech-lead']),
  });
  const complete = () => filled.sre >= quorum.sre && filled['tech-lead'] >= quorum['tech-lead'];
  const counted: Vote[] = [];
  if (complete()) return { outcome: 'approved', counted, missing: missing() };
  const seen = new Set<string>();
  for (const vote of [...votes].sort(byTime)) {
    if (seen.has(vote.userId)) continue;
    seen.add(vote.userId);
    if (vote.choice === 'reject') return { outcome: 'rejected', counted, missing: missing(), rejection: vote };
    if (filled[vote.role] >= quorum[vote.role]) continue; // not needed, or that role's seats are taken
    filled[vote.role]++;
    counted.push(vote);
    if (complete()) return { outcome: 'approved', counted, missing: missing() };
  }
  return { outcome: 'pending', counted, missing: missing() };
}

export type VoteRefusalCode = 'unknown-user' | 'role-not-needed' | 'decision-closed' | 'decision-expired';

export interface VoteRefusal {
  readonly code: VoteRefusalCode;
  /** Shown to the person who clicked. */
  readonly message: string;
}

const ROLE_NAMES: Record<ApproverRole, string> = { sre: 'SRE', 'tech-lead': 'tech lead' };
export const roleName = (role: ApproverRole): string => ROLE_NAMES[role];

export const describeStatus = (status: DecisionStatus): string =>
  ({
    pending: 'waiting for votes',
    approved: 'approved',
    rejected: 'rejected',
    'timed-out': 'timed out',
    closed: 'closed by the workflow',
    failed: 'closed: the workflow failed',
  })[status];

/**
 * Whether `voter` may vote `choice` on `decision` at `now`. Only people the configuration lists may vote;
 * an approval needs a role with seats in the decision's tier; a reject (a veto: it stops a change, the
 * workflow escalates) may come from any listed approver. Nothing is accepted once the decision is closed or
 * past its expiry.
 */
export function validateVote(
  decision: Decision,
  voter: Voter,
  now: Date,
  choice: Vote['choice'] = 'approve',
): Result<Approver, VoteRefusal> {
  const approver = voter.approver;
  if (!approver) {
    return fail({
      code: 'unknown-user',
      message: 'You are not on the list of approvers, so your vote was not counted.',
    });
  }
  if (choice === 'approve' && !countsToward(decision.tier, approver.role)) {
    const needed = (Object.keys(decision.quorum) as ApproverRole[]).filter((role) => decision.quorum[role] > 0);
    return fail({
      code: 'role-not-needed',
      message: `A ${decision.tier} approval needs ${needed.map(roleName).join(' and ')} approvals; as ${roleName(approver.role)} your approval does not count (you may still reject).`,
    });
  }
  if (decision.status !== 'pending') {
    return fail({ code: 'decision-closed', message: `This decision is already ${describeStatus(decision.status)}.` });
  }
  if (now.getTime() >= Date.parse(decision.expiresAt)) {
    return fail({
      code: 'decision-expired',
      message: `This decision expired at ${decision.expiresAt}; the workflow escalates it.`,
    });
  }
  return ok(approver);
}

/** An approval request the plan does not fit: a step riskier than the tier asked for, or an unknown action. */
export class ApprovalRequestError extends Error {
  override readonly name = 'ApprovalRequestError';
}

const TIER_ORDER: Record<Tier, number> = { LOW: 0, MEDIUM: 1, HIGH: 2, CRITICAL: 3 };

/**
 * Refuses approval requests that would under-approve: a CRITICAL tier or risk, or a planned action whose
 * fixed risk class is above the tier the approval was asked for (a db-failover put to a one-person vote).
 */
export function checkApprovalRequest(tier: Tier, plan: readonly PlannedAction[], risk: RiskAssessment): void {
  if (tier === 'CRITICAL' || risk.tier === 'CRITICAL') throw new CriticalApprovalError(`approval of a ${tier} plan`);
  if (tier !== 'MEDIUM' && tier !== 'HIGH') {
    throw new ApprovalRequestError(`tier ${tier} needs no approval; only MEDIUM and HIGH plans are put to a vote`);
  }
  if (plan.length === 0) throw new ApprovalRequestError('the plan has no action to approve');
  for (const step of plan) {
    const entry = (ACTION_CATALOG as Record<string, { riskClass: Tier } | undefined>)[step.action];
    if (!entry) throw new ApprovalRequestError(`"${step.action}" is not in the action catalog`);
    if (TIER_ORDER[entry.riskClass] > TIER_ORDER[tier]) {
      throw new ApprovalRequestError(
        `${step.action} is a ${entry.riskClass} action and cannot be approved at tier ${tier}`,
      );
    }
  }
}

// ---------------------------------------------------------------------------------------------------------
// Ports

export type CreateOutcome =
  /** A new decision. */
  | { readonly kind: 'created' }
  /** The same decision asked again while pending (a retried invocation): new token, same message and votes. */
  | { readonly kind: 'replaced'; readonly previous: Decision }
  /** A decision with this id exists and may not be replaced: closed, or for another incident or tier. */
  | { readonly kind: 'conflict'; readonly existing: Decision };

export interface StoredDecision {
  readonly decision: Decision;
  readonly context: ApprovalContext;
}

/**
 * A request that was turned away, kept for the audit (never with secrets, tokens or raw bodies). Fields read
 * from the payload (decision, user, action) are only ever set for requests whose signature verified.
 */
export interface Refusal {
  readonly at: string;
  /**
   * A VoteRefusalCode, 'duplicate-vote', 'unknown-decision', 'wrong-message', or a transport reason: a
   * SignatureFailureReason, 'replayed-request' or 'malformed-payload'.
   */
  readonly code: string;
  readonly detail: string;
  /** HTTP status answered. */
  readonly status: number;
  readonly decisionId?: string;
  readonly userId?: string;
  readonly action?: string;
  readonly sourceIp?: string;
  /** The request's X-Slack-Request-Timestamp header, as sent (cut short). */
  readonly requestTimestamp?: string;
  /** The HTTP method and path the request came in on. */
  readonly method?: string;
  readonly path?: string;
}

/** The fields of a decision that may be written after it is decided. */
export type DecisionNotes = Partial<
  Pick<Decision, 'closeReason' | 'deliveryError' | 'workflowOutcome' | 'outcomeNote'>
>;

export interface ApprovalStore {
  /** Stores a pending decision unless one with the same id exists that may not be replaced. */
  createDecision(decision: Decision, context: ApprovalContext): Promise<CreateOutcome>;
  getDecision(decisionId: string): Promise<StoredDecision | undefined>;
  attachMessage(decisionId: string, channel: string, messageTs: string): Promise<void>;
  /** One vote per person and decision: a second one is not written ('duplicate'). */
  recordVote(vote: Vote): Promise<'recorded' | 'duplicate'>;
  listVotes(decisionId: string): Promise<Vote[]>;
  /** Moves a pending decision to `status`; 'conflict' when it is no longer pending (someone else did). */
  finish(
    decisionId: string,
    status: FinalStatus,
    details: { readonly at: string; readonly by: string; readonly reason?: string },
  ): Promise<'finished' | 'conflict'>;
  /** Adds notes to a decision whatever its status. */
  annotate(decisionId: string, notes: DecisionNotes): Promise<void>;
  recordRefusal(refusal: Refusal): Promise<void>;
  /**
   * Remembers a verified request by its fingerprint (a hash of its signature) until `keepUntil`, past the window
   * in which its timestamp is accepted: 'first' the first time, 'replayed' for every later copy.
   */
  claimRequest(fingerprint: string, keepUntil: Date): Promise<'first' | 'replayed'>;
}

/** The Step Functions task the workflow waits on. */
export interface ApprovalWorkflow {
  approve(taskToken: string, output: ApprovedOutput): Promise<void>;
  reject(taskToken: string, cause: RejectedCause): Promise<void>;
}

/** Output of the RequestApproval task when the quorum is met. */
export interface ApprovedOutput {
  readonly approved: true;
  readonly votes: readonly Vote[];
}

/** Cause (as JSON) of the ApprovalRejected failure: who (by name, with their Slack id and role) and why. */
export interface RejectedCause {
  readonly by: string;
  readonly userId: string;
  readonly role: ApproverRole;
  readonly reason: string;
}

/** The error name the workflow's Catch matches on a reject. */
export const APPROVAL_REJECTED = 'ApprovalRejected';

/** What the approval message shows at one moment. */
export interface ApprovalView {
  readonly decision: Decision;
  readonly context: ApprovalContext;
  readonly votes: readonly Vote[];
  readonly quorum: QuorumState;
}

/** How long one chat call made while someone waits for the answer may take, retries included. */
export interface ChatCallLimits {
  readonly timeoutMs: number;
}

/**
 * The chat side: the approval message, a private word to one person, and the dialog asking why they reject.
 * With `limits` a call gives up (no retry) once they are spent; without, the messenger's own timeouts apply.
 */
export interface ApprovalMessenger {
  post(channel: string, view: ApprovalView): Promise<{ readonly channel: string; readonly ts: string }>;
  update(channel: string, ts: string, view: ApprovalView, limits?: ChatCallLimits): Promise<void>;
  tell(channel: string, userId: string, text: string, limits?: ChatCallLimits): Promise<void>;
  askRejectReason(triggerId: string, view: ApprovalView, limits?: ChatCallLimits): Promise<void>;
}

/** The time left before a waiting request must be answered. */
export interface AnswerDeadline {
  remainingMs(): number;
}

/** A deadline at `atMs` (epoch milliseconds) on the wall clock. */
export const answerDeadline = (atMs: number, now: () => number = Date.now): AnswerDeadline => ({
  remainingMs: () => atMs - now(),
});

/** An audit record that was not written, or not confirmed before the answer was due: the vote stands. */
export interface AuditFailure {
  readonly chain: string;
  readonly summary: string;
  readonly reason: string;
}

export interface ApprovalDeps {
  readonly store: ApprovalStore;
  readonly workflow: ApprovalWorkflow;
  readonly messenger: ApprovalMessenger;
  readonly approvers: readonly Approver[];
  readonly clock?: () => Date;
  /** Problems that do not fail the request (a message that could not be updated), for the logger. */
  readonly warn?: (message: string, details: Record<string, unknown>) => void;
  /**
   * The audit trail: a decision's request, votes, refusals and closing go to its incident's chain; refusals
   * that name no known decision go to the day's chain of Slack interactions (`interactionsChain`).
   */
  readonly audit?: AuditLog;
  /** Told of every audit append that failed or was not confirmed in time, after `warn`, to be counted. */
  readonly auditFailed?: (failure: AuditFailure) => void;
  /**
   * Set while someone waits for the answer (Slack gives up after 3 s). The conditional writes and the workflow
   * come first and are never cut short; chat calls and audit appends share what is left, and whatever does
   * not fit is skipped with a warning (the message is refreshed by the next vote or by the workflow's close).
   */
  readonly deadline?: AnswerDeadline;
}

// ---------------------------------------------------------------------------------------------------------
// Flows

/** The RequestApproval task's payload (the task token included). */
export interface ApprovalRequest {
  readonly taskToken: string;
  readonly decisionId: string;
  readonly tier: ApprovalTier;
  readonly timeoutSeconds: number;
  readonly context: ApprovalContext;
}

/** A decision id that is already closed, or belongs to another incident or tier, was asked for again. */
export class DecisionConflictError extends Error {
  override readonly name = 'DecisionConflictError';
}

/** The decision named does not exist. */
export class UnknownDecisionError extends Error {
  override readonly name = 'UnknownDecisionError';
}

export interface OpenedDecision {
  readonly decisionId: string;
  readonly channel: string;
  readonly messageTs: string;
  readonly expiresAt: string;
  /** True when a retried request replaced the task token of a decision already stored. */
  readonly replaced: boolean;
}

/** The audit trail's chain for refused requests that name no known decision, one per day (UTC). */
export const interactionsChain = (at: string): string => `slack-interactions-${at.slice(0, 10)}`;

/** How long a chat call needs at least to be worth starting. */
const MIN_CHAT_CALL_MS = 100;
/** How long past its limits a chat call is waited for before it is given up on (a messenger that ignores them). */
const CHAT_GRACE_MS = 50;
/**
 * What the reject dialog leaves of the deadline: should it fail to open, the reject is cast at once, and the
 * vote write, the decision's conditional write and SendTaskFailure must still fit before Slack gives up.
 */
export const REJECT_FALLBACK_RESERVE_MS = 600;

/**
 * Opens a decision: stores it with its task token, then posts the approval message and remembers where, and
 * writes the request to the incident's audit chain. A retried invocation (same id, still pending) keeps the
 * message and the votes and takes the new task token.
 */
export async function openDecision(
  request: ApprovalRequest,
  deps: Pick<ApprovalDeps, 'store' | 'messenger' | 'clock' | 'audit' | 'auditFailed' | 'warn'>,
  channel: string,
): Promise<OpenedDecision> {
  const { context } = request;
  checkApprovalRequest(request.tier, context.plan, context.risk);
  const now = (deps.clock ?? (() => new Date()))();
  const decision: Decision = {
    decisionId: request.decisionId,
    incidentId: context.incident.id,
    tier: request.tier,
    quorum: quorumOf(request.tier),
    status: 'pending',
    taskToken: request.taskToken,
    createdAt: now.toISOString(),
    expiresAt: new Date(now.getTime() + request.timeoutSeconds * 1000).toISOString(),
  };
  const created = await deps.store.createDecision(decision, context);
  if (created.kind === 'conflict') {
    const existing = created.existing;
    throw new DecisionConflictError(
      `decision ${decision.decisionId} already exists (${existing.tier} for ${existing.incidentId}, ${existing.status})`,
    );
  }
  const previous = created.kind === 'replaced' ? created.previous : undefined;
  const votes = previous ? await deps.store.listVotes(decision.decisionId) : [];
  const view: ApprovalView = { decision, context, votes, quorum: evaluateQuorum(decision.tier, votes) };
  let opened: OpenedDecision;
  if (previous?.channel && previous.messageTs) {
    await deps.messenger.update(previous.channel, previous.messageTs, view);
    opened = { ...where(decision, previous.channel, previous.messageTs), replaced: true };
  } else {
    const posted = await deps.messenger.post(channel, view);
    await deps.store.attachMessage(decision.decisionId, posted.channel, posted.ts);
    opened = { ...where(decision, posted.channel, posted.ts), replaced: previous !== undefined };
  }
  await auditQuietly(deps, decision.incidentId, requestedEntry(decision, request.timeoutSeconds, opened));
  return opened;
}

const where = (decision: Decision, channel: string, messageTs: string) => ({
  decisionId: decision.decisionId,
  channel,
  messageTs,
  expiresAt: decision.expiresAt,
});

/** A click or a dialog submission, once the transport has proven it came from Slack. */
export interface VoteRequest {
  readonly decisionId: string;
  readonly userId: string;
  readonly choice: Vote['choice'];
  readonly reason?: string;
  /** Where the click happened; checked against the decision's message when both are known. */
  readonly channelId?: string;
  readonly messageTs?: string;
  readonly sourceIp?: string;
}

export type VoteOutcome =
  | { readonly kind: 'recorded'; readonly quorum: QuorumState }
  | { readonly kind: 'approved'; readonly votes: readonly Vote[]; readonly delivered: boolean }
  | { readonly kind: 'rejected'; readonly cause: RejectedCause; readonly delivered: boolean }
  /** Someone else's request decided first; this vote is recorded but changes nothing. */
  | { readonly kind: 'already-decided'; readonly status: DecisionStatus }
  | { readonly kind: 'refused'; readonly code: string; readonly message: string };

const MAX_REASON_CHARS = 500;

/**
 * Records a vote and, when it completes the quorum or rejects, moves the decision out of `pending` with a
 * conditional write; only the request that wins that write tells the workflow, so the workflow hears exactly
 * once. Those writes and the workflow come first; the vote's audit record and the message update follow, within
 * the deadline when there is one. Every refusal is recorded, audited and told to the person privately.
 */
export async function castVote(request: VoteRequest, deps: ApprovalDeps): Promise<VoteOutcome> {
  const checked = await admitVote(request, deps);
  if (!checked.ok) return checked.error;
  const { stored, approver, now } = checked.value;
  const { decision } = stored;
  const reason = request.choice === 'reject' ? cleanReason(request.reason) : undefined;
  const vote: Vote = {
    decisionId: decision.decisionId,
    userId: approver.slackUserId,
    userName: approver.name,
    role: approver.role,
    choice: request.choice,
    ...(reason ? { reason } : {}),
    at: now.toISOString(),
  };
  if ((await deps.store.recordVote(vote)) === 'duplicate') {
    return refuse(request, deps, stored, now, 'duplicate-vote', 'You have already voted on this decision.');
  }
  const votes = await deps.store.listVotes(decision.decisionId);
  const quorum = evaluateQuorum(decision.tier, votes);
  if (quorum.outcome === 'pending') {
    await followVote(deps, { decision, context: stored.context, votes, quorum }, vote, {
      outcome: 'pending',
      missing: quorum.missing,
    });
    return { kind: 'recorded', quorum };
  }

  const deciding = quorum.outcome === 'approved' ? quorum.counted[quorum.counted.length - 1] : quorum.rejection!;
  const finalStatus: FinalStatus = quorum.outcome;
  const won = await deps.store.finish(decision.decisionId, finalStatus, {
    at: now.toISOString(),
    by: deciding.userId,
    ...(quorum.rejection?.reason ? { reason: quorum.rejection.reason } : {}),
  });
  if (won === 'conflict') {
    const current = (await deps.store.getDecision(decision.decisionId))?.decision ?? decision;
    await followVote(deps, { decision: current, context: stored.context, votes, quorum }, vote, {
      outcome: 'already-decided',
      status: current.status,
    });
    return { kind: 'already-decided', status: current.status };
  }

  let deliveryError: string | undefined;
  let outcome: VoteOutcome;
  if (quorum.outcome === 'approved') {
    deliveryError = await deliver(() =>
      deps.workflow.approve(decision.taskToken, { approved: true, votes: quorum.counted }),
    );
    outcome = { kind: 'approved', votes: quorum.counted, delivered: !deliveryError };
  } else {
    const rejection = quorum.rejection!;
    const cause: RejectedCause = {
      by: rejection.userName,
      userId: rejection.userId,
      role: rejection.role,
      reason: rejection.reason ?? 'no reason given',
    };
    deliveryError = await deliver(() => deps.workflow.reject(decision.taskToken, cause));
    outcome = { kind: 'rejected', cause, delivered: !deliveryError };
  }
  if (deliveryError) {
    deps.warn?.('the workflow could not be told the outcome', { decisionId: decision.decisionId, deliveryError });
    await deps.store.annotate(decision.decisionId, { deliveryError });
  }
  const final: Decision = {
    ...decision,
    status: finalStatus,
    closedAt: now.toISOString(),
    closedBy: deciding.userId,
    ...(quorum.rejection?.reason ? { closeReason: quorum.rejection.reason } : {}),
    ...(deliveryError ? { deliveryError } : {}),
  };
  await followVote(deps, { decision: final, context: stored.context, votes, quorum }, vote, {
    outcome: finalStatus,
    decidedBy: deciding.userId,
    delivered: !deliveryError,
    ...(deliveryError ? { deliveryError } : {}),
  });
  return outcome;
}

/**
 * The first half of a reject: checks the person may reject, then opens the dialog that asks why (the reject
 * itself is cast when the dialog is submitted). If the dialog cannot be opened, or there is no time left to
 * open it, the reject is cast at once with a note: a veto must never depend on a dialog.
 */
export async function startReject(
  request: VoteRequest & { readonly triggerId: string },
  deps: ApprovalDeps,
): Promise<VoteOutcome | { readonly kind: 'asked' }> {
  const checked = await admitVote(request, deps);
  if (!checked.ok) return checked.error;
  const { stored, now } = checked.value;
  const votes = await deps.store.listVotes(stored.decision.decisionId);
  if (votes.some((vote) => vote.userId === request.userId)) {
    return refuse(request, deps, stored, now, 'duplicate-vote', 'You have already voted on this decision.');
  }
  const view: ApprovalView = {
    decision: stored.decision,
    context: stored.context,
    votes,
    quorum: evaluateQuorum(stored.decision.tier, votes),
  };
  const asked = await chatWithin(deps, REJECT_FALLBACK_RESERVE_MS, (limits) =>
    deps.messenger.askRejectReason(request.triggerId, view, limits),
  );
  if (asked.ok) return { kind: 'asked' };
  deps.warn?.('the reject dialog could not be opened; rejecting without a reason', {
    decisionId: request.decisionId,
    error: asked.reason,
  });
  return castVote({ ...request, reason: `no reason given (the dialog could not be opened: ${asked.reason})` }, deps);
}

export interface ClosedDecision {
  readonly decisionId: string;
  readonly status: DecisionStatus;
  /** False when the decision was already decided (the workflow's timeout raced a last vote). */
  readonly changed: boolean;
}

/**
 * Called by the workflow: on its timeout ('timed-out'), at its end ('closed') or when it failed ('failed'). A
 * pending decision takes the outcome as its status and the note as its reason; a decided one keeps its status
 * and records the outcome and note beside it, so an approved plan's message ends with what became of it. The
 * message loses its buttons, and the closing goes to the incident's audit chain.
 */
export async function closeDecision(
  decisionId: string,
  outcome: CloseOutcome,
  deps: Pick<ApprovalDeps, 'store' | 'messenger' | 'clock' | 'warn' | 'audit' | 'auditFailed'>,
  note?: string,
): Promise<ClosedDecision> {
  const now = (deps.clock ?? (() => new Date()))();
  const stored = await deps.store.getDecision(decisionId);
  if (!stored) throw new UnknownDecisionError(`no decision ${decisionId}`);
  let changed = false;
  if (stored.decision.status === 'pending') {
    const finished = await deps.store.finish(decisionId, outcome, {
      at: now.toISOString(),
      by: 'workflow',
      ...(note ? { reason: note } : {}),
    });
    changed = finished === 'finished';
  }
  if (!changed) {
    await deps.store.annotate(decisionId, { workflowOutcome: outcome, ...(note ? { outcomeNote: note } : {}) });
  }
  const current = (await deps.store.getDecision(decisionId)) ?? stored;
  const votes = await deps.store.listVotes(decisionId);
  await showQuietly(deps, {
    decision: current.decision,
    context: current.context,
    votes,
    quorum: evaluateQuorum(current.decision.tier, votes),
  });
  await auditQuietly(deps, current.decision.incidentId, closedEntry(current.decision, outcome, changed, now, note));
  return { decisionId, status: current.decision.status, changed };
}

/**
 * Records a request turned away before any vote was considered (a forged, stale, replayed or unreadable one):
 * in the store, and in the audit trail, in the incident's chain when the (verified) request names a decision
 * that exists, otherwise in the day's chain of Slack interactions.
 */
export async function recordRefusedRequest(
  refusal: Refusal,
  deps: Pick<ApprovalDeps, 'store' | 'approvers' | 'warn' | 'audit' | 'auditFailed' | 'deadline'>,
): Promise<void> {
  await deps.store.recordRefusal(refusal);
  if (!deps.audit) return;
  const known = refusal.decisionId ? (await deps.store.getDecision(refusal.decisionId))?.decision : undefined;
  const chain = known ? known.incidentId : interactionsChain(refusal.at);
  await auditQuietly(deps, chain, refusalEntry(refusal, deps.approvers));
}

// ---------------------------------------------------------------------------------------------------------
// Helpers

type Admission = { stored: StoredDecision; approver: Approver; now: Date };

async function admitVote(
  request: VoteRequest,
  deps: ApprovalDeps,
): Promise<Result<Admission, Extract<VoteOutcome, { kind: 'refused' }>>> {
  const now = (deps.clock ?? (() => new Date()))();
  const stored = await deps.store.getDecision(request.decisionId);
  if (!stored) {
    return fail(await refuse(request, deps, undefined, now, 'unknown-decision', 'This decision no longer exists.'));
  }
  const { decision } = stored;
  const elsewhere =
    (request.channelId && decision.channel && request.channelId !== decision.channel) ||
    (request.messageTs && decision.messageTs && request.messageTs !== decision.messageTs);
  if (elsewhere) {
    return fail(
      await refuse(request, deps, stored, now, 'wrong-message', 'Votes count only on the approval message itself.'),
    );
  }
  const valid = validateVote(decision, voterOf(request.userId, deps.approvers), now, request.choice);
  if (!valid.ok) return fail(await refuse(request, deps, stored, now, valid.error.code, valid.error.message));
  return ok({ stored, approver: valid.value, now });
}

/** Records a refused vote, then audits it and tells the person why, side by side. */
async function refuse(
  request: VoteRequest,
  deps: ApprovalDeps,
  stored: StoredDecision | undefined,
  now: Date,
  code: string,
  message: string,
): Promise<Extract<VoteOutcome, { kind: 'refused' }>> {
  const refusal: Refusal = {
    at: now.toISOString(),
    code,
    detail: message,
    status: 200,
    decisionId: request.decisionId,
    userId: request.userId,
    action: request.choice,
    ...(request.sourceIp ? { sourceIp: request.sourceIp } : {}),
  };
  await deps.store.recordRefusal(refusal);
  const chain = stored ? stored.decision.incidentId : interactionsChain(refusal.at);
  const channel = stored?.decision.channel ?? request.channelId;
  await Promise.all([
    auditQuietly(deps, chain, refusalEntry(refusal, deps.approvers)),
    channel ? tellQuietly(deps, channel, request.userId, code, message) : undefined,
  ]);
  return { kind: 'refused', code, message };
}

async function tellQuietly(
  deps: ApprovalDeps,
  channel: string,
  userId: string,
  code: string,
  message: string,
): Promise<void> {
  const told = await chatWithin(deps, 0, (limits) => deps.messenger.tell(channel, userId, message, limits));
  if (!told.ok) deps.warn?.('could not tell the voter why the vote was refused', { code, error: told.reason });
}

type VoteEffect =
  | { readonly outcome: 'pending'; readonly missing: QuorumState['missing'] }
  | { readonly outcome: 'already-decided'; readonly status: DecisionStatus }
  | {
      readonly outcome: FinalStatus;
      readonly decidedBy: string;
      readonly delivered: boolean;
      readonly deliveryError?: string;
    };

/** After the writes that count: the vote's audit record and the message update, side by side. */
async function followVote(deps: ApprovalDeps, view: ApprovalView, vote: Vote, effect: VoteEffect): Promise<void> {
  await Promise.all([auditQuietly(deps, view.decision.incidentId, voteEntry(vote, effect)), showQuietly(deps, view)]);
}

/**
 * Message updates are best effort: the decision and the workflow are what count, the message follows them. One
 * that fails or does not fit before the answer is due is skipped; the next vote or the workflow's close
 * refreshes the message.
 */
async function showQuietly(
  deps: Pick<ApprovalDeps, 'messenger' | 'warn' | 'deadline'>,
  view: ApprovalView,
): Promise<void> {
  const { channel, messageTs } = view.decision;
  if (!channel || !messageTs) return;
  const shown = await chatWithin(deps, 0, (limits) => deps.messenger.update(channel, messageTs, view, limits));
  if (!shown.ok) {
    deps.warn?.('the approval message was not updated', { decisionId: view.decision.decisionId, error: shown.reason });
  }
}

type ChatResult = { readonly ok: true } | { readonly ok: false; readonly reason: string };

/**
 * Runs a chat call, never throwing. With a deadline the call gets what is left of it less `reserveMs` as its
 * limits, is not started when that is too short, and is not waited for past it.
 */
async function chatWithin(
  deps: Pick<ApprovalDeps, 'deadline'>,
  reserveMs: number,
  call: (limits?: ChatCallLimits) => Promise<void>,
): Promise<ChatResult> {
  const timeoutMs = deps.deadline ? Math.floor(deps.deadline.remainingMs() - reserveMs) : undefined;
  if (timeoutMs !== undefined && timeoutMs < MIN_CHAT_CALL_MS) {
    return { ok: false, reason: 'skipped: no time left before the answer was due' };
  }
  const done = Promise.resolve()
    .then(() => call(timeoutMs === undefined ? undefined : { timeoutMs }))
    .then(
      (): ChatResult => ({ ok: true }),
      (error: unknown): ChatResult => ({ ok: false, reason: describeError(error) }),
    );
  if (timeoutMs === undefined) return done;
  return (
    (await settleWithin(done, timeoutMs + CHAT_GRACE_MS)) ?? { ok: false, reason: `no answer within ${timeoutMs} ms` }
  );
}

type AuditDeps = Pick<ApprovalDeps, 'audit' | 'auditFailed' | 'warn' | 'deadline'>;

/**
 * Appends to the audit trail without ever failing the request: a failed append is logged and reported, and
 * with a deadline the answer does not wait past it (an append still running then is reported as unconfirmed).
 */
async function auditQuietly(deps: AuditDeps, chain: string, entry: AuditEntry): Promise<void> {
  const { audit } = deps;
  if (!audit) return;
  let reported = false;
  const failed = (reason: string) => {
    if (reported) return;
    reported = true;
    const failure: AuditFailure = { chain, summary: entry.summary, reason };
    deps.warn?.('an audit record was not written; the decision stands', { ...failure });
    deps.auditFailed?.(failure);
  };
  const written = Promise.resolve()
    .then(() => audit.append(chain, entry))
    .then(
      () => true,
      (error: unknown) => {
        failed(describeError(error));
        return true;
      },
    );
  if (!deps.deadline) {
    await written;
    return;
  }
  if ((await settleWithin(written, deps.deadline.remainingMs())) === undefined) {
    failed('not confirmed before the answer was due (it may still be written)');
  }
}

/** What `work` settles to within `ms`, or undefined; the timer never keeps the process alive. */
async function settleWithin<T>(work: Promise<T>, ms: number): Promise<T | undefined> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<undefined>((resolve) => {
    timer = setTimeout(() => resolve(undefined), Math.max(0, ms));
    timer.unref?.();
  });
  try {
    return await Promise.race([work, late]);
  } finally {
    clearTimeout(timer);
  }
}

const seatsText = (seats: Readonly<Record<ApproverRole, number>>): string =>
  (Object.entries(seats) as [ApproverRole, number][])
    .filter(([, n]) => n > 0)
    .map(([role, n]) => `${n} ${roleName(role)}${n > 1 ? 's' : ''}`)
    .join(' and ') || 'none';

function requestedEntry(decision: Decision, timeoutSeconds: number, opened: OpenedDecision): AuditEntry {
  const asked = opened.replaced ? 'asked again (retried request, new task token)' : 'requested';
  return {
    actor: `workflow:${decision.tier === 'HIGH' ? 'RequestQuorumApproval' : 'RequestApproval'}`,
    kind: 'step',
    at: decision.createdAt,
    summary: `approval ${asked}: ${decision.tier}, quorum ${seatsText(decision.quorum)}, waits ${Math.round(timeoutSeconds / 60)} min, message ${opened.messageTs}`,
    detail: {
      decisionId: decision.decisionId,
      tier: decision.tier,
      quorum: decision.quorum,
      timeoutSeconds,
      expiresAt: decision.expiresAt,
      channel: opened.channel,
      messageTs: opened.messageTs,
      replaced: opened.replaced,
    },
  };
}

function voteEntry(vote: Vote, effect: VoteEffect): AuditEntry {
  const reason = vote.reason ? redact(vote.reason).text : undefined;
  let result: string;
  switch (effect.outcome) {
    case 'pending':
      result = `recorded, still needed: ${seatsText(effect.missing)}`;
      break;
    case 'already-decided':
      result = `recorded after the decision was already ${describeStatus(effect.status)}`;
      break;
    default:
      result = `decision ${effect.outcome}, ${effect.delivered ? 'workflow told' : `the workflow could not be told (${effect.deliveryError})`}`;
  }
  return {
    actor: `slack:${vote.userId} (${vote.userName})`,
    kind: 'vote',
    at: vote.at,
    summary: `${vote.choice} by ${vote.userName} (${roleName(vote.role)}) on ${vote.decisionId}: ${result}`,
    detail: {
      decisionId: vote.decisionId,
      userId: vote.userId,
      userName: vote.userName,
      role: vote.role,
      choice: vote.choice,
      ...(reason ? { reason } : {}),
      ...effect,
    },
  };
}

/**
 * A refusal as the audit keeps it. A 200 is a vote refused to a verified person (acting as `slack:<user>`);
 * anything else was refused at the door, and the only actor known is where it came from.
 */
function refusalEntry(refusal: Refusal, approvers: readonly Approver[]): AuditEntry {
  const approver = refusal.userId ? approvers.find((a) => a.slackUserId === refusal.userId) : undefined;
  const voter = refusal.status === 200 && refusal.userId;
  const actor = voter
    ? `slack:${refusal.userId}${approver ? ` (${approver.name})` : ''}`
    : `http:${refusal.sourceIp ?? 'unknown source'}`;
  const what = voter
    ? `${refusal.action ?? 'vote'} by ${approver?.name ?? refusal.userId}${refusal.decisionId ? ` on ${refusal.decisionId}` : ''}`
    : `${refusal.method ?? 'request'} ${refusal.path ?? ''}`.trim();
  return {
    actor,
    kind: 'refusal',
    at: refusal.at,
    summary: `refused ${what}: ${refusal.code} (HTTP ${refusal.status})`,
    detail: { ...refusal, ...(approver ? { userName: approver.name, role: approver.role } : {}) },
  };
}

function closedEntry(
  decision: Decision,
  outcome: CloseOutcome,
  changed: boolean,
  now: Date,
  note?: string,
): AuditEntry {
  const cleanNote = note ? redact(note).text : undefined;
  const summary = changed
    ? `approval closed by the workflow: ${outcome}`
    : `approval already ${describeStatus(decision.status)}; the workflow ended ${outcome}`;
  return {
    actor: 'workflow:close-approval',
    kind: 'step',
    at: now.toISOString(),
    summary: cleanNote ? `${summary}: ${cleanNote}` : summary,
    detail: {
      decisionId: decision.decisionId,
      outcome,
      status: decision.status,
      changed,
      ...(cleanNote ? { note: cleanNote } : {}),
      ...(decision.closedBy ? { closedBy: decision.closedBy } : {}),
      ...(decision.closedAt ? { closedAt: decision.closedAt } : {}),
    },
  };
}

async function deliver(send: () => Promise<void>): Promise<string | undefined> {
  try {
    await send();
    return undefined;
  } catch (error) {
    return describeError(error);
  }
}

function cleanReason(reason: string | undefined): string | undefined {
  const text = reason?.replace(/\s+/g, ' ').trim();
  if (!text) return undefined;
  return text.length > MAX_REASON_CHARS ? `${text.slice(0, MAX_REASON_CHARS - 1)}…` : text;
}

const describeError = (error: unknown): string =>
  error instanceof Error ? `${error.name}: ${error.message}` : String(error);
