// The DynamoDB adapters against dynalite (the real DynamoDB API), not mocks.

import { MemoryBlobStore } from '../../lambdas/adapters/blob/blob-store';
import { DynamoBaselineStore } from '../../lambdas/adapters/dynamodb/baseline-store';
import { DynamoIncidentStore } from '../../lambdas/adapters/dynamodb/incident-store';
import { DynamoScorerStateStore } from '../../lambdas/adapters/dynamodb/scorer-state-store';
import type { SeriesBaseline } from '../../lambdas/core/cognition/baseline';
import { correlate } from '../../lambdas/core/cognition/incident';
import { ScoringModel, scorerSettings } from '../../lambdas/core/cognition/scorer';
import { ServiceGraph } from '../../lambdas/core/topology';
import { type LocalDynamo, LocalDynamoError, startLocalDynamo } from '../../lambdas/local/local-dynamodb';
import { testCatalog, testDetection, testTopology } from '../support/catalog';

const T0 = Date.parse('2026-11-04T03:07:00Z') / 1000;
let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startLocalDynamo('stores-test');
});
afterAll(async () => {
  await dynamo.close();
});

const firstIncident = () =>
  correlate(
    T0,
    {
      raised: [
        {
          key: 'error_ratio{order-api}',
          signalId: 'error_ratio',
          entity: 'order-api',
          value: 0.09,
          expected: Number.NaN,
          z: Number.NaN,
          score: 1,
          since: T0 - 120,
          hardLimitBreached: true,
          newlyRaised: true,
        },
      ],
    },
    [],
    new ServiceGraph(testTopology),
    testDetection,
  ).opened[0];

describe('DynamoIncidentStore', () => {
  it('creates once, lists open incidents, and refuses a stale update', async () => {
    const store = new DynamoIncidentStore(dynamo.client, dynamo.tables.incidents);
    const incident = firstIncident();
    expect(await store.create(incident)).toBe('written');
    expect(await store.create(incident)).toBe('conflict');
    const open = await store.listOpen();
    expect(open.map((i) => i.id)).toEqual([incident.id]);
    expect(open[0].signals[0].expectedAtPeak).toBeNaN();

    const resolved = { ...incident, status: 'resolved' as const, resolvedAt: '2026-11-04T03:30:00Z', version: 2 };
    expect(await store.update(resolved)).toBe('written');
    expect(await store.update(resolved)).toBe('conflict');
    expect(await store.listOpen()).toEqual([]);
    expect(await store.get(incident.id)).toMatchObject({ status: 'resolved', version: 2 });
  });
});

describe('DynamoBaselineStore', () => {
  it('publishes chunked baselines behind a version pointer', async () => {
    const store = new DynamoBaselineStore(dynamo.client, dynamo.tables.baselines, () => T0);
    expect(await store.currentVersion()).toBeUndefined();
    const baselines: SeriesBaseline[] = Array.from({ length: 450 }, (_, i) => ({
      key: `request_rate{svc-${i}}`,
      slotMinutes: 5,
      seasonal: Float32Array.from({ length: 288 }, (_, s) => Math.sin(s / 40) * i),
      scale: new Float32Array(24).fill(i + 1),
      level: 100 + i,
      trainedUntil: T0,
      samples: 4320,
      seasonalStrength: 0.8,
      method: 'stl',
    }));
    await store.publish('v1', baselines);
    expect(await store.currentVersion()).toBe('v1');
    const loaded = await store.load();
    expect(loaded?.baselines).toHaveLength(450);
    expect(loaded?.baselines[449].key).toBe('request_rate{svc-449}');
    expect(loaded?.baselines[449].seasonal[100]).toBeCloseTo(Math.sin(2.5) * 449, 3);
    expect(loaded?.baselines[3].scale[23]).toBe(4);
  });
});

describe('DynamoScorerStateStore', () => {
  it('commits each tick exactly once', async () => {
    const store = new DynamoScorerStateStore(
      dynamo.client,
      dynamo.tables.scorerState,
      new MemoryBlobStore(),
      'shard-1',
    );
    const model = new ScoringModel(testCatalog.signals, scorerSettings(testDetection), 16);
    model.score(T0, [{ signalId: 'error_ratio', entity: 'order-api', value: 0.01 }]);
    expect(await store.commit(model.snapshot(), undefined)).toBe('committed');
    expect(await store.commit(model.snapshot(), undefined)).toBe('superseded');

    model.score(T0 + 60, [{ signalId: 'error_ratio', entity: 'order-api', value: 0.01 }]);
    expect(await store.commit(model.snapshot(), T0)).toBe('committed');
    expect(await store.commit(model.snapshot(), T0)).toBe('superseded');
    const saved = await store.load();
    expect(saved?.lastTick).toBe(T0 + 60);
    expect(saved?.keys).toEqual(['error_ratio{order-api}']);
    expect(saved?.observations[0]).toBe(2);
  });

  it('starts the series afresh when the state object has expired, and still commits conditionally', async () => {
    const blobs = new MemoryBlobStore();
    const store = new DynamoScorerStateStore(dynamo.client, dynamo.tables.scorerState, blobs, 'shard-2');
    const model = new ScoringModel(testCatalog.signals, scorerSettings(testDetection), 16);
    model.score(T0, [{ signalId: 'error_ratio', entity: 'order-api', value: 0.01 }]);
    await store.commit(model.snapshot(), undefined);
    const expired = new DynamoScorerStateStore(
      dynamo.client,
      dynamo.tables.scorerState,
      new MemoryBlobStore(),
      'shard-2',
    );
    const saved = await expired.load();
    expect(saved).toMatchObject({ lastTick: T0, keys: [] });
    model.score(T0 + 60, [{ signalId: 'error_ratio', entity: 'order-api', value: 0.01 }]);
    expect(await expired.commit(model.snapshot(), saved?.lastTick)).toBe('committed');
  });
});

describe('startLocalDynamo', () => {
  it('fails with a message naming the table, and closes the embedded server, when a table cannot be created', async () => {
    const listening = () => process.getActiveResourcesInfo().filter((r) => r === 'TCPServerWrap').length;
    const before = listening();
    // DynamoDB table names allow letters, digits, '_', '-' and '.': a space makes CreateTable fail.
    const failure = startLocalDynamo('bad prefix');
    await expect(failure).rejects.toBeInstanceOf(LocalDynamoError);
    await expect(failure).rejects.toThrow(/cannot create the local table bad prefix-\w+ in the embedded DynamoDB: /);
    // A server left listening would keep the CLI's process alive after it printed the error. (The handle is
    // released on the event loop's next turn after close.)
    await new Promise((resolve) => setTimeout(resolve, 50));
    expect(listening()).toBe(before);
  });
});
