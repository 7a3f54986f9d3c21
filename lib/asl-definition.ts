// ASL files stay readable in the Step Functions console; their ${Placeholders} are filled by CloudFormation.
// CDK checks none of this, so a placeholder without a value (or a value for a renamed one) fails synth here.

import { readFileSync } from 'node:fs';
import { DefinitionBody, type StateMachineProps } from 'aws-cdk-lib/aws-stepfunctions';

/** The `${Name}` placeholders an ASL text uses, sorted and without repeats. */
export function aslPlaceholders(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((match) => match[1]))].sort();
}

/** Definition from `file` with every placeholder given a value, checked both ways. */
export function aslDefinition(
  file: string,
  substitutions: Readonly<Record<string, string>>,
): Required<Pick<StateMachineProps, 'definitionBody' | 'definitionSubstitutions'>> {
  const used = aslPlaceholders(readFileSync(file, 'utf8'));
  const given = Object.keys(substitutions).sort();
  const missing = used.filter((name) => !given.includes(name));
  const unused = given.filter((name) => !used.includes(name));
  if (missing.length > 0 || unused.length > 0) {
    const problems = [
      ...missing.map((name) => `\${${name}} has no substitution`),
      ...unused.map((name) => `substitution ${name} matches no placeholder`),
    ];
    throw new Error(`${file}: ${problems.join('; ')}`);
  }
  return { definitionBody: DefinitionBody.fromFile(file), definitionSubstitutions: { ...substitutions } };
}
