// Lambda: first step of the daily baseline job (state PlanShards): counts the series to learn and splits them
// into shards for the LearnShards map.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { type PlanInput, planShardsStep, type ShardPlan } from '../core/cognition/baseline-shards';
import { bundledConfig, logger, metricSource } from './runtime';

const { config, catalog } = bundledConfig();
const source = metricSource(config);

export const handler = middy(async (event: PlanInput): Promise<ShardPlan> => {
  const plan = await planShardsStep(event, { source, catalog, detection: config.detection });
  for (const signal of plan.unplanned) logger.warn('signal left out of the baseline job', { ...signal });
  logger.info('baseline shards planned', {
    version: plan.run.version,
    series: plan.series,
    shards: plan.shardCount,
    unplanned: plan.unplanned.length,
  });
  return plan;
}).use(injectLambdaContext(logger));
