import { assessRisk, RISK_WEIGHTS, type RiskInput } from '../../lambdas/core/decision/risk';
import type { PlannedAction } from '../../lambdas/core/decision/types';
import { tierOf } from '../../lambdas/core/decision/types';

const step = (action: PlannedAction['action'], service = 'order-api'): PlannedAction => ({
  action,
  service,
  target: { namespace: 'trading', kind: 'deployment', name: service },
  params: {},
  reason: 'test',
});

const base: RiskInput = {
  rootCause: { name: 'order-api', criticality: 'core' },
  services: [
    { name: 'order-api', criticality: 'core' },
    { name: 'api-gateway', criticality: 'core' },
  ],
  totalServices: 7,
  dependants: 1,
  replicaShare: 1,
  severity: 1,
  diagnosisConfidence: 0.85,
  trafficRatio: 1,
  changeFreeze: false,
  plan: [step('rollback')],
};

describe('assessRisk', () => {
  it('maps scores to tiers at 0.4, 0.6 and 0.8', () => {
    expect([0, 0.399, 0.4, 0.599, 0.6, 0.799, 0.8, 1].map(tierOf)).toEqual([
      'LOW',
      'LOW',
      'MEDIUM',
      'MEDIUM',
      'HIGH',
      'HIGH',
      'CRITICAL',
      'CRITICAL',
    ]);
  });

  it('weights sum to one and every factor explains its contribution', () => {
    expect(Object.values(RISK_WEIGHTS).reduce((a, b) => a + b, 0)).toBeCloseTo(1, 10);
    const risk = assessRisk(base);
    expect(risk.factors.map((f) => f.name)).toEqual(Object.keys(RISK_WEIGHTS));
    for (const f of risk.factors) {
      expect(f.contribution).toBeCloseTo(f.value * f.weight, 3);
      expect(f.explanation.length).toBeGreaterThan(5);
    }
    expect(risk.score).toBeCloseTo(
      risk.factors.reduce((sum, f) => sum + f.contribution, 0),
      3,
    );
  });

  it('puts the typical incidents in the tier their action calls for', () => {
    expect(assessRisk(base).tier).toBe('MEDIUM'); // a rollback of a core service
    expect(
      assessRisk({
        ...base,
        rootCause: { name: 'api-gateway', criticality: 'core' },
        plan: [step('scale-up', 'api-gateway')],
        trafficRatio: 5,
        services: [base.services[1], base.services[0], { name: 'market-data', criticality: 'standard' }],
      }).tier,
    ).toBe('LOW'); // scaling out during a surge
    expect(
      assessRisk({
        ...base,
        rootCause: { name: 'mysql-main', criticality: 'core' },
        plan: [
          {
            ...step('db-failover', 'mysql-main'),
            target: { namespace: 'data', kind: 'datastore', name: 'mysql-main' },
          },
        ],
        dependants: 3,
      }).tier,
    ).toBe('HIGH'); // a database failover
    expect(assessRisk({ ...base, plan: [] }).tier).toBe('MEDIUM'); // nothing to automate: a human acts
  });

  it('raises the score for a surge, a freeze, low confidence, a wider blast radius and a more critical target', () => {
    const score = (input: Partial<RiskInput>) => assessRisk({ ...base, ...input }).score;
    const reference = score({});
    expect(score({ trafficRatio: 4 })).toBeGreaterThan(reference);
    expect(score({ changeFreeze: true })).toBeGreaterThan(reference);
    expect(score({ diagnosisConfidence: 0.3 })).toBeGreaterThan(reference);
    expect(
      score({
        services: [
          ...base.services,
          { name: 'a', criticality: 'standard' },
          { name: 'b', criticality: 'standard' },
          { name: 'c', criticality: 'standard' },
        ],
      }),
    ).toBeGreaterThan(reference);
    expect(
      score({
        rootCause: { name: 'order-api', criticality: 'standard' },
        services: [{ name: 'order-api', criticality: 'standard' }, base.services[1]],
      }),
    ).toBeLessThan(reference);
    // Pressure on all sides (a surge, a freeze, a shaky diagnosis, most of the estate hit) pushes a MEDIUM action into HIGH.
    const wide = ['a', 'b', 'c', 'd'].map((name) => ({ name, criticality: 'standard' as const }));
    expect(assessRisk({ ...base, trafficRatio: 4, changeFreeze: true, diagnosisConfidence: 0.4 }).tier).toBe('MEDIUM');
    expect(
      assessRisk({
        ...base,
        services: [...base.services, ...wide],
        trafficRatio: 4,
        changeFreeze: true,
        diagnosisConfidence: 0.4,
      }).tier,
    ).toBe('HIGH');
  });

  it('makes anything acting on a funds service CRITICAL whatever the score', () => {
    const risk = assessRisk({
      ...base,
      rootCause: { name: 'wallet-service', criticality: 'funds' },
      plan: [step('restart-pod', 'wallet-service')],
      severity: 0,
      diagnosisConfidence: 1,
    });
    expect(risk.score).toBeLessThan(0.4);
    expect(risk.tier).toBe('CRITICAL');
    expect(risk.overrides).toContain('acts on funds service wallet-service: diagnosis only');
  });

  it('does not treat a funds service that merely suffers as the thing acted on', () => {
    const risk = assessRisk({
      ...base,
      services: [...base.services, { name: 'wallet-service', criticality: 'funds' }],
    });
    expect(risk.tier).toBe('MEDIUM');
    expect(risk.overrides).toEqual([]);
  });

  it('never lets the score put an action below its risk class: the class is the least approval it gets', () => {
    const quietStandard: RiskInput = {
      ...base,
      rootCause: { name: 'order-api', criticality: 'standard' },
      services: [{ name: 'order-api', criticality: 'standard' }],
      totalServices: 8,
      dependants: 0,
      severity: 0.5,
      diagnosisConfidence: 1,
    };
    const rollback = assessRisk(quietStandard);
    expect(tierOf(rollback.score)).toBe('LOW');
    expect(rollback.tier).toBe('MEDIUM');
    expect(rollback.overrides).toEqual(['rollback is a MEDIUM-risk action: it needs at least MEDIUM approval']);

    const failover = assessRisk({ ...quietStandard, plan: [step('db-failover')] });
    expect(tierOf(failover.score)).toBe('MEDIUM');
    expect(failover.tier).toBe('HIGH');

    // A LOW action keeps the tier its score gives; a risky context still raises it.
    expect(assessRisk({ ...quietStandard, plan: [step('scale-up')] })).toMatchObject({ tier: 'LOW', overrides: [] });
    // The iron rule is not a floor but a block: funds stays CRITICAL.
    const funds = { name: 'wallet-service', criticality: 'funds' as const };
    expect(assessRisk({ ...quietStandard, rootCause: funds, plan: [step('db-failover', 'wallet-service')] }).tier).toBe(
      'CRITICAL',
    );
  });

  it('moves the score with each factor on its own', () => {
    const score = (input: Partial<RiskInput>) => assessRisk({ ...base, ...input }).score;
    expect(score({ severity: 0.2 })).toBeLessThan(score({ severity: 0.9 }));
    expect(score({ dependants: 0 })).toBeLessThan(score({ dependants: 5 }));
    // Touching one pod of ten is a smaller blast than the whole Deployment, when dependants dominate.
    expect(score({ dependants: 6, replicaShare: 0.1 })).toBeLessThan(score({ dependants: 6, replicaShare: 1 }));
    expect(score({ plan: [step('scale-up')] })).toBeLessThan(score({ plan: [step('rollback')] }));
    expect(score({ plan: [step('rollback')] })).toBeLessThan(score({ plan: [step('db-failover')] }));
    // Below 1.2x of its baseline, traffic is normal life, not a surge.
    expect(score({ trafficRatio: 1.1 })).toBe(score({ trafficRatio: 1 }));
  });
});
