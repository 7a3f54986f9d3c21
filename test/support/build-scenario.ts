// Builds a scenario directory from a JSON spec:
//   node bin/run-ts.cjs test/support/build-scenario.ts SPEC.json OUT_DIR [--gzip]
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { parseScenarioSpec, renderScenario, ScenarioSpecError, writeScenario } from './scenario-builder';

const USAGE = 'usage: build-scenario.ts SPEC.json OUT_DIR [--gzip]';

export function main(argv: readonly string[]): number {
  const flags = argv.filter((a) => a.startsWith('--'));
  const positional = argv.filter((a) => !a.startsWith('--'));
  const unknownFlags = flags.filter((f) => f !== '--gzip');
  if (positional.length !== 2 || unknownFlags.length > 0) {
    if (unknownFlags.length > 0) console.error(`unknown option ${unknownFlags.join(', ')}`);
    console.error(USAGE);
    return 2;
  }
  const [specPath, outDir] = positional;
  const began = process.hrtime.bigint();
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(specPath, 'utf8'));
  } catch (err) {
    console.error(`cannot read ${specPath}: ${(err as Error).message}`);
    return 1;
  }
  try {
    const rendered = renderScenario(parseScenarioSpec(raw), { gzipMetrics: flags.includes('--gzip') });
    writeScenario(rendered, outDir);
    const s = rendered.stats;
    const elapsed = Number(process.hrtime.bigint() - began) / 1e6;
    console.log(
      `${outDir}: ${s.series} series, ${s.samples} samples, ${s.logLines} log lines, ${s.k8sEvents} k8s events, ` +
        `${s.deploys} deploys, ${s.alertDeliveries} webhook deliveries (${s.rawAlerts} alerts), ${s.faults} faults ` +
        `in ${elapsed.toFixed(0)} ms`,
    );
    return 0;
  } catch (err) {
    if (err instanceof ScenarioSpecError) {
      console.error(`${specPath}: ${err.message}`);
      return 1;
    }
    throw err;
  }
}

// run directly (node bin/run-ts.cjs sets argv[1] to this file), not when imported
if (process.argv[1] && resolve(process.argv[1]) === __filename) process.exitCode = main(process.argv.slice(2));
