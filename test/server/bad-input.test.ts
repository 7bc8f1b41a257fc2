/**
 * Bad input over a real socket: each case gets the right status and the OpenAI error shape (no stack
 * trace), and the server keeps serving after every one.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/server/logger.js';
import type { ServedModel } from '../../src/server/model.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { loadTiny, MODEL_NAME, testOptions } from './helpers.js';

const KEY = 'test-key';
let srv: RunningServer;
let model: ServedModel;
beforeAll(async () => {
  model = await loadTiny({ maxModelLen: 256 });
  srv = await startServer(testOptions({ apiKey: KEY, maxBodyBytes: 64 * 1024 }), silentLogger, () => model);
});
afterAll(async () => {
  await srv.close();
});

const msgs = [{ role: 'user', content: 'Hi' }];
const ok = { model: MODEL_NAME, messages: msgs, max_tokens: 2, temperature: 0 };
const tool = (parameters: unknown, name = 'f') => ({ type: 'function', function: { name, parameters } });

interface Case {
  name: string;
  status: number;
  /** Request body: an object (JSON-encoded), a string or raw bytes. */
  body?: unknown;
  path?: string;
  method?: string;
  headers?: Record<string, string>;
  /** Expected `param` (when the error names one). */
  param?: string;
  message?: RegExp;
}

const CASES: Case[] = [
  { name: 'malformed JSON', body: '{"model": "x", "messages": [', status: 400, message: /not valid JSON/ },
  { name: 'body is a JSON array', body: '[1,2]', status: 400, message: /JSON object/ },
  { name: 'empty body', body: '', status: 400, message: /empty/ },
  { name: 'non-UTF-8 body', body: new Uint8Array([0x7b, 0x22, 0xff, 0xfe, 0x22, 0x7d]), status: 400, message: /UTF-8/ },
  { name: 'oversized body', body: JSON.stringify({ ...ok, messages: [{ role: 'user', content: 'x'.repeat(80 * 1024) }] }), status: 413 },
  { name: 'missing messages', body: { model: MODEL_NAME }, status: 400, param: 'messages' },
  { name: 'empty messages', body: { ...ok, messages: [] }, status: 400, param: 'messages' },
  { name: 'messages is a string', body: { ...ok, messages: 'hello' }, status: 400, param: 'messages' },
  { name: 'message without role', body: { ...ok, messages: [{ content: 'x' }] }, status: 400, param: 'messages[0].role' },
  { name: 'unknown role', body: { ...ok, messages: [{ role: 'wizard', content: 'x' }] }, status: 400, param: 'messages[0].role' },
  { name: 'content of the wrong type', body: { ...ok, messages: [{ role: 'user', content: 42 }] }, status: 400, param: 'messages[0].content' },
  { name: 'image content part', body: { ...ok, messages: [{ role: 'user', content: [{ type: 'image_url', image_url: { url: 'http://x' } }] }] }, status: 400, param: 'messages[0].content[0].type' },
  { name: 'tool-call arguments not JSON', body: { ...ok, messages: [...msgs, { role: 'assistant', content: null, tool_calls: [{ id: 'a', type: 'function', function: { name: 'f', arguments: '{nope' } }] }] }, status: 400, param: 'messages[1].tool_calls[0].function.arguments' },
  { name: 'unknown field', body: { ...ok, frobnicate: true }, status: 400, param: 'frobnicate', message: /Unrecognized request argument/ },
  { name: 'temperature of the wrong type', body: { ...ok, temperature: 'hot' }, status: 400, param: 'temperature' },
  { name: 'temperature out of range', body: { ...ok, temperature: 5 }, status: 400, param: 'temperature' },
  { name: 'seed not an integer', body: { ...ok, seed: 1.5 }, status: 400, param: 'seed' },
  { name: 'max_tokens 0', body: { ...ok, max_tokens: 0 }, status: 400, param: 'max_tokens' },
  { name: 'huge max_tokens', body: { ...ok, max_tokens: 1_000_000_000 }, status: 400, param: 'max_tokens', message: /maximum context length is 256 tokens/ },
  { name: 'prompt over the context', body: { ...ok, messages: [{ role: 'user', content: 'word '.repeat(400) }] }, status: 400, message: /maximum context length/ },
  { name: 'n too large', body: { ...ok, n: 1000 }, status: 400, param: 'n' },
  { name: 'empty stop string', body: { ...ok, stop: '' }, status: 400, param: 'stop' },
  { name: 'stop of the wrong type (regex-like object)', body: { ...ok, stop: { regex: '\\d+' } }, status: 400, param: 'stop' },
  { name: 'stop list with a number', body: { ...ok, stop: ['a', 3] }, status: 400, param: 'stop' },
  { name: 'stop_token_ids outside the vocabulary', body: { ...ok, stop_token_ids: [999999] }, status: 400, param: 'stop_token_ids' },
  { name: 'logit_bias with a non-id key', body: { ...ok, logit_bias: { hello: 5 } }, status: 400 },
  { name: 'stream_options without stream', body: { ...ok, stream_options: { include_usage: true } }, status: 400, param: 'stream_options' },
  { name: 'top_logprobs without logprobs', body: { ...ok, top_logprobs: 3 }, status: 400, param: 'top_logprobs' },
  { name: 'top_logprobs too large', body: { ...ok, logprobs: true, top_logprobs: 50 }, status: 400, param: 'top_logprobs' },
  { name: 'invalid tool name', body: { ...ok, tools: [tool({ type: 'object' }, 'bad name!')] }, status: 400, param: 'tools[0].function.name' },
  { name: 'tool parameters not an object schema', body: { ...ok, tools: [tool({ type: 'string' })] }, status: 400, param: 'tools[0].function.parameters' },
  { name: 'tool parameters not an object', body: { ...ok, tools: [tool('nope')] }, status: 400, param: 'tools[0].function.parameters' },
  { name: 'empty tools', body: { ...ok, tools: [] }, status: 400, param: 'tools' },
  { name: 'tool_choice names a missing tool', body: { ...ok, tools: [tool({ type: 'object' })], tool_choice: { type: 'function', function: { name: 'g' } } }, status: 400, param: 'tool_choice' },
  { name: 'tool_choice required without tools', body: { ...ok, tool_choice: 'required' }, status: 400, param: 'tool_choice' },
  { name: 'tool_choice of an unknown kind', body: { ...ok, tools: [tool({ type: 'object' })], tool_choice: 'sometimes' }, status: 400, param: 'tool_choice' },
  { name: 'strict required tool with an unsupported schema keyword', body: { ...ok, tools: [{ type: 'function', function: { name: 'f', strict: true, parameters: { type: 'object', properties: { a: { type: 'string', pattern: 'x+' } } } } }], tool_choice: 'required' }, status: 400, message: /pattern/ },
  { name: 'strict json_schema with an unsupported keyword', body: { ...ok, response_format: { type: 'json_schema', json_schema: { name: 's', strict: true, schema: { type: 'object', properties: { a: { allOf: [] } } } } } }, status: 400, param: 'response_format.json_schema.schema' },
  { name: 'json_schema with a malformed keyword value', body: { ...ok, response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'object', properties: { a: { type: 'string', maxLength: -1 } } } } } }, status: 400, param: 'response_format.json_schema.schema' },
  { name: 'json_schema with an empty numeric range', body: { ...ok, response_format: { type: 'json_schema', json_schema: { name: 's', schema: { type: 'integer', minimum: 5, maximum: 4 } } } }, status: 400, param: 'response_format.json_schema.schema' },
  { name: 'unknown response_format type', body: { ...ok, response_format: { type: 'yaml' } }, status: 400, param: 'response_format.type' },
  { name: 'unknown model', body: { ...ok, model: 'gpt-5' }, status: 404, param: 'model', message: /does not exist/ },
  { name: 'missing API key', body: ok, headers: { authorization: '' }, status: 401 },
  { name: 'wrong API key', body: ok, headers: { authorization: 'Bearer wrong' }, status: 401 },
  { name: 'completions: token id outside the vocabulary', path: '/v1/completions', body: { prompt: [1, 2, 999999], max_tokens: 2 }, status: 400, param: 'prompt' },
  { name: 'completions: suffix', path: '/v1/completions', body: { prompt: 'x', suffix: 'y' }, status: 400, param: 'suffix' },
  { name: 'completions: prompt of the wrong type', path: '/v1/completions', body: { prompt: { text: 'x' } }, status: 400, param: 'prompt' },
  { name: 'detokenize: ids outside the vocabulary', path: '/detokenize', body: { tokens: [1, 99999999] }, status: 400, param: 'tokens' },
  { name: 'wrong method', path: '/v1/chat/completions', method: 'GET', status: 404 },
  { name: 'unknown route', path: '/v1/engines', method: 'GET', status: 404 },
];

describe('bad input', () => {
  it(`has at least 25 cases (${CASES.length})`, () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
  });

  for (const c of CASES) {
    it(`${c.name} -> ${c.status}`, async () => {
      const method = c.method ?? 'POST';
      const payload = c.body === undefined ? undefined : c.body instanceof Uint8Array || typeof c.body === 'string' ? c.body : JSON.stringify(c.body);
      const res = await fetch(`${srv.url}${c.path ?? '/v1/chat/completions'}`, {
        method,
        headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}`, ...c.headers },
        body: method === 'GET' ? undefined : payload,
      });
      const text = await res.text();
      expect(res.status, text).toBe(c.status);
      const body = JSON.parse(text) as { error: { message: string; type: string; param: string | null; code: number } };
      expect(Object.keys(body)).toEqual(['error']);
      expect(body.error).toEqual({ message: expect.any(String), type: expect.any(String), param: body.error.param, code: c.status });
      expect(body.error.param === null || typeof body.error.param === 'string').toBe(true);
      expect(body.error.message).not.toMatch(/\n\s+at /); // never a stack trace
      if (c.param) expect(body.error.param).toBe(c.param);
      if (c.message) expect(body.error.message).toMatch(c.message);
      // and the server keeps serving
      const good = await fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: `Bearer ${KEY}` }, body: JSON.stringify(ok) });
      expect(good.status).toBe(200);
      expect(((await good.json()) as { usage: { completion_tokens: number } }).usage.completion_tokens).toBe(2);
    });
  }

  it('left no engine state behind', () => {
    expect(model.engine.stats).toMatchObject({ running: 0, waiting: 0, liveStates: 0 });
  });
});
