// Turns the CDK context (-c env=NAME, optional -c configDir=PATH) into the environment's stack, loading and
// validating its configuration first so a bad file stops synth before anything is built.

import { isAbsolute, resolve } from 'node:path';
import type { App } from 'aws-cdk-lib';
import { DEFAULT_CONFIG_DIR, loadEnvironmentConfig } from '../lambdas/adapters/config-files';
import { ConfigError } from '../lambdas/core/config/load';
import { agentConfigSchema } from '../lambdas/core/config/schema';
import { SreAgentStack } from './sre-agent-stack';

export const ENVIRONMENTS: readonly string[] = agentConfigSchema.shape.environment.options;

/** The app was started with missing or wrong context; the message says what to pass. */
export class UsageError extends Error {
  override readonly name = 'UsageError';
}

const stringContext = (app: App, key: string): string | undefined => {
  const value: unknown = app.node.tryGetContext(key);
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string')
    throw new UsageError(`context "${key}" must be a string, got ${JSON.stringify(value)}`);
  return value;
};

/** Adds `SreAgent-<env>` for the environment the context names; throws UsageError or ConfigError. */
export function addEnvironmentStack(app: App): SreAgentStack {
  const choices = ENVIRONMENTS.join('|');
  const environment = stringContext(app, 'env');
  if (!environment) throw new UsageError(`no environment given: pass -c env=${choices}`);
  if (!ENVIRONMENTS.includes(environment)) {
    throw new UsageError(`unknown environment "${environment}": pass -c env=${choices}`);
  }
  const configDirContext = stringContext(app, 'configDir');
  const configDir = configDirContext
    ? isAbsolute(configDirContext)
      ? configDirContext
      : resolve(process.cwd(), configDirContext)
    : DEFAULT_CONFIG_DIR;

  const agent = loadEnvironmentConfig(environment, configDir);
  if (agent.config.environment !== environment) {
    throw new ConfigError(agent.files.config, [
      `environment: is "${agent.config.environment}" but this file configures "${environment}"`,
    ]);
  }
  return new SreAgentStack(app, `SreAgent-${environment}`, {
    agent,
    description: `SRE agent (${environment}): detection loop and daily baselines`,
    // Without an account in the config the stack deploys to the account of the CLI's credentials; synth
    // stays offline either way (nothing here looks anything up).
    env: { account: agent.config.account ?? process.env.CDK_DEFAULT_ACCOUNT, region: agent.config.region },
    terminationProtection: environment !== 'dev',
    tags: { Project: 'sre-agent', Environment: environment },
  });
}
