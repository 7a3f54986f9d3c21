// Executes the project's real ASL files with aws-local-stepfunctions: placeholders are substituted as CDK
// does on AWS, and each Task state runs a local handler shaped like the AWS integration it stands for.

import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { StateMachine } from 'aws-local-stepfunctions';

export const STATE_MACHINES_DIR = resolve(__dirname, '..', '..', 'state-machines');

export class MissingSubstitutionError extends Error {
  override readonly name = 'MissingSubstitutionError';
}

/** Replaces `${Name}` placeholders exactly as DefinitionBody substitutions do; every one must be given. */
export function substitute(text: string, substitutions: Record<string, string>, file: string): string {
  return text.replace(/\$\{([A-Za-z0-9_]+)\}/g, (_match, name: string) => {
    const value = substitutions[name];
    if (value === undefined) throw new MissingSubstitutionError(`${file}: no value for placeholder \${${name}}`);
    return value;
  });
}

export function placeholdersOf(text: string): string[] {
  return [...new Set([...text.matchAll(/\$\{([A-Za-z0-9_]+)\}/g)].map((m) => m[1]))];
}

export function loadDefinition(fileName: string, substitutions: Record<string, string>): object {
  const file = resolve(STATE_MACHINES_DIR, fileName);
  return JSON.parse(substitute(readFileSync(file, 'utf8'), substitutions, file)) as object;
}

type LocalHandler = (input: unknown) => Promise<unknown>;

/** Wraps a function as the `arn:aws:states:::lambda:invoke` integration answers: `{ StatusCode, Payload }`. */
export const asLambdaInvoke =
  (fn: (payload: never) => Promise<unknown>): LocalHandler =>
  async (input) => {
    const { Payload } = input as { Payload: never };
    return { StatusCode: 200, ExecutedVersion: '$LATEST', Payload: await fn(Payload) };
  };

export class LocalStateMachine {
  private readonly machine: StateMachine;

  constructor(
    definition: object,
    private readonly handlers: Record<string, LocalHandler>,
    /** Wait states that take this many ms instead (0: the handlers wait on the simulated clock). */
    private readonly waitTimeOverrides: Record<string, number> = {},
  ) {
    this.machine = new StateMachine(localTimeoutPaths(definition as AslDefinition) as never, {
      validationOptions: { checkArn: true, checkPaths: true },
    });
  }

  /**
   * Runs one execution; `context` stands in for the parts of the Context Object the ASL reads, and
   * `onStateEntered` hears every state entered (Choice and Pass included), as the execution history lists them.
   */
  async run(
    input: unknown,
    context?: Record<string, unknown>,
    onStateEntered?: (state: string) => void,
  ): Promise<unknown> {
    const execution = this.machine.run(input as never, {
      overrides: { taskResourceLocalHandlers: this.handlers as never, waitTimeOverrides: this.waitTimeOverrides },
      ...(context ? { context: context as never } : {}),
    });
    if (!onStateEntered) return execution.result;
    const recorded = (async () => {
      for await (const event of execution.eventLogs)
        if (event.type === 'StateEntered') onStateEntered(event.state.name);
    })();
    try {
      return await execution.result;
    } finally {
      await recorded;
    }
  }
}

interface AslDefinition {
  readonly States: Record<string, { TimeoutSecondsPath?: string; Parameters?: { Payload?: Record<string, unknown> } }>;
}

/**
 * Step Functions resolves a Task's TimeoutSecondsPath against the state's input; aws-local-stepfunctions resolves
 * it against the request the Parameters build (`{FunctionName, Payload}`). The approval states also send the same
 * value in their payload, so the local runtime points the path at that copy: the same number, where the library
 * looks. A path with no copy in the payload cannot be run faithfully and is refused.
 */
export function localTimeoutPaths<T extends AslDefinition>(definition: T): T {
  const states = Object.fromEntries(
    Object.entries(definition.States).map(([name, state]) => {
      const path = state.TimeoutSecondsPath;
      if (!path) return [name, state];
      const copy = Object.entries(state.Parameters?.Payload ?? {}).find(
        ([key, value]) => key.endsWith('.$') && value === path,
      );
      if (!copy) {
        throw new Error(
          `${name}: TimeoutSecondsPath ${path} is not also sent in the payload; the local runtime needs it`,
        );
      }
      return [name, { ...state, TimeoutSecondsPath: `$.Payload.${copy[0].slice(0, -2)}` }];
    }),
  );
  return { ...definition, States: states };
}
