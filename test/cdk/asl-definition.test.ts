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

describe('the incident workflow', () => {
  type State = {
    Type: string;
    Result?: string;
    Next?: string;
    TimeoutSeconds?: number;
    TimeoutSecondsPath?: string;
    Parameters?: { Payload?: Record<string, unknown> };
    Catch?: { ErrorEquals: string[]; Next: string }[];
  };
  const { States } = JSON.parse(readFileSync(INCIDENT_DEFINITION_FILE, 'utf8')) as { States: Record<string, State> };

  test('the approval waits last as long as CheckGuardrails set from the config, and Slack is told the same', () => {
    for (const name of ['RequestApproval', 'RequestQuorumApproval']) {
      // Step Functions resolves the path against the state's input: the case, where CheckGuardrails put it.
      expect(States[name]).toMatchObject({ Type: 'Task', TimeoutSecondsPath: '$.approvalTimeoutSeconds' });
      expect(States[name].TimeoutSeconds).toBeUndefined();
      expect(States[name].Parameters?.Payload?.['timeoutSeconds.$']).toBe('$.approvalTimeoutSeconds');
    }
  });

  test('every state that may follow an approval request names itself when it fails, then notifies', () => {
    const named = Object.entries(States).filter(([, state]) =>
      state.Catch?.some((c) => c.ErrorEquals.includes('States.ALL') && States[c.Next]?.Type === 'Pass'),
    );
    expect(named.map(([name]) => name).sort()).toEqual(
      [
        'Close',
        'CloseApprovalMessage',
        'Escalate',
        'MarkApprovalTimedOut',
        'NotifyNoRecovery',
        'NotifyOutcome',
        'RecordRejection',
        'Remediate',
        'RequestApproval',
        'RequestQuorumApproval',
        'UndoRemediation',
        'VerifyRecovery',
      ].sort(),
    );
    for (const [name, state] of named) {
      const failed = state.Catch?.find((c) => c.ErrorEquals.includes('States.ALL'))?.Next ?? '';
      expect(States[failed]).toMatchObject({ Type: 'Pass', Result: name, Next: 'NotifyFailure' });
    }
  });

  test('the failure path may close the approval message but always ends in IncidentWorkflowFailed', () => {
    expect(States.NotifyFailure).toMatchObject({ Next: 'WasApprovalRequested' });
    expect(States.NotifyFailure.Catch?.map((c) => c.Next)).toEqual(['WasApprovalRequested']);
    expect(States.CloseApprovalOnFailure).toMatchObject({ Next: 'IncidentWorkflowFailed' });
    expect(States.CloseApprovalOnFailure.Catch).toEqual([
      expect.objectContaining({ ErrorEquals: ['States.ALL'], Next: 'IncidentWorkflowFailed' }),
    ]);
    expect(States.CloseApprovalOnFailure.Parameters?.Payload).toMatchObject({ outcome: 'failed' });
  });
});
