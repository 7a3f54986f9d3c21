// Claude through the Anthropic Messages API as the re-ranking stage's LlmClient: the API key from Secrets Manager,
// the report tool forced where the model allows it, prompt caching on the incident-independent prefix, and the SDK's
// errors mapped to LlmError so the stage can fall back to the rule ranking with a precise reason.

import Anthropic, { AnthropicError, APIConnectionTimeoutError, APIError, APIUserAbortError } from '@anthropic-ai/sdk';
import {
  DEFAULT_ANTHROPIC_MODEL,
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
  type RerankPrompt,
} from '../../core/diagnosis/rerank';
import { retryAfterMs } from '../http/retry-after';

export interface AnthropicLlmSettings {
  /** Reads a secret by name; called before every request, so pass a caching reader (see secretsReader). */
  readonly secrets: (name: string) => Promise<string>;
  /** Secret holding the API key, raw or as JSON {"apiKey": "..."}. */
  readonly apiKeySecret: string;
  /** @default DEFAULT_ANTHROPIC_MODEL */
  readonly model?: string;
  /** @default https://api.anthropic.com */
  readonly baseUrl?: string;
  /** Retries of 429, 5xx and connection failures, inside the call's deadline. @default 2 */
  readonly maxRetries?: number;
  /** @default defaultToolChoice(model) */
  readonly toolChoice?: ToolChoiceMode;
  /** @default defaultEffort(model) */
  readonly effort?: Effort;
}

/** The key from a secret holding it raw or as JSON ({"apiKey": ...}, {"api_key": ...} or {"ANTHROPIC_API_KEY": ...}). */
export function apiKeyFrom(secret: string): string {
  const trimmed = secret.trim();
  if (!trimmed.startsWith('{')) return trimmed;
  let parsed: unknown;
  try {
    parsed = JSON.parse(trimmed);
  } catch {
    throw new Error('the API key secret starts with "{" but is not JSON');
  }
  if (typeof parsed === 'object' && parsed !== null) {
    for (const field of ['apiKey', 'api_key', 'ANTHROPIC_API_KEY']) {
      const value: unknown = Reflect.get(parsed, field);
      if (typeof value === 'string' && value.trim()) return value.trim();
    }
  }
  throw new Error('the API key secret is JSON without an apiKey, api_key or ANTHROPIC_API_KEY field');
}

const EPHEMERAL = { type: 'ephemeral' } as const;

/** The Messages request for a prompt. */
function messagesRequest(
  prompt: RerankPrompt,
  options: Pick<LlmCallOptions, 'maxTokens'>,
  model: string,
  toolChoice: ToolChoiceMode,
  effort: Effort | undefined,
): Anthropic.MessageCreateParamsNonStreaming {
  const schema = prompt.tool.input_schema;
  return {
    model,
    max_tokens: options.maxTokens,
    // Tools come first in the cached prefix and the system prompt next; both are the same for every incident, so a
    // breakpoint after each lets later incidents read them from the cache (the tools alone if the system changed).
    tools: [
      {
        name: prompt.tool.name,
        description: prompt.tool.description,
        input_schema: { ...schema, required: [...schema.required] },
        cache_control: EPHEMERAL,
      },
    ],
    system: [{ type: 'text', text: prompt.system, cache_control: EPHEMERAL }],
    tool_choice:
      toolChoice === 'tool'
        ? { type: 'tool', name: prompt.tool.name, disable_parallel_tool_use: true }
        : { type: 'auto', disable_parallel_tool_use: true },
    messages: [{ role: 'user', content: prompt.user }],
    ...(effort === undefined ? {} : { output_config: { effort } }),
  };
}

function answerFrom(message: Anthropic.Message, requestedModel: string): LlmAnswer {
  if (!Array.isArray(message?.content) || typeof message.usage?.input_tokens !== 'number') {
    throw new LlmError('malformed', 'the Claude API answered with something that is not a Messages response');
  }
  const toolUse = message.content.find((block) => block.type === 'tool_use');
  const text = message.content
    .map((block) => (block.type === 'text' ? block.text : ''))
    .filter(Boolean)
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
    model: message.model || requestedModel,
    ...(text ? { text } : {}),
  };
}

/** Maps what the SDK throws to LlmError; anything else (a bug here, not the API) is rethrown as it is. */
function toLlmError(error: unknown, timeoutMs: number): unknown {
  if (error instanceof LlmError) return error;
  // Both mean the deadline passed: the SDK's per-attempt timeout, or the end-to-end signal aborting a retry.
  if (error instanceof APIConnectionTimeoutError || error instanceof APIUserAbortError) {
    return new LlmError('timeout', `no answer from the Claude API within ${timeoutMs} ms`, { cause: error });
  }
  if (error instanceof APIError) {
    const status: number | undefined = error.status;
    if (status === undefined) {
      return new LlmError('http', `could not reach the Claude API: ${error.message}`, { cause: error });
    }
    const wait = retryAfterMs(error.headers?.get('retry-after') ?? null);
    const details = { status, cause: error, ...(wait === undefined ? {} : { retryAfterMs: wait }) };
    const said = `${status}${error.type ? ` ${error.type}` : ''}: ${error.apiMessage ?? error.message}`;
    if (status === 429 || error.type === 'rate_limit_error') {
      return new LlmError('rate-limited', `the Claude API is rate limiting (${said})`, details);
    }
    if (status === 529 || error.type === 'overloaded_error') {
      return new LlmError('overloaded', `the Claude API is overloaded (${said})`, details);
    }
    if (
      status === 401 ||
      status === 403 ||
      error.type === 'authentication_error' ||
      error.type === 'permission_error'
    ) {
      return new LlmError('auth', `the Claude API refused the credentials (${said})`, details);
    }
    if (status === 408 || status === 504 || error.type === 'timeout_error') {
      return new LlmError('timeout', `the Claude API timed out (${said})`, details);
    }
    return new LlmError('http', `the Claude API answered ${said}`, details);
  }
  // The SDK wraps a failing apiKey function; the cause is ours and already classified.
  if (error instanceof AnthropicError && error.cause instanceof LlmError) return error.cause;
  if (error instanceof AnthropicError) return new LlmError('http', error.message, { cause: error });
  return error;
}

export function anthropicLlmClient(settings: AnthropicLlmSettings): LlmClient {
  const model = settings.model ?? DEFAULT_ANTHROPIC_MODEL;
  const toolChoice = settings.toolChoice ?? defaultToolChoice(model);
  const effort = settings.effort ?? defaultEffort(model);
  const maxRetries = settings.maxRetries ?? 2;
  const sdk = new Anthropic({
    // A function is called before each request, so a rotated key is picked up when the reader's cache expires.
    apiKey: async () => {
      try {
        return apiKeyFrom(await settings.secrets(settings.apiKeySecret));
      } catch (error) {
        const why = error instanceof Error ? error.message : String(error);
        throw new LlmError('auth', `could not read the API key from secret "${settings.apiKeySecret}": ${why}`, {
          cause: error,
        });
      }
    },
    ...(settings.baseUrl === undefined ? {} : { baseURL: settings.baseUrl }),
    maxRetries,
  });
  return {
    async complete(prompt, options) {
      const params = messagesRequest(prompt, options, model, toolChoice, effort);
      let message: Anthropic.Message;
      try {
        message = await sdk.messages.create(params, {
          // Per attempt; the signal bounds the whole call, retries and their Retry-After waits included.
          timeout: options.timeoutMs,
          signal: AbortSignal.timeout(options.timeoutMs),
        });
      } catch (error) {
        throw toLlmError(error, options.timeoutMs);
      }
      return answerFrom(message, model);
    },
  };
}
