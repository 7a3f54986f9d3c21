// Claude through Amazon Bedrock InvokeModel as the re-ranking stage's LlmClient: the Messages-format body with
// anthropic_version bedrock-2023-05-31, the response body decoded and checked, and Bedrock's exceptions mapped to
// LlmError. Credentials come from the Lambda's role, so there is no key to read.

import { BedrockRuntimeClient, InvokeModelCommand } from '@aws-sdk/client-bedrock-runtime';
import { z } from 'zod';
import {
  DEFAULT_BEDROCK_MODEL,
  defaultEffort,
  defaultToolChoice,
  type Effort,
  type ToolChoiceMode,
} from '../../core/config/llm-schema';
import {
  type LlmAnswer,
  type LlmCallOptions,
  type LlmClient,
  LlmError,
  type LlmErrorKind,
  type RerankPrompt,
} from '../../core/diagnosis/rerank';

export const BEDROCK_ANTHROPIC_VERSION = 'bedrock-2023-05-31';

export interface BedrockLlmSettings {
  /** A client to share or to mock; otherwise one is made for `region` with maxRetries + 1 attempts. */
  readonly client?: BedrockRuntimeClient;
  /** @default the Lambda's region (AWS_REGION) */
  readonly region?: string;
  /** A model or inference profile id. @default DEFAULT_BEDROCK_MODEL */
  readonly model?: string;
  /** Retries of throttling and 5xx by the AWS SDK, inside the call's deadline. @default 2 */
  readonly maxRetries?: number;
  /** @default defaultToolChoice(model) */
  readonly toolChoice?: ToolChoiceMode;
  /** @default defaultEffort(model) */
  readonly effort?: Effort;
}

const EPHEMERAL = { type: 'ephemeral' } as const;

/** The InvokeModel body for a prompt: the Messages request without `model`, which Bedrock takes as modelId. */
function bedrockMessagesBody(
  prompt: RerankPrompt,
  options: Pick<LlmCallOptions, 'maxTokens'>,
  toolChoice: ToolChoiceMode,
  effort: Effort | undefined,
): Record<string, unknown> {
  return {
    anthropic_version: BEDROCK_ANTHROPIC_VERSION,
    max_tokens: options.maxTokens,
    // The same cache breakpoints as on the Claude API: the tool and the system prompt are the same for every incident.
    system: [{ type: 'text', text: prompt.system, cache_control: EPHEMERAL }],
    messages: [{ role: 'user', content: prompt.user }],
    tools: [{ ...prompt.tool, cache_control: EPHEMERAL }],
    tool_choice:
      toolChoice === 'tool'
        ? { type: 'tool', name: prompt.tool.name, disable_parallel_tool_use: true }
        : { type: 'auto', disable_parallel_tool_use: true },
    ...(effort === undefined ? {} : { output_config: { effort } }),
  };
}

const responseSchema = z.object({
  model: z.string().optional(),
  content: z.array(z.looseObject({ type: z.string() })),
  stop_reason: z.string().nullish(),
  usage: z.looseObject({
    input_tokens: z.number(),
    output_tokens: z.number(),
    cache_read_input_tokens: z.number().nullish(),
    cache_creation_input_tokens: z.number().nullish(),
  }),
});
const toolUseSchema = z.looseObject({ type: z.literal('tool_use'), name: z.string(), input: z.unknown() });
const textSchema = z.looseObject({ type: z.literal('text'), text: z.string() });

/** Reads a Messages-format InvokeModel response body. */
function answerFromBody(body: Uint8Array, requestedModel: string): LlmAnswer {
  let json: unknown;
  try {
    json = JSON.parse(new TextDecoder().decode(body));
  } catch {
    throw new LlmError('malformed', 'Bedrock answered with a body that is not JSON');
  }
  const parsed = responseSchema.safeParse(json);
  if (!parsed.success) {
    throw new LlmError(
      'malformed',
      `Bedrock answered with something that is not a Messages response: ${parsed.error.issues[0]?.message}`,
    );
  }
  const message = parsed.data;
  const toolUse = message.content.map((block) => toolUseSchema.safeParse(block)).find((r) => r.success)?.data;
  const text = message.content
    .map((block) => textSchema.safeParse(block))
    .flatMap((r) => (r.success ? [r.data.text] : []))
    .join('\n');
  return {
    toolInput: toolUse?.input,
    ...(toolUse ? { toolName: toolUse.name } : {}),
    stopReason: message.stop_reason ?? null,
    usage: {
      inputTokens: message.usage.input_tokens,
      outputTokens: message.usage.output_tokens,
      cacheReadTokens: message.usage.cache_read_input_tokens ?? 0,
      cacheCreationTokens: message.usage.cache_creation_input_tokens ?? 0,
    },
    model: message.model ?? requestedModel,
    ...(text ? { text } : {}),
  };
}

// Bedrock's exceptions by name (stable across SDK copies, unlike instanceof). Quota exhaustion waits like throttling;
// a model that is not ready yet is, for the caller, a busy service.
const KIND_BY_NAME: Readonly<Record<string, LlmErrorKind>> = {
  ThrottlingException: 'rate-limited',
  ServiceQuotaExceededException: 'rate-limited',
  ServiceUnavailableException: 'overloaded',
  ModelNotReadyException: 'overloaded',
  ModelTimeoutException: 'timeout',
  AbortError: 'timeout',
  TimeoutError: 'timeout',
  AccessDeniedException: 'auth',
  UnrecognizedClientException: 'auth',
  ExpiredTokenException: 'auth',
};

interface AwsErrorShape {
  readonly name: string;
  readonly message: string;
  readonly $metadata?: { readonly httpStatusCode?: number };
}

const isAwsError = (error: unknown): error is AwsErrorShape => error instanceof Error && typeof error.name === 'string';

/** Maps what the AWS SDK throws to LlmError; ValidationException, ModelErrorException and the rest become 'http'. */
function toLlmError(error: unknown, timeoutMs: number): unknown {
  if (error instanceof LlmError || !isAwsError(error)) return error;
  const kind = KIND_BY_NAME[error.name] ?? 'http';
  const status = error.$metadata?.httpStatusCode;
  const message =
    error.name === 'AbortError' || error.name === 'TimeoutError'
      ? `no answer from Bedrock within ${timeoutMs} ms`
      : `Bedrock ${error.name}${status === undefined ? '' : ` (${status})`}: ${error.message}`;
  return new LlmError(kind, message, { cause: error, ...(status === undefined ? {} : { status }) });
}

export function bedrockLlmClient(settings: BedrockLlmSettings = {}): LlmClient {
  const model = settings.model ?? DEFAULT_BEDROCK_MODEL;
  const toolChoice = settings.toolChoice ?? defaultToolChoice(model);
  const effort = settings.effort ?? defaultEffort(model);
  const client =
    settings.client ??
    new BedrockRuntimeClient({
      ...(settings.region === undefined ? {} : { region: settings.region }),
      maxAttempts: (settings.maxRetries ?? 2) + 1,
    });
  return {
    async complete(prompt, options) {
      const body = bedrockMessagesBody(prompt, options, toolChoice, effort);
      let output: { body: Uint8Array };
      try {
        output = await client.send(
          new InvokeModelCommand({
            modelId: model,
            contentType: 'application/json',
            accept: 'application/json',
            body: JSON.stringify(body),
          }),
          // Bounds the whole call, the SDK's retries included.
          { abortSignal: AbortSignal.timeout(options.timeoutMs) },
        );
      } catch (error) {
        throw toLlmError(error, options.timeoutMs);
      }
      return answerFromBody(output.body, model);
    },
  };
}
