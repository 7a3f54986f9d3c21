// The Authorization header of a client whose basic or bearer credentials live in Secrets Manager: read once and
// cached, read again after a 401/403 (the secret may have rotated), and kept out of every message the client makes.

import { parseBasicSecret } from './failures';

export class SecretAuthorization {
  private cache: Promise<{ header: string; redact: string[] }> | undefined;
  private redactions: string[] = [];

  constructor(private readonly secrets: (name: string) => Promise<string>) {}

  /** The header value; throws an Error naming the secret when it cannot be read or has the wrong form. */
  async header(type: 'basic' | 'bearer', secretName: string): Promise<string> {
    if (!this.cache) {
      const pending = this.secrets(secretName).then((value) => {
        if (type === 'bearer') {
          const token = value.trim();
          if (!token) throw new Error(`secret "${secretName}" is empty`);
          return { header: `Bearer ${token}`, redact: [token] };
        }
        const { username, password } = parseBasicSecret(secretName, value);
        const encoded = Buffer.from(`${username}:${password}`).toString('base64');
        return { header: `Basic ${encoded}`, redact: [password, encoded] };
      });
      this.cache = pending;
      pending.catch(() => {
        if (this.cache === pending) this.cache = undefined; // read again next time
      });
    }
    try {
      const { header, redact } = await this.cache;
      this.redactions = redact.filter((secret) => secret.length >= 4);
      return header;
    } catch (error) {
      const reason = error instanceof Error ? error.message : String(error);
      throw new Error(`cannot read ${type} auth secret "${secretName}": ${reason}`);
    }
  }

  /** Forgets the credentials, so the next request reads the secret again. */
  forget(): void {
    this.cache = undefined;
  }

  /** The message with every credential this client sent replaced by `***`. */
  redact(message: string): string {
    let out = message;
    for (const secret of this.redactions) out = out.split(secret).join('***');
    return out;
  }
}
