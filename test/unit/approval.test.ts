// The approval rules: quorum per tier from distinct people, roles that never stand in for each other, the
// reject that ends a decision, CRITICAL refused, and who may vote when.

import fc from 'fast-check';
import {
  type Approver,
  CriticalApprovalError,
  checkApprovalRequest,
  type Decision,
  evaluateQuorum,
  validateVote,
  voterOf,
} from '../../lambdas/core/decision/approval';
import type { ApproverRole, PlannedAction, RiskAssessment, Vote } from '../../lambdas/core/decision/types';

const T0 = Date.parse('2026-11-04T03:10:00Z');
let clock = 0;

function vote(userId: string, role: ApproverRole, choice: Vote['choice'] = 'approve', reason?: string): Vote {
  clock += 1;
  return {
    decisionId: 'dec-1',
    userId,
    userName: userId.toLowerCase(),
    role,
    choice,
    ...(reason ? { reason } : {}),
    at: new Date(T0 + clock * 1000).toISOString(),
  };
}

const approvers: Approver[] = [
  { slackUserId: 'USRE1', name: 'Sam', role: 'sre' },
  { slackUserId: 'USRE2', name: 'Ria', role: 'sre' },
  { slackUserId: 'ULEAD1', name: 'Lee', role: 'tech-lead' },
];

function decision(overrides: Partial<Decision> = {}): Decision {
  return {
    decisionId: 'dec-1',
    incidentId: 'inc-20261104T0307-order-api',
    tier: 'MEDIUM',
    quorum: { sre: 1, 'tech-lead': 0 },
    status: 'pending',
    taskToken: 'token',
    createdAt: '2026-11-04T03:10:00.000Z',
    expiresAt: '2026-11-04T03:40:00.000Z',
    ...overrides,
  };
}

describe('evaluateQuorum', () => {
  it('MEDIUM: one SRE approves', () => {
    const state = evaluateQuorum('MEDIUM', [vote('USRE1', 'sre')]);
    expect(state.outcome).toBe('approved');
    expect(state.counted.map((v) => v.userId)).toEqual(['USRE1']);
    expect(state.missing).toEqual({ sre: 0, 'tech-lead': 0 });
  });

  it("MEDIUM: a tech lead's approval does not stand in for the on-call SRE", () => {
    const state = evaluateQuorum('MEDIUM', [vote('ULEAD1', 'tech-lead')]);
    expect(state.outcome).toBe('pending');
    expect(state.missing).toEqual({ sre: 1, 'tech-lead': 0 });
  });

  it('HIGH: two distinct SREs and a distinct tech lead', () => {
    const votes = [vote('USRE1', 'sre'), vote('ULEAD1', 'tech-lead')];
    expect(evaluateQuorum('HIGH', votes)).toMatchObject({ outcome: 'pending', missing: { sre: 1, 'tech-lead': 0 } });
    const state = evaluateQuorum('HIGH', [...votes, vote('USRE2', 'sre')]);
    expect(state.outcome).toBe('approved');
    expect(state.counted.map((v) => v.userId)).toEqual(['USRE1', 'ULEAD1', 'USRE2']);
  });

  it("HIGH: the same SRE's second click counts once", () => {
    const state = evaluateQuorum('HIGH', [vote('USRE1', 'sre'), vote('USRE1', 'sre'), vote('ULEAD1', 'tech-lead')]);
    expect(state).toMatchObject({ outcome: 'pending', missing: { sre: 1, 'tech-lead': 0 } });
  });

  it('HIGH: a tech lead does not double as an SRE, and two leads do not make an SRE', () => {
    const state = evaluateQuorum('HIGH', [
      vote('USRE1', 'sre'),
      vote('ULEAD1', 'tech-lead'),
      vote('ULEAD2', 'tech-lead'),
    ]);
    expect(state).toMatchObject({ outcome: 'pending', missing: { sre: 1, 'tech-lead': 0 } });
  });

  it('HIGH: a person who shows up under two roles still counts once, in the role of their first vote', () => {
    const state = evaluateQuorum('HIGH', [vote('UX', 'sre'), vote('UX', 'tech-lead'), vote('USRE2', 'sre')]);
    expect(state).toMatchObject({ outcome: 'pending', missing: { sre: 0, 'tech-lead': 1 } });
  });

  it('any reject ends the decision, whoever approved before', () => {
    const state = evaluateQuorum('HIGH', [
      vote('USRE1', 'sre'),
      vote('ULEAD1', 'tech-lead', 'reject', 'wrong service'),
      vote('USRE2', 'sre'),
    ]);
    expect(state.outcome).toBe('rejected');
    expect(state.rejection).toMatchObject({ userId: 'ULEAD1', reason: 'wrong service' });
  });

  it('votes are taken in the order cast, whatever order they are listed in', () => {
    const approve = vote('USRE1', 'sre');
    const reject = vote('USRE2', 'sre', 'reject');
    expect(evaluateQuorum('MEDIUM', [reject, approve]).outcome).toBe('approved');
  });

  it('CRITICAL never reaches approval: a named error', () => {
    expect(() => evaluateQuorum('CRITICAL', [])).toThrow(CriticalApprovalError);
    expect(() => evaluateQuorum('CRITICAL', [])).toThrow(expect.objectContaining({ name: 'CriticalApprovalError' }));
  });

  it('property: HIGH is never approved without 2 distinct SREs and 1 distinct tech lead who approved', () => {
    const users = ['U1', 'U2', 'U3', 'U4', 'U5'];
    const voteArb = fc.record({
      userId: fc.constantFrom(...users),
      role: fc.constantFrom<ApproverRole>('sre', 'tech-lead'),
      choice: fc.constantFrom<Vote['choice']>('approve', 'approve', 'approve', 'reject'),
      second: fc.integer({ min: 0, max: 3600 }),
    });
    let approvedRuns = 0;
    fc.assert(
      fc.property(fc.array(voteArb, { maxLength: 12 }), (drawn) => {
        const votes: Vote[] = drawn.map((d) => ({
          decisionId: 'dec-p',
          userId: d.userId,
          userName: d.userId,
          role: d.role,
          choice: d.choice,
          at: new Date(T0 + d.second * 1000).toISOString(),
        }));
        const state = evaluateQuorum('HIGH', votes);
        if (state.outcome !== 'approved') return;
        approvedRuns++;
        const people = state.counted.map((v) => v.userId);
        expect(new Set(people).size).toBe(people.length);
        expect(state.counted.every((v) => v.choice === 'approve')).toBe(true);
        expect(state.counted.filter((v) => v.role === 'sre')).toHaveLength(2);
        expect(state.counted.filter((v) => v.role === 'tech-lead')).toHaveLength(1);
        // Each counted vote is that person's first vote, and nobody rejected before the quorum was met.
        const sorted = [...votes].sort((a, b) => a.at.localeCompare(b.at) || a.userId.localeCompare(b.userId));
        for (const counted of state.counted) expect(sorted.find((v) => v.userId === counted.userId)).toBe(counted);
        const last = sorted.indexOf(state.counted[state.counted.length - 1]);
        const firsts = sorted
          .slice(0, last + 1)
          .filter((v, i, all) => all.findIndex((w) => w.userId === v.userId) === i);
        expect(firsts.some((v) => v.choice === 'reject')).toBe(false);
      }),
      { numRuns: 2000 },
    );
    expect(approvedRuns).toBeGreaterThan(50); // the property was exercised, not vacuously true
  });
});

describe('validateVote', () => {
  const now = new Date('2026-11-04T03:15:00Z');

  it('accepts a listed SRE on a pending MEDIUM decision', () => {
    expect(validateVote(decision(), voterOf('USRE1', approvers), now)).toEqual({ ok: true, value: approvers[0] });
  });

  it('refuses someone the configuration does not list', () => {
    expect(validateVote(decision(), voterOf('USTRANGER', approvers), now)).toMatchObject({
      ok: false,
      error: { code: 'unknown-user' },
    });
  });

  it("refuses a tech lead's approval of a MEDIUM plan, but accepts their reject (a veto)", () => {
    const lead = voterOf('ULEAD1', approvers);
    expect(validateVote(decision(), lead, now, 'approve')).toMatchObject({
      ok: false,
      error: { code: 'role-not-needed', message: expect.stringContaining('SRE') },
    });
    expect(validateVote(decision(), lead, now, 'reject').ok).toBe(true);
    expect(validateVote(decision({ tier: 'HIGH', quorum: { sre: 2, 'tech-lead': 1 } }), lead, now).ok).toBe(true);
  });

  it('refuses votes after the decision closed or expired', () => {
    const sre = voterOf('USRE1', approvers);
    expect(validateVote(decision({ status: 'approved' }), sre, now)).toMatchObject({
      ok: false,
      error: { code: 'decision-closed' },
    });
    expect(validateVote(decision({ status: 'timed-out' }), sre, now, 'reject')).toMatchObject({
      ok: false,
      error: { code: 'decision-closed' },
    });
    expect(validateVote(decision(), sre, new Date('2026-11-04T03:40:00Z'))).toMatchObject({
      ok: false,
      error: { code: 'decision-expired' },
    });
  });
});

describe('checkApprovalRequest', () => {
  const step = (action: PlannedAction['action']): PlannedAction => ({
    action,
    service: 'mysql-main',
    target: { namespace: 'data', kind: 'datastore', name: 'mysql-main' },
    params: {},
    reason: 'test',
  });
  const risk = (tier: RiskAssessment['tier']): RiskAssessment => ({ score: 0.5, tier, factors: [], overrides: [] });

  it('refuses a CRITICAL tier or risk', () => {
    expect(() => checkApprovalRequest('CRITICAL', [step('rollback')], risk('CRITICAL'))).toThrow(CriticalApprovalError);
    expect(() => checkApprovalRequest('HIGH', [step('rollback')], risk('CRITICAL'))).toThrow(CriticalApprovalError);
  });

  it('refuses to put a HIGH action to a MEDIUM vote', () => {
    expect(() => checkApprovalRequest('MEDIUM', [step('db-failover')], risk('MEDIUM'))).toThrow(
      expect.objectContaining({ name: 'ApprovalRequestError', message: expect.stringContaining('db-failover') }),
    );
    expect(() => checkApprovalRequest('HIGH', [step('db-failover'), step('rollback')], risk('HIGH'))).not.toThrow();
  });
});
