// Lambda: the daily baseline job (EventBridge, 03:00 UTC) learns every series' baseline and publishes it.

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import type { ScheduledEvent } from 'aws-lambda';
import { learnBaselines } from '../core/cognition/learn';
import { tickSeconds } from '../core/pipeline';
import { baselineStore, bundledConfig, logger, metricSource } from './runtime';

const { config, catalog } = bundledConfig();
const source = metricSource(config);
const store = baselineStore();

export const handler = middy(async (event: ScheduledEvent) => {
  const until = tickSeconds(event.time);
  const outcome = await learnBaselines(source, catalog, config.detection, until);
  for (const error of outcome.errors) logger.warn('signal history not fetched', { ...error });
  const version = new Date(until * 1000).toISOString();
  await store.publish(version, outcome.baselines);
  const summary = {
    version,
    learned: outcome.baselines.length,
    skipped: outcome.skipped.length,
    errors: outcome.errors.length,
  };
  logger.info('baselines published', summary);
  return summary;
}).use(injectLambdaContext(logger));
