// Reads secrets from AWS Secrets Manager, cached for the life of the Lambda container.

import { GetSecretValueCommand, type SecretsManagerClient } from '@aws-sdk/client-secrets-manager';

export function secretsReader(client: SecretsManagerClient, ttlMs = 5 * 60_000): (name: string) => Promise<string> {
  const cache = new Map<string, { value: string; at: number }>();
  return async (name) => {
    const hit = cache.get(name);
    if (hit && Date.now() - hit.at < ttlMs) return hit.value;
    const answer = await client.send(new GetSecretValueCommand({ SecretId: name }));
    if (answer.SecretString === undefined) throw new Error(`secret "${name}" has no string value`);
    cache.set(name, { value: answer.SecretString, at: Date.now() });
    return answer.SecretString;
  };
}
