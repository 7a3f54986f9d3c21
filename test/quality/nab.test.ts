// The detector's quality floor on the Numenta Anomaly Benchmark subset in test/fixtures/nab (artificial series,
// AWS CloudWatch metrics, ad-exchange metrics): every file from scratch with the one default parameter set,
// scored with NAB's standard profile by the project's own scorer. Published detectors on this subset score
// 54-74 (Random Cut Forest 54.0 ... Numenta HTM 73.6); the detector must not fall below 70.

import { join } from 'node:path';
import { StreamingDetector } from '../../lambdas/core/cognition/detectors/streaming-detector';
import { listDataFiles, loadNabCorpus, NAB_PROFILES, type NabFile, scoreCorpus, scoreFile } from '../support/nab-score';

const ROOT = join(__dirname, '..', 'fixtures', 'nab');
const FLOOR = 70;

const seconds = (timestamp: string): number => Date.parse(`${timestamp.replace(' ', 'T')}Z`) / 1000;

/** A synthetic file of `n` rows (one a minute) with windows given as row ranges. */
function syntheticFile(n: number, windows: [number, number][]): NabFile {
  const timestamps = Array.from({ length: n }, (_, i) =>
    new Date(Date.UTC(2020, 0, 1, 0, i)).toISOString().slice(0, 19).replace('T', ' '),
  );
  return {
    key: 'synthetic/file.csv',
    category: 'synthetic',
    timestamps,
    values: new Float64Array(n),
    windows: windows.map(([a, b]) => [timestamps[a], timestamps[b]] as const),
  };
}

describe('the NAB scorer', () => {
  const files = loadNabCorpus(ROOT);

  it('loads every labelled data file of the subset', () => {
    expect(files).toHaveLength(34);
    expect(files.map((f) => f.key)).toEqual(listDataFiles(ROOT).map((k) => k.replace(/\.gz$/, '')));
    expect(files.reduce((n, f) => n + f.windows.length, 0)).toBe(50);
  });

  it('scores the null detector 0 and the perfect one (every window start) 100', () => {
    expect(scoreCorpus(files, new Map()).normalized).toBe(0);
    const perfect = new Map(files.map((f) => [f.key, f.windows.map(([start]) => start)]));
    expect(scoreCorpus(files, perfect).normalized).toBeCloseTo(100, 10);
  });

  it("reproduces NAB's own scorer test: detections at rows 30, 31 and 37 of two 5-row windows", () => {
    // NAB tests/integration/scorer_test.py testScoringAllMetrics: 100 rows, windows [30, 34] and [65, 69],
    // all weights 1, no probation: one window caught at its start, one missed, one false positive just after.
    const file = syntheticFile(100, [
      [30, 34],
      [65, 69],
    ]);
    const detected = new Set([30, 31, 37]);
    const result = scoreFile(file, (i) => detected.has(i), { tpWeight: 1, fpWeight: 1, fnWeight: 1 }, 0);
    expect(result.raw).toBeCloseTo(-0.954, 4);
    expect(result.falsePositives).toBe(1);
  });

  it('rewards earlier detections more and charges late false positives less', () => {
    const file = syntheticFile(1000, [[500, 599]]);
    const at = (row: number) => scoreFile(file, (i) => i === row, NAB_PROFILES.standard).raw;
    expect(at(500)).toBeCloseTo(1, 10);
    expect(at(550)).toBeGreaterThan(at(590));
    expect(at(590)).toBeGreaterThan(0);
    // Before the window: a full false positive plus the missed window.
    expect(at(300)).toBeCloseTo(-1.11, 10);
    // Just after the window costs less than far after it.
    expect(at(605)).toBeGreaterThan(at(950));
  });
});

describe('the streaming detector on the NAB subset', () => {
  it(`scores at least ${FLOOR} (standard profile) with the default parameters`, () => {
    const files = loadNabCorpus(ROOT);
    const detections = new Map<string, boolean[]>();
    for (const file of files) {
      const detector = new StreamingDetector();
      detections.set(
        file.key,
        Array.from(file.values, (value, i) => detector.update(seconds(file.timestamps[i]), value).flagged),
      );
    }
    const result = scoreCorpus(files, detections);
    const categories = Object.entries(result.byCategory)
      .map(([name, c]) => `${name} ${Number.isNaN(c.normalized) ? `raw ${c.raw.toFixed(2)}` : c.normalized.toFixed(1)}`)
      .join(', ');
    const summary = `NAB standard ${result.normalized.toFixed(2)} (${result.windowsDetected}/${result.windows} windows, ${result.falsePositives} false positives; ${categories})`;
    expect({ summary, pass: result.normalized >= FLOOR }).toEqual({ summary, pass: true });
  });
});
