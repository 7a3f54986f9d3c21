// `npm run bench`: every speed target, printed with its ratio to the target.

import { formatBench } from './bench-line';
import { benchScoring } from './scoring.bench';
import { benchStl } from './stl.bench';

async function main(): Promise<void> {
  const lines = [...(await benchScoring()), ...(await benchStl())];
  process.stdout.write(`${formatBench(lines)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
