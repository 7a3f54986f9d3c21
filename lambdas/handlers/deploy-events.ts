// Lambda: the deploy-events topic's consumer (an MSK or self-managed Kafka event source mapping), storing each
// deploy for diagnosis.
//
// A malformed record is logged with its topic, partition and offset and skipped: throwing would make the mapping
// redeliver the whole batch, and the same record, forever, holding up its partition. Only a storage failure
// throws, so the batch comes again; the store's conditional puts make that redelivery harmless.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { MSKEvent, SelfManagedKafkaEvent } from 'aws-lambda';
import { DynamoDeployEventStore } from '../adapters/dynamodb/deploy-event-store';
import { decodeDeployEvents } from '../adapters/kafka/deploy-events';
import { dynamoClient, logger, requiredEnv } from './runtime';

const store = new DynamoDeployEventStore(dynamoClient(), requiredEnv('DEPLOY_EVENTS_TABLE'));

export interface DeployEventsSummary {
  /** Valid deploy events in the batch. */
  readonly deploys: number;
  readonly written: number;
  /** Already stored from an earlier delivery. */
  readonly duplicates: number;
  /** Valid events whose key another record holds; kept out, logged. */
  readonly collisions: number;
  /** Problems found in malformed records (one record may have several). */
  readonly rejected: number;
}

export const handler = middy(async (event: MSKEvent | SelfManagedKafkaEvent): Promise<DeployEventsSummary> => {
  const { deploys, errors } = decodeDeployEvents(event);
  for (const error of errors) {
    logger.error('deploy event rejected', {
      topic: error.topic,
      partition: error.partition,
      offset: error.offset,
      field: error.field,
      problem: error.message,
    });
  }
  const stored = await store.put(deploys);
  for (const deploy of stored.collisions) {
    logger.warn('deploy event not stored: another record holds its key', {
      ...deploy.origin,
      service: deploy.service,
      time: new Date(deploy.time).toISOString(),
    });
  }
  const summary: DeployEventsSummary = {
    deploys: deploys.length,
    written: stored.written,
    duplicates: stored.duplicates,
    collisions: stored.collisions.length,
    rejected: errors.length,
  };
  logger.info('deploy events stored', { ...summary });
  return summary;
}).use(injectLambdaContext(logger));
