// Reads the per-environment config and its signal catalog from disk (synth, CLI) and validates both.

import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { ConfigError, parseAgentConfig, parsePlaybooks, parseSignalCatalog } from '../core/config/load';
import type { AgentConfig, SignalCatalog } from '../core/config/schema';
import type { Playbooks } from '../core/decision/plan';
import type { KnowledgeDocument } from '../core/diagnosis/knowledge';
import { parseRunbook } from './knowledge/runbooks';

export interface LoadedConfig {
  readonly config: AgentConfig;
  readonly catalog: SignalCatalog;
  readonly playbooks: Playbooks;
  /** Runbooks (Markdown) from `diagnosis.knowledge.runbooks`, bundled so the knowledge base can hold them. */
  readonly runbooks: KnowledgeDocument[];
  /** Files read, for messages and for synth to track. */
  readonly files: { readonly config: string; readonly catalog: string; readonly playbooks: string };
}

export const DEFAULT_CONFIG_DIR = resolve(__dirname, '..', '..', 'config');

function readText(file: string): string {
  if (!existsSync(file)) throw new ConfigError(file, ['file not found']);
  return readFileSync(file, 'utf8');
}

/** Loads `config/<env>.yaml` and the signal catalog it names; throws ConfigError naming file and field. */
export function loadConfigFile(configFile: string): LoadedConfig {
  const config = parseAgentConfig(readText(configFile), configFile);
  const catalogFile = join(dirname(configFile), config.signalCatalog);
  const catalog = parseSignalCatalog(readText(catalogFile), catalogFile, config.topology);
  const playbooksFile = join(dirname(configFile), config.playbooks);
  const playbooks = parsePlaybooks(readText(playbooksFile), playbooksFile, catalog);
  const runbooks = readRunbooks(join(dirname(configFile), config.diagnosis.knowledge.runbooks));
  return {
    config,
    catalog,
    playbooks,
    runbooks,
    files: { config: configFile, catalog: catalogFile, playbooks: playbooksFile },
  };
}

/** Every `*.md` in the directory, parsed; none when the directory does not exist. */
export function readRunbooks(dir: string): KnowledgeDocument[] {
  if (!existsSync(dir)) return [];
  return readdirSync(dir, { withFileTypes: true })
    .filter((e) => e.isFile() && /\.md$/i.test(e.name))
    .map((e) => e.name)
    .sort()
    .map((name) => parseRunbook(name, readFileSync(join(dir, name), 'utf8')));
}

export function loadEnvironmentConfig(environment: string, configDir = DEFAULT_CONFIG_DIR): LoadedConfig {
  if (!/^[a-z0-9-]+$/.test(environment)) {
    throw new ConfigError(join(configDir, `${environment}.yaml`), [`environment name "${environment}" is not valid`]);
  }
  return loadConfigFile(join(configDir, `${environment}.yaml`));
}

/** The playbooks bundled with the project, checked against the bundled signal catalog (replay and tests). */
export function defaultPlaybooks(configDir = DEFAULT_CONFIG_DIR): Playbooks {
  const catalogFile = join(configDir, 'promql-queries.yaml');
  const catalog = parseSignalCatalog(readText(catalogFile), catalogFile);
  const file = join(configDir, 'playbooks.yaml');
  return parsePlaybooks(readText(file), file, catalog);
}
