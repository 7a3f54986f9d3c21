// Unit tests of the Titan Text Embeddings V2 embedder with aws-sdk-client-mock.
//
// The InvokeModel request it sends, the order and bounded concurrency of its calls, input truncation, and the errors
// it reports.

import {
  BedrockRuntimeClient,
  InvokeModelCommand,
  type InvokeModelCommandInput,
  type InvokeModelCommandOutput,
  ThrottlingException,
  ValidationException,
} from '@aws-sdk/client-bedrock-runtime';
import { mockClient } from 'aws-sdk-client-mock';
import {
  DEFAULT_TITAN_MODEL,
  TITAN_MAX_INPUT_CHARS,
  TitanEmbedder,
  TitanEmbedderError,
  truncateForTitan,
} from '../../lambdas/adapters/knowledge/titan-embedder';

const bedrockMock = mockClient(BedrockRuntimeClient);
beforeEach(() => bedrockMock.reset());

/** An InvokeModel response body as the SDK hands it over: bytes that can also render themselves as text. */
function output(json: unknown): InvokeModelCommandOutput {
  const text = typeof json === 'string' ? json : JSON.stringify(json);
  return {
    body: Object.assign(new TextEncoder().encode(text), { transformToString: () => text }),
    contentType: 'application/json',
    $metadata: { httpStatusCode: 200 },
  };
}

interface TitanRequest {
  readonly inputText: string;
  readonly dimensions: number;
  readonly normalize: boolean;
}

// The embedder sends its body as a JSON string.
const requestOf = (input: InvokeModelCommandInput): TitanRequest => JSON.parse(String(input.body)) as TitanRequest;

/** A unit vector that encodes the text's length in its first component, so answers can be told apart. */
function embeddingFor(text: string, dimensions = 512): number[] {
  const v = new Array<number>(dimensions).fill(0);
  v[0] = text.length;
  return v;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

describe('TitanEmbedder', () => {
  it('invokes Titan V2 with inputText, 512 dimensions and normalize, and returns the embedding', async () => {
    bedrockMock
      .on(InvokeModelCommand)
      .callsFake((input: InvokeModelCommandInput) =>
        output({ embedding: embeddingFor(requestOf(input).inputText), inputTextTokenCount: 7 }),
      );
    const embedder = new TitanEmbedder({ client: new BedrockRuntimeClient({ region: 'eu-west-1' }) });
    const [vector] = await embedder.embed(['order-api error_ratio high after deploy']);
    expect(vector).toBeInstanceOf(Float32Array);
    expect(vector).toHaveLength(512);
    expect(vector[0]).toBe('order-api error_ratio high after deploy'.length);

    const calls = bedrockMock.commandCalls(InvokeModelCommand);
    expect(calls).toHaveLength(1);
    const input = calls[0].args[0].input;
    expect(input).toMatchObject({
      modelId: 'amazon.titan-embed-text-v2:0',
      contentType: 'application/json',
      accept: 'application/json',
    });
    expect(requestOf(input)).toEqual({
      inputText: 'order-api error_ratio high after deploy',
      dimensions: 512,
      normalize: true,
    });
    expect(embedder.dimensions).toBe(512);
    expect(embedder.name).toBe(`bedrock:${DEFAULT_TITAN_MODEL}:512`);
  });

  it('makes one call per text, at most `concurrency` at once, and keeps the order of the texts', async () => {
    let inFlight = 0;
    let most = 0;
    bedrockMock.on(InvokeModelCommand).callsFake(async (input: InvokeModelCommandInput) => {
      inFlight++;
      most = Math.max(most, inFlight);
      const text = requestOf(input).inputText;
      // Longer texts answer sooner, so completion order differs from request order.
      await sleep(Math.max(1, 30 - text.length));
      inFlight--;
      return output({ embedding: embeddingFor(text, 256), inputTextTokenCount: 3 });
    });
    const embedder = new TitanEmbedder({ client: new BedrockRuntimeClient({}), dimensions: 256, concurrency: 3 });
    const texts = Array.from({ length: 10 }, (_, i) => 'x'.repeat(i + 1));
    const vectors = await embedder.embed(texts);
    expect(vectors.map((v) => v[0])).toEqual(texts.map((t) => t.length));
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(10);
    expect(most).toBe(3);
    expect(requestOf(bedrockMock.commandCalls(InvokeModelCommand)[0].args[0].input).dimensions).toBe(256);
  });

  it("cuts an input to the model's limit, without splitting a character", async () => {
    bedrockMock
      .on(InvokeModelCommand)
      .callsFake((input: InvokeModelCommandInput) => output({ embedding: embeddingFor(requestOf(input).inputText) }));
    const embedder = new TitanEmbedder({ client: new BedrockRuntimeClient({}) });
    await embedder.embed(['a'.repeat(TITAN_MAX_INPUT_CHARS + 5000)]);
    const sent = requestOf(bedrockMock.commandCalls(InvokeModelCommand)[0].args[0].input).inputText;
    expect(sent).toHaveLength(TITAN_MAX_INPUT_CHARS);
    expect(TITAN_MAX_INPUT_CHARS).toBeLessThanOrEqual(50_000);

    const emoji = `${'a'.repeat(9)}😀tail`;
    expect(truncateForTitan(emoji, 10)).toBe('a'.repeat(9));
    expect(truncateForTitan(emoji, 11)).toBe(`${'a'.repeat(9)}😀`);
    expect(truncateForTitan('short', 10)).toBe('short');
  });

  it('answers a blank text with the zero vector, without a call (the model refuses empty input)', async () => {
    const embedder = new TitanEmbedder({ client: new BedrockRuntimeClient({}) });
    const [vector] = await embedder.embed(['   ']);
    expect(vector).toHaveLength(512);
    expect(vector.every((x) => x === 0)).toBe(true);
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(0);
  });

  it("reports Bedrock's exception with the model and the text's position, and stops the batch", async () => {
    bedrockMock
      .on(InvokeModelCommand)
      .rejects(new ValidationException({ message: 'Malformed input request', $metadata: { httpStatusCode: 400 } }));
    const embedder = new TitanEmbedder({ client: new BedrockRuntimeClient({}), concurrency: 1 });
    const failure = embedder.embed(['one', 'two', 'three']);
    await expect(failure).rejects.toBeInstanceOf(TitanEmbedderError);
    await expect(failure).rejects.toThrow(
      'amazon.titan-embed-text-v2:0: embedding text 0 failed: ValidationException: Malformed input request',
    );
    expect(bedrockMock.commandCalls(InvokeModelCommand)).toHaveLength(1);

    bedrockMock.reset();
    bedrockMock
      .on(InvokeModelCommand)
      .rejects(new ThrottlingException({ message: 'Too many requests', $metadata: { httpStatusCode: 429 } }));
    await expect(embedder.embed(['one'])).rejects.toThrow(/ThrottlingException: Too many requests/);
  });

  it('rejects an answer that is not an embedding of the size asked for', async () => {
    const embedder = new TitanEmbedder({ client: new BedrockRuntimeClient({}) });
    bedrockMock.on(InvokeModelCommand).resolves(output({ embedding: [0.1, 0.2], inputTextTokenCount: 1 }));
    await expect(embedder.embed(['x'])).rejects.toThrow('embedding text 0: got 2 dimensions, asked for 512');
    bedrockMock.on(InvokeModelCommand).resolves(output({ message: 'no embedding here' }));
    await expect(embedder.embed(['x'])).rejects.toThrow('response has no embedding array');
    bedrockMock.on(InvokeModelCommand).resolves(output('<html>'));
    await expect(embedder.embed(['x'])).rejects.toThrow('response body is not JSON');
  });

  it('bounds each call with an abort signal and reports an abort as no answer in time', async () => {
    const abort = Object.assign(new Error('Request aborted'), { name: 'AbortError' });
    bedrockMock.on(InvokeModelCommand).rejects(abort);
    const embedder = new TitanEmbedder({ client: new BedrockRuntimeClient({}), timeoutMs: 20 });
    await expect(embedder.embed(['x'])).rejects.toThrow('embedding text 0 failed: AbortError: no answer within 20 ms');
    const [, options] = bedrockMock.commandCalls(InvokeModelCommand)[0].args as unknown as [
      unknown,
      { abortSignal?: AbortSignal },
    ];
    expect(options.abortSignal).toBeInstanceOf(AbortSignal);
  });
});
