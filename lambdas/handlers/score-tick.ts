// Lambda: scores the tick and correlates anomalies into incidents (state ScoreAndCorrelate).

import { injectLambdaContext } from '@aws-lambda-powertools/logger/middleware';
import middy from '@middy/core';
import { type ScoreInput, type ScoreSummary, scoreStep } from '../core/pipeline';
import { bundledConfig, logger, scoringSession, snapshotStore } from './runtime';

const { config, catalog } = bundledConfig();
const session = scoringSession(config, catalog);
const snapshots = snapshotStore('metrics');

export const handler = middy(async (event: ScoreInput): Promise<ScoreSummary> => {
  const { summary } = await scoreStep(event, { session, snapshots });
  if (summary.duplicate) logger.info('tick already processed', { time: summary.time });
  else logger.info('tick scored', { ...summary });
  return summary;
}).use(injectLambdaContext(logger));
