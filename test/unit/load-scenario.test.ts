import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { loadScenario, ScenarioFormatError } from '../../lambdas/adapters/scenario/load-scenario';

const SCENARIO_YAML = `name: tiny
description: one bad deploy
start: 2026-11-01T00:00:00Z
end: "2026-11-01T01:00:00Z"
evaluateFrom: 2026-11-01T00:30:00Z
step: 60s
topology:
  services:
    - name: order-api
      criticality: core
      namespace: trading
      deployment: order-api
      replicas: 3
      dependsOn: [mysql-main]
    - name: mysql-main
      kind: datastore
      namespace: data
`;

const T = Date.parse('2026-11-01T00:00:00Z') / 1000;
const METRICS = [
  '# TYPE service:http_requests:rate1m gauge',
  `service:http_requests:rate1m{service="order-api",namespace="trading"} 100 ${T}`,
  `service:http_requests:rate1m{service="order-api",namespace="trading"} 101 ${T + 60}`,
  '# EOF',
  '',
].join('\n');

const loki = (service: string, ns: string, line: string): string =>
  JSON.stringify({ streams: [{ stream: { service, level: 'error' }, values: [[ns, line]] }] });

const LOGS = [
  loki('order-api', '1793494860123456789', 'second'),
  '',
  JSON.stringify({
    streams: [
      {
        stream: { service: 'order-api' },
        values: [
          ['1793494800000000000', 'first'],
          ['1793494920000000000', 'third', { trace_id: 'abc' }],
        ],
      },
    ],
  }),
].join('\n');

const EVENTS = {
  apiVersion: 'v1',
  kind: 'EventList',
  items: [
    {
      apiVersion: 'v1',
      kind: 'Event',
      metadata: { name: 'order-api.1', namespace: 'trading', uid: 'u1' },
      involvedObject: { kind: 'Deployment', name: 'order-api', namespace: 'trading' },
      reason: 'ScalingReplicaSet',
      message: 'Scaled up replica set order-api-v2 to 3',
      type: 'Normal',
      count: 2,
      firstTimestamp: '2026-11-01T00:40:00Z',
      lastTimestamp: '2026-11-01T00:41:00Z',
      source: { component: 'deployment-controller' },
    },
    {
      metadata: { name: 'order-api-x.2', namespace: 'trading' },
      involvedObject: { kind: 'Pod', name: 'order-api-x' },
      reason: 'BackOff',
      message: 'Back-off restarting failed container',
      type: 'Warning',
      firstTimestamp: null,
      lastTimestamp: null,
      eventTime: '2026-11-01T00:35:00.123456Z',
      reportingComponent: 'kubelet',
    },
  ],
  metadata: {},
};

const DEPLOYS = `${JSON.stringify({
  time: '2026-11-01T00:40:00Z',
  service: 'order-api',
  namespace: 'trading',
  version: 'v2',
  previousVersion: 'v1',
  actor: 'argocd',
  source: 'argocd',
  commit: 'abc123',
})}\n`;

const webhook = (status: 'firing' | 'resolved', alertname: string) => ({
  version: '4',
  status,
  receiver: 'sre-agent',
  groupKey: `{}:{alertname="${alertname}"}`,
  truncatedAlerts: 0,
  groupLabels: { alertname },
  commonLabels: { alertname },
  commonAnnotations: {},
  externalURL: 'http://alertmanager:9093',
  alerts: [
    {
      status,
      labels: { alertname, service: 'order-api' },
      annotations: { summary: 'errors' },
      startsAt: '2026-11-01T00:41:00Z',
      endsAt: '0001-01-01T00:00:00Z',
      generatorURL: 'http://prometheus/graph',
      fingerprint: 'f1',
    },
  ],
});

const ALERTS = [
  { receivedAt: '2026-11-01T00:45:00Z', payload: webhook('resolved', 'HighErrorRate') },
  { receivedAt: '2026-11-01T00:42:00Z', payload: webhook('firing', 'HighErrorRate') },
];

type Files = Record<string, string | Buffer | null>;

const FULL: Files = {
  'scenario.yaml': SCENARIO_YAML,
  'metrics.om': METRICS,
  'logs.jsonl': LOGS,
  'k8s-events.json': JSON.stringify(EVENTS, null, 1),
  'deploys.jsonl': DEPLOYS,
  'alerts.jsonl': ALERTS.map((a) => JSON.stringify(a)).join('\n'),
};

let root: string;
beforeEach(() => {
  root = mkdtempSync(join(tmpdir(), 'scenario-'));
});
afterEach(() => rmSync(root, { recursive: true, force: true }));

/** Writes a scenario directory: FULL with `changes` applied (null removes a file). */
function scenarioDir(changes: Files = {}): string {
  const dir = join(root, 'scn');
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries({ ...FULL, ...changes })) {
    if (content !== null) writeFileSync(join(dir, name), content);
  }
  return dir;
}

async function loadError(dir: string): Promise<ScenarioFormatError> {
  try {
    await loadScenario(dir);
  } catch (error) {
    if (error instanceof ScenarioFormatError) return error;
    throw error;
  }
  throw new Error('expected loadScenario to fail');
}

describe('loadScenario', () => {
  it('loads every file into typed, time-sorted records', async () => {
    const dir = scenarioDir();
    const scenario = await loadScenario(dir);

    expect(scenario).toMatchObject({
      dir,
      name: 'tiny',
      description: 'one bad deploy',
      start: Date.parse('2026-11-01T00:00:00Z'),
      end: Date.parse('2026-11-01T01:00:00Z'),
      evaluateFrom: Date.parse('2026-11-01T00:30:00Z'),
      stepSeconds: 60,
      warnings: [],
    });
    expect(scenario.topology.services.map((s) => [s.name, s.kind, s.criticality])).toEqual([
      ['order-api', 'service', 'core'],
      ['mysql-main', 'datastore', 'standard'],
    ]);
    expect(scenario.metrics.seriesCount).toBe(1);
    expect(scenario.metrics.sampleCount).toBe(2);

    expect(scenario.logs).toEqual([
      { time: 1793494800000, labels: { service: 'order-api' }, line: 'first' },
      { time: 1793494860123, labels: { service: 'order-api', level: 'error' }, line: 'second' },
      { time: 1793494920000, labels: { service: 'order-api' }, line: 'third', metadata: { trace_id: 'abc' } },
    ]);

    expect(scenario.events).toEqual([
      {
        time: Date.parse('2026-11-01T00:35:00.123Z'),
        name: 'order-api-x.2',
        namespace: 'trading',
        type: 'Warning',
        reason: 'BackOff',
        message: 'Back-off restarting failed container',
        count: 1,
        involvedObject: { kind: 'Pod', name: 'order-api-x' },
        component: 'kubelet',
      },
      {
        time: Date.parse('2026-11-01T00:41:00Z'),
        firstTimestamp: Date.parse('2026-11-01T00:40:00Z'),
        lastTimestamp: Date.parse('2026-11-01T00:41:00Z'),
        name: 'order-api.1',
        namespace: 'trading',
        type: 'Normal',
        reason: 'ScalingReplicaSet',
        message: 'Scaled up replica set order-api-v2 to 3',
        count: 2,
        involvedObject: { kind: 'Deployment', name: 'order-api', namespace: 'trading' },
        component: 'deployment-controller',
      },
    ]);

    expect(scenario.deploys).toEqual([
      {
        time: Date.parse('2026-11-01T00:40:00Z'),
        service: 'order-api',
        namespace: 'trading',
        version: 'v2',
        previousVersion: 'v1',
        actor: 'argocd',
        source: 'argocd',
      },
    ]);

    // Sorted by receipt; payloads exactly as delivered.
    expect(scenario.alerts.map((a) => a.receivedAt)).toEqual([
      Date.parse('2026-11-01T00:42:00Z'),
      Date.parse('2026-11-01T00:45:00Z'),
    ]);
    expect(scenario.alerts[0].payload).toEqual(ALERTS[1].payload);
    expect(scenario.alerts[1].payload).toEqual(ALERTS[0].payload);

    expect(scenario.files.map((f) => f.slice(dir.length + 1))).toEqual([
      'scenario.yaml',
      'metrics.om',
      'logs.jsonl',
      'k8s-events.json',
      'deploys.jsonl',
      'alerts.jsonl',
    ]);
  });

  it('reads gzip-compressed metrics and treats absent optional files as empty', async () => {
    const dir = scenarioDir({
      'metrics.om': null,
      'metrics.om.gz': gzipSync(METRICS),
      'logs.jsonl': null,
      'k8s-events.json': null,
      'deploys.jsonl': null,
      'alerts.jsonl': null,
    });
    const scenario = await loadScenario(dir);
    expect(scenario.metrics.sampleCount).toBe(2);
    expect([scenario.logs, scenario.events, scenario.deploys, scenario.alerts]).toEqual([[], [], [], []]);
    expect(scenario.files.map((f) => f.slice(dir.length + 1))).toEqual(['scenario.yaml', 'metrics.om.gz']);
  });

  it('warns when the metrics lie outside [start, end)', async () => {
    const late = METRICS.replace(`101 ${T + 60}`, `101 ${T + 7200}`);
    const scenario = await loadScenario(scenarioDir({ 'metrics.om': late }));
    expect(scenario.warnings).toEqual([expect.stringContaining('outside [start, end) of scenario.yaml')]);
  });

  it('never opens truth.yaml or truth.json', async () => {
    const dir = scenarioDir();
    // As directories, any attempt to read them would fail (chmod 000 would not stop root).
    mkdirSync(join(dir, 'truth.yaml'));
    mkdirSync(join(dir, 'truth.json'));
    writeFileSync(join(dir, 'truth.yaml', 'faults.yaml'), 'faults: []\n');

    const touched: string[] = [];
    const spies: jest.SpyInstance[] = [];
    for (const mod of [jest.requireActual('node:fs'), jest.requireActual('node:fs/promises')]) {
      for (const key of Object.keys(mod)) {
        if (typeof mod[key] !== 'function' || /^[A-Z]/.test(key)) continue;
        try {
          const original = mod[key];
          spies.push(
            jest.spyOn(mod, key).mockImplementation((...args: unknown[]) => {
              for (const arg of args) if (typeof arg === 'string' || arg instanceof URL) touched.push(String(arg));
              return original.apply(mod, args);
            }),
          );
        } catch {
          // Not every property can be replaced; the readers used by the loader can.
        }
      }
    }
    try {
      const scenario = await loadScenario(dir);
      expect(scenario.name).toBe('tiny');
    } finally {
      for (const spy of spies) spy.mockRestore();
    }
    expect(touched.some((p) => p.endsWith('scenario.yaml'))).toBe(true);
    expect(touched.some((p) => p.endsWith('metrics.om'))).toBe(true);
    expect(touched.filter((p) => p.includes('truth'))).toEqual([]);
  });

  describe('errors name the file and the line or field', () => {
    it('a missing directory', async () => {
      const error = await loadError(join(root, 'nope'));
      expect(error.message).toBe(`${join(root, 'nope')}: scenario directory not found`);
    });

    it('a path that is a file', async () => {
      writeFileSync(join(root, 'file'), '');
      expect((await loadError(join(root, 'file'))).message).toContain('is not a directory');
    });

    it('a missing scenario.yaml', async () => {
      const dir = scenarioDir({ 'scenario.yaml': null });
      const error = await loadError(dir);
      expect(error.file).toBe(join(dir, 'scenario.yaml'));
      expect(error.message).toContain('scenario.yaml: missing: every scenario needs scenario.yaml');
    });

    it('missing metrics', async () => {
      const error = await loadError(scenarioDir({ 'metrics.om': null }));
      expect(error.message).toContain(
        'metrics.om: missing: every scenario needs its metrics as metrics.om or metrics.om.gz',
      );
    });

    it('both metrics.om and metrics.om.gz', async () => {
      const error = await loadError(scenarioDir({ 'metrics.om.gz': gzipSync(METRICS) }));
      expect(error.message).toContain('both metrics.om and metrics.om.gz exist');
    });

    it('malformed metrics, with the line', async () => {
      const error = await loadError(scenarioDir({ 'metrics.om': METRICS.replace(' 101 ', ' x101 ') }));
      expect(error.message).toContain(
        'metrics.om:3: sample for "service:http_requests:rate1m" has a non-numeric value "x101"',
      );
    });

    it('malformed YAML, with the line', async () => {
      const error = await loadError(scenarioDir({ 'scenario.yaml': 'name: x\nstart: [1, 2\nend: 3\n' }));
      expect(error.line).toBeGreaterThan(1);
      expect(error.message).toMatch(/scenario\.yaml:\d+: YAML syntax: /);
    });

    it('an unknown dependency, with its path and line', async () => {
      const yaml = SCENARIO_YAML.replace('dependsOn: [mysql-main]', 'dependsOn: [mysql-main, x]');
      const error = await loadError(scenarioDir({ 'scenario.yaml': yaml }));
      expect(error.message).toContain(
        'scenario.yaml:14: topology.services[0].dependsOn[1]: unknown service "x" (known: order-api, mysql-main)',
      );
      expect(error.line).toBe(14);
    });

    it('evaluateFrom outside [start, end)', async () => {
      const yaml = SCENARIO_YAML.replace('evaluateFrom: 2026-11-01T00:30:00Z', 'evaluateFrom: 2026-11-01T01:00:00Z');
      const error = await loadError(scenarioDir({ 'scenario.yaml': yaml }));
      expect(error.message).toContain(
        'scenario.yaml:5: evaluateFrom: 2026-11-01T01:00:00Z is outside [start, end) = [2026-11-01T00:00:00Z, 2026-11-01T01:00:00Z)',
      );
    });

    it('several bad fields at once, each with its line', async () => {
      const yaml = SCENARIO_YAML.replace('step: 60s', 'step: 60')
        .replace('start: 2026-11-01T00:00:00Z', 'start: yesterday')
        .replace('name: tiny', 'name: tiny\nowner: sre');
      const error = await loadError(scenarioDir({ 'scenario.yaml': yaml }));
      expect(error.problems).toEqual([
        'line 4: start: must be an RFC 3339 time such as 2026-11-04T03:02:00Z',
        'line 7: step: must be a duration such as 60s or 1m',
        'line 2: (top level): Unrecognized key: "owner"',
      ]);
      expect(error.message).toMatch(/scenario\.yaml: 3 problems\n {2}- line 4: start:/);
    });

    it('a step that is not a duration', async () => {
      const error = await loadError(scenarioDir({ 'scenario.yaml': SCENARIO_YAML.replace('60s', '1 minute') }));
      expect(error.message).toContain('scenario.yaml:6: step: must be a duration of at least one second');
    });

    it('malformed JSON in logs.jsonl, with the line', async () => {
      const error = await loadError(scenarioDir({ 'logs.jsonl': `${LOGS}\n{"streams": [` }));
      expect(error.file.endsWith('logs.jsonl')).toBe(true);
      expect(error.message).toMatch(/logs\.jsonl:4: invalid JSON: /);
    });

    it('a bad Loki timestamp, with the line and field', async () => {
      const error = await loadError(scenarioDir({ 'logs.jsonl': loki('a', '2026-11-01T00:00:00Z', 'x') }));
      expect(error.message).toContain('logs.jsonl:1: streams[0].values[0]');
    });

    it('a deploy without a service, with the line and field', async () => {
      const error = await loadError(
        scenarioDir({ 'deploys.jsonl': `${DEPLOYS}${JSON.stringify({ time: '2026-11-01T00:50:00Z' })}\n` }),
      );
      expect(error.message).toContain('deploys.jsonl:2: service: ');
    });

    it('a deploy with a bad time', async () => {
      const error = await loadError(
        scenarioDir({ 'deploys.jsonl': JSON.stringify({ time: 'noon', service: 'order-api' }) }),
      );
      expect(error.message).toContain('deploys.jsonl:1: time: must be an RFC 3339 time');
    });

    it('an alert delivery that is not an Alertmanager v4 webhook', async () => {
      const bad = { receivedAt: '2026-11-01T00:42:00Z', payload: { ...webhook('firing', 'X'), version: '3' } };
      const error = await loadError(
        scenarioDir({ 'alerts.jsonl': `${JSON.stringify(ALERTS[0])}\n${JSON.stringify(bad)}\n` }),
      );
      expect(error.message).toContain('alerts.jsonl:2: payload.version: ');
    });

    it('malformed JSON in k8s-events.json, with the line', async () => {
      const text = JSON.stringify(EVENTS, null, 1).replace('"reason": "BackOff",', '"reason": "BackOff",,');
      const error = await loadError(scenarioDir({ 'k8s-events.json': text }));
      const line = text.split('\n').findIndex((l) => l.includes(',,')) + 1;
      expect(error.message).toMatch(new RegExp(`k8s-events\\.json:${line}: invalid JSON: `));
    });

    it('an event list of the wrong kind or an event without a time', async () => {
      const wrongKind = await loadError(
        scenarioDir({ 'k8s-events.json': JSON.stringify({ ...EVENTS, kind: 'PodList' }) }),
      );
      expect(wrongKind.message).toContain('k8s-events.json: kind: ');
      const noTime = {
        ...EVENTS,
        items: [{ metadata: { name: 'e' }, involvedObject: {}, firstTimestamp: null, lastTimestamp: null }],
      };
      const error = await loadError(scenarioDir({ 'k8s-events.json': JSON.stringify(noTime) }));
      expect(error.message).toContain('k8s-events.json: items[0]: has no time');
    });

    it('an optional file that is a directory', async () => {
      const dir = scenarioDir({ 'alerts.jsonl': null });
      mkdirSync(join(dir, 'alerts.jsonl'));
      expect((await loadError(dir)).message).toContain('alerts.jsonl: is a directory');
    });
  });
});
