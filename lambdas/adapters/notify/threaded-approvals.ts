// Approval requests in the incident's Slack thread: the request starts the thread (or replies in it when one
// exists), so the votes, the outcome and every later notice of the incident read as one conversation.

import type { ApprovalMessenger, ApprovalView } from '../../core/decision/approval';
import type { SlackMessage } from '../slack/web-api';
import { incidentSubject, type SlackThreads } from './slack-threads';

export function threadedApprovalMessenger(
  base: ApprovalMessenger,
  threads: SlackThreads,
  render: (view: ApprovalView) => SlackMessage,
): ApprovalMessenger {
  return {
    ...base,
    async post(channel, view) {
      const { incidentId, decisionId } = view.decision;
      // A retried request must not wait for a thread it may itself have started: one lookup, then start.
      const posted = await threads.reply(incidentSubject(incidentId), channel, render(view), `${decisionId}:approval`, {
        wait: false,
      });
      return { channel: posted.message.channel, ts: posted.message.ts };
    },
  };
}
