// Finds a system binary that a test drives. In CI (SRE_AGENT_REQUIRE_BINARIES=1) a missing one fails the run;
// elsewhere it is reported loudly and the test file registers a single passing test saying what was not run.

import { accessSync, constants, statSync } from 'node:fs';
import { delimiter, isAbsolute, join } from 'node:path';

/** Debian package that ships each binary the tests use. */
const PACKAGES: Readonly<Record<string, string>> = {
  prometheus: 'prometheus',
  promtool: 'prometheus',
};

/** How to install `name`, e.g. `apt-get install -y prometheus`. */
export function installHint(name: string): string {
  return `apt-get install -y ${PACKAGES[name] ?? name}`;
}

/** Absolute path of an executable `name` on PATH (or `name` itself when it is an absolute path), if any. */
export function findBinary(name: string, path = process.env.PATH ?? ''): string | undefined {
  const candidates = isAbsolute(name)
    ? [name]
    : path
        .split(delimiter)
        .filter((dir) => dir !== '')
        .map((dir) => join(dir, name));
  for (const candidate of candidates) {
    try {
      if (!statSync(candidate).isFile()) continue;
      accessSync(candidate, constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  return undefined;
}

/** A banner that stands out in test output. */
export function banner(lines: readonly string[]): string {
  const width = Math.max(...lines.map((line) => line.length)) + 4;
  const rule = '!'.repeat(width);
  return ['', rule, ...lines.map((line) => `!! ${line.padEnd(width - 6)} !!`), rule, ''].join('\n');
}

/**
 * Returns the path of `name`. When it is missing: throws if SRE_AGENT_REQUIRE_BINARIES=1 (CI), otherwise warns
 * loudly and returns undefined, and the caller registers one test that states what was not run.
 */
export function requireBinary(name: string): string | undefined {
  const found = findBinary(name);
  if (found) return found;
  const message = `binary "${name}" is not on PATH; install it with: ${installHint(name)}`;
  if (process.env.SRE_AGENT_REQUIRE_BINARIES === '1') {
    throw new Error(`${message} (SRE_AGENT_REQUIRE_BINARIES=1: tests that need it must run)`);
  }
  console.warn(
    banner([`TESTS NOT RUN: ${message}`, 'Set SRE_AGENT_REQUIRE_BINARIES=1 to make this an error (CI does).']),
  );
  return undefined;
}
