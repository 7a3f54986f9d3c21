// The one line the workflow closes an approval message with: what it says for the outcomes the integration test
// of the workflow does not reach, and that it stays short and redacted whatever the cluster answered.

import type { Incident } from '../../lambdas/core/cognition/incident';
import type { ExecutionRecord, IncidentCase } from '../../lambdas/core/decision/incident-case';
import { MAX_OUTCOME_NOTE_CHARS, outcomeNote } from '../../lambdas/core/decision/outcome-note';

const incident: Incident = {
  id: 'inc-20261104T0307-mysql-main',
  status: 'open',
  kind: 'anomaly',
  openedAt: '2026-11-04T03:07:00Z',
  updatedAt: '2026-11-04T03:07:00Z',
  lastAnomalyAt: '2026-11-04T03:07:00Z',
  services: ['mysql-main'],
  signals: [],
  version: 1,
};

const execution = (result: ExecutionRecord['result'], detail: string): ExecutionRecord => ({
  action: 'db-failover',
  target: 'data/datastore/mysql-main',
  dryRun: false,
  result,
  detail,
});

const caseWith = (parts: Partial<IncidentCase>): IncidentCase => ({ incidentId: incident.id, incident, ...parts });

describe('outcomeNote', () => {
  it('names the actions that did not succeed, with what the cluster said', () => {
    const c = caseWith({ execution: [execution('failed', 'the EKS executor does not carry out db-failover')] });
    expect(outcomeNote(c)).toBe(
      'remediation failed: db-failover on data/datastore/mysql-main failed: the EKS executor does not carry out db-failover; on-call paged',
    );
  });

  it('says the workflow failed, with the error and, when the ASL named it, the state', () => {
    expect(outcomeNote(caseWith({ failure: { Error: 'States.Timeout' } }))).toBe('the workflow failed: States.Timeout');
    const named = { Error: 'KubeApiError', State: 'VerifyRecovery' } as IncidentCase['failure'];
    expect(outcomeNote(caseWith({ failure: named }))).toBe('the workflow failed at VerifyRecovery: KubeApiError');
  });

  it('redacts what it repeats, and stays within what the close-approval function accepts', () => {
    const detail = `connection to 10.0.3.7 refused; ${'retrying '.repeat(80)}`;
    const note = outcomeNote(caseWith({ execution: [execution('failed', detail)] }));
    expect(note).toContain('[REDACTED:ipv4]');
    expect(note).not.toContain('10.0.3.7');
    expect(note).toHaveLength(MAX_OUTCOME_NOTE_CHARS);
    expect(note.endsWith('…')).toBe(true);
  });

  it('prefers the outcome Close recorded', () => {
    const c = caseWith({ outcome: 'diagnosis-only', execution: [execution('succeeded', 'failed over')] });
    expect(outcomeNote(c)).toBe('diagnosis only: nothing executed');
  });
});
