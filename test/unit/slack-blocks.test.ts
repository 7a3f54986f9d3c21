// The approval message: what it tells approvers, the buttons and their values, the closed variants, and
// Block Kit's limits held however much the incident carries.

import {
  APPROVE_ACTION,
  clip,
  escapeText,
  LIMITS,
  REJECT_ACTION,
  renderApprovalMessage,
  renderRejectReasonModal,
  sparkline,
} from '../../lambdas/adapters/slack/blocks';
import type { Block } from '../../lambdas/adapters/slack/web-api';
import type { Incident, IncidentSignal } from '../../lambdas/core/cognition/incident';
import { type ApprovalView, type Decision, evaluateQuorum } from '../../lambdas/core/decision/approval';
import type { PlannedAction, RiskAssessment, Vote } from '../../lambdas/core/decision/types';

const signal = (entity: string, signalId: string, value: number, expected: number, score = 0.9): IncidentSignal => ({
  key: `${signalId}{${entity}}`,
  signalId,
  entity,
  firstAnomalousAt: '2026-11-04T03:04:00Z',
  lastRaisedAt: '2026-11-04T03:07:00Z',
  peakZ: 41.5,
  peakScore: score,
  valueAtPeak: value,
  expectedAtPeak: expected,
  hardLimitBreached: true,
});

const incident: Incident = {
  id: 'inc-20261104T0307-order-api',
  status: 'open',
  kind: 'anomaly',
  openedAt: '2026-11-04T03:07:00Z',
  updatedAt: '2026-11-04T03:07:00Z',
  lastAnomalyAt: '2026-11-04T03:07:00Z',
  services: ['order-api', 'api-gateway'],
  signals: [
    signal('order-api', 'http_error_ratio', 0.2, 0.002),
    signal('api-gateway', 'http_latency_p99', 0.41, 0.05, 0.7),
  ],
  version: 1,
};

const plan: PlannedAction[] = [
  {
    action: 'rollback',
    service: 'order-api',
    target: { namespace: 'trading', kind: 'deployment', name: 'order-api' },
    params: { toRevision: 41 },
    reason: 'release 2026.11.04-1 at 03:03 precedes the errors',
  },
];

const risk: RiskAssessment = {
  score: 0.52,
  tier: 'MEDIUM',
  factors: [
    { name: 'blast radius', value: 0.6, weight: 0.5, contribution: 0.3, explanation: 'core service, 6 replicas' },
    { name: 'confidence', value: 0.28, weight: 0.3, contribution: 0.084, explanation: 'diagnosis confidence 72 %' },
  ],
  overrides: [],
};

const decision = (overrides: Partial<Decision> = {}): Decision => ({
  decisionId: 'inc-20261104T0307-order-api',
  incidentId: incident.id,
  tier: 'MEDIUM',
  quorum: { sre: 1, 'tech-lead': 0 },
  status: 'pending',
  taskToken: 'AQCEAAAAKgAAAAMAAAAAAAAAAT0p-secret-token',
  channel: 'C0SREAPPROVALS',
  messageTs: '1700000000.000100',
  createdAt: '2026-11-04T03:10:00.000Z',
  expiresAt: '2026-11-04T03:40:00.000Z',
  ...overrides,
});

function view(d: Decision, votes: Vote[] = [], extra: Partial<ApprovalView['context']> = {}): ApprovalView {
  return {
    decision: d,
    context: {
      incident,
      plan,
      risk,
      keySeries: { series: 'http_error_ratio{order-api}', points: [0.002, 0.002, 0.003, 0.05, 0.2, 0.19] },
      diagnosis: {
        rootCause: 'order-api (bad-deploy)',
        confidence: 0.72,
        evidence: ['first anomalous service', 'release at 03:03'],
      },
      ...extra,
    },
    votes,
    quorum: evaluateQuorum(d.tier, votes),
  };
}

const approval = (userId: string, userName: string, at = '2026-11-04T03:12:00.000Z'): Vote => ({
  decisionId: 'd',
  userId,
  userName,
  role: 'sre',
  choice: 'approve',
  at,
});

const texts = (blocks: readonly Block[]): string => JSON.stringify(blocks);
const actionsOf = (blocks: readonly Block[]) => blocks.filter((b) => b.type === 'actions');

describe('renderApprovalMessage', () => {
  it('tells approvers what is wrong, why, what would be done, how risky it is, and asks for their vote', () => {
    const { text, blocks } = renderApprovalMessage(view(decision()));
    const all = texts(blocks);
    expect(blocks[0]).toMatchObject({ type: 'header', text: { type: 'plain_text' } });
    expect(JSON.stringify(blocks[0])).toContain('MEDIUM approval needed · inc-20261104T0307-order-api');
    expect(all).toContain('`order-api`, `api-gateway`');
    expect(all).toContain('`http_error_ratio` on *order-api*: 0.2 vs expected 0.002');
    expect(all).toContain('▁▁▁▂██');
    expect(all).toContain('root cause *order-api (bad-deploy)* (confidence 72 %)');
    expect(all).toContain('• release at 03:03');
    expect(all).toContain('*rollback* `trading/deployment/order-api`');
    expect(all).toContain('*Risk 0.52* (MEDIUM)');
    expect(all).toContain('blast radius: 0.6 × 0.5 = *0.3*');
    expect(all).toContain('Still needed: 1 SRE');
    expect(all).toContain('None yet.');
    expect(text).toBe('MEDIUM approval needed for inc-20261104T0307-order-api (order-api, api-gateway): rollback');
    expect(all).not.toContain('secret-token');
  });

  it('has Approve and Reject buttons carrying the decision id', () => {
    const [actions] = actionsOf(renderApprovalMessage(view(decision())).blocks);
    const elements = actions.elements as Record<string, unknown>[];
    expect(elements.map((e) => [e.action_id, e.value, e.style])).toEqual([
      [APPROVE_ACTION, 'inc-20261104T0307-order-api', 'primary'],
      [REJECT_ACTION, 'inc-20261104T0307-order-api', 'danger'],
    ]);
    expect(elements[0].confirm).toBeDefined();
  });

  it('shows the votes so far, who and in which role, and the seats still empty', () => {
    const high = decision({ tier: 'HIGH', quorum: { sre: 2, 'tech-lead': 1 } });
    const all = texts(renderApprovalMessage(view(high, [approval('USRE1', 'Sam')])).blocks);
    expect(all).toContain('*Sam* (SRE) approved <!date^');
    expect(all).toContain('Still needed: 1 SRE and 1 tech lead');
  });

  it('closed: says who approved, who rejected and why, or that it timed out, and has no buttons', () => {
    const approve = approval('USRE1', 'Sam');
    const reject: Vote = { ...approve, userId: 'USRE2', userName: 'Ria', choice: 'reject', reason: 'wrong release' };
    const closedAt = '2026-11-04T03:12:01.000Z';

    const approved = renderApprovalMessage(view(decision({ status: 'approved', closedAt }), [approve]));
    expect(actionsOf(approved.blocks)).toHaveLength(0);
    expect(texts(approved.blocks)).toContain('*Approved* by Sam (SRE)');
    expect(approved.text).toContain('Approved');

    const rejected = renderApprovalMessage(view(decision({ status: 'rejected', closedAt }), [reject]));
    expect(actionsOf(rejected.blocks)).toHaveLength(0);
    expect(texts(rejected.blocks)).toContain('*Rejected* by Ria (SRE)');
    expect(texts(rejected.blocks)).toContain(': wrong release');

    const timedOut = renderApprovalMessage(view(decision({ status: 'timed-out', closedAt })));
    expect(actionsOf(timedOut.blocks)).toHaveLength(0);
    expect(texts(timedOut.blocks)).toContain('*Timed out*');

    const closed = renderApprovalMessage(
      view(decision({ status: 'closed', closedAt, closeReason: 'incident resolved on its own' })),
    );
    expect(texts(closed.blocks)).toContain('*Closed by the workflow*');
    expect(texts(closed.blocks)).toContain('incident resolved on its own');

    const undelivered = renderApprovalMessage(
      view(decision({ status: 'approved', closedAt, deliveryError: 'TaskTimedOut: expired' }), [approve]),
    );
    expect(texts(undelivered.blocks)).toContain('The workflow could not be told (TaskTimedOut: expired)');
  });

  it("closed: ends with what became of a decided plan, as the workflow's close said, redacted and escaped", () => {
    const approve = approval('USRE1', 'Sam');
    const closedAt = '2026-11-04T03:12:01.000Z';
    const approved = decision({ status: 'approved', closedAt, closedBy: 'USRE1' });

    const recovered = texts(
      renderApprovalMessage(
        view({ ...approved, workflowOutcome: 'closed', outcomeNote: 'remediated, recovered in 7 min' }, [approve]),
      ).blocks,
    );
    expect(recovered).toContain('*Approved* by Sam (SRE)');
    expect(recovered).toContain('*Outcome*: remediated, recovered in 7 min');

    const notRecovered = texts(
      renderApprovalMessage(
        view({ ...approved, workflowOutcome: 'closed', outcomeNote: 'not recovered: undone <@U1> from 10.2.3.4' }, [
          approve,
        ]),
      ).blocks,
    );
    expect(notRecovered).toContain('*Outcome*: not recovered: undone &lt;@U1&gt; from [REDACTED:ip');

    const failed = renderApprovalMessage(
      view({ ...approved, workflowOutcome: 'failed', outcomeNote: 'workflow failed at Remediate: boom' }, [approve]),
    );
    expect(actionsOf(failed.blocks)).toHaveLength(0);
    expect(texts(failed.blocks)).toContain(
      ':warning: *The workflow failed afterwards*: workflow failed at Remediate: boom',
    );

    // A rejection keeps its reason; the workflow's note comes on a line of its own.
    const reject: Vote = { ...approve, userId: 'USRE2', userName: 'Ria', choice: 'reject', reason: 'wrong release' };
    const rejected = texts(
      renderApprovalMessage(
        view(
          decision({
            status: 'rejected',
            closedAt,
            closeReason: 'wrong release',
            workflowOutcome: 'closed',
            outcomeNote: 'rejected by Ria (sre): wrong release; nothing executed',
          }),
          [reject],
        ),
      ).blocks,
    );
    expect(rejected).toContain('*Rejected* by Ria (SRE)');
    expect(rejected).toContain(': wrong release');
    expect(rejected).toContain('*Outcome*: rejected by Ria (sre): wrong release; nothing executed');

    // Closed without a note: nothing more is said.
    const silent = texts(renderApprovalMessage(view({ ...approved, workflowOutcome: 'closed' }, [approve])).blocks);
    expect(silent).not.toContain('*Outcome*');
  });

  it('failed while waiting: the workflow failed before anyone decided, no buttons, the note shown', () => {
    const failed = renderApprovalMessage(
      view(
        decision({
          status: 'failed',
          closedAt: '2026-11-04T03:20:00.000Z',
          closedBy: 'workflow',
          closeReason: 'workflow failed at RequestApproval: Lambda.Unknown',
        }),
      ),
    );
    expect(actionsOf(failed.blocks)).toHaveLength(0);
    const header = failed.blocks[0] as { text: { text: string } };
    expect(header.text.text).toContain(':warning: Workflow failed');
    expect(texts(failed.blocks)).toContain('*The workflow failed*');
    expect(texts(failed.blocks)).toContain(
      'before the decision was made: workflow failed at RequestApproval: Lambda.Unknown',
    );
    expect(failed.text).toContain('Workflow failed');
  });

  it('escapes &, < and > in everything that comes from data, so nothing can mention or link', () => {
    const nasty: PlannedAction = { ...plan[0], reason: 'ping <!channel> & <https://evil.example|click>' };
    const all = texts(renderApprovalMessage(view(decision(), [], { plan: [nasty] })).blocks);
    expect(all).toContain('ping &lt;!channel&gt; &amp; &lt;https://evil.example|click&gt;');
    expect(all).not.toContain('<!channel>');
  });

  it('stays within Block Kit limits with a huge incident', () => {
    const many = Array.from({ length: 500 }, (_, i) =>
      signal(`svc-${i}`, `signal_${i}_${'x'.repeat(80)}`, i, 1, i / 500),
    );
    const longPlan = Array.from({ length: 40 }, () => ({ ...plan[0], reason: 'r'.repeat(2000) }));
    const longRisk: RiskAssessment = {
      ...risk,
      factors: Array.from({ length: 30 }, (_, i) => ({
        ...risk.factors[0],
        name: `f${i}`,
        explanation: 'e'.repeat(500),
      })),
      overrides: ['o'.repeat(4000)],
    };
    const votes: Vote[] = Array.from({ length: 60 }, (_, i) =>
      approval(`U${i}`, 'n'.repeat(100), new Date(Date.parse('2026-11-04T03:12:00Z') + i * 1000).toISOString()),
    );
    const longId = `inc-${'x'.repeat(300)}`;
    const big = view(decision({ incidentId: longId, tier: 'HIGH', quorum: { sre: 2, 'tech-lead': 1 } }), votes, {
      incident: { ...incident, id: longId, services: many.map((s) => s.entity), signals: many },
      plan: longPlan,
      risk: longRisk,
      keySeries: { series: 's'.repeat(5000), points: Array.from({ length: 10_000 }, (_, i) => Math.sin(i)) },
      diagnosis: { rootCause: 'x', confidence: 0.5, evidence: Array.from({ length: 100 }, () => 'e'.repeat(3000)) },
    });
    const closed = { ...big, decision: { ...big.decision, status: 'approved' as const } };
    for (const message of [renderApprovalMessage(big), renderApprovalMessage(closed)]) {
      expect(message.blocks.length).toBeLessThanOrEqual(LIMITS.blocks);
      expect(message.text.length).toBeLessThanOrEqual(LIMITS.fallbackText);
      for (const block of message.blocks) {
        const text = (block.text as { text?: string } | undefined)?.text;
        if (block.type === 'header') expect(text!.length).toBeLessThanOrEqual(LIMITS.headerText);
        if (block.type === 'section') expect(text!.length).toBeLessThanOrEqual(LIMITS.sectionText);
        if (block.type === 'context') {
          for (const element of block.elements as { text: string }[]) {
            expect(element.text.length).toBeLessThanOrEqual(LIMITS.sectionText);
          }
        }
      }
    }
  });
});

describe('renderRejectReasonModal', () => {
  it('asks why, and carries the decision id back', () => {
    const modal = renderRejectReasonModal(view(decision()));
    expect(modal).toMatchObject({ type: 'modal', callback_id: 'reject-reason' });
    expect(JSON.parse(modal.private_metadata as string)).toEqual({ decisionId: 'inc-20261104T0307-order-api' });
    expect((modal.title as { text: string }).text.length).toBeLessThanOrEqual(LIMITS.modalTitle);
    expect(JSON.stringify(modal.blocks)).toContain('"block_id":"reason"');
  });
});

describe('sparkline', () => {
  it('scales the points between their minimum and maximum onto eight bars', () => {
    expect(sparkline([0, 1, 2, 3, 4, 5, 6, 7])).toBe('▁▂▃▄▅▆▇█');
    expect(sparkline([10, 20])).toBe('▁█');
  });

  it('leaves gaps blank and draws a flat series low', () => {
    expect(sparkline([1, Number.NaN, null, 3])).toBe('▁  █');
    expect(sparkline([5, 5, 5])).toBe('▁▁▁');
    expect(sparkline([])).toBe('');
    expect(sparkline([Number.NaN])).toBe('');
  });

  it('keeps a spike when it buckets a long series', () => {
    const points = Array.from({ length: 1000 }, (_, i) => (i === 501 ? 100 : 1));
    const line = sparkline(points, 40);
    expect(line).toHaveLength(40);
    expect(line).toContain('█');
    expect(line.replace('█', '')).toMatch(/^▁+$/);
  });
});

describe('escapeText and clip', () => {
  it('escapes the three markup characters', () => {
    expect(escapeText('a & b < c > d')).toBe('a &amp; b &lt; c &gt; d');
  });

  it('never cuts inside an escape or a date token', () => {
    expect(clip('abc &amp; def', 7)).toBe('abc …');
    expect(clip('abc <!date^1^{time}|03:00 UTC> tail', 12)).toBe('abc …');
    expect(clip('short', 10)).toBe('short');
  });
});

describe('redaction at the Slack boundary', () => {
  it('never lets an address, a key or a wallet into a message', () => {
    const text = escapeText(
      'dial tcp 10.0.3.17:8443 refused; payout to 0x52908400098527886E0F7030069857D2E4169EE7 <b>',
    );
    expect(text).not.toContain('10.0.3.17');
    expect(text).not.toContain('0x52908400098527886E0F7030069857D2E4169EE7');
    expect(text).toContain('[REDACTED:ipv4]');
    expect(text).toContain('&lt;b&gt;');
  });
});
