// Scoring throughput: 100,000 series scored in one process with baselines in memory (target < 50 ms on one
// core), and the whole tick for 100,000 series including the Prometheus response's transfer and parsing.

import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { createMetricSource } from '../../lambdas/adapters/prometheus/http-metric-source';
import type { SeriesBaseline } from '../../lambdas/core/cognition/baseline';
import { ScoringModel, scorerSettings } from '../../lambdas/core/cognition/scorer';
import { signalCatalogSchema } from '../../lambdas/core/config/schema';
import { DEFAULT_DETECTION } from '../../lambdas/core/defaults';
import { collectSignals } from '../../lambdas/core/perception/collect';
import { seededRandom } from '../support/random';
import { type BenchLine, medianSeconds, timeLine } from './bench-line';

const SERIES = 100_000;
const TARGET_SECONDS = 0.05;
const T0 = Date.parse('2026-11-04T14:00:00Z') / 1000;

const catalog = signalCatalogSchema.parse({
  signals: [
    {
      id: 'request_rate',
      query: 'sum by (service) (service:http_requests:rate1m)',
      unit: 'requests_per_second',
      badDirection: 'both',
      // A limit on every series: the trend predictor then runs on all of them, its worst case.
      hardLimit: { above: 5000 },
    },
  ],
});

const levels = new Float64Array(SERIES);
const seasonalAt = (level: number, slot: number) => 0.3 * level * Math.sin((2 * Math.PI * slot) / 288);

function buildModel(): ScoringModel {
  const random = seededRandom(7);
  const model = new ScoringModel(catalog.signals, scorerSettings(DEFAULT_DETECTION), SERIES);
  for (let i = 0; i < SERIES; i++) {
    const level = 100 + 1000 * random();
    levels[i] = level;
    const baseline: SeriesBaseline = {
      key: `request_rate{svc-${i}}`,
      slotMinutes: DEFAULT_DETECTION.slotMinutes,
      seasonal: Float32Array.from({ length: 288 }, (_, s) => seasonalAt(level, s)),
      scale: new Float32Array(24).fill(0.04 * level),
      level,
      trainedUntil: T0,
      samples: 10_080,
      seasonalStrength: 0.9,
      method: 'stl',
    };
    model.setBaseline(baseline);
  }
  return model;
}

/** Normal noise around the baseline, with one series in a thousand far off (a realistic anomaly rate). */
function tickValues(time: number, random: () => number): Float64Array {
  const slot = Math.floor((time % 86_400) / 300);
  const values = new Float64Array(SERIES);
  for (let i = 0; i < SERIES; i++) {
    const noise = 0.04 * levels[i] * (random() + random() + random() - 1.5) * 2;
    values[i] = levels[i] + seasonalAt(levels[i], slot) + noise + (random() < 0.001 ? 20 * levels[i] : 0);
  }
  return values;
}

export async function benchScoring(): Promise<BenchLine[]> {
  const model = buildModel();
  const random = seededRandom(11);
  const ticks = Array.from({ length: 8 }, (_, k) => ({ time: T0 + 60 * k, values: tickValues(T0 + 60 * k, random) }));
  let k = 0;
  const arithmetic = await medianSeconds(
    () => {
      const tick = ticks[k % ticks.length];
      model.scoreAligned(tick.time + 480 * Math.floor(k / ticks.length), tick.values);
      k++;
    },
    31,
    70,
  ); // warm-up past the trend predictor's 60-point warm-up, so every series is forecast too

  // The whole tick: the source's JSON over loopback HTTP, parsed, mapped to series, scored.
  const body = JSON.stringify({
    status: 'success',
    data: {
      resultType: 'vector',
      result: Array.from({ length: SERIES }, (_, i) => ({
        metric: { service: `svc-${i}`, namespace: 'bench' },
        value: [T0, (levels[i] * (1 + 0.04 * (random() - 0.5))).toFixed(3)],
      })),
    },
  });
  const server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const { port } = server.address() as AddressInfo;
  const source = createMetricSource({
    flavor: 'prometheus',
    url: `http://127.0.0.1:${port}`,
    auth: { type: 'none' },
    timeoutMs: 10_000,
    retries: 0,
  });
  let time = T0 + 100_000;
  const wholeTick = await medianSeconds(
    async () => {
      time += 60;
      const collected = await collectSignals(source, catalog, time);
      if (collected.points.length !== SERIES)
        throw new Error(`expected ${SERIES} points, got ${collected.points.length}`);
      model.score(time, collected.points);
    },
    9,
    2,
  );
  server.close();
  return [
    timeLine(
      `score ${SERIES.toLocaleString('en')} series (baselines in memory, trend predictor on each)`,
      arithmetic,
      TARGET_SECONDS,
      `${(SERIES / arithmetic / 1e6).toFixed(1)} million series scored per second on one core`,
    ),
    timeLine(
      `whole tick for ${SERIES.toLocaleString('en')} series (HTTP + JSON parse + score)`,
      wholeTick,
      60,
      `${(body.length / 1e6).toFixed(1)} MB response; target is the 60 s tick`,
    ),
  ];
}
