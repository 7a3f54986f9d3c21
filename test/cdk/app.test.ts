// The CDK app's front door: which environment, which config directory, and what a bad config looks like
// to the person running `cdk synth` (file, field, problem; exit code 1; no stack trace).

import { spawnSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App } from 'aws-cdk-lib';
import { parseDocument } from 'yaml';
import { ConfigError } from '../../lambdas/core/config/load';
import { PROJECT_ROOT } from '../../lib/agent-function';
import { addEnvironmentStack, ENVIRONMENTS, UsageError } from '../../lib/sre-agent-app';
import { CDK_JSON_CONTEXT, copyConfigDir } from './synth';

const BAD_FIELD = 'topology.services[1].dependsOn[0]';

let configDir: string;
let badDevFile: string;

/** Rewrites one value of a YAML file in place, keeping the rest of it as written. */
function editYaml(file: string, path: (string | number)[], value: unknown): void {
  const document = parseDocument(readFileSync(file, 'utf8'));
  document.setIn(path, value);
  writeFileSync(file, document.toString());
}

beforeAll(() => {
  configDir = copyConfigDir();
  badDevFile = join(configDir, 'dev.yaml');
  editYaml(badDevFile, ['topology', 'services', 1, 'dependsOn'], ['nope']);
});

afterAll(() => rmSync(configDir, { recursive: true, force: true }));

const appWith = (context: Record<string, unknown>) => new App({ context: { ...CDK_JSON_CONTEXT, ...context } });

/** Runs bin/sre-agent.ts as the CDK CLI would, with the context the CLI passes through the environment. */
function runApp(context: Record<string, unknown>) {
  const outdir = mkdtempSync(join(tmpdir(), 'cdk-app-'));
  try {
    return spawnSync(process.execPath, [join('bin', 'run-ts.cjs'), join('bin', 'sre-agent.ts')], {
      cwd: PROJECT_ROOT,
      env: { ...process.env, CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outdir },
      encoding: 'utf8',
      timeout: 30_000,
    });
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

describe('choosing the environment', () => {
  test('the environments are the ones the config schema allows', () => {
    expect(ENVIRONMENTS).toEqual(['dev', 'staging', 'prod']);
  });

  test('without -c env the app refuses and lists the choices', () => {
    expect(() => addEnvironmentStack(appWith({}))).toThrow(UsageError);
    expect(() => addEnvironmentStack(appWith({}))).toThrow('pass -c env=dev|staging|prod');
  });

  test('an unknown environment is refused the same way', () => {
    expect(() => addEnvironmentStack(appWith({ env: 'qa' }))).toThrow(
      'unknown environment "qa": pass -c env=dev|staging|prod',
    );
  });

  test('a file whose environment field names another environment is a config error on that field', () => {
    const dir = copyConfigDir();
    try {
      editYaml(join(dir, 'dev.yaml'), ['environment'], 'staging');
      const attempt = () => addEnvironmentStack(appWith({ env: 'dev', configDir: dir }));
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(`${join(dir, 'dev.yaml')}: invalid configuration`);
      expect(attempt).toThrow('environment: is "staging" but this file configures "dev"');
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('a bad config stops synth', () => {
  test('with a ConfigError naming the file, the field and the problem', () => {
    let error: unknown;
    try {
      addEnvironmentStack(appWith({ env: 'dev', configDir }));
    } catch (caught) {
      error = caught;
    }
    expect(error).toBeInstanceOf(ConfigError);
    expect((error as ConfigError).file).toBe(badDevFile);
    expect((error as ConfigError).message).toContain(badDevFile);
    expect((error as ConfigError).message).toContain(`${BAD_FIELD}: unknown service "nope"`);
  });

  test('a PromQL syntax error in the signal catalog names the catalog, the signal and the character', () => {
    const dir = copyConfigDir();
    try {
      const catalogFile = join(dir, 'promql-queries.yaml');
      editYaml(
        catalogFile,
        ['signals', 2, 'query'],
        'max by (service, namespace (service:http_request_duration_seconds:p99)',
      );
      const attempt = () => addEnvironmentStack(appWith({ env: 'dev', configDir: dir }));
      expect(attempt).toThrow(ConfigError);
      expect(attempt).toThrow(
        [
          `${catalogFile}: invalid configuration`,
          '  - signals[2].query: signal "latency_p99": PromQL syntax error at character 28: unexpected "("',
          '    max by (service, namespace (service:http_request_duration_seconds:p99)',
          '                               ^',
        ].join('\n'),
      );
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  test('the app prints file, field and problem on stderr and exits 1, without a stack trace', () => {
    const run = runApp({ ...CDK_JSON_CONTEXT, env: 'dev', configDir });
    expect(run.status).toBe(1);
    expect(run.stderr).toContain(badDevFile);
    expect(run.stderr).toContain(`${BAD_FIELD}: unknown service "nope"`);
    expect(run.stderr).not.toMatch(/^\s+at /m);
  });

  test('the app without -c env exits 1 with the choices', () => {
    const run = runApp({ ...CDK_JSON_CONTEXT });
    expect(run.status).toBe(1);
    expect(run.stderr.trim()).toBe('sre-agent: no environment given: pass -c env=dev|staging|prod');
  });
});
