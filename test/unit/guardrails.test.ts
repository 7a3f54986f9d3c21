import fc from 'fast-check';
import type { Criticality } from '../../lambdas/core/config/schema';
import { checkGuardrails, type GuardrailContext, touchesMoney } from '../../lambdas/core/decision/guardrails';
import { ACTION_CATALOG, MONEY_OPERATION, type PlannedAction } from '../../lambdas/core/decision/types';

const criticality: Record<string, Criticality> = {
  'order-api': 'core',
  'wallet-service': 'funds',
  'market-data': 'standard',
  'matching-engine': 'core',
  'mysql-main': 'core',
};
const context: GuardrailContext = {
  criticalityOf: (s) => criticality[s],
  denyList: [
    { service: 'matching-engine', action: 'restart-pod', reason: 'core pods are never restarted by automation' },
  ],
};
const step = (action: string, service: string, name = service): PlannedAction =>
  ({
    action,
    service,
    target: { namespace: 'ns', kind: 'deployment', name },
    params: {},
    reason: 'test',
  }) as PlannedAction;

describe('checkGuardrails', () => {
  it('lets catalog actions on known, non-funds services through', () => {
    const verdict = checkGuardrails([step('rollback', 'order-api'), step('scale-up', 'market-data')], context);
    expect(verdict.allowed).toHaveLength(2);
    expect(verdict.refused).toEqual([]);
  });

  it('refuses, with the rule that fired: funds, money names, unknown actions, unknown services, the deny-list', () => {
    const verdict = checkGuardrails(
      [step('restart-pod', 'matching-engine'), step('reboot-everything', 'order-api'), step('scale-up', 'ghost')],
      context,
    );
    expect(verdict.refused.map((r) => r.rule)).toEqual(['deny-list', 'not-in-catalog', 'unknown-service']);
    const funds = checkGuardrails([step('scale-up', 'order-api'), step('restart-pod', 'wallet-service')], context);
    expect(funds.moneyInvolved).toBe(true);
    expect(funds.allowed).toEqual([]);
    expect(funds.refused.map((r) => r.rule)).toEqual(['iron-rule', 'iron-rule']);
    expect(checkGuardrails([step('rollback', 'order-api', 'wallet-signer')], context).moneyInvolved).toBe(true);
  });

  it('never lets anything touching money or a funds service through, for any plan (property)', () => {
    const services = [...Object.keys(criticality), 'ghost', 'balance-api', 'payout-worker'];
    const actions = [
      ...Object.keys(ACTION_CATALOG),
      'wallet-transfer',
      'balance-adjust',
      'order-correction',
      'pause-trading',
      'withdraw',
    ];
    const names = [...services, 'hot-wallet', 'ledger-writer', 'orders'];
    const arbitraryStep = fc
      .record({
        action: fc.constantFrom(...actions),
        service: fc.constantFrom(...services),
        name: fc.constantFrom(...names),
      })
      .map(({ action, service, name }) => step(action, service, name));
    fc.assert(
      fc.property(fc.array(arbitraryStep, { maxLength: 6 }), (plan) => {
        const verdict = checkGuardrails(plan, context);
        for (const allowed of verdict.allowed) {
          expect(touchesMoney(allowed, criticality[allowed.service])).toBe(false);
          expect(criticality[allowed.service]).not.toBe('funds');
          expect(MONEY_OPERATION.test(allowed.action) || MONEY_OPERATION.test(allowed.target.name)).toBe(false);
          expect(Object.keys(ACTION_CATALOG)).toContain(allowed.action);
        }
        if (plan.some((s) => touchesMoney(s, criticality[s.service]))) expect(verdict.allowed).toEqual([]);
        expect(verdict.allowed.length + verdict.refused.length).toBe(plan.length);
      }),
      { numRuns: 2000 },
    );
  });
});
