// Reads the per-environment config and its signal catalog from disk (synth, CLI) and validates both.

import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { DEFAULT_RUNBOOKS_DIR } from '../core/config/knowledge-schema';
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

/** The config file and field that name another file: a missing file is reported there, where it can be fixed. */
interface NamedBy {
  readonly file: string;
  readonly field: string;
}

/** A file-system problem with `path`, against the field that named it when there is one. */
function pathError(path: string, problem: string, namedBy?: NamedBy): ConfigError {
  return namedBy
    ? new ConfigError(namedBy.file, [`${namedBy.field}: ${problem}: ${path}`])
    : new ConfigError(path, [problem]);
}

function readText(file: string, namedBy?: NamedBy): string {
  if (!existsSync(file)) throw pathError(file, 'file not found', namedBy);
  if (!statSync(file).isFile()) throw pathError(file, 'not a file', namedBy);
  return readFileSync(file, 'utf8');
}

/** Loads `config/<env>.yaml` and the signal catalog it names; throws ConfigError naming file and field. */
export function loadConfigFile(configFile: string): LoadedConfig {
  const config = parseAgentConfig(readText(configFile), configFile);
  const relative = (path: string) => join(dirname(configFile), path);
  const catalogFile = relative(config.signalCatalog);
  const catalog = parseSignalCatalog(
    readText(catalogFile, { file: configFile, field: 'signalCatalog' }),
    catalogFile,
    config.topology,
  );
  const playbooksFile = relative(config.playbooks);
  const playbooks = parsePlaybooks(
    readText(playbooksFile, { file: configFile, field: 'playbooks' }),
    playbooksFile,
    catalog,
  );
  const runbooksDir = relative(config.diagnosis.knowledge.runbooks);
  // The default directory may be absent (no runbooks); one the config names must exist, or a typo hides them all.
  if (config.diagnosis.knowledge.runbooks !== DEFAULT_RUNBOOKS_DIR || existsSync(runbooksDir)) {
    const namedBy = { file: configFile, field: 'diagnosis.knowledge.runbooks' };
    if (!existsSync(runbooksDir)) throw pathError(runbooksDir, 'directory not found', namedBy);
    if (!statSync(runbooksDir).isDirectory()) throw pathError(runbooksDir, 'not a directory', namedBy);
  }
  const runbooks = readRunbooks(runbooksDir);
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
