// Slack threads for notifications: the first message about a problem (an alert group, or an incident in no group)
// starts a thread in its channel and is remembered; everything later replies in that thread, so a channel shows
// one message per problem with its story underneath, whichever Lambda sends the next part.

import { clip, escapeText, LIMITS } from '../slack/blocks';
import type { SlackMessage, SlackWebApi } from '../slack/web-api';
import type { NotificationChannel } from './fanout';

/** Where a Slack message lives: the channel id Slack answered with, and the message's timestamp. */
export interface ThreadRef {
  readonly channel: string;
  readonly ts: string;
}

/**
 * Remembers threads by subject (an alert group id, or `incident:<id>`) and the channel name the route gave, so a
 * group that moved to another channel (a severity rise) keeps one thread per channel.
 */
export interface ThreadStore {
  get(subject: string, channelName: string): Promise<ThreadRef | undefined>;
  /** Records (or replaces: a subject may start a new thread in the same channel later) the subject's thread. */
  put(subject: string, channelName: string, thread: ThreadRef, startedBy: string): Promise<void>;
}

export interface SlackThreadsOptions {
  /**
   * Looks for a thread a reply should go into before starting one instead: the message that starts it may still be
   * on its way from another delivery that committed just before this one.
   * @default 3
   */
  readonly threadLookups?: number;
  /** Pause between those lookups. @default 1000 */
  readonly threadLookupDelayMs?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

export interface ThreadedPost {
  /** The message just sent. */
  readonly message: ThreadRef;
  /** The thread it is in: the message itself when it started one. */
  readonly thread: ThreadRef;
  /** The message started the thread. */
  readonly started: boolean;
  /** Why the started thread could not be remembered (later replies will start a thread of their own). */
  readonly unremembered?: string;
}

export interface ReplyOptions {
  /** Also show the reply in the channel (`reply_broadcast`): for news the whole channel must see. */
  readonly broadcast?: boolean;
  /**
   * Wait for a thread another delivery may be starting; off when only this caller ever starts the thread.
   * @default true
   */
  readonly wait?: boolean;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

export class SlackThreads {
  private readonly lookups: number;
  private readonly lookupDelayMs: number;
  private readonly sleep: (ms: number) => Promise<void>;

  constructor(
    private readonly slack: SlackWebApi,
    private readonly store: ThreadStore,
    options: SlackThreadsOptions = {},
  ) {
    this.lookups = Math.max(1, options.threadLookups ?? 3);
    this.lookupDelayMs = options.threadLookupDelayMs ?? 1_000;
    this.sleep = options.sleep ?? defaultSleep;
  }

  /** The subject's thread in the channel, if one was started (one lookup, no waiting). */
  find(subject: string, channelName: string): Promise<ThreadRef | undefined> {
    return this.store.get(subject, channelName);
  }

  /** Posts a new message in `channelName` and remembers it as the subject's thread there. */
  async start(subject: string, channelName: string, message: SlackMessage, startedBy: string): Promise<ThreadedPost> {
    const posted = await this.post({ channel: channelName, text: message.text, blocks: message.blocks });
    try {
      await this.store.put(subject, channelName, posted, startedBy);
      return { message: posted, thread: posted, started: true };
    } catch (error) {
      // The message is out and must not be sent again; only the threading of later replies is lost.
      return { message: posted, thread: posted, started: true, unremembered: describe(error) };
    }
  }

  /**
   * Replies in the subject's thread in `channelName`. When there is none, after a short wait for one being started,
   * the reply starts the thread itself: a message in the wrong place beats a message never sent.
   */
  async reply(
    subject: string,
    channelName: string,
    message: SlackMessage,
    by: string,
    options: ReplyOptions = {},
  ): Promise<ThreadedPost> {
    const lookups = options.wait === false ? 1 : this.lookups;
    for (let lookup = 1; lookup <= lookups; lookup++) {
      const thread = await this.store.get(subject, channelName);
      if (thread) return { message: await this.replyIn(thread, message, options), thread, started: false };
      if (lookup < lookups) await this.sleep(this.lookupDelayMs);
    }
    return this.start(subject, channelName, message, by);
  }

  /** Replies in a known thread. */
  async replyIn(thread: ThreadRef, message: SlackMessage, options: ReplyOptions = {}): Promise<ThreadRef> {
    return this.post({
      channel: thread.channel,
      thread_ts: thread.ts,
      text: message.text,
      blocks: message.blocks,
      ...(options.broadcast ? { reply_broadcast: true } : {}),
    });
  }

  private async post(body: Record<string, unknown>): Promise<ThreadRef> {
    const answer = await this.slack.call('chat.postMessage', body);
    const channel = answer.channel;
    const ts = answer.ts;
    if (typeof channel !== 'string' || channel === '' || typeof ts !== 'string' || ts === '') {
      throw new Error('chat.postMessage: the answer has no "channel" and "ts"');
    }
    return { channel, ts };
  }
}

/** Where an incident's notices go in Slack. */
export interface IncidentThreadOptions {
  /** The channel (the approvals channel) of an incident that is in no alert group with a thread. */
  readonly channel: string;
  /** The thread of the alert group the incident joined, by subject and channel name, when it joined one. */
  readonly groupThread?: { readonly subject: string; readonly channelName: string };
  readonly name?: string;
}

/** The subject an incident's own thread is remembered under. */
export const incidentSubject = (incidentId: string): string => `incident:${incidentId}`;

/**
 * The incident notices as Slack replies: in the thread of the alert group the incident joined, so the alerts and
 * what the agent did about them read as one story; otherwise in the incident's own thread in `channel`, which its
 * first notice starts.
 */
export function incidentThreadChannel(threads: SlackThreads, options: IncidentThreadOptions): NotificationChannel {
  return {
    name: options.name ?? 'slack',
    role: 'primary',
    async send(notice, c, context) {
      const escaped = escapeText(context.text);
      const message: SlackMessage = {
        text: clip(escaped, LIMITS.fallbackText),
        blocks: [{ type: 'section', text: { type: 'mrkdwn', text: clip(escaped, LIMITS.sectionText) } }],
      };
      try {
        // The incident's own thread first: its approval request started it, and the notices belong with the votes.
        const subject = incidentSubject(c.incidentId);
        const own = await threads.find(subject, options.channel);
        if (own) {
          const reply = await threads.replyIn(own, message);
          return { ok: true, detail: `replied in the incident's thread: ${own.channel}/${reply.ts}` };
        }
        const group = options.groupThread;
        const thread = group ? await threads.find(group.subject, group.channelName) : undefined;
        if (thread) {
          const reply = await threads.replyIn(thread, message);
          return { ok: true, detail: `replied in the thread of ${group?.subject}: ${thread.channel}/${reply.ts}` };
        }
        // Notices of one incident come one after another from its workflow: nobody else starts this thread.
        const by = `${c.incidentId}:${notice}`;
        const posted = await threads.reply(subject, options.channel, message, by, { wait: false });
        const where = `${posted.message.channel}/${posted.message.ts}`;
        const note = posted.unremembered ? ` (thread not remembered: ${posted.unremembered})` : '';
        return { ok: true, detail: `${posted.started ? 'started the incident thread' : 'replied'} ${where}${note}` };
      } catch (error) {
        return { ok: false, detail: describe(error) };
      }
    },
  };
}

function describe(error: unknown): string {
  return error instanceof Error ? error.message : String(error);
}
