// The real tick ASL executed by aws-local-stepfunctions, with dynalite behind the stores.

import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { InstantResult, MetricSource, RangeResult } from '../../lambdas/core/perception/metric-source';
import { fail, ok } from '../../lambdas/core/result';
import { LocalAgent } from '../../lambdas/local/local-agent';
import { placeholdersOf, STATE_MACHINES_DIR } from '../../lambdas/local/local-state-machine';
import { testCatalog, testDetection, testTopology } from '../support/catalog';

const T0 = Date.parse('2026-11-04T03:00:00Z') / 1000;

/** A MetricSource whose answers the test sets per tick; one signal can be made to fail or throw. */
class ScriptedSource implements MetricSource {
  errorRatio = 0.002;
  failing?: 'error' | 'throw';

  async instant(query: string, time: number): Promise<InstantResult> {
    if (this.failing === 'throw') throw new TypeError('socket exploded');
    if (query.includes('http_errors')) {
      if (this.failing === 'error')
        return fail({ kind: 'query', query, message: 'parse error at char 4', status: 400, time });
      return ok([
        { labels: { service: 'order-api' }, value: this.errorRatio },
        { labels: { service: 'api-gateway' }, value: 0.002 },
      ]);
    }
    if (query.includes('duration')) return ok([{ labels: { service: 'order-api' }, value: 0.04 }]);
    return ok([]);
  }

  async range(): Promise<RangeResult> {
    return ok([]);
  }
}

describe('tick workflow (state-machines/tick.asl.json)', () => {
  let agent: LocalAgent;
  const source = new ScriptedSource();

  beforeAll(async () => {
    agent = await LocalAgent.start({ source, catalog: testCatalog, topology: testTopology, detection: testDetection });
    // Warm up the short-memory scorer: these series have no learned baseline.
    for (let k = 0; k < 40; k++) {
      source.errorRatio = 0.002 + (k % 3) * 0.0002;
      await agent.tick(T0 - 3600 + 60 * k);
    }
  });
  afterAll(async () => {
    await agent.stop();
  });

  it('names only placeholders the local runtime and CDK substitute', () => {
    const text = readFileSync(join(STATE_MACHINES_DIR, 'tick.asl.json'), 'utf8');
    expect(placeholdersOf(text).sort()).toEqual([
      'CollectMetricsFunctionArn',
      'FailedTicksQueueUrl',
      'IncidentStateMachineArn',
      'ScoreTickFunctionArn',
    ]);
  });

  it('collects, scores and opens one incident after three anomalous ticks', async () => {
    source.errorRatio = 0.09;
    const outcomes = [];
    for (let k = 0; k < 3; k++) outcomes.push((await agent.tick(T0 + 60 * k)).outcome);
    expect(outcomes.map((o) => o?.raised)).toEqual([0, 0, 1]);
    expect(outcomes[2]?.opened).toEqual(['inc-20261104T0302-order-api']);
    expect(await agent.incidents.listOpen()).toHaveLength(1);
  });

  it('treats a re-delivered tick as a duplicate: no second incident, no state change', async () => {
    const again = await agent.tick(T0 + 120);
    expect(again.outcome).toMatchObject({ duplicate: true, opened: [], scored: 0 });
    const next = await agent.tick(T0 + 180);
    expect(next.outcome).toMatchObject({ duplicate: false, opened: [], updated: ['inc-20261104T0302-order-api'] });
    expect(await agent.incidents.listOpen()).toHaveLength(1);
  });

  it('keeps scoring the other signals when one query fails', async () => {
    source.failing = 'error';
    const result = await agent.tick(T0 + 240);
    source.failing = undefined;
    expect(result.failed).toBeUndefined();
    expect(result.outcome?.scored).toBe(1);
    expect(result.outcome?.collectionErrors).toEqual([
      expect.objectContaining({ signalId: 'error_ratio', kind: 'query', query: testCatalog.signals[0].query }),
    ]);
  });

  it('sends a tick whose collector crashes to the dead-letter queue and fails it', async () => {
    source.failing = 'throw';
    const result = await agent.tick(T0 + 300);
    source.failing = undefined;
    expect(result.failed?.error).toBe('TickFailed');
    expect(agent.deadLetters).toHaveLength(1);
    expect(agent.deadLetters[0]).toMatchObject({
      tickTime: '2026-11-04T03:05:00Z',
      error: { Error: 'TypeError', Cause: expect.stringContaining('socket exploded') },
    });
    // The next tick runs normally.
    expect((await agent.tick(T0 + 360)).outcome?.duplicate).toBe(false);
  });
});
