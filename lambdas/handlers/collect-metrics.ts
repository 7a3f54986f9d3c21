// Lambda: the metrics collector of the tick workflow (state CollectMetrics).

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { type CollectSummary, collectMetricsStep, type TickInput } from '../core/pipeline';
import { agentMetrics, count, METRIC, publishMetrics } from './metrics';
import { bundledConfig, logger, metricSource, snapshotStore } from './runtime';

const { config, catalog } = bundledConfig();
const source = metricSource(config);
const snapshots = snapshotStore('metrics');
const metrics = agentMetrics(config.environment);

export const handler = middy(async (event: TickInput): Promise<CollectSummary> => {
  const summary = await collectMetricsStep(event, { source, catalog, snapshots });
  for (const error of summary.errors) logger.warn('signal not collected', { ...error });
  logger.info('metrics collected', { time: summary.time, points: summary.points, errors: summary.errors.length });
  count(metrics, METRIC.PointsCollected, summary.points);
  count(metrics, METRIC.CollectionErrors, summary.errors.length);
  return summary;
})
  .use(injectLambdaContext(logger))
  .use(publishMetrics(metrics));
