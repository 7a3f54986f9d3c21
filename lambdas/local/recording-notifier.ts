// The local Notifier: records what would reach a person instead of posting it, and counts it the way
// the replay report defines `alerts.notified` (new messages, thread replies, pages and tickets count;
// edits of an existing message do not).

import type { CaseNotice, CaseNotifier } from '../core/action/ports';
import type { Incident } from '../core/cognition/incident';
import type { IncidentCase } from '../core/decision/incident-case';

export interface Notification {
  readonly at: string;
  readonly incidentId: string;
  readonly channel: 'chat' | 'page' | 'ticket';
  readonly kind: 'new-message' | 'thread-reply' | 'page' | 'edit';
  readonly text: string;
}

export class RecordingNotifier implements CaseNotifier {
  readonly sent: Notification[] = [];

  incidentResolved(incident: Incident): void {
    this.sent.push({
      at: incident.resolvedAt ?? incident.updatedAt,
      incidentId: incident.id,
      channel: 'chat',
      kind: 'edit',
      text: `Incident ${incident.id} resolved`,
    });
  }

  approvalRequested(incidentId: string, at: string): void {
    this.sent.push({
      at,
      incidentId,
      channel: 'chat',
      kind: 'thread-reply',
      text: `Approval requested for ${incidentId}`,
    });
  }

  approvalClosed(incidentId: string, outcome: string, at: string): void {
    this.sent.push({ at, incidentId, channel: 'chat', kind: 'edit', text: `Approval for ${incidentId}: ${outcome}` });
  }

  async notify(notice: CaseNotice, c: IncidentCase): Promise<void> {
    // A step may fail before the incident was read: the failure notice must still go out.
    const at = (c.incident as IncidentCase['incident'] | undefined)?.updatedAt ?? new Date().toISOString();
    const page =
      notice === 'Page' || notice === 'Escalate' || notice === 'NotifyNoRecovery' || notice === 'NotifyFailure';
    this.sent.push({
      at,
      incidentId: c.incidentId,
      channel: page ? 'page' : 'chat',
      kind: page ? 'page' : 'thread-reply',
      text: `${notice}: ${c.diagnosis?.rootCause.service ?? '?'} (${c.risk?.tier ?? 'no tier'})`,
    });
  }

  /** Notifications that reached a person: new messages, thread replies and pages; edits are not counted. */
  get delivered(): number {
    return this.sent.filter((n) => n.kind !== 'edit').length;
  }
}
