// The Diagnose step end to end over fake sources: evidence gathered with gaps named, the rule ranking, the
// model's re-ranking when it answers well, and the fallback to the rules when it does not.

import type { Incident } from '../../lambdas/core/cognition/incident';
import { topologySchema } from '../../lambdas/core/config/schema';
import { type DecideDeps, diagnose, type IncidentCase } from '../../lambdas/core/decision/incident-case';
import type { CaseKnowledge } from '../../lambdas/core/diagnosis/case-knowledge';
import { interpretRerankAnswer, type RerankRequest } from '../../lambdas/core/diagnosis/rerank';
import type { LogSource } from '../../lambdas/core/perception/log-source';
import { fail, ok } from '../../lambdas/core/result';
import { ServiceGraph } from '../../lambdas/core/topology';

const topology = topologySchema.parse({
  services: [
    { name: 'api-gateway', criticality: 'core', namespace: 'edge', dependsOn: ['order-api'] },
    { name: 'order-api', criticality: 'core', namespace: 'trading', dependsOn: ['mysql-main'] },
    { name: 'mysql-main', kind: 'datastore', criticality: 'core', namespace: 'data' },
  ],
});
const OPENED = '2026-11-04T03:07:00Z';
const NOW = Date.parse('2026-11-04T03:08:00Z');

const signal = (entity: string, signalId: string, at: string, value: number, expected: number) => ({
  key: `${signalId}{${entity}}`,
  signalId,
  entity,
  firstAnomalousAt: at,
  lastRaisedAt: OPENED,
  peakZ: 30,
  peakScore: 1,
  valueAtPeak: value,
  expectedAtPeak: expected,
  hardLimitBreached: false,
});

const incident: Incident = {
  id: 'inc-20261104T0307-order-api',
  status: 'open',
  kind: 'anomaly',
  openedAt: OPENED,
  updatedAt: OPENED,
  lastAnomalyAt: OPENED,
  services: ['order-api', 'api-gateway'],
  signals: [
    signal('order-api', 'error_ratio', '2026-11-04T03:05:00Z', 0.09, 0.002),
    signal('api-gateway', 'error_ratio', '2026-11-04T03:06:00Z', 0.02, 0.002),
  ],
  version: 1,
};
const theCase: IncidentCase = { incidentId: incident.id, incident };

function deps(overrides: Partial<DecideDeps> = {}): DecideDeps {
  return {
    graph: new ServiceGraph(topology),
    topology,
    deploysFor: async (service) =>
      service === 'order-api'
        ? [{ time: Date.parse('2026-11-04T03:03:00Z'), service, version: 'v2.4.0', previousVersion: 'v2.3.9' }]
        : [],
    denyList: [],
    changeFreezeAt: () => false,
    playbooks: { playbooks: [] },
    now: () => NOW,
    ...overrides,
  };
}

describe('Diagnose', () => {
  it('ranks by the rules, names missing sources, and stamps the diagnosis time', async () => {
    const result = await diagnose(theCase, deps());
    expect(result.diagnosis).toMatchObject({
      method: 'rules',
      rootCause: { service: 'order-api', kind: 'bad-deploy' },
      diagnosedAt: new Date(NOW).toISOString(),
      gaps: ['logs: no source configured', 'kubernetes: no source configured'],
    });
    expect(result.diagnosis?.evidence.join('\n')).toContain('v2.4.0');
  });

  it('reports a failing log source and knowledge base as gaps, never as a failed diagnosis', async () => {
    const logs: LogSource = {
      errorCounts: async () => {
        throw new Error('not used');
      },
      errorLines: async (service) =>
        fail({
          kind: 'http',
          service,
          query: `{service="${service}"}`,
          message: 'HTTP 503 from Loki',
          status: 503,
          range: { start: 0, end: 1 },
          attempts: 3,
        }),
    };
    const knowledge: CaseKnowledge = {
      similar: async () => {
        throw new Error('qdrant collection "sre-agent-cases": query failed: connect ECONNREFUSED');
      },
      remember: async () => undefined,
    };
    const result = await diagnose(theCase, deps({ logs, knowledge }));
    expect(result.diagnosis?.rootCause.service).toBe('order-api');
    expect(result.diagnosis?.gaps).toEqual(
      expect.arrayContaining([
        'logs: order-api: HTTP 503 from Loki',
        expect.stringContaining('knowledge: qdrant collection'),
      ]),
    );
  });

  it('takes the model’s choice among the candidates, with its explanation', async () => {
    let seen: RerankRequest | undefined;
    const reranker = async (request: RerankRequest) => {
      seen = request;
      return {
        ...interpretRerankAnswer(request, {
          candidateIndex: 1,
          service: request.candidates[1].service,
          kind: 'dependency-outage',
          confidence: 0.6,
          explanation: 'gateway errors started independently',
          suggestedActions: [],
        }),
        model: 'claude-test',
      };
    };
    const result = await diagnose(theCase, deps({ reranker }));
    expect(seen?.candidates.map((c) => c.service)).toEqual(['order-api', 'api-gateway']);
    expect(result.diagnosis).toMatchObject({
      method: 'llm',
      rootCause: { service: 'api-gateway', kind: 'dependency-outage', confidence: 0.6 },
      llm: { model: 'claude-test', explanation: 'gateway errors started independently' },
    });
    expect(result.diagnosis?.evidence[0]).toBe('model: gateway errors started independently');
  });

  it('keeps the rule ranking, and says why, when the model picks a service outside the list', async () => {
    const reranker = async (request: RerankRequest) =>
      interpretRerankAnswer(request, {
        candidateIndex: 0,
        service: 'wallet-service',
        kind: 'bad-deploy',
        confidence: 0.9,
        explanation: 'the wallet did it',
        suggestedActions: [],
      });
    const result = await diagnose(theCase, deps({ reranker }));
    expect(result.diagnosis?.method).toBe('rules');
    expect(result.diagnosis?.rootCause.service).toBe('order-api');
    expect(result.diagnosis?.llm?.fallbackReason).toBe('out-of-list');
  });

  it('uses similar past cases and runbooks from the knowledge base', async () => {
    const knowledge: CaseKnowledge = {
      similar: async (_incident, diagnosed) => ({
        cases: [
          {
            incidentId: 'inc-20261020T1100-order-api',
            service: 'order-api',
            kind: 'bad-deploy',
            similarity: 0.8,
            outcome: 'remediated',
            actions: ['rollback'],
            summary: 'order-api bad-deploy (remediated)',
          },
        ],
        runbooks: diagnosed ? [{ id: 'runbook:bad-deploy.md', title: 'Bad deploy', similarity: 0.2 }] : [],
      }),
      remember: async () => undefined,
    };
    const result = await diagnose(theCase, deps({ knowledge }));
    expect(result.diagnosis?.similarCases?.map((c) => c.incidentId)).toEqual(['inc-20261020T1100-order-api']);
    expect(result.diagnosis?.runbooks).toEqual([{ id: 'runbook:bad-deploy.md', title: 'Bad deploy', similarity: 0.2 }]);
    expect(result.diagnosis?.evidence.join('\n')).toContain('inc-20261020T1100-order-api');
  });

  it('adds AWS resource metrics that moved with the incident, and names the ones it could not read', async () => {
    const onset = Date.parse('2026-11-04T03:05:00Z') / 1000;
    const minutes = Array.from({ length: 64 }, (_, i) => onset - 60 * 60 + i * 60);
    const awsMetrics = {
      range: async () =>
        ok({
          series: [
            {
              labels: { service: 'order-api', resource: 'orders-alb', metric: 'TargetResponseTime' },
              timestamps: Float64Array.from(minutes),
              values: Float64Array.from(minutes, (t) => (t < onset ? 0.04 : 0.4)),
            },
            {
              labels: { service: 'mysql-main', resource: 'orders-db', metric: 'CPUUtilization' },
              timestamps: Float64Array.from(minutes),
              values: Float64Array.from(minutes, () => 35),
            },
          ],
          problems: [{ message: 'mysql-main orders-db ReadLatency: Forbidden' }],
        }),
    };
    const result = await diagnose(theCase, deps({ awsMetrics }));
    const evidence = result.diagnosis?.evidence ?? [];
    expect(evidence).toContain(
      'aws: order-api (orders-alb) TargetResponseTime 0.4 since the onset vs 0.04 in the hour before',
    );
    // A metric that did not move is not evidence.
    expect(evidence.join('\n')).not.toContain('CPUUtilization');
    expect(result.diagnosis?.gaps).toContain('aws metrics: mysql-main orders-db ReadLatency: Forbidden');
  });
});
