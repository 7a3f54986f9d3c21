// The approval rules: quorum per tier from distinct people, roles that never stand in for each other, the
// reject that ends a decision, CRITICAL refused, and who may vote when. Then the flows against in-memory ports:
// what reaches the audit trail, what reaches the workflow (and in which order), and the answer's deadline.

import fc from 'fast-check';
import type { AuditEntry, AuditRecord } from '../../lambdas/core/action/audit';
import type { Incident } from '../../lambdas/core/cognition/incident';
import {
  type AnswerDeadline,
  type ApprovalContext,
  type ApprovalDeps,
  type ApprovalMessenger,
  type ApprovalStore,
  type Approver,
  type AuditFailure,
  type ChatCallLimits,
  CriticalApprovalError,
  castVote,
  checkApprovalRequest,
  closeDecision,
  type Decision,
  evaluateQuorum,
  interactionsChain,
  openDecision,
  type Refusal,
  recordRefusedRequest,
  type StoredDecision,
  startReject,
  validateVote,
  voterOf,
} from '../../lambdas/core/decision/approval';
import type { ApproverRole, PlannedAction, RiskAssessment, Vote } from '../../lambdas/core/decision/types';
import type { AuditLog } from '../../lambdas/core/ports';

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

// ---------------------------------------------------------------------------------------------------------
// The flows, against in-memory ports

/** An ApprovalStore in memory with the conditional semantics of the DynamoDB one. */
class MemoryStore implements ApprovalStore {
  readonly decisions = new Map<string, StoredDecision>();
  readonly votes: Vote[] = [];
  readonly refusals: Refusal[] = [];
  readonly seen = new Set<string>();

  constructor(private readonly events: string[]) {}

  async createDecision(decision: Decision, context: ApprovalContext) {
    const existing = this.decisions.get(decision.decisionId);
    if (existing && existing.decision.status !== 'pending')
      return { kind: 'conflict' as const, existing: existing.decision };
    const { channel, messageTs } = existing?.decision ?? {};
    this.decisions.set(decision.decisionId, { decision: { ...decision, channel, messageTs }, context });
    return existing ? { kind: 'replaced' as const, previous: existing.decision } : { kind: 'created' as const };
  }
  async getDecision(decisionId: string) {
    return this.decisions.get(decisionId);
  }
  async attachMessage(decisionId: string, channel: string, messageTs: string) {
    this.patch(decisionId, { channel, messageTs });
  }
  async recordVote(vote: Vote) {
    this.events.push(`recordVote:${vote.userId}`);
    if (this.votes.some((v) => v.decisionId === vote.decisionId && v.userId === vote.userId))
      return 'duplicate' as const;
    this.votes.push(vote);
    return 'recorded' as const;
  }
  async listVotes(decisionId: string) {
    return this.votes.filter((v) => v.decisionId === decisionId);
  }
  async finish(decisionId: string, status: Decision['status'], details: { at: string; by: string; reason?: string }) {
    this.events.push(`finish:${status}`);
    if (this.decisions.get(decisionId)?.decision.status !== 'pending') return 'conflict' as const;
    this.patch(decisionId, {
      status,
      closedAt: details.at,
      closedBy: details.by,
      ...(details.reason ? { closeReason: details.reason } : {}),
    });
    return 'finished' as const;
  }
  async annotate(decisionId: string, notes: Partial<Decision>) {
    this.patch(decisionId, notes);
  }
  async recordRefusal(refusal: Refusal) {
    this.refusals.push(refusal);
  }
  async claimRequest(fingerprint: string) {
    if (this.seen.has(fingerprint)) return 'replayed' as const;
    this.seen.add(fingerprint);
    return 'first' as const;
  }
  private patch(decisionId: string, fields: Partial<Decision>) {
    const stored = this.decisions.get(decisionId)!;
    this.decisions.set(decisionId, { ...stored, decision: { ...stored.decision, ...fields } as Decision });
  }
}

const never = () => new Promise<never>(() => {});

interface Harness {
  deps: ApprovalDeps;
  store: MemoryStore;
  /** Everything that reached a port, in order. */
  events: string[];
  audited: { chain: string; entry: AuditEntry }[];
  told: { channel: string; userId: string; text: string }[];
  limits: { call: string; limits?: ChatCallLimits }[];
  workflowCalls: string[];
  failures: AuditFailure[];
  warnings: string[];
}

function harness(
  options: {
    audit?: (chain: string, entry: AuditEntry) => Promise<void>;
    messenger?: Partial<ApprovalMessenger>;
    deadline?: AnswerDeadline;
  } = {},
): Harness {
  const events: string[] = [];
  const h = {
    events,
    store: new MemoryStore(events),
    audited: [] as Harness['audited'],
    told: [] as Harness['told'],
    limits: [] as Harness['limits'],
    workflowCalls: [] as string[],
    failures: [] as AuditFailure[],
    warnings: [] as string[],
  };
  const audit: AuditLog = {
    append: async (chain, entry) => {
      events.push(`audit:${entry.kind}`);
      await options.audit?.(chain, entry);
      h.audited.push({ chain, entry });
      return { chain } as AuditRecord;
    },
    read: async () => [],
    chains: async () => [],
  };
  const messenger: ApprovalMessenger = {
    post: async () => ({ channel: 'C1', ts: '1700000000.000100' }),
    update: async (_channel, _ts, _view, limits) => {
      events.push('update');
      h.limits.push({ call: 'update', limits });
    },
    tell: async (channel, userId, text, limits) => {
      events.push('tell');
      h.limits.push({ call: 'tell', limits });
      h.told.push({ channel, userId, text });
    },
    askRejectReason: async (_trigger, _view, limits) => {
      events.push('askRejectReason');
      h.limits.push({ call: 'askRejectReason', limits });
    },
    ...options.messenger,
  };
  const deps: ApprovalDeps = {
    store: h.store,
    workflow: {
      approve: async () => {
        events.push('workflow:approve');
        h.workflowCalls.push('approve');
      },
      reject: async () => {
        events.push('workflow:reject');
        h.workflowCalls.push('reject');
      },
    },
    messenger,
    approvers,
    clock: () => new Date('2026-11-04T03:15:00Z'),
    warn: (message) => h.warnings.push(message),
    audit,
    auditFailed: (failure) => h.failures.push(failure),
    ...(options.deadline ? { deadline: options.deadline } : {}),
  };
  return { ...h, deps };
}

const flowIncident = { id: 'inc-20261104T0307-order-api', services: ['order-api'], signals: [] } as unknown as Incident;
const context: ApprovalContext = {
  incident: flowIncident,
  plan: [
    {
      action: 'rollback',
      service: 'order-api',
      target: { namespace: 'trading', kind: 'deployment', name: 'order-api' },
      params: {},
      reason: 'bad deploy',
    },
  ],
  risk: { score: 0.5, tier: 'MEDIUM', factors: [], overrides: [] },
};

/** A pending decision with its message, stored in `h`. */
function stored(h: Harness, overrides: Partial<Decision> = {}): Decision {
  const d = decision({ channel: 'C1', messageTs: '1700000000.000100', ...overrides });
  h.store.decisions.set(d.decisionId, { decision: d, context });
  return d;
}

const fixed = (remainingMs: number): AnswerDeadline => ({ remainingMs: () => remainingMs });

describe('openDecision', () => {
  it("writes the request to the incident's chain: tier, quorum, timeout and message, never the task token", async () => {
    const h = harness();
    const request = { taskToken: 'secret-token', decisionId: 'dec-9', tier: 'HIGH' as const, timeoutSeconds: 3600 };
    const highContext = { ...context, risk: { ...context.risk, tier: 'HIGH' as const } };
    await openDecision({ ...request, context: highContext }, h.deps, 'C1');
    expect(h.audited).toEqual([
      {
        chain: flowIncident.id,
        entry: {
          actor: 'workflow:RequestQuorumApproval',
          kind: 'step',
          at: '2026-11-04T03:15:00.000Z',
          summary: 'approval requested: HIGH, quorum 2 SREs and 1 tech lead, waits 60 min, message 1700000000.000100',
          detail: {
            decisionId: 'dec-9',
            tier: 'HIGH',
            quorum: { sre: 2, 'tech-lead': 1 },
            timeoutSeconds: 3600,
            expiresAt: '2026-11-04T04:15:00.000Z',
            channel: 'C1',
            messageTs: '1700000000.000100',
            replaced: false,
          },
        },
      },
    ]);
    expect(JSON.stringify(h.audited)).not.toContain('secret-token');
  });
});

describe('castVote', () => {
  it('writes the vote and tells the workflow first; the audit record and the message follow', async () => {
    const h = harness();
    stored(h);
    const outcome = await castVote({ decisionId: 'dec-1', userId: 'USRE1', choice: 'approve' }, h.deps);
    expect(outcome).toMatchObject({ kind: 'approved', delivered: true });
    expect(h.events.slice(0, 3)).toEqual(['recordVote:USRE1', 'finish:approved', 'workflow:approve']);
    expect(h.events.slice(3).sort()).toEqual(['audit:vote', 'update']);
    expect(h.audited).toEqual([
      {
        chain: 'inc-20261104T0307-order-api',
        entry: expect.objectContaining({
          actor: 'slack:USRE1 (Sam)',
          kind: 'vote',
          summary: 'approve by Sam (SRE) on dec-1: decision approved, workflow told',
          detail: {
            decisionId: 'dec-1',
            userId: 'USRE1',
            userName: 'Sam',
            role: 'sre',
            choice: 'approve',
            outcome: 'approved',
            decidedBy: 'USRE1',
            delivered: true,
          },
        }),
      },
    ]);
  });

  it('audits a reject with its reason, redacted, and a pending vote with the seats still empty', async () => {
    const h = harness();
    stored(h, { tier: 'HIGH', quorum: { sre: 2, 'tech-lead': 1 } });
    await castVote({ decisionId: 'dec-1', userId: 'USRE1', choice: 'approve' }, h.deps);
    await castVote(
      { decisionId: 'dec-1', userId: 'ULEAD1', choice: 'reject', reason: 'db at 10.1.2.3 is  primary' },
      h.deps,
    );
    expect(h.audited.map(({ entry }) => entry.summary)).toEqual([
      'approve by Sam (SRE) on dec-1: recorded, still needed: 1 SRE and 1 tech lead',
      'reject by Lee (tech lead) on dec-1: decision rejected, workflow told',
    ]);
    expect(h.audited[1].entry.detail).toMatchObject({ role: 'tech-lead', choice: 'reject', outcome: 'rejected' });
    expect(h.audited[1].entry.detail.reason).toMatch(/^db at \[REDACTED:ip[^\]]*\] is primary$/);
    expect(h.workflowCalls).toEqual(['reject']);
  });

  it.each([
    ['an unknown user', 'USTRANGER', 'approve', {}, 'unknown-user', 'slack:USTRANGER'],
    ['a tech lead approving MEDIUM', 'ULEAD1', 'approve', {}, 'role-not-needed', 'slack:ULEAD1 (Lee)'],
    [
      'a vote after the decision closed',
      'USRE2',
      'approve',
      { status: 'rejected' },
      'decision-closed',
      'slack:USRE2 (Ria)',
    ],
    [
      'a reject after the decision closed',
      'USRE2',
      'reject',
      { status: 'timed-out' },
      'decision-closed',
      'slack:USRE2 (Ria)',
    ],
    [
      'a vote after expiry',
      'USRE1',
      'approve',
      { expiresAt: '2026-11-04T03:14:00.000Z' },
      'decision-expired',
      'slack:USRE1 (Sam)',
    ],
  ] as const)(
    'refuses %s: recorded, audited on the incident chain, told privately, the workflow untouched',
    async (_, userId, choice, overrides, code, actor) => {
      const h = harness();
      stored(h, overrides);
      const outcome = await castVote({ decisionId: 'dec-1', userId, choice, sourceIp: '198.51.100.7' }, h.deps);
      expect(outcome).toMatchObject({ kind: 'refused', code });
      expect(h.workflowCalls).toEqual([]);
      expect(h.store.votes).toEqual([]);
      expect(h.store.refusals).toEqual([expect.objectContaining({ code, userId, status: 200, action: choice })]);
      expect(h.audited).toEqual([
        {
          chain: 'inc-20261104T0307-order-api',
          entry: expect.objectContaining({
            actor,
            kind: 'refusal',
            detail: expect.objectContaining({
              code,
              userId,
              decisionId: 'dec-1',
              status: 200,
              sourceIp: '198.51.100.7',
            }),
          }),
        },
      ]);
      expect(h.told).toEqual([{ channel: 'C1', userId, text: expect.any(String) }]);
    },
  );

  it("refuses a vote on an unknown decision into the day's chain, and a second vote of the same person", async () => {
    const h = harness();
    stored(h, { tier: 'HIGH', quorum: { sre: 2, 'tech-lead': 1 } });
    await castVote({ decisionId: 'dec-404', userId: 'USRE1', choice: 'approve' }, h.deps);
    await castVote({ decisionId: 'dec-1', userId: 'USRE1', choice: 'approve' }, h.deps);
    await castVote({ decisionId: 'dec-1', userId: 'USRE1', choice: 'approve' }, h.deps);
    expect(h.audited.map(({ chain, entry }) => [chain, entry.kind, entry.detail.code])).toEqual([
      [interactionsChain('2026-11-04T03:15:00.000Z'), 'refusal', 'unknown-decision'],
      ['inc-20261104T0307-order-api', 'vote', undefined],
      ['inc-20261104T0307-order-api', 'refusal', 'duplicate-vote'],
    ]);
    expect(interactionsChain('2026-11-04T03:15:00.000Z')).toBe('slack-interactions-2026-11-04');
    expect(h.workflowCalls).toEqual([]);
  });

  it('a failing audit append loses no vote: the workflow is told, the failure is logged and reported', async () => {
    const h = harness({
      audit: async () => {
        throw new Error('ProvisionedThroughputExceededException');
      },
    });
    stored(h);
    const outcome = await castVote({ decisionId: 'dec-1', userId: 'USRE1', choice: 'approve' }, h.deps);
    expect(outcome).toMatchObject({ kind: 'approved', delivered: true });
    expect(h.workflowCalls).toEqual(['approve']);
    expect(h.store.decisions.get('dec-1')?.decision.status).toBe('approved');
    expect(h.failures).toEqual([
      {
        chain: 'inc-20261104T0307-order-api',
        summary: expect.stringContaining('approve by Sam'),
        reason: 'Error: ProvisionedThroughputExceededException',
      },
    ]);
    expect(h.warnings).toContain('an audit record was not written; the decision stands');
  });

  it('with a deadline, a hung audit append and a hung message update do not hold the answer', async () => {
    const h = harness({ audit: never, messenger: { update: never }, deadline: fixedFromNow(300) });
    stored(h);
    const started = Date.now();
    const outcome = await castVote({ decisionId: 'dec-1', userId: 'USRE1', choice: 'approve' }, h.deps);
    expect(Date.now() - started).toBeLessThan(1_000);
    expect(outcome).toMatchObject({ kind: 'approved', delivered: true });
    expect(h.workflowCalls).toEqual(['approve']);
    expect(h.failures).toEqual([expect.objectContaining({ reason: expect.stringContaining('not confirmed') })]);
    expect(h.warnings).toContain('the approval message was not updated');
  });

  it('chat calls get what is left of the deadline; with too little left the update is skipped, the vote stands', async () => {
    const roomy = harness({ deadline: fixed(1_500) });
    stored(roomy);
    await castVote({ decisionId: 'dec-1', userId: 'USRE1', choice: 'approve' }, roomy.deps);
    expect(roomy.limits).toEqual([{ call: 'update', limits: { timeoutMs: 1_500 } }]);

    const late = harness({ deadline: fixed(40) });
    stored(late);
    await castVote({ decisionId: 'dec-1', userId: 'USRE1', choice: 'approve' }, late.deps);
    expect(late.workflowCalls).toEqual(['approve']);
    expect(late.limits).toEqual([]);
    expect(late.warnings).toContain('the approval message was not updated');
  });
});

describe('startReject', () => {
  it('opens the dialog with the deadline less what casting the reject needs', async () => {
    const h = harness({ deadline: fixed(2_000) });
    stored(h);
    const outcome = await startReject(
      { decisionId: 'dec-1', userId: 'USRE1', choice: 'reject', triggerId: 'T1' },
      h.deps,
    );
    expect(outcome).toEqual({ kind: 'asked' });
    expect(h.limits).toEqual([{ call: 'askRejectReason', limits: { timeoutMs: 1_400 } }]);
    expect(h.workflowCalls).toEqual([]);
    expect(h.audited).toEqual([]);
  });

  it('with no time left for the dialog casts the reject at once (a veto never waits on a dialog)', async () => {
    const h = harness({ deadline: fixed(650) });
    stored(h);
    const outcome = await startReject(
      { decisionId: 'dec-1', userId: 'USRE1', choice: 'reject', triggerId: 'T1' },
      h.deps,
    );
    expect(outcome).toMatchObject({ kind: 'rejected', cause: { reason: expect.stringContaining('no time left') } });
    expect(h.events).not.toContain('askRejectReason');
    expect(h.workflowCalls).toEqual(['reject']);
    expect(h.audited.map(({ entry }) => entry.kind)).toEqual(['vote']);
  });
});

describe('closeDecision', () => {
  it('a decided decision keeps its status, gains the outcome and note, and the closing is audited', async () => {
    const h = harness();
    stored(h, { status: 'approved', closedAt: '2026-11-04T03:12:00.000Z', closedBy: 'USRE1' });
    const closed = await closeDecision('dec-1', 'failed', h.deps, 'workflow failed at Remediate: boom');
    expect(closed).toEqual({ decisionId: 'dec-1', status: 'approved', changed: false });
    expect(h.store.decisions.get('dec-1')?.decision).toMatchObject({
      status: 'approved',
      workflowOutcome: 'failed',
      outcomeNote: 'workflow failed at Remediate: boom',
    });
    expect(h.events).toContain('update');
    expect(h.audited).toEqual([
      {
        chain: 'inc-20261104T0307-order-api',
        entry: expect.objectContaining({
          actor: 'workflow:close-approval',
          kind: 'step',
          summary: 'approval already approved; the workflow ended failed: workflow failed at Remediate: boom',
          detail: {
            decisionId: 'dec-1',
            outcome: 'failed',
            status: 'approved',
            changed: false,
            note: 'workflow failed at Remediate: boom',
            closedBy: 'USRE1',
            closedAt: '2026-11-04T03:12:00.000Z',
          },
        }),
      },
    ]);
  });

  it('a pending decision takes the outcome, failed included, as its status, closed by the workflow', async () => {
    const h = harness();
    stored(h);
    expect(await closeDecision('dec-1', 'failed', h.deps, 'workflow failed at AssessRisk')).toEqual({
      decisionId: 'dec-1',
      status: 'failed',
      changed: true,
    });
    expect(h.audited[0].entry).toMatchObject({
      summary: 'approval closed by the workflow: failed: workflow failed at AssessRisk',
      detail: { outcome: 'failed', status: 'failed', changed: true, closedBy: 'workflow' },
    });
    expect(h.workflowCalls).toEqual([]);
  });
});

describe('recordRefusedRequest', () => {
  const at = '2026-11-04T03:15:00.000Z';

  it("puts a forged request in the day's chain with what was known before reading its body", async () => {
    const h = harness();
    const forged: Refusal = {
      at,
      code: 'signature-mismatch',
      detail: 'the signature does not match the body and timestamp',
      status: 401,
      sourceIp: '198.51.100.7',
      requestTimestamp: '1793761500',
      method: 'POST',
      path: '/slack/interactions',
    };
    await recordRefusedRequest(forged, h.deps);
    expect(h.store.refusals).toEqual([forged]);
    expect(h.audited).toEqual([
      {
        chain: 'slack-interactions-2026-11-04',
        entry: {
          actor: 'http:198.51.100.7',
          kind: 'refusal',
          at,
          summary: 'refused POST /slack/interactions: signature-mismatch (HTTP 401)',
          detail: forged,
        },
      },
    ]);
  });

  it("puts a replayed request that names a known decision in its incident's chain", async () => {
    const h = harness();
    stored(h);
    const replay: Refusal = {
      at,
      code: 'replayed-request',
      detail: 'a copy',
      status: 401,
      decisionId: 'dec-1',
      userId: 'USRE1',
      action: 'reject',
    };
    await recordRefusedRequest(replay, h.deps);
    expect(h.audited.map(({ chain, entry }) => [chain, entry.actor, entry.detail.userName])).toEqual([
      ['inc-20261104T0307-order-api', 'http:unknown source', 'Sam'],
    ]);
    expect(h.workflowCalls).toEqual([]);
  });
});

/** A deadline `ms` from now on the wall clock. */
function fixedFromNow(ms: number): AnswerDeadline {
  const at = Date.now() + ms;
  return { remainingMs: () => at - Date.now() };
}
