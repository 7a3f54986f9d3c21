import {
  decodeCollectedTick,
  decodeScorerState,
  encodeCollectedTick,
  encodeScorerState,
} from '../../lambdas/adapters/blob/codec';
import { ScoringModel, scorerSettings } from '../../lambdas/core/cognition/scorer';
import { testCatalog, testDetection } from '../support/catalog';

describe('codec', () => {
  it('keeps NaN and infinities in a collected tick', () => {
    const tick = {
      time: 1_700_000_000,
      points: [
        { signalId: 'a', entity: 'x', value: Number.NaN },
        { signalId: 'b', entity: 'y', value: Number.POSITIVE_INFINITY },
        { signalId: 'c', entity: 'z', value: 0.125 },
      ],
      errors: [{ signalId: 'd', kind: 'timeout' as const, query: 'up', message: 'no answer after 5000 ms' }],
      dropped: [],
    };
    const back = decodeCollectedTick(encodeCollectedTick(tick));
    expect(back.points[0].value).toBeNaN();
    expect(back.points[1].value).toBe(Number.POSITIVE_INFINITY);
    expect(back.points[2]).toEqual({ signalId: 'c', entity: 'z', value: 0.125 });
    expect(back.errors).toEqual(tick.errors);
  });

  it('round-trips the scorer state', () => {
    const model = new ScoringModel(testCatalog.signals, scorerSettings(testDetection), 16);
    model.score(1_700_000_000, [
      { signalId: 'error_ratio', entity: 'order-api', value: 0.01 },
      { signalId: 'request_rate', entity: 'order-api', value: 900 },
    ]);
    const state = model.snapshot();
    const back = decodeScorerState(encodeScorerState(state));
    expect(back).toEqual(state);
  });
});
