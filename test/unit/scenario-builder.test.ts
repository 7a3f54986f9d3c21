import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gunzipSync } from 'node:zlib';
import { parse } from 'yaml';
import {
  buildScenario,
  parseScenarioSpec,
  type ResolvedScenarioSpec,
  renderScenario,
  ScenarioSpecError,
} from '../support/scenario-builder';

const SPEC_DIR = join(__dirname, '..', 'fixtures', 'specs');
const SAMPLE_LINE =
  /^([a-zA-Z_:][a-zA-Z0-9_:]*)\{service="([a-z0-9-]+)",namespace="([a-z0-9-]+)"\} (-?\d+(?:\.\d+)?) (\d+)$/;
const at = (text: string) => Date.parse(text) / 1000;

function loadSpec(name: string): ResolvedScenarioSpec {
  return parseScenarioSpec(JSON.parse(readFileSync(join(SPEC_DIR, `${name}.json`), 'utf8')));
}

/** the same spec with one day of history, so its evaluation day (2026-11-04) stays but files are small */
function oneDayOf(name: string): ResolvedScenarioSpec {
  return { ...loadSpec(name), start: '2026-11-03T00:00:00Z', historyDays: 1 };
}

type Series = Map<number, number>;

function parseMetrics(text: string): Map<string, Series> {
  const out = new Map<string, Series>();
  for (const line of text.split('\n')) {
    if (line === '' || line.startsWith('#')) continue;
    const m = SAMPLE_LINE.exec(line);
    if (!m) throw new Error(`malformed sample line: ${line}`);
    const key = `${m[1]}|${m[2]}`;
    let series = out.get(key);
    if (!series) {
      series = new Map();
      out.set(key, series);
    }
    series.set(Number(m[5]), Number(m[4]));
  }
  return out;
}

function values(series: Series | undefined, from: string, to: string): number[] {
  if (!series) throw new Error('missing series');
  return [...series].filter(([t]) => t >= at(from) && t < at(to)).map(([, v]) => v);
}

const mean = (v: number[]) => v.reduce((a, b) => a + b, 0) / v.length;

function jsonLines<T = Record<string, unknown>>(text: string): T[] {
  return text
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => JSON.parse(l) as T);
}

interface Delivery {
  receivedAt: string;
  payload: {
    version: string;
    status: string;
    groupKey: string;
    alerts: { status: string; labels: Record<string, string>; startsAt: string; endsAt: string }[];
  };
}

describe('scenario builder', () => {
  const tmp = mkdtempSync(join(tmpdir(), 'scenario-builder-'));
  const dir = (name: string) => join(tmp, name);
  const read = (d: string, file: string) => readFileSync(join(dir(d), file), 'utf8');
  const parsed = new Map<string, Map<string, Series>>();
  const metricsOf = (d: string) => {
    let m = parsed.get(d);
    if (!m) {
      m = parseMetrics(read(d, 'metrics.om'));
      parsed.set(d, m);
    }
    return m;
  };

  beforeAll(() => {
    buildScenario(oneDayOf('order-api-bad-deploy'), dir('bad-deploy'));
    buildScenario(oneDayOf('mysql-disk-fill'), dir('disk-fill'));
    buildScenario(oneDayOf('wallet-errors-during-surge'), dir('surge'));
    buildScenario(oneDayOf('mysql-main-saturation'), dir('saturation'));
  });

  afterAll(() => rmSync(tmp, { recursive: true, force: true }));

  test('the same spec gives byte-identical files, plain and gzipped', () => {
    buildScenario(oneDayOf('order-api-bad-deploy'), dir('bad-deploy-again'));
    buildScenario(oneDayOf('order-api-bad-deploy'), dir('gz'), { gzipMetrics: true });
    const files = readdirSync(dir('bad-deploy')).sort();
    expect(readdirSync(dir('bad-deploy-again')).sort()).toEqual(files);
    for (const f of files) {
      expect(readFileSync(join(dir('bad-deploy-again'), f)).equals(readFileSync(join(dir('bad-deploy'), f)))).toBe(
        true,
      );
    }
    // the gzipped variant holds the same text (and zlib output is a pure function of its input)
    const gz = readdirSync(dir('gz')).sort();
    expect(gz).toEqual(files.map((f) => (f === 'metrics.om' ? 'metrics.om.gz' : f)).sort());
    const unzipped = gunzipSync(readFileSync(join(dir('gz'), 'metrics.om.gz'))).toString('utf8');
    expect(unzipped).toBe(read('bad-deploy', 'metrics.om'));
    expect(read('gz', 'alerts.jsonl')).toBe(read('bad-deploy', 'alerts.jsonl'));
  });

  test('a different seed gives different noise', () => {
    const spec = { ...oneDayOf('order-api-bad-deploy'), start: '2026-11-04T00:00:00Z', historyDays: 0 };
    const a = renderScenario(spec).files.get('metrics.om');
    const b = renderScenario({ ...spec, seed: 12 }).files.get('metrics.om');
    expect(a?.equals(b ?? Buffer.alloc(0))).toBe(false);
  });

  test('every file is present and well-formed', () => {
    expect(readdirSync(dir('bad-deploy')).sort()).toEqual([
      'alerts.jsonl',
      'deploys.jsonl',
      'k8s-events.json',
      'logs.jsonl',
      'metrics.om',
      'scenario.yaml',
      'truth.json',
      'truth.yaml',
    ]);

    const scenario = parse(read('bad-deploy', 'scenario.yaml'));
    expect(scenario).toMatchObject({
      name: 'order-api-bad-deploy',
      start: '2026-11-03T00:00:00Z',
      end: '2026-11-05T00:00:00Z',
      evaluateFrom: '2026-11-04T00:00:00Z',
      step: '60s',
    });
    expect(scenario.topology.services).toHaveLength(7);
    expect(scenario.topology.services[1]).toEqual({
      name: 'order-api',
      kind: 'service',
      criticality: 'core',
      namespace: 'trading',
      deployment: 'order-api',
      replicas: 6,
      dependsOn: ['matching-engine', 'mysql-main', 'redis-cache'],
    });
    expect(scenario.topology.services[5]).toEqual({
      name: 'mysql-main',
      kind: 'datastore',
      criticality: 'core',
      namespace: 'data',
      dependsOn: [],
    });

    const metrics = read('bad-deploy', 'metrics.om');
    expect(metrics.endsWith('# EOF\n')).toBe(true);
    const lines = metrics.trimEnd().split('\n');
    const families: string[] = [];
    const problems: string[] = [];
    let family = '';
    const [from, to] = [at('2026-11-03T00:00:00Z'), at('2026-11-05T00:00:00Z')];
    for (const line of lines.slice(0, -1)) {
      const type = /^# TYPE (\S+) gauge$/.exec(line);
      if (type) {
        if (families.includes(type[1])) problems.push(`family repeated: ${line}`);
        families.push(type[1]);
        family = type[1];
        continue;
      }
      const m = SAMPLE_LINE.exec(line);
      const t = Number(m?.[5]);
      if (!m || m[1] !== family || t < from || t >= to) problems.push(line);
    }
    expect(problems).toEqual([]);
    expect(families).toEqual([
      'service:http_requests:rate1m',
      'service:http_errors:ratio_rate1m',
      'service:http_request_duration_seconds:p99',
      'service:container_cpu_usage:ratio',
      'service:container_memory_working_set:ratio',
      'service:kube_pod_restarts:increase5m',
      'datastore:connections_used:ratio',
      'datastore:query_duration_seconds:p99',
      'node:filesystem_avail:ratio',
    ]);
    const series = parseMetrics(metrics);
    expect(series.size).toBe(38);
    expect(series.get('service:http_requests:rate1m|order-api')?.size).toBe(2 * 1440);

    const pushes = jsonLines<{ streams: { stream: Record<string, string>; values: [string, string][] }[] }>(
      read('bad-deploy', 'logs.jsonl'),
    );
    expect(pushes.length).toBeGreaterThan(100);
    for (const push of pushes) {
      expect(push.streams.length).toBeGreaterThan(0);
      for (const s of push.streams) {
        expect(Object.keys(s.stream).sort()).toEqual(['level', 'namespace', 'service']);
        for (const [ns, line] of s.values) {
          expect(ns).toMatch(/^\d{19}$/);
          expect(line.length).toBeGreaterThan(10);
        }
      }
    }

    const events = JSON.parse(read('bad-deploy', 'k8s-events.json'));
    expect(events).toMatchObject({ apiVersion: 'v1', kind: 'EventList' });
    for (const e of events.items) {
      expect(e).toMatchObject({ apiVersion: 'v1', kind: 'Event', count: expect.any(Number) });
      expect(e.involvedObject.namespace).toBe(e.metadata.namespace);
      expect(Date.parse(e.lastTimestamp)).toBeGreaterThanOrEqual(Date.parse(e.firstTimestamp));
    }

    const deploys = jsonLines(read('bad-deploy', 'deploys.jsonl'));
    expect(deploys).toEqual([
      {
        time: '2026-11-04T03:03:00Z',
        service: 'order-api',
        namespace: 'trading',
        version: 'v2.4.0',
        previousVersion: 'v2.3.9',
        actor: 'argocd',
        source: 'argocd',
      },
      expect.objectContaining({ time: '2026-11-04T10:00:00Z', service: 'market-data', namespace: 'market' }),
    ]);

    const deliveries = jsonLines<Delivery>(read('bad-deploy', 'alerts.jsonl'));
    const received = deliveries.map((d) => Date.parse(d.receivedAt));
    expect(received).toEqual([...received].sort((a, b) => a - b));
    for (const d of deliveries) {
      expect(d.payload.version).toBe('4');
      expect(d.payload.alerts.length).toBeGreaterThan(0);
      for (const a of d.payload.alerts) expect(['firing', 'resolved']).toContain(a.status);
    }

    expect(parse(read('bad-deploy', 'truth.yaml'))).toEqual(JSON.parse(read('bad-deploy', 'truth.json')));
  });

  test('bad deploy: order-api errors and p99 jump at 03:05, api-gateway a minute later, after a deploy at 03:03', () => {
    const m = metricsOf('bad-deploy');
    const err = m.get('service:http_errors:ratio_rate1m|order-api');
    const p99 = m.get('service:http_request_duration_seconds:p99|order-api');
    expect(mean(values(err, '2026-11-04T02:00:00Z', '2026-11-04T03:05:00Z'))).toBeLessThan(0.005);
    expect(mean(values(err, '2026-11-04T03:08:00Z', '2026-11-04T03:50:00Z'))).toBeGreaterThan(0.07);
    const p99Ratio =
      mean(values(p99, '2026-11-04T03:08:00Z', '2026-11-04T03:50:00Z')) /
      mean(values(p99, '2026-11-04T02:00:00Z', '2026-11-04T03:05:00Z'));
    expect(p99Ratio).toBeGreaterThan(2.2);
    expect(p99Ratio).toBeLessThan(3.5);
    // recovered after the window
    expect(mean(values(err, '2026-11-04T04:00:00Z', '2026-11-04T05:00:00Z'))).toBeLessThan(0.005);

    // the effect ramps in over three minutes; the caller sees it one minute after the root
    const firstAbove = (series: Series | undefined, threshold: number) =>
      [...(series ?? [])].find(([t, v]) => t >= at('2026-11-04T00:00:00Z') && v > threshold)?.[0];
    expect(firstAbove(err, 0.0065)).toBe(at('2026-11-04T03:05:00Z'));
    const gateway = m.get('service:http_errors:ratio_rate1m|api-gateway');
    expect(firstAbove(gateway, 0.0065)).toBe(at('2026-11-04T03:06:00Z'));
    expect(mean(values(gateway, '2026-11-04T03:09:00Z', '2026-11-04T03:50:00Z'))).toBeLessThan(0.04);

    const events = JSON.parse(read('bad-deploy', 'k8s-events.json')).items as {
      reason: string;
      firstTimestamp: string;
    }[];
    expect(
      events.some((e) => e.reason === 'ScalingReplicaSet' && e.firstTimestamp.startsWith('2026-11-04T03:03')),
    ).toBe(true);

    // error lines carry the numbers, ids and addresses a signature normaliser has to strip
    const lines = jsonLines<{ streams: { stream: Record<string, string>; values: [string, string][] }[] }>(
      read('bad-deploy', 'logs.jsonl'),
    ).flatMap((p) => p.streams.filter((s) => s.stream.service === 'order-api' && s.stream.level === 'error'));
    const text = lines.flatMap((s) => s.values.map(([, l]) => l));
    expect(text.length).toBeGreaterThan(100);
    expect(text.some((l) => /\b10\.\d+\.\d+\.\d+\b/.test(l))).toBe(true);
    expect(text.some((l) => /[0-9a-f]{8}-[0-9a-f]{4}-/.test(l))).toBe(true);
    expect(new Set(text).size).toBeGreaterThan(text.length * 0.9);
  });

  test('benign events leave quiet windows and no regression', () => {
    const truth = JSON.parse(read('bad-deploy', 'truth.json'));
    expect(truth.faults).toEqual([
      {
        id: 'F1',
        start: '2026-11-04T03:05:00Z',
        end: '2026-11-04T03:50:00Z',
        rootCause: 'order-api',
        kind: 'bad-deploy',
        tier: 'MEDIUM',
        actions: ['rollback'],
        breachAt: null,
      },
    ]);
    expect(truth.quiet).toEqual(
      expect.arrayContaining([
        expect.objectContaining({ start: '2026-11-04T10:00:00Z', end: '2026-11-04T10:30:00Z' }),
        expect.objectContaining({ start: '2026-11-04T15:20:00Z', end: '2026-11-04T15:21:00Z' }),
        expect.objectContaining({ note: expect.stringMatching(/^flapping CPUThrottlingHigh/) }),
      ]),
    );
    const m = metricsOf('bad-deploy');
    const err = m.get('service:http_errors:ratio_rate1m|market-data');
    expect(Math.max(...values(err, '2026-11-04T10:00:00Z', '2026-11-04T10:30:00Z'))).toBeLessThan(0.01);
    const p99 = m.get('service:http_request_duration_seconds:p99|wallet-service');
    const [blip] = values(p99, '2026-11-04T15:20:00Z', '2026-11-04T15:21:00Z');
    const around = mean(values(p99, '2026-11-04T15:00:00Z', '2026-11-04T15:20:00Z'));
    expect(blip / around).toBeGreaterThan(1.4);
    expect(Math.max(...values(p99, '2026-11-04T15:21:00Z', '2026-11-04T15:40:00Z')) / around).toBeLessThan(1.3);
  });

  test('disk fill: free space drains linearly to < 2 % around breachAt', () => {
    const truth = JSON.parse(read('disk-fill', 'truth.json'));
    const [fault] = truth.faults;
    expect(fault).toMatchObject({ kind: 'disk-fill', rootCause: 'mysql-main', end: '2026-11-04T11:00:00Z' });
    const breach = at(fault.breachAt);
    expect(breach).toBeGreaterThan(at('2026-11-04T10:00:00Z'));
    expect(breach).toBeLessThan(at('2026-11-04T11:00:00Z'));
    const disk = metricsOf('disk-fill').get('node:filesystem_avail:ratio|mysql-main');
    expect(disk?.get(breach)).toBeLessThan(0.02);
    expect(disk?.get(breach - 600)).toBeGreaterThan(0.02);
    expect(disk?.get(at('2026-11-04T04:59:00Z'))).toBeGreaterThan(0.4);
    const start = disk?.get(at('2026-11-04T05:00:00Z')) ?? 0;
    const middle = disk?.get(at('2026-11-04T08:00:00Z')) ?? 0;
    expect(middle / start).toBeGreaterThan(0.45);
    expect(middle / start).toBeLessThan(0.55);
    // the early-warning alert fires well before the breach
    const deliveries = jsonLines<Delivery>(read('disk-fill', 'alerts.jsonl'));
    const warning = deliveries.find((d) => d.payload.alerts[0].labels.alertname === 'NodeFilesystemSpaceFillingUp');
    expect(Date.parse(warning?.receivedAt ?? '') / 1000).toBeLessThan(breach - 3600);
  });

  test('a scrape gap leaves no samples for that service only', () => {
    const m = metricsOf('disk-fill');
    const gapFrom = at('2026-11-04T12:00:00Z');
    const gapTo = at('2026-11-04T12:06:00Z');
    const marketSeries = [...m].filter(([k]) => k.endsWith('|market-data'));
    expect(marketSeries).toHaveLength(6);
    for (const [, s] of marketSeries) {
      for (let t = gapFrom; t < gapTo; t += 60) expect(s.has(t)).toBe(false);
      expect(s.has(gapFrom - 60)).toBe(true);
      expect(s.has(gapTo)).toBe(true);
    }
    expect(m.get('service:http_requests:rate1m|order-api')?.has(gapFrom)).toBe(true);
    const quiet = JSON.parse(read('disk-fill', 'truth.json')).quiet;
    expect(quiet).toContainEqual(
      expect.objectContaining({ start: '2026-11-04T12:00:00Z', end: '2026-11-04T12:06:00Z' }),
    );
  });

  test('traffic surge and funds-service errors', () => {
    const m = metricsOf('surge');
    const rps = m.get('service:http_requests:rate1m|api-gateway');
    const surge =
      mean(values(rps, '2026-11-04T09:33:00Z', '2026-11-04T09:55:00Z')) /
      mean(values(rps, '2026-11-04T09:00:00Z', '2026-11-04T09:30:00Z'));
    expect(surge).toBeGreaterThan(4);
    expect(surge).toBeLessThan(6);
    const cpu = m.get('service:container_cpu_usage:ratio|api-gateway');
    expect(mean(values(cpu, '2026-11-04T09:35:00Z', '2026-11-04T09:55:00Z'))).toBeGreaterThan(0.9);
    const walletErr = m.get('service:http_errors:ratio_rate1m|wallet-service');
    expect(mean(values(walletErr, '2026-11-04T20:18:00Z', '2026-11-04T20:45:00Z'))).toBeGreaterThan(0.07);

    const walletLines = jsonLines<{ streams: { stream: Record<string, string>; values: [string, string][] }[] }>(
      read('surge', 'logs.jsonl'),
    )
      .flatMap((p) => p.streams)
      .filter((s) => s.stream.service === 'wallet-service' && s.stream.level === 'error')
      .flatMap((s) => s.values.map(([, l]) => l));
    expect(walletLines.length).toBeGreaterThan(50);
    expect(walletLines.every((l) => /withdrawal|wallet|balance|tx 0x/.test(l))).toBe(true);
  });

  test('datastore saturation pins connections and slows every caller; alerts reach each dependant', () => {
    const m = metricsOf('saturation');
    const conn = values(
      m.get('datastore:connections_used:ratio|mysql-main'),
      '2026-11-04T14:10:00Z',
      '2026-11-04T14:45:00Z',
    );
    expect(Math.min(...conn)).toBeGreaterThanOrEqual(0.97);
    expect(Math.max(...conn)).toBeLessThanOrEqual(0.99);
    for (const caller of ['order-api', 'wallet-service']) {
      const p99 = m.get(`service:http_request_duration_seconds:p99|${caller}`);
      const ratio =
        mean(values(p99, '2026-11-04T14:14:00Z', '2026-11-04T14:45:00Z')) /
        mean(values(p99, '2026-11-04T13:30:00Z', '2026-11-04T14:10:00Z'));
      expect(ratio).toBeGreaterThan(2);
    }
    const deliveries = jsonLines<Delivery>(read('saturation', 'alerts.jsonl'));
    const services = new Set(
      deliveries.flatMap((d) =>
        d.payload.alerts.filter((a) => a.labels.alertname !== 'CPUThrottlingHigh').map((a) => a.labels.service),
      ),
    );
    expect(services).toEqual(new Set(['mysql-main', 'order-api', 'wallet-service', 'api-gateway', undefined]));
  });

  test('alerts.jsonl looks like an HA Prometheus pair behind Alertmanager, and truth counts them', () => {
    const deliveries = jsonLines<Delivery>(read('bad-deploy', 'alerts.jsonl'));
    const truth = JSON.parse(read('bad-deploy', 'truth.json'));
    const raw = deliveries.reduce((n, d) => n + d.payload.alerts.length, 0);
    expect(truth.alerts.raw).toBe(raw);

    const all = deliveries.flatMap((d) => d.payload.alerts);
    expect(new Set(all.map((a) => a.labels.prometheus_replica))).toEqual(
      new Set(['prometheus-k8s-0', 'prometheus-k8s-1']),
    );
    const names = new Set(all.map((a) => a.labels.alertname));
    for (const n of ['Watchdog', 'CPUThrottlingHigh', 'HighErrorRate', 'HighLatencyP99']) expect(names).toContain(n);
    // a symptom alert on the root and on its caller, each later resolved
    for (const svc of ['order-api', 'api-gateway']) {
      const mine = all.filter((a) => a.labels.alertname === 'HighErrorRate' && a.labels.service === svc);
      expect(mine.some((a) => a.status === 'firing')).toBe(true);
      expect(mine.some((a) => a.status === 'resolved')).toBe(true);
    }
    // repeats every 5 minutes while firing
    const group = deliveries.filter((d) =>
      d.payload.groupKey.includes('alertname="HighErrorRate", service="order-api"'),
    );
    const gaps = group
      .slice(1)
      .map((d, k) => Math.round((Date.parse(d.receivedAt) - Date.parse(group[k].receivedAt)) / 1000));
    expect(gaps.length).toBeGreaterThan(5);
    expect(new Set(gaps)).toEqual(new Set([300]));
    // the flapping alert fires and resolves over and over
    const flaps = new Set(all.filter((a) => a.labels.alertname === 'CPUThrottlingHigh').map((a) => a.startsAt));
    expect(flaps.size).toBeGreaterThanOrEqual(10);
    // the Watchdog heartbeat covers the evaluation day
    const watchdog = deliveries.filter((d) => d.payload.alerts[0].labels.alertname === 'Watchdog');
    expect(watchdog).toHaveLength(288);
  });

  test('invalid specs are rejected naming the offending field', () => {
    const spec = loadSpec('order-api-bad-deploy');
    const badDependency = {
      ...spec,
      services: spec.services.map((s) => (s.name === 'order-api' ? { ...s, dependsOn: ['matching-engin'] } : s)),
    };
    expect(() => parseScenarioSpec(badDependency)).toThrow(ScenarioSpecError);
    expect(() => parseScenarioSpec(badDependency)).toThrow(
      /services\[1\]\.dependsOn\[0\]: unknown service "matching-engin"/,
    );

    const badFault = { ...spec, faults: [{ ...spec.faults[0], service: 'orders-api' }] };
    expect(() => buildScenario(badFault, dir('never'))).toThrow(/faults\[0\]\.service: unknown service "orders-api"/);
    expect(readdirSync(tmp)).not.toContain('never');

    expect(() => parseScenarioSpec({ ...spec, faults: [{ ...spec.faults[0], kind: 'gremlins' }] })).toThrow(
      /faults\[0\]\.kind/,
    );
    expect(() => parseScenarioSpec({ ...spec, services: [{ ...spec.services[0], dependOn: [] }] })).toThrow(
      /services\[0\]: Unrecognized key: "dependOn"/,
    );
    expect(() =>
      parseScenarioSpec({
        ...spec,
        faults: [{ ...spec.faults[0], kind: 'funds-service-errors', service: 'order-api' }],
      }),
    ).toThrow(/faults\[0\]\.service: funds-service-errors needs a service with criticality funds/);
    expect(() =>
      parseScenarioSpec({ ...spec, faults: [{ ...spec.faults[0], start: '2026-12-01T00:00:00Z' }] }),
    ).toThrow(/faults\[0\]\.start: .* is outside the scenario/);
  });
});
