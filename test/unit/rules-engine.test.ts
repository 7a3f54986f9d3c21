// The rule-based root-cause engine on hand-built incidents of an exchange: which service and kind it names, how
// the evidence chain reads, how confident it is, and that the same input always gives the same diagnosis.

import fc from 'fast-check';
import type { DeployRecord } from '../../lambdas/core/cognition/classify';
import type { Incident, IncidentSignal } from '../../lambdas/core/cognition/incident';
import type { KubeFinding } from '../../lambdas/core/cognition/kube-findings';
import { compareServiceLogs, type ServiceLogFindings } from '../../lambdas/core/cognition/log-signatures';
import { rankByTopology } from '../../lambdas/core/cognition/rank';
import { topologySchema } from '../../lambdas/core/config/schema';
import type { DiagnosisContext, SimilarCase } from '../../lambdas/core/diagnosis/analyzers';
import { DiagnosisError, diagnoseByRules, type RuleDiagnosis } from '../../lambdas/core/diagnosis/rules-engine';
import { ServiceGraph } from '../../lambdas/core/topology';

const graph = new ServiceGraph(
  topologySchema.parse({
    services: [
      { name: 'api-gateway', criticality: 'core', dependsOn: ['order-api', 'wallet-service', 'market-data'] },
      { name: 'order-api', criticality: 'core', dependsOn: ['matching-engine', 'mysql-main', 'redis-cache'] },
      { name: 'wallet-service', criticality: 'funds', dependsOn: ['mysql-main'] },
      { name: 'market-data', dependsOn: ['redis-cache'] },
      { name: 'matching-engine', criticality: 'core' },
      { name: 'risk-engine', criticality: 'core' },
      { name: 'mysql-main', kind: 'datastore', criticality: 'core' },
      { name: 'redis-cache', kind: 'datastore' },
    ],
  }),
);

const at = (hhmm: string): string => `2026-11-04T${hhmm}:00Z`;
const ms = (hhmm: string): number => Date.parse(at(hhmm));

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
    key: `${signalId}{${entity}}`,
    signalId,
    entity,
    firstAnomalousAt: at(from),
    lastRaisedAt: at(from),
    peakZ: z,
    peakScore: Math.min(1, Math.abs(z) / 50),
    valueAtPeak: value,
    expectedAtPeak: expected,
    hardLimitBreached: false,
    ...extra,
  };
}

function incidentOf(signals: IncidentSignal[], lastUpdate: string): Incident {
  const ordered = [...signals].sort((a, b) => a.firstAnomalousAt.localeCompare(b.firstAnomalousAt));
  const opened = new Date(Date.parse(ordered[0].firstAnomalousAt) + 2 * 60_000).toISOString().replace('.000Z', 'Z');
  return {
    id: `inc-test-${ordered[0].entity}`,
    status: 'open',
    kind: 'anomaly',
    openedAt: opened,
    updatedAt: at(lastUpdate),
    lastAnomalyAt: at(lastUpdate),
    services: [...new Set(ordered.map((s) => s.entity))],
    signals,
    version: 4,
  };
}

function ctxOf(
  incident: Incident,
  parts: Partial<Omit<DiagnosisContext, 'incident' | 'graph'>> = {},
): DiagnosisContext {
  return { incident, graph, deploys: [], logs: [], kube: [], similarCases: [], ...parts };
}

/** Error lines of one service in a 30-minute window from `from`, against an hour before it. */
function logsOf(
  service: string,
  from: string,
  incident: [string, string, number][],
  baseline: [string, string, number][] = [],
): ServiceLogFindings {
  const expand = (entries: [string, string, number][]) =>
    entries.flatMap(([time, line, count]) =>
      Array.from({ length: count }, (_, i) => ({
        time: Date.parse(`2026-11-04T${time}Z`) + i * 700,
        labels: { service },
        line: line.replace('#', String(2000 + i * 13)),
      })),
    );
  const start = ms(from);
  const lines = expand(incident);
  const before = expand(baseline);
  return compareServiceLogs({
    service,
    incident: { startMs: start, endMs: start + 30 * 60_000, errorLines: lines.length, lines },
    baseline: { startMs: start - 3_600_000, endMs: start, errorLines: before.length, lines: before },
  });
}

function kubeOf(service: string, kind: KubeFinding['kind'], from: string, to: string, count: number, evidence: string) {
  return {
    service,
    kind,
    severity: kind === 'hpa-at-max' || kind === 'image-pull' ? 'warning' : 'critical',
    count,
    firstSeen: ms(from),
    lastSeen: ms(to),
    evidence,
    objects: [`trading/${service}-7c9f5d8b6-xk2pq`],
  } as KubeFinding;
}

const candidate = (d: RuleDiagnosis, service: string) => {
  const found = d.candidates.find((c) => c.service === service);
  if (!found) throw new Error(`${service} is not a candidate`);
  return found;
};

function expectTimeOrdered(d: RuleDiagnosis): void {
  for (const c of d.candidates) {
    const times = c.chain.filter((item) => item.at !== undefined).map((item) => Date.parse(item.at!));
    expect(times).toEqual([...times].sort((a, b) => a - b));
    // Facts without a time (topology summary, past cases) come after the timed ones.
    const firstUntimed = c.chain.findIndex((item) => item.at === undefined);
    if (firstUntimed >= 0) expect(c.chain.slice(firstUntimed).every((item) => item.at === undefined)).toBe(true);
  }
}

// --- A release of order-api at 03:03 breaks order placement. The gateway in front of it is louder: a higher z,
// more log lines, an old deploy of its own. Only order-api's evidence says "change".
const release: DeployRecord = { time: ms('03:03'), service: 'order-api', version: 'v2.4.0', previousVersion: 'v2.3.9' };
const badDeploy = incidentOf(
  [
    sig('order-api', 'error_ratio', '03:05', 0.021, 0.0017, 12),
    sig('api-gateway', 'error_ratio', '03:05', 0.048, 0.0017, 80),
    sig('api-gateway', 'latency_p99', '03:05', 0.41, 0.035, 60, { hardLimitBreached: true }),
  ],
  '03:30',
);
const badDeployCtx = ctxOf(badDeploy, {
  deploys: [release, { time: ms('00:05'), service: 'api-gateway', version: 'v8.1.0', previousVersion: 'v8.0.9' }],
  logs: [
    logsOf('order-api', '03:00', [
      [
        '03:05:10',
        'ERROR [http-nio-8080-exec-#] c.e.order.OrderController - POST /v1/orders failed: java.lang.NullPointerException: Cannot invoke "java.math.BigDecimal.scale()" because "req.quantity" is null',
        25,
      ],
    ]),
    logsOf(
      'api-gateway',
      '03:00',
      [
        ['03:05:20', 'error: upstream order-api returned 503 for POST /v1/orders in #ms', 120],
        ['03:09:00', 'ERROR client 10.0.8.14 disconnected: connection reset by peer', 2],
      ],
      [['02:20:00', 'ERROR client 10.0.8.14 disconnected: connection reset by peer', 1]],
    ),
  ],
});

describe('diagnoseByRules', () => {
  it('ranks a bad deploy with new error signatures above a noisier dependant, with a checkable chain', () => {
    const d = diagnoseByRules(badDeployCtx);
    expect(d.rootCause).toMatchObject({ service: 'order-api', kind: 'bad-deploy' });
    expect(d.candidates.map((c) => c.service)).toEqual(['order-api', 'api-gateway']);
    const [root, gateway] = d.candidates;
    expect(root.score).toBeGreaterThan(gateway.score + 0.3);
    expect(gateway.kind).toBe('unknown');
    expect(root.analyzers).toEqual(
      expect.arrayContaining(['change-correlation', 'error-signature-novelty', 'dependency-propagation']),
    );
    // The gateway's upstream complaints count for order-api: they appear in its chain, not as the gateway's fault.
    expect(root.chain.map((item) => item.text)).toContain(
      "api-gateway logs 120 error lines naming order-api: 'error: upstream order-api returned 503 for POST /v1/orders in <dur>' x120 since 03:05 (new)",
    );
    expect(gateway.analyzers).not.toContain('error-signature-novelty');
    // Oldest first: the deploy, then the first anomaly, then the first new log line.
    expect(root.chain.slice(0, 2)).toEqual([
      {
        source: 'deploys',
        at: '2026-11-04T03:03:00Z',
        text: 'order-api deployed v2.3.9 -> v2.4.0 at 03:03, 2 min before its first anomaly at 03:05',
      },
      {
        source: 'metrics',
        at: '2026-11-04T03:05:00Z',
        text: 'order-api error_ratio 2.1% vs 0.17% expected (x12.4, z 12), anomalous from 03:05',
      },
    ]);
    expect(root.evidence).toEqual(root.chain.map((item) => `${item.source}: ${item.text}`));
    expect(d.evidence.slice(0, root.chain.length)).toEqual(root.evidence);
    expect(d.evidence).toContain('kind bad-deploy: supported 0.45 by change-correlation 0.45');
    expect(d.evidence[d.evidence.length - 1]).toMatch(
      /^confidence 0\.\d\d: 3 independent sources agree \(metrics, deploys, logs\); next candidate api-gateway scores/,
    );
    expectTimeOrdered(d);
  });

  it('is more confident when deploys and logs agree with the metrics than on the metrics alone', () => {
    const corroborated = diagnoseByRules(badDeployCtx);
    const metricsOnly = diagnoseByRules(ctxOf(badDeploy));
    expect(metricsOnly.rootCause.service).toBe('order-api');
    expect(corroborated.rootCause.confidence).toBeGreaterThan(metricsOnly.rootCause.confidence + 0.15);
    expect(corroborated.rootCause.confidence).toBeLessThanOrEqual(0.95);
  });

  it('puts a saturated datastore first when its callers fail after it, naming datastore-saturation', () => {
    const incident = incidentOf(
      [
        sig('mysql-main', 'datastore_connections', '14:10', 0.989, 0.403, 36, { hardLimitBreached: true }),
        sig('mysql-main', 'datastore_latency_p99', '14:10', 0.0186, 0.00317, 118),
        sig('order-api', 'error_ratio', '14:11', 0.0284, 0.002, 51),
        sig('order-api', 'latency_p99', '14:11', 0.119, 0.0452, 36),
        sig('wallet-service', 'error_ratio', '14:11', 0.028, 0.00212, 64),
      ],
      '14:45',
    );
    const d = diagnoseByRules(
      ctxOf(incident, {
        logs: [
          logsOf('order-api', '14:05', [
            [
              '14:11:00',
              'ERROR SQLSTATE[08004] [1040] Too many connections (host mysql-main.data.svc:3306 from #)',
              40,
            ],
          ]),
          logsOf('wallet-service', '14:05', [
            ['14:11:30', 'ERROR HikariPool-1 - Connection is not available, request timed out after 3000ms', 18],
          ]),
        ],
      }),
    );
    expect(d.rootCause).toMatchObject({ service: 'mysql-main', kind: 'datastore-saturation' });
    const mysql = candidate(d, 'mysql-main');
    expect(mysql.analyzers).toEqual(
      expect.arrayContaining(['datastore-saturation', 'dependency-propagation', 'error-signature-novelty']),
    );
    expect(mysql.chain.some((item) => item.source === 'logs' && item.text.startsWith('order-api logs 40 error'))).toBe(
      true,
    );
    // The callers are victims; the funds service keeps its diagnosis-only kind.
    expect(candidate(d, 'order-api').kind).toBe('unknown');
    expect(candidate(d, 'wallet-service').kind).toBe('funds-service-errors');
    for (const c of d.candidates.slice(1)) expect(c.score).toBeLessThan(mysql.score - 0.3);
    expectTimeOrdered(d);
  });

  it('calls traffic rising at the entry, without errors or a deploy, a traffic surge there', () => {
    const incident = incidentOf(
      [
        sig('api-gateway', 'request_rate', '09:30', 14_960, 2_692, 115),
        sig('api-gateway', 'cpu_utilisation', '09:30', 1, 0.371, 46, { hardLimitBreached: true }),
        sig('api-gateway', 'latency_p99', '09:31', 0.0564, 0.0367, 13, { hardLimitBreached: true }),
        sig('order-api', 'request_rate', '09:31', 2_790, 905, 60),
        sig('market-data', 'request_rate', '09:31', 9_100, 3_050, 70),
      ],
      '09:55',
    );
    const hpa = kubeOf(
      'api-gateway',
      'hpa-at-max',
      '09:34',
      '09:50',
      1,
      'HPA edge/hpa/api-gateway at its maximum of 18 replicas (desired 27)',
    );
    const d = diagnoseByRules(ctxOf(incident, { kube: [hpa] }));
    expect(d.rootCause).toMatchObject({ service: 'api-gateway', kind: 'traffic-surge' });
    expect(candidate(d, 'api-gateway').analyzers).toEqual(['external-surge', 'kubernetes-events']);
    expect(candidate(d, 'order-api').kind).toBe('unknown');
    expect(candidate(d, 'market-data').kind).toBe('unknown');
    expect(d.evidence[d.evidence.length - 1]).toContain('2 independent sources agree (metrics, kubernetes)');
  });

  it('calls memory growth with OOMKilled events a memory leak, not the deploy of three days ago', () => {
    const incident = incidentOf(
      [
        sig('order-api', 'memory_utilisation', '04:40', 0.97, 0.55, 22, { hardLimitBreached: true }),
        sig('order-api', 'pod_restarts', '05:31', 4, 0, Number.NaN),
        sig('order-api', 'latency_p99', '05:33', 0.128, 0.042, 19),
        sig('api-gateway', 'latency_p99', '05:34', 0.061, 0.035, 12, { hardLimitBreached: true }),
      ],
      '05:50',
    );
    const d = diagnoseByRules(
      ctxOf(incident, {
        deploys: [{ time: Date.parse('2026-11-01T10:00:00Z'), service: 'order-api', version: 'v2.3.9' }],
        kube: [
          kubeOf(
            'order-api',
            'oom-killed',
            '05:30',
            '05:45',
            6,
            'OOMKilled on trading/order-api-7c9f5d8b6-xk2pq (container app, exit code 137, 4 restarts)',
          ),
          kubeOf(
            'order-api',
            'crash-loop',
            '05:31',
            '05:46',
            11,
            '11x BackOff on trading/order-api-7c9f5d8b6-xk2pq: Back-off restarting failed container app',
          ),
        ],
        logs: [logsOf('order-api', '05:25', [['05:29:00', 'java.lang.OutOfMemoryError: Java heap space', 14]])],
      }),
    );
    expect(d.rootCause).toMatchObject({ service: 'order-api', kind: 'memory-leak' });
    const root = candidate(d, 'order-api');
    expect(root.analyzers).toEqual(
      expect.arrayContaining(['resource-exhaustion', 'kubernetes-events', 'error-signature-novelty']),
    );
    expect(root.analyzers).not.toContain('change-correlation');
    expect(root.chain.map((item) => item.source)).toEqual(expect.arrayContaining(['metrics', 'logs', 'kubernetes']));
    expect(d.evidence[d.evidence.length - 1]).toContain('3 independent sources agree (metrics, logs, kubernetes)');
    expectTimeOrdered(d);
  });

  it('does not blame a service the fault reached for its deploy 3 hours earlier', () => {
    // order-api's release at 03:03 breaks it; matching-engine, which it calls, slows in the same minute and was
    // deployed at 00:05. The same-minute onset makes the topology ranking alone pick matching-engine.
    const signals = [
      sig('order-api', 'error_ratio', '03:05', 0.0949, 0.00169, 240, { hardLimitBreached: true }),
      sig('matching-engine', 'latency_p99', '03:05', 0.009, 0.004, 20),
      sig('api-gateway', 'error_ratio', '03:06', 0.0196, 0.00174, 49),
    ];
    const incident = incidentOf(signals, '03:40');
    const engineDeploy = (time: number): DeployRecord => ({
      time,
      service: 'matching-engine',
      version: 'v5.0.0',
      previousVersion: 'v4.9.9',
    });
    const logs = [
      logsOf('order-api', '03:00', [
        ['03:05:10', 'ERROR POST /v1/orders failed: java.lang.NullPointerException at OrderController.place', 30],
      ]),
    ];
    expect(rankByTopology(incident, graph)[0].service).toBe('matching-engine');

    const d = diagnoseByRules(ctxOf(incident, { deploys: [release, engineDeploy(ms('00:05'))], logs }));
    expect(d.rootCause).toMatchObject({ service: 'order-api', kind: 'bad-deploy' });
    const engine = candidate(d, 'matching-engine');
    expect(engine.kind).toBe('unknown');
    expect(engine.analyzers).not.toContain('change-correlation');
    expect(engine.chain.some((item) => item.source === 'deploys')).toBe(false);

    // The same deploy 7 minutes before the onset would have been a suspect: the window, not luck, excluded it.
    const recent = diagnoseByRules(ctxOf(incident, { deploys: [release, engineDeploy(ms('02:58'))], logs }));
    expect(recent.findings).toContainEqual(
      expect.objectContaining({ analyzer: 'change-correlation', service: 'matching-engine', kind: 'bad-deploy' }),
    );
  });

  describe('a similar past case', () => {
    // Two caches slow down in the same minute and order-api, which calls both, follows: the rules cannot tell them
    // apart.
    const tie = incidentOf(
      [
        sig('mysql-main', 'datastore_latency_p99', '09:00', 0.009, 0.003, 40),
        sig('redis-cache', 'datastore_latency_p99', '09:00', 0.006, 0.0008, 40),
        sig('order-api', 'latency_p99', '09:01', 0.2, 0.04, 30),
      ],
      '09:20',
    );
    const past = (service: string, similarity: number): SimilarCase => ({
      incidentId: `inc-20261019T0402-${service}`,
      service,
      kind: service === 'redis-cache' ? 'cache-latency' : 'bad-deploy',
      similarity,
      outcome: 'remediated',
      actions: service === 'redis-cache' ? ['cache-flush'] : ['rollback'],
      summary: `a fault of ${service} like this one`,
    });

    it('breaks a near-tie, and the confidence stays low', () => {
      const without = diagnoseByRules(ctxOf(tie));
      expect(candidate(without, 'mysql-main').score).toBe(candidate(without, 'redis-cache').score);
      expect(without.rootCause.service).toBe('mysql-main');
      const withPrior = diagnoseByRules(ctxOf(tie, { similarCases: [past('redis-cache', 0.9)] }));
      expect(withPrior.rootCause).toMatchObject({ service: 'redis-cache', kind: 'cache-latency' });
      expect(withPrior.rootCause.confidence).toBeLessThan(0.5);
      expect(candidate(withPrior, 'redis-cache').chain[candidate(withPrior, 'redis-cache').chain.length - 1]).toEqual(
        expect.objectContaining({ source: 'knowledge' }),
      );
    });

    it('cannot overturn strong evidence, and adds only a little to the service it names', () => {
      const plain = diagnoseByRules(badDeployCtx);
      const d = diagnoseByRules({ ...badDeployCtx, similarCases: [past('api-gateway', 1)] });
      expect(d.rootCause.service).toBe('order-api');
      const raised = candidate(d, 'api-gateway').score - candidate(plain, 'api-gateway').score;
      expect(raised).toBeGreaterThan(0);
      expect(raised).toBeLessThanOrEqual(0.04 + 1e-9);
      // A kind only from the past case is shown, but it never counts as agreement for the confidence.
      expect(candidate(d, 'api-gateway').kind).toBe('bad-deploy');
      expect(d.rootCause.confidence).toBeLessThanOrEqual(plain.rootCause.confidence);
    });
  });

  it('falls back to the classification rules for the kind when no analyzer gives one', () => {
    const incident = incidentOf([sig('market-data', 'error_ratio', '12:10', 0.08, 0.002, 90)], '12:30');
    const d = diagnoseByRules(ctxOf(incident));
    expect(d.rootCause).toMatchObject({ service: 'market-data', kind: 'dependency-outage' });
    expect(d.evidence).toContain(
      'kind dependency-outage: by the classification rules: market-data is failing requests without a recent change',
    );
  });

  it("names a service's own slowness: an engine fault on a matching engine, a service fault elsewhere", () => {
    const slowEngine = incidentOf([sig('matching-engine', 'latency_p99', '12:10', 0.03, 0.004, 60)], '12:30');
    const engine = diagnoseByRules(ctxOf(slowEngine));
    expect(engine.rootCause).toMatchObject({ service: 'matching-engine', kind: 'engine-latency' });
    expect(engine.evidence).toContain(
      'kind engine-latency: by the classification rules: the matching engine matching-engine is slow without a recent change or a surge',
    );
    const slowService = incidentOf([sig('risk-engine', 'latency_p99', '12:10', 0.4, 0.05, 40)], '12:30');
    expect(diagnoseByRules(ctxOf(slowService)).rootCause).toMatchObject({
      service: 'risk-engine',
      kind: 'service-latency',
    });
    // Failing requests as well as slow ones, with no change behind them: still a dependency outage.
    const failing = incidentOf(
      [
        sig('matching-engine', 'latency_p99', '12:10', 0.03, 0.004, 60),
        sig('matching-engine', 'error_ratio', '12:10', 0.2, 0.001, 90),
      ],
      '12:30',
    );
    expect(diagnoseByRules(ctxOf(failing)).rootCause.kind).toBe('dependency-outage');
  });

  it('says unknown, with lowered confidence, when nothing names a kind', () => {
    const incident = incidentOf([sig('risk-engine', 'cpu_utilisation', '12:10', 0.93, 0.41, 25)], '12:30');
    const d = diagnoseByRules(ctxOf(incident));
    expect(d.rootCause).toMatchObject({ service: 'risk-engine', kind: 'unknown' });
    expect(d.rootCause.confidence).toBeLessThan(0.6 * 0.95);
    expect(d.evidence).toContain('kind unknown: no analyzer or classification rule matched the evidence');
  });

  it('keeps a funds service diagnosis-only even right after its deploy, and counts the deploy as agreeing', () => {
    const incident = incidentOf(
      [
        sig('wallet-service', 'error_ratio', '20:15', 0.101, 0.00163, 239, { hardLimitBreached: true }),
        sig('api-gateway', 'error_ratio', '20:16', 0.0218, 0.00159, 49),
      ],
      '20:45',
    );
    const d = diagnoseByRules(
      ctxOf(incident, {
        deploys: [{ time: ms('20:11'), service: 'wallet-service', version: 'v3.2.0', previousVersion: 'v3.1.4' }],
      }),
    );
    expect(d.rootCause).toMatchObject({ service: 'wallet-service', kind: 'funds-service-errors' });
    expect(d.evidence[d.evidence.length - 1]).toContain('(metrics, deploys)');
  });

  it('admits a related service that only Kubernetes saw failing, never an unrelated one', () => {
    const incident = incidentOf([sig('market-data', 'error_ratio', '12:10', 0.08, 0.002, 90)], '12:30');
    const d = diagnoseByRules(
      ctxOf(incident, {
        deploys: [{ time: ms('12:02'), service: 'redis-cache', version: '7.2.5', previousVersion: '7.2.4' }],
        kube: [
          kubeOf('redis-cache', 'image-pull', '12:04', '12:25', 7, '7x Failed on data/redis-cache-0: ErrImagePull'),
          kubeOf('risk-engine', 'crash-loop', '12:05', '12:25', 9, '9x BackOff on trading/risk-engine-x'),
        ],
      }),
    );
    expect(d.candidates.map((c) => c.service)).toEqual(['market-data', 'redis-cache']);
    expect(candidate(d, 'redis-cache')).toMatchObject({ kind: 'bad-deploy', analyzers: ['kubernetes-events'] });
    expect(candidate(d, 'redis-cache').chain.map((item) => item.text)).toContain(
      'redis-cache has no anomalous metric of its own; it is related to market-data',
    );
  });

  it('refuses an incident with no anomalous service', () => {
    const empty: Incident = { ...incidentOf([sig('order-api', 'error_ratio', '03:05', 0.1, 0.002, 50)], '03:30') };
    expect(() => diagnoseByRules(ctxOf({ ...empty, signals: [] }))).toThrow(DiagnosisError);
  });

  it('gives the same diagnosis whatever order the inputs arrive in', () => {
    const reversed: DiagnosisContext = {
      ...badDeployCtx,
      incident: { ...badDeploy, signals: [...badDeploy.signals].reverse() },
      deploys: [...badDeployCtx.deploys].reverse(),
      logs: [...badDeployCtx.logs].reverse(),
      similarCases: [],
    };
    const first = diagnoseByRules(badDeployCtx);
    expect(diagnoseByRules(reversed)).toEqual(first);
    expect(JSON.stringify(diagnoseByRules(badDeployCtx))).toBe(JSON.stringify(first));
  });

  it('keeps scores in [0, 1], sorted with ties by name, the root first, on any incident', () => {
    const services = graph.names();
    const signalIds = [
      'error_ratio',
      'latency_p99',
      'request_rate',
      'memory_utilisation',
      'pod_restarts',
      'datastore_connections',
      'datastore_latency_p99',
      'disk_free',
      'cpu_utilisation',
    ];
    const signalArb = fc.record({
      entity: fc.constantFrom(...services),
      signalId: fc.constantFrom(...signalIds),
      minute: fc.integer({ min: 0, max: 20 }),
      value: fc.double({ min: 0, max: 5000, noNaN: true }),
      expected: fc.double({ min: 0, max: 5000, noNaN: true }),
      z: fc.oneof(fc.double({ min: -500, max: 500, noNaN: true }), fc.constant(Number.NaN)),
      breached: fc.boolean(),
    });
    const deployArb = fc.record({
      service: fc.constantFrom(...services),
      minute: fc.integer({ min: -240, max: 40 }),
    });
    fc.assert(
      fc.property(
        fc.array(signalArb, { minLength: 1, maxLength: 8 }),
        fc.array(deployArb, { maxLength: 3 }),
        (raw, rawDeploys) => {
          const base = ms('10:00');
          const signals = raw.map((s, i) =>
            sig(
              s.entity,
              s.signalId,
              new Date(base + s.minute * 60_000).toISOString().slice(11, 16),
              s.value,
              s.expected,
              s.z,
              { hardLimitBreached: s.breached, key: `${s.signalId}{${s.entity}}#${i}` },
            ),
          );
          const deploys = rawDeploys.map((d) => ({
            time: base + d.minute * 60_000,
            service: d.service,
            version: 'v2',
          }));
          const d = diagnoseByRules(ctxOf(incidentOf(signals, '10:40'), { deploys }));
          for (const c of d.candidates) {
            expect(c.score).toBeGreaterThanOrEqual(0);
            expect(c.score).toBeLessThanOrEqual(1);
          }
          for (let i = 1; i < d.candidates.length; i++) {
            const [a, b] = [d.candidates[i - 1], d.candidates[i]];
            expect(a.score > b.score || (a.score === b.score && a.service < b.service)).toBe(true);
          }
          expect(d.rootCause.service).toBe(d.candidates[0].service);
          expect(d.rootCause.kind).toBe(d.candidates[0].kind);
          expect(d.rootCause.confidence).toBeGreaterThanOrEqual(0);
          expect(d.rootCause.confidence).toBeLessThanOrEqual(0.95);
          expectTimeOrdered(d);
        },
      ),
      { numRuns: 150, seed: 20261104 },
    );
  });
});
