#!/usr/bin/env node
// The `sre-agent` command: replay a scenario, watch a live Prometheus, detect anomalies in CSV files.
// Locally the AWS SDK only talks to the embedded DynamoDB; its Node 20 end-of-support notice is noise here.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED ??= 'true';
require('./register-ts.cjs');
require('../lambdas/cli/main.ts');
