// Unit tests of the runbook loader and of the runbooks shipped in config/runbooks.
//
// Front matter, titles, ids, redaction, and errors that name the file.

import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { loadRunbooks, parseRunbook, RunbookError } from '../../lambdas/adapters/knowledge/runbooks';

describe('parseRunbook', () => {
  it('reads service, fault and title from the front matter, and keeps the body as text', () => {
    const doc = parseRunbook(
      'orders-db-failover.md',
      '---\nservice: orders-db\nfault: datastore-saturation\ntitle: Orders DB failover\nowner: dba\n---\n\n# Heading\n\nCheck replica lag first.\n',
    );
    expect(doc).toEqual({
      id: 'runbook:orders-db-failover.md',
      kind: 'runbook',
      service: 'orders-db',
      faultKind: 'datastore-saturation',
      title: 'Orders DB failover',
      text: '# Heading\n\nCheck replica lag first.',
    });
  });

  it('takes the title from the first heading, else the file name, when the front matter has none', () => {
    expect(parseRunbook('cache.md', 'Intro line\n\n## Flush the cache ##\nsteps').title).toBe('Flush the cache');
    const plain = parseRunbook('disk-fill.md', 'Free space on the volume.');
    expect(plain).toEqual({
      id: 'runbook:disk-fill.md',
      kind: 'runbook',
      title: 'disk-fill',
      text: 'Free space on the volume.',
    });
  });

  it('accepts Windows line endings and a byte order mark', () => {
    const doc = parseRunbook('lag.md', '\uFEFF---\r\nfault: consumer-lag\r\n---\r\nScale the consumers.\r\n');
    expect(doc).toMatchObject({ faultKind: 'consumer-lag', text: 'Scale the consumers.' });
  });

  it('redacts secrets written into a runbook', () => {
    const doc = parseRunbook('db.md', 'Connect with mysql://admin:hunter2secret@10.0.3.17:3306/orders');
    expect(doc.text).not.toContain('hunter2secret');
    expect(doc.text).not.toContain('10.0.3.17');
    expect(doc.text).toContain('[REDACTED:url_password]');
  });

  it('names the file and the field when the front matter is wrong', () => {
    expect(() => parseRunbook('typo.md', '---\nfault: bad_deploy\n---\nbody')).toThrow(RunbookError);
    expect(() => parseRunbook('typo.md', '---\nfault: bad_deploy\n---\nbody')).toThrow(
      /runbook typo\.md: front matter fault/,
    );
    expect(() => parseRunbook('broken.md', '---\nservice: [unclosed\n---\nbody')).toThrow(
      /runbook broken\.md: front matter is not YAML/,
    );
    expect(() => parseRunbook('list.md', '---\n- a\n- b\n---\nbody')).toThrow(/runbook list\.md: front matter/);
  });
});

describe('loadRunbooks', () => {
  let dir: string;
  beforeEach(async () => {
    dir = await mkdtemp(join(tmpdir(), 'sre-agent-runbooks-'));
  });
  afterEach(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it('loads every Markdown file in name order, skipping other files, folders and empty runbooks', async () => {
    await writeFile(join(dir, 'b.md'), '---\nfault: disk-fill\n---\nFree space.');
    await writeFile(join(dir, 'a.md'), '# Alpha\nFirst.');
    await writeFile(join(dir, 'empty.md'), '---\ntitle: Nothing yet\n---\n');
    await writeFile(join(dir, 'notes.txt'), 'not a runbook');
    await mkdir(join(dir, 'drafts.md'));
    const docs = await loadRunbooks(dir);
    expect(docs.map((d) => d.id)).toEqual(['runbook:a.md', 'runbook:b.md']);
    expect(docs[1]).toMatchObject({ faultKind: 'disk-fill', title: 'b' });
  });

  it('finds no runbooks when the directory does not exist', async () => {
    expect(await loadRunbooks(join(dir, 'missing'))).toEqual([]);
  });

  it('fails on a bad runbook instead of leaving it out unnoticed', async () => {
    await writeFile(join(dir, 'bad.md'), '---\nfault: nope\n---\nbody');
    await expect(loadRunbooks(dir)).rejects.toThrow(/runbook bad\.md/);
  });

  it('loads the shipped runbooks, with their fault kinds, and nothing in them needs redacting', async () => {
    const docs = await loadRunbooks(join(__dirname, '../../config/runbooks'));
    expect(docs.map((d) => [d.id, d.faultKind])).toEqual([
      ['runbook:bad-deploy.md', 'bad-deploy'],
      ['runbook:datastore-saturation.md', 'datastore-saturation'],
      ['runbook:engine-latency.md', 'engine-latency'],
    ]);
    for (const doc of docs) {
      expect(doc.title.length).toBeGreaterThan(10);
      expect(doc.text).not.toContain('[REDACTED:');
      expect(doc.service).toBeUndefined();
    }
    expect(docs[0].text).toContain('rollout undo');
    expect(docs[1].text).toMatch(/max_connections/);
    expect(docs[1].text).toMatch(/Failover criteria/);
  });
});
