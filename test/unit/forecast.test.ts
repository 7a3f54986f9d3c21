import {
  DEFAULT_HOLT,
  forecastBreach,
  type HoltState,
  HoltTables,
  holtUpdate,
} from '../../lambdas/core/cognition/forecast';
import { ScoringModel, scorerSettings } from '../../lambdas/core/cognition/scorer';
import { signalCatalogSchema } from '../../lambdas/core/config/schema';
import { testDetection } from '../support/catalog';

const tables = new HoltTables(DEFAULT_HOLT);

function noise(seed: number): () => number {
  let a = seed;
  return () => {
    a = (Math.imul(a, 1664525) + 1013904223) >>> 0;
    return a / 2 ** 32 - 0.5;
  };
}

const fresh = (): HoltState => ({ level: 0, trend: 0, errorVariance: 0, points: 0 });

describe('damped Holt forecasting', () => {
  it('builds the damped sums and a growing variance factor', () => {
    expect(tables.dampedSum[1]).toBeCloseTo(0.999, 12);
    expect(tables.dampedSum[2]).toBeCloseTo(0.999 + 0.999 ** 2, 12);
    expect(tables.varianceFactor[1]).toBe(1);
    for (let h = 2; h <= 360; h++) expect(tables.varianceFactor[h]).toBeGreaterThan(tables.varianceFactor[h - 1]);
  });

  it('follows a steady drain and predicts when it crosses the limit', () => {
    const state = fresh();
    const random = noise(5);
    // Free disk falls from 0.55 by 0.0015 a minute: it reaches 0.05 after 333 minutes.
    let crossingSeen: number | undefined;
    for (let minute = 0; minute < 200; minute++) {
      holtUpdate(state, 0.55 - 0.0015 * minute + 0.002 * random(), DEFAULT_HOLT);
      const breach = forecastBreach(state, 0.05, 'below', tables, () => 0, 0);
      if (breach && crossingSeen === undefined) crossingSeen = minute;
      if (minute === 150 && breach) {
        const predicted = minute + breach.steps;
        expect(Math.abs(predicted - 333)).toBeLessThan(0.2 * (333 - minute));
        expect(breach.confidence).toBeGreaterThan(0.5);
      }
    }
    expect(crossingSeen).toBeDefined();
    expect(crossingSeen!).toBeLessThan(120); // hours of warning before the breach
  });

  it('predicts nothing for a stationary noisy series far from its limit', () => {
    const state = fresh();
    const random = noise(9);
    for (let minute = 0; minute < 2000; minute++) {
      holtUpdate(state, 0.4 + 0.02 * random(), DEFAULT_HOLT);
      if (minute > 60) expect(forecastBreach(state, 0.9, 'above', tables, () => 0, 0)).toBeUndefined();
    }
  });

  it('does not extrapolate a one-minute spike into a breach', () => {
    const state = fresh();
    const random = noise(13);
    for (let minute = 0; minute < 300; minute++) holtUpdate(state, 0.035 + 0.0015 * random(), DEFAULT_HOLT);
    holtUpdate(state, 0.06, DEFAULT_HOLT);
    expect(forecastBreach(state, 0.05, 'above', tables, () => 0, 0)).toBeUndefined();
  });

  it('counts the seasonal cycle in: a daily peak ahead can cross a limit the level alone does not', () => {
    const state: HoltState = { level: 0.7, trend: 0, errorVariance: 1e-6, points: 500 };
    expect(forecastBreach(state, 0.9, 'above', tables, () => 0, 0)).toBeUndefined();
    const peakIn2h = (steps: number) => (steps >= 120 ? 0.3 : 0);
    expect(forecastBreach(state, 0.9, 'above', tables, peakIn2h, 0.3)?.steps).toBe(120);
  });
});

describe('forecasts in the scoring model', () => {
  const catalog = signalCatalogSchema.parse({
    signals: [
      { id: 'disk_free', query: 'x', unit: 'ratio', badDirection: 'down', hardLimit: { below: 0.05 } },
      { id: 'request_rate', query: 'y', unit: 'requests_per_second', badDirection: 'both' },
    ],
  });
  const T0 = Date.parse('2026-11-04T05:00:00Z') / 1000;

  it('raises a breach forecast after ten ticks in a row, with the predicted time, only for series with a limit', () => {
    const model = new ScoringModel(catalog.signals, scorerSettings(testDetection), 16);
    const random = noise(21);
    const raisedAt: number[] = [];
    let last: ReturnType<ScoringModel['score']> | undefined;
    for (let minute = 0; minute < 240; minute++) {
      const free = minute < 60 ? 0.55 + 0.001 * random() : 0.55 - 0.0015 * (minute - 60) + 0.001 * random();
      last = model.score(T0 + 60 * minute, [
        { signalId: 'disk_free', entity: 'mysql-main', value: free },
        { signalId: 'request_rate', entity: 'mysql-main', value: 1000 + minute * 10 },
      ]);
      if (last.forecasts.some((f) => f.newlyRaised)) raisedAt.push(minute);
    }
    expect(raisedAt).toHaveLength(1);
    expect(raisedAt[0]).toBeGreaterThan(60 + 9);
    const forecast = last!.forecasts[0];
    expect(forecast).toMatchObject({ key: 'disk_free{mysql-main}', side: 'below', limit: 0.05 });
    // True crossing: 60 + 0.5 / 0.0015 = minute 393.
    const predictedMinute = (forecast.predictedBreachAt - T0) / 60;
    expect(Math.abs(predictedMinute - 393)).toBeLessThan(0.2 * (393 - 239));
    expect(last!.forecasts.map((f) => f.signalId)).toEqual(['disk_free']);
  });
});
