// The alert manager in replay: the scenario's Alertmanager deliveries and the agent's own incidents go through
// the same AlertManager the webhook Lambda runs, in time order, so the report counts what would have reached
// a person (`alerts.notified`) against what the conventional setup delivered (`alerts.raw`).

import type { AlertDelivery } from '../adapters/scenario/load-scenario';
import {
  type AgentIncidentUpdate,
  type AlertCounters,
  AlertManager,
  type Notification,
} from '../core/alerting/alert-manager';
import type { AlertingConfig } from '../core/alerting/alerting-config';
import { normaliseAlertmanagerWebhook, WebhookFormatError } from '../core/alerting/webhooks';
import type { ServiceGraph } from '../core/topology';

export interface ReplayAlertsOptions {
  readonly deliveries: readonly AlertDelivery[];
  readonly config: AlertingConfig;
  readonly graph: ServiceGraph;
  readonly changeFreezes?: readonly { readonly start: string; readonly end: string; readonly reason: string }[];
}

export class ReplayAlerts {
  private readonly manager: AlertManager;
  private readonly deliveries: AlertDelivery[];
  private next = 0;
  /** What was last told to the manager about each incident, so only changes are fed. */
  private readonly told = new Map<string, string>();
  readonly notifications: Notification[] = [];
  /** Deliveries the webhook parser refused, with the reason (a real endpoint answers them 400). */
  readonly rejected: { readonly receivedAt: number; readonly problem: string }[] = [];
  raw = 0;

  constructor(private readonly options: ReplayAlertsOptions) {
    this.manager = new AlertManager({
      config: options.config,
      graph: options.graph,
      ...(options.changeFreezes ? { changeFreezes: options.changeFreezes } : {}),
    });
    this.deliveries = [...options.deliveries].sort((a, b) => a.receivedAt - b.receivedAt);
  }

  /** Feeds every delivery received up to `nowMs`, then the agent's incident changes, then lets time pass. */
  advance(nowMs: number, incidents: readonly AgentIncidentUpdate[]): void {
    for (; this.next < this.deliveries.length && this.deliveries[this.next].receivedAt <= nowMs; this.next++) {
      const delivery = this.deliveries[this.next];
      this.raw += delivery.payload.alerts.length;
      let alerts: ReturnType<typeof normaliseAlertmanagerWebhook>;
      try {
        alerts = normaliseAlertmanagerWebhook(delivery.payload, { replicaLabels: this.options.config.replicaLabels });
      } catch (error) {
        if (!(error instanceof WebhookFormatError)) throw error;
        this.rejected.push({ receivedAt: delivery.receivedAt, problem: error.message });
        continue;
      }
      for (const alert of alerts) this.record(this.manager.ingest(alert, delivery.receivedAt));
    }
    for (const update of incidents) {
      const said = JSON.stringify([update.incident.status, update.rootCause?.service, update.tier]);
      if (this.told.get(update.incident.id) === said) continue;
      this.told.set(update.incident.id, said);
      this.record(this.manager.incident(update, nowMs));
    }
    this.notifications.push(...this.manager.tick(nowMs), ...this.manager.checkHeartbeats(nowMs));
  }

  get counters(): AlertCounters {
    return this.manager.counters();
  }

  /** When the manager first told a person about the incident, if it did. */
  firstNotified(incidentId: string): Notification | undefined {
    return this.notifications.find((n) => n.incidents.includes(incidentId));
  }

  private record(decision: ReturnType<AlertManager['ingest']>): void {
    if (decision.action === 'notify') this.notifications.push(decision.notification);
  }
}
