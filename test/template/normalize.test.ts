// Input normalisation (serving-spec 0.9) and typed errors.
import { describe, expect, it } from 'vitest';
import {
  ChatInputError,
  ChatTemplate,
  PyFloat,
  TemplateRaisedError,
  TemplateRenderError,
  TemplateSyntaxError,
  normalizeMessages,
  normalizeTools,
  renderChat,
} from '../../src/template/index.js';
import { SKIP_REASON, TEMPLATE_AVAILABLE, readCases, readExpected, readTemplate } from './fixture.js';

function inputError(fn: () => unknown): ChatInputError {
  try {
    fn();
  } catch (err) {
    expect(err).toBeInstanceOf(ChatInputError);
    return err as ChatInputError;
  }
  throw new Error('expected a ChatInputError');
}

describe('normalizeMessages', () => {
  it('flattens text content parts with newlines and skips parts without text', () => {
    const [m] = normalizeMessages([
      {
        role: 'user',
        content: [
          { type: 'text', text: 'first' },
          'plain string part',
          { type: 'input_text', text: 'second' },
          { type: 'text', text: null },
          { type: 'refusal', refusal: 'no' },
        ],
      },
    ]);
    expect(m).toEqual({ role: 'user', content: 'first\nplain string part\nsecond\nno' });
  });

  it('turns null/missing content into an empty string', () => {
    expect(normalizeMessages([{ role: 'user', content: null }, { role: 'assistant' }]).map((m) => m.content)).toEqual(['', '']);
  });

  it('rejects non-text parts and bad content types with the field path', () => {
    const e1 = inputError(() =>
      normalizeMessages([{ role: 'user', content: [{ type: 'text', text: 'a' }, { type: 'image_url', image_url: { url: 'x' } }] }]),
    );
    expect(e1.param).toBe('messages[0].content[1].type');
    expect(e1.message).toMatch(/image_url.*text only/);
    expect(inputError(() => normalizeMessages([{ role: 'user', content: 42 }])).param).toBe('messages[0].content');
    expect(inputError(() => normalizeMessages([{ role: 'user', content: [{ text: 'x' }] }])).param).toBe(
      'messages[0].content[0].type',
    );
    expect(inputError(() => normalizeMessages([{ role: 'user', content: [{ type: 'text', text: 5 }] }])).param).toBe(
      'messages[0].content[0].text',
    );
  });

  it('maps developer to system and rejects unknown or missing roles', () => {
    expect(normalizeMessages([{ role: 'developer', content: 'rules' }])[0]!.role).toBe('system');
    const e = inputError(() => normalizeMessages([{ role: 'user', content: 'a' }, { role: 'function', content: 'b' }]));
    expect(e.param).toBe('messages[1].role');
    expect(e.message).toContain("unsupported role 'function'");
    expect(inputError(() => normalizeMessages([{ content: 'x' }])).param).toBe('messages[0].role');
    expect(inputError(() => normalizeMessages([])).param).toBe('messages');
    expect(inputError(() => normalizeMessages('hi')).param).toBe('messages');
    expect(inputError(() => normalizeMessages([null])).param).toBe('messages[0]');
  });

  it('accepts reasoning under either name and sets both (reasoning wins)', () => {
    const [a, b, c, d] = normalizeMessages([
      { role: 'assistant', content: 'x', reasoning: 'R1' },
      { role: 'assistant', content: 'x', reasoning_content: 'R2' },
      { role: 'assistant', content: 'x', reasoning: 'R3', reasoning_content: 'other' },
      { role: 'assistant', content: 'x', reasoning: null, reasoning_content: 'R4' },
    ]);
    expect([a, b, c, d].map((m) => [m!.reasoning, m!.reasoning_content])).toEqual([
      ['R1', 'R1'],
      ['R2', 'R2'],
      ['R3', 'R3'],
      ['R4', 'R4'],
    ]);
    expect(inputError(() => normalizeMessages([{ role: 'assistant', reasoning: 5 }])).param).toBe('messages[0].reasoning');
    // Reasoning on non-assistant messages is not a template input.
    expect(normalizeMessages([{ role: 'user', content: 'q', reasoning: 'r' }])[0]).toEqual({ role: 'user', content: 'q' });
  });

  it('parses JSON-string tool-call arguments like Python json.loads (floats and key order kept)', () => {
    const [m] = normalizeMessages([
      {
        role: 'assistant',
        content: null,
        tool_calls: [
          { id: 'c1', type: 'function', function: { name: 'f', arguments: '{"b": 1, "10": 2.0, "a": [true, null]}' } },
          { id: 'c2', type: 'function', function: { name: 'g', arguments: '' } },
          { id: 'c3', type: 'function', function: { name: 'h', arguments: null } },
          { type: 'function', function: { name: 'k', arguments: { already: 'object' } } },
        ],
      },
    ]);
    const calls = m!.tool_calls!;
    expect(calls.map((c) => c.function.name)).toEqual(['f', 'g', 'h', 'k']);
    expect(calls[0]!.function.arguments['10']).toBeInstanceOf(PyFloat);
    expect(calls[1]!.function.arguments).toEqual({});
    expect(calls[2]!.function.arguments).toEqual({});
    expect(calls[3]).toEqual({ type: 'function', function: { name: 'k', arguments: { already: 'object' } } });
    const out = renderChat(
      '{% for k, v in messages[0].tool_calls[0].function.arguments|items %}{{ k }}={{ v }};{% endfor %}',
      [m],
      { normalize: false },
    );
    expect(out).toBe('b=1;10=2.0;a=[True, None];');
  });

  it('rejects malformed tool calls with the field path', () => {
    const bad = (tool_calls: unknown) => inputError(() => normalizeMessages([{ role: 'assistant', tool_calls }]));
    const e = bad([{ function: { name: 'f', arguments: '{"city": "Paris"' } }]);
    expect(e.param).toBe('messages[0].tool_calls[0].function.arguments');
    expect(e.message).toMatch(/not valid JSON/);
    expect(bad([{ function: { name: 'f', arguments: '[1, 2]' } }]).message).toMatch(/must be a JSON object/);
    expect(bad([{ function: { name: 'f', arguments: '5' } }]).message).toMatch(/must be a JSON object/);
    expect(bad([{ function: { name: 'f', arguments: [1] } }]).message).toMatch(/must be a JSON object/);
    expect(bad([{ function: { name: '' } }]).param).toBe('messages[0].tool_calls[0].function.name');
    expect(bad([{ type: 'function' }]).param).toBe('messages[0].tool_calls[0].function');
    expect(bad('nope').param).toBe('messages[0].tool_calls');
    expect(bad(['nope']).param).toBe('messages[0].tool_calls[0]');
  });

  it('drops empty tool_calls and unknown fields, keeps name and tool_call_id', () => {
    const [a, t] = normalizeMessages([
      { role: 'assistant', content: 'hi', tool_calls: [], refusal: null, audio: null, name: 'bot' },
      { role: 'tool', content: [{ type: 'text', text: 'r' }], tool_call_id: 'c1', extra: 1 },
    ]);
    expect(a).toEqual({ role: 'assistant', content: 'hi', name: 'bot' });
    expect(t).toEqual({ role: 'tool', content: 'r', tool_call_id: 'c1' });
  });
});

describe('normalizeTools', () => {
  it('passes valid tools through and rejects malformed ones', () => {
    const tools = [{ type: 'function', function: { name: 'a' } }, { name: 'bare', parameters: {} }];
    expect(normalizeTools(tools)).toEqual(tools);
    expect(normalizeTools(undefined)).toBeNull();
    expect(normalizeTools(null)).toBeNull();
    expect(inputError(() => normalizeTools({})).param).toBe('tools');
    expect(inputError(() => normalizeTools([1])).param).toBe('tools[0]');
    expect(inputError(() => normalizeTools([{ type: 'function', function: {} }])).param).toBe('tools[0].function.name');
  });
});

describe('template errors', () => {
  it('syntax errors are TemplateSyntaxError', () => {
    expect(() => new ChatTemplate('{% for x in %}')).toThrow(TemplateSyntaxError);
    expect(() => renderChat('{{ unclosed', [{ role: 'user', content: 'x' }])).toThrow(TemplateSyntaxError);
  });
  it('raise_exception becomes TemplateRaisedError with the message', () => {
    const t = "{% if messages[0].role != 'system' %}{{ raise_exception('System message required, got ' ~ messages[0].role) }}{% endif %}";
    expect(() => renderChat(t, [{ role: 'user', content: 'x' }])).toThrow(TemplateRaisedError);
    expect(() => renderChat(t, [{ role: 'user', content: 'x' }])).toThrow('System message required, got user');
    expect(renderChat(t, [{ role: 'system', content: 'x' }])).toBe('');
  });
  it('runtime failures are TemplateRenderError', () => {
    expect(() => renderChat('{{ messages[0].content.nope() }}', [{ role: 'user', content: 'x' }])).toThrow(TemplateRenderError);
    expect(() => renderChat('{{ 1 + none }}', [{ role: 'user', content: 'x' }])).toThrow(TemplateRenderError);
  });
  it('chat_template_kwargs may not override messages/tools/add_generation_prompt', () => {
    const e = inputError(() => renderChat('x', [{ role: 'user', content: 'x' }], { templateKwargs: { messages: [] } }));
    expect(e.param).toBe('chat_template_kwargs.messages');
  });
  it('passes extra kwargs; explicit options override chat_template_kwargs', () => {
    const t = '{{ enable_thinking }}|{{ custom }}|{{ add_generation_prompt }}|{{ tools }}';
    const msgs = [{ role: 'user', content: 'x' }];
    expect(renderChat(t, msgs, { templateKwargs: { enable_thinking: false, custom: [1.5] } })).toBe('False|[1.5]|True|None');
    expect(renderChat(t, msgs, { templateKwargs: { enable_thinking: false }, enableThinking: true, addGenerationPrompt: false })).toBe(
      'True||False|None',
    );
  });
});

describe.skipIf(!TEMPLATE_AVAILABLE)('raw OpenAI requests render like their normalised form', () => {
  if (!TEMPLATE_AVAILABLE) console.warn(SKIP_REASON);
  const template = TEMPLATE_AVAILABLE ? new ChatTemplate(readTemplate()) : undefined;
  const spec = readCases();

  it('content parts, reasoning field, JSON-string arguments', () => {
    const raw = [
      { role: 'user', content: [{ type: 'text', text: 'Weather in Paris?' }] },
      {
        role: 'assistant',
        content: [{ type: 'text', text: 'Let me check.' }],
        reasoning: 'Need tool.',
        tool_calls: [{ id: 'call_1', type: 'function', function: { name: 'get_weather', arguments: '{"city":"Paris"}' } }],
      },
      { role: 'tool', content: [{ type: 'text', text: '{"t":20}' }], tool_call_id: 'call_1' },
    ];
    const out = template!.render(raw, { tools: spec.tools.weather });
    expect(out).toBe(readExpected('reasoning_after_last_user_tool_loop'));
  });

  it('developer role renders as system; reasoning_content name works too', () => {
    const raw = [
      { role: 'developer', content: 'You are a helpful assistant.' },
      { role: 'user', content: 'What is 2+2?' },
    ];
    expect(template!.render(raw)).toBe(readExpected('system_user'));
    const hist = [
      { role: 'user', content: 'What is the capital of France?' },
      { role: 'assistant', content: 'Paris.', reasoning_content: 'The user asks a geography question.' },
      { role: 'user', content: 'And of Italy?' },
    ];
    expect(template!.render(hist, { truncateHistoryThinking: false })).toBe(readExpected('reasoning_before_last_user_kept'));
  });

  it('typed arguments sent as a JSON string keep Python float/bool/None rendering', () => {
    const c = spec.cases.find((x) => x.name === 'typed_tool_call_arguments')!;
    const args = (c.messages[1] as { tool_calls: { function: { arguments: unknown } }[] }).tool_calls[0]!.function.arguments;
    // The JSON text a client would send (Python-formatted so floats such as 1.0 and 1e+21 stay floats).
    const argText =
      '{"query": "install guide", "limit": 5, "threshold": 0.75, "whole_float": 1.0, "tiny": 1e-05, "huge": 1e+21, ' +
      '"negative": -3, "exact": true, "fuzzy": false, "cursor": null, "filters": {"lang": "en", "year": 2024, ' +
      '"score": 2.0, "ok": true, "none": null}, "tags": ["a", "b", 3, false, null], "empty_obj": {}, "empty_list": [], ' +
      '"text_number": "42", "multiline": "line one\\nline two"}';
    expect(Object.keys(args as object)).toEqual(Object.keys(JSON.parse(argText)));
    const raw = structuredClone(c.messages) as { tool_calls?: { function: { arguments: unknown } }[] }[];
    raw[1]!.tool_calls![0]!.function.arguments = argText;
    expect(template!.render(raw, { tools: spec.tools.rich })).toBe(readExpected('typed_tool_call_arguments'));
  });
});
