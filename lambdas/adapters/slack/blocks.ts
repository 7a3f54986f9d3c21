// The approval message in Block Kit: what is wrong, the key metric as a sparkline, the diagnosis, the plan, the
// risk and how it adds up, the votes and the seats still empty; Approve / Reject while the decision waits, the
// outcome once it is closed. Kept inside Block Kit's limits whatever the incident holds.

import { redact } from '../../core/action/redact';
import type { IncidentSignal } from '../../core/cognition/incident';
import { type ApprovalView, type Decision, type QuorumState, roleName } from '../../core/decision/approval';
import { type ApproverRole, formatTarget, type Vote } from '../../core/decision/types';
import type { Block, SlackMessage } from './web-api';

/** Block Kit limits for messages and modals. */
export const LIMITS = {
  blocks: 50,
  sectionText: 3000,
  headerText: 150,
  buttonText: 75,
  buttonValue: 2000,
  fallbackText: 4000,
  modalTitle: 24,
} as const;

export const APPROVE_ACTION = 'approve';
export const REJECT_ACTION = 'reject';
/** The reject dialog: its callback id and the input that carries the reason. */
export const REJECT_REASON_CALLBACK = 'reject-reason';
export const REASON_BLOCK = 'reason';
export const REASON_INPUT = 'reason';

const MAX_SIGNALS = 5;
const MAX_EVIDENCE = 6;
const MAX_ACTIONS = 10;
const MAX_FACTORS = 10;
const SPARKLINE_WIDTH = 40;
const BARS = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'] as const;

/**
 * The one door data passes to reach Slack: secrets, addresses, keys and wallets are redacted first, then the
 * three characters Slack treats as markup (`&`, `<`, `>`; mentions and links start with `<`) are escaped.
 */
export const escapeText = (text: string): string =>
  redact(text).text.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

/** Cuts `text` to `max` characters, never inside an escape such as `&amp;`, marking the cut with an ellipsis. */
export function clip(text: string, max: number): string {
  if (text.length <= max) return text;
  // Escaped data holds no '<', so a '<' left open is our own markup (a date): drop it rather than break it.
  return `${text
    .slice(0, max - 1)
    .replace(/&[a-z]*$/, '')
    .replace(/<[^>]*$/, '')}…`;
}

/**
 * The series as unicode bars, scaled between its minimum and maximum; gaps (NaN, null) stay blank. Longer
 * series are bucketed to `width` bars, each showing the point of its bucket farthest from the median, so a
 * spike survives the downsampling.
 */
export function sparkline(points: readonly (number | null)[], width = SPARKLINE_WIDTH): string {
  const finite = points.filter((p): p is number => typeof p === 'number' && Number.isFinite(p));
  if (finite.length === 0) return '';
  const sorted = [...finite].sort((a, b) => a - b);
  const median = sorted[Math.floor(sorted.length / 2)];
  const buckets: (number | undefined)[] = [];
  const size = Math.max(1, Math.ceil(points.length / width));
  for (let start = 0; start < points.length; start += size) {
    let chosen: number | undefined;
    for (const p of points.slice(start, start + size)) {
      if (typeof p !== 'number' || !Number.isFinite(p)) continue;
      if (chosen === undefined || Math.abs(p - median) > Math.abs(chosen - median)) chosen = p;
    }
    buckets.push(chosen);
  }
  const min = sorted[0];
  const span = sorted[sorted.length - 1] - min;
  return buckets
    .map((p) => {
      if (p === undefined) return ' ';
      if (span === 0) return BARS[0];
      return BARS[Math.min(BARS.length - 1, Math.floor(((p - min) / span) * BARS.length))];
    })
    .join('');
}

/** The message for a decision: interactive while pending, a record without buttons once closed. */
export function renderApprovalMessage(view: ApprovalView): SlackMessage {
  const { decision, context } = view;
  const pending = decision.status === 'pending';
  const blocks: Block[] = [header(decision), ...describeIncident(view)];
  blocks.push({ type: 'divider' });
  if (pending) {
    blocks.push(section(votesText(view.votes)));
    blocks.push(contextBlock(stillNeeded(decision, view.quorum)));
    blocks.push(buttons(decision));
  } else {
    blocks.push(section(outcomeText(decision, view.votes, view.quorum)));
    if (view.votes.length > 0) blocks.push(section(votesText(view.votes)));
  }
  const services = context.incident.services.join(', ');
  const actions = context.plan.map((step) => step.action).join(', ');
  const text = pending
    ? `${decision.tier} approval needed for ${context.incident.id} (${services}): ${actions}`
    : `${statusTitle(decision)}: ${decision.tier} plan for ${context.incident.id} (${actions})`;
  return { text: clip(escapeText(text), LIMITS.fallbackText), blocks: blocks.slice(0, LIMITS.blocks) };
}

/** The dialog that asks why someone rejects; it carries the decision id back in `private_metadata`. */
export function renderRejectReasonModal(view: ApprovalView): Block {
  const { decision, context } = view;
  const actions = context.plan.map((step) => `${step.action} ${formatTarget(step.target)}`).join(', ');
  return {
    type: 'modal',
    callback_id: REJECT_REASON_CALLBACK,
    private_metadata: JSON.stringify({ decisionId: decision.decisionId }),
    title: plain(clip(`Reject ${decision.tier} plan`, LIMITS.modalTitle)),
    submit: plain('Reject'),
    close: plain('Cancel'),
    blocks: [
      section(
        `You are rejecting the plan for *${escapeText(context.incident.id)}*: ${escapeText(actions)}. The workflow stops and escalates.`,
      ),
      {
        type: 'input',
        block_id: REASON_BLOCK,
        label: plain('Why?'),
        element: {
          type: 'plain_text_input',
          action_id: REASON_INPUT,
          multiline: true,
          min_length: 3,
          max_length: 500,
        },
      },
    ],
  };
}

// ---------------------------------------------------------------------------------------------------------

const plain = (text: string) => ({ type: 'plain_text', text, emoji: true });
const mrkdwn = (text: string) => ({ type: 'mrkdwn', text: clip(text, LIMITS.sectionText) });
const section = (text: string): Block => ({ type: 'section', text: mrkdwn(text) });
const contextBlock = (text: string): Block => ({ type: 'context', elements: [mrkdwn(text)] });

const TIER_ICON = { MEDIUM: ':large_orange_diamond:', HIGH: ':red_circle:' } as const;

function header(decision: Decision): Block {
  const title =
    decision.status === 'pending'
      ? `${TIER_ICON[decision.tier]} ${decision.tier} approval needed · ${decision.incidentId}`
      : `${statusTitle(decision)} · ${decision.tier} · ${decision.incidentId}`;
  return { type: 'header', text: plain(clip(title, LIMITS.headerText)) };
}

function statusTitle(decision: Decision): string {
  switch (decision.status) {
    case 'approved':
      return ':white_check_mark: Approved';
    case 'rejected':
      return ':x: Rejected';
    case 'timed-out':
      return ':hourglass: Timed out';
    case 'closed':
      return ':lock: Closed';
    case 'failed':
      return ':warning: Workflow failed';
    case 'pending':
      return 'Waiting for votes';
  }
}

function describeIncident(view: ApprovalView): Block[] {
  const { incident, plan, risk, keySeries, diagnosis } = view.context;
  const blocks: Block[] = [];

  const services = incident.services.map((s) => `\`${escapeText(s)}\``).join(', ');
  const signals = [...incident.signals]
    .sort((a, b) => (b.peakScore ?? 0) - (a.peakScore ?? 0))
    .slice(0, MAX_SIGNALS)
    .map(signalLine);
  const more = incident.signals.length > MAX_SIGNALS ? `\n_and ${incident.signals.length - MAX_SIGNALS} more_` : '';
  const kind = incident.kind === 'forecast' ? 'forecast breach' : 'anomaly';
  blocks.push(
    section(
      `*What is wrong*\n${services} (in order of onset), ${kind} since ${slackTime(incident.openedAt)}\n${signals.join('\n')}${more}`,
    ),
  );

  if (keySeries && keySeries.points.length > 0) {
    const values = keySeries.points.filter((p): p is number => typeof p === 'number' && Number.isFinite(p));
    const range =
      values.length > 0
        ? `min ${number(Math.min(...values))} · max ${number(Math.max(...values))} · last ${number(values[values.length - 1])}`
        : 'no values';
    blocks.push(section(`*${escapeText(keySeries.series)}*\n\`${sparkline(keySeries.points)}\`\n${range}`));
  }

  if (diagnosis) {
    const evidence = diagnosis.evidence.slice(0, MAX_EVIDENCE).map((line) => `• ${escapeText(line)}`);
    const summary = diagnosis.summary ? `\n${escapeText(diagnosis.summary)}` : '';
    blocks.push(
      section(
        `*Diagnosis*: root cause *${escapeText(diagnosis.rootCause)}* (confidence ${percent(diagnosis.confidence)})${summary}\n${evidence.join('\n')}`,
      ),
    );
  }

  const steps = plan
    .slice(0, MAX_ACTIONS)
    .map(
      (step, index) =>
        `${index + 1}. *${escapeText(step.action)}* \`${escapeText(formatTarget(step.target))}\` — ${escapeText(step.reason)}`,
    );
  const moreSteps = plan.length > MAX_ACTIONS ? `\n_and ${plan.length - MAX_ACTIONS} more_` : '';
  blocks.push(section(`*Proposed actions*\n${steps.join('\n')}${moreSteps}`));

  const factors = [...risk.factors]
    .sort((a, b) => b.contribution - a.contribution)
    .slice(0, MAX_FACTORS)
    .map(
      (f) =>
        `• ${escapeText(f.name)}: ${number(f.value)} × ${number(f.weight)} = *${number(f.contribution)}* — ${escapeText(f.explanation)}`,
    );
  const overrides = risk.overrides.map((o) => `• _${escapeText(o)}_`);
  const overrideText = overrides.length > 0 ? `\n${overrides.join('\n')}` : '';
  blocks.push(section(`*Risk ${number(risk.score)}* (${risk.tier})\n${factors.join('\n')}${overrideText}`));
  return blocks;
}

function signalLine(signal: IncidentSignal): string {
  const where = `\`${escapeText(signal.signalId)}\` on *${escapeText(signal.entity)}*`;
  if (signal.predictedBreachAt) {
    return `• ${where}: ${number(signal.valueAtPeak)}, expected to cross ${number(signal.limit)} at ${slackTime(signal.predictedBreachAt)}`;
  }
  const z = typeof signal.peakZ === 'number' && Number.isFinite(signal.peakZ) ? `, z ${number(signal.peakZ)}` : '';
  const limit = signal.hardLimitBreached ? ', over its hard limit' : '';
  return `• ${where}: ${number(signal.valueAtPeak)} vs expected ${number(signal.expectedAtPeak)}${z}${limit}`;
}

function votesText(votes: readonly Vote[]): string {
  if (votes.length === 0) return '*Votes*\nNone yet.';
  const lines = [...votes]
    .sort((a, b) => a.at.localeCompare(b.at))
    .map((vote) => {
      const icon = vote.choice === 'approve' ? ':white_check_mark:' : ':x:';
      const verb = vote.choice === 'approve' ? 'approved' : 'rejected';
      const reason = vote.reason ? `: ${escapeText(vote.reason)}` : '';
      return `${icon} *${escapeText(vote.userName)}* (${roleName(vote.role)}) ${verb} ${slackTime(vote.at)}${reason}`;
    });
  return `*Votes*\n${lines.join('\n')}`;
}

function stillNeeded(decision: Decision, quorum: QuorumState): string {
  const seats = (Object.entries(quorum.missing) as [ApproverRole, number][])
    .filter(([, n]) => n > 0)
    .map(([role, n]) => `${n} ${roleName(role)}${n > 1 ? 's' : ''}`);
  const needed = seats.length > 0 ? `Still needed: ${seats.join(' and ')}` : 'Quorum reached';
  return `${needed} · distinct people, one vote each · expires ${slackTime(decision.expiresAt)} · decision \`${escapeText(decision.decisionId)}\``;
}

function outcomeText(decision: Decision, votes: readonly Vote[], quorum: QuorumState): string {
  const at = decision.closedAt ? ` ${slackTime(decision.closedAt)}` : '';
  const people = (list: readonly Vote[]) =>
    list.map((v) => `${escapeText(v.userName)} (${roleName(v.role)})`).join(', ');
  let line: string;
  switch (decision.status) {
    case 'approved':
      line = `*Approved* by ${people(quorum.counted)}${at}.`;
      break;
    case 'rejected': {
      const rejection = quorum.rejection ?? votes.find((v) => v.choice === 'reject');
      const why = decision.closeReason ?? rejection?.reason;
      line = `*Rejected* by ${rejection ? people([rejection]) : 'an approver'}${at}${why ? `: ${escapeText(why)}` : '.'}`;
      break;
    }
    case 'timed-out': {
      const seats = decision.quorum.sre + decision.quorum['tech-lead'];
      line = `*Timed out*${at} with ${quorum.counted.length} of ${seats} approvals; the workflow escalates.`;
      break;
    }
    case 'failed':
      line = `*The workflow failed*${at} before the decision was made${decision.closeReason ? `: ${escapeText(decision.closeReason)}` : '.'}`;
      break;
    default:
      line = `*Closed by the workflow*${at}${decision.closeReason ? `: ${escapeText(decision.closeReason)}` : '.'}`;
  }
  if ((decision.status === 'approved' || decision.status === 'timed-out') && decision.closeReason) {
    line += `\n_${escapeText(decision.closeReason)}_`;
  }
  line += afterwards(decision);
  if (decision.deliveryError) {
    line += `\n:warning: The workflow could not be told (${escapeText(decision.deliveryError)}); it escalates when its wait times out.`;
  }
  return line;
}

/** What the workflow said became of the decision once decided: the outcome of the plan, or its failure. */
function afterwards(decision: Decision): string {
  const note = decision.outcomeNote ? escapeText(decision.outcomeNote) : undefined;
  if (decision.workflowOutcome === 'failed') {
    return `\n:warning: *The workflow failed afterwards*${note ? `: ${note}` : '.'}`;
  }
  return note ? `\n*Outcome*: ${note}` : '';
}

function buttons(decision: Decision): Block {
  const value = clip(decision.decisionId, LIMITS.buttonValue);
  return {
    type: 'actions',
    block_id: `decision:${clip(decision.decisionId, 200)}`,
    elements: [
      {
        type: 'button',
        action_id: APPROVE_ACTION,
        text: plain('Approve'),
        style: 'primary',
        value,
        confirm: {
          title: plain('Approve this plan?'),
          text: plain(`Your approval counts toward the ${decision.tier} quorum and cannot be taken back.`),
          confirm: plain('Approve'),
          deny: plain('Cancel'),
        },
      },
      // No confirm: Reject opens a dialog that asks why.
      { type: 'button', action_id: REJECT_ACTION, text: plain('Reject'), style: 'danger', value },
    ],
  };
}

/** `<!date^...>` shows the time in each reader's own time zone; the fallback is UTC. */
function slackTime(iso: string): string {
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) return escapeText(iso);
  const fallback = new Date(ms).toISOString().slice(11, 16);
  return `<!date^${Math.floor(ms / 1000)}^{time}|${fallback} UTC>`;
}

function number(x: number | null | undefined): string {
  if (typeof x !== 'number' || !Number.isFinite(x)) return 'n/a';
  return Number(x.toPrecision(3)).toString();
}

const percent = (x: number | null): string =>
  typeof x === 'number' && Number.isFinite(x) ? `${Math.round(x * 100)} %` : 'n/a';
