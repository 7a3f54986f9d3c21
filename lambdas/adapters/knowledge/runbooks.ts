// Loads the team's Markdown runbooks as knowledge documents, one per file.
//
// Optional YAML front matter names the service, the fault kind and the title; the body is the text, redacted like
// everything else that is stored.

import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { redact } from '../../core/action/redact';
import { FAULT_KINDS } from '../../core/cognition/classify';
import type { KnowledgeDocument } from '../../core/diagnosis/knowledge';

// Unknown keys are allowed (owners, tags, review dates are common in runbook front matter); known ones are checked,
// so `fault: bad_deploy` is reported instead of quietly never matching.
const frontMatterSchema = z.looseObject({
  service: z.string().min(1).optional(),
  fault: z.enum(FAULT_KINDS).optional(),
  title: z.string().min(1).optional(),
});

export class RunbookError extends Error {
  override readonly name = 'RunbookError';
}

const FRONT_MATTER = /^---[ \t]*\r?\n([\s\S]*?)\r?\n---[ \t]*(?:\r?\n|$)/;

/** One runbook file as a document; `fileName` is the name inside the runbooks directory. */
export function parseRunbook(fileName: string, content: string): KnowledgeDocument {
  const source = content.replace(/^\uFEFF/, '');
  const match = FRONT_MATTER.exec(source);
  let meta: z.infer<typeof frontMatterSchema> = {};
  if (match) {
    let raw: unknown;
    try {
      raw = parseYaml(match[1]);
    } catch (error) {
      throw new RunbookError(`runbook ${fileName}: front matter is not YAML: ${(error as Error).message}`);
    }
    const parsed = frontMatterSchema.safeParse(raw ?? {});
    if (!parsed.success) {
      const issue = parsed.error.issues[0];
      throw new RunbookError(`runbook ${fileName}: front matter ${issue?.path.join('.') ?? ''}: ${issue?.message}`);
    }
    meta = parsed.data;
  }
  const body = (match ? source.slice(match[0].length) : source).trim();
  // The first ATX heading of any level, without the optional closing hashes.
  const heading = /^#{1,6}[ \t]+(.+?)(?:[ \t]+#+)?[ \t]*$/m.exec(body)?.[1];
  const title = meta.title ?? heading ?? fileName.replace(/\.md$/i, '');
  return {
    id: `runbook:${fileName}`,
    kind: 'runbook',
    ...(meta.service ? { service: meta.service } : {}),
    ...(meta.fault ? { faultKind: meta.fault } : {}),
    title: redact(title).text,
    text: redact(body).text,
  };
}

/** Every `*.md` file of the directory, in file-name order, skipping empty ones; no directory means no runbooks. */
export async function loadRunbooks(dir: string): Promise<KnowledgeDocument[]> {
  let names: string[];
  try {
    const entries = await readdir(dir, { withFileTypes: true });
    names = entries
      .filter((e) => e.isFile() && /\.md$/i.test(e.name))
      .map((e) => e.name)
      .sort();
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
  const docs: KnowledgeDocument[] = [];
  for (const name of names) docs.push(parseRunbook(name, await readFile(join(dir, name), 'utf8')));
  return docs.filter((doc) => doc.text.length > 0);
}
