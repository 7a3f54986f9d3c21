// `sre-agent watch`: the live loop against a real Prometheus, with the local runtime standing in for AWS.

import { loadConfigFile } from '../adapters/config-files';
import { createMetricSource } from '../adapters/prometheus/http-metric-source';
import { LocalAgent, localApprovals } from '../local/local-agent';

export async function watchCommand(options: {
  prometheus: string;
  config: string;
  ticks?: number;
  interval: number;
}): Promise<void> {
  const { config, catalog } = loadConfigFile(options.config);
  const source = createMetricSource({
    flavor: 'prometheus',
    url: options.prometheus,
    auth: { type: 'none' },
    timeoutMs: config.metricSource.timeoutMs,
    retries: config.metricSource.retries,
  });
  const agent = await LocalAgent.start({
    source,
    catalog,
    topology: config.topology,
    detection: config.detection,
    denyList: config.guardrails.denyList,
    changeFreezes: config.guardrails.changeFreezes,
    ...(config.approvals ? { approvals: localApprovals(config.approvals) } : {}),
  });
  const log = (text: string) =>
    process.stdout.write(`${new Date().toISOString().slice(0, 19).replace('T', ' ')}  ${text}\n`);
  let stopping = false;
  process.once('SIGINT', () => {
    stopping = true;
  });
  try {
    const now = Math.floor(Date.now() / 1000);
    const learned = await agent.learn(now);
    log(
      `baselines: ${learned.baselines.length} series learned from ${config.detection.historyDays} days, ${learned.skipped.length} without enough history`,
    );
    for (const error of learned.errors) log(`history of ${error.signalId} not fetched: ${error.message}`);
    let lastLearnDay = Math.floor(now / 86_400);
    for (let n = 0; !stopping && (options.ticks === undefined || n < options.ticks); n++) {
      const time = Math.floor(Date.now() / 1000 / 60) * 60;
      if (Math.floor(time / 86_400) !== lastLearnDay && time % 86_400 >= 3 * 3600) {
        await agent.learn(time);
        lastLearnDay = Math.floor(time / 86_400);
        log('baselines relearned (daily job)');
      }
      const result = await agent.tick(time);
      if (result.failed) log(`tick failed: ${result.failed.error}: ${result.failed.cause}`);
      const outcome = result.outcome;
      if (outcome) {
        for (const error of outcome.collectionErrors)
          log(`signal ${error.signalId} not collected (${error.kind}): ${error.message}`);
        log(`tick: ${outcome.scored} series scored, ${outcome.anomalous} anomalous, ${outcome.raised} raised`);
        for (const incident of outcome.changedIncidents) {
          log(
            `incident ${incident.id} ${incident.status === 'resolved' ? 'resolved' : incident.version === 1 ? 'opened' : 'updated'}: ${incident.services.join(', ')}`,
          );
        }
      }
      if (options.ticks !== undefined && n + 1 >= options.ticks) break;
      await sleepUntilNextTick(options.interval, () => stopping);
    }
  } finally {
    await agent.stop();
  }
}

async function sleepUntilNextTick(intervalSeconds: number, stopped: () => boolean): Promise<void> {
  const deadline = Date.now() + intervalSeconds * 1000;
  while (!stopped() && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, Math.min(500, deadline - Date.now())));
}
