/**
 * The server on a real socket: SSE over HTTP, client disconnects cancelling engine work, and the
 * concurrency acceptance test (32 simultaneous streams, 8 cancelled mid-stream by the client, the rest equal
 * to the same request run alone, no engine state left).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { silentLogger } from '../../src/server/logger.js';
import type { ServedModel } from '../../src/server/model.js';
import { startServer, type RunningServer } from '../../src/server/server.js';
import { joinDeltas, loadTiny, MODEL_NAME, parseSse, testOptions } from './helpers.js';

let srv: RunningServer;
let model: ServedModel;
beforeAll(async () => {
  model = await loadTiny({ engine: { maxRunning: 16, maxWaiting: 64, maxBatchTokens: 256, prefillChunk: 64 } });
  srv = await startServer(testOptions({ maxRunning: 16 }), silentLogger, () => model);
});
afterAll(async () => {
  await srv.close();
});

const body = (content: string, extra: Record<string, unknown> = {}) =>
  JSON.stringify({ model: MODEL_NAME, messages: [{ role: 'user', content }], temperature: 0, chat_template_kwargs: { enable_thinking: false }, ...extra });
const postChat = (b: string, signal?: AbortSignal) => fetch(`${srv.url}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: b, signal });

async function idle(): Promise<void> {
  for (let i = 0; i < 200 && (model.engine.stats.liveStates > 0 || model.engine.stats.running + model.engine.stats.waiting > 0); i++) await new Promise((r) => setTimeout(r, 10));
}

/** Reads an SSE response, calling `onEvent` per parsed event; returns all events. */
async function readSse(res: Response, onEvent?: (e: any, n: number) => boolean | void): Promise<any[]> {
  const reader = res.body!.getReader();
  const dec = new TextDecoder();
  let buf = '';
  const events: any[] = [];
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    buf += dec.decode(value, { stream: true });
    let at: number;
    while ((at = buf.indexOf('\n\n')) >= 0) {
      const e = parseSse(buf.slice(0, at + 2))[0];
      buf = buf.slice(at + 2);
      events.push(e);
      if (onEvent?.(e, events.length) === true) {
        await reader.cancel().catch(() => {});
        return events;
      }
    }
  }
  return events;
}

describe('real socket', () => {
  it('streams SSE over HTTP and answers health on the same server', async () => {
    expect((await fetch(`${srv.url}/v1/health/ready`)).status).toBe(200);
    const res = await postChat(body('Hello there', { stream: true, max_tokens: 5 }));
    expect(res.headers.get('content-type')).toMatch(/text\/event-stream/);
    const ev = await readSse(res);
    expect(ev.at(-1)).toBe('[DONE]');
    expect(joinDeltas(ev).finish).toBe('length');
  });

  it('a client that disconnects mid-stream cancels its engine request', async () => {
    const ac = new AbortController();
    const res = await postChat(body('Tell me a long story', { stream: true, max_tokens: 2000 }), ac.signal);
    let seen = 0;
    await readSse(res, (e) => {
      if (e !== '[DONE]' && e.choices?.[0]?.delta?.content) seen++;
      if (seen === 3) {
        ac.abort();
        return true;
      }
    }).catch(() => {});
    await idle();
    expect(model.engine.stats).toMatchObject({ running: 0, waiting: 0, liveStates: 0, stateBytes: 0 });
    expect(model.engine.stats.generatedTokens).toBeLessThan(1000);
  });

  it('a non-streaming request whose client disconnects is cancelled too', async () => {
    const before = model.engine.stats.generatedTokens;
    const ac = new AbortController();
    const p = postChat(body('Another long one', { max_tokens: 3000 }), ac.signal).catch(() => null);
    await new Promise((r) => setTimeout(r, 150));
    ac.abort();
    await p;
    await idle();
    expect(model.engine.stats.liveStates).toBe(0);
    expect(model.engine.stats.generatedTokens - before).toBeLessThan(3000);
  });

  it('32 simultaneous streams, 8 cancelled mid-stream: the rest equal their solo runs; no state leaks', async () => {
    const prompts = Array.from({ length: 32 }, (_, i) => `Question ${i}: what is ${i * 7} plus ${i}?`);
    const run = async (i: number, cancel: boolean) => {
      const ac = new AbortController();
      const res = await postChat(body(prompts[i], { stream: true, max_tokens: 12 }), ac.signal);
      let chunks = 0;
      const ev = await readSse(res, (e) => {
        if (e !== '[DONE]' && e.choices?.[0]?.delta?.content !== undefined) chunks++;
        if (cancel && chunks === 3) {
          ac.abort();
          return true;
        }
      });
      return { ev, text: joinDeltas(ev).content, finished: ev.at(-1) === '[DONE]' };
    };
    const all = await Promise.all(prompts.map((_, i) => run(i, i % 4 === 0)));
    await idle();
    expect(model.engine.stats).toMatchObject({ running: 0, waiting: 0, liveStates: 0, stateBytes: 0 });
    for (let i = 0; i < 32; i++) {
      if (i % 4 === 0) {
        expect(all[i].finished).toBe(false);
        continue;
      }
      expect(all[i].finished).toBe(true);
      const solo = await run(i, false);
      expect(all[i].text, `request ${i}`).toBe(solo.text);
      expect(joinDeltas(all[i].ev).finish).toBe(joinDeltas(solo.ev).finish);
    }
    expect(model.engine.stats.liveStates).toBe(0);
  });
});
