// PromQL syntax check for the signal catalog, with the Prometheus project's own grammar (the Lezer grammar its
// web UI uses), so a broken query fails at synth instead of on every tick against Prometheus.

import { parser } from '@prometheus-io/lezer-promql';

export interface PromqlSyntaxError {
  /** 0-based offset in the query where the parser gave up. */
  readonly offset: number;
  /** Where that is, counted from 1: "character 28", or "line 2, column 5 of the query" in a multi-line one. */
  readonly where: string;
  readonly message: string;
  /** The query line around the error and a caret under it; empty for a blank query, which has nothing to show. */
  readonly snippet: string;
}

/** Characters of context shown on each side of the error, so a long query still fits on one line. */
const CONTEXT = 60;

/** The first syntax error in `query`, or undefined when it parses; types (range vs instant vector) are not checked. */
export function promqlSyntaxError(query: string): PromqlSyntaxError | undefined {
  let offset: number | undefined;
  let end = 0;
  parser.parse(query).iterate({
    enter: (node) => {
      if (offset !== undefined) return false;
      if (!node.type.isError) return true;
      offset = node.from;
      end = node.to;
      return false;
    },
  });
  if (offset === undefined) return undefined;
  if (query.trim() === '') return { offset: 0, where: 'character 1', message: 'empty query', snippet: '' };
  return {
    offset,
    where: whereIs(query, offset),
    message: unexpected(query, offset, end),
    snippet: snippet(query, offset),
  };
}

/** What the parser met: the text the error node covers, or, for a zero-width one, the word or symbol after it. */
function unexpected(query: string, from: number, to: number): string {
  const met = query.slice(from, to).trim() || /^(?:[\w:.]+|\S)/.exec(query.slice(from).trimStart())?.[0];
  if (!met) return 'unexpected end of query';
  return `unexpected ${JSON.stringify(met.length > 20 ? `${met.slice(0, 20)}…` : met)}`;
}

function lineAndColumn(query: string, offset: number): { line: number; column: number; lineStart: number } {
  const lineStart = query.lastIndexOf('\n', offset - 1) + 1;
  const line = query.slice(0, lineStart).split('\n').length;
  return { line, column: offset - lineStart + 1, lineStart };
}

function whereIs(query: string, offset: number): string {
  if (!query.includes('\n')) return `character ${offset + 1}`;
  const { line, column } = lineAndColumn(query, offset);
  return `line ${line}, column ${column} of the query`;
}

function snippet(query: string, offset: number): string {
  const { lineStart } = lineAndColumn(query, offset);
  const lineEnd = query.indexOf('\n', lineStart);
  // Tabs would shift the caret by a terminal's tab width.
  const line = query.slice(lineStart, lineEnd === -1 ? undefined : lineEnd).replace(/\t/g, ' ');
  const at = offset - lineStart;
  const from = Math.max(0, at - CONTEXT);
  const to = Math.min(line.length, at + CONTEXT);
  const head = from > 0 ? '…' : '';
  const tail = to < line.length ? '…' : '';
  return `${head}${line.slice(from, to)}${tail}\n${' '.repeat(head.length + at - from)}^`;
}
