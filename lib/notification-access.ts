// What a function that sends notifications may read: the Slack bot token of the approvals app (when approvals are
// configured) and the secrets of the configured integrations, each by its own name and nothing else.

import { PolicyStatement } from 'aws-cdk-lib/aws-iam';
import type { Construct } from 'constructs';
import type { AgentConfig } from '../lambdas/core/config/schema';
import type { AgentFunction } from './agent-function';
import { secretArn } from './slack-approvals';

export interface NotificationSecretsOptions {
  /** The function also posts to the generic webhook (incident notices do; alert notifications do not). */
  readonly webhook?: boolean;
}

/** Secret names, sorted and without repeats: the bot token, PagerDuty's routing keys, Jira's credentials, the webhook key. */
export function notificationSecretNames(
  config: Pick<AgentConfig, 'approvals' | 'integrations'>,
  options: NotificationSecretsOptions = {},
): string[] {
  const names = new Set<string>();
  if (config.approvals) names.add(config.approvals.botTokenSecretName);
  const { pagerduty, jira, webhook } = config.integrations ?? {};
  if (pagerduty) {
    names.add(pagerduty.routingKeySecret);
    for (const name of Object.values(pagerduty.serviceBySeverity ?? {})) if (name) names.add(name);
  }
  if (jira) names.add(jira.credentialsSecret);
  if (webhook && options.webhook) names.add(webhook.signingSecret);
  return [...names].sort();
}

/** Allows `fn` to read exactly the notification secrets (Secrets Manager ARN pattern `secret:<name>-??????`). */
export function grantNotificationSecrets(
  scope: Construct,
  fn: AgentFunction,
  config: Pick<AgentConfig, 'approvals' | 'integrations'>,
  options: NotificationSecretsOptions = {},
): string[] {
  const names = notificationSecretNames(config, options);
  if (names.length > 0) {
    fn.addToRolePolicy(
      new PolicyStatement({
        actions: ['secretsmanager:GetSecretValue'],
        resources: names.map((name) => secretArn(scope, name)),
      }),
    );
  }
  return names;
}
