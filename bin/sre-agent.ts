#!/usr/bin/env node
// CDK app: one stack per environment, `cdk synth -c env=dev|staging|prod` (optionally -c configDir=PATH).

import { App } from 'aws-cdk-lib';
import { ConfigError } from '../lambdas/core/config/load';
import { addEnvironmentStack, UsageError } from '../lib/sre-agent-app';

const app = new App();
try {
  addEnvironmentStack(app);
} catch (error) {
  // Expected mistakes get their message alone; anything else is a bug and keeps its stack trace.
  if (error instanceof ConfigError || error instanceof UsageError) {
    console.error(`sre-agent: ${error.message}`);
    process.exit(1);
  }
  throw error;
}
app.synth();
