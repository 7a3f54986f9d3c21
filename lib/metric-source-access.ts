// What a function that queries the configured metric source may call on AWS: nothing for an open Prometheus,
// one secret for basic or bearer auth, one Amazon Managed Prometheus workspace for SigV4.

import { ArnFormat, Stack } from 'aws-cdk-lib';
import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import { ConfigError } from '../lambdas/core/config/load';
import type { MetricSourceConfig } from '../lambdas/core/config/schema';

/** aps-workspaces.<region>.amazonaws.com/workspaces/<id>, also through a VPC endpoint's private DNS name. */
const AMP_HOST = /^aps-workspaces\.([a-z]{2}(?:-[a-z]+)+-\d)\.(?:vpce\.)?amazonaws\.com(?:\.cn)?$/;
const AMP_WORKSPACE_PATH = /^\/workspaces\/(ws-[0-9a-zA-Z-]+)(?:\/|$)/;

export interface AmpWorkspace {
  readonly region: string;
  readonly workspaceId: string;
}

/** The workspace an AMP query URL points at; undefined when the URL is not an AMP workspace URL. */
export function ampWorkspace(url: string): AmpWorkspace | undefined {
  const parsed = new URL(url);
  const region = AMP_HOST.exec(parsed.hostname)?.[1];
  const workspaceId = AMP_WORKSPACE_PATH.exec(parsed.pathname)?.[1];
  return region && workspaceId ? { region, workspaceId } : undefined;
}

/**
 * IAM statements for querying `source`. The collector only calls /api/v1/query and /api/v1/query_range, which
 * AMP authorises as `aps:QueryMetrics`; label, series and metadata APIs are not granted until something uses them.
 */
export function metricSourceStatements(
  scope: Construct,
  source: MetricSourceConfig,
  configFile: string,
): PolicyStatement[] {
  const stack = Stack.of(scope);
  const auth = source.auth;
  switch (auth.type) {
    case 'none':
      return [];
    case 'basic':
    case 'bearer': {
      // Secrets Manager appends six random characters to a secret's name in its ARN.
      const secretArn = auth.secretName.startsWith('arn:')
        ? auth.secretName
        : stack.formatArn({
            service: 'secretsmanager',
            resource: 'secret',
            resourceName: `${auth.secretName}-??????`,
            arnFormat: ArnFormat.COLON_RESOURCE_NAME,
          });
      return [new PolicyStatement({ actions: ['secretsmanager:GetSecretValue'], resources: [secretArn] })];
    }
    case 'sigv4': {
      const workspace = ampWorkspace(source.url);
      if (!workspace) {
        throw new ConfigError(configFile, [
          `metricSource.url: SigV4 auth needs an Amazon Managed Prometheus workspace URL ` +
            `(https://aps-workspaces.<region>.amazonaws.com/workspaces/ws-...) to grant aps:QueryMetrics on; got ${source.url}`,
        ]);
      }
      const workspaceArn = stack.formatArn({
        service: 'aps',
        region: workspace.region,
        resource: 'workspace',
        resourceName: workspace.workspaceId,
        arnFormat: ArnFormat.SLASH_RESOURCE_NAME,
      });
      return [new PolicyStatement({ actions: ['aps:QueryMetrics'], resources: [workspaceArn] })];
    }
  }
}
