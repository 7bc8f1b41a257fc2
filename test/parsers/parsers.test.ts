// Reasoning splitter, tool-call parser events, ids, prompt mode detection, and a seeded tag-soup fuzz
// (never throws; streaming == whole-text; arguments always valid JSON).
import { describe, expect, it } from 'vitest';
import {
  OutputParser,
  ReasoningSplitter,
  ToolCallParser,
  makeToolCallId,
  parseOutput,
  promptOpensReasoning,
  type ParsedOutput,
} from '../../src/parsers/index.js';
import { ChatTemplate } from '../../src/template/index.js';
import { TEMPLATE_AVAILABLE, readTemplate } from '../template/fixture.js';

describe('ReasoningSplitter', () => {
  it('splits at </think> and hands <tool_call> on when asked', () => {
    const a = new ReasoningSplitter();
    expect(a.feed('abc</th')).toEqual({ reasoning: 'abc', rest: '' });
    expect(a.feed('ink>tail')).toEqual({ reasoning: '', rest: 'tail' });
    expect(a.ended && a.closedByTag).toBe(true);
    const b = new ReasoningSplitter({ endOnToolCall: true });
    expect(b.feed('x<tool_call>y')).toEqual({ reasoning: 'x', rest: '<tool_call>y' });
    const c = new ReasoningSplitter({ thinking: false });
    expect(c.feed('a</think>b')).toEqual({ reasoning: '', rest: 'a</think>b' });
    expect(c.closedByTag).toBe(false);
  });
  it('holds a possible echoed <think> and flushes it as reasoning if output ends', () => {
    const s = new ReasoningSplitter();
    expect(s.feed('  <thi')).toEqual({ reasoning: '', rest: '' });
    expect(s.finish()).toEqual({ reasoning: '  <thi', rest: '' });
    expect(s.ended).toBe(false);
  });
});

describe('ToolCallParser', () => {
  it('reports text, call, argument fragments and end in order', () => {
    const p = new ToolCallParser({ idGenerator: () => 'id-1' });
    const events = [
      ...p.feed('Hi <tool_call>\n<function=f>\n<parameter=a>\n1\n</parameter>\n<parameter=b>\nx'),
      ...p.feed('\n</parameter>\n</function>\n</tool_call> bye'),
      ...p.finish(),
    ];
    expect(events).toEqual([
      { kind: 'text', text: 'Hi ' },
      { kind: 'call', index: 0, id: 'id-1', name: 'f' },
      { kind: 'args', index: 0, fragment: '{"a": 1' },
      { kind: 'args', index: 0, fragment: ', "b": "x"' },
      { kind: 'args', index: 0, fragment: '}' },
      { kind: 'end', index: 0 },
      { kind: 'text', text: ' bye' },
    ]);
    expect(p.callCount).toBe(1);
  });
  it('does not stream a value before it is complete', () => {
    const p = new ToolCallParser({ idGenerator: () => 'i' });
    p.feed('<tool_call>\n<function=f>\n<parameter=a>\npartial value');
    expect(p.feed(' more')).toEqual([]);
  });
  it('rejects overlong function names as text without waiting for the rest of the output', () => {
    const long = 'n'.repeat(300);
    const p = new ToolCallParser();
    const events = p.feed(`<tool_call><function=${long}`);
    expect(events[0]).toEqual({ kind: 'text', text: `<tool_call><function=${'n'.repeat(257)}` });
  });
});

describe('ids and options', () => {
  it('output cut off inside a closing </parameter> tag keeps the partial tag out of the value (regression)', () => {
    const text = '<tool_call>\n<function=f>\n<parameter=days>\n2\n</pa';
    for (const cut of [text, text.slice(0, -2), text + 'rameter']) {
      const out = parseOutput(cut, { thinking: false, parseToolCalls: true });
      expect(out.toolCalls).toHaveLength(1);
      expect(JSON.parse(out.toolCalls[0].function.arguments)).toEqual({ days: 2 });
    }
  });

  it('default ids look like vLLM ones', () => {
    expect(makeToolCallId()).toMatch(/^chatcmpl-tool-[0-9a-f]{32}$/);
    expect(makeToolCallId()).not.toBe(makeToolCallId());
    const out = parseOutput('<tool_call>\n<function=f>\n</function>\n</tool_call>', { thinking: false, parseToolCalls: true });
    expect(out.toolCalls[0]!.id).toMatch(/^chatcmpl-tool-[0-9a-f]{32}$/);
  });
  it('parses tool calls only when tools are given or parseToolCalls is set', () => {
    const text = '<tool_call>\n<function=f>\n</function>\n</tool_call>';
    expect(parseOutput(text, { thinking: false }).toolCalls).toHaveLength(0);
    expect(parseOutput(text, { thinking: false, tools: [] }).toolCalls).toHaveLength(0);
    expect(parseOutput(text, { thinking: false, parseToolCalls: true }).toolCalls).toHaveLength(1);
    expect(parseOutput(text, { thinking: false, tools: [{ name: 'f' }], parseToolCalls: false }).content).toBe(text);
  });
  it('forceNonemptyContent streams the reasoning as content at finish', () => {
    const p = new OutputParser({ forceNonemptyContent: true });
    expect(p.feed('still thinking')).toEqual({ reasoning: 'still thinking' });
    const fin = p.finish();
    expect(fin.delta).toEqual({ content: 'still thinking' });
    expect(fin.result.content).toBe('still thinking');
    const empty = new OutputParser({ forceNonemptyContent: true });
    expect(empty.finish()).toEqual({
      delta: null,
      result: { reasoning: null, content: '', toolCalls: [], finishReason: null, reasoningClosed: false },
    });
  });
  it('refuses use after finish', () => {
    const p = new OutputParser();
    p.finish();
    expect(() => p.feed('x')).toThrow();
    expect(() => p.finish()).toThrow();
  });
});

describe('promptOpensReasoning', () => {
  it('reads the generation prompt', () => {
    expect(promptOpensReasoning('<|im_start|>assistant\n<think>\n')).toBe(true);
    expect(promptOpensReasoning('<|im_start|>assistant\n<think></think>')).toBe(false);
    expect(promptOpensReasoning('<|im_start|>assistant\n')).toBe(false);
  });
  it.skipIf(!TEMPLATE_AVAILABLE)('agrees with enable_thinking on real renders', () => {
    const t = new ChatTemplate(readTemplate());
    const msgs = [{ role: 'user', content: 'hi' }];
    expect(promptOpensReasoning(t.render(msgs))).toBe(true);
    expect(promptOpensReasoning(t.render(msgs, { enableThinking: false }))).toBe(false);
    const hist = [...msgs, { role: 'assistant', content: 'a', reasoning: 'r' }, { role: 'user', content: 'again' }];
    expect(promptOpensReasoning(t.render(hist, { truncateHistoryThinking: false }))).toBe(true);
    expect(promptOpensReasoning(t.render(hist, { enableThinking: false, truncateHistoryThinking: false }))).toBe(false);
  });
});

describe('cost', () => {
  it('stays linear on long outputs fed one character at a time', () => {
    // A quadratic buffer would take tens of seconds here; linear takes well under one.
    const tools = [{ name: 'write', parameters: { type: 'object', properties: { code: { type: 'string' } } } }];
    const code = 'x = 1  \n'.repeat(15000);
    const text = 'think '.repeat(10000) + '</think>' + 'answer '.repeat(10000) + '<tool_call>\n<function=write>\n<parameter=code>\n' + code;
    const start = performance.now();
    const p = new OutputParser({ tools, idGenerator: () => 'i' });
    for (const ch of text) p.feed(ch);
    const r = p.finish().result;
    expect(performance.now() - start).toBeLessThan(5000);
    expect(JSON.parse(r.toolCalls[0]!.function.arguments).code).toBe(code.slice(0, -1));
  });
});

describe('tag-soup fuzz (seeded)', () => {
  const FRAGMENTS = [
    '<tool_call>',
    '</tool_call>',
    '<function=get_weather>',
    '<function=nope>',
    '<function=',
    '>',
    '<parameter=city>',
    '<parameter=days>',
    '<parameter=',
    '</parameter>',
    '</function>',
    '<think>',
    '</think>',
    '\n',
    ' ',
    'abc',
    '42',
    '<',
    '</',
    '{"a": [1, 2.0]}',
    "{'k': True}",
    'é🌧️',
  ];
  const tools = [
    { name: 'get_weather', parameters: { type: 'object', properties: { city: { type: 'string' }, days: { type: 'integer' } } } },
  ];
  let seed = 99;
  const rand = (): number => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };

  it('never throws, always yields valid JSON arguments, and streams like whole-text', () => {
    for (let n = 0; n < 400; n++) {
      const parts = Array.from({ length: 3 + Math.floor(rand() * 30) }, () => FRAGMENTS[Math.floor(rand() * FRAGMENTS.length)]!);
      const text = parts.join('');
      for (const opts of [{ thinking: true, tools }, { thinking: false, tools }, { thinking: true, parseToolCalls: true }]) {
        let ids = 0;
        const gen = () => `id${ids++}`;
        const whole = parseOutput(text, { ...opts, idGenerator: gen });
        for (const c of whole.toolCalls) expect(() => JSON.parse(c.function.arguments)).not.toThrow();
        ids = 0;
        const p = new OutputParser({ ...opts, idGenerator: gen });
        const chars = Array.from(text);
        for (let i = 0; i < chars.length; ) {
          const k = 1 + Math.floor(rand() * 5);
          p.feed(chars.slice(i, i + k).join(''));
          i += k;
        }
        const streamed: ParsedOutput = p.finish().result;
        if (JSON.stringify(streamed) !== JSON.stringify(whole)) expect({ text, streamed }).toEqual({ text, streamed: whole });
      }
    }
  });
});
