// The error every configuration problem becomes: the file (or source), and each field with what is wrong.

export class ConfigError extends Error {
  override readonly name = 'ConfigError';
  constructor(
    readonly file: string,
    readonly problems: readonly string[],
  ) {
    // A problem may carry a snippet on its next lines: indent them under the problem so the list stays readable.
    super(`${file}: invalid configuration\n${problems.map((p) => `  - ${p.replace(/\n/g, '\n    ')}`).join('\n')}`);
  }
}
