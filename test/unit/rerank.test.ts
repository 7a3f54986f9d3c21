// Unit tests of the LLM re-ranking stage: the redacted prompt, strict validation of the model's answer, the token
// budget and the fallbacks to the rule ranking, with a scripted LlmClient in place of a provider.

import { FAULT_KINDS } from '../../lambdas/core/cognition/classify';
import type { Incident } from '../../lambdas/core/cognition/incident';
import type { Candidate } from '../../lambdas/core/cognition/rank';
import {
  DEFAULT_ANTHROPIC_MODEL,
  DEFAULT_BEDROCK_MODEL,
  defaultEffort,
  defaultToolChoice,
  diagnosisConfigSchema,
  llmConfigSchema,
} from '../../lambdas/core/config/llm-schema';
import { ACTION_CATALOG, MONEY_OPERATION } from '../../lambdas/core/decision/types';
import {
  buildRerankPrompt,
  buildRerankRequest,
  estimateInputTokens,
  interpretRerankAnswer,
  type LlmAnswer,
  type LlmCallOptions,
  type LlmClient,
  LlmError,
  RERANK_TOOL_NAME,
  type RerankInput,
  type RerankPrompt,
  rerank,
  summarizeIncident,
  tokensSpent,
} from '../../lambdas/core/diagnosis/rerank';

const AWS_KEY = 'AKIAIOSFODNN7EXAMPLE';
const BEARER = '9f8e7d6c5b4a3210abcdEFGH';
const EMAIL = 'alice.ops@exchange.example';

const candidates: Candidate[] = [
  {
    service: 'order-api',
    kind: 'unknown',
    score: 0.75,
    evidence: ['first anomalous service', 'error_ratio peaked at 0.31 (expected 0.002)'],
  },
  {
    service: 'orders-db',
    kind: 'unknown',
    score: 0.55,
    evidence: ['anomalous 2 min after the first', 'connection refused from 10.0.3.17'],
  },
  { service: 'api-gateway', kind: 'unknown', score: 0.3, evidence: ['depends on anomalous order-api'] },
];

function input(overrides: Partial<RerankInput> = {}): RerankInput {
  return {
    incident: {
      id: 'inc-20250301T1200-order-api',
      services: ['order-api', 'orders-db', 'api-gateway'],
      openedAt: '2025-03-01T12:00:00Z',
      onsets: [
        { service: 'order-api', at: '2025-03-01T11:58:00Z' },
        { service: 'orders-db', at: '2025-03-01T12:00:00Z' },
      ],
    },
    candidates,
    evidence: {
      signals: ['order-api error_ratio 0.31 vs 0.002 expected', 'orders-db datastore_connections 498/500'],
      deploys: ['order-api v1.42.0 -> v1.43.0 at 11:51 by deploy-bot'],
      logSignatures: [
        `order-api: S3 upload failed for key ${AWS_KEY} (x1200)`,
        `gateway: upstream call with Authorization: Bearer ${BEARER} rejected (x87)`,
        `notifier: could not mail ${EMAIL} (x3)`,
      ],
      kubeEvents: ['order-api-7f9c-abcde: Back-off restarting failed container (x14)'],
    },
    ...overrides,
  };
}

const validAnswer = {
  candidateIndex: 1,
  service: 'orders-db',
  kind: 'datastore-saturation',
  confidence: 0.82,
  explanation: 'orders-db connections are at 498/500 and order-api errors are connection timeouts to it.',
  suggestedActions: ['db-failover', 'scale-up'],
};

const usage = { inputTokens: 1800, outputTokens: 120, cacheReadTokens: 900, cacheCreationTokens: 0 };

/** A provider stand-in: answers (or fails) as scripted and records what it was asked. */
class ScriptedClient implements LlmClient {
  readonly calls: { prompt: RerankPrompt; options: LlmCallOptions }[] = [];
  constructor(private readonly reply: (prompt: RerankPrompt) => Promise<LlmAnswer>) {}
  complete(prompt: RerankPrompt, options: LlmCallOptions): Promise<LlmAnswer> {
    this.calls.push({ prompt, options });
    return this.reply(prompt);
  }
}

const toolAnswer = (toolInput: unknown): LlmAnswer => ({
  toolInput,
  toolName: RERANK_TOOL_NAME,
  stopReason: 'tool_use',
  usage,
  model: 'claude-sonnet-5-5',
});

const budget = { tokensPerIncident: 30_000, maxTokens: 1024, timeoutMs: 2_000 };

describe('buildRerankRequest and buildRerankPrompt', () => {
  it('lists every candidate with its index, rule score and evidence, and all the evidence sections', () => {
    const { user } = buildRerankPrompt(buildRerankRequest(input()));
    expect(user).toContain('[0] order-api (rule score 0.75, rule kind unknown)');
    expect(user).toContain('[1] orders-db (rule score 0.55, rule kind unknown)');
    expect(user).toContain('[2] api-gateway (rule score 0.30, rule kind unknown)');
    expect(user).toContain('- error_ratio peaked at 0.31 (expected 0.002)');
    expect(user).toContain('order-api v1.42.0 -> v1.43.0 at 11:51 by deploy-bot');
    expect(user).toContain('Back-off restarting failed container');
    expect(user).toContain('<incident id="inc-20250301T1200-order-api" opened_at="2025-03-01T12:00:00Z">');
    expect(user).toContain('first anomalous: order-api at 2025-03-01T11:58:00Z; orders-db at 2025-03-01T12:00:00Z');
  });

  it('redacts every secret before it reaches the prompt and counts the redactions', () => {
    const request = buildRerankRequest(input());
    const { system, user } = buildRerankPrompt(request);
    for (const text of [system, user]) {
      expect(text).not.toContain(AWS_KEY);
      expect(text).not.toContain(BEARER);
      expect(text).not.toContain(EMAIL);
      expect(text).not.toContain('10.0.3.17');
    }
    expect(user).toContain('[REDACTED:aws_access_key_id]');
    expect(user).toContain('Bearer [REDACTED:bearer_token]');
    expect(user).toContain('[REDACTED:email]');
    expect(user).toContain('[REDACTED:ipv4]');
    expect(request.redactions).toBe(4);
    expect(request.redactionFindings.map((f) => f.kind).sort()).toEqual(
      ['aws_access_key_id', 'bearer_token', 'email', 'ipv4'].sort(),
    );
    // The rule ranking itself is returned untouched: only what the model sees is redacted.
    expect(request.candidates[1].evidence[1]).toBe('connection refused from 10.0.3.17');
  });

  it('shortens long lines only after redacting them, so a cut never leaves part of a secret', () => {
    const line = `${'x'.repeat(385)} key ${AWS_KEY} tail`;
    const { user } = buildRerankPrompt(
      buildRerankRequest(input({ evidence: { signals: [], deploys: [], logSignatures: [line], kubeEvents: [] } })),
    );
    expect(user).not.toContain('AKIAIOSF');
    expect(user).toContain(`${'x'.repeat(385)} key [REDACTED`);
  });

  it('bounds long evidence lists and says how much it left out', () => {
    const many = Array.from({ length: 55 }, (_, i) => `event ${i}`);
    const request = buildRerankRequest(
      input({ evidence: { signals: [], deploys: [], logSignatures: [], kubeEvents: many } }),
    );
    expect(request.evidence.kubeEvents).toHaveLength(40);
    expect(request.omittedItems).toBe(15);
    expect(buildRerankPrompt(request).user).toContain('(15 further evidence lines were left out for length.)');
  });

  it('offers a tool whose schema allows only the fault kinds and the catalog actions', () => {
    const { tool, system } = buildRerankPrompt(buildRerankRequest(input()));
    expect(tool.name).toBe(RERANK_TOOL_NAME);
    const props = tool.input_schema.properties as Record<string, Record<string, unknown>>;
    expect(props.kind.enum).toEqual([...FAULT_KINDS]);
    expect(props.confidence).toMatchObject({ type: 'number', minimum: 0, maximum: 1 });
    expect(props.explanation).toMatchObject({ type: 'string', maxLength: 600 });
    const actions = (props.suggestedActions.items as { enum: string[] }).enum;
    expect(actions).toEqual(Object.keys(ACTION_CATALOG));
    expect(actions.filter((a) => MONEY_OPERATION.test(a))).toEqual([]);
    expect([...tool.input_schema.required].sort()).toEqual(
      ['candidateIndex', 'confidence', 'explanation', 'kind', 'service', 'suggestedActions'].sort(),
    );
    expect(tool.input_schema.additionalProperties).toBe(false);
    expect(system).toContain('- rollback (MEDIUM risk): roll a Deployment back to its previous revision');
  });

  it('keeps the system prompt and the tool identical across incidents, so providers can cache them', () => {
    const a = buildRerankPrompt(buildRerankRequest(input()));
    const b = buildRerankPrompt(
      buildRerankRequest(
        input({
          incident: { id: 'inc-other', services: ['wallet-api'], openedAt: '2025-03-02T00:00:00Z', onsets: [] },
          candidates: [{ service: 'wallet-api', kind: 'unknown', score: 0.6, evidence: [] }],
        }),
      ),
    );
    expect(b.system).toBe(a.system);
    expect(JSON.stringify(b.tool)).toBe(JSON.stringify(a.tool));
    expect(b.user).not.toBe(a.user);
  });

  it('drops allowed actions that are not in the catalog, money operations above all', () => {
    const request = buildRerankRequest(input({ allowedActions: ['scale-up', 'wallet-transfer', 'pause-trading'] }));
    expect(request.allowedActions).toEqual(['scale-up']);
    const props = buildRerankPrompt(request).tool.input_schema.properties as Record<string, Record<string, unknown>>;
    expect(props.suggestedActions.items).toEqual({ type: 'string', enum: ['scale-up'] });
  });

  it('summarizes an incident with the earliest onset of each service, in order', () => {
    const signal = (entity: string, firstAnomalousAt: string) => ({
      key: `${entity}/x`,
      signalId: 'error_ratio',
      entity,
      firstAnomalousAt,
      lastRaisedAt: firstAnomalousAt,
      peakZ: 9,
      peakScore: 1,
      valueAtPeak: 1,
      expectedAtPeak: 0,
      hardLimitBreached: false,
    });
    const incident: Incident = {
      id: 'inc-1',
      status: 'open',
      kind: 'anomaly',
      openedAt: '2025-03-01T12:00:00Z',
      updatedAt: '2025-03-01T12:05:00Z',
      lastAnomalyAt: '2025-03-01T12:05:00Z',
      services: ['b', 'a'],
      signals: [
        signal('a', '2025-03-01T12:03:00Z'),
        signal('b', '2025-03-01T12:01:00Z'),
        signal('a', '2025-03-01T12:02:00Z'),
      ],
      version: 1,
    };
    expect(summarizeIncident(incident)).toEqual({
      id: 'inc-1',
      services: ['b', 'a'],
      openedAt: '2025-03-01T12:00:00Z',
      onsets: [
        { service: 'b', at: '2025-03-01T12:01:00Z' },
        { service: 'a', at: '2025-03-01T12:02:00Z' },
      ],
    });
  });
});

describe('interpretRerankAnswer', () => {
  const request = buildRerankRequest(input());
  const expectRuleRanking = (outcome: ReturnType<typeof interpretRerankAnswer>) => {
    expect(outcome.source).toBe('rules');
    expect(outcome.ranking).toEqual(candidates);
    expect(outcome.chosen).toEqual(candidates[0]);
    expect(outcome.suggestedActions).toEqual([]);
    expect(outcome.confidence).toBeUndefined();
  };

  it('puts the chosen candidate first, with the model kind, and the rest in rule order', () => {
    const outcome = interpretRerankAnswer(request, validAnswer);
    expect(outcome.source).toBe('llm');
    expect(outcome.ranking.map((c) => c.service)).toEqual(['orders-db', 'order-api', 'api-gateway']);
    expect(outcome.chosen).toEqual({ ...candidates[1], kind: 'datastore-saturation' });
    expect(outcome.confidence).toBe(0.82);
    expect(outcome.explanation).toBe(validAnswer.explanation);
    expect(outcome.suggestedActions).toEqual(['db-failover', 'scale-up']);
    expect(outcome.fallbackReason).toBeUndefined();
    expect(outcome.redactions).toBe(4);
  });

  it('removes repeated actions', () => {
    const outcome = interpretRerankAnswer(request, { ...validAnswer, suggestedActions: ['scale-up', 'scale-up'] });
    expect(outcome.suggestedActions).toEqual(['scale-up']);
  });

  it('rejects a service outside the candidate list', () => {
    const outcome = interpretRerankAnswer(request, { ...validAnswer, candidateIndex: 0, service: 'payments-api' });
    expectRuleRanking(outcome);
    expect(outcome.fallbackReason).toBe('out-of-list');
    expect(outcome.fallbackDetail).toContain('"payments-api", which is not one of the candidates');
  });

  it('rejects an index that names a different candidate than the service', () => {
    const outcome = interpretRerankAnswer(request, { ...validAnswer, candidateIndex: 0 });
    expectRuleRanking(outcome);
    expect(outcome.fallbackReason).toBe('malformed');
    expect(outcome.fallbackDetail).toContain('candidateIndex 0 does not match service "orders-db"');
  });

  it('rejects an unknown fault kind', () => {
    const outcome = interpretRerankAnswer(request, { ...validAnswer, kind: 'cosmic-rays' });
    expectRuleRanking(outcome);
    expect(outcome.fallbackReason).toBe('malformed');
    expect(outcome.fallbackDetail).toMatch(/^the answer does not fit the schema: kind: /);
  });

  it.each(['pause-trading', 'wallet-transfer'])('rejects the money operation %s', (action) => {
    const outcome = interpretRerankAnswer(request, { ...validAnswer, suggestedActions: ['scale-up', action] });
    expectRuleRanking(outcome);
    expect(outcome.fallbackReason).toBe('action-not-allowed');
    expect(outcome.fallbackDetail).toBe(`"${action}" is a money operation, which automation never performs`);
  });

  it('rejects an action that is not in the catalog, and a catalog action this request does not allow', () => {
    expect(interpretRerankAnswer(request, { ...validAnswer, suggestedActions: ['drain-node'] })).toMatchObject({
      source: 'rules',
      fallbackReason: 'action-not-allowed',
      fallbackDetail: '"drain-node" is not a catalog action',
    });
    const narrow = buildRerankRequest(input({ allowedActions: ['scale-up'] }));
    expect(interpretRerankAnswer(narrow, validAnswer)).toMatchObject({
      source: 'rules',
      fallbackReason: 'action-not-allowed',
      fallbackDetail: '"db-failover" is not allowed here',
    });
  });

  it.each([1.5, -0.1, Number.NaN])('rejects confidence %p', (confidence) => {
    const outcome = interpretRerankAnswer(request, { ...validAnswer, confidence });
    expectRuleRanking(outcome);
    expect(outcome.fallbackReason).toBe('malformed');
    expect(outcome.fallbackDetail).toContain('confidence: ');
  });

  it.each(['candidateIndex', 'service', 'kind', 'confidence', 'explanation', 'suggestedActions'])(
    'rejects an answer without %s',
    (field) => {
      const partial: Record<string, unknown> = { ...validAnswer };
      delete partial[field];
      const outcome = interpretRerankAnswer(request, partial);
      expectRuleRanking(outcome);
      expect(outcome.fallbackReason).toBe('malformed');
      expect(outcome.fallbackDetail).toContain(`${field}: `);
    },
  );

  it('rejects extra fields, an over-long or empty explanation, and input that is no object', () => {
    for (const raw of [
      { ...validAnswer, rootCauseOverride: 'wallet-api' },
      { ...validAnswer, explanation: 'x'.repeat(601) },
      { ...validAnswer, explanation: '   ' },
      { ...validAnswer, candidateIndex: 1.5 },
      'orders-db',
      null,
      undefined,
    ]) {
      const outcome = interpretRerankAnswer(request, raw);
      expect(outcome.fallbackReason).toBe('malformed');
      expect(outcome.ranking).toEqual(candidates);
    }
  });
});

describe('rerank', () => {
  it('calls the client once with the budget limits and returns the model ranking with its usage', async () => {
    const client = new ScriptedClient(async () => toolAnswer(validAnswer));
    const outcome = await rerank(buildRerankRequest(input()), client, budget);
    expect(client.calls).toHaveLength(1);
    expect(client.calls[0].options).toEqual({ maxTokens: 1024, timeoutMs: 2_000 });
    expect(client.calls[0].prompt.user).not.toContain(AWS_KEY);
    expect(outcome).toMatchObject({
      source: 'llm',
      chosen: { service: 'orders-db', kind: 'datastore-saturation' },
      usage,
      model: 'claude-sonnet-5-5',
    });
    expect(outcome.estimatedInputTokens).toBe(estimateInputTokens(client.calls[0].prompt));
    expect(tokensSpent(usage)).toBe(2820);
  });

  it('refuses to call when the estimate would go over the incident budget', async () => {
    const client = new ScriptedClient(async () => toolAnswer(validAnswer));
    const request = buildRerankRequest(input());
    const needed = estimateInputTokens(buildRerankPrompt(request)) + 1024;

    const tight = await rerank(request, client, { ...budget, tokensPerIncident: needed - 1 });
    expect(tight).toMatchObject({ source: 'rules', fallbackReason: 'budget', ranking: candidates });
    expect(tight.fallbackDetail).toContain(`needs up to ${needed} tokens`);

    const spent = await rerank(request, client, {
      ...budget,
      tokensPerIncident: 30_000,
      spentTokens: 30_000 - needed + 1,
    });
    expect(spent.fallbackReason).toBe('budget');
    expect(client.calls).toHaveLength(0);

    const exact = await rerank(request, client, { ...budget, tokensPerIncident: 30_000, spentTokens: 30_000 - needed });
    expect(exact.source).toBe('llm');
    expect(client.calls).toHaveLength(1);
  });

  it('does not call the model when the rules found no candidate', async () => {
    const client = new ScriptedClient(async () => toolAnswer(validAnswer));
    const outcome = await rerank(buildRerankRequest(input({ candidates: [] })), client, budget);
    expect(outcome).toMatchObject({ source: 'rules', fallbackReason: 'no-candidates', ranking: [], chosen: undefined });
    expect(client.calls).toHaveLength(0);
  });

  it('falls back with the client error kind and the provider wait', async () => {
    const client = new ScriptedClient(async () => {
      throw new LlmError('rate-limited', 'the Claude API is rate limiting (429)', {
        status: 429,
        retryAfterMs: 30_000,
      });
    });
    const outcome = await rerank(buildRerankRequest(input()), client, budget);
    expect(outcome).toMatchObject({
      source: 'rules',
      ranking: candidates,
      fallbackReason: 'rate-limited',
      fallbackDetail: 'the Claude API is rate limiting (429)',
      retryAfterMs: 30_000,
    });
    expect(outcome.usage).toBeUndefined();
  });

  it('never throws, even when the client fails in a way it did not classify', async () => {
    const client = new ScriptedClient(async () => {
      throw new TypeError('fetch is not a function');
    });
    await expect(rerank(buildRerankRequest(input()), client, budget)).resolves.toMatchObject({
      source: 'rules',
      fallbackReason: 'client-error',
      fallbackDetail: 'fetch is not a function',
    });
  });

  it('abandons a client that ignores its timeout', async () => {
    const client = new ScriptedClient(() => new Promise<LlmAnswer>(() => {}));
    const started = Date.now();
    const outcome = await rerank(buildRerankRequest(input()), client, { ...budget, timeoutMs: 50 });
    expect(outcome).toMatchObject({ source: 'rules', fallbackReason: 'timeout' });
    expect(outcome.fallbackDetail).toBe('the model did not answer within 50 ms');
    expect(Date.now() - started).toBeLessThan(2_000);
  });

  it('treats a reply without the tool call as malformed, and still reports the tokens it cost', async () => {
    const client = new ScriptedClient(async () => ({
      toolInput: undefined,
      stopReason: 'end_turn',
      usage,
      model: 'claude-sonnet-5-5',
      text: 'It is probably the database.',
    }));
    const outcome = await rerank(buildRerankRequest(input()), client, budget);
    expect(outcome).toMatchObject({
      source: 'rules',
      fallbackReason: 'malformed',
      fallbackDetail: 'the model called no tool (stop reason end_turn)',
      usage,
    });
  });

  it('treats a call of another tool as malformed', async () => {
    const client = new ScriptedClient(async () => ({ ...toolAnswer(validAnswer), toolName: 'run_shell' }));
    const outcome = await rerank(buildRerankRequest(input()), client, budget);
    expect(outcome.fallbackReason).toBe('malformed');
    expect(outcome.fallbackDetail).toBe('the model called "run_shell" (stop reason tool_use)');
  });

  it('reports validation failures of an answered call with its usage', async () => {
    const client = new ScriptedClient(async () => toolAnswer({ ...validAnswer, suggestedActions: ['pause-trading'] }));
    const outcome = await rerank(buildRerankRequest(input()), client, budget);
    expect(outcome).toMatchObject({ source: 'rules', fallbackReason: 'action-not-allowed', usage });
  });
});

describe('diagnosis.llm config', () => {
  it('fills in the defaults of each provider', () => {
    expect(llmConfigSchema.parse({ provider: 'anthropic', apiKeySecret: 'sre-agent/anthropic' })).toEqual({
      provider: 'anthropic',
      model: DEFAULT_ANTHROPIC_MODEL,
      apiKeySecret: 'sre-agent/anthropic',
      timeoutMs: 20_000,
      maxTokens: 1024,
      tokenBudgetPerIncident: 30_000,
      maxRetries: 2,
    });
    expect(llmConfigSchema.parse({ provider: 'bedrock', region: 'ap-northeast-1' })).toMatchObject({
      model: DEFAULT_BEDROCK_MODEL,
      region: 'ap-northeast-1',
    });
    expect(diagnosisConfigSchema.parse({})).toEqual({});
    expect(diagnosisConfigSchema.parse({ llm: { provider: 'none' } })).toEqual({ llm: { provider: 'none' } });
  });

  it('rejects what does not belong to the provider or cannot work', () => {
    const fails = (value: unknown) => llmConfigSchema.safeParse(value).success === false;
    expect(fails({ provider: 'anthropic' })).toBe(true);
    expect(fails({ provider: 'bedrock', apiKeySecret: 'x' })).toBe(true);
    expect(fails({ provider: 'anthropic', apiKeySecret: 'x', region: 'us-east-1' })).toBe(true);
    expect(fails({ provider: 'anthropic', apiKeySecret: 'x', baseUrl: 'not a url' })).toBe(true);
    expect(fails({ provider: 'bedrock', region: 'tokyo' })).toBe(true);
    expect(fails({ provider: 'openai' })).toBe(true);
    expect(fails({ provider: 'bedrock', maxTokens: 4096, tokenBudgetPerIncident: 4096 })).toBe(true);
    expect(fails({ provider: 'bedrock', timeoutMs: 300 })).toBe(true);
  });

  it('forces the tool except on models that reject a forced tool choice', () => {
    expect(defaultToolChoice('claude-sonnet-5-5')).toBe('auto');
    expect(defaultToolChoice('claude-opus-5-5')).toBe('auto');
    expect(defaultEffort('claude-sonnet-5-5')).toBe('low');
    expect(defaultToolChoice('claude-sonnet-5')).toBe('tool');
    expect(defaultToolChoice('claude-sonnet-4-6')).toBe('tool');
    expect(defaultToolChoice(DEFAULT_BEDROCK_MODEL)).toBe('tool');
    expect(defaultEffort(DEFAULT_BEDROCK_MODEL)).toBeUndefined();
  });
});
