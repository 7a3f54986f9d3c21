// Module-scope wiring for the Lambda handlers: configuration, AWS clients and adapters, built once per cold
// start. A bad configuration fails the cold start with the field that is wrong.

import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { S3BlobStore } from '../adapters/blob/s3-blob-store';
import { BlobSnapshotStore } from '../adapters/blob/snapshot-store';
import { DynamoBaselineStore } from '../adapters/dynamodb/baseline-store';
import { DynamoIncidentStore } from '../adapters/dynamodb/incident-store';
import { DynamoScorerStateStore } from '../adapters/dynamodb/scorer-state-store';
import { createMetricSource } from '../adapters/prometheus/http-metric-source';
import { secretsReader } from '../adapters/secrets';
import { scorerSettings } from '../core/cognition/scorer';
import { ConfigError } from '../core/config/config-error';
import { type AgentConfig, agentConfigSchema, type SignalCatalog, signalCatalogSchema } from '../core/config/schema';
import { ScoringSession } from '../core/tick';
import { ServiceGraph } from '../core/topology';

export const logger = new Logger({ serviceName: 'sre-agent' });

/** The configuration CDK validated at synth and bundled into the function (esbuild `define`). */
export function bundledConfig(raw = process.env.SRE_AGENT_BUNDLED_CONFIG): {
  config: AgentConfig;
  catalog: SignalCatalog;
} {
  if (!raw) throw new ConfigError('SRE_AGENT_BUNDLED_CONFIG', ['not set: the function was not built by the CDK app']);
  const parsed = JSON.parse(raw) as { config: unknown; catalog: unknown };
  const config = agentConfigSchema.safeParse(parsed.config);
  if (!config.success)
    throw new ConfigError(
      'bundled config',
      config.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    );
  const catalog = signalCatalogSchema.safeParse(parsed.catalog);
  if (!catalog.success)
    throw new ConfigError(
      'bundled catalog',
      catalog.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    );
  return { config: config.data, catalog: catalog.data };
}

export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) throw new ConfigError('environment', [`${name} is not set`]);
  return value;
}

let dynamo: DynamoDBClient | undefined;
let s3: S3Client | undefined;
let secrets: ((name: string) => Promise<string>) | undefined;

export const dynamoClient = (): DynamoDBClient => {
  dynamo ??= new DynamoDBClient({});
  return dynamo;
};

const s3Client = (): S3Client => {
  s3 ??= new S3Client({});
  return s3;
};

export const readSecret = (name: string): Promise<string> => {
  secrets ??= secretsReader(new SecretsManagerClient({}));
  return secrets(name);
};

export const snapshotStore = (source: string) =>
  new BlobSnapshotStore(new S3BlobStore(s3Client(), requiredEnv('WORK_BUCKET')), source);

export const metricSource = (config: AgentConfig) => createMetricSource(config.metricSource, { secrets: readSecret });

export const baselineStore = () => new DynamoBaselineStore(dynamoClient(), requiredEnv('BASELINES_TABLE'));

export function scoringSession(config: AgentConfig, catalog: SignalCatalog): ScoringSession {
  return new ScoringSession(
    {
      catalog,
      detection: config.detection,
      graph: new ServiceGraph(config.topology),
      baselines: baselineStore(),
      state: new DynamoScorerStateStore(
        dynamoClient(),
        requiredEnv('SCORER_STATE_TABLE'),
        new S3BlobStore(s3Client(), requiredEnv('WORK_BUCKET')),
      ),
      incidents: new DynamoIncidentStore(dynamoClient(), requiredEnv('INCIDENTS_TABLE')),
    },
    scorerSettings(config.detection),
  );
}
