// The approval flow's chat port in Slack: the approval message, private notes and the reject dialog, each call
// bounded by the limits the flow passes while someone waits for the answer.

import type { ApprovalMessenger } from '../../core/decision/approval';
import { renderApprovalMessage, renderRejectReasonModal } from './blocks';
import type { SlackWebApi } from './web-api';

export function slackApprovalMessenger(slack: SlackWebApi): ApprovalMessenger {
  return {
    post: (channel, view) => slack.postMessage(channel, renderApprovalMessage(view)),
    update: async (channel, ts, view, limits) => {
      await slack.update({ channel, ts }, renderApprovalMessage(view), limits);
    },
    tell: (channel, userId, text, limits) => slack.postEphemeral(channel, userId, text, limits),
    askRejectReason: (triggerId, view, limits) => slack.openView(triggerId, renderRejectReasonModal(view), limits),
  };
}
