// Decoding MSK and self-managed Kafka Lambda events into deploy events: good records survive bad ones, and every
// bad record is named by topic, partition, offset and field.

import type { MSKEvent, MSKRecord, SelfManagedKafkaEvent } from 'aws-lambda';
import { decodeDeployEvents } from '../../lambdas/adapters/kafka/deploy-events';
import type { DeployRecord } from '../../lambdas/core/cognition/classify';

const TOPIC = 'deploy-events';
const T = Date.parse('2026-11-04T03:02:05Z');

const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const header = (text: string) => [...Buffer.from(text, 'utf8')];

const record = (partition: number, offset: number, value: string, extra: Partial<MSKRecord> = {}): MSKRecord => ({
  topic: TOPIC,
  partition,
  offset,
  timestamp: T + offset,
  timestampType: 'CREATE_TIME',
  key: b64('order-api'),
  value,
  headers: [{ 'content-type': header('application/json') }, { 'ce-source': header('argocd') }],
  ...extra,
});

const deployLine = (fields: unknown) => b64(JSON.stringify(fields));

const mskEvent = (records: MSKEvent['records']): MSKEvent => ({
  eventSource: 'aws:kafka',
  eventSourceArn: 'arn:aws:kafka:eu-west-1:111122223333:cluster/prod-events/6a3e9f2c-0d1b-4c55-9b8a-1f0e2d3c4b5a-3',
  bootstrapServers: 'b-1.prodevents.abc123.c3.kafka.eu-west-1.amazonaws.com:9098',
  records,
});

describe('decodeDeployEvents', () => {
  it('decodes every good record of every partition, in partition and offset order', () => {
    const decoded = decodeDeployEvents(
      mskEvent({
        [`${TOPIC}-1`]: [
          record(
            1,
            88,
            deployLine({
              time: '2026-11-04T10:00:00Z',
              service: 'market-data',
              namespace: 'market',
              version: 'v5.1.0',
            }),
          ),
        ],
        [`${TOPIC}-0`]: [
          record(
            0,
            1207,
            deployLine({
              time: '2026-11-04T03:02:00Z',
              service: 'order-api',
              namespace: 'trading',
              version: 'v2.3.1',
              previousVersion: 'v2.3.0',
              actor: 'argocd',
              source: 'argocd',
              // Fields the format does not know are allowed and dropped.
              revision: '4f1c2e9',
            }),
          ),
          record(0, 1208, deployLine({ time: '2026-11-04T03:40:00.250+01:00', service: 'order-api' })),
        ],
      }),
    );
    expect(decoded.errors).toEqual([]);
    expect(decoded.deploys).toEqual([
      {
        time: Date.parse('2026-11-04T03:02:00Z'),
        service: 'order-api',
        namespace: 'trading',
        version: 'v2.3.1',
        previousVersion: 'v2.3.0',
        actor: 'argocd',
        source: 'argocd',
        origin: { topic: TOPIC, partition: 0, offset: 1207, timestamp: T + 1207 },
      },
      {
        time: Date.parse('2026-11-04T02:40:00.250Z'),
        service: 'order-api',
        origin: { topic: TOPIC, partition: 0, offset: 1208, timestamp: T + 1208 },
      },
      {
        time: Date.parse('2026-11-04T10:00:00Z'),
        service: 'market-data',
        namespace: 'market',
        version: 'v5.1.0',
        origin: { topic: TOPIC, partition: 1, offset: 88, timestamp: T + 88 },
      },
    ]);
    // What diagnosis takes: a deploy event is a DeployRecord.
    const records: DeployRecord[] = decoded.deploys;
    expect(records[0].previousVersion).toBe('v2.3.0');
  });

  it('keeps the good records around malformed ones and names topic, partition, offset and field', () => {
    const decoded = decodeDeployEvents(
      mskEvent({
        [`${TOPIC}-2`]: [
          record(2, 500, deployLine({ time: '2026-11-04T03:02:00Z', service: 'order-api', version: 'v2.3.1' })),
          record(2, 501, b64('{"time": "2026-11-04T03:05:00Z", "service": ')),
          record(2, 502, deployLine({ time: '04/11/2026 03:06', service: 'Order API' })),
          record(2, 503, deployLine({ service: 'order-api', version: 7 })),
          record(2, 504, 'not base64!'),
          record(2, 505, deployLine({ time: '2026-11-04T03:09:00Z', service: 'wallet-service', actor: 'helm' })),
          record(2, 506, deployLine(['2026-11-04T03:09:00Z', 'order-api'])),
        ],
      }),
    );
    expect(decoded.deploys.map((d) => `${d.service}@${d.origin.offset}`)).toEqual([
      'order-api@500',
      'wallet-service@505',
    ]);
    expect(decoded.errors.map((e) => [e.offset, e.field])).toEqual([
      [501, 'value'],
      [502, 'value.time'],
      [502, 'value.service'],
      [503, 'value.time'],
      [503, 'value.version'],
      [504, 'value'],
      [506, 'value'],
    ]);
    expect(decoded.errors[0]).toEqual({
      topic: TOPIC,
      partition: 2,
      offset: 501,
      field: 'value',
      message: expect.stringMatching(/^deploy-events partition 2 offset 501: value: is not JSON: /),
    });
    expect(decoded.errors.slice(1).map((e) => e.message)).toEqual([
      'deploy-events partition 2 offset 502: value.time: must be an RFC 3339 time such as 2026-11-04T03:02:00Z',
      'deploy-events partition 2 offset 502: value.service: must be a service name (a DNS-1123 label)',
      'deploy-events partition 2 offset 503: value.time: is required: an RFC 3339 time such as 2026-11-04T03:02:00Z',
      'deploy-events partition 2 offset 503: value.version: Invalid input: expected string, received number',
      'deploy-events partition 2 offset 504: value: is not base64',
      'deploy-events partition 2 offset 506: value: Invalid input: expected object, received array',
    ]);
  });

  it('reports broken envelopes (tombstones, missing offsets) with what the record still says', () => {
    const tombstone = { ...record(3, 9, ''), value: null } as unknown as MSKRecord;
    const noOffset = {
      ...record(3, 10, deployLine({ time: '2026-11-04T03:02:00Z', service: 'order-api' })),
    } as Partial<MSKRecord>;
    delete noOffset.offset;
    const badHeader = record(3, 11, deployLine({ time: '2026-11-04T03:02:00Z', service: 'order-api' }), {
      headers: [{ trace: [300] }],
    });
    const decoded = decodeDeployEvents(
      mskEvent({ [`${TOPIC}-3`]: [tombstone, noOffset as MSKRecord, badHeader, 'junk' as unknown as MSKRecord] }),
    );
    expect(decoded.deploys).toEqual([]);
    expect(decoded.errors.map((e) => e.message)).toEqual([
      'deploy-events partition 3 offset 9: value: is missing: a tombstone or an empty message is not a deploy event',
      'deploy-events partition 3 offset ?: offset: Invalid input: expected number, received undefined',
      'deploy-events partition 3 offset 11: headers[0].trace[0]: Too big: expected number to be <=255',
      'deploy-events partition 3 offset ?: (record): Invalid input: expected object, received string',
    ]);
    expect(decoded.errors[3]).toMatchObject({ topic: TOPIC, partition: 3, offset: undefined });
  });

  it('decodes a self-managed Kafka event the same way', () => {
    const event: SelfManagedKafkaEvent = {
      eventSource: 'SelfManagedKafka',
      bootstrapServers: 'kafka-0.kafka.internal:9093,kafka-1.kafka.internal:9093',
      records: {
        'ci.deploys-0': [
          {
            ...record(0, 42, deployLine({ time: '2026-11-04T03:02:00Z', service: 'order-api' })),
            topic: 'ci.deploys',
          },
        ],
      },
    };
    expect(decodeDeployEvents(event)).toEqual({
      deploys: [
        {
          time: Date.parse('2026-11-04T03:02:00Z'),
          service: 'order-api',
          origin: { topic: 'ci.deploys', partition: 0, offset: 42, timestamp: T + 42 },
        },
      ],
      errors: [],
    });
  });

  it('returns nothing for an event without records', () => {
    expect(decodeDeployEvents(mskEvent({}))).toEqual({ deploys: [], errors: [] });
  });
});
