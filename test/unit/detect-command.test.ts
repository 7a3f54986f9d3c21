// `sre-agent detect`: reading `timestamp,value` CSV files (NAB's format), its errors, and both output forms.

import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  CsvFormatError,
  detectCommand,
  detectSeries,
  parseTimeSeriesCsv,
  readTimeSeriesCsv,
  seriesKey,
} from '../../lambdas/cli/detect-command';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'detect-'));
});

afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
  jest.restoreAllMocks();
});

/** Writes `<dir>/<category>/<name>` and returns its path. */
function writeCsv(category: string, name: string, text: string): string {
  mkdirSync(join(dir, category), { recursive: true });
  const path = join(dir, category, name);
  writeFileSync(path, text);
  return path;
}

/** A NAB-like series: 5-minute points of noise with one spike at row `spike`. */
function seriesCsv(rows: number, spike: number): string {
  let seed = 7;
  const lines = ['timestamp,value'];
  for (let i = 0; i < rows; i++) {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    const t = new Date(Date.UTC(2014, 3, 1) + i * 300_000).toISOString().slice(0, 19).replace('T', ' ');
    lines.push(`${t},${i === spike ? 95 : (40 + (seed / 2147483648) * 4).toFixed(3)}`);
  }
  return `${lines.join('\n')}\n`;
}

/** Captures what the command writes to stdout. */
function captureStdout(): { text: () => string } {
  let out = '';
  jest.spyOn(process.stdout, 'write').mockImplementation((chunk: string | Uint8Array) => {
    out += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
    return true;
  });
  return { text: () => out };
}

const errorOf = (fn: () => unknown): CsvFormatError => {
  try {
    fn();
  } catch (error) {
    if (error instanceof CsvFormatError) return error;
    throw error;
  }
  throw new Error('expected a CsvFormatError');
};

describe('parseTimeSeriesCsv', () => {
  it('reads NAB rows as UTC, skipping blank lines, with a BOM and CRLF line ends', () => {
    const csv = parseTimeSeriesCsv(
      '\uFEFFtimestamp,value\r\n2014-04-01 00:00:00,20.5\r\n\r\n2014-04-01 00:05:00,-3e2\r\n',
      'a.csv',
    );
    expect(csv.timestamps).toEqual(['2014-04-01 00:00:00', '2014-04-01 00:05:00']);
    expect(Array.from(csv.times)).toEqual([Date.UTC(2014, 3, 1) / 1000, Date.UTC(2014, 3, 1, 0, 5) / 1000]);
    expect(Array.from(csv.values)).toEqual([20.5, -300]);
  });

  it('accepts a T separator, fractional seconds and a trailing Z, and reads empty or NaN values as missing', () => {
    const csv = parseTimeSeriesCsv(
      'timestamp,value\n2014-04-01T00:00:00.000Z,1\n2014-04-01 00:05:00,\n2014-04-01 00:10:00,NaN\n',
      'a.csv',
    );
    expect(csv.timestamps[0]).toBe('2014-04-01 00:00:00');
    expect(csv.values[1]).toBeNaN();
    expect(csv.values[2]).toBeNaN();
  });

  it.each([
    ['an empty file', '', 'a.csv: empty file'],
    ['a wrong header', 'time,value\n2014-04-01 00:00:00,1\n', 'a.csv:1: header is "time,value"'],
    ['a row with three cells', 'timestamp,value\n2014-04-01 00:00:00,1,2\n', 'a.csv:2: expected 2 cells'],
    ['a bad timestamp', 'timestamp,value\n2014-04-01 00:00:00,1\n04/01/2014 00:05,2\n', 'a.csv:3: bad timestamp'],
    ['an impossible date', 'timestamp,value\n2014-02-30 00:00:00,1\n', 'a.csv:2: bad timestamp "2014-02-30 00:00:00"'],
    ['a value that is not a number', 'timestamp,value\n2014-04-01 00:00:00,12abc\n', 'a.csv:2: bad value "12abc"'],
  ])('rejects %s, naming the file and line', (_what, text, message) => {
    const error = errorOf(() => parseTimeSeriesCsv(text, 'a.csv'));
    expect(error.name).toBe('CsvFormatError');
    expect(error.message).toContain(message);
  });
});

describe('readTimeSeriesCsv', () => {
  it('turns a missing file or a directory into a CsvFormatError', () => {
    expect(errorOf(() => readTimeSeriesCsv(join(dir, 'nope.csv'))).message).toBe(
      `${join(dir, 'nope.csv')}: no such file`,
    );
    expect(errorOf(() => readTimeSeriesCsv(dir)).message).toContain('is a directory');
  });
});

describe('detectCommand', () => {
  it('prints {"<category>/<file>.csv": [flagged timestamps]} with --json, each file from scratch', async () => {
    const spiky = writeCsv('realTest', 'spiky.csv', seriesCsv(1500, 1200));
    const quiet = writeCsv('realTest', 'quiet.csv', seriesCsv(1500, -1));
    const out = captureStdout();
    await detectCommand([spiky, quiet], { json: true });
    const parsed = JSON.parse(out.text()) as Record<string, string[]>;
    expect(Object.keys(parsed)).toEqual(['realTest/spiky.csv', 'realTest/quiet.csv']);
    const spikeTime = new Date(Date.UTC(2014, 3, 1) + 1200 * 300_000).toISOString().slice(0, 19).replace('T', ' ');
    expect(parsed['realTest/spiky.csv']).toContain(spikeTime);
    expect(parsed['realTest/quiet.csv']).not.toContain(spikeTime);
    // From scratch per file: the same file alone gives the same flags.
    const alone = captureStdout();
    await detectCommand([spiky], { json: true });
    expect(JSON.parse(alone.text())['realTest/spiky.csv']).toEqual(parsed['realTest/spiky.csv']);
  });

  it('prints a table per file without --json', async () => {
    const spiky = writeCsv('realTest', 'spiky.csv', seriesCsv(1500, 1200));
    const out = captureStdout();
    await detectCommand([spiky], {});
    const text = out.text();
    expect(text).toMatch(/^realTest\/spiky\.csv: 1500 points, \d+ flagged\n/);
    expect(text).toContain('timestamp');
    expect(text).toMatch(/2014-04-05 04:00:00 {2,}\d\.\d{6} {2}95\n/);
  });

  it('fails on bad input before printing anything', async () => {
    const good = writeCsv('realTest', 'good.csv', seriesCsv(300, -1));
    const bad = writeCsv('realTest', 'bad.csv', 'timestamp,value\n2014-04-01 00:00:00,oops\n');
    const out = captureStdout();
    await expect(detectCommand([good, bad], { json: true })).rejects.toThrow(CsvFormatError);
    await expect(detectCommand([good, bad], { json: true })).rejects.toThrow(`${bad}:2: bad value "oops"`);
    await expect(detectCommand([], {})).rejects.toThrow('no CSV file given');
    expect(out.text()).toBe('');
  });

  it('keys series by parent directory and file name, and detects series point by point', () => {
    expect(seriesKey('/data/realAWSCloudwatch/ec2.csv')).toBe('realAWSCloudwatch/ec2.csv');
    const series = parseTimeSeriesCsv(seriesCsv(1500, 1200), 'x.csv');
    const { scores, flagged } = detectSeries(series);
    expect(scores).toHaveLength(1500);
    expect(flagged).toContain(1200);
    expect(scores[1200]).toBeGreaterThan(0.99);
  });
});
