// The `sre-agent` command line: replay a scenario, or watch a live Prometheus, with the embedded local runtime.

import { Command, InvalidArgumentError, Option } from 'commander';
import { ScenarioFormatError } from '../adapters/scenario/openmetrics';
import { ConfigError } from '../core/config/load';
import { LocalDynamoError } from '../local/local-dynamodb';
import { APPROVER_MODES, type ApproverMode } from '../local/simulated-approvers';
import { auditVerifyCommand } from './audit-command';
import { CsvFormatError, detectCommand } from './detect-command';
import { DEFAULT_KNOWLEDGE_FILE, replayCommand } from './replay-command';
import { watchCommand } from './watch-command';

const program = new Command();
program
  .name('sre-agent')
  .description('SRE agent for 24x7 crypto exchanges: detect, diagnose, decide by risk tier, remediate safely.')
  .showHelpAfterError();

program
  .command('replay')
  .description('replay an incident scenario tick by tick through the real pipeline, with no AWS account')
  .argument('<scenario-dir>', 'directory in the scenario format (scenario.yaml, metrics.om, ...)')
  .option('--json', 'print the replay report as JSON instead of a timeline')
  .option('--config <file>', 'agent config whose detection settings and signal catalog to use')
  .addOption(
    new Option('--approvers <mode>', 'how the simulated approvers answer approval requests')
      .choices(APPROVER_MODES)
      .default('approve'),
  )
  .option(
    '--knowledge <file>',
    'knowledge base file: closed cases are kept there, and later replays find them as similar past incidents',
    DEFAULT_KNOWLEDGE_FILE,
  )
  .option('--no-knowledge', 'keep the knowledge base in memory for this replay only')
  .action(
    async (
      dir: string,
      options: { json?: boolean; config?: string; approvers: ApproverMode; knowledge: string | false },
    ) => {
      await replayCommand(dir, options);
    },
  );

const positiveInt = (value: string): number => {
  const n = Number(value);
  if (!Number.isInteger(n) || n <= 0) throw new InvalidArgumentError('must be a positive integer');
  return n;
};

program
  .command('watch')
  .description('run the live detection loop every 60 s against a Prometheus-compatible API')
  .requiredOption('--prometheus <url>', 'base URL of the Prometheus HTTP API, e.g. http://localhost:9090')
  .option('--config <file>', 'agent config (topology, detection settings, signal catalog)', 'config/dev.yaml')
  .option('--ticks <n>', 'stop after this many ticks', positiveInt)
  .option('--interval <seconds>', 'seconds between ticks', positiveInt, 60)
  .action(async (options: { prometheus: string; config: string; ticks?: number; interval: number }) => {
    await watchCommand(options);
  });

program
  .command('detect')
  .description('streaming anomaly detection over timestamp,value CSV files (NAB format), no look-ahead')
  .argument('<files...>', 'CSV files with a timestamp,value header')
  .option('--json', 'print {"<category>/<file>.csv": ["YYYY-MM-DD HH:MM:SS", ...]} for the NAB scorer')
  .action(async (files: string[], options: { json?: boolean }) => {
    await detectCommand(files, options);
  });

program
  .command('audit')
  .description('check the audit trail')
  .command('verify')
  .description('verify hash chains: names the first broken record of each chain')
  .option('--chain <incident-id>', 'the incident whose chain to verify')
  .option('--all', 'verify every chain in the table')
  .option('--table <name>', 'audit table (default: $AUDIT_TABLE)')
  .option('--endpoint <url>', 'DynamoDB endpoint, e.g. a local dynalite')
  .action(async (options: { chain?: string; all?: boolean; table?: string; endpoint?: string }) => {
    process.exitCode = await auditVerifyCommand(options);
  });

program.parseAsync(process.argv).catch((error: unknown) => {
  const explained = [ConfigError, ScenarioFormatError, CsvFormatError, LocalDynamoError];
  if (explained.some((kind) => error instanceof kind)) {
    console.error(`sre-agent: ${(error as Error).message}`);
  } else {
    console.error('sre-agent: unexpected failure');
    console.error(error);
  }
  process.exitCode = 1;
});
