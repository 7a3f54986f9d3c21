// ASL placeholders and their substitutions must match both ways, or synth fails before CloudFormation does.

import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { aslDefinition, aslPlaceholders } from '../../lib/asl-definition';
import { TICK_DEFINITION_FILE } from '../../lib/detection-loop';
import { INCIDENT_DEFINITION_FILE } from '../../lib/incident-workflow';

/** `${name}`, spelled so no linter mistakes it for a template literal gone wrong. */
const placeholder = (name: string) => `$\{${name}}`;

let dir: string;
let file: string;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'asl-'));
  file = join(dir, 'test.asl.json');
  writeFileSync(
    file,
    JSON.stringify({
      StartAt: 'A',
      States: {
        A: {
          Type: 'Task',
          Resource: placeholder('FirstArn'),
          Parameters: { Q: placeholder('Second'), Again: placeholder('FirstArn') },
          End: true,
        },
      },
    }),
  );
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

test('placeholders are listed once each, sorted', () => {
  expect(aslPlaceholders(`${placeholder('B')} ${placeholder('A')} ${placeholder('B')} $notOne {C}`)).toEqual([
    'A',
    'B',
  ]);
});

test('the tick workflow uses the two function ARNs, the dead-letter queue URL and the incident workflow', () => {
  expect(aslPlaceholders(readFileSync(TICK_DEFINITION_FILE, 'utf8'))).toEqual([
    'CollectMetricsFunctionArn',
    'FailedTicksQueueUrl',
    'IncidentStateMachineArn',
    'ScoreTickFunctionArn',
  ]);
});

test('the incident workflow uses its five function ARNs and nothing else', () => {
  expect(aslPlaceholders(readFileSync(INCIDENT_DEFINITION_FILE, 'utf8'))).toEqual([
    'CloseApprovalFunctionArn',
    'DecideFunctionArn',
    'NotifyFunctionArn',
    'RemediateFunctionArn',
    'RequestApprovalFunctionArn',
  ]);
});

test('a placeholder without a substitution fails', () => {
  expect(() => aslDefinition(file, { FirstArn: 'arn' })).toThrow(`${file}: \${Second} has no substitution`);
});

test('a substitution nothing uses fails (a renamed placeholder)', () => {
  expect(() => aslDefinition(file, { FirstArn: 'arn', Second: 'q', Third: 'x' })).toThrow(
    'substitution Third matches no placeholder',
  );
});

test('matching placeholders and substitutions give the file definition and the substitutions', () => {
  const { definitionSubstitutions } = aslDefinition(file, { FirstArn: 'arn', Second: 'q' });
  expect(definitionSubstitutions).toEqual({ FirstArn: 'arn', Second: 'q' });
});
