// Builds the configured knowledge base: the embedder (hashed or Titan) and the store (embedded or Qdrant).
//
// The store is told which vector space (embedder) it holds, so switching embedders never mixes vectors.

import type { BedrockRuntimeClient } from '@aws-sdk/client-bedrock-runtime';
import type { KnowledgeConfig } from '../../core/config/knowledge-schema';
import { HashedEmbedder } from '../../core/diagnosis/hashed-embedder';
import type { Embedder, KnowledgeBase, KnowledgeStore } from '../../core/diagnosis/knowledge';
import { EmbeddedKnowledgeStore, type EmbeddedPersistence } from './embedded-store';
import { QdrantKnowledgeStore } from './qdrant-store';
import { TitanEmbedder } from './titan-embedder';

export interface KnowledgeBaseDeps {
  /** Where the embedded store keeps its lines: a file locally, a BlobStore key on AWS. @default memory only */
  readonly embedded?: EmbeddedPersistence;
  /** For `bedrock-titan`; otherwise a client for the Lambda's region is made. */
  readonly bedrock?: BedrockRuntimeClient;
  /** Reads a Secrets Manager secret: needed when `qdrant.apiKeySecret` is set. */
  readonly readSecret?: (name: string) => Promise<string>;
}

export class KnowledgeConfigError extends Error {
  override readonly name = 'KnowledgeConfigError';
}

function embedderFor(config: KnowledgeConfig, deps: KnowledgeBaseDeps): Embedder {
  if (config.embeddings === 'hashed') return new HashedEmbedder();
  return new TitanEmbedder({ model: config.titanModel, ...(deps.bedrock ? { client: deps.bedrock } : {}) });
}

export async function createKnowledgeBase(
  config: KnowledgeConfig,
  deps: KnowledgeBaseDeps = {},
): Promise<KnowledgeBase> {
  const embedder = embedderFor(config, deps);
  let store: KnowledgeStore;
  if (config.store === 'qdrant') {
    const qdrant = config.qdrant;
    // The schema already requires it; checked again because this factory may be handed a config built in code.
    if (!qdrant) throw new KnowledgeConfigError('knowledge store "qdrant" needs qdrant.url');
    let apiKey: string | undefined;
    if (qdrant.apiKeySecret) {
      if (!deps.readSecret) {
        throw new KnowledgeConfigError(
          `qdrant.apiKeySecret "${qdrant.apiKeySecret}" is set but no secret reader was given`,
        );
      }
      apiKey = (await deps.readSecret(qdrant.apiKeySecret)).trim();
    }
    store = new QdrantKnowledgeStore({
      url: qdrant.url,
      collection: qdrant.collection,
      ...(apiKey ? { apiKey } : {}),
      timeoutMs: qdrant.timeoutMs,
      dimensions: embedder.dimensions,
      vectorSpace: embedder.name,
    });
  } else {
    store = new EmbeddedKnowledgeStore({
      persistence: deps.embedded ?? { memory: true },
      vectorSpace: embedder.name,
    });
  }
  return { embedder, store };
}
