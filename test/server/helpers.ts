/** Shared setup for server tests: the tiny chat fixture model, an app over it, SSE parsing. */
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { createApp } from '../../src/server/app.js';
import { resolveOptions, type ServerOptions } from '../../src/server/config.js';
import { silentLogger } from '../../src/server/logger.js';
import { loadServedModel, ModelHost, type ServedModel } from '../../src/server/model.js';

const here = dirname(fileURLToPath(import.meta.url));
export const TINY_CHAT = join(here, '..', 'fixtures', 'server', 'tiny-chat');
/** The real Nemotron 3 Nano template (shared reference data, never copied into the repo). */
export const REAL_TEMPLATE = join(here, '..', '..', '..', 'shared', 'fixtures', 'nemotron3-nano-chat-template.jinja');
export const MODEL_NAME = 'tiny-nemotron';

export function testOptions(over: Partial<ServerOptions> = {}): ServerOptions {
  return { ...resolveOptions({ model: TINY_CHAT, 'served-model-name': MODEL_NAME, host: '127.0.0.1', port: '0' }, {}, () => TINY_CHAT), ...over };
}

export async function loadTiny(opts: { chatTemplate?: string; maxModelLen?: number; engine?: { maxRunning?: number; maxWaiting?: number; maxBatchTokens?: number; prefillChunk?: number } } = {}): Promise<ServedModel> {
  return loadServedModel(TINY_CHAT, opts);
}

export function appFor(model: ServedModel, over: Partial<ServerOptions> = {}) {
  return createApp({ host: ModelHost.ready(model), opts: testOptions(over), log: silentLogger });
}

/** Parses an SSE body into its `data:` payloads (JSON objects, or the string "[DONE]"). */
export function parseSse(text: string): unknown[] {
  return text
    .split('\n\n')
    .filter((e) => e.trim() !== '')
    .map((e) => {
      const line = e.split('\n').find((l) => l.startsWith('data: '));
      if (!line) throw new Error(`SSE event without data: ${JSON.stringify(e)}`);
      const data = line.slice(6);
      return data === '[DONE]' ? data : JSON.parse(data);
    });
}

export const post = (path: string, body: unknown, headers: Record<string, string> = {}) =>
  new Request(`http://local${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...headers }, body: typeof body === 'string' ? body : JSON.stringify(body) });

/**
 * Steers the real model through a fixed output: every engine request submitted while active gets a logits
 * processor that forces the tokens of `text` and then `<|im_end|>`. Engine, HTTP, decoding and parsing stay
 * real; only the choice of tokens is scripted (a random tiny model says nothing useful by itself).
 */
export function scriptOutput(model: ServedModel, text: string | string[]): () => void {
  const texts = Array.isArray(text) ? text : [text];
  let calls = 0;
  const engine = model.engine;
  const original = engine.submit.bind(engine);
  engine.submit = (req) => {
    // successive requests take successive scripts (the last one repeats)
    const t = texts[Math.min(calls++, texts.length - 1)];
    const ids = [...model.tokenizer.encode(t, { addSpecialTokens: false }), model.tokenizer.specialTokens.imEnd ?? model.eosIds[0]];
    return original({
      ...req,
      logitsProcessors: [
        ...(req.logitsProcessors ?? []),
        (generated, logits) => {
          const id = ids[Math.min(generated.length, ids.length - 1)];
          logits.fill(-Infinity);
          logits[id] = 0;
        },
      ],
    });
  };
  return () => {
    engine.submit = original;
  };
}

/** Concatenated streamed deltas of choice 0. */
export function joinDeltas(events: unknown[]): { content: string; reasoning: string; reasoningContent: string; finish: string | null; toolCalls: Array<{ id?: string; name?: string; arguments: string }> } {
  const out = { content: '', reasoning: '', reasoningContent: '', finish: null as string | null, toolCalls: [] as Array<{ id?: string; name?: string; arguments: string }> };
  for (const e of events) {
    if (e === '[DONE]') continue;
    const ch = (e as { choices: Array<{ index: number; delta: Record<string, unknown>; finish_reason: string | null }> }).choices?.[0];
    if (!ch || ch.index !== 0) continue;
    const d = ch.delta as { content?: string; reasoning?: string; reasoning_content?: string; tool_calls?: Array<{ index: number; id?: string; function: { name?: string; arguments?: string } }> };
    out.content += d.content ?? '';
    out.reasoning += d.reasoning ?? '';
    out.reasoningContent += d.reasoning_content ?? '';
    for (const tc of d.tool_calls ?? []) {
      const cur = (out.toolCalls[tc.index] ??= { arguments: '' });
      if (tc.id) cur.id = tc.id;
      if (tc.function.name) cur.name = tc.function.name;
      cur.arguments += tc.function.arguments ?? '';
    }
    if (ch.finish_reason) out.finish = ch.finish_reason;
  }
  return out;
}
