// Approvers for replay: a flag decides whether the people asked approve (with exactly the tier's quorum of
// distinct people), reject, or never answer. The workflow sees what Slack callbacks would send it.

import { QUORUM, type Tier, type Vote } from '../core/decision/types';

export type ApproverMode = 'approve' | 'reject' | 'timeout';
export const APPROVER_MODES: readonly ApproverMode[] = ['approve', 'reject', 'timeout'];

/** What SendTaskFailure carries when someone rejects: the workflow catches it by name. */
export class ApprovalRejected extends Error {
  override readonly name = 'ApprovalRejected';
}

/** What the workflow sees when nobody answers before the state's timeout. */
export class ApprovalTimedOut extends Error {
  override readonly name = 'States.Timeout';
}

export interface ApprovalRequest {
  readonly decisionId: string;
  readonly tier: Tier;
}

export function simulatedApproval(
  mode: ApproverMode,
  request: ApprovalRequest,
  at: string,
): { approved: true; votes: Vote[] } {
  if (request.tier === 'CRITICAL' || request.tier === 'LOW') {
    throw new Error(`tier ${request.tier} never asks for approval`);
  }
  const vote = (
    userId: string,
    userName: string,
    role: Vote['role'],
    choice: Vote['choice'],
    reason?: string,
  ): Vote => ({
    decisionId: request.decisionId,
    userId,
    userName,
    role,
    choice,
    at,
    ...(reason ? { reason } : {}),
  });
  if (mode === 'timeout') throw new ApprovalTimedOut('no quorum before the approval timeout');
  if (mode === 'reject') {
    const by = vote('USIM-SRE-1', 'replay-sre-1', 'sre', 'reject', 'simulated rejection (replay --approvers reject)');
    throw new ApprovalRejected(JSON.stringify({ by: by.userName, role: by.role, reason: by.reason }));
  }
  const quorum = QUORUM[request.tier];
  const votes: Vote[] = [];
  for (let i = 1; i <= quorum.sre; i++) votes.push(vote(`USIM-SRE-${i}`, `replay-sre-${i}`, 'sre', 'approve'));
  for (let i = 1; i <= quorum['tech-lead']; i++) {
    votes.push(vote(`USIM-LEAD-${i}`, `replay-lead-${i}`, 'tech-lead', 'approve'));
  }
  return { approved: true, votes };
}
