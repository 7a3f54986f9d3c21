// `sre-agent replay`: a progress bar and a readable timeline on a terminal, or the JSON report with --json.

import { mkdir } from 'node:fs/promises';
import { homedir } from 'node:os';
import { dirname, join } from 'node:path';
import { SingleBar } from 'cli-progress';
import { loadConfigFile } from '../adapters/config-files';
import { replayScenario } from '../local/replay';
import type { ApproverMode } from '../local/simulated-approvers';
import { formatTimeline } from './replay-report';

/** Where replays keep closed cases by default, so the second replay of a scenario finds the first one's case. */
export const DEFAULT_KNOWLEDGE_FILE = join(homedir(), '.sre-agent', 'knowledge.jsonl');

export async function replayCommand(
  dir: string,
  options: { json?: boolean; config?: string; approvers?: ApproverMode; knowledge?: string | false },
): Promise<void> {
  if (options.knowledge) await mkdir(dirname(options.knowledge), { recursive: true, mode: 0o700 });
  const loaded = options.config ? loadConfigFile(options.config) : undefined;
  const interactive = !options.json && process.stderr.isTTY;
  const bar = interactive
    ? new SingleBar({
        format: 'replaying {bar} {percentage}% | tick {value}/{total} | {clock}',
        hideCursor: true,
        stream: process.stderr,
      })
    : undefined;
  const report = await replayScenario(dir, {
    approvers: options.approvers,
    // With a config, its approvers are the simulated people and its timeouts bound their waits.
    ...(loaded?.config.approvals ? { approvals: loaded.config.approvals } : {}),
    guardrails: loaded?.config.guardrails,
    playbooks: loaded?.playbooks,
    catalog: loaded?.catalog,
    detection: loaded?.config.detection,
    alerting: loaded?.config.alerting,
    knowledge: loaded?.config.diagnosis.knowledge,
    ...(options.knowledge ? { knowledgeFile: options.knowledge } : {}),
    onStart: (total) => bar?.start(total, 0, { clock: '' }),
    onTick: (done, time) => bar?.update(done, { clock: new Date(time * 1000).toISOString().slice(0, 16) }),
    onEvent: (event) => {
      if (options.json) return;
      const line = `${new Date(event.time * 1000).toISOString().slice(0, 16).replace('T', ' ')}  ${event.text}`;
      if (bar) {
        // Print above the bar without tearing it.
        process.stderr.write('\r\x1b[K');
        process.stdout.write(`${line}\n`);
      } else {
        process.stdout.write(`${line}\n`);
      }
    },
  });
  bar?.stop();
  if (options.json) process.stdout.write(`${JSON.stringify(report, null, 2)}\n`);
  else process.stdout.write(`\n${formatTimeline(report)}\n`);
}
