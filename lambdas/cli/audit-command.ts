// `sre-agent audit verify`: re-computes the hash chains of the audit table and names the first broken record.

import { DynamoDBClient } from '@aws-sdk/client-dynamodb';
import { defaultProvider } from '@aws-sdk/credential-provider-node';
import { DynamoAuditLog } from '../adapters/dynamodb/audit-log';
import { verifyChain } from '../core/action/audit';
import type { AuditLog } from '../core/ports';

export interface AuditVerifyOptions {
  /** The incident id whose chain to verify. */
  readonly chain?: string;
  /** Verify every chain in the table instead. */
  readonly all?: boolean;
  /**
   * Name of the audit table.
   * @default - the AUDIT_TABLE environment variable
   */
  readonly table?: string;
  /**
   * DynamoDB endpoint, e.g. a local dynalite.
   * @default - the regional endpoint of AWS_REGION
   */
  readonly endpoint?: string;
}

export interface AuditCommandIo {
  out(line: string): void;
  err(line: string): void;
  /** Where AUDIT_TABLE, AWS_REGION and AWS_DEFAULT_REGION are read. */
  readonly env: Readonly<Record<string, string | undefined>>;
}

const processIo: AuditCommandIo = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  env: process.env,
};

/** Exit code: every chain checked is intact. */
export const EXIT_INTACT = 0;
/** Exit code: a chain is broken, or the chain asked for holds no records. */
export const EXIT_BROKEN = 1;
/** Exit code: nothing could be verified (bad usage, or the table could not be read). */
export const EXIT_UNVERIFIED = 2;

/** Verifies one chain or all of them and returns the process exit code. */
export async function auditVerifyCommand(options: AuditVerifyOptions, io: AuditCommandIo = processIo): Promise<number> {
  const usage = (problem: string) => {
    io.err(`sre-agent audit verify: ${problem}`);
    return EXIT_UNVERIFIED;
  };
  if (options.all === true && options.chain !== undefined) return usage('give either --chain <incident-id> or --all');
  if (options.all !== true && (options.chain === undefined || options.chain === '')) {
    return usage('name the chain to verify with --chain <incident-id>, or pass --all');
  }
  const table = options.table ?? io.env.AUDIT_TABLE;
  if (!table) return usage('no audit table: pass --table NAME or set AUDIT_TABLE');
  const region = io.env.AWS_REGION ?? io.env.AWS_DEFAULT_REGION ?? (options.endpoint ? 'local' : undefined);
  if (!region) return usage('no region: set AWS_REGION (or pass --endpoint for a local table)');

  const client = new DynamoDBClient({
    region,
    ...(options.endpoint ? { endpoint: options.endpoint, credentials: credentialsForEndpoint() } : {}),
  });
  try {
    return await verify(new DynamoAuditLog(client, table), options, io);
  } catch (error) {
    const e = error as Error;
    io.err(`sre-agent audit verify: cannot read table "${table}": ${e.name}: ${e.message}`);
    return EXIT_UNVERIFIED;
  } finally {
    client.destroy();
  }
}

async function verify(log: AuditLog, options: AuditVerifyOptions, io: AuditCommandIo): Promise<number> {
  if (options.all !== true) {
    const chain = options.chain as string;
    const records = await log.read(chain);
    if (records.length === 0) {
      io.out(`chain ${chain}: no records (unknown incident, or its whole trail was removed)`);
      return EXIT_BROKEN;
    }
    return report(chain, verifyChain(records, chain), io) ? EXIT_INTACT : EXIT_BROKEN;
  }
  const chains = await log.chains();
  if (chains.length === 0) {
    io.out('no audit chains in the table');
    return EXIT_INTACT;
  }
  let broken = 0;
  for (const chain of chains) {
    if (!report(chain, verifyChain(await log.read(chain), chain), io)) broken++;
  }
  io.out(`${chains.length} chains: ${chains.length - broken} intact, ${broken} broken`);
  return broken === 0 ? EXIT_INTACT : EXIT_BROKEN;
}

/** Prints the chain's verdict; true when intact. */
function report(chain: string, verdict: ReturnType<typeof verifyChain>, io: AuditCommandIo): boolean {
  if (verdict.ok) {
    io.out(`chain ${chain}: ${verdict.length} ${verdict.length === 1 ? 'record' : 'records'}, intact`);
    return true;
  }
  io.out(`chain ${chain}: BROKEN at record ${verdict.brokenAt}: ${verdict.reason}`);
  return false;
}

/**
 * A local stand-in such as dynalite accepts any signature, so with --endpoint the usual credentials are used
 * when there are some, and placeholders otherwise.
 */
function credentialsForEndpoint() {
  const chain = defaultProvider();
  return async () => {
    try {
      return await chain();
    } catch {
      return { accessKeyId: 'local', secretAccessKey: 'local' };
    }
  };
}
