// Unit tests of the Bedrock LlmClient with aws-sdk-client-mock: the InvokeModel body it sends, how it decodes the
// Messages-format response, and how Bedrock's exceptions become fallbacks of rerank().

import {
  AccessDeniedException,
  BedrockRuntimeClient,
  InvokeModelCommand,
  type InvokeModelCommandOutput,
  ModelTimeoutException,
  ServiceUnavailableException,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import { BEDROCK_ANTHROPIC_VERSION, bedrockLlmClient } from '../../lambdas/adapters/llm/bedrock-client';
import type { Candidate } from '../../lambdas/core/cognition/rank';
import { DEFAULT_BEDROCK_MODEL } from '../../lambdas/core/config/llm-schema';
import { buildRerankRequest, LlmError, rerank } from '../../lambdas/core/diagnosis/rerank';

const bedrockMock = mockClient(BedrockRuntimeClient);
beforeEach(() => bedrockMock.reset());

const EMAIL = 'oncall.lead@exchange.example';

const candidates: Candidate[] = [
  { service: 'matching-engine', kind: 'unknown', score: 0.7, evidence: ['first anomalous service'] },
  { service: 'market-data', kind: 'unknown', score: 0.4, evidence: ['callers anomalous too: ws-gateway'] },
];

const request = buildRerankRequest({
  incident: {
    id: 'inc-20250301T0300-matching-engine',
    services: ['matching-engine', 'market-data'],
    openedAt: '2025-03-01T03:00:00Z',
    onsets: [{ service: 'matching-engine', at: '2025-03-01T02:59:00Z' }],
  },
  candidates,
  evidence: {
    signals: ['matching-engine memory_utilisation 0.97, rising 2%/min'],
    deploys: [],
    logSignatures: [`matching-engine: paging ${EMAIL}: OOMKilled (x4)`],
    kubeEvents: ['matching-engine-0: OOMKilled, restarting'],
  },
});

const budget = { tokensPerIncident: 30_000, maxTokens: 1024, timeoutMs: 5_000 };

/** An InvokeModel response body as the SDK hands it over: bytes that can also render themselves as text. */
function responseBody(json: unknown): InvokeModelCommandOutput['body'] {
  const text = typeof json === 'string' ? json : JSON.stringify(json);
  return Object.assign(new TextEncoder().encode(text), { transformToString: () => text });
}

const output = (json: unknown): InvokeModelCommandOutput => ({
  body: responseBody(json),
  contentType: 'application/json',
  $metadata: { httpStatusCode: 200 },
});

const messagesResponse = (content: unknown[], stopReason: string) => ({
  id: 'msg_bdrk_01Pq7xV3nYbH8gWm2Lk5RtZc',
  type: 'message',
  role: 'assistant',
  model: 'claude-sonnet-4-6',
  content,
  stop_reason: stopReason,
  stop_sequence: null,
  usage: { input_tokens: 1710, output_tokens: 96, cache_creation_input_tokens: 1210, cache_read_input_tokens: 0 },
});

const answer = {
  candidateIndex: 0,
  service: 'matching-engine',
  kind: 'memory-leak',
  confidence: 0.77,
  explanation: 'matching-engine memory climbs 2%/min to 97% and its pods are OOMKilled; market-data only follows.',
  suggestedActions: ['engine-restart'],
};

function sentBody(): unknown {
  const calls = bedrockMock.commandCalls(InvokeModelCommand);
  expect(calls).toHaveLength(1);
  const body = calls[0].args[0].input.body;
  if (typeof body !== 'string') throw new Error(`expected a JSON string body, got ${typeof body}`);
  return JSON.parse(body);
}

describe('bedrockLlmClient', () => {
  it('sends a Messages-format InvokeModel body with the tool forced and cache breakpoints', async () => {
    bedrockMock
      .on(InvokeModelCommand)
      .resolves(
        output(
          messagesResponse(
            [{ type: 'tool_use', id: 'toolu_bdrk_01T1x9', name: 'report_root_cause', input: answer }],
            'tool_use',
          ),
        ),
      );
    const outcome = await rerank(request, bedrockLlmClient({ client: new BedrockRuntimeClient({}) }), budget);

    const input = bedrockMock.commandCalls(InvokeModelCommand)[0].args[0].input;
    expect(input).toMatchObject({
      modelId: DEFAULT_BEDROCK_MODEL,
      contentType: 'application/json',
      accept: 'application/json',
    });
    const body = sentBody();
    expect(body).toMatchObject({
      anthropic_version: BEDROCK_ANTHROPIC_VERSION,
      max_tokens: 1024,
      system: [{ type: 'text', cache_control: { type: 'ephemeral' } }],
      messages: [{ role: 'user' }],
      tools: [
        {
          name: 'report_root_cause',
          cache_control: { type: 'ephemeral' },
          input_schema: { type: 'object', required: expect.arrayContaining(['service', 'kind']) },
        },
      ],
      tool_choice: { type: 'tool', name: 'report_root_cause', disable_parallel_tool_use: true },
    });
    expect(body).not.toHaveProperty('model');
    expect(body).not.toHaveProperty('output_config');
    const wire = JSON.stringify(body);
    expect(wire).toContain('[0] matching-engine');
    expect(wire).not.toContain(EMAIL);

    expect(outcome).toMatchObject({
      source: 'llm',
      chosen: { service: 'matching-engine', kind: 'memory-leak' },
      suggestedActions: ['engine-restart'],
      model: 'claude-sonnet-4-6',
      usage: { inputTokens: 1710, outputTokens: 96, cacheReadTokens: 0, cacheCreationTokens: 1210 },
    });
  });

  it('uses the configured model id, tool choice and effort', async () => {
    bedrockMock
      .on(InvokeModelCommand)
      .resolves(
        output(
          messagesResponse([{ type: 'tool_use', id: 'toolu_1', name: 'report_root_cause', input: answer }], 'tool_use'),
        ),
      );
    const client = bedrockLlmClient({
      client: new BedrockRuntimeClient({}),
      model: 'global.anthropic.claude-opus-4-6-v1',
      toolChoice: 'auto',
      effort: 'medium',
    });
    const outcome = await rerank(request, client, budget);
    expect(bedrockMock.commandCalls(InvokeModelCommand)[0].args[0].input.modelId).toBe(
      'global.anthropic.claude-opus-4-6-v1',
    );
    expect(sentBody()).toMatchObject({
      tool_choice: { type: 'auto', disable_parallel_tool_use: true },
      output_config: { effort: 'medium' },
    });
    expect(outcome.source).toBe('llm');
  });

  it('reads the tool call among text blocks, and the model id when the body names none', async () => {
    const { model: _omitted, ...withoutModel } = messagesResponse(
      [
        { type: 'text', text: 'Memory growth on the engine precedes everything else.' },
        { type: 'tool_use', id: 'toolu_2', name: 'report_root_cause', input: answer },
      ],
      'tool_use',
    );
    bedrockMock.on(InvokeModelCommand).resolves(output(withoutModel));
    const answered = await bedrockLlmClient({ client: new BedrockRuntimeClient({}) }).complete(
      {
        system: 's',
        user: 'u',
        tool: {
          name: 'report_root_cause',
          description: 'd',
          input_schema: { type: 'object', properties: {}, required: [], additionalProperties: false },
        },
      },
      { maxTokens: 256, timeoutMs: 1_000 },
    );
    expect(answered).toEqual({
      toolInput: answer,
      toolName: 'report_root_cause',
      stopReason: 'tool_use',
      usage: { inputTokens: 1710, outputTokens: 96, cacheReadTokens: 0, cacheCreationTokens: 1210 },
      model: DEFAULT_BEDROCK_MODEL,
      text: 'Memory growth on the engine precedes everything else.',
    });
  });

  it('maps ThrottlingException to a rate-limited fallback', async () => {
    bedrockMock.on(InvokeModelCommand).rejects(
      new ThrottlingException({
        message: 'Too many requests, please wait before trying again.',
        $metadata: { httpStatusCode: 429 },
      }),
    );
    const outcome = await rerank(request, bedrockLlmClient({ client: new BedrockRuntimeClient({}) }), budget);
    expect(outcome).toMatchObject({
      source: 'rules',
      ranking: candidates,
      chosen: candidates[0],
      fallbackReason: 'rate-limited',
      fallbackDetail: 'Bedrock ThrottlingException (429): Too many requests, please wait before trying again.',
    });
  });

  it.each([
    [
      new ModelTimeoutException({
        message: 'Model has timed out in processing the request.',
        $metadata: { httpStatusCode: 408 },
      }),
      'timeout',
    ],
    [
      new ServiceUnavailableException({ message: 'Service is unavailable.', $metadata: { httpStatusCode: 503 } }),
      'overloaded',
    ],
    [
      new AccessDeniedException({
        message: "You don't have access to the model with the specified model ID.",
        $metadata: { httpStatusCode: 403 },
      }),
      'auth',
    ],
    [
      new ValidationException({
        message: 'The provided model identifier is invalid.',
        $metadata: { httpStatusCode: 400 },
      }),
      'http',
    ],
  ])('maps %p to the %s fallback', async (error, reason) => {
    bedrockMock.on(InvokeModelCommand).rejects(error);
    const outcome = await rerank(request, bedrockLlmClient({ client: new BedrockRuntimeClient({}) }), budget);
    expect(outcome).toMatchObject({ source: 'rules', ranking: candidates, fallbackReason: reason });
    expect(outcome.fallbackDetail).toContain(error.message);
  });

  it('bounds the call with an abort signal and reports an abort as a timeout', async () => {
    const abort = Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    bedrockMock.on(InvokeModelCommand).rejects(abort);
    const client = bedrockLlmClient({ client: new BedrockRuntimeClient({}) });
    const outcome = await rerank(request, client, { ...budget, timeoutMs: 1_500 });
    expect(outcome).toMatchObject({
      source: 'rules',
      fallbackReason: 'timeout',
      fallbackDetail: 'no answer from Bedrock within 1500 ms',
    });
    // The stub's type knows only the command; the options travel as the second argument all the same.
    const sendArgs: readonly unknown[] = bedrockMock.send.firstCall.args;
    const sendOptions = sendArgs[1];
    expect(sendOptions).toEqual({ abortSignal: expect.any(AbortSignal) });
  });

  it('throws a malformed LlmError on a body that is not a Messages response', async () => {
    const client = bedrockLlmClient({ client: new BedrockRuntimeClient({}) });
    bedrockMock.on(InvokeModelCommand).resolves(output('<html>Bad Gateway</html>'));
    const prompt = {
      system: 's',
      user: 'u',
      tool: {
        name: 'report_root_cause',
        description: 'd',
        input_schema: { type: 'object', properties: {}, required: [], additionalProperties: false },
      },
    } as const;
    await expect(client.complete(prompt, { maxTokens: 256, timeoutMs: 1_000 })).rejects.toMatchObject({
      name: 'LlmError',
      kind: 'malformed',
      message: 'Bedrock answered with a body that is not JSON',
    });
    bedrockMock.on(InvokeModelCommand).resolves(output({ completion: 'text-completions shape' }));
    const error: unknown = await client.complete(prompt, { maxTokens: 256, timeoutMs: 1_000 }).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(LlmError);
    expect(error).toMatchObject({ kind: 'malformed' });
  });

  it('falls back as malformed through rerank() when the reply has no tool call', async () => {
    bedrockMock
      .on(InvokeModelCommand)
      .resolves(output(messagesResponse([{ type: 'text', text: 'Probably the matching engine.' }], 'end_turn')));
    const outcome = await rerank(request, bedrockLlmClient({ client: new BedrockRuntimeClient({}) }), budget);
    expect(outcome).toMatchObject({
      source: 'rules',
      fallbackReason: 'malformed',
      fallbackDetail: 'the model called no tool (stop reason end_turn)',
      usage: { inputTokens: 1710 },
    });
  });
});
