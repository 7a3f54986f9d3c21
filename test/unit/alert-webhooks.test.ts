// Webhook parsing and normalisation: Alertmanager v4 bodies, Nightingale events, and the errors for bad bodies.

import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import {
  detectSource,
  labelFingerprint,
  normaliseAlertmanagerWebhook,
  normaliseNightingaleEvents,
  normaliseWebhook,
  severityFromLabel,
  WebhookFormatError,
} from '../../lambdas/core/alerting/webhooks';

const alert = (overrides: Record<string, unknown> = {}, labels: Record<string, string> = {}) => ({
  status: 'firing',
  labels: {
    alertname: 'HighErrorRate',
    service: 'order-api',
    namespace: 'trading',
    severity: 'critical',
    prometheus_replica: 'k8s-0',
    ...labels,
  },
  annotations: { summary: 'order-api returns 5xx' },
  startsAt: '2026-11-04T03:07:00Z',
  endsAt: '0001-01-01T00:00:00Z',
  generatorURL: 'http://prometheus-k8s-0.monitoring:9090/graph',
  fingerprint: 'abcdef0123456789',
  ...overrides,
});

const webhook = (alerts: unknown[], overrides: Record<string, unknown> = {}) => ({
  version: '4',
  groupKey: '{}:{alertname="HighErrorRate"}',
  truncatedAlerts: 0,
  status: 'firing',
  receiver: 'sre-agent',
  groupLabels: { alertname: 'HighErrorRate' },
  commonLabels: { alertname: 'HighErrorRate' },
  commonAnnotations: {},
  externalURL: 'http://alertmanager.monitoring:9093',
  alerts,
  ...overrides,
});

/** The problems a body is rejected with. */
function problemsOf(run: () => unknown): readonly string[] {
  try {
    run();
  } catch (error) {
    if (error instanceof WebhookFormatError) return error.problems;
    throw error;
  }
  throw new Error('expected a WebhookFormatError');
}

describe('normaliseAlertmanagerWebhook', () => {
  it('maps every field of a v4 alert', () => {
    const [firing] = normaliseAlertmanagerWebhook(webhook([alert()]));
    expect(firing).toEqual({
      source: 'alertmanager',
      fingerprint: expect.stringMatching(/^am:[0-9a-f]{16}$/),
      name: 'HighErrorRate',
      status: 'firing',
      severity: 'critical',
      service: 'order-api',
      labels: {
        alertname: 'HighErrorRate',
        service: 'order-api',
        namespace: 'trading',
        severity: 'critical',
        prometheus_replica: 'k8s-0',
      },
      annotations: { summary: 'order-api returns 5xx' },
      startsAt: Date.parse('2026-11-04T03:07:00Z'),
      summary: 'order-api returns 5xx',
      generatorURL: 'http://prometheus-k8s-0.monitoring:9090/graph',
    });
    // Go's zero time is "no end": a firing alert has no endsAt.
    expect(firing.endsAt).toBeUndefined();
  });

  it('gives both replicas of an HA pair one fingerprint, and different alerts different ones', () => {
    const [a, b, c, d] = normaliseAlertmanagerWebhook(
      webhook([
        alert({}, { prometheus_replica: 'k8s-0' }),
        alert({ fingerprint: 'ffff' }, { prometheus_replica: 'k8s-1' }),
        alert({}, { service: 'api-gateway' }),
        alert({}, { severity: 'warning' }),
      ]),
    );
    expect(a.fingerprint).toBe(b.fingerprint);
    expect(c.fingerprint).not.toBe(a.fingerprint);
    expect(d.fingerprint).not.toBe(a.fingerprint);
    expect(labelFingerprint({ a: '1', b: '2' })).toBe(labelFingerprint({ b: '2', a: '1' }));
  });

  it('honours a custom list of replica labels', () => {
    const body = webhook([alert({}, { cluster_replica: 'a' }), alert({}, { cluster_replica: 'b' })]);
    const [a, b] = normaliseAlertmanagerWebhook(body);
    expect(a.fingerprint).not.toBe(b.fingerprint);
    const [c, d] = normaliseAlertmanagerWebhook(body, { replicaLabels: ['prometheus_replica', 'cluster_replica'] });
    expect(c.fingerprint).toBe(d.fingerprint);
  });

  it('reads endsAt of a resolved alert, the service from job or app, and falls back for the summary', () => {
    const [resolved, byJob, byApp, bare] = normaliseAlertmanagerWebhook(
      webhook([
        alert({ status: 'resolved', endsAt: '2026-11-04T03:50:00.123456Z' }),
        alert({ annotations: {} }, { service: '', job: 'mysql-main' }),
        alert({ annotations: { description: 'slow' } }, { service: '', app: 'redis-cache' }),
        { status: 'firing', labels: { alertname: 'NodeDown' }, startsAt: '2026-11-04T03:07:00+08:00' },
      ]),
    );
    expect(resolved.status).toBe('resolved');
    expect(resolved.endsAt).toBe(Date.parse('2026-11-04T03:50:00.123Z'));
    expect(byJob.service).toBe('mysql-main');
    expect(byJob.summary).toBe('HighErrorRate on mysql-main');
    expect(byApp.service).toBe('redis-cache');
    expect(byApp.summary).toBe('slow');
    expect(bare.service).toBeUndefined();
    expect(bare.severity).toBe('warning');
    expect(bare.summary).toBe('NodeDown');
    expect(bare.startsAt).toBe(Date.parse('2026-11-03T19:07:00Z'));
  });

  it('maps severity words onto critical, warning and info, keeping unknown ones as warnings', () => {
    expect(['critical', 'ERROR', 'page', 'P1'].map(severityFromLabel)).toEqual(Array(4).fill('critical'));
    expect(['warning', 'warn', 'major'].map(severityFromLabel)).toEqual(Array(3).fill('warning'));
    expect(['info', 'none', 'low'].map(severityFromLabel)).toEqual(Array(3).fill('info'));
    expect(severityFromLabel('whatever')).toBe('warning');
    expect(severityFromLabel(undefined)).toBe('warning');
  });

  it('names each field at fault in a malformed body', () => {
    const problems = problemsOf(() =>
      normaliseAlertmanagerWebhook(
        webhook([
          alert(),
          alert({ status: 'pending' }),
          alert({ startsAt: 'yesterday' }),
          { ...alert(), labels: { service: 'order-api' } },
          alert({}, { severity: 3 as unknown as string }),
          'not an alert',
        ]),
      ),
    );
    expect(problems).toEqual([
      'alerts[1].status: must be "firing" or "resolved"',
      'alerts[2].startsAt: must be an RFC 3339 time such as 2026-11-04T03:02:00Z',
      'alerts[3].labels.alertname: required',
      'alerts[4].labels.severity: must be a string',
      'alerts[5]: must be an object',
    ]);
  });

  it('rejects other versions and bodies without the envelope fields', () => {
    expect(problemsOf(() => normaliseAlertmanagerWebhook(webhook([alert()], { version: '3' })))).toEqual([
      'version: must be "4" (only Alertmanager webhook version 4 is understood)',
    ]);
    expect(
      problemsOf(() => normaliseAlertmanagerWebhook({ version: '4', status: 'firing', alerts: {} })).slice(),
    ).toEqual(['groupKey: required', 'receiver: required', 'alerts: must be an array of alerts']);
    expect(problemsOf(() => normaliseAlertmanagerWebhook('text'))).toEqual([
      '(top level): must be a JSON object (the Alertmanager webhook body)',
    ]);
    expect(() => normaliseAlertmanagerWebhook(webhook([{ ...alert(), labels: {} }]))).toThrow(
      'invalid alertmanager webhook: alerts[0].labels.alertname: required',
    );
  });

  it('reads every delivery of the scenario fixtures', () => {
    const root = join(__dirname, '../fixtures/alerts');
    for (const name of readdirSync(root)) {
      const lines = gunzipSync(readFileSync(join(root, name, 'alerts.jsonl.gz')))
        .toString('utf8')
        .trim()
        .split('\n');
      const alerts = lines.flatMap((line) => normaliseAlertmanagerWebhook(JSON.parse(line).payload));
      const truth = JSON.parse(readFileSync(join(root, name, 'truth.json'), 'utf8')) as { alerts: { raw: number } };
      expect({ name, raw: alerts.length }).toEqual({ name, raw: truth.alerts.raw });
      expect(alerts.every((a) => a.fingerprint.startsWith('am:') && a.name !== '')).toBe(true);
    }
  });
});

const n9eEvent = (overrides: Record<string, unknown> = {}) => ({
  id: 1021,
  cate: 'prometheus',
  cluster: 'prod',
  datasource_id: 1,
  group_id: 3,
  group_name: 'trading',
  hash: '6c3a8e0a2f6e1c1b5b7f0d7c9e4b2a10',
  rule_id: 42,
  rule_name: 'order-api error ratio high',
  rule_note: 'more than 5% of order-api requests fail',
  severity: 1,
  prom_for_duration: 60,
  prom_ql: 'service:http_errors:ratio_rate1m{service="order-api"} > 0.05',
  target_ident: 'ip-10-0-1-23',
  trigger_time: 1_793_761_620,
  trigger_value: '0.09',
  tags: ['service=order-api', 'namespace=trading', 'rulename=order-api error ratio high'],
  tags_map: { service: 'order-api', namespace: 'trading', rulename: 'order-api error ratio high' },
  annotations: {},
  is_recovered: false,
  notify_cur_number: 1,
  first_trigger_time: 1_793_761_560,
  last_eval_time: 1_793_761_620,
  ...overrides,
});

describe('normaliseNightingaleEvents', () => {
  it('maps an n9e v6 event', () => {
    expect(normaliseNightingaleEvents(n9eEvent())).toEqual([
      {
        source: 'nightingale',
        fingerprint: 'n9e:6c3a8e0a2f6e1c1b5b7f0d7c9e4b2a10',
        name: 'order-api error ratio high',
        status: 'firing',
        severity: 'critical',
        service: 'order-api',
        labels: {
          service: 'order-api',
          namespace: 'trading',
          rulename: 'order-api error ratio high',
          alertname: 'order-api error ratio high',
          ident: 'ip-10-0-1-23',
        },
        annotations: {},
        startsAt: 1_793_761_560_000,
        summary: 'more than 5% of order-api requests fail',
      },
    ]);
  });

  it('reads recoveries, severities 2 and 3, tags without tags_map, and arrays of events (v7+ callbacks)', () => {
    const [recovered, warning, info] = normaliseNightingaleEvents([
      n9eEvent({ is_recovered: true, last_eval_time: 1_793_763_000 }),
      n9eEvent({ severity: 2, tags_map: null, tags: ['app=wallet-service', 'broken-tag'], hash: 'b' }),
      n9eEvent({
        severity: 3,
        tags: [],
        tags_map: {},
        rule_note: '',
        annotations: { summary: 'disk' },
        first_trigger_time: 0,
        hash: 'c',
      }),
    ]);
    expect(recovered).toMatchObject({ status: 'resolved', endsAt: 1_793_763_000_000 });
    expect(warning).toMatchObject({ severity: 'warning', service: 'wallet-service' });
    expect(warning.labels).toEqual({
      app: 'wallet-service',
      alertname: 'order-api error ratio high',
      ident: 'ip-10-0-1-23',
    });
    expect(info).toMatchObject({ severity: 'info', summary: 'disk', startsAt: 1_793_761_620_000 });
    expect(info.service).toBeUndefined();
    // The hash identifies the series: a repeat of the same event is the same alert.
    expect(normaliseNightingaleEvents(n9eEvent())[0].fingerprint).toBe(
      normaliseNightingaleEvents(n9eEvent({ trigger_time: 1_793_761_680 }))[0].fingerprint,
    );
  });

  it('names each field at fault', () => {
    expect(problemsOf(() => normaliseNightingaleEvents(n9eEvent({ severity: 5, hash: undefined })))).toEqual([
      'hash: required',
      'severity: must be 1, 2 or 3',
    ]);
    expect(
      problemsOf(() =>
        normaliseNightingaleEvents([n9eEvent(), n9eEvent({ is_recovered: 'yes', trigger_time: 1.5, rule_name: '' })]),
      ),
    ).toEqual([
      '[1].rule_name: must not be empty',
      '[1].is_recovered: must be true or false',
      '[1].trigger_time: must be a Unix time in whole seconds',
    ]);
  });
});

describe('normaliseWebhook', () => {
  it('tells the two engines apart by shape', () => {
    expect(detectSource(webhook([]))).toBe('alertmanager');
    expect(detectSource(n9eEvent())).toBe('nightingale');
    expect(detectSource([n9eEvent()])).toBe('nightingale');
    expect(detectSource({ hello: 1 })).toBeUndefined();
    expect(normaliseWebhook(webhook([alert()]))[0].source).toBe('alertmanager');
    expect(normaliseWebhook([n9eEvent()])[0].source).toBe('nightingale');
    expect(normaliseWebhook([])).toEqual([]);
  });

  it('rejects a body that is neither', () => {
    expect(problemsOf(() => normaliseWebhook({ text: 'disk full' }))).toEqual([
      '(top level): not an Alertmanager webhook (needs version "4" and alerts) nor a Nightingale event (needs rule_name and hash)',
    ]);
  });
});
