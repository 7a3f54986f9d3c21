// Each root-cause analyzer on hand-built incidents of an exchange: what it points at, how strongly, with which
// kind, and whether its evidence names the signal, the values, the time, the deploy, the log line or the event.

import type { DeployRecord } from '../../lambdas/core/cognition/classify';
import type { Incident, IncidentSignal } from '../../lambdas/core/cognition/incident';
import type { KubeFinding } from '../../lambdas/core/cognition/kube-findings';
import { compareServiceLogs, type ServiceLogFindings } from '../../lambdas/core/cognition/log-signatures';
import { topologySchema } from '../../lambdas/core/config/schema';
import {
  ANALYZERS,
  type Analyzer,
  clockOf,
  type DiagnosisContext,
  describeSignal,
  type Finding,
  KNOWLEDGE_MAX_WEIGHT,
  runAnalyzers,
  type SimilarCase,
} from '../../lambdas/core/diagnosis/analyzers';
import { ServiceGraph } from '../../lambdas/core/topology';

const graph = new ServiceGraph(
  topologySchema.parse({
    services: [
      { name: 'api-gateway', criticality: 'core', dependsOn: ['order-api', 'wallet-service', 'market-data'] },
      { name: 'order-api', criticality: 'core', dependsOn: ['matching-engine', 'mysql-main', 'redis-cache'] },
      { name: 'wallet-service', criticality: 'funds', dependsOn: ['mysql-main'] },
      { name: 'market-data', dependsOn: ['redis-cache'] },
      { name: 'matching-engine', criticality: 'core' },
      { name: 'settlement-worker', dependsOn: ['trade-events', 'mysql-main'] },
      { name: 'trade-events', kind: 'queue' },
      { name: 'mysql-main', kind: 'datastore', criticality: 'core' },
      { name: 'redis-cache', kind: 'datastore' },
    ],
  }),
);

const at = (hhmm: string, day = '2026-11-04'): string => `${day}T${hhmm}:00Z`;
const ms = (hhmm: string, day?: string): number => Date.parse(at(hhmm, day));

function sig(
  entity: string,
  signalId: string,
  from: string,
  value: number,
  expected: number,
  z: number,
  extra: Partial<IncidentSignal> = {},
): IncidentSignal {
  return {
    key: `${extra.predictedBreachAt ? 'forecast:' : ''}${signalId}{${entity}}`,
    signalId,
    entity,
    firstAnomalousAt: at(from),
    lastRaisedAt: at(from),
    peakZ: z,
    peakScore: 1,
    valueAtPeak: value,
    expectedAtPeak: expected,
    hardLimitBreached: false,
    ...extra,
  };
}

function incidentOf(signals: IncidentSignal[], extra: Partial<Incident> = {}): Incident {
  const ordered = [...signals].sort((a, b) => a.firstAnomalousAt.localeCompare(b.firstAnomalousAt));
  const opened = new Date(Date.parse(ordered[0].firstAnomalousAt) + 2 * 60_000).toISOString().replace('.000Z', 'Z');
  const last = new Date(Date.parse(ordered[ordered.length - 1].firstAnomalousAt) + 20 * 60_000)
    .toISOString()
    .replace('.000Z', 'Z');
  return {
    id: `inc-test-${ordered[0].entity}`,
    status: 'open',
    kind: 'anomaly',
    openedAt: opened,
    updatedAt: last,
    lastAnomalyAt: last,
    services: [...new Set(ordered.map((s) => s.entity))],
    signals,
    version: 3,
    ...extra,
  };
}

function ctxOf(
  incident: Incident,
  parts: Partial<Omit<DiagnosisContext, 'incident' | 'graph'>> = {},
): DiagnosisContext {
  return { incident, graph, deploys: [], logs: [], kube: [], similarCases: [], ...parts };
}

/** A service's error lines: each entry is [HH:MM:SS, line, how many times], spread over that minute. */
type Lines = [string, string, number][];

function logsOf(service: string, window: [string, string], incident: Lines, baseline: Lines = []): ServiceLogFindings {
  const expand = (entries: Lines) =>
    entries.flatMap(([time, line, count]) =>
      Array.from({ length: count }, (_, i) => ({
        time: Date.parse(`2026-11-04T${time}Z`) + i * 500,
        labels: { service },
        line: line.replace('#', String(1000 + i * 37)),
      })),
    );
  const start = ms(window[0]);
  const end = ms(window[1]);
  const incidentLines = expand(incident);
  const baselineLines = expand(baseline);
  return compareServiceLogs({
    service,
    incident: { startMs: start, endMs: end, errorLines: incidentLines.length, lines: incidentLines },
    baseline: { startMs: start - 3_600_000, endMs: start, errorLines: baselineLines.length, lines: baselineLines },
  });
}

function kubeOf(service: string, kind: KubeFinding['kind'], from: string, to: string, count: number, evidence: string) {
  const critical = ['crash-loop', 'oom-killed', 'node-not-ready', 'rollout-stuck', 'liveness-probe-failed'];
  return {
    service,
    kind,
    severity: critical.includes(kind) ? 'critical' : 'warning',
    count,
    firstSeen: ms(from),
    lastSeen: ms(to),
    evidence,
    objects: [`trading/${service}-7c9f5d8b6-xk2pq`],
  } as KubeFinding;
}

const analyzer = (name: string): Analyzer => {
  const found = ANALYZERS.find((a) => a.name === name);
  if (!found) throw new Error(`no analyzer ${name}`);
  return found;
};
const run = (name: string, ctx: DiagnosisContext): Finding[] => analyzer(name).run(ctx);
const texts = (f: Finding): string[] => f.evidence.map((e) => e.text);

// A release of order-api at 03:03 that breaks order placement; the gateway in front of it sees it a minute later.
const badDeploySignals = [
  sig('order-api', 'error_ratio', '03:05', 0.0949, 0.00169, 240, { hardLimitBreached: true }),
  sig('order-api', 'latency_p99', '03:05', 0.105, 0.0359, 45),
  sig('api-gateway', 'error_ratio', '03:06', 0.0196, 0.00174, 49),
];
const release: DeployRecord = { time: ms('03:03'), service: 'order-api', version: 'v2.4.0', previousVersion: 'v2.3.9' };

describe('the registry', () => {
  it('holds every analyzer the engine relies on, each with a name and a description', () => {
    expect(ANALYZERS.map((a) => a.name)).toEqual(
      expect.arrayContaining([
        'change-correlation',
        'dependency-propagation',
        'datastore-saturation',
        'queue-lag',
        'resource-exhaustion',
        'external-surge',
        'error-signature-novelty',
        'kubernetes-events',
        'knowledge-prior',
      ]),
    );
    expect(new Set(ANALYZERS.map((a) => a.name)).size).toBe(ANALYZERS.length);
    for (const a of ANALYZERS) expect(a.description.length).toBeGreaterThan(30);
  });

  it('orders findings by service, analyzer and weight, holds weights to [0, 1] and drops non-numbers', () => {
    const loud: Analyzer = {
      name: 'loud',
      description: 'test analyzer that overstates',
      run: () => [
        { analyzer: 'loud', service: 'order-api', weight: 1.7, evidence: [{ source: 'metrics', text: 'x' }] },
        { analyzer: 'loud', service: 'api-gateway', weight: 0.2, evidence: [{ source: 'metrics', text: 'y' }] },
        { analyzer: 'loud', service: 'mysql-main', weight: Number.NaN, evidence: [] },
      ],
    };
    const ctx = ctxOf(incidentOf(badDeploySignals), { deploys: [release] });
    const findings = runAnalyzers(ctx, [loud, ...ANALYZERS]);
    expect(findings.find((f) => f.analyzer === 'loud' && f.service === 'order-api')?.weight).toBe(1);
    expect(findings.some((f) => f.service === 'mysql-main')).toBe(false);
    const keys = findings.map((f) => `${f.service}/${f.analyzer}`);
    expect(keys).toEqual([...keys].sort());
    for (const f of findings) expect(f.weight).toBeGreaterThanOrEqual(0);
  });
});

describe('evidence formatting', () => {
  it('gives the signal, value against expected in its unit, ratio, z, the hard limit and HH:MM', () => {
    expect(describeSignal(badDeploySignals[0], ms('03:07'))).toBe(
      'error_ratio 9.49% vs 0.169% expected (x56.2, z 240, over its hard limit), anomalous from 03:05',
    );
    expect(describeSignal(badDeploySignals[1], ms('03:07'))).toBe(
      'latency_p99 105 ms vs 35.9 ms expected (x2.92, z 45), anomalous from 03:05',
    );
    const forecast = sig('mysql-main', 'disk_free', '06:25', 0.395, Number.NaN, Number.NaN, {
      predictedBreachAt: at('10:47'),
      limit: 0.05,
    });
    expect(describeSignal(forecast, ms('05:17'))).toBe(
      'disk_free 39.5%, forecast to cross its limit of 5% at 10:47 (forecast since 06:25)',
    );
  });

  it('adds the date when a time is not on the day the incident opened', () => {
    expect(clockOf(ms('23:50', '2026-11-03'), ms('00:10'))).toBe('2026-11-03 23:50');
    expect(clockOf(ms('00:05'), ms('00:10'))).toBe('00:05');
  });
});

describe('change-correlation', () => {
  it('blames a deploy 2 minutes before errors and latency rose, naming versions and times', () => {
    const [finding, ...rest] = run('change-correlation', ctxOf(incidentOf(badDeploySignals), { deploys: [release] }));
    expect(rest).toEqual([]);
    expect(finding).toMatchObject({ service: 'order-api', kind: 'bad-deploy', weight: 0.45 });
    expect(finding.evidence[0]).toEqual({
      source: 'deploys',
      at: '2026-11-04T03:03:00Z',
      text: 'order-api deployed v2.3.9 -> v2.4.0 at 03:03, 2 min before its first anomaly at 03:05',
    });
    expect(texts(finding)).toContain(
      'order-api error_ratio 9.49% vs 0.169% expected (x56.2, z 240, over its hard limit), anomalous from 03:05',
    );
  });

  it('weighs a deploy at the far end of the 30-minute window less, and ignores one 3 hours earlier', () => {
    const far = run(
      'change-correlation',
      ctxOf(incidentOf(badDeploySignals), { deploys: [{ ...release, time: ms('02:40') }] }),
    );
    expect(far).toHaveLength(1);
    expect(far[0].weight).toBeGreaterThan(0.3);
    expect(far[0].weight).toBeLessThan(0.45);
    const old = run(
      'change-correlation',
      ctxOf(incidentOf(badDeploySignals), { deploys: [{ ...release, time: ms('00:05') }] }),
    );
    expect(old).toEqual([]);
  });

  it('counts a deploy stamped within 5 minutes after the first anomalous sample as preceding it', () => {
    const [finding] = run(
      'change-correlation',
      ctxOf(incidentOf(badDeploySignals), { deploys: [{ ...release, time: ms('03:08') }] }),
    );
    expect(finding).toMatchObject({ kind: 'bad-deploy' });
    expect(finding.evidence[0].text).toContain('3 min after its first anomalous sample at 03:05');
  });

  it('notes a deploy made while the service was already failing, weakly and without a kind', () => {
    const [finding] = run(
      'change-correlation',
      ctxOf(incidentOf(badDeploySignals), { deploys: [{ ...release, time: ms('03:20') }] }),
    );
    expect(finding.kind).toBeUndefined();
    expect(finding.weight).toBe(0.1);
    expect(finding.evidence[0].text).toContain('15 min into its anomaly (from 03:05)');
  });

  it('does not count a rollback as a change', () => {
    const older: DeployRecord = {
      time: ms('00:05'),
      service: 'order-api',
      version: 'v2.4.0',
      previousVersion: 'v2.3.9',
    };
    const rollback: DeployRecord = {
      time: ms('03:20'),
      service: 'order-api',
      version: 'v2.3.9',
      previousVersion: 'v2.4.0',
    };
    expect(run('change-correlation', ctxOf(incidentOf(badDeploySignals), { deploys: [older, rollback] }))).toEqual([]);
  });

  it('suspects a deploy followed only by memory growth, without calling it a bad deploy', () => {
    const incident = incidentOf([sig('order-api', 'memory_utilisation', '03:15', 0.82, 0.55, 9)]);
    const [finding] = run('change-correlation', ctxOf(incident, { deploys: [release] }));
    expect(finding).toMatchObject({ service: 'order-api', weight: 0.2 });
    expect(finding.kind).toBeUndefined();
  });
});

describe('dependency-propagation', () => {
  const saturation = incidentOf([
    sig('mysql-main', 'datastore_connections', '14:10', 0.989, 0.403, 36, { hardLimitBreached: true }),
    sig('order-api', 'error_ratio', '14:11', 0.0284, 0.002, 51),
    sig('wallet-service', 'latency_p99', '14:11', 0.225, 0.0948, 32),
    sig('api-gateway', 'latency_p99', '14:12', 0.061, 0.035, 14),
  ]);

  it('points at the service whose dependants all went wrong after it, listing each with its delay', () => {
    const findings = run('dependency-propagation', ctxOf(saturation));
    expect(findings.map((f) => f.service)).toEqual(['mysql-main']);
    expect(findings[0].weight).toBe(0.35);
    expect(texts(findings[0])).toEqual([
      'mysql-main datastore_connections 98.9% vs 40.3% expected (x2.45, z 36, over its hard limit), anomalous from 14:10',
      'order-api (calls mysql-main) became anomalous 1 min after mysql-main: error_ratio 2.84% vs 0.2% expected (x14.2, z 51), anomalous from 14:11',
      'wallet-service (calls mysql-main) became anomalous 1 min after mysql-main: latency_p99 225 ms vs 94.8 ms expected (x2.37, z 32), anomalous from 14:11',
      'api-gateway (depends indirectly on mysql-main) became anomalous 2 min after mysql-main: latency_p99 61 ms vs 35 ms expected (x1.74, z 14), anomalous from 14:12',
    ]);
  });

  it('gives little to a dependant that went wrong in the same minute: the direction is not clear', () => {
    const sameMinute = incidentOf([
      sig('redis-cache', 'datastore_latency_p99', '09:00', 0.009, 0.0008, 40),
      sig('market-data', 'latency_p99', '09:00', 0.04, 0.01, 20),
    ]);
    const [finding] = run('dependency-propagation', ctxOf(sameMinute));
    expect(finding).toMatchObject({ service: 'redis-cache', weight: 0.05 });
    expect(finding.evidence[1].text).toContain('in the same minute as redis-cache');
  });

  it('counts only the first anomalous hop: a dependant explained by another follower is no evidence', () => {
    // matching-engine slowed in the same minute order-api failed; api-gateway followed order-api, not the engine.
    const incident = incidentOf([
      sig('order-api', 'error_ratio', '03:05', 0.0949, 0.00169, 240),
      sig('matching-engine', 'latency_p99', '03:05', 0.009, 0.004, 20),
      sig('api-gateway', 'error_ratio', '03:06', 0.0196, 0.00174, 49),
    ]);
    const [finding] = run('dependency-propagation', ctxOf(incident));
    expect(finding).toMatchObject({ service: 'matching-engine', weight: 0.05 });
    // Both dependants are still listed for the engineer, with their times.
    expect(texts(finding).slice(1)).toEqual([
      'order-api (calls matching-engine) became anomalous in the same minute as matching-engine: error_ratio 9.49% vs 0.169% expected (x56.2, z 240), anomalous from 03:05',
      'api-gateway (depends indirectly on matching-engine) became anomalous 1 min after matching-engine: error_ratio 1.96% vs 0.174% expected (x11.3, z 49), anomalous from 03:06',
    ]);
  });

  it('says nothing about a lone service or one whose dependency failed first', () => {
    expect(run('dependency-propagation', ctxOf(incidentOf([badDeploySignals[0]])))).toEqual([]);
    const findings = run('dependency-propagation', ctxOf(saturation));
    expect(findings.some((f) => f.service === 'order-api')).toBe(false);
  });
});

describe('datastore-saturation', () => {
  it('calls connections at their maximum on a datastore datastore-saturation, stronger with slow queries', () => {
    const incident = incidentOf([
      sig('mysql-main', 'datastore_connections', '14:10', 0.989, 0.403, 36, { hardLimitBreached: true }),
      sig('mysql-main', 'datastore_latency_p99', '14:10', 0.0186, 0.00317, 118),
    ]);
    const [finding] = run('datastore-saturation', ctxOf(incident));
    expect(finding).toMatchObject({ service: 'mysql-main', kind: 'datastore-saturation', weight: 0.5 });
    expect(texts(finding)).toEqual([
      'mysql-main datastore_connections 98.9% vs 40.3% expected (x2.45, z 36, over its hard limit), anomalous from 14:10',
      'mysql-main datastore_latency_p99 18.6 ms vs 3.17 ms expected (x5.87, z 118), anomalous from 14:10',
    ]);
  });

  it('weighs connections that rose but still have room less', () => {
    const incident = incidentOf([sig('mysql-main', 'datastore_connections', '14:10', 0.62, 0.4, 8)]);
    expect(run('datastore-saturation', ctxOf(incident))[0]).toMatchObject({
      kind: 'datastore-saturation',
      weight: 0.3,
    });
  });

  it('calls slow queries alone cache-latency, as the classification rules do', () => {
    const incident = incidentOf([sig('redis-cache', 'datastore_latency_p99', '09:00', 0.0072, 0.0008, 55)]);
    expect(run('datastore-saturation', ctxOf(incident))[0]).toMatchObject({
      service: 'redis-cache',
      kind: 'cache-latency',
      weight: 0.3,
    });
  });

  it('ignores connection-pool signals of a service that is not a datastore', () => {
    const incident = incidentOf([sig('order-api', 'datastore_connections', '14:10', 0.99, 0.4, 30)]);
    expect(run('datastore-saturation', ctxOf(incident))).toEqual([]);
  });
});

describe('queue-lag', () => {
  it('calls a growing backlog consumer-lag on the entity that reports it', () => {
    const incident = incidentOf([sig('trade-events', 'consumer_lag', '11:20', 48_000, 1_200, 95)]);
    const [finding] = run('queue-lag', ctxOf(incident));
    expect(finding).toMatchObject({ service: 'trade-events', kind: 'consumer-lag', weight: 0.4 });
    expect(texts(finding)[0]).toBe(
      'trade-events consumer_lag 48000 messages vs 1200 messages expected (x40, z 95), anomalous from 11:20',
    );
  });

  it('ignores a lag that fell', () => {
    const incident = incidentOf([sig('trade-events', 'consumer_lag', '11:20', 10, 1_200, -6)]);
    expect(run('queue-lag', ctxOf(incident))).toEqual([]);
  });
});

describe('resource-exhaustion', () => {
  it('calls memory at its limit with restarts memory-leak', () => {
    const incident = incidentOf([
      sig('order-api', 'memory_utilisation', '04:40', 0.97, 0.55, 22, { hardLimitBreached: true }),
      sig('order-api', 'pod_restarts', '05:31', 4, 0, Number.NaN),
    ]);
    const [finding] = run('resource-exhaustion', ctxOf(incident));
    expect(finding).toMatchObject({ service: 'order-api', kind: 'memory-leak', weight: 0.45 });
    expect(texts(finding)).toEqual([
      'order-api memory_utilisation 97% vs 55% expected (x1.76, z 22, over its hard limit), anomalous from 04:40',
      'order-api pod_restarts 4 restarts/5 min vs 0 restarts/5 min expected, anomalous from 05:31',
    ]);
  });

  it('weighs restarts alone less: a crash loop has many causes', () => {
    const incident = incidentOf([sig('order-api', 'pod_restarts', '05:31', 6, 0, 8)]);
    expect(run('resource-exhaustion', ctxOf(incident))[0]).toMatchObject({ kind: 'memory-leak', weight: 0.2 });
  });

  it('calls free disk forecast to run out disk-fill, with the predicted time', () => {
    const incident = incidentOf([
      sig('mysql-main', 'disk_free', '05:15', 0.44, 0.534, -9),
      sig('mysql-main', 'disk_free', '06:25', 0.395, Number.NaN, Number.NaN, {
        predictedBreachAt: at('10:47'),
        limit: 0.05,
      }),
    ]);
    const [finding] = run('resource-exhaustion', ctxOf(incident));
    expect(finding).toMatchObject({ service: 'mysql-main', kind: 'disk-fill', weight: 0.45 });
    expect(texts(finding)).toContain(
      'mysql-main disk_free 39.5%, forecast to cross its limit of 5% at 10:47 (forecast since 06:25)',
    );
  });

  it('weighs a fall of free disk that is far from its limit less', () => {
    const incident = incidentOf([sig('mysql-main', 'disk_free', '05:15', 0.44, 0.534, -9)]);
    expect(run('resource-exhaustion', ctxOf(incident))[0]).toMatchObject({ kind: 'disk-fill', weight: 0.3 });
  });
});

describe('external-surge', () => {
  const surge = [
    sig('api-gateway', 'request_rate', '09:30', 14_960, 2_692, 115),
    sig('api-gateway', 'cpu_utilisation', '09:30', 1, 0.37, 46, { hardLimitBreached: true }),
    sig('order-api', 'request_rate', '09:31', 2_790, 905, 60),
  ];

  it('points at the entry service where traffic rose, not at the services it passed the traffic to', () => {
    const findings = run('external-surge', ctxOf(incidentOf(surge)));
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ service: 'api-gateway', kind: 'traffic-surge', weight: 0.5 });
    expect(texts(findings[0])).toEqual([
      'api-gateway request_rate 14960 req/s vs 2692 req/s expected (x5.56, z 115), anomalous from 09:30',
      'request_rate rose downstream too: order-api x3.08 from 09:31',
    ]);
  });

  it('gives a modest surge at the entry less than a strong one', () => {
    const modest = incidentOf([sig('api-gateway', 'request_rate', '09:30', 5_100, 2_700, 20)]);
    expect(run('external-surge', ctxOf(modest))[0]).toMatchObject({ kind: 'traffic-surge', weight: 0.4 });
  });

  it('is not a surge when traffic fell or barely moved', () => {
    const fell = incidentOf([sig('api-gateway', 'request_rate', '09:30', 900, 2_700, -30)]);
    const wobble = incidentOf([sig('api-gateway', 'request_rate', '09:30', 3_100, 2_700, 3)]);
    expect(run('external-surge', ctxOf(fell))).toEqual([]);
    expect(run('external-surge', ctxOf(wobble))).toEqual([]);
  });

  it('does not call it a surge right after a deploy of the same service', () => {
    const deploy: DeployRecord = {
      time: ms('09:20'),
      service: 'api-gateway',
      version: 'v8.1.0',
      previousVersion: 'v8.0.3',
    };
    const [finding] = run('external-surge', ctxOf(incidentOf(surge), { deploys: [deploy] }));
    expect(finding.kind).toBeUndefined();
    expect(finding.weight).toBe(0.1);
    expect(texts(finding)).toContain(
      'but api-gateway was deployed v8.0.3 -> v8.1.0 at 09:20: retries against a broken release can look like a surge',
    );
  });

  it('weighs a surge less when the service logs new errors of its own', () => {
    const logs = logsOf(
      'api-gateway',
      ['09:25', '09:50'],
      [['09:31:00', 'ERROR failed to mint session token #: keystore locked', 12]],
    );
    const [finding] = run('external-surge', ctxOf(incidentOf(surge), { logs: [logs] }));
    expect(finding).toMatchObject({ kind: 'traffic-surge', weight: 0.3 });
  });

  it('weighs traffic that rose on an internal service, with its callers steady, less', () => {
    const internal = incidentOf([sig('order-api', 'request_rate', '09:31', 4_000, 900, 60)]);
    const [finding] = run('external-surge', ctxOf(internal));
    expect(finding).toMatchObject({ service: 'order-api', kind: 'traffic-surge', weight: 0.25 });
    expect(texts(finding)).toContain('order-api is called by api-gateway, whose traffic did not rise');
  });
});

describe('error-signature-novelty', () => {
  const window: [string, string] = ['03:00', '03:30'];
  const orderApiLogs = logsOf(
    'order-api',
    window,
    [
      [
        '03:05:10',
        'ERROR [http-nio-8080-exec-#] c.e.order.OrderController - POST /v1/orders failed: java.lang.NullPointerException: Cannot invoke "java.math.BigDecimal.scale()" because "req.quantity" is null',
        40,
      ],
    ],
    [['02:40:00', 'ERROR jwt validation failed for session #: token expired', 2]],
  );
  const gatewayLogs = logsOf('api-gateway', window, [
    ['03:06:00', 'error: upstream order-api returned 503 for POST /v1/orders in #ms', 24],
    ['03:07:30', 'ERROR client 10.0.4.7 disconnected: connection reset by peer', 1],
  ]);

  it('points at a service with new error signatures and a jump in its error rate, quoting them', () => {
    const findings = run('error-signature-novelty', ctxOf(incidentOf(badDeploySignals), { logs: [orderApiLogs] }));
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ service: 'order-api', weight: 0.4 });
    expect(findings[0].kind).toBeUndefined();
    expect(findings[0].evidence[0].at).toBe('2026-11-04T03:05:10Z');
    expect(texts(findings[0])[0]).toMatch(
      /^order-api: 40 error lines in 30 min vs 2 in the previous 60 min \(rate x40\); new: 'ERROR \[http-nio-<num>-exec-<num>\] c\.e\.order\.OrderController.*' x40 since 03:05$/,
    );
  });

  it('counts lines that name a dependency for the dependency, not for the service that logs them', () => {
    const findings = run('error-signature-novelty', ctxOf(incidentOf(badDeploySignals), { logs: [gatewayLogs] }));
    expect(findings.map((f) => f.service)).toEqual(['order-api']);
    expect(findings[0].weight).toBeCloseTo(0.18, 3);
    expect(texts(findings[0])).toEqual([
      "api-gateway logs 24 error lines naming order-api: 'error: upstream order-api returned 503 for POST /v1/orders in <dur>' x24 since 03:06 (new)",
    ]);
  });

  it('ignores the odd new line every service prints', () => {
    const chatter = logsOf('market-data', window, [['03:12:00', 'ERROR cache warmup skipped for symbol XRP-USDT', 2]]);
    expect(run('error-signature-novelty', ctxOf(incidentOf(badDeploySignals), { logs: [chatter] }))).toEqual([]);
  });

  it('halves the novelty when the baseline was only a sample', () => {
    const sampled: ServiceLogFindings = {
      ...orderApiLogs,
      baselineComplete: false,
      baseline: { ...orderApiLogs.baseline, errorLines: 900 },
      rateRatio: 1.33,
      excessLines: 0,
    };
    const [finding] = run('error-signature-novelty', ctxOf(incidentOf(badDeploySignals), { logs: [sampled] }));
    expect(finding.weight).toBe(0.15);
  });

  it('reads the kind from messages that name it: the JVM out of memory, a datastore out of connections', () => {
    const oom = logsOf('order-api', window, [['03:05:00', 'java.lang.OutOfMemoryError: Java heap space', 12]]);
    const pool = logsOf('wallet-service', window, [
      ['03:05:00', 'ERROR SQLSTATE[08004] [1040] Too many connections (host mysql-main.data.svc:3306)', 30],
    ]);
    const findings = run(
      'error-signature-novelty',
      ctxOf(incidentOf([...badDeploySignals, sig('mysql-main', 'datastore_connections', '03:04', 0.99, 0.4, 30)]), {
        logs: [oom, pool],
      }),
    );
    expect(findings.find((f) => f.service === 'order-api')?.kind).toBe('memory-leak');
    expect(findings.find((f) => f.service === 'mysql-main')).toMatchObject({
      kind: 'datastore-saturation',
      weight: 0.2,
    });
    expect(findings.some((f) => f.service === 'wallet-service')).toBe(false);
  });
});

describe('kubernetes-events', () => {
  const incident = incidentOf(badDeploySignals);

  it('calls image-pull failures after a deploy a bad deploy, citing the event and the deploy', () => {
    const pull = kubeOf(
      'order-api',
      'image-pull',
      '03:04',
      '03:12',
      9,
      '9x Failed on trading/order-api-7c9f5d8b6-xk2pq: Failed to pull image "registry/order-api:v2.4.0": not found',
    );
    const [finding] = run('kubernetes-events', ctxOf(incident, { kube: [pull], deploys: [release] }));
    expect(finding).toMatchObject({ service: 'order-api', kind: 'bad-deploy', weight: 0.35 });
    expect(texts(finding)).toEqual([
      'order-api image-pull (9x 03:04-03:12): the new release cannot start: its image does not pull; 9x Failed on trading/order-api-7c9f5d8b6-xk2pq: Failed to pull image "registry/order-api:v2.4.0": not found',
      'order-api deployed v2.3.9 -> v2.4.0 at 03:03, 1 min before the first image-pull',
    ]);
  });

  it('gives no kind to an image-pull failure without a recent deploy', () => {
    const pull = kubeOf(
      'order-api',
      'image-pull',
      '03:04',
      '03:12',
      3,
      '3x Failed on trading/order-api-x: ErrImagePull',
    );
    const [finding] = run('kubernetes-events', ctxOf(incident, { kube: [pull] }));
    expect(finding.kind).toBeUndefined();
    expect(finding.weight).toBe(0.1);
  });

  it('maps OOMKilled to memory-leak, a crash loop with OOM kills too, and an HPA at its maximum to a surge', () => {
    const kube = [
      kubeOf(
        'order-api',
        'oom-killed',
        '05:30',
        '05:45',
        6,
        'OOMKilled on trading/order-api-x (container app, exit code 137)',
      ),
      kubeOf(
        'order-api',
        'crash-loop',
        '05:31',
        '05:46',
        12,
        '12x BackOff on trading/order-api-x: Back-off restarting failed container app',
      ),
      kubeOf(
        'api-gateway',
        'hpa-at-max',
        '05:20',
        '05:46',
        1,
        'HPA edge/hpa/api-gateway at its maximum of 18 replicas',
      ),
      kubeOf('order-api', 'failed-scheduling', '05:35', '05:40', 2, '0/12 nodes are available: 12 Insufficient memory'),
    ];
    const leak = incidentOf([sig('order-api', 'memory_utilisation', '05:10', 0.97, 0.55, 22)], {
      updatedAt: at('05:50'),
      lastAnomalyAt: at('05:50'),
    });
    const findings = run('kubernetes-events', ctxOf(leak, { kube }));
    const of = (service: string, kind: string) =>
      findings.find((f) => f.service === service && f.evidence[0].text.includes(kind));
    expect(of('order-api', 'oom-killed')).toMatchObject({ kind: 'memory-leak', weight: 0.35 });
    expect(of('order-api', 'crash-loop')).toMatchObject({ kind: 'memory-leak', weight: 0.2 });
    expect(of('api-gateway', 'hpa-at-max')).toMatchObject({ kind: 'traffic-surge', weight: 0.25 });
    // There is no capacity fault kind: unschedulable pods are evidence only.
    expect(of('order-api', 'failed-scheduling')?.kind).toBeUndefined();
  });

  it('ignores findings that ended long before the incident began', () => {
    const old = kubeOf('order-api', 'crash-loop', '00:10', '00:40', 5, '5x BackOff on trading/order-api-x');
    expect(run('kubernetes-events', ctxOf(incident, { kube: [old] }))).toEqual([]);
  });
});

describe('funds-service', () => {
  it('marks errors of a service that moves money as funds-service-errors, with a small weight', () => {
    const incident = incidentOf([sig('wallet-service', 'error_ratio', '20:15', 0.101, 0.00163, 239)]);
    const [finding] = run('funds-service', ctxOf(incident));
    expect(finding).toMatchObject({ service: 'wallet-service', kind: 'funds-service-errors', weight: 0.05 });
    expect(texts(finding)[0]).toBe(
      'wallet-service moves money (criticality funds) and its error_ratio is anomalous from 20:15: handled as funds-service-errors, diagnosis only',
    );
    expect(run('funds-service', ctxOf(incidentOf(badDeploySignals)))).toEqual([]);
  });
});

describe('knowledge-prior', () => {
  const past = (
    service: string,
    similarity: number,
    incidentId = `inc-2026101${Math.round(similarity * 9)}`,
  ): SimilarCase => ({
    incidentId,
    service,
    kind: 'bad-deploy',
    similarity,
    outcome: 'remediated',
    actions: ['rollback'],
    summary: `release of ${service} broke order placement`,
  });

  it('raises a service of the incident by at most a little, from its most similar past case', () => {
    const findings = run(
      'knowledge-prior',
      ctxOf(incidentOf(badDeploySignals), {
        similarCases: [past('order-api', 0.62, 'inc-a'), past('order-api', 0.91, 'inc-b'), past('mysql-main', 0.99)],
      }),
    );
    expect(findings).toHaveLength(1);
    expect(findings[0]).toMatchObject({ service: 'order-api', kind: 'bad-deploy' });
    expect(findings[0].weight).toBeCloseTo(0.91 * KNOWLEDGE_MAX_WEIGHT, 3);
    expect(findings[0].weight).toBeLessThanOrEqual(KNOWLEDGE_MAX_WEIGHT);
    expect(texts(findings[0])).toEqual([
      'past incident inc-b (similarity 0.91) was bad-deploy on order-api, outcome remediated, actions rollback: release of order-api broke order placement (1 more similar past case)',
    ]);
  });

  it('ignores cases below the similarity floor', () => {
    const findings = run(
      'knowledge-prior',
      ctxOf(incidentOf(badDeploySignals), { similarCases: [past('order-api', 0.4)] }),
    );
    expect(findings).toEqual([]);
  });
});
