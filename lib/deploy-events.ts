// The deploy-events pipeline: the table diagnosis reads a service's deploys from, and the Lambda a Kafka event
// source mapping feeds from the deploy-events topic, on Amazon MSK or on a self-managed cluster.
//
// Networking. The configuration has no VPC section, and this construct invents none: the consumer function runs
// outside any VPC and reaches DynamoDB over its public endpoint. The event source mapping's pollers are Lambda's,
// not the function's. For MSK they attach to the cluster's own subnets and security groups; that VPC then needs a
// route to the Lambda and STS endpoints (and Secrets Manager with SASL/SCRAM), through a NAT gateway or VPC
// endpoints, and the cluster's security group must admit itself on the broker ports. A self-managed cluster is
// reached over the internet, which Lambda allows only with SASL/SCRAM credentials, so they are required here.

import { RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AttributeType, BillingMode, Table } from 'aws-cdk-lib/aws-dynamodb';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import { SourceAccessConfigurationType, StartingPosition } from 'aws-cdk-lib/aws-lambda';
import { AuthenticationMethod, SelfManagedKafkaEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import { type ISecret, Secret } from 'aws-cdk-lib/aws-secretsmanager';
import { Construct } from 'constructs';
import type { LoadedConfig } from '../lambdas/adapters/config-files';
import { DEPLOY_EVENTS_TABLE } from '../lambdas/adapters/dynamodb/deploy-event-store';
import { ConfigError } from '../lambdas/core/config/load';
import { AgentFunction, type LogLevel } from './agent-function';

/** cluster/<name>/<uuid>: the parts MSK's topic and group ARNs are built from. */
const MSK_CLUSTER_ARN = /^arn:(aws[a-z-]*):kafka:([a-z0-9-]+):(\d{12}):cluster\/([^/]+)\/([^/]+)$/;

export interface MskCluster {
  readonly arn: string;
  readonly partition: string;
  readonly region: string;
  readonly account: string;
  readonly name: string;
  readonly uuid: string;
}

/** The parts of an MSK cluster ARN, or undefined when it is not of the form `...:cluster/<name>/<uuid>`. */
export function parseMskClusterArn(arn: string): MskCluster | undefined {
  const m = MSK_CLUSTER_ARN.exec(arn);
  if (!m) return undefined;
  const [, partition, region, account, name, uuid] = m;
  return { arn, partition, region, account, name, uuid };
}

/** ARN of a topic or consumer group of `cluster`, as MSK IAM access control names them. */
export const mskResourceArn = (cluster: MskCluster, type: 'topic' | 'group', name: string): string =>
  `arn:${cluster.partition}:kafka:${cluster.region}:${cluster.account}:${type}/${cluster.name}/${cluster.uuid}/${name}`;

export interface DeployEventsProps {
  /** Validated configuration; `kafka.deployEvents` must be set. */
  readonly agent: LoadedConfig;
  /**
   * Deletion protection on the table, retained when removed from the stack. Off only where losing the deploy
   * history is acceptable (dev).
   * @default true
   */
  readonly protectData?: boolean;
  /**
   * Records per invocation. Deploys are rare; a backlog after an outage drains in few invocations.
   * @default 100
   */
  readonly batchSize?: number;
  /**
   * Powertools log level of the consumer.
   * @default 'INFO'
   */
  readonly logLevel?: LogLevel;
  /**
   * What happens to the consumer's log group when it leaves the stack.
   * @default RemovalPolicy.RETAIN
   */
  readonly logRemovalPolicy?: RemovalPolicy;
}

/** The deploy-events table and its Kafka consumer. */
export class DeployEvents extends Construct {
  /** The environment variable naming the table, in the consumer and in the Decide function. */
  static readonly TABLE_VARIABLE = 'DEPLOY_EVENTS_TABLE';

  readonly table: Table;
  readonly consumer: AgentFunction;

  constructor(scope: Construct, id: string, props: DeployEventsProps) {
    super(scope, id);
    const { agent } = props;
    const settings = agent.config.kafka?.deployEvents;
    if (!settings) throw new ConfigError(agent.files.config, ['kafka.deployEvents: required to consume deploy events']);
    const protectData = props.protectData ?? true;

    this.table = new Table(this, 'Table', {
      partitionKey: { name: DEPLOY_EVENTS_TABLE.partitionKey, type: AttributeType.STRING },
      sortKey: { name: DEPLOY_EVENTS_TABLE.sortKey, type: AttributeType.STRING },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: protectData,
      removalPolicy: protectData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
      timeToLiveAttribute: DEPLOY_EVENTS_TABLE.timeToLive,
    });

    this.consumer = new AgentFunction(this, 'Consumer', {
      agent,
      handler: 'deploy-events',
      description: 'Deploy events: stores the deploy-events topic for diagnosis, skipping malformed records',
      logLevel: props.logLevel,
      logRemovalPolicy: props.logRemovalPolicy,
    });
    // Conditional puts only: a redelivered record finds its own key and changes nothing.
    this.consumer.bindTable(DeployEvents.TABLE_VARIABLE, this.table, { actions: ['PutItem'] });

    const secret = settings.saslScramSecret
      ? secretNamed(this, 'SaslScramSecret', settings.saslScramSecret)
      : undefined;
    const common = {
      // A new consumer group starts at the end: deploys older than the agent have no incident to explain.
      startingPosition: StartingPosition.LATEST,
      batchSize: props.batchSize ?? 100,
    };

    if (settings.mskClusterArn) {
      const cluster = parseMskClusterArn(settings.mskClusterArn);
      if (!cluster) {
        throw new ConfigError(agent.files.config, [
          `kafka.deployEvents.mskClusterArn: must be arn:aws:kafka:<region>:<account>:cluster/<name>/<uuid>, ` +
            `the form its topic and group ARNs are derived from; got ${settings.mskClusterArn}`,
        ]);
      }
      // The plain mapping rather than ManagedKafkaEventSource: that one attaches AWSLambdaMSKExecutionRole, whose
      // actions apply to every resource in the account. The statements below are its documented needs, narrowed.
      this.consumer.addEventSourceMapping('DeployEventsMapping', {
        ...common,
        eventSourceArn: cluster.arn,
        kafkaTopic: settings.topic,
        kafkaConsumerGroupId: settings.consumerGroup,
        // MSK supports SCRAM-SHA-512 only; without a secret the mapping authenticates with the function's role.
        sourceAccessConfigurations: secret
          ? [{ type: SourceAccessConfigurationType.SASL_SCRAM_512_AUTH, uri: secret.secretArn }]
          : undefined,
      });
      secret?.grantRead(this.consumer);
      for (const statement of mskConsumerStatements(this, cluster, settings.topic, settings.consumerGroup, !secret)) {
        this.consumer.addToRolePolicy(statement);
      }
    } else {
      const brokers = settings.bootstrapServers ?? [];
      if (!secret) {
        throw new ConfigError(agent.files.config, [
          'kafka.deployEvents.saslScramSecret: required with bootstrapServers. The agent has no VPC configuration, ' +
            'so Lambda reaches the brokers over the internet, which it allows only with SASL/SCRAM credentials',
        ]);
      }
      // Reads the secret (GetSecretValue, DescribeSecret) and nothing else: no VPC, so no network interfaces.
      this.consumer.addEventSource(
        new SelfManagedKafkaEventSource({
          ...common,
          bootstrapServers: brokers,
          topic: settings.topic,
          consumerGroupId: settings.consumerGroup,
          secret,
          authenticationMethod: AuthenticationMethod.SASL_SCRAM_512_AUTH,
        }),
      );
    }
  }
}

/**
 * What an MSK event source mapping needs of the consumer's role (Lambda's "Configuring Lambda permissions for
 * Amazon MSK event source mappings"), each on the narrowest resource IAM accepts:
 * - the cluster's description and bootstrap brokers;
 * - the network interfaces its pollers place in the cluster's subnets. The Describe actions take no resource-level
 *   permission; creating and deleting are held to the cluster's account and Region, since its subnets and
 *   security groups are not in the configuration;
 * - with IAM authentication, connecting and reading the one topic as the one consumer group.
 */
export function mskConsumerStatements(
  scope: Construct,
  cluster: MskCluster,
  topic: string,
  consumerGroup: string,
  iamAuthentication: boolean,
): PolicyStatement[] {
  const ec2 = (resource: string) =>
    Stack.of(scope).formatArn({
      partition: cluster.partition,
      service: 'ec2',
      region: cluster.region,
      account: cluster.account,
      resource,
      resourceName: '*',
    });
  const statements = [
    new PolicyStatement({
      actions: ['kafka:DescribeClusterV2', 'kafka:GetBootstrapBrokers'],
      resources: [cluster.arn],
    }),
    new PolicyStatement({
      actions: [
        'ec2:DescribeNetworkInterfaces',
        'ec2:DescribeSecurityGroups',
        'ec2:DescribeSubnets',
        'ec2:DescribeVpcs',
      ],
      resources: ['*'],
    }),
    new PolicyStatement({
      actions: ['ec2:CreateNetworkInterface'],
      resources: [ec2('network-interface'), ec2('subnet'), ec2('security-group')],
    }),
    new PolicyStatement({ actions: ['ec2:DeleteNetworkInterface'], resources: [ec2('network-interface')] }),
  ];
  if (iamAuthentication) {
    statements.push(
      new PolicyStatement({
        actions: ['kafka-cluster:Connect', 'kafka-cluster:DescribeClusterDynamicConfiguration'],
        resources: [cluster.arn],
      }),
      new PolicyStatement({
        actions: ['kafka-cluster:DescribeTopic', 'kafka-cluster:ReadData'],
        resources: [mskResourceArn(cluster, 'topic', topic)],
      }),
      new PolicyStatement({
        actions: ['kafka-cluster:AlterGroup', 'kafka-cluster:DescribeGroup'],
        resources: [mskResourceArn(cluster, 'group', consumerGroup)],
      }),
    );
  }
  return statements;
}

/** A secret named in the configuration: by full ARN, or by name (any suffix Secrets Manager gave it). */
export function secretNamed(scope: Construct, id: string, nameOrArn: string): ISecret {
  return nameOrArn.startsWith('arn:')
    ? Secret.fromSecretCompleteArn(scope, id, nameOrArn)
    : Secret.fromSecretNameV2(scope, id, nameOrArn);
}
