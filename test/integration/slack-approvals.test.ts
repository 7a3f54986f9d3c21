// Slack approvals end to end, as Lambda runs them: the request-approval, slack-interactions and close-approval
// handlers with their module-scope wiring, DynamoDB (approvals and the audit trail) through dynalite, the Slack
// Web API on a loopback server that answers as Slack does (or slowly), Secrets Manager and Step Functions
// through aws-sdk-client-mock. Every refusal is checked for its status, its record in the store and in the audit
// trail, and for leaving the workflow untouched.

import { createServer, type IncomingHttpHeaders, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { GetItemCommand } from '@aws-sdk/client-dynamodb';
import { GetSecretValueCommand, SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import type { Context } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { loadEnvironmentConfig } from '../../lambdas/adapters/config-files';
import { DynamoApprovalStore } from '../../lambdas/adapters/dynamodb/approval-store';
import { DynamoAuditLog } from '../../lambdas/adapters/dynamodb/audit-log';
import { slackSignature } from '../../lambdas/adapters/slack/signature';
import { SlackApiError, SlackWebApi } from '../../lambdas/adapters/slack/web-api';
import { type AuditRecord, verifyChain } from '../../lambdas/core/action/audit';
import type { Incident } from '../../lambdas/core/cognition/incident';
import {
  type ClosedDecision,
  interactionsChain,
  type OpenedDecision,
  type Refusal,
} from '../../lambdas/core/decision/approval';
import type { PlannedAction, RiskAssessment } from '../../lambdas/core/decision/types';
import type { HttpEvent, HttpResult } from '../../lambdas/handlers/slack-interactions';
import { type LocalDynamo, startLocalDynamo } from '../../lambdas/local/local-dynamodb';

const SIGNING_SECRET = 'e4b1c7d0a2f94a55b0c1d2e3f4a5b6c7';
const BOT_TOKEN = 'xoxb-1111-2222-test-bot-token';
const LEGACY_TOKEN = 'legacy-verification-token';
const CHANNEL = 'C0APPROVALS';
const SRE1 = 'U0SRE1';
const SRE2 = 'U0SRE2';
const LEAD = 'U0LEAD1';

const sfn = mockClient(SFNClient);
const secrets = mockClient(SecretsManagerClient);
let dynamo: LocalDynamo;
let store: DynamoApprovalStore;
let auditTrail: DynamoAuditLog;
let slack: Server;
let slackUrl: string;

interface SlackCall {
  readonly method: string;
  readonly headers: IncomingHttpHeaders;
  readonly body: Record<string, unknown>;
}
type Answer = (response: ServerResponse, call: SlackCall) => void;

let calls: SlackCall[] = [];
const queued = new Map<string, Answer[]>();
let messageCounter = 0;

/** The next answers `method` gives, before it falls back to its usual success. */
function answerNext(method: string, ...answers: Answer[]): void {
  queued.set(method, [...(queued.get(method) ?? []), ...answers]);
}

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}): Answer =>
  (response) => {
    response.writeHead(status, { 'content-type': 'application/json; charset=utf-8', ...headers });
    response.end(JSON.stringify(body));
  };

/** A slow Slack: `answer` (by default the usual success) only after `ms`, if the caller still listens. */
const delayed =
  (ms: number, answer?: Answer): Answer =>
  (response, call) => {
    const timer = setTimeout(() => {
      if (response.destroyed || response.writableEnded) return;
      (answer ?? json(200, success(call)))(response, call);
    }, ms);
    timer.unref();
  };

/** What Slack answers when all goes well. */
function success(call: SlackCall): unknown {
  switch (call.method) {
    case 'chat.postMessage': {
      messageCounter++;
      const ts = `1700000000.${String(messageCounter).padStart(6, '0')}`;
      return { ok: true, channel: CHANNEL, ts, message: { type: 'message', text: call.body.text, ts, bot_id: 'B01' } };
    }
    case 'chat.update':
      return { ok: true, channel: call.body.channel, ts: call.body.ts, text: call.body.text };
    case 'chat.postEphemeral':
      return { ok: true, message_ts: '1700000099.000001' };
    case 'views.open':
      return { ok: true, view: { id: 'V0REASON', type: 'modal' } };
    default:
      return { ok: false, error: 'unknown_method' };
  }
}

const context = {
  functionName: 'sre-agent-dev-slack-interactions',
  functionVersion: '$LATEST',
  invokedFunctionArn: 'arn:aws:lambda:ap-northeast-1:123456789012:function:sre-agent-dev-slack-interactions',
  memoryLimitInMB: '1024',
  awsRequestId: 'c6af9ac6-7b61-11e6-9a41-93e812345678',
  logGroupName: '/aws/lambda/sre-agent-dev-slack-interactions',
  logStreamName: '2026/11/04/[$LATEST]abc',
  callbackWaitsForEmptyEventLoop: true,
  getRemainingTimeInMillis: () => 10_000,
} as unknown as Context;

beforeAll(async () => {
  dynamo = await startLocalDynamo('slack-approvals-test');
  store = new DynamoApprovalStore(dynamo.client, dynamo.tables.approvals);
  auditTrail = new DynamoAuditLog(dynamo.client, dynamo.tables.audit);
  slack = createServer((request, response) => {
    const chunks: Buffer[] = [];
    request.on('data', (chunk: Buffer) => chunks.push(chunk));
    request.on('end', () => {
      const method = (request.url ?? '').replace(/^\/api\//, '');
      const text = Buffer.concat(chunks).toString('utf8');
      const call: SlackCall = { method, headers: request.headers, body: text ? JSON.parse(text) : {} };
      calls.push(call);
      if (request.headers.authorization !== `Bearer ${BOT_TOKEN}`) {
        json(200, { ok: false, error: 'not_authed' })(response, call);
        return;
      }
      const next = queued.get(method)?.shift();
      if (next) next(response, call);
      else json(200, success(call))(response, call);
    });
  });
  await new Promise<void>((resolve) => slack.listen(0, '127.0.0.1', () => resolve()));
  slackUrl = `http://127.0.0.1:${(slack.address() as AddressInfo).port}/api/`;

  const { config, catalog, playbooks } = loadEnvironmentConfig('dev');
  const approvals = {
    channel: CHANNEL,
    signingSecretName: 'sre-agent/test/slack-signing-secret',
    botTokenSecretName: 'sre-agent/test/slack-bot-token',
    approvers: [
      { slackUserId: SRE1, name: 'Sam Sre', role: 'sre' },
      { slackUserId: SRE2, name: 'Ria Sre', role: 'sre' },
      { slackUserId: LEAD, name: 'Lee Lead', role: 'tech-lead' },
    ],
    timeoutMinutes: { MEDIUM: 30, HIGH: 60 },
  };
  process.env.SRE_AGENT_BUNDLED_CONFIG = JSON.stringify({ config: { ...config, approvals }, catalog, playbooks });
  process.env.APPROVALS_TABLE = dynamo.tables.approvals;
  process.env.AUDIT_TABLE = dynamo.tables.audit;
  process.env.AWS_ENDPOINT_URL_DYNAMODB = dynamo.endpoint;
  process.env.AWS_ACCESS_KEY_ID = 'local';
  process.env.AWS_SECRET_ACCESS_KEY = 'local';
  process.env.POWERTOOLS_LOG_LEVEL = 'ERROR';
  process.env.SLACK_API_URL = slackUrl;

  secrets
    .on(GetSecretValueCommand, { SecretId: approvals.signingSecretName })
    .resolves({ SecretString: SIGNING_SECRET });
  secrets.on(GetSecretValueCommand, { SecretId: approvals.botTokenSecretName }).resolves({
    SecretString: JSON.stringify({ token: BOT_TOKEN }),
  });
  sfn.on(SendTaskSuccessCommand).resolves({});
  sfn.on(SendTaskFailureCommand).resolves({});
});

afterAll(async () => {
  // Answers held back by the slow-Slack tests would keep their connections open.
  slack.closeAllConnections();
  await new Promise<void>((resolve) => slack.close(() => resolve()));
  await dynamo.close();
  delete process.env.AWS_ENDPOINT_URL_DYNAMODB;
  delete process.env.SLACK_API_URL;
});

beforeEach(() => {
  calls = [];
  queued.clear();
  sfn.resetHistory();
});

// ---------------------------------------------------------------------------------------------------------
// Inputs as the workflow and Slack send them

const incident: Incident = {
  id: 'inc-20261104T0307-order-api',
  status: 'open',
  kind: 'anomaly',
  openedAt: '2026-11-04T03:07:00Z',
  updatedAt: '2026-11-04T03:07:00Z',
  lastAnomalyAt: '2026-11-04T03:07:00Z',
  services: ['order-api', 'api-gateway'],
  signals: [
    {
      key: 'http_error_ratio{order-api}',
      signalId: 'http_error_ratio',
      entity: 'order-api',
      firstAnomalousAt: '2026-11-04T03:04:00Z',
      lastRaisedAt: '2026-11-04T03:07:00Z',
      peakZ: 41.5,
      peakScore: 0.93,
      valueAtPeak: 0.2,
      expectedAtPeak: 0.002,
      hardLimitBreached: true,
    },
  ],
  version: 1,
};

const step = (action: PlannedAction['action']): PlannedAction => ({
  action,
  service: 'order-api',
  target: { namespace: 'trading', kind: 'deployment', name: 'order-api' },
  params: {},
  reason: 'release at 03:03 precedes the errors',
});

const riskOf = (tier: RiskAssessment['tier'], score: number): RiskAssessment => ({
  score,
  tier,
  factors: [{ name: 'blast radius', value: 0.6, weight: 0.5, contribution: 0.3, explanation: 'core service' }],
  overrides: [],
});

let decisionCounter = 0;

/** The RequestApproval task's payload, as the incident workflow builds it. */
function approvalPayload(tier: 'MEDIUM' | 'HIGH', overrides: Record<string, unknown> = {}) {
  decisionCounter++;
  return {
    taskToken: `AQCEAAAAKgAAAAMAAAAA-task-token-${decisionCounter}`,
    decisionId: `inc-20261104T0307-order-api-${decisionCounter}`,
    incident,
    plan: tier === 'HIGH' ? [step('engine-restart')] : [step('rollback')],
    risk: tier === 'HIGH' ? riskOf('HIGH', 0.7) : riskOf('MEDIUM', 0.52),
    tier,
    diagnosis: {
      rootCause: { service: 'order-api', kind: 'bad-deploy', confidence: 0.72 },
      candidates: [],
      evidence: ['first anomalous service', 'deploy of order-api at 03:03'],
      method: 'rules',
    },
    timeoutSeconds: tier === 'HIGH' ? 3600 : 1800,
    keySeries: { series: 'http_error_ratio{order-api}', points: [0.002, 0.002, 0.003, null, 0.2, 0.19] },
    ...overrides,
  };
}

async function requestApproval(payload: unknown): Promise<OpenedDecision> {
  const { handler } = await import('../../lambdas/handlers/request-approval');
  return (await handler(payload, context)) as OpenedDecision;
}

async function interact(event: HttpEvent): Promise<HttpResult> {
  const { handler } = await import('../../lambdas/handlers/slack-interactions');
  return (await handler(event, context)) as HttpResult;
}

async function close(event: unknown): Promise<ClosedDecision> {
  const { handler } = await import('../../lambdas/handlers/close-approval');
  return (await handler(event, context)) as ClosedDecision;
}

const nowSeconds = () => String(Math.floor(Date.now() / 1000));

/** What API Gateway's HTTP API (payload format 2.0) hands the function. */
interface ProxyEventV2 {
  version: '2.0';
  routeKey: string;
  rawPath: string;
  headers: Record<string, string>;
  body: string;
  isBase64Encoded: boolean;
  requestContext: { http: { method: string; path: string; sourceIp: string }; timeEpoch?: number };
}

/** An API Gateway HTTP API event carrying a Slack interaction, signed unless told otherwise. */
function slackEvent(
  payload: unknown,
  options: { timestamp?: string; secret?: string; base64?: boolean; rawBody?: string; unsigned?: boolean } = {},
): ProxyEventV2 {
  const body = options.rawBody ?? `payload=${encodeURIComponent(JSON.stringify(payload))}`;
  const timestamp = options.timestamp ?? nowSeconds();
  const headers: Record<string, string> = {
    'content-type': 'application/x-www-form-urlencoded',
    'user-agent': 'Slackbot 1.0 (+https://api.slack.com/robots)',
  };
  if (!options.unsigned) {
    headers['x-slack-request-timestamp'] = timestamp;
    headers['x-slack-signature'] = slackSignature(options.secret ?? SIGNING_SECRET, timestamp, body);
  }
  return {
    version: '2.0',
    routeKey: 'POST /slack/interactions',
    rawPath: '/slack/interactions',
    headers,
    body: options.base64 ? Buffer.from(body, 'utf8').toString('base64') : body,
    isBase64Encoded: options.base64 ?? false,
    requestContext: { http: { method: 'POST', path: '/slack/interactions', sourceIp: '198.51.100.7' } },
  };
}

let clickCounter = 0;

/** A block_actions payload: someone clicked Approve or Reject on the approval message (each click is new). */
function click(opened: OpenedDecision, userId: string, action: 'approve' | 'reject') {
  clickCounter++;
  return {
    type: 'block_actions',
    token: LEGACY_TOKEN,
    api_app_id: 'A0SREAGENT',
    user: { id: userId, username: userId.toLowerCase(), team_id: 'T0EXCHANGE' },
    team: { id: 'T0EXCHANGE', domain: 'exchange' },
    trigger_id: `1337.${clickCounter}.${userId}`,
    container: { type: 'message', message_ts: opened.messageTs, channel_id: opened.channel, is_ephemeral: false },
    channel: { id: opened.channel, name: 'sre-approvals' },
    message: { type: 'message', ts: opened.messageTs },
    actions: [
      {
        type: 'button',
        action_id: action,
        block_id: `decision:${opened.decisionId}`,
        value: opened.decisionId,
        action_ts: `1700000010.${String(clickCounter).padStart(6, '0')}`,
      },
    ],
  };
}

/** A view_submission payload: the reject dialog, submitted with a reason. */
function reasonSubmission(opened: OpenedDecision, userId: string, reason: string) {
  return {
    type: 'view_submission',
    token: LEGACY_TOKEN,
    user: { id: userId, team_id: 'T0EXCHANGE' },
    view: {
      id: 'V0REASON',
      callback_id: 'reject-reason',
      private_metadata: JSON.stringify({ decisionId: opened.decisionId }),
      state: { values: { reason: { reason: { type: 'plain_text_input', value: reason } } } },
    },
  };
}

const callsTo = (method: string) => calls.filter((call) => call.method === method);
const lastUpdate = () => JSON.stringify(callsTo('chat.update').at(-1)?.body.blocks ?? []);
const hasButtons = (blocks: unknown) => JSON.stringify(blocks).includes('"type":"actions"');
const sendTaskCalls = () => [...sfn.commandCalls(SendTaskSuccessCommand), ...sfn.commandCalls(SendTaskFailureCommand)];
const today = () => new Date().toISOString().slice(0, 10);

async function refusalsOf(decisionId: string): Promise<Refusal[]> {
  return store.listRefusals({ decisionId });
}

/** The audit records about one decision, from its incident's chain, after checking the whole chain holds. */
async function auditOf(decisionId: string): Promise<AuditRecord[]> {
  const chain = await auditTrail.read(incident.id);
  expect(verifyChain(chain, incident.id)).toEqual({ ok: true, length: chain.length });
  return chain.filter((record) => record.detail.decisionId === decisionId);
}

/** Today's chain of refused requests that name no known decision. */
async function dayChain(): Promise<AuditRecord[]> {
  const chain = interactionsChain(new Date().toISOString());
  const records = await auditTrail.read(chain);
  expect(verifyChain(records, chain)).toEqual({ ok: true, length: records.length });
  return records;
}

const summarise = (records: readonly AuditRecord[]) => records.map((r) => [r.kind, r.detail.code ?? r.detail.choice]);

// ---------------------------------------------------------------------------------------------------------

describe('request-approval', () => {
  it('stores the decision with its task token, posts the message to the channel, and remembers where', async () => {
    const payload = approvalPayload('MEDIUM');
    const opened = await requestApproval(payload);
    expect(opened).toMatchObject({ decisionId: payload.decisionId, channel: CHANNEL, replaced: false });

    const [post] = callsTo('chat.postMessage');
    expect(post.headers.authorization).toBe(`Bearer ${BOT_TOKEN}`);
    expect(post.headers['content-type']).toBe('application/json; charset=utf-8');
    expect(post.body.channel).toBe(CHANNEL);
    expect(hasButtons(post.body.blocks)).toBe(true);
    expect(JSON.stringify(post.body.blocks)).toContain(`"value":"${payload.decisionId}"`);
    expect(JSON.stringify(post.body.blocks)).toContain('root cause *order-api (bad-deploy)* (confidence 72 %)');
    expect(JSON.stringify(post.body)).not.toContain(payload.taskToken);

    const stored = await store.getDecision(payload.decisionId);
    expect(stored?.decision).toMatchObject({
      status: 'pending',
      tier: 'MEDIUM',
      quorum: { sre: 1, 'tech-lead': 0 },
      taskToken: payload.taskToken,
      channel: CHANNEL,
      messageTs: opened.messageTs,
    });
    const waited = Date.parse(stored!.decision.expiresAt) - Date.parse(stored!.decision.createdAt);
    expect(waited).toBe(1800 * 1000);

    const [requested, ...rest] = await auditOf(payload.decisionId);
    expect(rest).toEqual([]);
    expect(requested).toMatchObject({
      chain: incident.id,
      actor: 'workflow:RequestApproval',
      kind: 'step',
      summary: `approval requested: MEDIUM, quorum 1 SRE, waits 30 min, message ${opened.messageTs}`,
      detail: {
        tier: 'MEDIUM',
        quorum: { sre: 1, 'tech-lead': 0 },
        timeoutSeconds: 1800,
        channel: CHANNEL,
        messageTs: opened.messageTs,
        replaced: false,
      },
    });
    expect(JSON.stringify(requested)).not.toContain(payload.taskToken);
  });

  it('a retried invocation keeps the message and votes, and takes the new task token', async () => {
    const payload = approvalPayload('MEDIUM');
    const first = await requestApproval(payload);
    const retried = await requestApproval({ ...payload, taskToken: 'AQCE-retried-token' });
    expect(retried).toMatchObject({ messageTs: first.messageTs, replaced: true });
    expect(callsTo('chat.postMessage')).toHaveLength(1);
    expect(callsTo('chat.update')).toHaveLength(1);

    expect((await interact(slackEvent(click(first, SRE1, 'approve')))).statusCode).toBe(200);
    expect(sfn.commandCalls(SendTaskSuccessCommand).map((c) => c.args[0].input.taskToken)).toEqual([
      'AQCE-retried-token',
    ]);
  });

  it('fails with named errors the workflow can catch: Slack refusing the channel, a CRITICAL tier', async () => {
    answerNext('chat.postMessage', json(200, { ok: false, error: 'channel_not_found' }));
    await expect(requestApproval(approvalPayload('MEDIUM'))).rejects.toMatchObject({
      name: 'SlackApiError',
      method: 'chat.postMessage',
      code: 'channel_not_found',
    });
    await expect(requestApproval(approvalPayload('MEDIUM', { tier: 'CRITICAL' }))).rejects.toMatchObject({
      name: 'CriticalApprovalError',
    });
    await expect(requestApproval(approvalPayload('MEDIUM', { plan: [step('db-failover')] }))).rejects.toMatchObject({
      name: 'ApprovalRequestError',
    });
    expect(sendTaskCalls()).toHaveLength(0);
  });
});

describe('slack-interactions', () => {
  it('MEDIUM: one SRE approves, the workflow hears it exactly once with the vote, the message closes', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    const approve = slackEvent(click(opened, SRE1, 'approve'), { base64: true });

    const answer = await interact(approve);
    expect(answer).toEqual({ statusCode: 200, body: '' });

    const success = sfn.commandCalls(SendTaskSuccessCommand);
    expect(success).toHaveLength(1);
    expect(success[0].args[0].input.taskToken).toBe(`AQCEAAAAKgAAAAMAAAAA-task-token-${decisionCounter}`);
    const output = JSON.parse(success[0].args[0].input.output!);
    expect(output).toEqual({
      approved: true,
      votes: [
        {
          decisionId: opened.decisionId,
          userId: SRE1,
          userName: 'Sam Sre',
          role: 'sre',
          choice: 'approve',
          at: expect.any(String),
        },
      ],
    });
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(0);
    expect((await store.getDecision(opened.decisionId))?.decision).toMatchObject({
      status: 'approved',
      closedBy: SRE1,
    });
    expect(hasButtons(callsTo('chat.update').at(-1)?.body.blocks)).toBe(false);
    expect(lastUpdate()).toContain('*Approved* by Sam Sre (SRE)');

    // The same request again, signature and timestamp still valid: a replay, refused before it is read further.
    calls = [];
    expect(await interact(approve)).toEqual({ statusCode: 401, body: '' });
    // A second SRE too late.
    expect((await interact(slackEvent(click(opened, SRE2, 'approve')))).statusCode).toBe(200);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
    const refusals = await refusalsOf(opened.decisionId);
    expect(refusals.map((r) => [r.code, r.userId, r.status])).toEqual([
      ['replayed-request', SRE1, 401],
      ['decision-closed', SRE2, 200],
    ]);
    expect(callsTo('chat.postEphemeral').map((c) => [c.body.user, c.body.channel])).toEqual([[SRE2, CHANNEL]]);
    expect(String(callsTo('chat.postEphemeral')[0].body.text)).toContain('already approved');

    const audited = await auditOf(opened.decisionId);
    expect(summarise(audited)).toEqual([
      ['step', undefined],
      ['vote', 'approve'],
      ['refusal', 'replayed-request'],
      ['refusal', 'decision-closed'],
    ]);
    expect(audited[1]).toMatchObject({
      actor: `slack:${SRE1} (Sam Sre)`,
      summary: `approve by Sam Sre (SRE) on ${opened.decisionId}: decision approved, workflow told`,
      detail: {
        userId: SRE1,
        userName: 'Sam Sre',
        role: 'sre',
        choice: 'approve',
        outcome: 'approved',
        delivered: true,
      },
    });
    expect(audited[2]).toMatchObject({
      actor: 'http:198.51.100.7',
      detail: { status: 401, userId: SRE1, method: 'POST', path: '/slack/interactions', sourceIp: '198.51.100.7' },
    });
    expect(audited[3]).toMatchObject({
      actor: `slack:${SRE2} (Ria Sre)`,
      detail: { code: 'decision-closed', status: 200, userId: SRE2, role: 'sre', action: 'approve' },
    });
  });

  it('HIGH: needs two SREs and a tech lead, all different people; a duplicate click is ignored', async () => {
    const opened = await requestApproval(approvalPayload('HIGH'));
    await interact(slackEvent(click(opened, SRE1, 'approve')));
    expect(lastUpdate()).toContain('Still needed: 1 SRE and 1 tech lead');
    expect(lastUpdate()).toContain('*Sam Sre* (SRE) approved');

    await interact(slackEvent(click(opened, SRE1, 'approve'))); // the same person again
    await interact(slackEvent(click(opened, LEAD, 'approve')));
    expect(sendTaskCalls()).toHaveLength(0);
    expect(lastUpdate()).toContain('Still needed: 1 SRE');
    expect((await store.getDecision(opened.decisionId))?.decision.status).toBe('pending');

    await interact(slackEvent(click(opened, SRE2, 'approve')));
    const success = sfn.commandCalls(SendTaskSuccessCommand);
    expect(success).toHaveLength(1);
    const { votes } = JSON.parse(success[0].args[0].input.output!);
    expect(votes.map((v: { userId: string; role: string }) => [v.userId, v.role])).toEqual([
      [SRE1, 'sre'],
      [LEAD, 'tech-lead'],
      [SRE2, 'sre'],
    ]);
    expect((await refusalsOf(opened.decisionId)).map((r) => r.code)).toEqual(['duplicate-vote']);
    expect((await store.listVotes(opened.decisionId)).map((v) => v.userId)).toEqual([SRE1, LEAD, SRE2]);
    expect(hasButtons(callsTo('chat.update').at(-1)?.body.blocks)).toBe(false);

    const audited = await auditOf(opened.decisionId);
    expect(audited.map((r) => [r.kind, r.detail.userId, r.detail.code ?? r.detail.outcome])).toEqual([
      ['step', undefined, undefined],
      ['vote', SRE1, 'pending'],
      ['refusal', SRE1, 'duplicate-vote'],
      ['vote', LEAD, 'pending'],
      ['vote', SRE2, 'approved'],
    ]);
    expect(audited[0].summary).toContain('quorum 2 SREs and 1 tech lead, waits 60 min');
    expect(audited[1].summary).toContain('recorded, still needed: 1 SRE and 1 tech lead');
  });

  it('reject: the dialog asks why, and the workflow gets ApprovalRejected with who and why', async () => {
    const opened = await requestApproval(approvalPayload('HIGH'));
    await interact(slackEvent(click(opened, SRE1, 'approve')));

    expect(await interact(slackEvent(click(opened, LEAD, 'reject')))).toEqual({ statusCode: 200, body: '' });
    const [dialog] = callsTo('views.open');
    expect(dialog.body.trigger_id).toBe(`1337.${clickCounter}.${LEAD}`);
    expect(JSON.parse((dialog.body.view as { private_metadata: string }).private_metadata)).toEqual({
      decisionId: opened.decisionId,
    });
    expect(sendTaskCalls()).toHaveLength(0);

    const submitted = await interact(
      slackEvent(reasonSubmission(opened, LEAD, 'the engine restart drops open orders')),
    );
    expect(submitted).toEqual({ statusCode: 200, body: '' });
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(0);
    const failure = sfn.commandCalls(SendTaskFailureCommand);
    expect(failure).toHaveLength(1);
    expect(failure[0].args[0].input.error).toBe('ApprovalRejected');
    expect(JSON.parse(failure[0].args[0].input.cause!)).toEqual({
      by: 'Lee Lead',
      userId: LEAD,
      role: 'tech-lead',
      reason: 'the engine restart drops open orders',
    });
    expect((await store.getDecision(opened.decisionId))?.decision).toMatchObject({
      status: 'rejected',
      closedBy: LEAD,
      closeReason: 'the engine restart drops open orders',
    });
    expect(lastUpdate()).toContain('*Rejected* by Lee Lead (tech lead)');

    // Submitting the dialog again (a second tab) is refused inside the dialog, and nothing more is sent.
    const again = await interact(slackEvent(reasonSubmission(opened, SRE2, 'me too')));
    expect(again.statusCode).toBe(200);
    expect(JSON.parse(again.body)).toEqual({
      response_action: 'errors',
      errors: { reason: 'This decision is already rejected.' },
    });
    expect(sendTaskCalls()).toHaveLength(1);

    const audited = await auditOf(opened.decisionId);
    expect(summarise(audited)).toEqual([
      ['step', undefined],
      ['vote', 'approve'],
      ['vote', 'reject'],
      ['refusal', 'decision-closed'],
    ]);
    expect(audited[2]).toMatchObject({
      actor: `slack:${LEAD} (Lee Lead)`,
      detail: {
        role: 'tech-lead',
        choice: 'reject',
        reason: 'the engine restart drops open orders',
        outcome: 'rejected',
        delivered: true,
      },
    });
  });

  it('a reject still counts when the dialog cannot be opened (a veto never depends on a dialog)', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    answerNext('views.open', json(200, { ok: false, error: 'expired_trigger_id' }));
    await interact(slackEvent(click(opened, SRE2, 'reject')));
    const failure = sfn.commandCalls(SendTaskFailureCommand);
    expect(failure).toHaveLength(1);
    expect(JSON.parse(failure[0].args[0].input.cause!)).toMatchObject({
      by: 'Ria Sre',
      reason: expect.stringContaining('expired_trigger_id'),
    });
  });

  it('refuses forged, stale, future and unsigned requests with 401, records them, and sends nothing', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    const approve = click(opened, SRE1, 'approve');
    const before = (await store.listRefusals({ day: today() })).length;
    calls = [];

    const forged = slackEvent(approve, { secret: 'not-the-signing-secret' });
    const stale = slackEvent(approve, { timestamp: String(Math.floor(Date.now() / 1000) - 301) });
    const future = slackEvent(approve, { timestamp: String(Math.floor(Date.now() / 1000) + 900) });
    const unsigned = slackEvent(approve, { unsigned: true });
    const tampered = slackEvent(approve);
    tampered.body = tampered.body.replace(SRE1, SRE2);
    for (const event of [forged, stale, future, unsigned, tampered]) {
      expect(await interact(event)).toEqual({ statusCode: 401, body: '' });
    }

    expect(sendTaskCalls()).toHaveLength(0);
    expect(calls).toHaveLength(0); // not even a word to Slack
    expect((await store.getDecision(opened.decisionId))?.decision.status).toBe('pending');
    expect(await store.listVotes(opened.decisionId)).toHaveLength(0);
    const recorded = (await store.listRefusals({ day: today() })).slice(before);
    expect(recorded.map((r) => [r.code, r.status])).toEqual([
      ['signature-mismatch', 401],
      ['stale-timestamp', 401],
      ['future-timestamp', 401],
      ['missing-signature', 401],
      ['signature-mismatch', 401],
    ]);
    expect(recorded[0]).toMatchObject({ sourceIp: '198.51.100.7', requestTimestamp: expect.any(String) });
    const text = JSON.stringify(recorded);
    for (const secret of [SIGNING_SECRET, BOT_TOKEN, LEGACY_TOKEN, forged.headers['x-slack-signature']]) {
      expect(text).not.toContain(secret);
    }

    // In the audit trail: the day's chain, with what is known without reading the body, and nothing of the body.
    const audited = (await dayChain()).slice(-5);
    expect(audited.map((r) => [r.kind, r.detail.code, r.detail.status])).toEqual([
      ['refusal', 'signature-mismatch', 401],
      ['refusal', 'stale-timestamp', 401],
      ['refusal', 'future-timestamp', 401],
      ['refusal', 'missing-signature', 401],
      ['refusal', 'signature-mismatch', 401],
    ]);
    expect(audited[1]).toMatchObject({
      actor: 'http:198.51.100.7',
      summary: 'refused POST /slack/interactions: stale-timestamp (HTTP 401)',
      detail: {
        method: 'POST',
        path: '/slack/interactions',
        sourceIp: '198.51.100.7',
        requestTimestamp: stale.headers['x-slack-request-timestamp'],
      },
    });
    const auditText = JSON.stringify(audited);
    for (const fromBody of [
      opened.decisionId,
      SRE1,
      SRE2,
      LEGACY_TOKEN,
      'payload',
      forged.headers['x-slack-signature'],
    ]) {
      expect(auditText).not.toContain(fromBody);
    }
    expect(audited.every((r) => r.detail.userId === undefined && r.detail.decisionId === undefined)).toBe(true);
    expect(await auditOf(opened.decisionId)).toHaveLength(1); // the request only
  });

  it('refuses a replayed Reject click with 401: the dialog opened once, no reject is cast, the copy is recorded', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    const reject = slackEvent(click(opened, SRE2, 'reject'));
    expect(await interact(reject)).toEqual({ statusCode: 200, body: '' });
    expect(callsTo('views.open')).toHaveLength(1);

    // A copy sent again inside the five minutes, when its trigger id has expired: without the replay guard the
    // failed dialog would cast the reject at once.
    answerNext('views.open', json(200, { ok: false, error: 'expired_trigger_id' }));
    for (const copy of [
      reject,
      { ...reject, requestContext: { http: { ...reject.requestContext.http, sourceIp: '203.0.113.9' } } },
    ]) {
      expect(await interact(copy)).toEqual({ statusCode: 401, body: '' });
    }
    expect(callsTo('views.open')).toHaveLength(1);
    expect(callsTo('chat.postEphemeral')).toHaveLength(0);
    expect(sendTaskCalls()).toHaveLength(0);
    expect(await store.listVotes(opened.decisionId)).toHaveLength(0);
    expect((await store.getDecision(opened.decisionId))?.decision.status).toBe('pending');
    expect(
      (await refusalsOf(opened.decisionId)).map((r) => [r.code, r.status, r.userId, r.action, r.sourceIp]),
    ).toEqual([
      ['replayed-request', 401, SRE2, 'reject', '198.51.100.7'],
      ['replayed-request', 401, SRE2, 'reject', '203.0.113.9'],
    ]);
    const audited = await auditOf(opened.decisionId);
    expect(audited.map((r) => [r.kind, r.actor, r.detail.code])).toEqual([
      ['step', 'workflow:RequestApproval', undefined],
      ['refusal', 'http:198.51.100.7', 'replayed-request'],
      ['refusal', 'http:203.0.113.9', 'replayed-request'],
    ]);
    expect(audited[1].summary).toBe('refused POST /slack/interactions: replayed-request (HTTP 401)');

    // The person's own next click is a new request, and counts.
    answerNext('views.open', json(200, { ok: false, error: 'expired_trigger_id' }));
    expect(await interact(slackEvent(click(opened, SRE2, 'reject')))).toEqual({ statusCode: 200, body: '' });
    expect(sfn.commandCalls(SendTaskFailureCommand)).toHaveLength(1);
  });

  it('refuses a signed request it cannot read with 400, recorded', async () => {
    const before = (await store.listRefusals({ day: today() })).length;
    const notJson = slackEvent(undefined, { rawBody: 'payload=%7Bnot-json' });
    const noPayload = slackEvent(undefined, { rawBody: 'command=%2Fapprove&text=yes' });
    const unknownAction = slackEvent({
      type: 'block_actions',
      user: { id: SRE1 },
      trigger_id: 't',
      actions: [{ action_id: 'delete-everything', value: 'x' }],
    });
    for (const event of [notJson, noPayload, unknownAction]) {
      expect(await interact(event)).toEqual({ statusCode: 400, body: '' });
    }
    expect(sendTaskCalls()).toHaveLength(0);
    const recorded = (await store.listRefusals({ day: today() })).slice(before);
    expect(recorded.map((r) => [r.code, r.status])).toEqual([
      ['malformed-payload', 400],
      ['malformed-payload', 400],
      ['malformed-payload', 400],
    ]);
    expect(recorded[0].detail).toBe('the payload is not JSON');
    const audited = (await dayChain()).slice(-3);
    expect(audited.map((r) => [r.kind, r.detail.code, r.detail.status, r.detail.detail])).toEqual([
      ['refusal', 'malformed-payload', 400, 'the payload is not JSON'],
      ['refusal', 'malformed-payload', 400, 'no "payload" form field'],
      ['refusal', 'malformed-payload', 400, expect.stringContaining('unexpected payload')],
    ]);
  });

  it('answers 200 with a private explanation to an unknown user and to a tech lead approving MEDIUM', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    expect(await interact(slackEvent(click(opened, 'U0STRANGER', 'approve')))).toEqual({ statusCode: 200, body: '' });
    expect(await interact(slackEvent(click(opened, LEAD, 'approve')))).toEqual({ statusCode: 200, body: '' });
    expect(await interact(slackEvent(click({ ...opened, decisionId: 'no-such-decision' }, SRE1, 'approve')))).toEqual({
      statusCode: 200,
      body: '',
    });

    expect(sendTaskCalls()).toHaveLength(0);
    expect(await store.listVotes(opened.decisionId)).toHaveLength(0);
    expect((await refusalsOf(opened.decisionId)).map((r) => [r.code, r.userId])).toEqual([
      ['unknown-user', 'U0STRANGER'],
      ['role-not-needed', LEAD],
    ]);
    expect((await refusalsOf('no-such-decision')).map((r) => r.code)).toEqual(['unknown-decision']);
    const ephemerals = callsTo('chat.postEphemeral');
    expect(ephemerals.map((c) => c.body.user)).toEqual(['U0STRANGER', LEAD, SRE1]);
    expect(String(ephemerals[1].body.text)).toContain('MEDIUM approval needs SRE approvals');
    expect((await store.getDecision(opened.decisionId))?.decision.status).toBe('pending');

    const audited = await auditOf(opened.decisionId);
    expect(audited.map((r) => [r.kind, r.actor, r.detail.code, r.detail.status])).toEqual([
      ['step', 'workflow:RequestApproval', undefined, undefined],
      ['refusal', 'slack:U0STRANGER', 'unknown-user', 200],
      ['refusal', `slack:${LEAD} (Lee Lead)`, 'role-not-needed', 200],
    ]);
    expect(audited[2].detail).toMatchObject({ userId: LEAD, role: 'tech-lead', action: 'approve' });
    const unknown = (await dayChain()).filter((r) => r.detail.decisionId === 'no-such-decision');
    expect(unknown.map((r) => [r.kind, r.actor, r.detail.code, r.detail.userId])).toEqual([
      ['refusal', `slack:${SRE1} (Sam Sre)`, 'unknown-decision', SRE1],
    ]);
  });

  it('a click on another message naming this decision is refused', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    await interact(slackEvent(click({ ...opened, messageTs: '1600000000.000001' }, SRE1, 'approve')));
    expect(sendTaskCalls()).toHaveLength(0);
    expect((await refusalsOf(opened.decisionId)).map((r) => r.code)).toEqual(['wrong-message']);
  });

  it('the vote stands when the workflow cannot be told: the error is kept and shown', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    sfn.on(SendTaskSuccessCommand).rejectsOnce(Object.assign(new Error('Task Timed Out'), { name: 'TaskTimedOut' }));
    expect((await interact(slackEvent(click(opened, SRE1, 'approve')))).statusCode).toBe(200);
    expect((await store.getDecision(opened.decisionId))?.decision).toMatchObject({
      status: 'approved',
      deliveryError: 'TaskTimedOut: Task Timed Out',
    });
    expect(lastUpdate()).toContain('The workflow could not be told');
    sfn.on(SendTaskSuccessCommand).resolves({});
  });
});

describe('close-approval', () => {
  it('the workflow timing out marks the decision timed-out, closes the message, and answers no token', async () => {
    const opened = await requestApproval(approvalPayload('HIGH'));
    await interact(slackEvent(click(opened, SRE1, 'approve')));

    const closed = await close({ decisionId: opened.decisionId, outcome: 'timed-out' });
    expect(closed).toEqual({ decisionId: opened.decisionId, status: 'timed-out', changed: true });
    expect(sendTaskCalls()).toHaveLength(0);
    expect(hasButtons(callsTo('chat.update').at(-1)?.body.blocks)).toBe(false);
    expect(lastUpdate()).toContain('*Timed out*');
    expect(lastUpdate()).toContain('with 1 of 3 approvals');

    await interact(slackEvent(click(opened, SRE2, 'approve')));
    expect(sendTaskCalls()).toHaveLength(0);
    expect((await refusalsOf(opened.decisionId)).map((r) => r.code)).toEqual(['decision-closed']);
    const audited = await auditOf(opened.decisionId);
    expect(audited.map((r) => [r.kind, r.actor, r.detail.code ?? r.detail.outcome])).toEqual([
      ['step', 'workflow:RequestQuorumApproval', undefined],
      ['vote', `slack:${SRE1} (Sam Sre)`, 'pending'],
      ['step', 'workflow:close-approval', 'timed-out'],
      ['refusal', `slack:${SRE2} (Ria Sre)`, 'decision-closed'],
    ]);
    expect(audited[2]).toMatchObject({
      summary: 'approval closed by the workflow: timed-out',
      detail: { status: 'timed-out', changed: true, closedBy: 'workflow' },
    });
  });

  it('at the workflow end a decided decision keeps its status and gets the note', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    await interact(slackEvent(click(opened, SRE1, 'approve')));
    const closed = await close({ decisionId: opened.decisionId, outcome: 'closed', note: 'rollback done, recovered' });
    expect(closed).toEqual({ decisionId: opened.decisionId, status: 'approved', changed: false });
    expect(lastUpdate()).toContain('rollback done, recovered');
    await expect(close({ decisionId: 'nope', outcome: 'closed' })).rejects.toMatchObject({
      name: 'UnknownDecisionError',
    });
    await expect(close({ decisionId: opened.decisionId, outcome: 'approved' })).rejects.toMatchObject({
      name: 'CloseApprovalInputError',
    });
    const [closing] = (await auditOf(opened.decisionId)).filter((r) => r.actor === 'workflow:close-approval');
    expect(closing).toMatchObject({
      kind: 'step',
      summary: 'approval already approved; the workflow ended closed: rollback done, recovered',
      detail: {
        outcome: 'closed',
        note: 'rollback done, recovered',
        status: 'approved',
        changed: false,
        closedBy: SRE1,
      },
    });
  });

  it('the workflow failing after an approval: the decision stays approved and its message says the run failed', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    await interact(slackEvent(click(opened, SRE1, 'approve')));
    const note = 'workflow failed at Remediate: States.TaskFailed';
    expect(await close({ decisionId: opened.decisionId, outcome: 'failed', note })).toEqual({
      decisionId: opened.decisionId,
      status: 'approved',
      changed: false,
    });
    expect((await store.getDecision(opened.decisionId))?.decision).toMatchObject({
      status: 'approved',
      workflowOutcome: 'failed',
      outcomeNote: note,
    });
    expect(lastUpdate()).toContain('*Approved* by Sam Sre (SRE)');
    expect(lastUpdate()).toContain(`:warning: *The workflow failed afterwards*: ${note}`);
    expect(hasButtons(callsTo('chat.update').at(-1)?.body.blocks)).toBe(false);
    const closing = (await auditOf(opened.decisionId)).at(-1);
    expect(closing?.detail).toMatchObject({ outcome: 'failed', note, status: 'approved', closedBy: SRE1 });
  });

  it('the workflow failing while the decision waits closes it as failed, with no buttons and the note', async () => {
    const opened = await requestApproval(approvalPayload('HIGH'));
    const note = 'workflow failed at RequestQuorumApproval: Lambda.Unknown';
    expect(await close({ decisionId: opened.decisionId, outcome: 'failed', note })).toEqual({
      decisionId: opened.decisionId,
      status: 'failed',
      changed: true,
    });
    expect(lastUpdate()).toContain(`*The workflow failed*`);
    expect(lastUpdate()).toContain(note);
    expect(hasButtons(callsTo('chat.update').at(-1)?.body.blocks)).toBe(false);
    await interact(slackEvent(click(opened, SRE1, 'approve')));
    expect(sendTaskCalls()).toHaveLength(0);
    expect((await refusalsOf(opened.decisionId)).map((r) => r.code)).toEqual(['decision-closed']);
  });
});

describe("answering within Slack's 3 seconds when Slack's own API is slow", () => {
  /**
   * The answer to `event` and how long after API Gateway received it (`receivedMsAgo` before the handler ran,
   * as after a cold start) it came: what Slack's 3 s are measured against.
   */
  async function timed(event: ProxyEventV2, receivedMsAgo = 0): Promise<{ answer: HttpResult; ms: number }> {
    await import('../../lambdas/handlers/slack-interactions'); // loaded before the clock starts, as in a warm Lambda
    const receivedAt = Date.now() - receivedMsAgo;
    const answer = await interact({ ...event, requestContext: { ...event.requestContext, timeEpoch: receivedAt } });
    return { answer, ms: Date.now() - receivedAt };
  }

  it('an approval moves the workflow and is answered in time although chat.update never answers in time', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    answerNext('chat.update', delayed(5_000), delayed(5_000));
    const { answer, ms } = await timed(slackEvent(click(opened, SRE1, 'approve')), 800);
    expect(answer).toEqual({ statusCode: 200, body: '' });
    expect(ms).toBeLessThan(3_000);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
    expect((await store.getDecision(opened.decisionId))?.decision.status).toBe('approved');
    expect(summarise(await auditOf(opened.decisionId))).toEqual([
      ['step', undefined],
      ['vote', 'approve'],
    ]);
  });

  it('a reject whose dialog and message update are slow is cast at once, and answered in time', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    // Slack takes 5 s for everything: the dialog, its retry, and the message updates.
    answerNext('views.open', delayed(5_000), delayed(5_000));
    answerNext('chat.update', delayed(5_000), delayed(5_000));
    const { answer, ms } = await timed(slackEvent(click(opened, SRE2, 'reject')));
    expect(answer).toEqual({ statusCode: 200, body: '' });
    expect(ms).toBeLessThan(3_000);
    const failure = sfn.commandCalls(SendTaskFailureCommand);
    expect(failure).toHaveLength(1);
    expect(JSON.parse(failure[0].args[0].input.cause!)).toMatchObject({
      by: 'Ria Sre',
      reason: expect.stringContaining('views.open: timeout'),
    });
    expect((await store.getDecision(opened.decisionId))?.decision.status).toBe('rejected');
    expect(summarise(await auditOf(opened.decisionId))).toEqual([
      ['step', undefined],
      ['vote', 'reject'],
    ]);
  });

  it('a slow private note does not hold a refusal past the deadline', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    answerNext('chat.postEphemeral', delayed(5_000), delayed(5_000));
    const { answer, ms } = await timed(slackEvent(click(opened, 'U0STRANGER', 'approve')), 800);
    expect(answer).toEqual({ statusCode: 200, body: '' });
    expect(ms).toBeLessThan(3_000);
    expect(sendTaskCalls()).toHaveLength(0);
    expect((await refusalsOf(opened.decisionId)).map((r) => r.code)).toEqual(['unknown-user']);
  });

  it('a request API Gateway received long ago (a cold start) still moves the workflow, skipping the update', async () => {
    const opened = await requestApproval(approvalPayload('MEDIUM'));
    calls = [];
    const { answer, ms } = await timed(slackEvent(click(opened, SRE1, 'approve')), 2_450);
    expect(answer).toEqual({ statusCode: 200, body: '' });
    expect(ms).toBeLessThan(3_000);
    expect(sfn.commandCalls(SendTaskSuccessCommand)).toHaveLength(1);
    expect(callsTo('chat.update')).toHaveLength(0); // left for close-approval to refresh
    expect((await store.getDecision(opened.decisionId))?.decision.status).toBe('approved');
  });
});

describe('the replay markers of DynamoApprovalStore', () => {
  it('accepts a fingerprint once, keeps it until the time given, and tells a copy apart', async () => {
    const fingerprint = 'a'.repeat(64);
    const keepUntil = new Date('2026-11-04T03:21:01.500Z');
    expect(await store.claimRequest(fingerprint, keepUntil)).toBe('first');
    expect(await store.claimRequest(fingerprint, new Date(keepUntil.getTime() + 60_000))).toBe('replayed');
    expect(await store.claimRequest('b'.repeat(64), keepUntil)).toBe('first');
    const { Item } = await dynamo.client.send(
      new GetItemCommand({
        TableName: dynamo.tables.approvals,
        Key: { pk: { S: `replay#${fingerprint}` }, sk: { S: 'seen' } },
      }),
    );
    // The first claim's expiry stands (rounded up to whole seconds for DynamoDB's TTL).
    expect(Item?.purgeAt).toEqual({ N: String(Math.ceil(keepUntil.getTime() / 1000)) });
  });
});

describe('SlackWebApi against the Slack wire format', () => {
  const api = (waits: number[] = []) =>
    new SlackWebApi({
      token: async () => BOT_TOKEN,
      baseUrl: slackUrl,
      backoffStartMs: 1,
      sleep: async (ms) => {
        waits.push(ms);
      },
    });
  const message = { text: 'hello', blocks: [] };

  it('waits out a 429 for as long as Retry-After says, then succeeds', async () => {
    const waits: number[] = [];
    answerNext('chat.postMessage', json(429, { ok: false, error: 'ratelimited' }, { 'retry-after': '1' }));
    const ref = await api(waits).postMessage(CHANNEL, message);
    expect(ref).toEqual({ channel: CHANNEL, ts: expect.stringMatching(/^1700000000\.\d{6}$/) });
    expect(waits).toEqual([1000]);
    expect(callsTo('chat.postMessage')).toHaveLength(2);
  });

  it('does not wait longer than allowed: a long Retry-After fails at once as ratelimited', async () => {
    answerNext('chat.update', json(429, { ok: false, error: 'ratelimited' }, { 'retry-after': '30' }));
    const error = await api()
      .update({ channel: CHANNEL, ts: '1.2' }, message)
      .catch((e: unknown) => e);
    expect(error).toBeInstanceOf(SlackApiError);
    expect(error).toMatchObject({ method: 'chat.update', code: 'ratelimited', status: 429 });
    expect(callsTo('chat.update')).toHaveLength(1);
  });

  it('maps {ok: false} to a typed error naming the method and the code, without retrying or leaking the token', async () => {
    answerNext('chat.postMessage', json(200, { ok: false, error: 'invalid_auth' }));
    const error = (await api()
      .postMessage(CHANNEL, message)
      .catch((e: unknown) => e)) as SlackApiError;
    expect(error).toMatchObject({ name: 'SlackApiError', method: 'chat.postMessage', code: 'invalid_auth' });
    expect(error.message).toBe('chat.postMessage: invalid_auth');
    expect(JSON.stringify({ ...error, message: error.message, stack: error.stack })).not.toContain(BOT_TOKEN);
    expect(callsTo('chat.postMessage')).toHaveLength(1);

    answerNext(
      'chat.postMessage',
      json(200, {
        ok: false,
        error: 'invalid_blocks',
        response_metadata: {
          messages: ['[ERROR] must be less than 3001 characters [json-pointer:/blocks/2/text/text]'],
        },
      }),
    );
    await expect(api().postMessage(CHANNEL, message)).rejects.toThrow(
      'chat.postMessage: invalid_blocks ([ERROR] must be less than 3001 characters [json-pointer:/blocks/2/text/text])',
    );
  });

  it('retries a server error, and names a channel Slack does not know', async () => {
    answerNext('chat.postMessage', json(503, { ok: false, error: 'service_unavailable' }));
    await expect(api().postMessage(CHANNEL, message)).resolves.toMatchObject({ channel: CHANNEL });
    answerNext('chat.postMessage', json(200, { ok: false, error: 'channel_not_found' }));
    await expect(api().postMessage('C0GONE', message)).rejects.toMatchObject({ code: 'channel_not_found' });
  });

  it('under call limits, gives up when they are spent, retrying only while a retry still fits', async () => {
    answerNext('chat.update', delayed(5_000), delayed(5_000), delayed(5_000));
    const slow = new SlackWebApi({
      token: async () => BOT_TOKEN,
      baseUrl: slackUrl,
      timeoutMs: 200,
      retries: 2,
      backoffStartMs: 20,
    });
    const started = Date.now();
    const error = await slow
      .update({ channel: CHANNEL, ts: '1.2' }, message, { timeoutMs: 300 })
      .catch((e: unknown) => e);
    const took = Date.now() - started;
    expect(error).toMatchObject({ method: 'chat.update', code: 'timeout' });
    expect(took).toBeGreaterThanOrEqual(250);
    expect(took).toBeLessThan(600);
    // The first attempt waited 200 ms, the second what was left; a third would not have fitted.
    expect(callsTo('chat.update')).toHaveLength(2);
  });

  it('under call limits too short for an attempt, fails at once with code deadline, sending nothing', async () => {
    await expect(api().postEphemeral(CHANNEL, SRE1, 'late', { timeoutMs: 10 })).rejects.toMatchObject({
      method: 'chat.postEphemeral',
      code: 'deadline',
    });
    expect(callsTo('chat.postEphemeral')).toHaveLength(0);
  });

  it('times out a silent server', async () => {
    answerNext('views.open', () => {
      /* never answers */
    });
    const slow = new SlackWebApi({ token: async () => BOT_TOKEN, baseUrl: slackUrl, timeoutMs: 100, retries: 0 });
    await expect(slow.openView('trigger', { type: 'modal' })).rejects.toMatchObject({
      method: 'views.open',
      code: 'timeout',
    });
  });
});
