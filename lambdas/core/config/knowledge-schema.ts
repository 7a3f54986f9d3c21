// The `diagnosis.knowledge` section: where closed incidents and runbooks are kept for retrieval, and how they
// are embedded. The defaults need nothing outside the agent: an embedded store and a local embedding.

import { z } from 'zod';

/** Where runbooks are looked for when the config names no directory; it may be absent (no runbooks). */
export const DEFAULT_RUNBOOKS_DIR = 'runbooks';

export const knowledgeConfigSchema = z
  .object({
    /** `embedded`: kept by the agent itself (S3 on AWS, a file locally). `qdrant`: a Qdrant cluster. */
    store: z.enum(['embedded', 'qdrant']).default('embedded'),
    qdrant: z
      .object({
        url: z.url(),
        collection: z
          .string()
          .regex(/^[A-Za-z0-9_-]{1,255}$/, 'letters, digits, - and _ only')
          .default('sre-agent-cases'),
        /** Secrets Manager secret holding the Qdrant API key (Qdrant Cloud); none for a private cluster. */
        apiKeySecret: z.string().min(1).optional(),
        timeoutMs: z.number().int().min(100).max(30_000).default(3_000),
      })
      .strict()
      .optional(),
    /** `hashed`: deterministic hashed n-gram features, offline. `bedrock-titan`: Amazon Titan Text Embeddings v2. */
    embeddings: z.enum(['hashed', 'bedrock-titan']).default('hashed'),
    /** Bedrock model id for `bedrock-titan`. */
    titanModel: z.string().min(1).default('amazon.titan-embed-text-v2:0'),
    /** Past cases and runbooks retrieved per incident. */
    topK: z.number().int().min(1).max(20).default(3),
    /** Below this cosine similarity a past case is not shown as similar. */
    minSimilarity: z.number().min(0).max(1).default(0.5),
    /** Runbooks (Markdown) directory, relative to the config directory. */
    runbooks: z.string().min(1).default(DEFAULT_RUNBOOKS_DIR),
  })
  .strict()
  .superRefine((config, ctx) => {
    if (config.store === 'qdrant' && !config.qdrant) {
      ctx.addIssue({ code: 'custom', path: ['qdrant'], message: 'store "qdrant" needs qdrant.url' });
    }
  });
export type KnowledgeConfig = z.infer<typeof knowledgeConfigSchema>;
