// `npm run bench`: every speed target, printed with its ratio to the target.

import { formatBench } from './bench-line';
import { benchScoring } from './scoring.bench';

async function main(): Promise<void> {
  const lines = [...(await benchScoring())];
  process.stdout.write(`${formatBench(lines)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
