import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import fc from 'fast-check';
import {
  type MetricStore,
  OpenMetricsParser,
  parseFloatToken,
  parseOpenMetrics,
  readOpenMetricsFile,
  ScenarioFormatError,
} from '../../lambdas/adapters/scenario/openmetrics';

const SAMPLE = [
  '# HELP http_requests Requests served, "quoted" and a \\\\ backslash.',
  '# TYPE http_requests counter',
  'http_requests_total{service="order-api",namespace="trading"} 10 1700000000',
  'http_requests_total{namespace="trading",service="order-api",} 12 1700000060.5',
  'http_requests_total{service="api-gateway",namespace="edge"} 7 1700000000 # {trace_id="abc"} 1 1700000000',
  '# TYPE service:latency:p99 gauge',
  'service:latency:p99{service="order-api",path="/v1/\\"orders\\"\\\\x\\nend",empty=""} NaN 1700000000',
  'service:latency:p99{service="order-api",path="/v1/\\"orders\\"\\\\x\\nend",empty=""} +Inf 1700000060',
  'service:latency:p99{service="order-api",path="/v1/\\"orders\\"\\\\x\\nend",empty=""} -inf 1700000120',
  'service:latency:p99{service="order-api",path="/v1/\\"orders\\"\\\\x\\nend",empty=""} 1.5e-3 1700000180.000',
  '# TYPE disk_free_bytes gauge',
  '# UNIT disk_free_bytes bytes',
  'disk_free_bytes 1e9 1700000000',
  'untyped_metric 42 1700000000',
  '# EOF',
  '',
].join('\n');

const errorOf = (fn: () => unknown): ScenarioFormatError => {
  try {
    fn();
  } catch (error) {
    if (error instanceof ScenarioFormatError) return error;
    throw error;
  }
  throw new Error('expected a ScenarioFormatError');
};

function summary(store: MetricStore): unknown {
  return [...store.metrics.values()].map((g) => ({
    name: g.name,
    type: g.type,
    series: g.series.map((s) => ({ id: s.id, ts: [...s.timestamps], vs: [...s.values].map(String) })),
  }));
}

describe('parseOpenMetrics', () => {
  it('parses metadata, labels with escapes, NaN/Inf and fractional timestamps into sorted columns', () => {
    const store = parseOpenMetrics(SAMPLE);
    expect([...store.metrics.keys()]).toEqual([
      'http_requests_total',
      'service:latency:p99',
      'disk_free_bytes',
      'untyped_metric',
    ]);
    expect(store.seriesCount).toBe(5);
    expect(store.sampleCount).toBe(9);
    expect(store.minTime).toBe(1700000000);
    expect(store.maxTime).toBe(1700000180);

    const requests = store.metrics.get('http_requests_total')!;
    expect(requests).toMatchObject({
      family: 'http_requests',
      type: 'counter',
      help: 'Requests served, "quoted" and a \\ backslash.',
    });
    // Two spellings of one label set (order, trailing comma) are one series.
    expect(requests.series).toHaveLength(2);
    const orderApi = requests.series[0];
    expect(orderApi.labels).toEqual({ namespace: 'trading', service: 'order-api' });
    expect(Object.keys(orderApi.labels)).toEqual(['namespace', 'service']);
    expect(orderApi.id).toBe('http_requests_total{namespace="trading",service="order-api"}');
    expect(orderApi.timestamps).toBeInstanceOf(Float64Array);
    expect([...orderApi.timestamps]).toEqual([1700000000, 1700000060.5]);
    expect([...orderApi.values]).toEqual([10, 12]);
    // The exemplar is ignored.
    expect([...requests.series[1].values]).toEqual([7]);

    const latency = store.metrics.get('service:latency:p99')!;
    expect(latency.type).toBe('gauge');
    const series = latency.series[0];
    expect(series.labels).toEqual({ path: '/v1/"orders"\\x\nend', service: 'order-api' });
    expect(series.id).toBe('service:latency:p99{path="/v1/\\"orders\\"\\\\x\\nend",service="order-api"}');
    expect([...series.values]).toEqual([Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY, 0.0015]);

    expect(store.metrics.get('disk_free_bytes')).toMatchObject({ type: 'gauge', unit: 'bytes' });
    expect(store.metrics.get('untyped_metric')).toMatchObject({ type: 'unknown', family: 'untyped_metric' });
  });

  it('accepts a dump without any # TYPE, with families interleaved and a series split across the file', () => {
    const store = parseOpenMetrics(
      ['a{s="1"} 1 60.000', 'b{s="1"} 2 60.000', 'a{s="1"} 3 120.000', 'a{s="2"} 4 60', '# EOF'].join('\n'),
    );
    expect(summary(store)).toEqual([
      {
        name: 'a',
        type: 'unknown',
        series: [
          { id: 'a{s="1"}', ts: [60, 120], vs: ['1', '3'] },
          { id: 'a{s="2"}', ts: [60], vs: ['4'] },
        ],
      },
      { name: 'b', type: 'unknown', series: [{ id: 'b{s="1"}', ts: [60], vs: ['2'] }] },
    ]);
  });

  it('gives the same series whether the file is ordered by series or by time', () => {
    const points = [60, 120, 180];
    const spellings = ['x{a="1",b="2"}', 'x{b="2",a="1"}', 'x{a="1",b="2",}'];
    const others = ['x{a="2"}', 'y', 'x{a="3"}'];
    const bySeries: string[] = [];
    for (const name of others) for (const t of points) bySeries.push(`${name} ${t / 60} ${t}`);
    points.forEach((t, i) => {
      bySeries.push(`${spellings[i]} ${t / 60} ${t}`);
    });
    const byTime: string[] = [];
    points.forEach((t, i) => {
      for (const name of [...others, spellings[i]]) byTime.push(`${name} ${t / 60} ${t}`);
    });
    const flat = (lines: string[]) =>
      [...parseOpenMetrics([...lines, '# EOF', ''].join('\n')).metrics.values()]
        .flatMap((g) => g.series)
        .map((s) => `${s.id} ${[...s.timestamps]} ${[...s.values]}`)
        .sort();
    expect(flat(byTime)).toEqual(flat(bySeries));
    expect(flat(byTime)).toContain('x{a="1",b="2"} 60,120,180 1,2,3');
  });

  it('accepts # EOF without a final newline and an empty file that is only # EOF', () => {
    expect(parseOpenMetrics('x 1 1\n# EOF').sampleCount).toBe(1);
    const empty = parseOpenMetrics('# EOF\n');
    expect(empty.sampleCount).toBe(0);
    expect(empty.minTime).toBeNaN();
  });

  it('drops an identical repeat of a sample', () => {
    const store = parseOpenMetrics('x 1 60\nx 1 60\nx NaN 120\nx NaN 120\n# EOF\n');
    expect(store.sampleCount).toBe(2);
  });

  it('gives the same store whatever the chunking (streaming)', () => {
    const whole = summary(parseOpenMetrics(SAMPLE));
    for (const size of [1, 2, 3, 7, 64]) {
      const parser = new OpenMetricsParser('metrics.om');
      for (let i = 0; i < SAMPLE.length; i += size) parser.push(SAMPLE.slice(i, i + size));
      expect(summary(parser.finish())).toEqual(whole);
    }
  });

  describe('errors name the file, the line and what is wrong', () => {
    const cases: [string, string, string][] = [
      [
        'a non-numeric value',
        'x 1 60\nx 2 120\nx abc 180\n# EOF\n',
        'metrics.om:3: sample for "x" has a non-numeric value "abc"',
      ],
      ['a missing # EOF', 'x 1 60\nx 2 120\n', 'metrics.om:2: missing "# EOF" at the end'],
      [
        'a truncated last line',
        'x 1 60\nx 2 12',
        'metrics.om:2: missing "# EOF" at the end: the last line "x 2 12" has no newline',
      ],
      ['data after # EOF', 'x 1 60\n# EOF\nx 2 120\n', 'metrics.om:3: unexpected data after "# EOF"'],
      ['a blank line', 'x 1 60\n\nx 2 120\n# EOF\n', 'metrics.om:2: empty line'],
      ['CRLF line endings', 'x 1 60\r\n# EOF\r\n', 'metrics.om:1: line ends with a carriage return'],
      ['an unknown comment', '# just a note\nx 1 60\n# EOF\n', 'metrics.om:1: unexpected comment "# just a note"'],
      ['a comment without a space', '#TYPE x gauge\n# EOF\n', 'metrics.om:1: unexpected comment "#TYPE x gauge"'],
      ['an invalid type', '# TYPE x gauges\n# EOF\n', 'metrics.om:1: invalid metric type "gauges" for "x"'],
      ['a TYPE without a type', '# TYPE x\n# EOF\n', 'metrics.om:1: "# TYPE x" needs a space and a type'],
      [
        'a unit that is not a suffix',
        '# UNIT x_bytes seconds\n# EOF\n',
        'metrics.om:1: unit "seconds" is not a suffix',
      ],
      ['a missing timestamp', 'x 1 60\nx 2\n# EOF\n', 'metrics.om:2: sample for "x" has no timestamp'],
      ['a NaN timestamp', 'x 1 NaN\n# EOF\n', 'metrics.om:1: sample for "x" has an invalid timestamp "NaN"'],
      [
        'a bad timestamp',
        'x{a="b"} 1 2026-11-01\n# EOF\n',
        'metrics.om:1: sample for "x" has an invalid timestamp "2026-11-01"',
      ],
      ['a double space', 'x  1 60\n# EOF\n', 'metrics.om:1: sample for "x" has no value (fields must be separated'],
      ['text after the timestamp', 'x 1 60 70\n# EOF\n', 'metrics.om:1: unexpected "7" after the timestamp of "x"'],
      ['a sample with no value', 'x{a="b"}\n# EOF\n', 'metrics.om:1: sample for "x" has no value'],
      ['an unterminated label value', 'x{a="b} 1 60\n# EOF\n', 'metrics.om:1: unterminated value of label "a"'],
      ['an unquoted label value', 'x{a=b} 1 60\n# EOF\n', 'metrics.om:1: label "a" of "x" needs a double-quoted value'],
      ['a label without "="', 'x{a} 1 60\n# EOF\n', 'metrics.om:1: expected "=" after label name "a" in "x"'],
      ['a bad label name', 'x{1a="b"} 1 60\n# EOF\n', 'metrics.om:1: expected a label name in "x", got "1"'],
      ['a missing comma', 'x{a="b" c="d"} 1 60\n# EOF\n', 'metrics.om:1: expected "," or "}" in the labels of "x"'],
      ['a label given twice', 'x{a="b",a="c"} 1 60\n# EOF\n', 'metrics.om:1: label "a" appears twice'],
      ['a bad metric name', '1x 1 60\n# EOF\n', 'metrics.om:1: expected a metric name or a comment, got "1"'],
      ['a bad character in a name', 'x-y 1 60\n# EOF\n', 'metrics.om:1: invalid character "-" after metric name "x"'],
      ['a sample out of time order', 'x 1 120\nx 2 60\n# EOF\n', 'metrics.om:2: sample for "x" at 60 is older than'],
      [
        'two values at one timestamp',
        'x 1 60\nx 2 60\n# EOF\n',
        'metrics.om:2: duplicate sample for "x" at 60: 2 after 1',
      ],
    ];
    it.each(cases)('%s', (_name, text, message) => {
      const error = errorOf(() => parseOpenMetrics(text));
      expect(error.name).toBe('ScenarioFormatError');
      expect(error.file).toBe('metrics.om');
      expect(error.message).toContain(message);
    });

    it('an empty file', () => {
      expect(errorOf(() => parseOpenMetrics('')).message).toBe(
        'metrics.om: file is empty (an OpenMetrics file ends with a "# EOF" line)',
      );
    });

    it('reports the line number across chunk boundaries', () => {
      const parser = new OpenMetricsParser('m.om');
      parser.push('x 1 60\nx 2 1');
      parser.push('20\nx 3 18');
      expect(() => parser.push('0\nx 4 bad\n')).toThrow('m.om:4: sample for "x" has an invalid timestamp "bad"');
    });
  });
});

describe('parseFloatToken', () => {
  const parse = (s: string): number | undefined => parseFloatToken(s, 0, s.length);

  it.each([
    ['0', 0],
    ['-0.25', -0.25],
    ['+1.5', 1.5],
    ['.5', 0.5],
    ['5.', 5],
    ['1e3', 1000],
    ['1E-3', 0.001],
    ['-2.5e+2', -250],
    ['1793491200', 1793491200],
    ['1793491200.123', 1793491200.123],
    ['12345678901234567890', Number('12345678901234567890')],
    ['0.1234567890123456789', Number('0.1234567890123456789')],
    ['+Inf', Number.POSITIVE_INFINITY],
    ['-Inf', Number.NEGATIVE_INFINITY],
    ['inf', Number.POSITIVE_INFINITY],
    ['NaN', Number.NaN],
  ])('parses %s', (text, expected) => {
    expect(parse(text)).toBe(expected);
  });

  it.each(['', '-', 'abc', '1_000', '0x10', '1e', '1e+', '1.2.3', '..', '1 ', 'Infinityy', '--1'])(
    'rejects %j',
    (text) => {
      expect(parse(text)).toBeUndefined();
    },
  );

  it('reads back exactly what JavaScript prints for any double', () => {
    fc.assert(
      fc.property(
        fc.double({ noNaN: true }).filter((x) => !Object.is(x, -0)),
        (x) => {
          expect(parse(String(x))).toBe(x);
          expect(parse(x.toExponential())).toBe(x);
        },
      ),
    );
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 4_000_000_000 }), fc.integer({ min: 0, max: 999 }), (s, ms) => {
        const text = `${s}.${String(ms).padStart(3, '0')}`;
        expect(parse(text)).toBe(Number(text));
      }),
    );
  });
});

describe('readOpenMetricsFile', () => {
  let dir: string;
  beforeEach(() => {
    dir = mkdtempSync(join(tmpdir(), 'om-'));
  });
  afterEach(() => rmSync(dir, { recursive: true, force: true }));

  it('reads .om and gzip-compressed .om.gz files to the same store', async () => {
    writeFileSync(join(dir, 'metrics.om'), SAMPLE);
    writeFileSync(join(dir, 'metrics.om.gz'), gzipSync(SAMPLE));
    const plain = await readOpenMetricsFile(join(dir, 'metrics.om'));
    const gzip = await readOpenMetricsFile(join(dir, 'metrics.om.gz'));
    expect(summary(gzip)).toEqual(summary(plain));
    expect(plain.seriesCount).toBe(5);
  });

  it('keeps multi-byte characters split across read chunks', async () => {
    const value = 'é€'.repeat(400_000);
    writeFileSync(join(dir, 'metrics.om'), `x{v="${value}"} 1 60\n# EOF\n`);
    const store = await readOpenMetricsFile(join(dir, 'metrics.om'));
    expect(store.metrics.get('x')?.series[0].labels.v).toBe(value);
  });

  it('names the file and line of a parse error', async () => {
    const path = join(dir, 'metrics.om.gz');
    writeFileSync(path, gzipSync('x 1 60\nx one 120\n# EOF\n'));
    await expect(readOpenMetricsFile(path, 'metrics.om.gz')).rejects.toThrow(
      'metrics.om.gz:2: sample for "x" has a non-numeric value "one"',
    );
  });

  it('rejects a .gz file that is not gzip, and a gzip file without the .gz suffix', async () => {
    writeFileSync(join(dir, 'metrics.om.gz'), SAMPLE);
    await expect(readOpenMetricsFile(join(dir, 'metrics.om.gz'), 'metrics.om.gz')).rejects.toThrow(
      /^metrics\.om\.gz: not a valid gzip file/,
    );
    writeFileSync(join(dir, 'metrics.om'), gzipSync(SAMPLE));
    await expect(readOpenMetricsFile(join(dir, 'metrics.om'), 'metrics.om')).rejects.toThrow(
      'metrics.om:1: file looks gzip-compressed',
    );
  });

  it('rejects a truncated gzip file', async () => {
    const full = gzipSync(SAMPLE);
    writeFileSync(join(dir, 'metrics.om.gz'), full.subarray(0, full.length - 12));
    await expect(readOpenMetricsFile(join(dir, 'metrics.om.gz'))).rejects.toBeInstanceOf(ScenarioFormatError);
  });

  it('reports a file that cannot be read as a ScenarioFormatError', async () => {
    await expect(readOpenMetricsFile(join(dir, 'absent.om'))).rejects.toThrow(/absent\.om: cannot read absent\.om/);
  });
});
