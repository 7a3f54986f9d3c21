// Synthesizes an environment's stack the way `cdk synth -c env=NAME` does (cdk.json feature flags included),
// keeping the cloud assembly so tests can read bundled code and the staged ASL file.

import { cpSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { App, type CfnElement } from 'aws-cdk-lib';
import { Template } from 'aws-cdk-lib/assertions';
import type { CloudAssembly } from 'aws-cdk-lib/cx-api';
import type { IConstruct } from 'constructs';
import { PROJECT_ROOT } from '../../lib/agent-function';
import { addEnvironmentStack } from '../../lib/sre-agent-app';
import type { SreAgentStack } from '../../lib/sre-agent-stack';

type Json = Record<string, unknown>;
export type Resource = { Type: string; Properties: Json; DeletionPolicy?: string; UpdateReplacePolicy?: string };

/** The feature flags and settings cdk.json gives every synth. */
export const CDK_JSON_CONTEXT: Json = JSON.parse(readFileSync(join(PROJECT_ROOT, 'cdk.json'), 'utf8')).context;

export interface Synthesized {
  readonly stack: SreAgentStack;
  readonly template: Template;
  readonly assembly: CloudAssembly;
  /** Resources of the template by logical id. */
  readonly resources: Record<string, Resource>;
  /** Logical id of an L2 construct's resource, e.g. `logicalId(stack.detectionLoop.stateMachine)`. */
  logicalId(construct: IConstruct): string;
  /** Removes the cloud assembly directory. */
  dispose(): void;
}

export function synthesize(context: Json): Synthesized {
  const app = new App({ context: { ...CDK_JSON_CONTEXT, ...context }, outdir: mkdtempSync(join(tmpdir(), 'cdk-')) });
  const stack = addEnvironmentStack(app);
  const assembly = app.synth();
  const template = Template.fromJSON(assembly.getStackByName(stack.stackName).template);
  return {
    stack,
    template,
    assembly,
    // Properties are never undefined here, so assertions can read them without guards.
    resources: Object.fromEntries(
      Object.entries(template.toJSON().Resources as Record<string, Resource>).map(([id, resource]) => [
        id,
        { ...resource, Properties: resource.Properties ?? {} },
      ]),
    ),
    logicalId: (construct) => stack.getLogicalId(construct.node.defaultChild as CfnElement),
    dispose: () => rmSync(assembly.directory, { recursive: true, force: true }),
  };
}

/** A copy of config/ in a temporary directory, for tests that break a file. */
export function copyConfigDir(): string {
  const dir = mkdtempSync(join(tmpdir(), 'sre-agent-config-'));
  cpSync(join(PROJECT_ROOT, 'config'), dir, { recursive: true });
  return dir;
}

export function resourcesOfType(resources: Record<string, Resource>, type: string): [string, Resource][] {
  return Object.entries(resources).filter(([, resource]) => resource.Type === type);
}
