// The replayed world reacting to remediation: each action cures the symptoms it can cure and no others, a
// restart also relieves what memory pressure caused, noise is never "cured", and an undo brings symptoms back.

import type { MetricStore, StoredSeries } from '../../lambdas/adapters/scenario/openmetrics';
import { topologySchema } from '../../lambdas/core/config/schema';
import { ServiceGraph } from '../../lambdas/core/topology';
import { ROLLOUT_SECONDS, ScenarioWorld } from '../../lambdas/local/scenario-world';

const DAY = 86_400;
const START = Date.parse('2026-11-01T00:00:00Z') / 1000;
const FAULT = START + 3 * DAY + 3 * 3600; // 03:00 on the fourth day
const POINTS = (4 * DAY) / 60;

const graph = new ServiceGraph(
  topologySchema.parse({
    services: [
      { name: 'api-gateway', namespace: 'edge', dependsOn: ['order-api'] },
      { name: 'order-api', namespace: 'trading' },
    ],
  }),
);

/** A series a minute for four days: `normal(i)` everywhere, `faulty(minutesIntoFault)` from FAULT for an hour. */
function series(
  name: string,
  service: string,
  normal: (i: number) => number,
  faulty?: (m: number) => number,
): StoredSeries {
  const timestamps = Float64Array.from({ length: POINTS }, (_, i) => START + 60 * i);
  const values = Float64Array.from(timestamps, (t, i) => {
    const m = (t - FAULT) / 60;
    return faulty && m >= 0 && m < 60 ? faulty(m) : normal(i);
  });
  return { name, labels: { service }, id: `${name}{service="${service}"}`, timestamps, values };
}

const wiggle = (base: number, amplitude: number) => (i: number) =>
  base + amplitude * Math.sin(i * 1.7) * Math.cos(i * 0.31);

function store(all: StoredSeries[]): MetricStore {
  const metrics = new Map<string, { name: string; family: string; type: 'gauge'; series: StoredSeries[] }>();
  for (const s of all) {
    const group = metrics.get(s.name) ?? { name: s.name, family: s.name, type: 'gauge' as const, series: [] };
    group.series.push(s);
    metrics.set(s.name, group);
  }
  return {
    metrics,
    seriesCount: all.length,
    sampleCount: all.length * POINTS,
    minTime: START,
    maxTime: START + (POINTS - 1) * 60,
  } as unknown as MetricStore;
}

const at = (s: StoredSeries, t: number) => s.values[Math.round((t - START) / 60)];

describe('ScenarioWorld', () => {
  it('a rollback clears its service’s errors and the errors its callers saw, from the end of the rollout', () => {
    const errors = series('service:http_errors:ratio_rate1m', 'order-api', wiggle(0.002, 0.0005), () => 0.09);
    const callerErrors = series('service:http_errors:ratio_rate1m', 'api-gateway', wiggle(0.002, 0.0005), () => 0.03);
    const world = new ScenarioWorld(store([errors, callerErrors]), graph);
    const actedAt = FAULT + 5 * 60;
    expect(world.apply('rollback', 'order-api', actedAt)).toBeGreaterThan(0);
    expect(at(errors, actedAt + ROLLOUT_SECONDS - 60)).toBe(0.09); // still rolling out
    expect(at(errors, actedAt + ROLLOUT_SECONDS + 60)).toBeLessThan(0.003);
    expect(at(callerErrors, actedAt + ROLLOUT_SECONDS + 60)).toBeLessThan(0.003);
    // Undone: the recorded symptoms come back from then on.
    world.revert('order-api', actedAt + 30 * 60);
    expect(at(errors, actedAt + 31 * 60)).toBe(0.09);
    expect(at(errors, actedAt + ROLLOUT_SECONDS + 60)).toBeLessThan(0.003);
  });

  it('a restart does not take a bad build’s errors away', () => {
    const errors = series('service:http_errors:ratio_rate1m', 'order-api', wiggle(0.002, 0.0005), () => 0.09);
    const memory = series('service:container_memory_working_set:ratio', 'order-api', wiggle(0.45, 0.01));
    const world = new ScenarioWorld(store([errors, memory]), graph);
    world.apply('rollout-restart', 'order-api', FAULT + 5 * 60);
    expect(at(errors, FAULT + 20 * 60)).toBe(0.09);
  });

  it('a restart relieves a memory leak and the latency its pressure causes later', () => {
    const memory = series(
      'service:container_memory_working_set:ratio',
      'order-api',
      wiggle(0.45, 0.01),
      (m) => 0.45 + 0.009 * m,
    );
    const latency = series('service:http_request_duration_seconds:p99', 'order-api', wiggle(0.04, 0.002), (m) =>
      m > 40 ? 0.2 : 0.04,
    );
    const world = new ScenarioWorld(store([memory, latency]), graph);
    world.apply('rollout-restart', 'order-api', FAULT + 10 * 60);
    expect(at(memory, FAULT + 30 * 60)).toBeLessThan(0.47);
    expect(at(latency, FAULT + 50 * 60)).toBeLessThan(0.05);
  });

  it('scaling up does not touch errors, and a drop is never a symptom', () => {
    const errors = series('service:http_errors:ratio_rate1m', 'order-api', wiggle(0.002, 0.0005), () => 0.09);
    const cpu = series('service:container_cpu_usage:ratio', 'order-api', wiggle(0.4, 0.02), () => 0.1);
    const world = new ScenarioWorld(store([errors, cpu]), graph);
    expect(world.apply('scale-up', 'order-api', FAULT)).toBe(0);
    expect(at(errors, FAULT + 10 * 60)).toBe(0.09);
    expect(at(cpu, FAULT + 10 * 60)).toBe(0.1);
  });
});
