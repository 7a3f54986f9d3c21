// The alert manager core: a deterministic state machine that turns external alerts (Alertmanager, Nightingale) and
// the agent's own incidents into few, correct notifications. Pure: it is fed in time order and decides; sending
// to Slack, PagerDuty or the ticket system is the caller's job.
//
// Every delivered alert gets exactly one decision: notify, or suppress with a reason. Alerts on related services
// (ServiceGraph) that arrive while a group is active fold into one group with one thread: one notification when it
// opens, one per severity rise, one when the most downstream firing service (the presumed root cause) moves
// deeper, and one when everything in it has resolved.

import type { Incident } from '../cognition/incident';
import type { Criticality } from '../config/schema';
import type { Tier } from '../decision/types';
import type { ServiceGraph } from '../topology';
import type { AlertingConfig, Route } from './alerting-config';
import { type AlertStatus, type ExternalAlert, type Severity, severityRank } from './webhooks';

export const SUPPRESSION_REASONS = [
  'duplicate',
  'grouped',
  'inhibited',
  'flapping',
  'maintenance',
  'heartbeat',
  'resolved-unnotified',
] as const;
export type SuppressionReason = (typeof SUPPRESSION_REASONS)[number];

export const NOTIFICATION_KINDS = ['open', 'escalation', 'root-cause', 'resolve'] as const;
export type NotificationKind = (typeof NOTIFICATION_KINDS)[number];

/** What a notification does in each channel. Posts, replies, PagerDuty triggers and new tickets reach people. */
export interface Delivery {
  /** `post` starts a thread (a new message); `reply` answers in the group's thread. */
  readonly slack: { readonly channel: string; readonly mode: 'post' | 'reply' };
  readonly pagerduty?: { readonly service: string; readonly action: 'trigger' | 'resolve' };
  readonly ticket?: 'create' | 'update';
}

export interface Notification {
  /** `<groupId>#<n>`: unique and stable for a given input stream. */
  readonly id: string;
  readonly kind: NotificationKind;
  readonly groupId: string;
  /** Epoch ms of the decision. */
  readonly at: number;
  readonly severity: Severity;
  /** Presumed root cause: the most downstream service of the group; absent for a service-less alert or heartbeat. */
  readonly rootService?: string;
  readonly services: readonly string[];
  readonly title: string;
  readonly detail: string;
  readonly route: Route;
  readonly delivery: Delivery;
  /**
   * How many messages reach a person, as the replay report counts `alerts.notified`: the Slack post or reply,
   * plus a PagerDuty trigger, plus a new ticket. Resolving a page or updating a ticket does not count.
   */
  readonly messages: number;
  /** Fingerprints of the alerts in the group at this point. */
  readonly alerts: readonly string[];
  readonly incidents: readonly string[];
  /** The alert fingerprint, incident id or heartbeat that caused this notification. */
  readonly trigger: string;
}

export type AlertDecision =
  | { readonly action: 'notify'; readonly subject: string; readonly notification: Notification }
  | {
      readonly action: 'suppress';
      readonly subject: string;
      readonly reason: SuppressionReason;
      readonly groupId?: string;
      readonly detail: string;
    };

/** An incident change from the agent's own pipeline (correlation, diagnosis, risk). */
export interface AgentIncidentUpdate {
  readonly incident: Pick<Incident, 'id' | 'status' | 'services'>;
  /** From diagnosis, once known. */
  readonly rootCause?: { readonly service: string; readonly kind?: string };
  /** From the risk assessment, once known: HIGH and CRITICAL are critical, the rest warnings. */
  readonly tier?: Tier;
  /** Overrides the severity derived from the tier. */
  readonly severity?: Severity;
}

export interface AlertManagerOptions {
  readonly config: AlertingConfig;
  readonly graph: ServiceGraph;
  /** `guardrails.changeFreezes`; they only count as maintenance when `changeFreezesAsMaintenance` is on. */
  readonly changeFreezes?: readonly { readonly start: string; readonly end: string; readonly reason: string }[];
}

export interface AlertCounters {
  /** External alerts ingested (each alert of each webhook delivery). */
  readonly raw: number;
  readonly incidentUpdates: number;
  /** Notifications decided, from alerts, incidents, flapping releases and heartbeats. */
  readonly notifications: number;
  /** Messages that reach a person (see Notification.messages). */
  readonly messages: number;
  readonly byKind: Readonly<Record<NotificationKind, number>>;
  /** Suppression decisions by reason, over alerts and incident updates. */
  readonly suppressed: Readonly<Record<SuppressionReason, number>>;
}

/** A read-only view of a group, for inspection and tests. */
export interface GroupView {
  readonly id: string;
  readonly status: 'open' | 'resolved';
  readonly root: string;
  readonly services: readonly string[];
  readonly severity: Severity;
  readonly paged: boolean;
  readonly firing: readonly string[];
  readonly resolved: readonly string[];
}

// ---------------------------------------------------------------------------------------------------------------
// Internal state

type Effective = 'none' | 'firing' | 'resolved';
type Disposition = 'notified' | 'grouped' | 'inhibited' | 'maintenance';
type Relation = 'same' | 'symptom' | 'cause';

/** What the manager remembers about one alert fingerprint (part of a snapshot). */
export interface AlertEntry {
  alert: ExternalAlert;
  /** What the engine last said. */
  observed: AlertStatus;
  /** What the manager acted on: differs from `observed` while a flapping alert is held. */
  effective: Effective;
  disposition?: Disposition;
  groupId?: string;
  held: boolean;
  /** Times of state changes inside the flapping window. */
  changes: number[];
  lastChangeAt: number;
  /** End of the last episode: later copies of that episode from a lagging replica are duplicates. */
  lastEndsAt?: number;
}

/** What the manager remembers about one agent incident (part of a snapshot). */
export interface IncidentEntry {
  effective: Effective;
  updatedAt: number;
  disposition?: Disposition;
  groupId?: string;
}

/** A Slack thread with the page and ticket that hang off it. */
export interface Thread {
  channel?: string;
  pagerdutyService?: string;
  paged: boolean;
  ticketed: boolean;
  sent: number;
}

interface Group extends Thread {
  readonly id: string;
  root: string;
  readonly services: string[];
  /** Alert fingerprints and `incident:<id>` keys, with their effective state. */
  readonly members: Map<string, 'firing' | 'resolved'>;
  severity: Severity;
  status: 'open' | 'resolved';
  readonly openedAt: number;
  lastActivityAt: number;
  readonly announcedRoots: Set<string>;
  readonly title: string;
}

/** What the manager remembers about one heartbeat (part of a snapshot). */
export interface HeartbeatEntry extends Thread {
  readonly name: string;
  readonly key: string;
  lastSeenAt: number;
  missingSince?: number;
}

/** A group as plain JSON (members and announced roots as arrays). */
export type GroupSnapshot = Omit<Group, 'members' | 'announcedRoots'> & {
  readonly members: readonly (readonly [string, 'firing' | 'resolved'])[];
  readonly announcedRoots: readonly string[];
};

/**
 * The whole state as plain JSON, so a stateless runtime (a Lambda per webhook) can store it between deliveries and
 * carry on exactly where it left off.
 */
export interface AlertManagerSnapshot {
  readonly version: 1;
  readonly alerts: readonly (readonly [string, AlertEntry])[];
  readonly incidents: readonly (readonly [string, IncidentEntry])[];
  readonly groups: readonly GroupSnapshot[];
  readonly heartbeats: readonly HeartbeatEntry[];
  readonly counters: AlertCounters;
}

/** What joins or opens a group: an alert or an agent incident. */
interface Subject {
  readonly key: string;
  /** Service, or `alert:<name>` for an alert that names none. */
  readonly root: string;
  readonly severity: Severity;
  readonly title: string;
  readonly detail: string;
}

const CRITICALITY_RANK: Readonly<Record<Criticality, number>> = { standard: 0, core: 1, funds: 2 };
const MINUTE = 60_000;

const iso = (ms: number): string => new Date(ms).toISOString().replace('.000Z', 'Z');
const stamp = (ms: number): string => iso(ms).replace(/[-:]/g, '').slice(0, 13);
const clockMinutes = (hhmm: string): number => Number(hhmm.slice(0, 2)) * 60 + Number(hhmm.slice(3, 5));

const severityOfTier = (tier: Tier | undefined): Severity =>
  tier === 'HIGH' || tier === 'CRITICAL' ? 'critical' : 'warning';

const emptyCounts = <K extends string>(keys: readonly K[]): Record<K, number> =>
  Object.fromEntries(keys.map((key) => [key, 0])) as Record<K, number>;

// ---------------------------------------------------------------------------------------------------------------

export class AlertManager {
  private readonly config: AlertingConfig;
  private readonly graph: ServiceGraph;
  private readonly freezes: readonly { readonly start: number; readonly end: number; readonly reason: string }[];
  private readonly alerts = new Map<string, AlertEntry>();
  private readonly incidents = new Map<string, IncidentEntry>();
  private readonly groups = new Map<string, Group>();
  private readonly heartbeats = new Map<string, HeartbeatEntry>();
  private readonly count = {
    raw: 0,
    incidentUpdates: 0,
    notifications: 0,
    messages: 0,
    byKind: emptyCounts(NOTIFICATION_KINDS),
    suppressed: emptyCounts(SUPPRESSION_REASONS),
  };

  constructor(options: AlertManagerOptions) {
    this.config = options.config;
    this.graph = options.graph;
    this.freezes = (options.changeFreezes ?? []).map((f) => ({
      start: Date.parse(f.start),
      end: Date.parse(f.end),
      reason: f.reason,
    }));
  }

  /** Carries on from a snapshot taken with `snapshot()`, under the given config and topology. */
  static restore(snapshot: AlertManagerSnapshot, options: AlertManagerOptions): AlertManager {
    if (snapshot.version !== 1)
      throw new Error(`alert manager snapshot version ${String(snapshot.version)} is unknown`);
    const copy = structuredClone(snapshot);
    const manager = new AlertManager(options);
    for (const [key, entry] of copy.alerts) manager.alerts.set(key, entry);
    for (const [key, entry] of copy.incidents) manager.incidents.set(key, entry);
    for (const group of copy.groups) {
      manager.groups.set(group.id, {
        ...group,
        services: [...group.services],
        members: new Map(group.members),
        announcedRoots: new Set(group.announcedRoots),
      });
    }
    for (const beat of copy.heartbeats) manager.heartbeats.set(beat.key, beat);
    Object.assign(manager.count, {
      ...copy.counters,
      byKind: { ...emptyCounts(NOTIFICATION_KINDS), ...copy.counters.byKind },
      suppressed: { ...emptyCounts(SUPPRESSION_REASONS), ...copy.counters.suppressed },
    });
    return manager;
  }

  /** The whole state as plain JSON (see AlertManagerSnapshot). */
  snapshot(): AlertManagerSnapshot {
    return structuredClone({
      version: 1 as const,
      alerts: [...this.alerts],
      incidents: [...this.incidents],
      groups: [...this.groups.values()].map((g) => ({
        ...g,
        members: [...g.members],
        announcedRoots: [...g.announcedRoots],
      })),
      heartbeats: [...this.heartbeats.values()],
      counters: this.counters(),
    });
  }

  /** Decides what one external alert (from one webhook delivery received at `nowMs`) leads to. */
  ingest(alert: ExternalAlert, nowMs: number): AlertDecision {
    this.count.raw++;
    return this.tally(this.decideAlert(alert, nowMs));
  }

  /** Decides what an update of one of the agent's incidents leads to. */
  incident(update: AgentIncidentUpdate, nowMs: number): AlertDecision {
    this.count.incidentUpdates++;
    return this.tally(this.decideIncident(update, nowMs));
  }

  /**
   * Time-driven work, once a minute or so: missing heartbeats, flapping alerts that have settled, and forgetting
   * what can no longer matter so the state stays small.
   */
  tick(nowMs: number): Notification[] {
    const out = this.checkHeartbeats(nowMs);
    for (const entry of this.alerts.values()) {
      if (!entry.held) continue;
      const decision = this.release(entry, nowMs);
      if (decision?.action === 'notify') out.push(decision.notification);
    }
    this.forget(nowMs);
    return out;
  }

  /**
   * Drops resolved alerts, incidents and groups that have been quiet for longer than anything still looks back
   * (the flapping and grouping windows, and an hour for late copies and stragglers).
   */
  private forget(now: number): void {
    const { flapping, groupWindowMinutes } = this.config;
    const horizon = now - Math.max(flapping.windowMinutes, groupWindowMinutes, 60) * MINUTE;
    for (const [key, entry] of this.alerts) {
      if (
        entry.observed === 'resolved' &&
        entry.effective !== 'firing' &&
        !entry.held &&
        entry.lastChangeAt < horizon
      ) {
        this.alerts.delete(key);
      }
    }
    for (const [id, group] of this.groups) {
      if (group.status === 'resolved' && group.lastActivityAt < horizon) this.groups.delete(id);
    }
    for (const [id, entry] of this.incidents) {
      if (entry.effective !== 'firing' && entry.updatedAt < horizon) this.incidents.delete(id);
    }
  }

  /**
   * Heartbeat alerts (Watchdog, DeadMansSwitch) are never notified; one that has not arrived for longer than its
   * interval plus grace means the alerting pipeline itself is broken, which is notified once, and its return once.
   */
  checkHeartbeats(nowMs: number): Notification[] {
    const out: Notification[] = [];
    const limit = (this.config.heartbeat.intervalMinutes + this.config.heartbeat.graceMinutes) * MINUTE;
    for (const beat of this.heartbeats.values()) {
      if (beat.missingSince === undefined && nowMs - beat.lastSeenAt > limit) {
        beat.missingSince = nowMs;
        out.push(
          this.heartbeatNotification(
            beat,
            'open',
            nowMs,
            `Heartbeat ${beat.name} missing: the alerting pipeline may be down`,
            `${beat.name} last arrived at ${iso(beat.lastSeenAt)}; it is expected every ${this.config.heartbeat.intervalMinutes} min. Until it is back, silence from Alertmanager proves nothing.`,
          ),
        );
      } else if (beat.missingSince !== undefined && beat.lastSeenAt >= beat.missingSince) {
        const since = beat.missingSince;
        beat.missingSince = undefined;
        out.push(
          this.heartbeatNotification(
            beat,
            'resolve',
            nowMs,
            `Heartbeat ${beat.name} is back`,
            `${beat.name} arrived again at ${iso(beat.lastSeenAt)} after being missing since ${iso(since)}.`,
          ),
        );
        // The next outage starts a thread (and a page) of its own.
        beat.channel = undefined;
        beat.paged = false;
        beat.ticketed = false;
      }
    }
    return out;
  }

  counters(): AlertCounters {
    return {
      ...this.count,
      byKind: { ...this.count.byKind },
      suppressed: { ...this.count.suppressed },
    };
  }

  groupViews(): GroupView[] {
    return [...this.groups.values()].map((g) => ({
      id: g.id,
      status: g.status,
      root: g.root,
      services: [...g.services],
      severity: g.severity,
      paged: g.paged,
      firing: [...g.members].filter(([, s]) => s === 'firing').map(([k]) => k),
      resolved: [...g.members].filter(([, s]) => s === 'resolved').map(([k]) => k),
    }));
  }

  /** The route for a severity on a service of the given criticality at a time (first matching rule). */
  routeFor(severity: Severity, criticality: Criticality, nowMs: number): Route {
    const business = this.isBusinessHours(nowMs);
    const rule = this.config.routes.find(
      (r) =>
        (!r.severity || r.severity.includes(severity)) &&
        (!r.criticality || r.criticality.includes(criticality)) &&
        (r.hours === 'any' || (r.hours === 'business') === business),
    );
    return rule?.route ?? this.config.defaultRoute;
  }

  isBusinessHours(nowMs: number): boolean {
    const hours = this.config.businessHours;
    const local = new Date(nowMs + hours.utcOffsetMinutes * MINUTE);
    const day = local.getUTCDay() === 0 ? 7 : local.getUTCDay();
    const minute = local.getUTCHours() * 60 + local.getUTCMinutes();
    return hours.days.includes(day) && minute >= clockMinutes(hours.start) && minute < clockMinutes(hours.end);
  }

  // -------------------------------------------------------------------------------------------------------------
  // Alerts

  private decideAlert(alert: ExternalAlert, now: number): AlertDecision {
    const key = alert.fingerprint;
    if (this.config.heartbeat.names.includes(alert.name)) {
      if (alert.status === 'firing') this.sawHeartbeat(alert, now);
      return suppress(key, 'heartbeat', `${alert.name} is a heartbeat: only its absence is notified`);
    }
    if (this.config.silentNames.includes(alert.name)) {
      return suppress(key, 'heartbeat', `${alert.name} is a helper alert that is never notified`);
    }

    const entry = this.alerts.get(key);
    if (!entry) {
      const fresh: AlertEntry = {
        alert,
        observed: alert.status,
        effective: 'none',
        held: false,
        changes: alert.status === 'firing' ? [now] : [],
        lastChangeAt: now,
        ...(alert.status === 'resolved' ? { lastEndsAt: alert.endsAt ?? now } : {}),
      };
      this.alerts.set(key, fresh);
      if (alert.status === 'resolved') {
        return suppress(key, 'resolved-unnotified', `${describeAlert(alert)} resolved but was never notified`);
      }
      return this.applyFiring(fresh, now);
    }

    if (alert.status === 'firing') {
      if (entry.observed === 'firing') return this.onRepeat(entry, alert, now);
      if (entry.lastEndsAt !== undefined && alert.startsAt <= entry.lastEndsAt) {
        // An HA replica that evaluates a little later still reports an episode the other has already resolved.
        return suppress(key, 'duplicate', `late copy of an episode of ${describeAlert(alert)} that already ended`);
      }
      entry.alert = alert;
      this.changeState(entry, 'firing', now);
      if (this.isFlapping(entry, now)) return this.hold(entry, now);
      return this.applyFiring(entry, now);
    }

    if (entry.observed === 'resolved') {
      const released = entry.held ? this.release(entry, now) : undefined;
      return released ?? suppress(key, 'duplicate', `${describeAlert(alert)} is already resolved`, entry.groupId);
    }
    entry.alert = alert;
    entry.lastEndsAt = alert.endsAt ?? now;
    this.changeState(entry, 'resolved', now);
    if (this.isFlapping(entry, now)) return this.hold(entry, now);
    return this.applyResolve(entry, now);
  }

  /** Another delivery of an alert that is already firing: the HA twin or an Alertmanager repeat. */
  private onRepeat(entry: AlertEntry, alert: ExternalAlert, now: number): AlertDecision {
    const previous = entry.alert;
    entry.alert = alert;
    const group = entry.groupId ? this.groups.get(entry.groupId) : undefined;
    if (group?.status === 'open') group.lastActivityAt = now;
    if (entry.held) {
      return this.release(entry, now) ?? suppress(alert.fingerprint, 'flapping', this.flapDetail(entry, now));
    }
    if (entry.disposition === 'maintenance') {
      const reason = this.maintenanceReason(alert.service, now);
      if (reason) return suppress(alert.fingerprint, 'maintenance', reason);
      // Still firing after the window closed: now it is news.
      entry.effective = 'none';
      return this.applyFiring(entry, now);
    }
    if (group?.status === 'open' && severityRank(alert.severity) > severityRank(previous.severity)) {
      return this.raise(group, this.alertSubject(alert), now, entry.disposition === 'inhibited');
    }
    return suppress(
      alert.fingerprint,
      'duplicate',
      `${describeAlert(alert)} is already firing and ${entry.disposition ?? 'known'}`,
      entry.groupId,
    );
  }

  private changeState(entry: AlertEntry, status: AlertStatus, now: number): void {
    entry.observed = status;
    entry.lastChangeAt = now;
    const since = now - this.config.flapping.windowMinutes * MINUTE;
    entry.changes = [...entry.changes.filter((t) => t > since), now];
  }

  private isFlapping(entry: AlertEntry, now: number): boolean {
    if (entry.held) return true;
    const since = now - this.config.flapping.windowMinutes * MINUTE;
    return entry.changes.filter((t) => t > since).length >= this.config.flapping.changes;
  }

  private hold(entry: AlertEntry, now: number): AlertDecision {
    entry.held = true;
    return suppress(entry.alert.fingerprint, 'flapping', this.flapDetail(entry, now), entry.groupId);
  }

  private flapDetail(entry: AlertEntry, now: number): string {
    const { windowMinutes, stableMinutes } = this.config.flapping;
    const since = now - windowMinutes * MINUTE;
    const changes = entry.changes.filter((t) => t > since).length;
    return `${describeAlert(entry.alert)} changed state ${changes} times in ${windowMinutes} min; held until it stays ${entry.observed} for ${stableMinutes} min`;
  }

  /** Lets a held alert go once it has kept one state long enough, acting on that state if it differs. */
  private release(entry: AlertEntry, now: number): AlertDecision | undefined {
    if (now - entry.lastChangeAt < this.config.flapping.stableMinutes * MINUTE) return undefined;
    entry.held = false;
    // Judged afresh from here: after a stable spell the next change is news, not more of the same flapping.
    entry.changes = [];
    const key = entry.alert.fingerprint;
    if (entry.observed === 'firing' && entry.effective !== 'firing') return this.applyFiring(entry, now);
    if (entry.observed === 'resolved' && entry.effective === 'firing') return this.applyResolve(entry, now);
    return suppress(
      key,
      'duplicate',
      `${describeAlert(entry.alert)} settled ${entry.observed}, as last acted on`,
      entry.groupId,
    );
  }

  private applyFiring(entry: AlertEntry, now: number): AlertDecision {
    const alert = entry.alert;
    const reason = this.maintenanceReason(alert.service, now);
    entry.effective = 'firing';
    if (reason) {
      entry.disposition = 'maintenance';
      entry.groupId = undefined;
      return suppress(alert.fingerprint, 'maintenance', reason);
    }
    const joined = this.join(this.alertSubject(alert), now);
    entry.groupId = joined.groupId;
    entry.disposition = joined.disposition;
    return joined.decision;
  }

  private applyResolve(entry: AlertEntry, now: number): AlertDecision {
    const wasFiring = entry.effective === 'firing';
    entry.effective = 'resolved';
    const group = entry.groupId ? this.groups.get(entry.groupId) : undefined;
    if (!wasFiring || !group || entry.disposition === 'maintenance') {
      return suppress(
        entry.alert.fingerprint,
        'resolved-unnotified',
        `${describeAlert(entry.alert)} resolved but was never notified`,
      );
    }
    return this.leave(group, entry.alert.fingerprint, now);
  }

  private alertSubject(alert: ExternalAlert): Subject {
    return {
      key: alert.fingerprint,
      root: alert.service ?? `alert:${alert.name}`,
      severity: alert.severity,
      title: describeAlert(alert),
      detail: alert.summary,
    };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Agent incidents

  private decideIncident(update: AgentIncidentUpdate, now: number): AlertDecision {
    const { id, status, services } = update.incident;
    const key = `incident:${id}`;
    const entry: IncidentEntry = this.incidents.get(id) ?? { effective: 'none', updatedAt: now };
    entry.updatedAt = now;
    this.incidents.set(id, entry);
    const root = update.rootCause?.service ?? services[0] ?? `incident:${id}`;
    const subject: Subject = {
      key,
      root,
      severity: update.severity ?? severityOfTier(update.tier),
      title: `agent incident ${id} on ${services.join(', ') || root}`,
      detail: update.rootCause
        ? `root cause ${update.rootCause.service}${update.rootCause.kind ? ` (${update.rootCause.kind})` : ''}${update.tier ? `, tier ${update.tier}` : ''}`
        : `services ${services.join(', ')}`,
    };
    const group = entry.groupId ? this.groups.get(entry.groupId) : undefined;

    if (status === 'resolved') {
      if (entry.effective === 'resolved') return suppress(key, 'duplicate', `incident ${id} is already resolved`);
      const wasFiring = entry.effective === 'firing';
      entry.effective = 'resolved';
      if (!wasFiring || !group || entry.disposition === 'maintenance') {
        return suppress(key, 'resolved-unnotified', `incident ${id} resolved but was never notified`);
      }
      return this.leave(group, key, now);
    }

    if (entry.effective === 'firing' && entry.disposition === 'maintenance') {
      const reason = this.maintenanceReason(root, now);
      if (reason) return suppress(key, 'maintenance', reason);
    } else if (entry.effective === 'firing' && group?.status === 'open') {
      group.lastActivityAt = now;
      for (const service of services) if (!group.services.includes(service)) group.services.push(service);
      if (update.rootCause) {
        const relation = this.relation(root, group.root);
        if (relation === 'cause' || !this.graph.get(group.root)) return this.raise(group, subject, now, false, root);
      }
      return this.raise(group, subject, now, entry.disposition === 'inhibited');
    }

    entry.effective = 'firing';
    const reason = this.maintenanceReason(root, now);
    if (reason) {
      entry.disposition = 'maintenance';
      entry.groupId = undefined;
      return suppress(key, 'maintenance', reason);
    }
    const joined = this.join(subject, now, services);
    entry.groupId = joined.groupId;
    entry.disposition = joined.disposition;
    return joined.decision;
  }

  // -------------------------------------------------------------------------------------------------------------
  // Groups

  /** How `service` stands to a group's root: the same, a caller (symptom), or a dependency (deeper cause). */
  private relation(service: string, root: string): Relation | undefined {
    if (service === root) return 'same';
    if (this.graph.dependsOnTransitively(service, root)) return 'symptom';
    if (this.graph.dependsOnTransitively(root, service)) return 'cause';
    return undefined;
  }

  /** Folds a subject into the best active related group, or opens a new group for it. */
  private join(
    subject: Subject,
    now: number,
    services: readonly string[] = [],
  ): { decision: AlertDecision; groupId: string; disposition: Disposition } {
    const window = this.config.groupWindowMinutes * MINUTE;
    const order: Readonly<Record<Relation, number>> = { same: 0, symptom: 1, cause: 2 };
    let best: { group: Group; relation: Relation } | undefined;
    for (const group of this.groups.values()) {
      if (group.status !== 'open' || now - group.lastActivityAt > window) continue;
      const relation = this.relation(subject.root, group.root);
      if (!relation) continue;
      if (
        !best ||
        order[relation] < order[best.relation] ||
        (order[relation] === order[best.relation] && relation === 'symptom' && group.paged && !best.group.paged)
      ) {
        best = { group, relation };
      }
    }

    const extra = services.filter((s) => s !== subject.root);
    if (!best) {
      const group = this.openGroup(subject, now, extra);
      const notification = this.notify(group, 'open', subject, now, `${subject.title}`, subject.detail);
      return { decision: notified(subject.key, notification), groupId: group.id, disposition: 'notified' };
    }

    const { group, relation } = best;
    group.members.set(subject.key, 'firing');
    group.lastActivityAt = now;
    for (const service of [subject.root, ...extra]) {
      if (!service.startsWith('alert:') && !group.services.includes(service)) group.services.push(service);
    }
    if (relation === 'symptom' && group.paged) {
      return {
        decision: suppress(
          subject.key,
          'inhibited',
          `${subject.title} is a symptom of ${group.root}, whose group is already paging`,
          group.id,
        ),
        groupId: group.id,
        disposition: 'inhibited',
      };
    }
    const decision = this.raise(group, subject, now, false, relation === 'cause' ? subject.root : undefined);
    return {
      decision,
      groupId: group.id,
      disposition: decision.action === 'notify' ? 'notified' : 'grouped',
    };
  }

  /**
   * A member of an open group speaks up: notify when the presumed root cause moves deeper or the severity rises,
   * otherwise the subject is folded into the group.
   */
  private raise(group: Group, subject: Subject, now: number, inhibited: boolean, newRoot?: string): AlertDecision {
    group.lastActivityAt = now;
    const rootMoved = newRoot !== undefined && newRoot !== group.root;
    if (rootMoved) {
      group.root = newRoot;
      if (!group.services.includes(newRoot)) group.services.unshift(newRoot);
    }
    const announce = rootMoved && !group.announcedRoots.has(group.root);
    const rises = !inhibited && severityRank(subject.severity) > severityRank(group.severity);
    if (rises) group.severity = subject.severity;
    if (announce) {
      group.announcedRoots.add(group.root);
      const title = `Root cause now looks like ${group.root}: ${subject.title}`;
      return notified(subject.key, this.notify(group, rises ? 'escalation' : 'root-cause', subject, now, title));
    }
    if (rises) {
      const title = `Escalated to ${group.severity}: ${subject.title}`;
      return notified(subject.key, this.notify(group, 'escalation', subject, now, title));
    }
    if (inhibited) {
      return suppress(subject.key, 'inhibited', `${subject.title} is a symptom of paging ${group.root}`, group.id);
    }
    return suppress(subject.key, 'grouped', `${subject.title} folded into ${group.id} (root ${group.root})`, group.id);
  }

  /** A member has resolved: the group's resolve is notified once nothing in it fires any more. */
  private leave(group: Group, key: string, now: number): AlertDecision {
    group.members.set(key, 'resolved');
    group.lastActivityAt = now;
    const firing = [...group.members.values()].filter((s) => s === 'firing').length;
    if (firing > 0 || group.status !== 'open') {
      return suppress(
        key,
        'grouped',
        `resolved; ${firing} of ${group.members.size} still firing in ${group.id}`,
        group.id,
      );
    }
    group.status = 'resolved';
    const minutes = Math.round((now - group.openedAt) / MINUTE);
    const notification = this.notify(
      group,
      'resolve',
      undefined,
      now,
      `Resolved: ${group.title}`,
      `all ${group.members.size} alert(s) and incident(s) of the group resolved after ${minutes} min`,
      key,
    );
    return notified(key, notification);
  }

  private openGroup(subject: Subject, now: number, extra: readonly string[]): Group {
    const slug = subject.root.replace(/[^A-Za-z0-9-]+/g, '-');
    const base = `grp-${stamp(now)}-${slug}`;
    let id = base;
    for (let n = 2; this.groups.has(id); n++) id = `${base}-${n}`;
    const group: Group = {
      id,
      root: subject.root,
      services: subject.root.startsWith('alert:') ? [...extra] : [subject.root, ...extra],
      members: new Map([[subject.key, 'firing']]),
      severity: subject.severity,
      status: 'open',
      openedAt: now,
      lastActivityAt: now,
      announcedRoots: new Set([subject.root]),
      title: subject.title,
      paged: false,
      ticketed: false,
      sent: 0,
    };
    this.groups.set(group.id, group);
    return group;
  }

  private criticalityOf(group: Group): Criticality {
    let worst: Criticality = 'standard';
    for (const service of group.services) {
      const criticality = this.graph.get(service)?.criticality ?? 'standard';
      if (CRITICALITY_RANK[criticality] > CRITICALITY_RANK[worst]) worst = criticality;
    }
    return worst;
  }

  private notify(
    group: Group,
    kind: NotificationKind,
    subject: Subject | undefined,
    now: number,
    title: string,
    detail = subject?.detail ?? '',
    trigger = subject?.key ?? group.id,
  ): Notification {
    const route = this.routeFor(group.severity, this.criticalityOf(group), now);
    const members = [...group.members.keys()];
    return this.deliver(group, {
      kind,
      groupId: group.id,
      at: now,
      severity: group.severity,
      ...(group.root.startsWith('alert:') ? {} : { rootService: group.root }),
      services: [...group.services],
      title: `[${group.severity.toUpperCase()}] ${title}`,
      detail,
      route,
      alerts: members.filter((k) => !k.startsWith('incident:')),
      incidents: members.filter((k) => k.startsWith('incident:')).map((k) => k.slice('incident:'.length)),
      trigger,
    });
  }

  /** Works out the channel actions of a notification on a thread and counts it. */
  private deliver(thread: Thread, draft: Omit<Notification, 'id' | 'delivery' | 'messages'>): Notification {
    const { route, kind } = draft;
    let delivery: Delivery;
    if (kind === 'resolve') {
      delivery = {
        slack: { channel: thread.channel ?? route.slackChannel, mode: 'reply' },
        ...(thread.paged && thread.pagerdutyService
          ? { pagerduty: { service: thread.pagerdutyService, action: 'resolve' as const } }
          : {}),
        ...(thread.ticketed ? { ticket: 'update' as const } : {}),
      };
    } else {
      const newThread = thread.channel !== route.slackChannel;
      const trigger = route.page && !thread.paged && route.pagerdutyService;
      delivery = {
        slack: { channel: route.slackChannel, mode: newThread ? 'post' : 'reply' },
        ...(trigger ? { pagerduty: { service: route.pagerdutyService ?? '', action: 'trigger' as const } } : {}),
        ...(route.ticket || thread.ticketed
          ? { ticket: thread.ticketed ? ('update' as const) : ('create' as const) }
          : {}),
      };
      thread.channel = route.slackChannel;
      if (trigger) {
        thread.paged = true;
        thread.pagerdutyService = route.pagerdutyService;
      }
      if (route.ticket) thread.ticketed = true;
    }
    thread.sent++;
    const messages = 1 + (delivery.pagerduty?.action === 'trigger' ? 1 : 0) + (delivery.ticket === 'create' ? 1 : 0);
    this.count.notifications++;
    this.count.messages += messages;
    this.count.byKind[kind]++;
    return { id: `${draft.groupId}#${thread.sent}`, ...draft, delivery, messages };
  }

  // -------------------------------------------------------------------------------------------------------------
  // Maintenance and heartbeats

  /** Why alerts for `service` are silenced at `now`, or undefined when they are not. */
  private maintenanceReason(service: string | undefined, now: number): string | undefined {
    for (const window of this.config.maintenance) {
      if (now < Date.parse(window.start) || now >= Date.parse(window.end)) continue;
      if (window.services && !(service && window.services.includes(service))) continue;
      return `maintenance until ${window.end}: ${window.reason}`;
    }
    if (this.config.changeFreezesAsMaintenance) {
      const freeze = this.freezes.find((f) => now >= f.start && now < f.end);
      if (freeze) return `change freeze until ${iso(freeze.end)}: ${freeze.reason}`;
    }
    return undefined;
  }

  private sawHeartbeat(alert: ExternalAlert, now: number): void {
    const beat = this.heartbeats.get(alert.fingerprint);
    if (beat) beat.lastSeenAt = now;
    else {
      this.heartbeats.set(alert.fingerprint, {
        name: alert.name,
        key: alert.fingerprint,
        lastSeenAt: now,
        paged: false,
        ticketed: false,
        sent: 0,
      });
    }
  }

  private heartbeatNotification(
    beat: HeartbeatEntry,
    kind: 'open' | 'resolve',
    now: number,
    title: string,
    detail: string,
  ): Notification {
    return this.deliver(beat, {
      kind,
      groupId: `heartbeat-${beat.key.replace(/[^A-Za-z0-9-]+/g, '-')}`,
      at: now,
      severity: 'critical',
      services: [],
      title: `[CRITICAL] ${title}`,
      detail,
      route: this.config.heartbeat.route,
      alerts: [beat.key],
      incidents: [],
      trigger: beat.key,
    });
  }

  private tally(decision: AlertDecision): AlertDecision {
    if (decision.action === 'suppress') this.count.suppressed[decision.reason]++;
    return decision;
  }
}

function describeAlert(alert: ExternalAlert): string {
  return alert.service ? `${alert.name} on ${alert.service}` : alert.name;
}

function suppress(subject: string, reason: SuppressionReason, detail: string, groupId?: string): AlertDecision {
  return { action: 'suppress', subject, reason, detail, ...(groupId ? { groupId } : {}) };
}

function notified(subject: string, notification: Notification): AlertDecision {
  return { action: 'notify', subject, notification };
}
