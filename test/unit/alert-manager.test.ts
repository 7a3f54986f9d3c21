// The alert manager state machine: dedup, grouping, inhibition, flapping, maintenance, heartbeats, routing, agent
// incidents, and the reduction it achieves on whole scenario alert streams.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'yaml';
import {
  type AlertDecision,
  AlertManager,
  type AlertManagerSnapshot,
  type Notification,
  SUPPRESSION_REASONS,
} from '../../lambdas/core/alerting/alert-manager';
import {
  type AlertingConfigInput,
  alertingConfigSchema,
  alertingTopologyProblems,
  defaultAlertingConfig,
} from '../../lambdas/core/alerting/alerting-config';
import { type ExternalAlert, normaliseAlertmanagerWebhook } from '../../lambdas/core/alerting/webhooks';
import { type Topology, topologySchema } from '../../lambdas/core/config/schema';
import { ServiceGraph } from '../../lambdas/core/topology';

const topology: Topology = topologySchema.parse({
  services: [
    { name: 'api-gateway', criticality: 'core', dependsOn: ['order-api', 'wallet-service', 'market-data'] },
    { name: 'order-api', criticality: 'core', dependsOn: ['mysql-main', 'redis-cache'] },
    { name: 'wallet-service', criticality: 'funds', dependsOn: ['mysql-main'] },
    { name: 'market-data', criticality: 'standard', dependsOn: ['redis-cache'] },
    { name: 'mysql-main', kind: 'datastore', criticality: 'core' },
    { name: 'redis-cache', kind: 'datastore', criticality: 'standard' },
  ],
});
const graph = new ServiceGraph(topology);

/** Wednesday 2026-11-04 03:00 UTC: 11:00 at UTC+8, inside the default business hours. */
const T0 = Date.parse('2026-11-04T03:00:00Z');
const at = (minutes: number, seconds = 0): number => T0 + minutes * 60_000 + seconds * 1000;
const iso = (ms: number): string => new Date(ms).toISOString();

interface Spec {
  readonly name?: string;
  readonly service?: string;
  readonly severity?: string;
  readonly status?: 'firing' | 'resolved';
  readonly replica?: string;
  readonly startsAt?: number;
  readonly endsAt?: number;
}

/** One alert as an Alertmanager v4 webhook from one Prometheus replica delivers it. */
function am(spec: Spec = {}): ExternalAlert {
  const name = spec.name ?? 'HighErrorRate';
  const status = spec.status ?? 'firing';
  const startsAt = spec.startsAt ?? T0;
  const labels: Record<string, string> = {
    alertname: name,
    severity: spec.severity ?? 'critical',
    prometheus_replica: spec.replica ?? 'k8s-0',
    ...(spec.service === undefined ? { service: 'order-api' } : spec.service ? { service: spec.service } : {}),
  };
  const body = {
    version: '4',
    groupKey: `{}:{alertname="${name}"}`,
    status,
    receiver: 'sre-agent',
    groupLabels: { alertname: name },
    commonLabels: labels,
    commonAnnotations: {},
    externalURL: 'http://alertmanager.monitoring:9093',
    alerts: [
      {
        status,
        labels,
        annotations: { summary: `${name} on ${labels.service ?? 'the cluster'}` },
        startsAt: iso(startsAt),
        endsAt: status === 'resolved' ? iso(spec.endsAt ?? startsAt + 60_000) : '0001-01-01T00:00:00Z',
      },
    ],
  };
  return normaliseAlertmanagerWebhook(body)[0];
}

const manager = (config: AlertingConfigInput = {}, changeFreezes?: { start: string; end: string; reason: string }[]) =>
  new AlertManager({ config: alertingConfigSchema.parse(config), graph, ...(changeFreezes ? { changeFreezes } : {}) });

/** The decision's outcome in one word: the notification kind, or the suppression reason. */
const outcome = (d: AlertDecision): string => (d.action === 'notify' ? `notify:${d.notification.kind}` : d.reason);

const notificationOf = (d: AlertDecision): Notification => {
  if (d.action !== 'notify') throw new Error(`expected a notification, got ${d.reason}: ${d.detail}`);
  return d.notification;
};

describe('AlertManager: duplicates', () => {
  it('notifies once for an HA pair seconds apart', () => {
    const m = manager();
    const first = m.ingest(am({ replica: 'k8s-0' }), at(0));
    const second = m.ingest(am({ replica: 'k8s-1', startsAt: at(0, 4) }), at(0, 7));
    expect(outcome(first)).toBe('notify:open');
    expect(outcome(second)).toBe('duplicate');
    expect(m.counters()).toMatchObject({ raw: 2, notifications: 1, suppressed: { duplicate: 1 } });
  });

  it('swallows the 5-minute repeats of both replicas and notifies the resolve once', () => {
    const m = manager();
    const outcomes: string[] = [];
    for (let t = 0; t < 30; t += 5) {
      outcomes.push(outcome(m.ingest(am({ replica: 'k8s-0' }), at(t))));
      outcomes.push(outcome(m.ingest(am({ replica: 'k8s-1' }), at(t, 7))));
    }
    outcomes.push(outcome(m.ingest(am({ status: 'resolved', endsAt: at(31) }), at(32))));
    outcomes.push(outcome(m.ingest(am({ status: 'resolved', replica: 'k8s-1', endsAt: at(31) }), at(32, 7))));
    expect(outcomes).toEqual(['notify:open', ...Array(11).fill('duplicate'), 'notify:resolve', 'duplicate']);
    expect(m.counters()).toMatchObject({ raw: 14, notifications: 2, byKind: { open: 1, resolve: 1 } });
  });

  it('treats a lagging replica still reporting an ended episode as a duplicate, not a new one', () => {
    const m = manager();
    m.ingest(am({ startsAt: at(0) }), at(0));
    expect(outcome(m.ingest(am({ status: 'resolved', endsAt: at(10) }), at(10)))).toBe('notify:resolve');
    expect(outcome(m.ingest(am({ replica: 'k8s-1', startsAt: at(0, 4) }), at(10, 5)))).toBe('duplicate');
    // A genuinely new episode starts after the last one ended.
    expect(outcome(m.ingest(am({ startsAt: at(20) }), at(20)))).toBe('notify:open');
  });

  it('escalates when the same alert comes back with a higher severity', () => {
    const m = manager();
    m.ingest({ ...am({ severity: 'warning' }) }, at(0));
    const raised = m.ingest({ ...am({ severity: 'warning' }), severity: 'critical' }, at(5));
    expect(notificationOf(raised)).toMatchObject({ kind: 'escalation', severity: 'critical' });
  });
});

describe('AlertManager: grouping and inhibition', () => {
  it('inhibits the symptoms on every caller once the root cause pages, and resolves the group once', () => {
    const m = manager();
    const root = m.ingest(am({ name: 'DatastoreConnectionsHigh', service: 'mysql-main' }), at(0));
    const open = notificationOf(root);
    expect(open).toMatchObject({ kind: 'open', rootService: 'mysql-main', severity: 'critical', messages: 3 });
    expect(open.delivery).toEqual({
      slack: { channel: '#sre-critical', mode: 'post' },
      pagerduty: { service: 'sre-primary', action: 'trigger' },
      ticket: 'create',
    });

    const symptoms = ['order-api', 'wallet-service', 'api-gateway'].flatMap((service, i) => [
      m.ingest(am({ service }), at(1 + i)),
      m.ingest(am({ service, name: 'HighLatencyP99', severity: 'warning' }), at(1 + i)),
    ]);
    expect(symptoms.map(outcome)).toEqual(Array(6).fill('inhibited'));
    expect(symptoms.every((d) => d.action === 'suppress' && d.groupId === open.groupId)).toBe(true);

    // The root recovers first; the group only resolves once its symptoms have too.
    expect(
      outcome(m.ingest(am({ name: 'DatastoreConnectionsHigh', service: 'mysql-main', status: 'resolved' }), at(30))),
    ).toBe('grouped');
    const resolves = ['order-api', 'wallet-service', 'api-gateway'].flatMap((service) => [
      m.ingest(am({ service, status: 'resolved' }), at(31)),
      m.ingest(am({ service, name: 'HighLatencyP99', severity: 'warning', status: 'resolved' }), at(31)),
    ]);
    expect(resolves.map(outcome)).toEqual([...Array(5).fill('grouped'), 'notify:resolve']);
    expect(notificationOf(resolves[5])).toMatchObject({
      kind: 'resolve',
      groupId: open.groupId,
      messages: 1,
      delivery: {
        slack: { channel: '#sre-critical', mode: 'reply' },
        pagerduty: { service: 'sre-primary', action: 'resolve' },
        ticket: 'update',
      },
    });
    expect(m.counters()).toMatchObject({ notifications: 2, messages: 4, suppressed: { inhibited: 6, grouped: 6 } });
  });

  it('groups symptoms of a root that is not paging, and escalates once when one of them is critical', () => {
    const m = manager();
    expect(outcome(m.ingest(am({ name: 'SlowQueries', service: 'mysql-main', severity: 'warning' }), at(0)))).toBe(
      'notify:open',
    );
    const latency = m.ingest(am({ name: 'HighLatencyP99', service: 'order-api', severity: 'warning' }), at(1));
    const errors = m.ingest(am({ service: 'order-api' }), at(2));
    const more = m.ingest(am({ service: 'api-gateway' }), at(3));
    expect([latency, errors, more].map(outcome)).toEqual(['grouped', 'notify:escalation', 'inhibited']);
    expect(notificationOf(errors)).toMatchObject({
      severity: 'critical',
      rootService: 'mysql-main',
      delivery: { slack: { channel: '#sre-critical', mode: 'post' }, pagerduty: { action: 'trigger' } },
    });
  });

  it('announces a deeper root cause when the symptom arrived first', () => {
    const m = manager();
    expect(outcome(m.ingest(am({ service: 'api-gateway' }), at(0)))).toBe('notify:open');
    const deeper = m.ingest(am({ service: 'order-api' }), at(1));
    const deepest = m.ingest(am({ name: 'DatastoreConnectionsHigh', service: 'mysql-main' }), at(2));
    const again = m.ingest(am({ name: 'HighLatencyP99', service: 'order-api', severity: 'warning' }), at(3));
    expect([deeper, deepest, again].map(outcome)).toEqual(['notify:root-cause', 'notify:root-cause', 'inhibited']);
    expect(notificationOf(deepest)).toMatchObject({
      rootService: 'mysql-main',
      title: expect.stringContaining('Root cause now looks like mysql-main'),
      delivery: { slack: { mode: 'reply' } },
      messages: 1,
    });
    expect(m.groupViews()).toHaveLength(1);
  });

  it('keeps unrelated services and stale groups apart', () => {
    const m = manager({ groupWindowMinutes: 10 });
    m.ingest(am({ name: 'DatastoreConnectionsHigh', service: 'mysql-main' }), at(0));
    // market-data neither calls mysql-main nor is called by it: another problem.
    expect(outcome(m.ingest(am({ service: 'market-data', severity: 'warning' }), at(1)))).toBe('notify:open');
    // An alert with no service groups only with alerts of its own name.
    expect(outcome(m.ingest(am({ name: 'NodeDown', service: '' }), at(2)))).toBe('notify:open');
    expect(outcome(m.ingest(am({ name: 'NodeDown', service: '', severity: 'warning' }), at(3)))).toBe('grouped');
    // The mysql-main group last heard anything at minute 0; a related alert 11 minutes later opens a new group.
    expect(outcome(m.ingest(am({ service: 'wallet-service' }), at(11)))).toBe('notify:open');
    expect(m.groupViews().map((g) => g.root)).toEqual([
      'mysql-main',
      'market-data',
      'alert:NodeDown',
      'wallet-service',
    ]);
  });

  it('says so when a resolve arrives for something never notified', () => {
    const m = manager();
    const decision = m.ingest(am({ status: 'resolved' }), at(0));
    expect(decision).toMatchObject({ action: 'suppress', reason: 'resolved-unnotified' });
    expect(outcome(m.ingest(am({ status: 'resolved', replica: 'k8s-1' }), at(0, 7)))).toBe('duplicate');
  });
});

describe('AlertManager: flapping', () => {
  /** Fires at minute t and resolves at t + 3, every 6 minutes, like the scenario generator's noisy alert. */
  function flap(m: AlertManager, cycles: number, from = 0): string[] {
    const out: string[] = [];
    for (let k = 0; k < cycles; k++) {
      const t = from + k * 6;
      const spec = { name: 'CPUThrottlingHigh', service: 'redis-cache', severity: 'info', startsAt: at(t) };
      out.push(outcome(m.ingest(am(spec), at(t))));
      out.push(outcome(m.ingest(am({ ...spec, status: 'resolved', endsAt: at(t + 3) }), at(t + 3))));
    }
    return out;
  }

  it('holds an alert after N changes in M minutes and sends the resolve once it has stayed resolved', () => {
    const m = manager();
    expect(flap(m, 5)).toEqual(['notify:open', 'notify:resolve', 'notify:open', ...Array(7).fill('flapping')]);
    // Last change at minute 27; stable after 15 minutes.
    expect(m.tick(at(41))).toEqual([]);
    const released = m.tick(at(42));
    expect(released).toHaveLength(1);
    expect(released[0]).toMatchObject({ kind: 'resolve', severity: 'info', route: { slackChannel: '#sre-info' } });
    expect(m.tick(at(60))).toEqual([]);
  });

  it('with an odd N, holds a re-fire and notifies it once the alert has kept firing', () => {
    const m = manager({ flapping: { changes: 3, windowMinutes: 30, stableMinutes: 10 } });
    expect(flap(m, 3)).toEqual(['notify:open', 'notify:resolve', 'flapping', 'flapping', 'flapping', 'flapping']);
    const spec = { name: 'CPUThrottlingHigh', service: 'redis-cache', severity: 'info', startsAt: at(18) };
    const repeats = [18, 23, 28].map((t) => outcome(m.ingest(am(spec), at(t))));
    expect(repeats).toEqual(['flapping', 'flapping', 'notify:open']);
    expect(outcome(m.ingest(am(spec), at(33)))).toBe('duplicate');
  });

  it('settles silently when the alert ends up where it was last reported', () => {
    const m = manager();
    // The fourth change is a resolve: held while people were last told it fires.
    expect(flap(m, 2)).toEqual(['notify:open', 'notify:resolve', 'notify:open', 'flapping']);
    const spec = { name: 'CPUThrottlingHigh', service: 'redis-cache', severity: 'info', startsAt: at(12) };
    expect(outcome(m.ingest(am(spec), at(12)))).toBe('flapping');
    // Firing again, as last reported: releasing it at minute 27 needs no message.
    expect(m.tick(at(26))).toEqual([]);
    expect(outcome(m.ingest(am(spec), at(26, 30)))).toBe('flapping');
    expect(m.tick(at(27))).toEqual([]);
    expect(outcome(m.ingest(am(spec), at(30)))).toBe('duplicate');
    // Released: the next resolve is an ordinary one.
    expect(outcome(m.ingest(am({ ...spec, status: 'resolved', endsAt: at(31) }), at(31)))).toBe('notify:resolve');
  });
});

describe('AlertManager: maintenance', () => {
  const window = { services: ['mysql-main'], start: iso(at(0)), end: iso(at(60)), reason: 'MySQL minor upgrade' };

  it('silences the services in a window, and notifies what is still firing when it ends', () => {
    const m = manager({ maintenance: [window] });
    const quiet = m.ingest(am({ name: 'DatastoreConnectionsHigh', service: 'mysql-main' }), at(5));
    expect(quiet).toMatchObject({ action: 'suppress', reason: 'maintenance' });
    expect(quiet.action === 'suppress' && quiet.detail).toContain('MySQL minor upgrade');
    expect(outcome(m.ingest(am({ name: 'DatastoreConnectionsHigh', service: 'mysql-main' }), at(10)))).toBe(
      'maintenance',
    );
    // Other services are not covered.
    expect(outcome(m.ingest(am({ service: 'market-data' }), at(6)))).toBe('notify:open');
    // Still firing after the window: news.
    expect(outcome(m.ingest(am({ name: 'DatastoreConnectionsHigh', service: 'mysql-main' }), at(60)))).toBe(
      'notify:open',
    );
  });

  it('does not notify the resolve of an alert that fired only inside the window', () => {
    const m = manager({ maintenance: [{ ...window, services: undefined }] });
    expect(outcome(m.ingest(am({ service: 'order-api' }), at(5)))).toBe('maintenance');
    expect(outcome(m.ingest(am({ service: 'order-api', status: 'resolved' }), at(20)))).toBe('resolved-unnotified');
  });

  it('treats change freezes as maintenance only when configured to', () => {
    const freeze = [{ start: iso(at(0)), end: iso(at(60)), reason: 'token listing' }];
    expect(outcome(manager({}, freeze).ingest(am(), at(5)))).toBe('notify:open');
    const frozen = manager({ changeFreezesAsMaintenance: true }, freeze).ingest(am(), at(5));
    expect(frozen).toMatchObject({ reason: 'maintenance', detail: expect.stringContaining('token listing') });
  });
});

describe('AlertManager: heartbeats', () => {
  const watchdog = (replica = 'k8s-0') => am({ name: 'Watchdog', service: '', severity: 'none', replica });

  it('never notifies the Watchdog, and notifies once when it goes missing and once when it is back', () => {
    const m = manager();
    for (let t = 0; t <= 20; t += 5) {
      expect(outcome(m.ingest(watchdog('k8s-0'), at(t)))).toBe('heartbeat');
      expect(outcome(m.ingest(watchdog('k8s-1'), at(t, 4)))).toBe('heartbeat');
      expect(m.checkHeartbeats(at(t, 30))).toEqual([]);
    }
    // Last seen at 20:04; interval 5 + grace 5 minutes.
    expect(m.checkHeartbeats(at(30, 4))).toEqual([]);
    const missing = m.checkHeartbeats(at(30, 5));
    expect(missing).toHaveLength(1);
    expect(missing[0]).toMatchObject({
      kind: 'open',
      severity: 'critical',
      title: expect.stringContaining('Watchdog missing'),
      delivery: { slack: { channel: '#sre-critical', mode: 'post' }, pagerduty: { action: 'trigger' } },
      messages: 2,
    });
    expect(m.tick(at(45))).toEqual([]);
    m.ingest(watchdog(), at(50));
    const back = m.tick(at(50, 30));
    expect(back).toHaveLength(1);
    expect(back[0]).toMatchObject({ kind: 'resolve', delivery: { pagerduty: { action: 'resolve' } }, messages: 1 });
    expect(m.counters()).toMatchObject({ notifications: 2, suppressed: { heartbeat: 11 } });
  });

  it('never notifies InfoInhibitor and does not expect it to repeat', () => {
    const m = manager();
    expect(outcome(m.ingest(am({ name: 'InfoInhibitor', service: '', severity: 'none' }), at(0)))).toBe('heartbeat');
    expect(m.checkHeartbeats(at(120))).toEqual([]);
  });
});

describe('AlertManager: routing', () => {
  const night = Date.parse('2026-11-04T15:00:00Z'); // 23:00 at UTC+8
  const saturday = Date.parse('2026-11-07T03:00:00Z'); // 11:00 on a Saturday at UTC+8

  it('knows business hours in the configured offset', () => {
    const m = manager();
    expect(m.isBusinessHours(T0)).toBe(true);
    expect(m.isBusinessHours(night)).toBe(false);
    expect(m.isBusinessHours(saturday)).toBe(false);
    const utc = manager({ businessHours: { utcOffsetMinutes: 0, start: '02:00', end: '03:00' } });
    expect(utc.isBusinessHours(T0 - 1)).toBe(true);
    expect(utc.isBusinessHours(T0)).toBe(false);
  });

  it('pages for critical core and funds services at any hour, and for standard ones only in business hours', () => {
    const m = manager();
    expect(m.routeFor('critical', 'funds', night)).toMatchObject({ page: true, slackChannel: '#sre-critical' });
    expect(m.routeFor('critical', 'standard', T0)).toMatchObject({ page: true, ticket: true });
    expect(m.routeFor('critical', 'standard', night)).toMatchObject({ page: false, ticket: true });
    expect(m.routeFor('warning', 'core', T0)).toMatchObject({ page: false, ticket: false });
    expect(m.routeFor('warning', 'core', saturday)).toMatchObject({ page: false, ticket: true });
    expect(m.routeFor('warning', 'funds', T0)).toMatchObject({ ticket: true });
    expect(m.routeFor('info', 'funds', T0)).toMatchObject({ slackChannel: '#sre-info', page: false, ticket: false });
  });

  it('routes a group by its most critical service, and falls back to the default route', () => {
    const m = manager({
      routes: [{ severity: ['critical'], criticality: ['funds'], route: { slackChannel: '#custody', ticket: true } }],
      defaultRoute: { slackChannel: '#catch-all' },
    });
    const open = notificationOf(m.ingest(am({ service: 'wallet-service' }), at(0)));
    expect(open.route).toEqual({ slackChannel: '#custody', page: false, ticket: true });
    expect(open).toMatchObject({ messages: 2, delivery: { ticket: 'create' } });
    expect(notificationOf(m.ingest(am({ service: 'market-data' }), at(1))).route.slackChannel).toBe('#catch-all');
  });
});

describe('AlertManager: agent incidents', () => {
  const incident = (status: 'open' | 'resolved', services: string[], id = 'inc-20261104T0300-order-api') => ({
    id,
    status,
    services,
  });

  it('notifies an incident no alert announced, escalates with its tier and names a deeper root cause', () => {
    const m = manager();
    const open = m.incident({ incident: incident('open', ['order-api', 'api-gateway']) }, at(0));
    expect(notificationOf(open)).toMatchObject({ kind: 'open', severity: 'warning', rootService: 'order-api' });
    const tier = m.incident({ incident: incident('open', ['order-api', 'api-gateway']), tier: 'HIGH' }, at(2));
    expect(notificationOf(tier)).toMatchObject({ kind: 'escalation', severity: 'critical' });
    const same = m.incident({ incident: incident('open', ['order-api', 'api-gateway']), tier: 'HIGH' }, at(3));
    expect(outcome(same)).toBe('grouped');
    const diagnosed = m.incident(
      {
        incident: incident('open', ['order-api', 'api-gateway']),
        rootCause: { service: 'mysql-main', kind: 'datastore-saturation' },
        tier: 'HIGH',
      },
      at(4),
    );
    expect(notificationOf(diagnosed)).toMatchObject({ kind: 'root-cause', rootService: 'mysql-main' });
    // Alerts about the same problem now fold in; the group resolves when both alerts and the incident have.
    expect(outcome(m.ingest(am({ name: 'DatastoreConnectionsHigh', service: 'mysql-main' }), at(5)))).toBe('grouped');
    expect(outcome(m.ingest(am({ service: 'wallet-service' }), at(5)))).toBe('inhibited');
    expect(outcome(m.incident({ incident: incident('resolved', ['order-api']) }, at(20)))).toBe('grouped');
    expect(outcome(m.ingest(am({ service: 'wallet-service', status: 'resolved' }), at(21)))).toBe('grouped');
    const last = m.ingest(am({ name: 'DatastoreConnectionsHigh', service: 'mysql-main', status: 'resolved' }), at(22));
    expect(notificationOf(last)).toMatchObject({ kind: 'resolve', incidents: ['inc-20261104T0300-order-api'] });
    expect(m.counters()).toMatchObject({ incidentUpdates: 5, notifications: 4 });
  });

  it('folds an incident into the alert group already paging for it', () => {
    const m = manager();
    m.ingest(am({ service: 'order-api' }), at(0));
    expect(outcome(m.incident({ incident: incident('open', ['order-api']), tier: 'MEDIUM' }, at(2)))).toBe('grouped');
    const caller = m.incident({ incident: incident('open', ['api-gateway'], 'inc-2') }, at(3));
    expect(outcome(caller)).toBe('inhibited');
    expect(outcome(m.incident({ incident: incident('resolved', ['api-gateway'], 'inc-9') }, at(4)))).toBe(
      'resolved-unnotified',
    );
  });
});

describe('AlertManager: counters', () => {
  it('accounts for every alert and update with exactly one decision', () => {
    const m = manager();
    const decisions = [
      m.ingest(am({ service: 'mysql-main' }), at(0)),
      m.ingest(am({ service: 'mysql-main', replica: 'k8s-1' }), at(0, 7)),
      m.ingest(am({ service: 'order-api' }), at(1)),
      m.ingest(am({ name: 'Watchdog', service: '' }), at(1)),
      m.incident({ incident: { id: 'i1', status: 'open', services: ['order-api'] } }, at(2)),
      m.ingest(am({ service: 'mysql-main', status: 'resolved' }), at(9)),
    ];
    const c = m.counters();
    const suppressed = SUPPRESSION_REASONS.reduce((sum, r) => sum + c.suppressed[r], 0);
    const notifies = decisions.filter((d) => d.action === 'notify').length;
    expect(c.raw + c.incidentUpdates).toBe(decisions.length);
    expect(suppressed + notifies).toBe(decisions.length);
    expect(c.notifications).toBe(notifies);
    // The incident on order-api is a symptom of the paging mysql-main group.
    expect(c.suppressed).toMatchObject({ duplicate: 1, inhibited: 2, heartbeat: 1, grouped: 1 });
  });
});

describe('AlertManager: state size', () => {
  it('forgets resolved alerts, incidents and groups once nothing looks back at them', () => {
    const m = manager();
    m.ingest(am(), at(0));
    m.incident({ incident: { id: 'i1', status: 'open', services: ['market-data'] } }, at(1));
    m.ingest(am({ status: 'resolved', endsAt: at(5) }), at(5));
    m.incident({ incident: { id: 'i1', status: 'resolved', services: ['market-data'] } }, at(6));
    m.ingest(am({ service: 'mysql-main' }), at(7));
    m.tick(at(65));
    // The resolved alert changed state at minute 5: kept for an hour.
    expect(m.snapshot().alerts).toHaveLength(2);
    m.tick(at(67));
    const snapshot = m.snapshot();
    // Only the alert still firing, and its group, remain.
    expect(snapshot.alerts.map(([, entry]) => entry.alert.service)).toEqual(['mysql-main']);
    expect(snapshot.incidents).toEqual([]);
    expect(m.groupViews().map((g) => [g.root, g.status])).toEqual([['mysql-main', 'open']]);
    expect(outcome(m.ingest(am(), at(70)))).toBe('notify:open');
  });
});

describe('alerting config', () => {
  it('works out of the box', () => {
    const config = defaultAlertingConfig();
    expect(config).toMatchObject({
      groupWindowMinutes: 15,
      flapping: { changes: 4, windowMinutes: 30, stableMinutes: 15 },
      maintenance: [],
      changeFreezesAsMaintenance: false,
      heartbeat: { names: ['Watchdog', 'DeadMansSwitch'], intervalMinutes: 5, graceMinutes: 5 },
      silentNames: ['InfoInhibitor'],
      businessHours: { utcOffsetMinutes: 480, days: [1, 2, 3, 4, 5], start: '09:00', end: '18:00' },
      defaultRoute: { slackChannel: '#sre-alerts', page: false, ticket: false },
    });
    expect(config.routes).toHaveLength(7);
  });

  it('names what is wrong', () => {
    const problems = (input: unknown): string[] => {
      const parsed = alertingConfigSchema.safeParse(input);
      return parsed.success ? [] : parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`);
    };
    expect(problems({ defaultRoute: { slackChannel: '#x', page: true } })).toEqual([
      'defaultRoute.pagerdutyService: page: true needs a pagerdutyService to page',
    ]);
    expect(problems({ maintenance: [{ start: iso(at(10)), end: iso(at(0)), reason: 'r' }] })).toEqual([
      'maintenance.0.end: must be after start',
    ]);
    expect(problems({ businessHours: { start: '18:00', end: '09:00' } })).toEqual([
      'businessHours.end: must be after start',
    ]);
    expect(problems({ flapping: { changes: 1 } })).toHaveLength(1);
    expect(problems({ unknown: true })).toHaveLength(1);
  });

  it('checks maintenance windows against the topology', () => {
    const config = alertingConfigSchema.parse({
      maintenance: [{ services: ['mysql-main', 'mysql-typo'], start: iso(at(0)), end: iso(at(5)), reason: 'r' }],
    });
    expect(alertingTopologyProblems(config, topology)).toEqual([
      'alerting.maintenance[0].services[1]: unknown service "mysql-typo"',
    ]);
  });
});

// ---------------------------------------------------------------------------------------------------------------
// Whole scenario streams (generated by the shared scenario tool, copied under test/fixtures/alerts)

interface FixtureTruth {
  readonly faults: { readonly id: string; readonly start: string; readonly end: string; readonly rootCause: string }[];
  readonly alerts: { readonly raw: number };
}

interface Replay {
  readonly notifications: Notification[];
  readonly raw: number;
  readonly messages: number;
  readonly lastDelivery: number;
  readonly manager: AlertManager;
}

/**
 * Feeds a scenario's deliveries in time order, ticking every minute as the replay does. With `stateless`, the state
 * goes through a JSON snapshot after every delivery, as a Lambda per webhook would store it.
 */
function replay(dir: string, stateless = false): Replay {
  const spec = parse(readFileSync(join(dir, 'scenario.yaml'), 'utf8')) as { topology: unknown };
  const options = { config: defaultAlertingConfig(), graph: new ServiceGraph(topologySchema.parse(spec.topology)) };
  let m = new AlertManager(options);
  const lines = gunzipSync(readFileSync(join(dir, 'alerts.jsonl.gz')))
    .toString('utf8')
    .split('\n')
    .filter((line) => line.trim() !== '')
    .map((line) => JSON.parse(line) as { receivedAt: string; payload: unknown });
  const notifications: Notification[] = [];
  let tick = Math.floor(Date.parse(lines[0].receivedAt) / 60_000) * 60_000;
  for (const line of lines) {
    const now = Date.parse(line.receivedAt);
    for (; tick + 60_000 <= now; tick += 60_000) notifications.push(...m.tick(tick + 60_000));
    for (const alert of normaliseAlertmanagerWebhook(line.payload)) {
      const decision = m.ingest(alert, now);
      if (decision.action === 'notify') notifications.push(decision.notification);
    }
    if (stateless) m = AlertManager.restore(JSON.parse(JSON.stringify(m.snapshot())), options);
  }
  // Let held flapping alerts settle, staying within the heartbeat's tolerance.
  for (let k = 0; k < 5; k++) notifications.push(...m.tick(tick + (k + 1) * 60_000));
  const counters = m.counters();
  return {
    notifications,
    raw: counters.raw,
    messages: counters.messages,
    lastDelivery: Date.parse(lines[lines.length - 1].receivedAt),
    manager: m,
  };
}

describe('AlertManager over whole scenario alert streams', () => {
  const root = join(__dirname, '../fixtures/alerts');
  const names = readdirSync(root).sort();

  it('has fixtures to run', () => {
    expect(names.length).toBeGreaterThanOrEqual(4);
  });

  it.each(names)(
    '%s: at least 90%% fewer notifications, every fault root notified, nobody paged outside faults',
    (name) => {
      const dir = join(root, name);
      const truth = JSON.parse(readFileSync(join(dir, 'truth.json'), 'utf8')) as FixtureTruth;
      const run = replay(dir);
      expect(run.raw).toBe(truth.alerts.raw);
      expect(run.messages).toBeLessThanOrEqual(run.raw * 0.1);
      expect(run.notifications.reduce((sum, n) => sum + n.messages, 0)).toBe(run.messages);

      for (const fault of truth.faults) {
        const from = Date.parse(fault.start);
        const to = Date.parse(fault.end) + 15 * 60_000;
        const announced = run.notifications.filter(
          (n) => n.kind !== 'resolve' && n.rootService === fault.rootCause && n.at >= from && n.at <= to,
        );
        expect({ fault: fault.id, root: fault.rootCause, announced: announced.length > 0 }).toEqual({
          fault: fault.id,
          root: fault.rootCause,
          announced: true,
        });
      }

      const pages = run.notifications.filter((n) => n.delivery.pagerduty?.action === 'trigger');
      for (const page of pages) {
        const inFault = truth.faults.some(
          (f) => page.at >= Date.parse(f.start) && page.at <= Date.parse(f.end) + 15 * 60_000,
        );
        expect({ page: page.title, inFault }).toEqual({ page: page.title, inFault: true });
      }
      // Every group that opened was closed again.
      expect(run.manager.groupViews().filter((g) => g.status === 'open')).toEqual([]);
    },
  );

  it('is deterministic', () => {
    const dir = join(root, names[0]);
    expect(replay(dir).notifications).toEqual(replay(dir).notifications);
  });

  it('carries on identically from JSON snapshots taken after every delivery', () => {
    for (const name of names) {
      const whole = replay(join(root, name));
      const pieces = replay(join(root, name), true);
      expect(pieces.notifications).toEqual(whole.notifications);
      expect(pieces.manager.counters()).toEqual(whole.manager.counters());
      expect(pieces.manager.snapshot()).toEqual(whole.manager.snapshot());
    }
  });

  it('refuses a snapshot of an unknown version', () => {
    const snapshot = { ...manager().snapshot(), version: 2 } as unknown as AlertManagerSnapshot;
    expect(() => AlertManager.restore(snapshot, { config: defaultAlertingConfig(), graph })).toThrow(
      'alert manager snapshot version 2 is unknown',
    );
  });

  it('notices once when the stream (and with it the Watchdog) stops', () => {
    const run = replay(join(root, names[0]));
    const after = [15, 20, 30, 60].flatMap((minutes) => run.manager.tick(run.lastDelivery + minutes * 60_000));
    expect(after.map((n) => [n.kind, n.title])).toEqual([
      ['open', '[CRITICAL] Heartbeat Watchdog missing: the alerting pipeline may be down'],
    ]);
  });
});
