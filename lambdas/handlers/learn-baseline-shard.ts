// Lambda: one item of the daily baseline job's LearnShards map: learns a shard's baselines and writes them
// under the run's version. A failed query fails the shard (ShardHistoryError) with nothing marked complete.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import {
  HISTORY_QUERY_TIMEOUT_MS,
  learnShardStep,
  type ShardInput,
  type ShardSummary,
} from '../core/cognition/baseline-shards';
import { baselineStore, bundledConfig, logger, metricSource } from './runtime';

const { config, catalog } = bundledConfig();
const source = metricSource({
  ...config,
  metricSource: { ...config.metricSource, timeoutMs: HISTORY_QUERY_TIMEOUT_MS },
});
const publisher = baselineStore();

export const handler = middy(async (event: ShardInput): Promise<ShardSummary> => {
  const summary = await learnShardStep(event, { source, catalog, detection: config.detection, publisher });
  logger.info('baseline shard learned', { version: event.run.version, ...summary });
  return summary;
}).use(injectLambdaContext(logger));
