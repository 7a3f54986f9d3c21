// Starts a real Prometheus (Debian's package) on loopback, loaded with OpenMetrics samples through promtool.

import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export interface RunningPrometheus {
  readonly url: string;
  stop(): Promise<void>;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const probe = createServer();
    probe.once('error', reject);
    probe.listen(0, '127.0.0.1', () => {
      const address = probe.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      probe.close(() => resolve(port));
    });
  });
}

/**
 * Backfills `openMetricsText` with `promtool tsdb create-blocks-from openmetrics` and serves it. Retention is
 * a century so blocks with past timestamps are kept; there are no scrape targets.
 */
export async function startPrometheus(
  openMetricsText: string,
  prometheusBin: string,
  promtoolBin: string,
): Promise<RunningPrometheus> {
  const workDir = mkdtempSync(join(tmpdir(), 'sre-agent-prometheus-'));
  const dataFile = join(workDir, 'samples.om.txt');
  const tsdbDir = join(workDir, 'tsdb');
  const configFile = join(workDir, 'prometheus.yml');
  writeFileSync(dataFile, openMetricsText);
  writeFileSync(configFile, 'global:\n  scrape_interval: 1m\nscrape_configs: []\n');
  execFileSync(promtoolBin, ['tsdb', 'create-blocks-from', 'openmetrics', dataFile, tsdbDir], {
    stdio: 'pipe',
    timeout: 60_000,
  });

  const port = await freePort();
  const child = spawn(
    prometheusBin,
    [
      `--config.file=${configFile}`,
      `--storage.tsdb.path=${tsdbDir}`,
      '--storage.tsdb.retention.time=100y',
      `--web.listen-address=127.0.0.1:${port}`,
    ],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let log = '';
  const keep = (chunk: Buffer) => {
    log = (log + chunk.toString('utf8')).slice(-4000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);

  const stop = async () => {
    if (child.exitCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 5_000);
      await exited;
      clearTimeout(timer);
    }
    rmSync(workDir, { recursive: true, force: true });
  };

  const url = `http://127.0.0.1:${port}`;
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (child.exitCode !== null) {
      await stop();
      throw new Error(`prometheus exited with ${child.exitCode}:\n${log}`);
    }
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`prometheus not ready within 20 s:\n${log}`);
    }
    const ready = await fetch(`${url}/-/ready`, { signal: AbortSignal.timeout(500) }).then(
      (response) => response.status === 200,
      () => false,
    );
    if (ready) break;
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
  return { url, stop };
}
