import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadConfigFile, loadEnvironmentConfig } from '../../lambdas/adapters/config-files';
import { ConfigError, parseAgentConfig, parsePlaybooks, parseSignalCatalog } from '../../lambdas/core/config/load';

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

  it('a missing catalog file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'cfg-'));
    writeFileSync(
      join(dir, 'dev.yaml'),
      dev.replace('signalCatalog: promql-queries.yaml', 'signalCatalog: missing.yaml'),
    );
    const [file, problem] = problemsOf(() => loadConfigFile(join(dir, 'dev.yaml')));
    expect(file).toBe(join(dir, 'missing.yaml'));
    expect(problem).toBe('file not found');
  });
});
