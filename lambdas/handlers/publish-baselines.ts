// Lambda: last step of the daily baseline job (state PublishVersion): makes the run's version current if
// enough shards completed, or refuses (BaselinePublishRefusedError) and the previous baselines stay.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { type PublishInput, type PublishSummary, publishStep } from '../core/cognition/baseline-shards';
import { baselineStore, logger } from './runtime';

const publisher = baselineStore();

export const handler = middy(async (event: PublishInput): Promise<PublishSummary> => {
  const summary = await publishStep(event, { publisher });
  if (summary.failedShards.length > 0) {
    logger.warn('baselines published without some shards: their series keep no baseline until tomorrow', {
      version: summary.version,
      failedShards: summary.failedShards,
    });
  }
  logger.info(summary.outcome === 'published' ? 'baselines published' : 'a later version is already current', {
    ...summary,
    failedShards: summary.failedShards.length,
  });
  return summary;
}).use(injectLambdaContext(logger));
