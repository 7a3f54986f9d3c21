// The local Notifier: records what would reach a person instead of posting it, and counts it the way
// the replay report defines `alerts.notified` (new messages and pages count, edits do not).

import type { Incident } from '../core/cognition/incident';

export interface Notification {
  readonly at: string;
  readonly incidentId: string;
  readonly channel: 'chat' | 'page' | 'ticket';
  readonly kind: 'new-message' | 'edit';
  readonly text: string;
}

export class RecordingNotifier {
  readonly sent: Notification[] = [];

  incidentOpened(incident: Incident): void {
    this.sent.push({
      at: incident.openedAt,
      incidentId: incident.id,
      channel: 'chat',
      kind: 'new-message',
      text: `Incident ${incident.id} opened: ${incident.services.join(', ')}`,
    });
  }

  incidentResolved(incident: Incident): void {
    this.sent.push({
      at: incident.resolvedAt ?? incident.updatedAt,
      incidentId: incident.id,
      channel: 'chat',
      kind: 'edit',
      text: `Incident ${incident.id} resolved`,
    });
  }

  /** Notifications that reached a person: new messages, pages and tickets; edits are not counted. */
  get delivered(): number {
    return this.sent.filter((n) => n.kind === 'new-message').length;
  }
}
