// The rate limit against dynalite: concurrent executions can never take more than three operations an hour.

import { DynamoActionLedger } from '../../lambdas/adapters/dynamodb/action-ledger';
import { type LocalDynamo, startLocalDynamo } from '../../lambdas/local/local-dynamodb';

const HOUR = 3_600_000;
let dynamo: LocalDynamo;

beforeAll(async () => {
  dynamo = await startLocalDynamo('ledger-test');
});
afterAll(async () => {
  await dynamo.close();
});

describe('DynamoActionLedger', () => {
  it('grants exactly three of twenty concurrent reservations on one resource', async () => {
    const ledger = new DynamoActionLedger(dynamo.client, dynamo.tables.actionLedger);
    const now = Date.parse('2026-11-04T03:00:00Z');
    const outcomes = await Promise.all(
      Array.from({ length: 20 }, () =>
        ledger.reserve('trading/deployment/order-api', now, 3, HOUR).catch(() => 'gave-up'),
      ),
    );
    expect(outcomes.filter((o) => o === 'reserved')).toHaveLength(3);
    expect(outcomes.every((o) => o === 'reserved' || o === 'limit-reached' || o === 'gave-up')).toBe(true);
    expect(await ledger.reserve('trading/deployment/order-api', now + 1000, 3, HOUR)).toBe('limit-reached');
  });

  it('counts per resource and frees a slot when the oldest operation leaves the hour', async () => {
    const ledger = new DynamoActionLedger(dynamo.client, dynamo.tables.actionLedger);
    const t0 = Date.parse('2026-11-04T05:00:00Z');
    for (let k = 0; k < 3; k++)
      expect(await ledger.reserve('market/deployment/market-data', t0 + k * 60_000, 3, HOUR)).toBe('reserved');
    expect(await ledger.reserve('market/deployment/market-data', t0 + 30 * 60_000, 3, HOUR)).toBe('limit-reached');
    expect(await ledger.reserve('data/datastore/redis-cache', t0 + 30 * 60_000, 3, HOUR)).toBe('reserved');
    expect(await ledger.reserve('market/deployment/market-data', t0 + HOUR + 1, 3, HOUR)).toBe('reserved');
  });
});
