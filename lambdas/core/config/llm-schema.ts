// Configuration of the model behind root-cause re-ranking (`diagnosis.llm`): provider, model, and the time and token
// limits of each incident's calls. Without it, or with provider none, diagnosis uses the rule ranking alone.

import { z } from 'zod';

export const LLM_PROVIDERS = ['anthropic', 'bedrock', 'none'] as const;
export type LlmProvider = (typeof LLM_PROVIDERS)[number];

/** The current Claude Sonnet on the Claude API. */
export const DEFAULT_ANTHROPIC_MODEL = 'claude-sonnet-5-5';

/**
 * The Bedrock adapter calls InvokeModel with `anthropic_version: bedrock-2023-05-31`, which serves the ARN-versioned
 * Claude models (Opus 4.6 and earlier); later models live on Bedrock's Messages endpoint instead. So the default is
 * the newest Sonnet InvokeModel serves, through the global inference profile that on-demand use requires.
 */
export const DEFAULT_BEDROCK_MODEL = 'global.anthropic.claude-sonnet-4-6';

/** `tool` forces the report tool; `auto` offers it and relies on the prompt (the answer is validated either way). */
export const TOOL_CHOICES = ['tool', 'auto'] as const;
export type ToolChoiceMode = (typeof TOOL_CHOICES)[number];

export const EFFORTS = ['low', 'medium', 'high'] as const;
export type Effort = (typeof EFFORTS)[number];

// Claude Sonnet 5.5, Opus 5.5 and Fable 5.1 answer a forced tool choice with a 400 and think before answering by
// default. Matched anywhere in the id so Bedrock profile ids (`global.anthropic.claude-...`) count too.
const THINKS_AND_REJECTS_FORCED_TOOL = /claude-(?:sonnet-5-5|opus-5-5|fable-5-1)(?![0-9.])/;

/** Forced where the model accepts it; offered (`auto`) on models that reject a forced tool choice. */
export function defaultToolChoice(model: string): ToolChoiceMode {
  return THINKS_AND_REJECTS_FORCED_TOOL.test(model) ? 'auto' : 'tool';
}

/**
 * Low effort on models that think by default: at their default effort the thinking alone can use up a 1024-token
 * answer and most of a 20 s deadline, and choosing among a handful of candidates does not need it. Other models get
 * no effort setting, as not all of them accept one.
 */
export function defaultEffort(model: string): Effort | undefined {
  return THINKS_AND_REJECTS_FORCED_TOOL.test(model) ? 'low' : undefined;
}

const limits = {
  /** End to end per call, retries included. */
  timeoutMs: z.number().int().min(1_000).max(120_000).default(20_000),
  /** Output cap per call; thinking counts against it on models that think. */
  maxTokens: z.number().int().min(256).max(8_192).default(1_024),
  /** Input, cache and output tokens one incident may spend on re-ranking over its whole life. */
  tokenBudgetPerIncident: z.number().int().positive().max(1_000_000).default(30_000),
  /** Retries of 429, 5xx and connection failures inside the deadline. */
  maxRetries: z.number().int().min(0).max(5).default(2),
  /** @default by model: see defaultToolChoice */
  toolChoice: z.enum(TOOL_CHOICES).optional(),
  /** @default by model: see defaultEffort */
  effort: z.enum(EFFORTS).optional(),
};

export const llmConfigSchema = z
  .discriminatedUnion('provider', [
    z.object({ provider: z.literal('none') }).strict(),
    z
      .object({
        provider: z.literal('anthropic'),
        model: z.string().min(1).default(DEFAULT_ANTHROPIC_MODEL),
        /** Secrets Manager secret holding the API key, raw or as JSON {"apiKey": "..."}. */
        apiKeySecret: z.string().min(1),
        /** A proxy or gateway in front of the Claude API. @default https://api.anthropic.com */
        baseUrl: z.url().optional(),
        ...limits,
      })
      .strict(),
    z
      .object({
        provider: z.literal('bedrock'),
        model: z.string().min(1).default(DEFAULT_BEDROCK_MODEL),
        /** @default the Lambda's region */
        region: z
          .string()
          .regex(/^[a-z]{2}(-[a-z]+)+-\d$/, 'must be an AWS region such as ap-northeast-1')
          .optional(),
        ...limits,
      })
      .strict(),
  ])
  .superRefine((config, ctx) => {
    if (config.provider === 'none') return;
    if (config.tokenBudgetPerIncident <= config.maxTokens) {
      ctx.addIssue({
        code: 'custom',
        path: ['tokenBudgetPerIncident'],
        message: `must exceed maxTokens (${config.maxTokens}): every call counts its full output cap before it is made`,
      });
    }
  });
export type LlmConfig = z.infer<typeof llmConfigSchema>;

/** The `diagnosis` section: the model is optional, the rule ranking is always there. */
export const diagnosisConfigSchema = z.object({ llm: llmConfigSchema.optional() }).strict();
export type DiagnosisConfig = z.infer<typeof diagnosisConfigSchema>;
