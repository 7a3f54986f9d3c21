// Streaming detector: points per second on one core, and its score on the Numenta Anomaly Benchmark subset in
// test/fixtures/nab (standard profile, the default parameter set, every file from scratch).
// Run alone with: node bin/run-ts.cjs test/bench/detector.bench.ts
//
// Speed target: 100,000 points/s on one core. At that rate re-scoring a 30-day history of one 1-minute series
// (43,200 points) takes under half a second, and a fleet of 100,000 series at one point a minute costs one
// core about a second per minute; every scorer of the ensemble runs on every point, so this is the whole cost.
// NAB target: 78, above every published detector on this subset (Numenta HTM 73.6 the best).

import { join, resolve } from 'node:path';
import { StreamingDetector } from '../../lambdas/core/cognition/detectors/streaming-detector';
import { loadNabCorpus, scoreCorpus } from '../support/nab-score';
import { type BenchLine, formatBench, medianSeconds, timeLine } from './bench-line';

export type { BenchLine } from './bench-line';

const POINTS = 200_000;
const TARGET_POINTS_PER_SECOND = 100_000;
const NAB_TARGET = 78;
const NAB_ROOT = join(__dirname, '..', 'fixtures', 'nab');

/** One-minute points of a daily cycle with noise, spikes and a level shift: every scorer has work to do. */
function syntheticSeries(n: number): Float64Array {
  let seed = 42;
  const uniform = () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
  const values = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    const daily = 10 * Math.sin((2 * Math.PI * i) / 1440);
    values[i] = 100 + daily + 3 * (uniform() + uniform() + uniform() - 1.5) + (i > n / 2 ? 15 : 0);
    if (i % 5000 === 4999) values[i] += 80;
  }
  return values;
}

export async function benchDetector(): Promise<BenchLine[]> {
  const values = syntheticSeries(POINTS);
  const t0 = Date.parse('2026-01-01T00:00:00Z') / 1000;
  const seconds = await medianSeconds(
    () => {
      const detector = new StreamingDetector();
      for (let i = 0; i < values.length; i++) detector.update(t0 + 60 * i, values[i]);
    },
    5,
    2,
  );
  const rate = POINTS / seconds;

  const files = loadNabCorpus(NAB_ROOT);
  const times = files.map((f) => f.timestamps.map((t) => Date.parse(`${t.replace(' ', 'T')}Z`) / 1000));
  const nabPoints = files.reduce((n, f) => n + f.values.length, 0);
  const detections = new Map<string, boolean[]>();
  const nabSeconds = await medianSeconds(
    () => {
      files.forEach((file, k) => {
        const detector = new StreamingDetector();
        detections.set(
          file.key,
          Array.from(file.values, (v, i) => detector.update(times[k][i], v).flagged),
        );
      });
    },
    5,
    1,
  );
  const nab = scoreCorpus(files, detections);
  return [
    {
      name: 'Streaming detector throughput, 1-min series (200,000 points, all scorers)',
      value: rate,
      unit: 'points/s',
      target: TARGET_POINTS_PER_SECOND,
      ratio: rate / TARGET_POINTS_PER_SECOND,
      note: 'one core; higher is better',
    },
    timeLine(
      `Streaming detector over the NAB subset (${files.length} files, ${nabPoints.toLocaleString('en')} points)`,
      nabSeconds,
      nabPoints / TARGET_POINTS_PER_SECOND,
      'every file from scratch; target at 100,000 points/s',
    ),
    {
      name: `NAB standard score, ${files.length} files (default parameters)`,
      value: nab.normalized,
      unit: 'points',
      target: NAB_TARGET,
      ratio: nab.normalized / NAB_TARGET,
      note: `${nab.windowsDetected}/${nab.windows} windows, ${nab.falsePositives} false positives; higher is better`,
    },
  ];
}

const isMain = require.main === module || resolve(process.argv[1] ?? '') === __filename;
if (isMain) {
  benchDetector()
    .then((lines) => process.stdout.write(`${formatBench(lines)}\n`))
    .catch((error: unknown) => {
      console.error(error);
      process.exitCode = 1;
    });
}
