// Human approval of MEDIUM and HIGH plans: the decision record, the quorum rules, who may vote, and the flows
// that open, vote on and close a decision. The rules are pure; the flows reach storage, the workflow and the
// chat channel only through the ports declared here.

import type { Incident } from '../cognition/incident';
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
export type DecisionStatus = 'pending' | 'approved' | 'rejected' | 'timed-out' | 'closed';
export type FinalStatus = Exclude<DecisionStatus, 'pending'>;
/** What the workflow may close a decision with: its own timeout, or its end while the decision still waits. */
export type CloseOutcome = 'timed-out' | 'closed';

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

/** A request that was turned away, kept for the audit (never with secrets, tokens or raw bodies). */
export interface Refusal {
  readonly at: string;
  /** A VoteRefusalCode, 'duplicate-vote', 'unknown-decision', 'wrong-message', or a transport reason. */
  readonly code: string;
  readonly detail: string;
  /** HTTP status answered. */
  readonly status: number;
  readonly decisionId?: string;
  readonly userId?: string;
  readonly action?: string;
  readonly sourceIp?: string;
  readonly requestTimestamp?: string;
}

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
  /** Adds a note to a decision whatever its status. */
  annotate(
    decisionId: string,
    notes: { readonly closeReason?: string; readonly deliveryError?: string },
  ): Promise<void>;
  recordRefusal(refusal: Refusal): Promise<void>;
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

/** The chat side: the approval message, a private word to one person, and the dialog asking why they reject. */
export interface ApprovalMessenger {
  post(channel: string, view: ApprovalView): Promise<{ readonly channel: string; readonly ts: string }>;
  update(channel: string, ts: string, view: ApprovalView): Promise<void>;
  tell(channel: string, userId: string, text: string): Promise<void>;
  askRejectReason(triggerId: string, view: ApprovalView): Promise<void>;
}

export interface ApprovalDeps {
  readonly store: ApprovalStore;
  readonly workflow: ApprovalWorkflow;
  readonly messenger: ApprovalMessenger;
  readonly approvers: readonly Approver[];
  readonly clock?: () => Date;
  /** Problems that do not fail the request (a message that could not be updated), for the logger. */
  readonly warn?: (message: string, details: Record<string, unknown>) => void;
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

/**
 * Opens a decision: stores it with its task token, then posts the approval message and remembers where. A
 * retried invocation (same id, still pending) keeps the message and the votes and takes the new task token.
 */
export async function openDecision(
  request: ApprovalRequest,
  deps: Pick<ApprovalDeps, 'store' | 'messenger' | 'clock'>,
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
  if (previous?.channel && previous.messageTs) {
    await deps.messenger.update(previous.channel, previous.messageTs, view);
    return { ...where(decision, previous.channel, previous.messageTs), replaced: true };
  }
  const posted = await deps.messenger.post(channel, view);
  await deps.store.attachMessage(decision.decisionId, posted.channel, posted.ts);
  return { ...where(decision, posted.channel, posted.ts), replaced: previous !== undefined };
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
 * once. Every refusal is recorded and told to the person privately.
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
    await showQuietly(deps, { decision, context: stored.context, votes, quorum });
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
    await showQuietly(deps, { decision: current, context: stored.context, votes, quorum });
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
  await showQuietly(deps, { decision: final, context: stored.context, votes, quorum });
  return outcome;
}

/**
 * The first half of a reject: checks the person may reject, then opens the dialog that asks why (the reject
 * itself is cast when the dialog is submitted). If the dialog cannot be opened the reject is cast at once with
 * a note: a veto must never depend on a dialog.
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
  try {
    await deps.messenger.askRejectReason(request.triggerId, view);
    return { kind: 'asked' };
  } catch (error) {
    deps.warn?.('the reject dialog could not be opened; rejecting without a reason', {
      decisionId: request.decisionId,
      error: describeError(error),
    });
    const reason = `no reason given (the dialog could not be opened: ${describeError(error)})`;
    return castVote({ ...request, reason }, deps);
  }
}

export interface ClosedDecision {
  readonly decisionId: string;
  readonly status: DecisionStatus;
  /** False when the decision was already decided (the workflow's timeout raced a last vote). */
  readonly changed: boolean;
}

/**
 * Called by the workflow: on its timeout ('timed-out') or at its end ('closed'). A pending decision takes the
 * outcome; a decided one keeps its status (the note, if any, is added). The message loses its buttons.
 */
export async function closeDecision(
  decisionId: string,
  outcome: CloseOutcome,
  deps: Pick<ApprovalDeps, 'store' | 'messenger' | 'clock' | 'warn'>,
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
  if (!changed && note) await deps.store.annotate(decisionId, { closeReason: note });
  const current = (await deps.store.getDecision(decisionId)) ?? stored;
  const votes = await deps.store.listVotes(decisionId);
  await showQuietly(deps, {
    decision: current.decision,
    context: current.context,
    votes,
    quorum: evaluateQuorum(current.decision.tier, votes),
  });
  return { decisionId, status: current.decision.status, changed };
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

async function refuse(
  request: VoteRequest,
  deps: ApprovalDeps,
  stored: StoredDecision | undefined,
  now: Date,
  code: string,
  message: string,
): Promise<Extract<VoteOutcome, { kind: 'refused' }>> {
  await deps.store.recordRefusal({
    at: now.toISOString(),
    code,
    detail: message,
    status: 200,
    decisionId: request.decisionId,
    userId: request.userId,
    action: request.choice,
    ...(request.sourceIp ? { sourceIp: request.sourceIp } : {}),
  });
  const channel = stored?.decision.channel ?? request.channelId;
  if (channel) {
    try {
      await deps.messenger.tell(channel, request.userId, message);
    } catch (error) {
      deps.warn?.('could not tell the voter why the vote was refused', { code, error: describeError(error) });
    }
  }
  return { kind: 'refused', code, message };
}

/** Message updates are best effort: the decision and the workflow are what count, the message follows them. */
async function showQuietly(deps: Pick<ApprovalDeps, 'messenger' | 'warn'>, view: ApprovalView): Promise<void> {
  const { channel, messageTs } = view.decision;
  if (!channel || !messageTs) return;
  try {
    await deps.messenger.update(channel, messageTs, view);
  } catch (error) {
    deps.warn?.('the approval message could not be updated', {
      decisionId: view.decision.decisionId,
      error: describeError(error),
    });
  }
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
