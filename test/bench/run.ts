// `npm run bench`: every speed target, printed with its ratio to the target.

import { formatBench } from './bench-line';
import { benchDetector } from './detector.bench';
import { benchScoring } from './scoring.bench';
import { benchStl } from './stl.bench';

async function main(): Promise<void> {
  const lines = [...(await benchScoring()), ...(await benchDetector()), ...(await benchStl())];
  process.stdout.write(`${formatBench(lines)}\n`);
}

main().catch((error: unknown) => {
  console.error(error);
  process.exitCode = 1;
});
