import { cpSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, loadEnvironmentConfig } from '../../lambdas/adapters/config-files';
import { loadScenario } from '../../lambdas/adapters/scenario/load-scenario';
import { ConfigError, parseAgentConfig, parsePlaybooks, parseSignalCatalog } from '../../lambdas/core/config/load';
import { promqlSyntaxError } from '../../lambdas/core/config/promql-syntax';
import { topologySchema } from '../../lambdas/core/config/schema';

const problemsOf = (fn: () => unknown): string[] => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ConfigError) return [error.file, ...error.problems];
    throw error;
  }
  throw new Error('expected a ConfigError');
};

describe('environment configs', () => {
  it.each(['dev', 'staging', 'prod'])('%s is valid', (env) => {
    const { config, catalog } = loadEnvironmentConfig(env);
    expect(config.environment).toBe(env);
    expect(catalog.signals.length).toBeGreaterThan(5);
  });

  it('holds the SLOs named by the design: matching engine p99 under 10 ms, public API under 50 ms', () => {
    const latency = loadEnvironmentConfig('prod').catalog.signals.find((s) => s.id === 'latency_p99')!;
    expect(latency.limits['matching-engine']).toEqual({ above: 0.01 });
    expect(latency.limits['api-gateway']).toEqual({ above: 0.05 });
    expect(latency.badDirection).toBe('up');
  });
});

describe('config errors name the file, the field and what is wrong', () => {
  const dev = readFileSync(join(__dirname, '..', '..', 'config', 'dev.yaml'), 'utf8');

  it('an unknown dependency', () => {
    const text = dev.replace(
      'dependsOn: [matching-engine, mysql-main, redis-cache]',
      'dependsOn: [matching-engine, nope]',
    );
    const [file, ...problems] = problemsOf(() => parseAgentConfig(text, 'config/dev.yaml'));
    expect(file).toBe('config/dev.yaml');
    expect(problems).toEqual([
      expect.stringMatching(/^topology\.services\[1\]\.dependsOn\[1\]: unknown service "nope"/),
    ]);
  });

  it('a wrong type and an unknown field', () => {
    const text = dev
      .replace('threshold: 5', 'threshold: high')
      .replace('logRetentionDays: 7', 'logRetentionDays: 7\nlogRetentionDayz: 9');
    const problems = problemsOf(() => parseAgentConfig(text, 'dev.yaml'));
    expect(problems.join('\n')).toMatch(/detection\.threshold: .*number/);
    expect(problems.join('\n')).toMatch(/logRetentionDayz/);
  });

  it('Mimir without a tenant and AMP without SigV4', () => {
    const mimir = dev.replace('flavor: prometheus', 'flavor: mimir');
    expect(problemsOf(() => parseAgentConfig(mimir, 'x.yaml'))).toContain(
      'metricSource.tenant: Mimir needs a tenant (sent as X-Scope-OrgID)',
    );
    const amp = dev.replace('flavor: prometheus', 'flavor: amp');
    expect(problemsOf(() => parseAgentConfig(amp, 'x.yaml')).join()).toMatch(/metricSource\.auth\.type: .*sigv4/);
  });

  it('broken YAML', () => {
    expect(problemsOf(() => parseAgentConfig('environment: [dev', 'bad.yaml')).join()).toMatch(/YAML syntax/);
  });

  it('a signal limit for an unknown service', () => {
    const { config } = loadEnvironmentConfig('dev');
    const catalog = 'signals:\n  - {id: p99, query: x, unit: seconds, badDirection: up, limits: {ghost: {above: 1}}}\n';
    expect(problemsOf(() => parseSignalCatalog(catalog, 'q.yaml', config.topology))).toEqual([
      'q.yaml',
      'signals[0].limits.ghost: unknown service "ghost"',
    ]);
  });

  it('a deny rule for an unknown service, and one that matches nothing', () => {
    const text = `${dev}\nguardrails:\n  denyList:\n    - { service: ghost, reason: x }\n    - { reason: too broad }\n`;
    const problems = problemsOf(() => parseAgentConfig(text, 'dev.yaml'));
    expect(problems).toContain('guardrails.denyList[0].service: unknown service "ghost"');
    expect(problems).toContain('guardrails.denyList[1]: needs a service, a namespace or an action');
  });

  it('prod denies the RDS failover to automation and declares a year-end freeze', () => {
    const { guardrails } = loadEnvironmentConfig('prod').config;
    expect(guardrails.denyList).toContainEqual(
      expect.objectContaining({ service: 'mysql-main', action: 'db-failover' }),
    );
    expect(guardrails.changeFreezes).toHaveLength(1);
  });

  it('a playbook cannot name a money operation, an unknown signal or a fault twice', () => {
    const { catalog } = loadEnvironmentConfig('dev');
    const text = [
      'playbooks:',
      '  - { fault: funds-service-errors, actions: [{ action: wallet-transfer }], recovery: { signals: [error_ratio], waitMinutes: 5 } }',
      '  - { fault: bad-deploy, actions: [{ action: rollback }], recovery: { signals: [nope], waitMinutes: 5 } }',
      '  - { fault: bad-deploy, actions: [{ action: rollback }], recovery: { signals: [error_ratio], waitMinutes: 5 } }',
    ].join('\n');
    const problems = problemsOf(() => parsePlaybooks(text, 'playbooks.yaml', catalog)).join('\n');
    expect(problems).toMatch(
      /playbooks\[0\]\.actions\[0\]\.action: "wallet-transfer" is not a catalog action .*money operations can never be added/,
    );
    // Cross-entry checks run once every entry is well-formed.
    const twice = text
      .split('\n')
      .filter((_, i) => i !== 1)
      .join('\n')
      .replace('signals: [nope]', 'signals: [error_ratio]');
    expect(problemsOf(() => parsePlaybooks(twice, 'playbooks.yaml', catalog))).toContain(
      'playbooks[1].fault: second playbook for "bad-deploy"',
    );
  });

  it('the bundled playbooks load and name only catalog signals', () => {
    const { playbooks } = loadEnvironmentConfig('prod');
    expect(playbooks.playbooks.map((p) => p.fault)).toContain('bad-deploy');
    expect(() =>
      parsePlaybooks(
        'playbooks:\n  - { fault: bad-deploy, actions: [{ action: rollback }], recovery: { signals: [ghost], waitMinutes: 5 } }\n',
        'p.yaml',
        loadEnvironmentConfig('dev').catalog,
      ),
    ).toThrow('playbooks[0].recovery.signals[0]: unknown signal "ghost"');
  });

  it('a value outside a fixed set lists the values allowed and the one given', () => {
    const text = dev
      .replace('logRetentionDays: 7', 'logRetentionDays: 8')
      .replace('flavor: prometheus', 'flavor: victoria')
      .replace('environment: dev', 'environment: qa');
    expect(problemsOf(() => parseAgentConfig(text, 'config/dev.yaml'))).toEqual([
      'config/dev.yaml',
      'environment: must be one of "dev", "staging", "prod" (got "qa")',
      'metricSource.flavor: must be one of "prometheus", "mimir", "amp" (got "victoria")',
      'logRetentionDays: must be one of 7, 14, 30, 90, 365 (got 8)',
    ]);
  });

  it('an unknown kind in a discriminated section lists the kinds, and a missing one says so', () => {
    const auth = (value: string) =>
      problemsOf(() => parseAgentConfig(dev.replace('auth: { type: none }', `auth: ${value}`), 'x.yaml'));
    expect(auth('{ type: oauth }')).toContain(
      'metricSource.auth.type: must be one of "none", "basic", "bearer", "sigv4" (got "oauth")',
    );
    expect(auth('{ secretName: s }')).toContain(
      'metricSource.auth.type: must be one of "none", "basic", "bearer", "sigv4" (missing)',
    );
  });

  it('a value of none of the types a union takes names them all', () => {
    const { catalog } = loadEnvironmentConfig('dev');
    const text =
      'playbooks:\n  - { fault: bad-deploy, actions: [{ action: rollback, params: { to: [1, 2] } }], recovery: { signals: [error_ratio], waitMinutes: 5 } }\n';
    expect(problemsOf(() => parsePlaybooks(text, 'playbooks.yaml', catalog))).toEqual([
      'playbooks.yaml',
      'playbooks[0].actions[0].params.to: must be a string, a number or a boolean (got a list)',
    ]);
  });

  it('a message the schema sets itself is kept', () => {
    const { catalog } = loadEnvironmentConfig('dev');
    const text =
      'playbooks:\n  - { fault: bad-deploy, actions: [{ action: drain-wallet }], recovery: { signals: [error_ratio], waitMinutes: 5 } }\n';
    expect(problemsOf(() => parsePlaybooks(text, 'playbooks.yaml', catalog)).join('\n')).toMatch(
      /playbooks\[0\]\.actions\[0\]\.action: "drain-wallet" is not a catalog action/,
    );
  });
});

describe('PromQL in the signal catalog is parsed with the Prometheus grammar', () => {
  const catalogWith = (...queries: string[]) =>
    `signals:\n${queries.map((query, i) => `  - { id: s${i}, unit: ratio, badDirection: up, query: ${JSON.stringify(query)} }`).join('\n')}\n`;

  it('a misplaced parenthesis names the file, the field, the signal, the character and shows it', () => {
    const text = catalogWith('max by (service) (x)', 'max by (service, namespace (rate(x[5m])))');
    expect(problemsOf(() => parseSignalCatalog(text, 'config/promql-queries.yaml'))).toEqual([
      'config/promql-queries.yaml',
      [
        'signals[1].query: signal "s1": PromQL syntax error at character 28: unexpected "("',
        'max by (service, namespace (rate(x[5m])))',
        '                           ^',
      ].join('\n'),
    ]);
  });

  it('the snippet sits under its problem in the error message', () => {
    let message = '';
    try {
      parseSignalCatalog(catalogWith('rate(x[5m]'), 'q.yaml');
    } catch (error) {
      message = (error as Error).message;
    }
    expect(message).toBe(
      [
        'q.yaml: invalid configuration',
        '  - signals[0].query: signal "s0": PromQL syntax error at character 11: unexpected end of query',
        '    rate(x[5m]',
        '              ^',
      ].join('\n'),
    );
  });

  it('a multi-line query gives line and column within the query', () => {
    const text = [
      'signals:',
      '  - id: lag',
      '    unit: messages',
      '    badDirection: up',
      '    query: |',
      '      sum by (service) (',
      '        rate(x[5m]) +',
      '      )',
    ].join('\n');
    expect(problemsOf(() => parseSignalCatalog(text, 'q.yaml'))).toEqual([
      'q.yaml',
      'signals[0].query: signal "lag": PromQL syntax error at line 3, column 1 of the query: unexpected ")"\n)\n^',
    ]);
  });

  it("is reported with the signal's other mistakes, not after they are fixed", () => {
    const text = 'signals:\n  - { id: lag, unit: hours, badDirection: up, query: "sum(x" }\n';
    expect(problemsOf(() => parseSignalCatalog(text, 'q.yaml'))).toEqual([
      'q.yaml',
      expect.stringMatching(/^signals\[0\]\.unit: must be one of "ratio", .* \(got "hours"\)$/),
      expect.stringMatching(/^signals\[0\]\.query: signal "lag": PromQL syntax error at character 6: unexpected end/),
    ]);
  });

  it('a long query shows the part around the error, the caret still under it', () => {
    const query = `sum by (service) (rate(${'a'.repeat(100)}[5m]) / rate(${'b'.repeat(100)}[5m]) +)`;
    const error = promqlSyntaxError(query)!;
    expect(query[error.offset]).toBe(')');
    const [shown, caret] = error.snippet.split('\n');
    expect(shown).toMatch(/^…b+\[5m\]\) \+\)$/);
    expect(shown[caret.indexOf('^')]).toBe(')');
  });

  it.each([
    ['an unclosed call', 'rate(x[5m]', 10, 'unexpected end of query'],
    ['a trailing operator', 'sum(x) +', 8, 'unexpected end of query'],
    ['two operators in a row', 'x +* y', 3, 'unexpected "*"'],
    ['an unknown function', 'rates(x[5m])', 5, 'unexpected "("'],
    ['a stray closing parenthesis', 'sum(x))', 6, 'unexpected ")"'],
    ['an unclosed label matcher', 'x{job="api"', 11, 'unexpected end of query'],
    ['a grouping clause with no labels list', 'sum by service (x)', 7, 'unexpected "service"'],
    ['a blank query', '   ', 0, 'empty query'],
  ])('refuses %s', (_, query, offset, message) => {
    expect(promqlSyntaxError(query)).toMatchObject({ offset, message });
  });

  it.each([
    'sum by (service, namespace) (service:http_requests:rate1m)',
    'histogram_quantile(0.99, sum by (le, service) (rate(http_request_duration_seconds_bucket[5m])))',
    'service:errors:ratio / on(service) group_left service:requests:total',
    'label_replace(kafka_consumergroup_lag, "service", "$1", "consumergroup", "(.*)")',
    'max_over_time(x[1h:1m] offset 5m) > bool 0.9',
    'sum without (pod) (increase(kube_pod_container_status_restarts_total{namespace=~"trading|custody"}[5m]))',
    'topk(3, sum by (service) (rate(x[5m]))) or vector(0)',
    'x @ end() # trailing comment',
  ])('accepts %s', (query) => {
    expect(promqlSyntaxError(query)).toBeUndefined();
  });

  it('every query of the bundled catalog parses', () => {
    const file = join(__dirname, '..', '..', 'config', 'promql-queries.yaml');
    const { signals } = parseSignalCatalog(readFileSync(file, 'utf8'), file);
    expect(signals.filter((s) => promqlSyntaxError(s.query))).toEqual([]);
  });
});

describe('a file the config names is reported against the field that names it', () => {
  const configDir = join(__dirname, '..', '..', 'config');
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    cpSync(configDir, dir, { recursive: true });
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  const loadWith = (edit: (text: string) => string) => {
    const file = join(dir, 'dev.yaml');
    writeFileSync(file, edit(readFileSync(join(configDir, 'dev.yaml'), 'utf8')));
    return problemsOf(() => loadConfigFile(file));
  };

  it('a missing signal catalog', () => {
    const problems = loadWith((t) => t.replace('signalCatalog: promql-queries.yaml', 'signalCatalog: missing.yaml'));
    expect(problems).toEqual([join(dir, 'dev.yaml'), `signalCatalog: file not found: ${join(dir, 'missing.yaml')}`]);
  });

  it('missing playbooks, and a directory where a file belongs', () => {
    expect(loadWith((t) => `${t}\nplaybooks: nope.yaml\n`)).toEqual([
      join(dir, 'dev.yaml'),
      `playbooks: file not found: ${join(dir, 'nope.yaml')}`,
    ]);
    expect(loadWith((t) => t.replace('signalCatalog: promql-queries.yaml', 'signalCatalog: runbooks'))).toEqual([
      join(dir, 'dev.yaml'),
      `signalCatalog: not a file: ${join(dir, 'runbooks')}`,
    ]);
  });

  it('a runbooks directory the config names must exist; the default one may be absent', () => {
    const named = (path: string) => (t: string) => `${t}\ndiagnosis:\n  knowledge:\n    runbooks: ${path}\n`;
    expect(loadWith(named('run-books'))).toEqual([
      join(dir, 'dev.yaml'),
      `diagnosis.knowledge.runbooks: directory not found: ${join(dir, 'run-books')}`,
    ]);
    expect(loadWith(named('playbooks.yaml'))).toEqual([
      join(dir, 'dev.yaml'),
      `diagnosis.knowledge.runbooks: not a directory: ${join(dir, 'playbooks.yaml')}`,
    ]);
    writeFileSync(join(dir, 'dev.yaml'), readFileSync(join(configDir, 'dev.yaml'), 'utf8'));
    rmSync(join(dir, 'runbooks'), { recursive: true });
    expect(loadConfigFile(join(dir, 'dev.yaml')).runbooks).toEqual([]);
  });

  it('the config file itself, when missing, is named alone', () => {
    expect(problemsOf(() => loadConfigFile(join(dir, 'qa.yaml')))).toEqual([join(dir, 'qa.yaml'), 'file not found']);
  });
});

describe('topology: dependencies form no cycle', () => {
  const services = (...edges: [string, string[]][]) => ({
    services: edges.map(([name, dependsOn]) => ({ name, dependsOn })),
  });
  const problemsOfTopology = (topology: unknown) =>
    topologySchema.safeParse(topology).error?.issues.map((i) => `${i.path.join('.')}: ${i.message}`) ?? [];

  it('a service that depends on itself', () => {
    const dev = readFileSync(join(__dirname, '..', '..', 'config', 'dev.yaml'), 'utf8');
    const text = dev.replace(
      'dependsOn: [matching-engine, mysql-main',
      'dependsOn: [matching-engine, order-api, mysql-main',
    );
    expect(problemsOf(() => parseAgentConfig(text, 'config/dev.yaml'))).toEqual([
      'config/dev.yaml',
      'topology.services[1].dependsOn[1]: "order-api" depends on itself',
    ]);
  });

  it('a cycle is named from its first service in config order, through the shortest way back', () => {
    const dev = readFileSync(join(__dirname, '..', '..', 'config', 'dev.yaml'), 'utf8');
    const text = dev.replace(
      '{ name: mysql-main, kind: datastore,',
      '{ name: mysql-main, dependsOn: [order-api], kind: datastore,',
    );
    expect(problemsOf(() => parseAgentConfig(text, 'config/dev.yaml'))).toEqual([
      'config/dev.yaml',
      'topology.services: dependency cycle order-api -> mysql-main -> order-api',
    ]);
  });

  it('one cycle per group of services that reach one another', () => {
    const topology = services(
      ['a', ['b']],
      ['b', ['c', 'd']],
      ['c', ['a']],
      ['d', ['b']],
      ['x', ['y']],
      ['y', ['x', 'a']],
      ['z', ['a', 'x']],
    );
    expect(problemsOfTopology(topology)).toEqual([
      'services: dependency cycle a -> b -> c -> a',
      'services: dependency cycle x -> y -> x',
    ]);
  });

  it('shared dependencies without a cycle are fine', () => {
    expect(problemsOfTopology(services(['a', ['b', 'c']], ['b', ['c']], ['c', []], ['d', ['a', 'c']]))).toEqual([]);
  });

  it('a scenario whose topology has a cycle is refused naming the scenario file', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'scenario-'));
    try {
      const scenario = readFileSync(
        join(__dirname, '..', '..', 'scenarios', 'order-api-bad-deploy', 'scenario.yaml'),
        'utf8',
      );
      mkdirSync(join(dir, 'cyclic'));
      writeFileSync(
        join(dir, 'cyclic', 'scenario.yaml'),
        scenario.replace(
          '      dependsOn:\n        - matching-engine',
          '      dependsOn:\n        - api-gateway\n        - matching-engine',
        ),
      );
      await expect(loadScenario(join(dir, 'cyclic'))).rejects.toThrow(
        `${join(dir, 'cyclic', 'scenario.yaml')}:9: topology.services: dependency cycle api-gateway -> order-api -> api-gateway`,
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
