// How an incident's workflow ended, in one line for people: the note the workflow closes the approval message
// with, e.g. "remediated: rollback on trading/deployment/order-api succeeded, recovered 3 min after the change".

import { redact } from '../action/redact';
import { type IncidentCase, outcomeOf } from './incident-case';

/** The longest note the close-approval function takes. */
export const MAX_OUTCOME_NOTE_CHARS = 500;

export function outcomeNote(c: IncidentCase): string {
  const outcome = c.outcome ?? outcomeOf(c);
  const actions = (c.execution ?? []).map((e) => `${e.action} on ${e.target}`).join(', ') || 'nothing';
  let note: string;
  switch (outcome) {
    case 'remediated': {
      const dryRun = (c.execution ?? []).every((e) => e.dryRun) ? ' (dry run)' : '';
      const v = c.verification;
      const after =
        v?.recoveredAt === undefined
          ? ''
          : `, recovered ${minutesBetween(v.startedAt, v.recoveredAt)} min after the change`;
      note = `remediated: ${actions} succeeded${dryRun}${after}`;
      break;
    }
    case 'remediation-failed': {
      const failed = (c.execution ?? [])
        .filter((e) => e.result !== 'succeeded')
        .map((e) => `${e.action} on ${e.target} ${e.result}: ${e.detail}`);
      note = `remediation failed: ${failed.join('; ') || actions}; on-call paged`;
      break;
    }
    case 'not-recovered': {
      const undone = (c.undo ?? []).map((u) => `${u.action} on ${u.target}: ${u.result}`);
      const within = c.recovery ? ` within ${c.recovery.waitMinutes} min of the change` : '';
      const change =
        undone.length > 0 ? `the change was undone (${undone.join(', ')})` : `nothing to undo (${actions})`;
      note = `not recovered${within}: ${change}; on-call paged`;
      break;
    }
    case 'rejected': {
      const cause = parseCause(c.rejection?.Cause);
      const by = cause.by ? ` by ${cause.by}${cause.role ? ` (${cause.role})` : ''}` : '';
      note = `rejected${by}${cause.reason ? `: ${cause.reason}` : ''}; nothing executed`;
      break;
    }
    case 'approval-timed-out': {
      const within = c.approvalTimeoutSeconds ? ` within ${duration(c.approvalTimeoutSeconds)}` : ' in time';
      note = `no approval${within}: escalated to the on-call engineer; nothing executed`;
      break;
    }
    case 'workflow-failed': {
      // The ASL names the state that failed, when it can follow an approval (`failure.State`).
      const state = (c.failure as { readonly State?: string } | undefined)?.State;
      note = `the workflow failed${state ? ` at ${state}` : ''}: ${c.failure?.Error ?? 'unknown error'}`;
      break;
    }
    default:
      note = 'diagnosis only: nothing executed';
  }
  const text = redact(note).text;
  return text.length > MAX_OUTCOME_NOTE_CHARS ? `${text.slice(0, MAX_OUTCOME_NOTE_CHARS - 1)}…` : text;
}

const minutesBetween = (from: string, to: string): number =>
  Math.max(0, Math.round((Date.parse(to) - Date.parse(from)) / 60_000));

const duration = (seconds: number): string => (seconds < 60 ? `${seconds} s` : `${Math.round(seconds / 60)} min`);

/** The rejection's cause as the approval flow writes it (JSON: by, role, reason), or nothing if it is not that. */
function parseCause(cause: string | undefined): { by?: string; role?: string; reason?: string } {
  try {
    const parsed = JSON.parse(cause ?? '') as Record<string, unknown>;
    const text = (key: string) => (typeof parsed[key] === 'string' ? (parsed[key] as string) : undefined);
    return { by: text('by'), role: text('role'), reason: text('reason') };
  } catch {
    return {};
  }
}
