// Sends each incident notice to every channel at once (Slack, PagerDuty, Jira, a webhook) so one channel's outage
// neither silences the others nor fails the workflow, and reports per channel so failures can be audited and
// escalated; fallback channels speak only when a primary one failed. What leaves goes through redaction first.

import type { CaseNotice, CaseNotifier } from '../../core/action/ports';
import { type RedactionFinding, redact, redactDeep } from '../../core/action/redact';
import type { Incident } from '../../core/cognition/incident';
import type { IntegrationsConfig } from '../../core/config/integrations-schema';
import type { IncidentCase } from '../../core/decision/incident-case';
import { JiraCloud } from '../jira/jira-cloud';
import { PagerDutyEvents, type PagerDutyResult, type PagerDutySeverity, severityOf } from '../pagerduty/events-v2';
import { clip, escapeText, LIMITS } from '../slack/blocks';
import type { SlackWebApi } from '../slack/web-api';
import { GenericWebhook } from '../webhook/generic-webhook';

export type ChannelRole = 'primary' | 'fallback';

export interface ChannelContext {
  /** Sent because a primary channel failed, not because the notice is this channel's to carry. */
  readonly fallback: boolean;
  /** The primary channels that failed, for a fallback to say why it speaks. */
  readonly failed: readonly string[];
  /** The notice as one redacted line of text. */
  readonly text: string;
}

export interface ChannelOutcome {
  readonly ok: boolean;
  readonly detail: string;
  /** The channel does not carry this notice (e.g. PagerDuty and a rejection): neither delivered nor failed. */
  readonly skipped?: boolean;
}

export interface NotificationChannel {
  readonly name: string;
  /** @default 'primary' */
  readonly role?: ChannelRole;
  /** Gets the case already redacted; may still throw or hang: the fan-out contains both. */
  send(notice: CaseNotice, c: IncidentCase, context: ChannelContext): Promise<ChannelOutcome>;
}

export interface ChannelResult {
  readonly channel: string;
  readonly role: ChannelRole;
  readonly ok: boolean;
  readonly skipped: boolean;
  readonly detail: string;
  readonly durationMs: number;
}

export interface FanoutReport {
  readonly notice: CaseNotice;
  readonly incidentId: string;
  readonly results: readonly ChannelResult[];
  /** Channels that delivered the notice. */
  readonly delivered: readonly string[];
  /** Channels that failed, primary and fallback. */
  readonly failed: readonly string[];
  /** Something had to go out and nothing did: the caller must raise this some other way (logs, an alarm). */
  readonly undelivered: boolean;
  /** What redaction removed from the case before any channel saw it. */
  readonly redactions: readonly RedactionFinding[];
}

export interface FanoutOptions {
  /** How long one notice may take across all channels, fallbacks included. @default 20000 */
  readonly deadlineMs?: number;
  /** Called with every report, also when delivery goes through `notify` (CaseNotifier returns nothing). */
  readonly onReport?: (report: FanoutReport) => void;
  readonly now?: () => number;
}

const NOTICE_LINES: Readonly<Record<CaseNotice, string>> = {
  NotifyOutcome: 'Outcome',
  DiagnosisOnlyReport: 'Diagnosis only, nothing was executed',
  Page: 'A human must act',
  RecordRejection: 'Plan rejected, nothing was executed',
  Escalate: 'No approval in time, nothing was executed',
  NotifyNoRecovery: 'The change did not help and was undone, a human must act',
  NotifyFailure: 'The incident workflow failed',
};

/** The notice as one line for people: what kind of notice, the incident, the diagnosis, the tier, how it ended. */
export function noticeText(notice: CaseNotice, c: IncidentCase): string {
  const root = c.diagnosis?.rootCause;
  const services = (c.incident as Incident | undefined)?.services.join(', ') || 'unknown service';
  const parts = [
    `${NOTICE_LINES[notice]}: incident ${c.incidentId}`,
    root ? `${root.service} ${root.kind} (confidence ${root.confidence})` : `${services}, not diagnosed`,
    c.risk ? `tier ${c.risk.tier} (score ${c.risk.score})` : 'no tier',
  ];
  if (c.outcome) parts.push(`outcome ${c.outcome}`);
  if (notice === 'RecordRejection' && c.rejection) parts.push(`reason: ${c.rejection.Cause}`);
  if (c.failure) parts.push(`failure: ${c.failure.Error}${c.failure.Cause ? ` - ${c.failure.Cause}` : ''}`);
  return redact(parts.join('; ')).text;
}

export class NotificationFanout implements CaseNotifier {
  private readonly deadlineMs: number;
  private readonly now: () => number;

  constructor(
    private readonly channels: readonly NotificationChannel[],
    private readonly options: FanoutOptions = {},
  ) {
    this.deadlineMs = options.deadlineMs ?? 20_000;
    this.now = options.now ?? Date.now;
  }

  /** CaseNotifier: delivers and never throws; the report goes to `onReport`. */
  async notify(notice: CaseNotice, c: IncidentCase): Promise<void> {
    await this.deliver(notice, c);
  }

  /** Delivers one notice to every channel concurrently, then to the fallbacks if a primary failed. */
  async deliver(notice: CaseNotice, c: IncidentCase): Promise<FanoutReport> {
    const started = this.now();
    const { value: safe, findings } = redactDeep(c);
    let text: string;
    try {
      text = noticeText(notice, safe);
    } catch {
      // A case too broken to describe (the workflow failed before filling it in) still has to be announced.
      text = redact(`${NOTICE_LINES[notice]}: incident ${String(safe?.incidentId)}`).text;
    }
    const primaries = this.channels.filter((ch) => (ch.role ?? 'primary') === 'primary');
    const fallbacks = this.channels.filter((ch) => ch.role === 'fallback');

    const first = await Promise.all(
      primaries.map((ch) => this.run(ch, notice, safe, { fallback: false, failed: [], text }, this.deadlineMs)),
    );
    const failedPrimaries = first.filter((r) => !r.ok).map((r) => r.channel);
    const remaining = this.deadlineMs - (this.now() - started);
    const second =
      failedPrimaries.length === 0
        ? []
        : await Promise.all(
            fallbacks.map((ch) =>
              this.run(ch, notice, safe, { fallback: true, failed: failedPrimaries, text }, Math.max(0, remaining)),
            ),
          );
    const results = [...first, ...second];
    const failed = results.filter((r) => !r.ok).map((r) => r.channel);
    const delivered = results.filter((r) => r.ok && !r.skipped).map((r) => r.channel);
    const report: FanoutReport = {
      notice,
      incidentId: String(safe?.incidentId),
      results,
      delivered,
      failed,
      undelivered: failed.length > 0 && delivered.length === 0,
      redactions: findings,
    };
    try {
      this.options.onReport?.(report);
    } catch {
      // The report is also returned; a broken audit hook must not turn a delivered notice into a failed step.
    }
    return report;
  }

  private async run(
    channel: NotificationChannel,
    notice: CaseNotice,
    c: IncidentCase,
    context: ChannelContext,
    budgetMs: number,
  ): Promise<ChannelResult> {
    const started = this.now();
    const role = channel.role ?? 'primary';
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<ChannelOutcome>((resolve) => {
      timer = setTimeout(() => resolve({ ok: false, detail: `no answer within ${budgetMs} ms` }), budgetMs);
    });
    let outcome: ChannelOutcome;
    try {
      outcome = await Promise.race([channel.send(notice, c, context), deadline]);
    } catch (error) {
      outcome = { ok: false, detail: `threw: ${error instanceof Error ? error.message : String(error)}` };
    } finally {
      clearTimeout(timer);
    }
    return {
      channel: channel.name,
      role,
      ok: outcome.ok,
      skipped: outcome.skipped === true,
      detail: redact(outcome.detail).text,
      durationMs: this.now() - started,
    };
  }
}

// ---------------------------------------------------------------------------------------------------------
// Channels

const SEVERITY_RANK: Readonly<Record<PagerDutySeverity, number>> = { info: 0, warning: 1, error: 2, critical: 3 };
const atLeast = (severity: PagerDutySeverity, floor: PagerDutySeverity): PagerDutySeverity =>
  SEVERITY_RANK[severity] >= SEVERITY_RANK[floor] ? severity : floor;

const skip = (detail: string): ChannelOutcome => ({ ok: true, skipped: true, detail });

/** The notice line, saying why a fallback channel carries it. */
const lineFor = (context: ChannelContext): string =>
  context.fallback ? `${context.text} (delivered here because ${context.failed.join(', ')} failed)` : context.text;

/** Notices after which a person must act now, whatever the tier. */
const PAGING_NOTICES: ReadonlySet<CaseNotice> = new Set<CaseNotice>([
  'Page',
  'Escalate',
  'NotifyNoRecovery',
  'NotifyFailure',
]);

/**
 * PagerDuty pages for notices that need a person now (PAGING_NOTICES, or an outcome short of recovery), at least
 * at `error` severity since someone must act whatever the tier; a recovered remediation resolves the alert.
 * As a fallback it pages for any notice, saying which channels failed.
 */
export function pagerDutyChannel(
  pagerDuty: PagerDutyEvents,
  options: { readonly name?: string; readonly role?: ChannelRole } = {},
): NotificationChannel {
  return {
    name: options.name ?? 'pagerduty',
    role: options.role ?? 'primary',
    async send(notice, c, context) {
      const severity = atLeast(severityOf(c), 'error');
      let result: PagerDutyResult;
      if (context.fallback) {
        result = await pagerDuty.trigger(c, {
          severity,
          summary: lineFor(context),
          notes: [`notice ${notice} could not be delivered by: ${context.failed.join(', ')}`],
        });
      } else if (PAGING_NOTICES.has(notice)) {
        result = await pagerDuty.trigger(c, { severity });
      } else if (notice === 'NotifyOutcome' && c.outcome === 'remediated') {
        result = await pagerDuty.resolve(c.incidentId);
      } else if (notice === 'NotifyOutcome' && (c.outcome === 'remediation-failed' || c.outcome === 'not-recovered')) {
        result = await pagerDuty.trigger(c, { severity });
      } else {
        return skip(`${notice} does not page`);
      }
      return result.ok
        ? { ok: true, detail: `${result.action} accepted after ${result.attempts} attempt(s)` }
        : { ok: false, detail: `${result.action} failed: ${result.failure.code} - ${result.failure.detail}` };
    },
  };
}

/**
 * Jira keeps one ticket per incident: the first notice files it with the whole case, later ones become comments,
 * and a recovered remediation closes it (unless `resolveWhenRemediated` is false).
 */
export function jiraChannel(
  jira: JiraCloud,
  options: { readonly name?: string; readonly role?: ChannelRole; readonly resolveWhenRemediated?: boolean } = {},
): NotificationChannel {
  return {
    name: options.name ?? 'jira',
    role: options.role ?? 'primary',
    async send(notice, c, context) {
      const ensured = await jira.ensureIssue(c);
      if (!ensured.ok) return { ok: false, detail: `ticket: ${ensured.failure.code} - ${ensured.failure.detail}` };
      const key = ensured.issue.key;
      const done: string[] = [ensured.outcome === 'existing' ? `found ${key}` : `filed ${key}`];
      if (ensured.outcome !== 'created') {
        const commented = await jira.comment(c.incidentId, context.text);
        if (!commented.ok) {
          return { ok: false, detail: `${key} comment: ${commented.failure.code} - ${commented.failure.detail}` };
        }
        done.push('commented');
      }
      if (notice === 'NotifyOutcome' && c.outcome === 'remediated' && options.resolveWhenRemediated !== false) {
        const resolved = await jira.resolve(c.incidentId);
        if (!resolved.ok) {
          return { ok: false, detail: `${key} resolve: ${resolved.failure.code} - ${resolved.failure.detail}` };
        }
        done.push(resolved.transitioned ? 'resolved' : 'already resolved');
      }
      return { ok: true, detail: done.join(', ') };
    },
  };
}

/** The webhook receives every notice as a signed event. */
export function webhookChannel(
  webhook: GenericWebhook,
  options: { readonly name?: string; readonly role?: ChannelRole } = {},
): NotificationChannel {
  return {
    name: options.name ?? 'webhook',
    role: options.role ?? 'primary',
    async send(notice, c, context) {
      const result = await webhook.send(notice, c, lineFor(context));
      return result.ok
        ? { ok: true, detail: `HTTP ${result.status} after ${result.attempts} attempt(s)` }
        : { ok: false, detail: `${result.failure.code} - ${result.failure.detail}` };
    },
  };
}

/** A plain message in a Slack channel: the notice line, escaped for mrkdwn. */
export function slackChannel(
  slack: SlackWebApi,
  channelId: string,
  options: { readonly name?: string; readonly role?: ChannelRole } = {},
): NotificationChannel {
  return {
    name: options.name ?? 'slack',
    role: options.role ?? 'primary',
    async send(_notice, _c, context) {
      const escaped = escapeText(lineFor(context));
      try {
        const ref = await slack.postMessage(channelId, {
          text: clip(escaped, LIMITS.fallbackText),
          blocks: [{ type: 'section', text: { type: 'mrkdwn', text: clip(escaped, LIMITS.sectionText) } }],
        });
        return { ok: true, detail: `posted ${ref.channel}/${ref.ts}` };
      } catch (error) {
        return { ok: false, detail: error instanceof Error ? error.message : String(error) };
      }
    },
  };
}

export interface ChannelDeps {
  readonly secrets: (name: string) => Promise<string>;
  readonly fetch?: typeof fetch;
}

/** The channels the `integrations` config section turns on, in a fixed order: PagerDuty, Jira, webhook. */
export function channelsFromConfig(integrations: IntegrationsConfig, deps: ChannelDeps): NotificationChannel[] {
  const channels: NotificationChannel[] = [];
  const io = deps.fetch ? { fetch: deps.fetch } : {};
  const pd = integrations.pagerduty;
  if (pd) {
    const client = new PagerDutyEvents({
      secrets: deps.secrets,
      routingKeySecret: pd.routingKeySecret,
      serviceBySeverity: pd.serviceBySeverity,
      url: pd.eventsUrl,
      timeoutMs: pd.timeoutMs,
      retries: pd.retries,
      ...(pd.group ? { group: pd.group } : {}),
      ...io,
    });
    channels.push(pagerDutyChannel(client));
  }
  const jira = integrations.jira;
  if (jira) {
    const client = new JiraCloud({
      siteUrl: jira.siteUrl,
      projectKey: jira.projectKey,
      issueType: jira.issueType,
      credentialsSecret: jira.credentialsSecret,
      doneTransition: jira.doneTransition,
      secrets: deps.secrets,
      timeoutMs: jira.timeoutMs,
      retries: jira.retries,
      ...io,
    });
    channels.push(jiraChannel(client, { resolveWhenRemediated: jira.resolveWhenRemediated }));
  }
  const hook = integrations.webhook;
  if (hook) {
    const client = new GenericWebhook({
      url: hook.url,
      signingSecret: hook.signingSecret,
      secrets: deps.secrets,
      timeoutMs: hook.timeoutMs,
      retries: hook.retries,
      ...io,
    });
    channels.push(webhookChannel(client));
  }
  return channels;
}
