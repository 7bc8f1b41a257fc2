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
