// The audit trail's table and who may write to it: append only, for the functions granted, and for no role of
// the stack ever an overwrite, an update or a delete.
//
// Design note. IAM cannot see a PutItem's ConditionExpression, so `dynamodb:PutItem` allows an overwrite as
// readily as an append. The writers therefore hold no PutItem: they append with a PartiQL INSERT
// (`dynamodb:PartiQLInsert`), which DynamoDB refuses with DuplicateItemException when the key exists, and read
// the chain's head with `dynamodb:Query`; nothing else (lambdas/adapters/dynamodb/audit-log.ts). Every role of the
// stack is also explicitly denied PutItem, updates and deletes on the table, so a broader grant added later
// cannot reopen them. What IAM then guarantees: the writers cannot change or remove a record once written, and
// with the deny (`denyMutationsToStackRoles`, on by default) neither can any other role of this stack.
//
// What it does not: a principal outside the stack with DynamoDB rights on the table (an administrator, the role
// CloudFormation deploys with) can still rewrite or delete records; no resource policy is attached, so the table
// stays administrable by the account as any other. Against those the hash chain (lambdas/core/action/audit.ts)
// is evidence, not protection: a record edited in place, or removed from the middle, no longer matches its hash
// or its successor's link. But deleting a chain's newest records (or the whole chain), or rewriting a record and
// re-sealing every one after it, leaves a valid chain: that is detectable only against the copy streamed to
// Kafka (config `kafka.auditStream`), when one is configured.

import { Aspects, type IAspect, RemovalPolicy, Stack } from 'aws-cdk-lib';
import { AttributeType, BillingMode, type ITable, Table } from 'aws-cdk-lib/aws-dynamodb';
import { Effect, PolicyStatement, Role } from 'aws-cdk-lib/aws-iam';
import { Construct, type IConstruct } from 'constructs';
import { TABLES } from '../lambdas/adapters/dynamodb/table-definitions';
import type { KafkaConfig } from '../lambdas/core/config/kafka-schema';
import type { AgentConfig } from '../lambdas/core/config/schema';
import type { AgentFunction } from './agent-function';
import { secretArn } from './slack-approvals';

/**
 * What no role of the stack may do to the audit table: put items (a put can replace a record; appends go through
 * PartiQL INSERT), change or remove items (directly, in batches or through PartiQL), expire them (a time-to-live
 * on `seq` would delete every record), or change, delete or stop backing up the table itself. Transactions are
 * covered: they are authorised per contained action.
 */
export const AUDIT_TABLE_MUTATIONS = [
  'dynamodb:PutItem',
  'dynamodb:UpdateItem',
  'dynamodb:DeleteItem',
  'dynamodb:BatchWriteItem',
  'dynamodb:PartiQLUpdate',
  'dynamodb:PartiQLDelete',
  'dynamodb:UpdateTimeToLive',
  'dynamodb:UpdateTable',
  'dynamodb:DeleteTable',
  'dynamodb:UpdateContinuousBackups',
] as const;

export interface AuditTrailProps {
  /** The environment; outside `dev` the table has deletion protection and outlives the stack. */
  readonly environment: AgentConfig['environment'];
  /**
   * Deny AUDIT_TABLE_MUTATIONS on the table to every IAM role of the stack, including roles added after this
   * construct. The writers never hold these actions anyway; the deny keeps it so whatever is granted later.
   * @default true
   */
  readonly denyMutationsToStackRoles?: boolean;
  /**
   * The Kafka topic every appended record is also streamed to (config `kafka.auditStream`). Publishing is kafkajs
   * from inside the appending functions, so IAM has nothing to allow beyond reading the SASL/SCRAM secret.
   * @default - no stream
   */
  readonly stream?: KafkaConfig['auditStream'];
}

/** The append-only audit table: one hash chain per incident, keyed (chain, seq). */
export class AuditTrail extends Construct {
  /** The environment variable naming the table in the functions granted access. */
  static readonly TABLE_VARIABLE = 'AUDIT_TABLE';
  /** The environment variable naming the audit stream's topic, in the appenders, when a stream is configured. */
  static readonly STREAM_TOPIC_VARIABLE = 'AUDIT_STREAM_TOPIC';
  /** The environment variable listing the audit stream's brokers (`host:port`, comma-separated). */
  static readonly STREAM_BROKERS_VARIABLE = 'AUDIT_STREAM_BROKERS';

  readonly table: Table;
  private readonly stream: KafkaConfig['auditStream'];

  constructor(scope: Construct, id: string, props: AuditTrailProps) {
    super(scope, id);
    this.stream = props.stream;
    const protectData = props.environment !== 'dev';
    const definition = TABLES.audit;
    this.table = new Table(this, 'Table', {
      partitionKey: { name: definition.partitionKey, type: AttributeType.STRING },
      sortKey: { name: definition.sortKey, type: AttributeType.NUMBER },
      billingMode: BillingMode.PAY_PER_REQUEST,
      pointInTimeRecoverySpecification: { pointInTimeRecoveryEnabled: true },
      deletionProtection: protectData,
      removalPolicy: protectData ? RemovalPolicy.RETAIN : RemovalPolicy.DESTROY,
    });
    if (props.denyMutationsToStackRoles ?? true) {
      Aspects.of(Stack.of(this)).add(new DenyAuditMutations(this.table));
    }
  }

  /**
   * Lets `fn` append records: `dynamodb:PartiQLInsert` to write (an INSERT fails on an existing key, so it can
   * never overwrite), `dynamodb:Query` to read the chain's head, nothing else; the table's name travels in
   * AUDIT_TABLE. `fn` must append in the adapter's `'partiql-insert'` mode. With a stream, `fn` also learns its
   * topic and brokers and may read its SASL/SCRAM secret. The brokers must be reachable from a function outside
   * any VPC: the configuration has none to place it in.
   */
  grantAppend(fn: AgentFunction): AgentFunction {
    fn.bindTable(AuditTrail.TABLE_VARIABLE, this.table, { actions: ['Query'] });
    // bindTable's closed list of actions has no PartiQL: the insert, the writers' only write, is granted here.
    fn.addToRolePolicy(new PolicyStatement({ actions: ['dynamodb:PartiQLInsert'], resources: [this.table.tableArn] }));
    const stream = this.stream;
    if (stream) {
      fn.addEnvironment(AuditTrail.STREAM_TOPIC_VARIABLE, stream.topic);
      fn.addEnvironment(AuditTrail.STREAM_BROKERS_VARIABLE, stream.brokers.join(','));
      if (stream.saslScramSecret) {
        fn.addToRolePolicy(
          new PolicyStatement({
            actions: ['secretsmanager:GetSecretValue'],
            resources: [secretArn(this, stream.saslScramSecret)],
          }),
        );
      }
    }
    return fn;
  }
}

/** Adds the explicit deny to every role of the table's stack; an explicit deny wins over any allow. */
class DenyAuditMutations implements IAspect {
  constructor(private readonly table: ITable) {}

  visit(node: IConstruct): void {
    if (!(node instanceof Role) || Stack.of(node) !== Stack.of(this.table)) return;
    node.addToPrincipalPolicy(
      new PolicyStatement({
        sid: 'AuditTrailIsAppendOnly',
        effect: Effect.DENY,
        actions: [...AUDIT_TABLE_MUTATIONS],
        resources: [this.table.tableArn],
      }),
    );
  }
}
