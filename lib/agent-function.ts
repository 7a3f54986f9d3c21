// The one place that decides how an agent Lambda is built and run: runtime, architecture, bundling, logs,
// tracing, and how a function is bound to the tables and bucket it uses (environment variable + exact grant).

import { join, resolve } from 'node:path';
import { Duration, RemovalPolicy } from 'aws-cdk-lib';
import type { ITable } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement, Role, ServicePrincipal } from 'aws-cdk-lib/aws-iam';
import { Architecture, Runtime, Tracing } from 'aws-cdk-lib/aws-lambda';
import {
  LogLevel as EsbuildLogLevel,
  NodejsFunction,
  OutputFormat,
  SourceMapMode,
} from 'aws-cdk-lib/aws-lambda-nodejs';
import { LogGroup, RetentionDays } from 'aws-cdk-lib/aws-logs';
import type { IBucket } from 'aws-cdk-lib/aws-s3';
import type { Construct } from 'constructs';
import type { LoadedConfig } from '../lambdas/adapters/config-files';
import type { AgentConfig } from '../lambdas/core/config/schema';

/** Repository root: handlers, lock file and tsconfig are found from here, whatever the working directory. */
export const PROJECT_ROOT = resolve(__dirname, '..');

/** The `define` key runtime.ts reads; esbuild replaces the expression with the JSON text at build time. */
const BUNDLED_CONFIG_KEY = 'process.env.SRE_AGENT_BUNDLED_CONFIG';

const RETENTION: Record<AgentConfig['logRetentionDays'], RetentionDays> = {
  7: RetentionDays.ONE_WEEK,
  14: RetentionDays.TWO_WEEKS,
  30: RetentionDays.ONE_MONTH,
  90: RetentionDays.THREE_MONTHS,
  365: RetentionDays.ONE_YEAR,
};

/** Log retention the configuration asks for (`logRetentionDays`). */
export const retentionOf = (config: Pick<AgentConfig, 'logRetentionDays'>): RetentionDays =>
  RETENTION[config.logRetentionDays];

export type LogLevel = 'DEBUG' | 'INFO' | 'WARN' | 'ERROR';

/** DynamoDB item actions a function may be granted; a closed list keeps wildcards out by construction. */
export type TableAction =
  | 'GetItem'
  | 'BatchGetItem'
  | 'Query'
  | 'PutItem'
  | 'UpdateItem'
  | 'DeleteItem'
  | 'BatchWriteItem'
  | 'ConditionCheckItem';

export interface TableAccess {
  /** Actions on the table's own items. */
  readonly actions: readonly TableAction[];
  /**
   * Secondary indexes the function queries (`dynamodb:Query` on that index only).
   * @default - none
   */
  readonly queryIndexes?: readonly string[];
}

export interface BucketAccess {
  /**
   * Key prefixes the function reads (`s3:GetObject`, and `s3:ListBucket` limited to them), each ending in '/'.
   * @default - none
   */
  readonly read?: readonly string[];
  /**
   * Key prefixes the function writes (`s3:PutObject`), each ending in '/'.
   * @default - none
   */
  readonly write?: readonly string[];
}

export interface AgentFunctionProps {
  /** Handler file name under `lambdas/handlers/`, without extension, e.g. `collect-metrics`. */
  readonly handler: string;
  /** What the function does, shown in the Lambda console. */
  readonly description: string;
  /** Validated configuration and signal catalog, compiled into the bundle (never a Lambda environment variable). */
  readonly agent: Pick<LoadedConfig, 'config' | 'catalog' | 'playbooks'>;
  /**
   * Memory in MB; CPU grows with it (1769 MB = one full vCPU).
   * @default 512
   */
  readonly memorySize?: number;
  /**
   * @default Duration.seconds(30)
   */
  readonly timeout?: Duration;
  /**
   * Powertools log level.
   * @default 'INFO'
   */
  readonly logLevel?: LogLevel;
  /**
   * What happens to the function's log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
  /**
   * Retries of an asynchronous invocation (EventBridge) that failed.
   * @default 2 (the Lambda default)
   */
  readonly retryAttempts?: number;
}

/** A Node.js Lambda of the agent, with every default decided here. */
export class AgentFunction extends NodejsFunction {
  constructor(scope: Construct, id: string, props: AgentFunctionProps) {
    requireLocalEsbuild();
    const logGroup = new LogGroup(scope, `${id}Logs`, {
      retention: retentionOf(props.agent.config),
      removalPolicy: props.logRemovalPolicy ?? RemovalPolicy.RETAIN,
    });
    // An own role instead of AWSLambdaBasicExecutionRole, which may write to every log group in the account.
    const role = new Role(scope, `${id}Role`, {
      assumedBy: new ServicePrincipal('lambda.amazonaws.com'),
      description: `Execution role of the ${props.handler} function`,
    });
    logGroup.grantWrite(role);
    super(scope, id, {
      entry: join(PROJECT_ROOT, 'lambdas', 'handlers', `${props.handler}.ts`),
      handler: 'handler',
      description: props.description,
      runtime: Runtime.NODEJS_22_X,
      architecture: Architecture.ARM_64,
      memorySize: props.memorySize ?? 512,
      timeout: props.timeout ?? Duration.seconds(30),
      tracing: Tracing.ACTIVE,
      logGroup,
      role,
      retryAttempts: props.retryAttempts,
      projectRoot: PROJECT_ROOT,
      depsLockFilePath: join(PROJECT_ROOT, 'package-lock.json'),
      environment: {
        POWERTOOLS_SERVICE_NAME: 'sre-agent',
        LOG_LEVEL: props.logLevel ?? 'INFO',
        // Stack traces point at the TypeScript sources.
        NODE_OPTIONS: '--enable-source-maps',
      },
      bundling: {
        // Local esbuild only: synth must work on machines and CI runners without Docker.
        forceDockerBundling: false,
        logLevel: EsbuildLogLevel.WARNING,
        format: OutputFormat.CJS,
        minify: true,
        sourceMap: true,
        sourceMapMode: SourceMapMode.DEFAULT,
        // Mappings are all a stack trace needs; embedded sources would triple the map and its parse time.
        sourcesContent: false,
        // ESM builds first: the SDK and zod tree-shake far better from them (about a fifth off the bundle).
        mainFields: ['module', 'main'],
        // The AWS SDK v3 is bundled rather than taken from the runtime: the runtime's copy changes under us
        // on Lambda's schedule, while a bundled one is the exact version the tests ran against (and the
        // adapters' `instanceof NoSuchKey` / `ConditionalCheckFailedException` checks see the classes they
        // import). Minified and tree-shaken, it also loads faster than the runtime's unbundled files.
        externalModules: [],
        // esbuild needs a JSON literal: the value is the JSON text of the config, itself JSON-encoded.
        define: { [BUNDLED_CONFIG_KEY]: JSON.stringify(bundledConfigText(props.agent)) },
      },
    });
  }

  /** Names `table` in the environment variable `variable` and allows exactly the listed actions on it. */
  bindTable(variable: string, table: ITable, access: TableAccess): this {
    this.addEnvironment(variable, table.tableName);
    if (access.actions.length > 0) {
      this.addToRolePolicy(
        new PolicyStatement({
          actions: access.actions.map((action) => `dynamodb:${action}`),
          resources: [table.tableArn],
        }),
      );
    }
    if (access.queryIndexes && access.queryIndexes.length > 0) {
      this.addToRolePolicy(
        new PolicyStatement({
          actions: ['dynamodb:Query'],
          resources: access.queryIndexes.map((index) => `${table.tableArn}/index/${index}`),
        }),
      );
    }
    return this;
  }

  /** Names `bucket` in the environment variable `variable` and allows reads and writes under the listed prefixes. */
  bindBucket(variable: string, bucket: IBucket, access: BucketAccess): this {
    this.addEnvironment(variable, bucket.bucketName);
    const grant = (action: string, prefixes: readonly string[] | undefined) => {
      if (!prefixes || prefixes.length === 0) return;
      for (const prefix of prefixes) checkPrefix(prefix);
      this.addToRolePolicy(
        new PolicyStatement({
          actions: [action],
          resources: prefixes.map((prefix) => bucket.arnForObjects(`${prefix}*`)),
        }),
      );
    };
    grant('s3:GetObject', access.read);
    grant('s3:PutObject', access.write);
    if (access.read && access.read.length > 0) {
      // Without ListBucket S3 answers a missing key with 403 instead of 404, and the adapters could not tell
      // an expired object (start afresh) from a permissions problem. Listing is limited to the same prefixes.
      this.addToRolePolicy(
        new PolicyStatement({
          actions: ['s3:ListBucket'],
          resources: [bucket.bucketArn],
          conditions: { StringLike: { 's3:prefix': access.read.map((prefix) => `${prefix}*`) } },
        }),
      );
    }
    return this;
  }
}

/** What runtime.ts `bundledConfig()` parses: the validated config (defaults applied) and the signal catalog. */
export function bundledConfigText(
  agent: Pick<LoadedConfig, 'config' | 'catalog' | 'playbooks'> & Partial<Pick<LoadedConfig, 'runbooks'>>,
): string {
  return JSON.stringify({
    config: agent.config,
    catalog: agent.catalog,
    playbooks: agent.playbooks,
    runbooks: agent.runbooks ?? [],
  });
}

/**
 * Without a local esbuild CDK quietly bundles in Docker, whose shell command line would mangle the JSON in
 * `define`; say what is missing instead.
 */
function requireLocalEsbuild(): void {
  try {
    require.resolve('esbuild', { paths: [PROJECT_ROOT] });
  } catch {
    throw new Error('esbuild is not installed in the project (run npm ci): agent functions are bundled locally');
  }
}

function checkPrefix(prefix: string): void {
  if (!/^[A-Za-z0-9][A-Za-z0-9._-]*\/$/.test(prefix)) {
    throw new Error(`bucket prefix "${prefix}" must be one path segment ending in "/" (no wildcards)`);
  }
}
