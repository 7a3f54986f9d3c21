// Delivers the alert manager's notifications: Slack (the group's first message starts a thread in the route's
// channel, the rest reply in it), PagerDuty (trigger and resolve, dedup_key = group id) and Jira (one ticket per
// group, each notification a comment). Channels run side by side so one's outage never holds up another; the
// notifications of one group go in order, since a reply needs its thread and a resolve its trigger.

import type { Notification, NotificationKind } from '../../core/alerting/alert-manager';
import type { Incident } from '../../core/cognition/incident';
import type { IntegrationsConfig, JiraIntegration, PagerDutyIntegration } from '../../core/config/integrations-schema';
import type { IncidentCase } from '../../core/decision/incident-case';
import { JiraCloud } from '../jira/jira-cloud';
import { PagerDutyEvents, type PagerDutyEventsOptions } from '../pagerduty/events-v2';
import { clip, escapeText, LIMITS } from '../slack/blocks';
import type { SlackMessage } from '../slack/web-api';
import type { SlackThreads } from './slack-threads';

export type DeliveryChannel = 'slack' | 'pagerduty' | 'ticket';
/** `skipped`: the notification asks for a channel this deployment has no client for (not configured). */
export type DeliveryStatus = 'delivered' | 'failed' | 'skipped';

export interface ChannelDelivery {
  readonly channel: DeliveryChannel;
  readonly status: DeliveryStatus;
  readonly detail: string;
  readonly durationMs: number;
}

export interface NotificationDelivery {
  readonly notification: string;
  readonly groupId: string;
  readonly kind: NotificationKind;
  readonly channels: readonly ChannelDelivery[];
  /** No channel delivered it: nobody heard of it. */
  readonly undelivered: boolean;
}

export interface DeliveryReport {
  readonly notifications: readonly NotificationDelivery[];
  /** Channel deliveries that went out (a Slack post or reply, a PagerDuty event, a ticket comment). */
  readonly delivered: number;
  readonly failed: number;
  readonly skipped: number;
  /** Notifications no channel delivered. */
  readonly undelivered: number;
}

export interface AlertDeliveryDeps {
  /** Slack, through the bot of the approvals app; absent when no bot token is configured. */
  readonly slack?: SlackThreads;
  readonly pagerDuty?: PagerDutyEvents;
  readonly jira?: JiraCloud;
  /**
   * How long one batch may take, all channels and groups together; what has not answered by then is reported as
   * failed, so the function answers well inside its own timeout. @default 10000
   */
  readonly deadlineMs?: number;
  readonly now?: () => number;
}

type Outcome = { readonly status: DeliveryStatus; readonly detail: string };

const KIND_ICON: Readonly<Record<NotificationKind, string>> = {
  open: ':rotating_light:',
  escalation: ':arrow_double_up:',
  'root-cause': ':mag:',
  resolve: ':white_check_mark:',
};

/** The notification as a Slack message: the title and detail, then the facts that locate it. */
export function notificationMessage(n: Notification): SlackMessage {
  const title = escapeText(n.title);
  const detail = n.detail ? `\n${escapeText(n.detail)}` : '';
  const facts = [
    ...(n.rootService ? [`presumed root cause \`${escapeText(n.rootService)}\``] : []),
    ...(n.services.length > 0 ? [`services ${n.services.map((s) => `\`${escapeText(s)}\``).join(', ')}`] : []),
    `${n.alerts.length} alert(s)${n.incidents.length > 0 ? `, incident(s) ${n.incidents.map(escapeText).join(', ')}` : ''}`,
    `group \`${escapeText(n.groupId)}\``,
  ];
  return {
    text: clip(title, LIMITS.fallbackText),
    blocks: [
      {
        type: 'section',
        text: { type: 'mrkdwn', text: clip(`${KIND_ICON[n.kind]} *${title}*${detail}`, LIMITS.sectionText) },
      },
      { type: 'context', elements: [{ type: 'mrkdwn', text: clip(facts.join(' · '), LIMITS.sectionText) }] },
    ],
  };
}

/**
 * The group in the shape the PagerDuty and Jira adapters key on: the group id stands where an incident id would,
 * which makes it the PagerDuty dedup_key and the Jira label, so every notification of a group reaches the same
 * page and the same ticket, and a retried one finds what the first attempt made.
 */
export function groupCase(n: Notification): IncidentCase {
  const at = new Date(n.at).toISOString();
  const incident: Incident = {
    id: n.groupId,
    status: n.kind === 'resolve' ? 'resolved' : 'open',
    kind: 'anomaly',
    openedAt: at,
    updatedAt: at,
    lastAnomalyAt: at,
    services: n.rootService ? [n.rootService, ...n.services.filter((s) => s !== n.rootService)] : [...n.services],
    signals: [],
    version: 0,
  };
  return { incidentId: n.groupId, incident };
}

/** A notification as a ticket comment: plain text, one line per fact. */
function ticketText(n: Notification): string {
  return [
    `${n.title} (${n.kind}, notification ${n.id})`,
    n.detail,
    n.services.length > 0 ? `Services: ${n.services.join(', ')}` : '',
    n.alerts.length > 0 ? `Alerts: ${n.alerts.join(', ')}` : '',
    n.incidents.length > 0 ? `Agent incidents: ${n.incidents.join(', ')}` : '',
    `At ${new Date(n.at).toISOString()}`,
  ]
    .filter((line) => line !== '')
    .join('\n');
}

const describe = (error: unknown): string => (error instanceof Error ? error.message : String(error));

export class AlertDelivery {
  private readonly deadlineMs: number;
  private readonly now: () => number;

  constructor(private readonly deps: AlertDeliveryDeps) {
    this.deadlineMs = deps.deadlineMs ?? 10_000;
    this.now = deps.now ?? Date.now;
  }

  /** Delivers a batch in decision order within each group, the groups side by side; never throws. */
  async deliver(notifications: readonly Notification[]): Promise<DeliveryReport> {
    const deadline = this.now() + this.deadlineMs;
    const byGroup = new Map<string, Notification[]>();
    for (const n of notifications) byGroup.set(n.groupId, [...(byGroup.get(n.groupId) ?? []), n]);
    const delivered = new Map<string, NotificationDelivery>();
    await Promise.all(
      [...byGroup.values()].map(async (group) => {
        for (const n of group) delivered.set(n.id, await this.deliverOne(n, deadline));
      }),
    );
    const results = notifications.map((n) => delivered.get(n.id)!);
    const channels = results.flatMap((r) => r.channels);
    const counted = (status: DeliveryStatus) => channels.filter((c) => c.status === status).length;
    return {
      notifications: results,
      delivered: counted('delivered'),
      failed: counted('failed'),
      skipped: counted('skipped'),
      undelivered: results.filter((r) => r.undelivered).length,
    };
  }

  private async deliverOne(n: Notification, deadline: number): Promise<NotificationDelivery> {
    const { pagerduty, ticket } = n.delivery;
    const channels = await Promise.all([
      this.run('slack', deadline, () => this.slack(n)),
      ...(pagerduty ? [this.run('pagerduty', deadline, () => this.page(n, pagerduty))] : []),
      ...(ticket ? [this.run('ticket', deadline, () => this.ticket(n))] : []),
    ]);
    return {
      notification: n.id,
      groupId: n.groupId,
      kind: n.kind,
      channels,
      undelivered: !channels.some((c) => c.status === 'delivered'),
    };
  }

  private async slack(n: Notification): Promise<Outcome> {
    const threads = this.deps.slack;
    if (!threads) return { status: 'skipped', detail: 'no Slack bot token is configured (approvals)' };
    const { channel, mode } = n.delivery.slack;
    const message = notificationMessage(n);
    if (mode === 'post') {
      const posted = await threads.start(n.groupId, channel, message, n.id);
      return delivered(`posted ${posted.message.channel}/${posted.message.ts}`, posted.unremembered);
    }
    // A severity rise is news for the whole channel, not only for those following the thread.
    const replied = await threads.reply(n.groupId, channel, message, n.id, { broadcast: n.kind === 'escalation' });
    return replied.started
      ? delivered(`no thread of ${n.groupId} in ${channel}; started ${replied.message.ts}`, replied.unremembered)
      : delivered(`replied in ${replied.thread.channel}/${replied.thread.ts}`);
  }

  private async page(n: Notification, page: NonNullable<Notification['delivery']['pagerduty']>): Promise<Outcome> {
    const pagerDuty = this.deps.pagerDuty;
    if (!pagerDuty) {
      return {
        status: 'skipped',
        detail: `the route pages PagerDuty service ${page.service}, but integrations.pagerduty is not configured`,
      };
    }
    const result =
      page.action === 'trigger'
        ? await pagerDuty.trigger(groupCase(n), {
            severity: n.severity,
            summary: n.title,
            notes: [n.detail, `PagerDuty service of the route: ${page.service}`, `notification ${n.id} (${n.kind})`],
          })
        : await pagerDuty.resolve(n.groupId);
    return result.ok
      ? delivered(`${result.action} ${result.dedupKey} accepted after ${result.attempts} attempt(s)`)
      : {
          status: 'failed',
          detail: `${result.action} ${result.dedupKey}: ${result.failure.code} - ${result.failure.detail}`,
        };
  }

  private async ticket(n: Notification): Promise<Outcome> {
    const jira = this.deps.jira;
    if (!jira)
      return { status: 'skipped', detail: 'the route files a ticket, but integrations.jira is not configured' };
    // Create or update alike: the ticket is found by the group's label first, so a notification whose create was
    // lost, or one delivered twice, never files a second ticket.
    const ensured = await jira.ensureIssue(groupCase(n));
    if (!ensured.ok) return { status: 'failed', detail: `ticket: ${ensured.failure.code} - ${ensured.failure.detail}` };
    const key = ensured.issue.key;
    const commented = await jira.comment(n.groupId, ticketText(n));
    if (!commented.ok) {
      return { status: 'failed', detail: `${key} comment: ${commented.failure.code} - ${commented.failure.detail}` };
    }
    return delivered(`${ensured.outcome === 'existing' ? 'found' : 'filed'} ${key}, commented`);
  }

  private async run(
    channel: DeliveryChannel,
    deadline: number,
    work: () => Promise<Outcome>,
  ): Promise<ChannelDelivery> {
    const started = this.now();
    const budget = deadline - started;
    if (budget <= 0) {
      return { channel, status: 'failed', detail: 'not sent: the delivery deadline had passed', durationMs: 0 };
    }
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<Outcome>((resolve) => {
      timer = setTimeout(
        () => resolve({ status: 'failed', detail: `no answer within the ${this.deadlineMs} ms delivery deadline` }),
        budget,
      );
    });
    let outcome: Outcome;
    try {
      outcome = await Promise.race([work(), late]);
    } catch (error) {
      outcome = { status: 'failed', detail: describe(error) };
    } finally {
      clearTimeout(timer);
    }
    return { channel, ...outcome, durationMs: this.now() - started };
  }
}

function delivered(detail: string, unremembered?: string): Outcome {
  return {
    status: 'delivered',
    detail: unremembered ? `${detail} (thread not remembered: ${unremembered})` : detail,
  };
}

// ---------------------------------------------------------------------------------------------------------
// Clients from the `integrations` section

export interface IntegrationDeps {
  readonly secrets: (name: string) => Promise<string>;
  readonly fetch?: typeof fetch;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The PagerDuty Events client `integrations.pagerduty` describes. */
export function pagerDutyClient(pd: PagerDutyIntegration, deps: IntegrationDeps): PagerDutyEvents {
  const options: PagerDutyEventsOptions = {
    secrets: deps.secrets,
    routingKeySecret: pd.routingKeySecret,
    serviceBySeverity: pd.serviceBySeverity,
    url: pd.eventsUrl,
    timeoutMs: pd.timeoutMs,
    retries: pd.retries,
    ...(pd.group ? { group: pd.group } : {}),
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
  };
  return new PagerDutyEvents(options);
}

/** The Jira client `integrations.jira` describes. */
export function jiraClient(jira: JiraIntegration, deps: IntegrationDeps): JiraCloud {
  return new JiraCloud({
    siteUrl: jira.siteUrl,
    projectKey: jira.projectKey,
    issueType: jira.issueType,
    credentialsSecret: jira.credentialsSecret,
    doneTransition: jira.doneTransition,
    secrets: deps.secrets,
    timeoutMs: jira.timeoutMs,
    retries: jira.retries,
    ...(deps.fetch ? { fetch: deps.fetch } : {}),
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
  });
}

/** The PagerDuty and Jira clients the configuration turns on, for AlertDeliveryDeps. */
export function integrationClients(
  integrations: IntegrationsConfig | undefined,
  deps: IntegrationDeps,
): Pick<AlertDeliveryDeps, 'pagerDuty' | 'jira'> {
  return {
    ...(integrations?.pagerduty ? { pagerDuty: pagerDutyClient(integrations.pagerduty, deps) } : {}),
    ...(integrations?.jira ? { jira: jiraClient(integrations.jira, deps) } : {}),
  };
}
