// Module-scope wiring for the Lambda handlers: configuration, AWS clients and adapters, built once per cold
// start. A bad configuration fails the cold start with the field that is wrong.

import { Logger } from '@aws-lambda-powertools/logger';
import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { S3Client } from '@aws-sdk/client-s3';
import { SecretsManagerClient } from '@aws-sdk/client-secrets-manager';
import { SendTaskFailureCommand, SendTaskSuccessCommand, SFNClient } from '@aws-sdk/client-sfn';
import { z } from 'zod';
import { S3BlobStore } from '../adapters/blob/s3-blob-store';
import { BlobSnapshotStore } from '../adapters/blob/snapshot-store';
import { DynamoApprovalStore } from '../adapters/dynamodb/approval-store';
import { DynamoBaselineStore } from '../adapters/dynamodb/baseline-store';
import { DynamoIncidentStore } from '../adapters/dynamodb/incident-store';
import { DynamoScorerStateStore } from '../adapters/dynamodb/scorer-state-store';
import { createMetricSource } from '../adapters/prometheus/http-metric-source';
import { secretsReader } from '../adapters/secrets';
import { slackApprovalMessenger } from '../adapters/slack/messenger';
import { botTokenFrom, SlackWebApi, type SlackWebApiOptions } from '../adapters/slack/web-api';
import { scorerSettings } from '../core/cognition/scorer';
import { ConfigError } from '../core/config/config-error';
import {
  type AgentConfig,
  type ApprovalsConfig,
  agentConfigSchema,
  type SignalCatalog,
  signalCatalogSchema,
} from '../core/config/schema';
import { APPROVAL_REJECTED, type ApprovalDeps, type ApprovalWorkflow } from '../core/decision/approval';
import { type Playbooks, playbooksSchema } from '../core/decision/plan';
import { type KnowledgeDocument, knowledgeDocumentSchema } from '../core/diagnosis/knowledge';
import { ScoringSession } from '../core/tick';
import { ServiceGraph } from '../core/topology';

export const logger = new Logger({ serviceName: 'sre-agent' });

/** The configuration CDK validated at synth and bundled into the function (esbuild `define`). */
export function bundledConfig(raw = process.env.SRE_AGENT_BUNDLED_CONFIG): {
  config: AgentConfig;
  catalog: SignalCatalog;
  playbooks: Playbooks;
  runbooks: KnowledgeDocument[];
} {
  if (!raw) throw new ConfigError('SRE_AGENT_BUNDLED_CONFIG', ['not set: the function was not built by the CDK app']);
  const parsed = JSON.parse(raw) as { config: unknown; catalog: unknown; playbooks: unknown; runbooks?: unknown };
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
  const playbooks = playbooksSchema.safeParse(parsed.playbooks);
  if (!playbooks.success)
    throw new ConfigError(
      'bundled playbooks',
      playbooks.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    );
  const runbooks = z.array(knowledgeDocumentSchema).safeParse(parsed.runbooks ?? []);
  if (!runbooks.success)
    throw new ConfigError(
      'bundled runbooks',
      runbooks.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`),
    );
  return { config: config.data, catalog: catalog.data, playbooks: playbooks.data, runbooks: runbooks.data };
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

/** The work bucket as a blob store (metric snapshots, scorer state, the embedded knowledge base). */
export const workBlobs = () => new S3BlobStore(s3Client(), requiredEnv('WORK_BUCKET'));

export const snapshotStore = (source: string) =>
  new BlobSnapshotStore(new S3BlobStore(s3Client(), requiredEnv('WORK_BUCKET')), source);

export const metricSource = (config: AgentConfig) =>
  createMetricSource(config.metricSource, {
    secrets: readSecret,
    // A malformed element costs one series its point, not the tick: worth a warning. Retries are routine.
    log: (event) =>
      event.type === 'malformed-element'
        ? logger.warn('metric source answer had an unreadable series', { ...event })
        : logger.debug(`metric source ${event.type}`, { ...event }),
  });

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

/** The approvals section of the configuration; an approval function deployed without it fails at cold start. */
export function approvalsConfig(config: AgentConfig): ApprovalsConfig {
  if (!config.approvals) {
    throw new ConfigError('bundled config', ['approvals: not set, but a Slack approval function was deployed']);
  }
  return config.approvals;
}

let sfn: SFNClient | undefined;

export const approvalStore = (): DynamoApprovalStore =>
  new DynamoApprovalStore(dynamoClient(), requiredEnv('APPROVALS_TABLE'));

/**
 * The Slack Web API with the bot token read from Secrets Manager (cached with the other secrets). SLACK_API_URL
 * overrides the endpoint (GovSlack's, or a local server).
 */
export function slackWebApi(approvals: ApprovalsConfig, options: Partial<SlackWebApiOptions> = {}): SlackWebApi {
  return new SlackWebApi({
    token: async () => botTokenFrom(await readSecret(approvals.botTokenSecretName)),
    ...(process.env.SLACK_API_URL ? { baseUrl: process.env.SLACK_API_URL } : {}),
    log: (event) => logger.warn('Slack API call retried', { ...event }),
    ...options,
  });
}

/** Answers the workflow's waiting RequestApproval task through its task token. */
export function stepFunctionsApprovalWorkflow(): ApprovalWorkflow {
  sfn ??= new SFNClient({});
  const client = sfn;
  return {
    approve: async (taskToken, output) => {
      await client.send(new SendTaskSuccessCommand({ taskToken, output: JSON.stringify(output) }));
    },
    reject: async (taskToken, cause) => {
      await client.send(
        new SendTaskFailureCommand({ taskToken, error: APPROVAL_REJECTED, cause: JSON.stringify(cause) }),
      );
    },
  };
}

/** Everything the approval flows need, wired for Lambda. */
export function approvalDeps(approvals: ApprovalsConfig, slack: Partial<SlackWebApiOptions> = {}): ApprovalDeps {
  return {
    store: approvalStore(),
    workflow: stepFunctionsApprovalWorkflow(),
    messenger: slackApprovalMessenger(slackWebApi(approvals, slack)),
    approvers: approvals.approvers,
    warn: (message, details) => logger.warn(message, details),
  };
}
