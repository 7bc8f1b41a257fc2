// The hand-written table of model outputs (test/fixtures/parsers/outputs.json): whole-text parse
// results, and streaming == whole-text for every row under many splits of the text.
import { readFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { OutputParser, parseOutput, type OutputParserOptions, type ParsedOutput } from '../../src/parsers/index.js';
import type { OutputDelta } from '../../src/parsers/index.js';

interface Row {
  name: string;
  text: string;
  thinking?: boolean;
  tools?: 'default' | 'none';
  force?: boolean;
  expected: { reasoning: string | null; content: string | null; calls: [string, string][]; reasoningClosed?: boolean };
}

const table = JSON.parse(readFileSync(new URL('../fixtures/parsers/outputs.json', import.meta.url), 'utf8')) as {
  tools: unknown[];
  rows: Row[];
};

function counterIds(): () => string {
  let n = 0;
  return () => `chatcmpl-tool-${(n++).toString(16).padStart(32, '0')}`;
}

function optionsFor(row: Row): OutputParserOptions {
  return {
    thinking: row.thinking ?? true,
    tools: row.tools === 'none' ? null : table.tools,
    forceNonemptyContent: row.force ?? false,
    idGenerator: counterIds(),
  };
}

function fail(message: string, detail: unknown): never {
  throw new Error(`${message}: ${JSON.stringify(detail)}`);
}

/** Feed `pieces`, check every delta's shape, and rebuild the message from the deltas. */
function runStream(row: Row, pieces: string[]): { rebuilt: ParsedOutput; final: ParsedOutput } {
  const parser = new OutputParser(optionsFor(row));
  const deltas: OutputDelta[] = [];
  for (const piece of pieces) {
    const d = parser.feed(piece);
    if (d) deltas.push(d);
  }
  const fin = parser.finish();
  if (fin.delta) deltas.push(fin.delta);
  let reasoning = '';
  let content = '';
  const calls: { id: string; name: string; arguments: string }[] = [];
  // Plain checks instead of expect(): this runs for hundreds of thousands of deltas.
  for (const d of deltas) {
    if (Object.keys(d).length === 0) fail('empty delta', d);
    if (d.reasoning !== undefined) {
      if (d.reasoning === '') fail('empty reasoning delta', d);
      reasoning += d.reasoning;
    }
    if (d.content !== undefined) {
      if (d.content === '') fail('empty content delta', d);
      content += d.content;
    }
    for (const tc of d.toolCalls ?? []) {
      if ('id' in tc) {
        // First delta of a call: exactly index, id, type, name and empty arguments.
        const shape = JSON.stringify([Object.keys(tc).sort(), Object.keys(tc.function).sort(), tc.type, tc.function.arguments]);
        if (shape !== '[["function","id","index","type"],["arguments","name"],"function",""]') fail('bad first tool delta', tc);
        if (tc.index !== calls.length) fail('tool call index out of order', tc);
        calls.push({ id: tc.id, name: tc.function.name, arguments: '' });
      } else {
        const shape = JSON.stringify([Object.keys(tc).sort(), Object.keys(tc.function)]);
        if (shape !== '[["function","index"],["arguments"]]' || tc.function.arguments === '') fail('bad tool delta', tc);
        if (!calls[tc.index]) fail('arguments before the call started', tc);
        calls[tc.index]!.arguments += tc.function.arguments;
      }
    }
  }
  const forcedEmpty = (row.force ?? false) && content === '' && calls.length === 0;
  return {
    rebuilt: {
      reasoning: reasoning === '' ? null : reasoning,
      content: content === '' && !forcedEmpty ? null : content,
      toolCalls: calls.map((c) => ({ id: c.id, type: 'function', function: { name: c.name, arguments: c.arguments } })),
      finishReason: calls.length > 0 ? 'tool_calls' : null,
      reasoningClosed: fin.result.reasoningClosed,
    },
    final: fin.result,
  };
}

function checkSplit(row: Row, whole: ParsedOutput, pieces: string[]): void {
  const { rebuilt, final } = runStream(row, pieces);
  const want = JSON.stringify(whole);
  if (JSON.stringify(final) !== want || JSON.stringify(rebuilt) !== want) {
    // Only build a readable diff when something is wrong.
    expect({ pieces, final, rebuilt }).toEqual({ pieces, final: whole, rebuilt: whole });
  }
}

/** Deterministic PRNG (mulberry32). */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

function randomSplit(chars: string[], rand: () => number): string[] {
  const pieces: string[] = [];
  for (let i = 0; i < chars.length; ) {
    const n = 1 + Math.floor(rand() * 8);
    pieces.push(chars.slice(i, i + n).join(''));
    i += n;
  }
  return pieces;
}

describe('output table: whole-text parse', () => {
  it('has at least 30 rows', () => expect(table.rows.length).toBeGreaterThanOrEqual(30));
  for (const row of table.rows) {
    it(row.name, () => {
      const got = parseOutput(row.text, optionsFor(row));
      expect(got.reasoning).toBe(row.expected.reasoning);
      expect(got.content).toBe(row.expected.content);
      expect(got.toolCalls.map((c) => [c.function.name, c.function.arguments])).toEqual(row.expected.calls);
      expect(got.finishReason).toBe(row.expected.calls.length > 0 ? 'tool_calls' : null);
      expect(got.reasoningClosed).toBe(row.expected.reasoningClosed ?? true);
      got.toolCalls.forEach((c, i) => {
        expect(c.id).toBe(`chatcmpl-tool-${i.toString(16).padStart(32, '0')}`);
        expect(c.type).toBe('function');
        expect(() => JSON.parse(c.function.arguments)).not.toThrow();
      });
    });
  }
});

describe('output table: streaming equals whole-text', () => {
  for (const [r, row] of table.rows.entries()) {
    it(row.name, () => {
      const whole = parseOutput(row.text, optionsFor(row));
      const chars = Array.from(row.text);
      checkSplit(row, whole, [row.text]);
      checkSplit(row, whole, chars); // one code point at a time
      for (let i = 1; i < chars.length; i++) checkSplit(row, whole, [chars.slice(0, i).join(''), chars.slice(i).join('')]);
      const rand = rng(1234 + r);
      for (let k = 0; k < 30; k++) checkSplit(row, whole, randomSplit(chars, rand));
    });
  }
});

describe('streaming: every three-piece split of selected rows', () => {
  const names = ['content_then_call', 'garbage_between_calls', 'implicit_reasoning_end_on_tool_call', 'echoed_think_tag'];
  for (const name of names) {
    it(name, () => {
      const row = table.rows.find((r) => r.name === name)!;
      const whole = parseOutput(row.text, optionsFor(row));
      const chars = Array.from(row.text);
      for (let i = 1; i < chars.length; i++) {
        for (let j = i + 1; j < chars.length; j++) {
          checkSplit(row, whole, [chars.slice(0, i).join(''), chars.slice(i, j).join(''), chars.slice(j).join('')]);
        }
      }
    });
  }
});
