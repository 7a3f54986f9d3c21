// ScenarioLogSource and the shared LogQL building: Loki's window semantics, the LogQL subset, escaping, config.

import { join } from 'node:path';
import { type LogRecord, loadScenario } from '../../lambdas/adapters/scenario/load-scenario';
import { compileLogQuery, ScenarioLogSource } from '../../lambdas/adapters/scenario/scenario-log-source';
import {
  DEFAULT_ERROR_FILTER,
  DEFAULT_LOG_SELECTOR,
  logSourceSchema,
} from '../../lambdas/core/config/log-source-schema';
import {
  errorCountQuery,
  errorLinesQuery,
  type LogQueryError,
  logqlString,
  renderSelector,
  selectorTemplateProblem,
} from '../../lambdas/core/perception/log-source';
import type { Result } from '../../lambdas/core/result';

const T0 = 1_800_000_000; // whole minute, epoch seconds
const at = (seconds: number) => (T0 + seconds) * 1000;

function record(seconds: number, service: string, line: string, extra: Record<string, string> = {}): LogRecord {
  return { time: at(seconds), labels: { service, namespace: 'trading', ...extra }, line };
}

function expectOk<T>(result: Result<T, LogQueryError>): T {
  if (!result.ok) throw new Error(`expected success, got ${JSON.stringify(result.error)}`);
  return result.value;
}

function expectFail<T>(result: Result<T, LogQueryError>): LogQueryError {
  if (result.ok) throw new Error(`expected a failure, got ${JSON.stringify(result.value)}`);
  return result.error;
}

const LOGS: LogRecord[] = [
  record(0, 'order-api', 'ERROR on the range start'),
  record(30, 'order-api', 'ERROR upstream timeout'),
  record(45, 'order-api', 'request served in 12ms'),
  record(60, 'order-api', 'Exception in thread main'),
  record(61, 'order-api', 'FATAL out of memory'),
  record(90, 'order-api-canary', 'ERROR from the canary'),
  record(120, 'order-api', 'panic: nil map'),
  record(150, 'wallet', 'ERROR wallet'),
  record(180, 'order-api', 'ERROR on the range end'),
  record(181, 'order-api', 'ERROR after the range'),
];

describe('ScenarioLogSource: errorCounts', () => {
  const logs = new ScenarioLogSource([...LOGS].reverse());

  it('counts error lines per (t - step, t] window, as Loki evaluates count_over_time', async () => {
    const counts = expectOk(await logs.errorCounts('order-api', T0, T0 + 180, 60));
    expect(counts).toEqual({
      service: 'order-api',
      query:
        'sum by (service) (count_over_time({service="order-api"} |~ "(?i)(error|exception|fatal|panic|fail|timed? ?out|refused)" [60s]))',
      stepSeconds: 60,
      timestamps: [T0 + 60, T0 + 120, T0 + 180],
      // (0, 60]: timeout, Exception; (60, 120]: FATAL, panic; (120, 180]: range end. Not the line at 0 nor 181.
      counts: [2, 2, 1],
      total: 5,
    });
  });

  it('drops a last partial step, as the windows end on whole steps', async () => {
    const counts = expectOk(await logs.errorCounts('order-api', T0, T0 + 150, 60));
    expect(counts.timestamps).toEqual([T0 + 60, T0 + 120]);
    expect(counts.total).toBe(4);
  });

  it('refuses bad ranges with the words the Loki source uses', async () => {
    expect(expectFail(await logs.errorCounts('order-api', T0, T0 + 30, 60))).toMatchObject({
      kind: 'query',
      attempts: 0,
      message: `range (${T0}, ${T0 + 30}] is shorter than one 60s step`,
    });
    expect(expectFail(await logs.errorCounts('order-api', T0, T0 + 60, 1.5)).message).toContain('whole number');
    expect(expectFail(await logs.errorCounts('order-api', T0, T0 + 86_400 * 200, 1)).message).toContain('11000');
  });
});

describe('ScenarioLogSource: errorLines', () => {
  const logs = new ScenarioLogSource(LOGS);

  it('returns the newest lines in (start, end] by default, oldest first', async () => {
    const lines = expectOk(await logs.errorLines('order-api', T0, T0 + 180, 3));
    expect(lines.lines.map((line) => line.line)).toEqual([
      'FATAL out of memory',
      'panic: nil map',
      'ERROR on the range end',
    ]);
    expect(lines.truncated).toBe(true);
    expect(lines.query).toBe('{service="order-api"} |~ "(?i)(error|exception|fatal|panic|fail|timed? ?out|refused)"');
  });

  it('returns the oldest lines going forward', async () => {
    const lines = expectOk(await logs.errorLines('order-api', T0, T0 + 180, 2, 'forward'));
    expect(lines.lines.map((line) => line.line)).toEqual(['ERROR upstream timeout', 'Exception in thread main']);
  });

  it('is not truncated when every matching line fits', async () => {
    const lines = expectOk(await logs.errorLines('order-api', T0, T0 + 180, 100));
    expect(lines.lines).toHaveLength(5);
    expect(lines.truncated).toBe(false);
  });

  it('returns structured metadata with the labels but selects on stream labels only', async () => {
    const withMetadata = new ScenarioLogSource([
      { ...record(10, 'order-api', 'ERROR x'), metadata: { trace_id: 'abc' } },
      { ...record(20, 'other', 'ERROR y'), metadata: { service: 'order-api' } },
    ]);
    const lines = expectOk(await withMetadata.errorLines('order-api', T0, T0 + 60, 10));
    expect(lines.lines).toEqual([
      { time: at(10), labels: { service: 'order-api', namespace: 'trading', trace_id: 'abc' }, line: 'ERROR x' },
    ]);
  });

  it('follows a configured template: level label instead of a line filter', async () => {
    const byLevel = new ScenarioLogSource(
      [
        record(10, 'order-api', 'failed to encode OrderAck', { level: 'error' }),
        record(20, 'order-api', 'ERROR mentioned in a warning', { level: 'warn' }),
      ],
      { selector: '{service="<svc>", level="error"}', errorFilter: '' },
    );
    const lines = expectOk(await byLevel.errorLines('order-api', T0, T0 + 60, 10));
    expect(lines.query).toBe('{service="order-api", level="error"}');
    expect(lines.lines.map((line) => line.line)).toEqual(['failed to encode OrderAck']);
  });

  it('reports a template outside the subset as a query error naming the column', async () => {
    const parsed = new ScenarioLogSource(LOGS, { errorFilter: '| json | level="error"' });
    const error = expectFail(await parsed.errorLines('order-api', T0, T0 + 60, 10));
    expect(error).toMatchObject({ kind: 'query', attempts: 0, query: '{service="order-api"} | json | level="error"' });
    expect(error.message).toContain('parse error at column 23');
    expect(error.message).toContain('supported:');
  });
});

describe('the LogQL subset', () => {
  const labels = (extra: Record<string, string>) => ({ service: 'order-api', ...extra });
  function run(query: string, entries: [Record<string, string>, string][]): string[] {
    const compiled = compileLogQuery(query);
    if (!compiled.ok) throw new Error(compiled.error.message);
    const { matchers, filters } = compiled.value;
    return entries
      .filter(
        ([entryLabels, line]) =>
          matchers.every((m) => m.test(entryLabels[m.label] ?? '')) && filters.every((filter) => filter(line)),
      )
      .map(([, line]) => line);
  }

  it('anchors label regexes and treats a missing label as empty', () => {
    const entries: [Record<string, string>, string][] = [
      [labels({ pod: 'order-api-1' }), 'a'],
      [labels({ pod: 'order-api-12' }), 'b'],
      [labels({}), 'c'],
    ];
    expect(run('{service="order-api", pod=~"order-api-\\\\d"}', entries)).toEqual(['a']);
    expect(run('{service="order-api", pod!~"order-api-\\\\d"}', entries)).toEqual(['b', 'c']);
    expect(run('{service="order-api", pod=""}', entries)).toEqual(['c']);
    expect(run('{service="order-api", pod!="order-api-1"}', entries)).toEqual(['b', 'c']);
  });

  it('applies line filters in order, regexes unanchored, (?i) case-insensitive', () => {
    const entries: [Record<string, string>, string][] = [
      [labels({}), 'ERROR timeout'],
      [labels({}), 'error: healthz failed'],
      [labels({}), 'ok'],
    ];
    expect(run('{service="order-api"} |~ "(?i)error"', entries)).toEqual(['ERROR timeout', 'error: healthz failed']);
    expect(run('{service="order-api"} |~ "error"', entries)).toEqual(['error: healthz failed']);
    expect(run('{service="order-api"} |~ `(?i)error` != "healthz"', entries)).toEqual(['ERROR timeout']);
    expect(run('{service="order-api"} |= "ERROR" !~ "time.ut"', entries)).toEqual([]);
  });

  it('unquotes Go string escapes', () => {
    const entries: [Record<string, string>, string][] = [[labels({ path: 'C:\\logs\t"x"\u00e9' }), 'l']];
    expect(run('{path="C:\\\\logs\\t\\"x\\"\\u00e9"}', entries)).toEqual(['l']);
    expect(run('{path="C:\\\\logs\\x09\\"x\\"\\303"}', entries)).toEqual([]);
  });

  it.each([
    ['service="a"', 1, 'expected "{"'],
    ['{service="a"', 13, 'expected "," or "}"'],
    ['{service=~".*"}', 15, 'empty-compatible'],
    ['{service="a} |= "x"', 18, 'expected "," or "}"'],
    ['{service="a"} |= "x', 18, 'unterminated string'],
    ['{service="a"} |~ "(unclosed"', 18, 'invalid regular expression'],
    ['{service="a"} | json', 15, 'expected a line filter'],
    ['{service="\\q"}', 11, 'unknown escape sequence'],
  ])('rejects %s at column %i', (query, column, message) => {
    const compiled = compileLogQuery(query);
    expect(compiled.ok).toBe(false);
    if (!compiled.ok) {
      expect(compiled.error.column).toBe(column);
      expect(compiled.error.message).toContain(message);
    }
  });
});

describe('LogQL building', () => {
  it('renders the default queries', () => {
    const template = { selector: DEFAULT_LOG_SELECTOR, errorFilter: DEFAULT_ERROR_FILTER };
    expect(errorLinesQuery(template, 'order-api')).toBe(
      '{service="order-api"} |~ "(?i)(error|exception|fatal|panic|fail|timed? ?out|refused)"',
    );
    expect(errorCountQuery(template, 'order-api', 300)).toBe(
      'sum by (service) (count_over_time({service="order-api"} |~ "(?i)(error|exception|fatal|panic|fail|timed? ?out|refused)" [300s]))',
    );
    expect(errorLinesQuery({ selector: '{app="<svc>"}', errorFilter: '  ' }, 'x')).toBe('{app="x"}');
  });

  it('escapes a service name so the query selects exactly that name', () => {
    const nasty = 'a"b\\c.d*\n|e';
    const logs = [
      { time: 1000, labels: { service: nasty, app: nasty }, line: 'ERROR x' },
      { time: 1000, labels: { service: 'a"b\\cXd*\n|e', app: 'a"b\\cXd*\n|e' }, line: 'ERROR y' },
    ];
    for (const selector of ['{service="<svc>"}', '{app=~"<svc>"}', '{app=~"(<svc>)|none"}']) {
      const query = errorLinesQuery({ selector, errorFilter: '' }, nasty);
      const compiled = compileLogQuery(query);
      if (!compiled.ok) throw new Error(`${query}: ${compiled.error.message}`);
      const selected = logs.filter((entry) =>
        compiled.value.matchers.every((m) => m.test((entry.labels as Record<string, string>)[m.label] ?? '')),
      );
      expect(selected.map((entry) => entry.line)).toEqual(['ERROR x']);
    }
    expect(renderSelector('{service="<svc>"}', nasty)).toBe('{service="a\\"b\\\\c.d*\\n|e"}');
    expect(logqlString('tab\there\u0001')).toBe('"tab\\there\\x01"');
  });

  it.each([
    ['{service="<svc>"}', undefined],
    ['{namespace="trading", app=~"<svc>-.*"}', undefined],
    ['service="<svc>"', 'must start with a stream selector'],
    ['{service="order-api"}', 'must contain <svc>'],
    ['{service=<svc>}', 'must stand inside a double-quoted label value'],
  ])('judges the selector template %s', (template, problem) => {
    const found = selectorTemplateProblem(template);
    if (problem === undefined) expect(found).toBeUndefined();
    else expect(found).toContain(problem);
  });

  it('parses a log source config with defaults and refuses bad templates and budgets', () => {
    expect(logSourceSchema.parse({ url: 'http://loki:3100' })).toEqual({
      url: 'http://loki:3100',
      auth: { type: 'none' },
      timeoutMs: 5000,
      retries: 2,
      selector: '{service="<svc>"}',
      errorFilter: '|~ "(?i)(error|exception|fatal|panic|fail|timed? ?out|refused)"',
    });
    const issues = (input: Record<string, unknown>) => {
      const parsed = logSourceSchema.safeParse({ url: 'http://loki:3100', ...input });
      return parsed.success ? [] : parsed.error.issues.map((issue) => `${issue.path.join('.')}: ${issue.message}`);
    };
    expect(issues({ selector: '{job="orders"}' })).toEqual([
      'selector: must contain <svc> where the service name goes',
    ]);
    expect(issues({ errorFilter: 'error' })[0]).toContain('errorFilter: must be empty or a LogQL pipeline');
    expect(issues({ timeoutMs: 20_000, retries: 2 })[0]).toContain('timeoutMs: timeoutMs x (retries + 1) is 60000 ms');
    expect(issues({ auth: { type: 'sigv4' } })).not.toEqual([]);
    expect(issues({ auth: { type: 'basic', secretName: 'loki' }, tenant: 'ops', errorFilter: '' })).toEqual([]);
  });
});

describe('ScenarioLogSource on the order-api bad-deploy scenario', () => {
  const dir = join(__dirname, '..', '..', 'scenarios', 'order-api-bad-deploy');

  it('finds the bad deploy’s error lines and nothing in the hours before', async () => {
    const scenario = await loadScenario(dir);
    const incident = Date.parse('2026-11-04T03:00:00Z') / 1000;
    const byKeyword = new ScenarioLogSource(scenario.logs);
    const byLevel = new ScenarioLogSource(scenario.logs, {
      selector: '{service="<svc>", level="error"}',
      errorFilter: '',
    });
    const keywordIncident = expectOk(await byKeyword.errorCounts('order-api', incident, incident + 3600, 60));
    const levelIncident = expectOk(await byLevel.errorCounts('order-api', incident, incident + 3600, 60));
    const levelBefore = expectOk(await byLevel.errorCounts('order-api', incident - 6 * 3600, incident, 300));
    // Error-level lines such as "failed to encode OrderAck ..." never say "error": the default filter also looks
    // for failures, timeouts and refusals, so it finds every error-level line here.
    expect(keywordIncident.total).toBeGreaterThan(100);
    expect(keywordIncident.total).toBe(levelIncident.total);
    expect(levelBefore.total).toBe(0);
  });
});
