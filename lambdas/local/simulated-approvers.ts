// Approvers for replay: a flag decides whether the people asked approve (through the same vote code as Slack
// clicks, with the tier's quorum of distinct people), reject, or never answer.

export type ApproverMode = 'approve' | 'reject' | 'timeout';
export const APPROVER_MODES: readonly ApproverMode[] = ['approve', 'reject', 'timeout'];
