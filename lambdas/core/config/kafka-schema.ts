// The `kafka` section: where deploy events come from (the `deploy-events` topic, consumed by an event source
// mapping) and where the audit stream is published. Both optional: without them deploys come from nowhere
// and the audit trail stays in DynamoDB only.

import { z } from 'zod';

const topic = z.string().regex(/^[A-Za-z0-9._-]{1,249}$/, 'must be a Kafka topic name');
const brokers = z.array(z.string().regex(/^[^\s:]+:\d{1,5}$/, 'must be host:port')).min(1);

export const kafkaConfigSchema = z
  .object({
    deployEvents: z
      .object({
        topic: topic.default('deploy-events'),
        /** An Amazon MSK cluster ARN, or the brokers of a self-managed cluster. */
        mskClusterArn: z
          .string()
          .regex(/^arn:aws[a-z-]*:kafka:[a-z0-9-]+:\d{12}:cluster\/.+$/, 'must be an MSK cluster ARN')
          .optional(),
        bootstrapServers: brokers.optional(),
        consumerGroup: z.string().min(1).default('sre-agent-deploy-events'),
        /** Secrets Manager secret with SASL/SCRAM credentials (self-managed clusters). */
        saslScramSecret: z.string().min(1).optional(),
      })
      .strict()
      .refine((d) => Boolean(d.mskClusterArn) !== Boolean(d.bootstrapServers), {
        message: 'give exactly one of mskClusterArn and bootstrapServers',
      })
      .optional(),
    auditStream: z
      .object({
        topic: topic.default('sre-agent-audit'),
        brokers,
        /** Secrets Manager secret with SASL/SCRAM credentials; IAM auth for MSK is not used by kafkajs. */
        saslScramSecret: z.string().min(1).optional(),
      })
      .strict()
      .optional(),
  })
  .strict();
export type KafkaConfig = z.infer<typeof kafkaConfigSchema>;
