// The incident workflow's health metrics read off the case each step returns: actions by result only at Remediate,
// recovery verdicts only once final, the model's calls, tokens and fallbacks only at Diagnose, and the EMF record
// the handlers' metrics middleware writes from them.

import { Metrics } from '@aws-lambda-powertools/metrics';
import type { IncidentCase } from '../../lambdas/core/decision/incident-case';
import { METRIC } from '../../lambdas/handlers/metrics';
import { countSteps, diagnosisCounts, remediationCounts } from '../../lambdas/handlers/workflow-metrics';

const base = { incidentId: 'inc-1', incident: {} } as unknown as IncidentCase;

const executed = (...results: ('succeeded' | 'failed' | 'refused')[]): IncidentCase => ({
  ...base,
  execution: results.map((result, i) => ({
    action: 'restart-pod',
    target: `trading/pod/order-api-${i}`,
    dryRun: false,
    result,
    detail: result,
  })),
});

const verified = (status: 'pending' | 'recovered' | 'not-recovered' | 'nothing-ran'): IncidentCase => ({
  ...base,
  verification: {
    status,
    recovered: status === 'recovered',
    startedAt: '2026-11-04T03:10:00Z',
    deadline: '2026-11-04T03:20:00Z',
    checkedAt: '2026-11-04T03:12:00Z',
    checks: 2,
    recheckSeconds: 60,
    detail: [],
  },
});

const diagnosed = (llm?: { tokens?: number; fallbackReason?: string }): IncidentCase => ({
  ...base,
  diagnosis: {
    rootCause: { service: 'order-api', kind: 'bad-deploy', confidence: 0.8 },
    candidates: [],
    evidence: [],
    method: llm && !llm.fallbackReason ? 'llm' : 'rules',
    ...(llm ? { llm: { suggestedActions: [], redactions: 0, ...llm } } : {}),
  },
});

describe('remediationCounts', () => {
  it('Remediate counts the actions that ran by result; a refused action ran neither way', () => {
    expect(remediationCounts('Remediate', executed('succeeded', 'succeeded', 'failed', 'refused'))).toEqual({
      [METRIC.ActionsExecuted]: 2,
      [METRIC.ActionsFailed]: 1,
      [METRIC.RecoveriesConfirmed]: 0,
      [METRIC.RecoveriesFailed]: 0,
    });
  });

  it('VerifyRecovery counts a final verdict once; pending and nothing-ran count nothing', () => {
    expect(remediationCounts('VerifyRecovery', verified('recovered'))).toMatchObject({
      [METRIC.RecoveriesConfirmed]: 1,
      [METRIC.RecoveriesFailed]: 0,
    });
    expect(remediationCounts('VerifyRecovery', verified('not-recovered'))).toMatchObject({
      [METRIC.RecoveriesConfirmed]: 0,
      [METRIC.RecoveriesFailed]: 1,
    });
    for (const status of ['pending', 'nothing-ran'] as const) {
      expect(Object.values(remediationCounts('VerifyRecovery', verified(status)))).toEqual([0, 0, 0, 0]);
    }
  });

  it('later steps carrying the same case count it again nowhere', () => {
    const c = { ...executed('succeeded'), ...verified('recovered') };
    expect(Object.values(remediationCounts('UndoRemediation', c))).toEqual([0, 0, 0, 0]);
    expect(remediationCounts('VerifyRecovery', c)).toMatchObject({ [METRIC.ActionsExecuted]: 0 });
  });
});

describe('diagnosisCounts', () => {
  it('Diagnose with the model answering: one call, its tokens, no fallback', () => {
    expect(diagnosisCounts('Diagnose', diagnosed({ tokens: 1_834 }))).toEqual({
      [METRIC.LlmCalls]: 1,
      [METRIC.LlmTokens]: 1_834,
      [METRIC.LlmFallbacks]: 0,
    });
  });

  it('Diagnose with the model failing: still a call, and a fallback', () => {
    expect(diagnosisCounts('Diagnose', diagnosed({ fallbackReason: 'timeout' }))).toEqual({
      [METRIC.LlmCalls]: 1,
      [METRIC.LlmTokens]: 0,
      [METRIC.LlmFallbacks]: 1,
    });
  });

  it('no model configured, or a later step: no call is written, so the fallback rate has no denominator', () => {
    expect(diagnosisCounts('Diagnose', diagnosed())).toEqual({ [METRIC.LlmTokens]: 0, [METRIC.LlmFallbacks]: 0 });
    expect(diagnosisCounts('AssessRisk', diagnosed({ tokens: 900 }))).toEqual({
      [METRIC.LlmTokens]: 0,
      [METRIC.LlmFallbacks]: 0,
    });
  });
});

describe('countSteps', () => {
  it('writes the counts as one EMF record in the agent namespace', () => {
    const lines: string[] = [];
    const metrics = new Metrics({ namespace: 'SreAgent', serviceName: 'sre-agent' });
    jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
      lines.push(typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8'));
      return true;
    });
    try {
      countSteps(metrics, diagnosisCounts('Diagnose', diagnosed({ tokens: 42, fallbackReason: 'invalid-json' })));
      metrics.publishStoredMetrics();
    } finally {
      jest.restoreAllMocks();
    }
    const record = JSON.parse(lines.join('').trim().split('\n').pop() ?? '{}') as Record<string, unknown>;
    expect(record).toMatchObject({ LlmCalls: 1, LlmTokens: 42, LlmFallbacks: 1 });
    expect(JSON.stringify(record._aws)).toContain('"Namespace":"SreAgent"');
  });
});
