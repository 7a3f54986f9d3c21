// Embedder on Amazon Titan Text Embeddings V2 through Bedrock InvokeModel.
//
// One call per text (the model takes one input per request), a few in flight at once, 512 normalised dimensions by
// default. Credentials come from the Lambda's role. Texts arrive redacted: the document builders redact them.

import { BedrockRuntimeClient, InvokeModelCommand } from '@aws-sdk/client-bedrock-runtime';
import { z } from 'zod';
import type { Embedder } from '../../core/diagnosis/knowledge';

export const DEFAULT_TITAN_MODEL = 'amazon.titan-embed-text-v2:0';
export type TitanDimensions = 256 | 512 | 1024;

/**
 * Titan V2 takes at most 8,192 tokens or 50,000 characters. English averages 4.7 characters a token, but numbers,
 * identifiers and punctuation (much of an incident) come closer to 3, so inputs are cut at 3 characters a token:
 * losing the tail of a long runbook costs less than a refused request.
 */
export const TITAN_MAX_INPUT_CHARS = 8_192 * 3;

export interface TitanEmbedderSettings {
  /** A client to share or to mock; otherwise one is made for `region`. */
  readonly client?: BedrockRuntimeClient;
  readonly region?: string;
  /** @default DEFAULT_TITAN_MODEL */
  readonly model?: string;
  /** @default 512 */
  readonly dimensions?: TitanDimensions;
  /** Requests in flight at once: enough to index runbooks quickly, few enough to stay clear of throttling. @default 4 */
  readonly concurrency?: number;
  /** Per request, the SDK's retries included. @default 10000 */
  readonly timeoutMs?: number;
}

const responseSchema = z.object({
  embedding: z.array(z.number()),
  inputTextTokenCount: z.number().optional(),
});

export class TitanEmbedderError extends Error {
  override readonly name = 'TitanEmbedderError';
}

/** Cuts a text to the model's limit without splitting a surrogate pair. */
export function truncateForTitan(text: string, maxChars = TITAN_MAX_INPUT_CHARS): string {
  if (text.length <= maxChars) return text;
  const code = text.charCodeAt(maxChars - 1);
  return text.slice(0, code >= 0xd800 && code <= 0xdbff ? maxChars - 1 : maxChars);
}

export class TitanEmbedder implements Embedder {
  readonly dimensions: number;
  readonly name: string;
  private readonly model: string;
  private readonly client: BedrockRuntimeClient;
  private readonly concurrency: number;
  private readonly timeoutMs: number;

  constructor(settings: TitanEmbedderSettings = {}) {
    this.model = settings.model ?? DEFAULT_TITAN_MODEL;
    this.dimensions = settings.dimensions ?? 512;
    this.name = `bedrock:${this.model}:${this.dimensions}`;
    this.concurrency = Math.max(1, Math.floor(settings.concurrency ?? 4));
    this.timeoutMs = settings.timeoutMs ?? 10_000;
    this.client =
      settings.client ?? new BedrockRuntimeClient(settings.region === undefined ? {} : { region: settings.region });
  }

  async embed(texts: string[]): Promise<Float32Array[]> {
    const out = new Array<Float32Array>(texts.length);
    let next = 0;
    // After one failure the batch fails as a whole, so the other workers stop taking texts.
    let failed = false;
    const worker = async () => {
      while (!failed && next < texts.length) {
        const i = next++;
        try {
          out[i] = await this.embedOne(texts[i], i);
        } catch (error) {
          failed = true;
          throw error;
        }
      }
    };
    await Promise.all(Array.from({ length: Math.min(this.concurrency, texts.length) }, worker));
    return out;
  }

  private async embedOne(text: string, index: number): Promise<Float32Array> {
    // The model refuses an empty input; a blank text has nothing to match anyway.
    if (text.trim() === '') return new Float32Array(this.dimensions);
    let body: Uint8Array;
    try {
      const output = await this.client.send(
        new InvokeModelCommand({
          modelId: this.model,
          contentType: 'application/json',
          accept: 'application/json',
          body: JSON.stringify({ inputText: truncateForTitan(text), dimensions: this.dimensions, normalize: true }),
        }),
        { abortSignal: AbortSignal.timeout(this.timeoutMs) },
      );
      body = output.body;
    } catch (error) {
      const name = error instanceof Error ? error.name : 'Error';
      const message = error instanceof Error ? error.message : String(error);
      const detail =
        name === 'TimeoutError' || name === 'AbortError' ? `no answer within ${this.timeoutMs} ms` : message;
      throw new TitanEmbedderError(`${this.model}: embedding text ${index} failed: ${name}: ${detail}`, {
        cause: error,
      });
    }
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(body));
    } catch {
      throw new TitanEmbedderError(`${this.model}: embedding text ${index}: response body is not JSON`);
    }
    const parsed = responseSchema.safeParse(json);
    if (!parsed.success) {
      throw new TitanEmbedderError(`${this.model}: embedding text ${index}: response has no embedding array`);
    }
    const { embedding } = parsed.data;
    if (embedding.length !== this.dimensions) {
      throw new TitanEmbedderError(
        `${this.model}: embedding text ${index}: got ${embedding.length} dimensions, asked for ${this.dimensions}`,
      );
    }
    return Float32Array.from(embedding);
  }
}
