// Lambda: scores the tick and correlates anomalies into incidents (state ScoreAndCorrelate).

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { type ScoreInput, type ScoreSummary, scoreStep } from '../core/pipeline';
import { agentMetrics, count, METRIC, milliseconds, publishMetrics } from './metrics';
import { bundledConfig, logger, scoringSession, snapshotStore } from './runtime';

const { config, catalog } = bundledConfig();
const session = scoringSession(config, catalog);
const snapshots = snapshotStore('metrics');
const metrics = agentMetrics(config.environment);

export const handler = middy(async (event: ScoreInput): Promise<ScoreSummary> => {
  const started = performance.now();
  const { summary } = await scoreStep(event, { session, snapshots });
  const elapsedMs = performance.now() - started;
  if (summary.duplicate) {
    logger.info('tick already processed', { time: summary.time });
    count(metrics, METRIC.DuplicateTicks);
  } else {
    logger.info('tick scored', { ...summary, durationMs: Math.round(elapsedMs) });
    // The missed-tick alarm counts these: a duplicate proves nothing about the loop being alive.
    count(metrics, METRIC.TicksCompleted);
    count(metrics, METRIC.SeriesScored, summary.scored);
    count(metrics, METRIC.IncidentsOpened, summary.opened.length);
    count(metrics, METRIC.IncidentsResolved, summary.resolved.length);
    milliseconds(metrics, METRIC.ScoringDurationMs, elapsedMs);
  }
  return summary;
})
  .use(injectLambdaContext(logger))
  .use(publishMetrics(metrics));
