// Parses configuration text into validated objects; every error names the file, the field and what is wrong.

import { parseDocument } from 'yaml';
import type { z } from 'zod';
import type { $ZodRawIssue } from 'zod/v4/core';
import { type Playbooks, playbooksSchema } from '../decision/plan';
import { type CloudWatchConfig, cloudWatchConfigSchema, cloudWatchTopologyProblems } from './cloudwatch-schema';
import { ConfigError } from './config-error';
import { type AgentConfig, agentConfigSchema, type SignalCatalog, signalCatalogSchema, type Topology } from './schema';

export { ConfigError };

function formatPath(path: readonly PropertyKey[]): string {
  if (path.length === 0) return '(top level)';
  return path.reduce<string>((out, key) => {
    if (typeof key === 'number') return `${out}[${key}]`;
    return out ? `${out}.${String(key)}` : String(key);
  }, '');
}

const shown = (value: unknown): string => {
  const text = JSON.stringify(value) ?? String(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
};

/** What the file holds where a value was expected, in the words of the messages below. */
function found(input: unknown): string {
  if (input === undefined) return 'missing';
  if (Array.isArray(input)) return 'got a list';
  if (input !== null && typeof input === 'object') return 'got a mapping';
  return `got ${shown(input)}`;
}

const eitherOf = (items: readonly string[]): string =>
  items.length === 1 ? items[0] : `${items.slice(0, -1).join(', ')} or ${items[items.length - 1]}`;

/**
 * Zod's own words for a value outside a fixed set ("Invalid input", or "expected one of 7|14|...") leave the
 * reader guessing; these list what is allowed and what the file says. Messages a schema sets itself win.
 */
export function readableIssue(issue: $ZodRawIssue): string | undefined {
  if (issue.code === 'invalid_value') {
    const allowed = issue.values.length === 1 ? 'must be' : 'must be one of';
    return `${allowed} ${issue.values.map(shown).join(', ')} (${found(issue.input)})`;
  }
  if (issue.code !== 'invalid_union') return undefined;
  if ('discriminator' in issue && Array.isArray(issue.options)) {
    const value = (issue.input as Record<string, unknown> | null | undefined)?.[String(issue.discriminator)];
    return `must be one of ${issue.options.map(shown).join(', ')} (${found(value)})`;
  }
  // A union of plain types (string | number | boolean): name them all.
  const types = issue.errors.map((branch) =>
    branch.length === 1 && branch[0].code === 'invalid_type' && branch[0].path.length === 0
      ? branch[0].expected
      : undefined,
  );
  if (types.length === 0 || types.some((type) => type === undefined)) return undefined;
  const named = (types as string[]).map((type) => `${/^[aeiou]/.test(type) ? 'an' : 'a'} ${type}`);
  return `must be ${eitherOf(named)} (${found(issue.input)})`;
}

/** Parses YAML (or JSON) text and validates it against `schema`, naming file and field on failure. */
export function parseWithSchema<S extends z.ZodType>(schema: S, text: string, file: string): z.infer<S> {
  const document = parseDocument(text, { prettyErrors: true });
  if (document.errors.length > 0) {
    throw new ConfigError(
      file,
      document.errors.map((e) => `YAML syntax: ${e.message.split('\n')[0]}`),
    );
  }
  const result = schema.safeParse(document.toJS(), { error: readableIssue });
  if (!result.success) {
    throw new ConfigError(
      file,
      result.error.issues.map((issue) => `${formatPath(issue.path)}: ${issue.message}`),
    );
  }
  return result.data;
}

/** Parses the playbooks and checks that their recovery signals are in the catalog. */
export function parsePlaybooks(text: string, file: string, catalog: SignalCatalog): Playbooks {
  const playbooks = parseWithSchema(playbooksSchema, text, file);
  const known = new Set(catalog.signals.map((s) => s.id));
  const problems: string[] = [];
  playbooks.playbooks.forEach((playbook, index) => {
    playbook.recovery.signals.forEach((signal, j) => {
      if (!known.has(signal)) problems.push(`playbooks[${index}].recovery.signals[${j}]: unknown signal "${signal}"`);
    });
  });
  if (problems.length > 0) throw new ConfigError(file, problems);
  return playbooks;
}

export const parseAgentConfig = (text: string, file: string): AgentConfig =>
  parseWithSchema(agentConfigSchema, text, file);

/** Parses the signal catalog and checks that per-entity limits name known services. */
export function parseSignalCatalog(text: string, file: string, topology?: Topology): SignalCatalog {
  const catalog = parseWithSchema(signalCatalogSchema, text, file);
  if (topology) {
    const known = new Set(topology.services.map((s) => s.name));
    const problems: string[] = [];
    catalog.signals.forEach((signal, index) => {
      for (const entity of Object.keys(signal.limits)) {
        if (!known.has(entity)) problems.push(`signals[${index}].limits.${entity}: unknown service "${entity}"`);
      }
    });
    if (problems.length > 0) throw new ConfigError(file, problems);
  }
  return catalog;
}

/** Parses a CloudWatch section on its own (YAML or JSON) and, given a topology, checks that every service exists. */
export function parseCloudWatchConfig(text: string, file: string, topology?: Topology): CloudWatchConfig {
  const config = parseWithSchema(cloudWatchConfigSchema, text, file);
  const problems = topology ? cloudWatchTopologyProblems(config, topology) : [];
  if (problems.length > 0) throw new ConfigError(file, problems);
  return config;
}
