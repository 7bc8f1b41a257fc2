/**
 * Server load benchmark: starts the HTTP server in-process on a free port, then C concurrent clients each send
 * R streaming chat requests (greedy, thinking off) over real sockets. Prints one JSON row: requests/s, output
 * tokens/s, TTFT and inter-token latency percentiles, and the engine state left afterwards (must be 0).
 *   npx tsx bench/server-load.ts [--model DIR] [--clients 8] [--requests 4] [--max-tokens 32] [--prompt-words 20]
 */
import { parseArgs } from 'node:util';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { execSync } from 'node:child_process';
import { cpus } from 'node:os';
import { resolveOptions } from '../src/server/config.js';
import { createLogger } from '../src/server/logger.js';
import { loadServedModel } from '../src/server/model.js';
import { startServer } from '../src/server/server.js';

const here = fileURLToPath(new URL('.', import.meta.url));
const { values } = parseArgs({ options: { model: { type: 'string' }, clients: { type: 'string' }, requests: { type: 'string' }, 'max-tokens': { type: 'string' }, 'prompt-words': { type: 'string' } } });
const modelDir = values.model ?? join(here, '..', 'test', 'fixtures', 'server', 'tiny-chat');
const C = Number(values.clients ?? 8);
const R = Number(values.requests ?? 4);
const maxTokens = Number(values['max-tokens'] ?? 32);
const words = Number(values['prompt-words'] ?? 20);

const opts = resolveOptions({ model: modelDir, host: '127.0.0.1', port: '0', 'served-model-name': 'bench' }, {}, () => modelDir);
const srv = await startServer(opts, createLogger('error'), () => loadServedModel(modelDir, { engine: { maxRunning: Math.max(16, C) } }));
const pct = (xs: number[], p: number) => (xs.length ? [...xs].sort((a, b) => a - b)[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] : NaN);

const ttft: number[] = [];
const itl: number[] = [];
let tokens = 0;
const t0 = performance.now();
await Promise.all(
  Array.from({ length: C }, async (_, c) => {
    for (let r = 0; r < R; r++) {
      const content = Array.from({ length: words }, (_, i) => `word${(c * 31 + r * 7 + i) % 97}`).join(' ');
      const start = performance.now();
      const res = await fetch(`${srv.url}/v1/chat/completions`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ model: 'bench', messages: [{ role: 'user', content }], max_tokens: maxTokens, temperature: 0, stream: true, stream_options: { include_usage: true }, chat_template_kwargs: { enable_thinking: false } }),
      });
      const reader = res.body!.getReader();
      let prev = 0;
      let first = true;
      for (;;) {
        const { done, value } = await reader.read();
        if (done) break;
        const now = performance.now();
        const text = new TextDecoder().decode(value);
        if (text.includes('"delta":{"content"') || text.includes('"delta":{"reasoning')) {
          if (first) ttft.push(now - start);
          else itl.push(now - prev);
          first = false;
          prev = now;
        }
        const m = /"completion_tokens":(\d+)/.exec(text);
        if (m && text.includes('"choices":[]')) tokens += Number(m[1]);
      }
    }
  }),
);
const wall = (performance.now() - t0) / 1000;
const stats = srv.host.model!.engine.stats;
let commit = 'unknown';
try {
  commit = execSync('git rev-parse --short HEAD', { encoding: 'utf8' }).trim();
} catch {
  // not a git checkout
}
console.log(
  JSON.stringify({
    bench: 'server-load',
    date: new Date().toISOString(),
    commit,
    machine: `${cpus()[0]?.model ?? 'cpu'} x${cpus().length}`,
    model: modelDir,
    clients: C,
    requests: C * R,
    max_tokens: maxTokens,
    wall_s: +wall.toFixed(2),
    req_per_s: +((C * R) / wall).toFixed(2),
    out_tok_per_s: +(tokens / wall).toFixed(1),
    ttft_ms: { p50: +pct(ttft, 50).toFixed(1), p95: +pct(ttft, 95).toFixed(1) },
    itl_ms: { p50: +pct(itl, 50).toFixed(1), p95: +pct(itl, 95).toFixed(1) },
    live_states_after: stats.liveStates,
  }),
);
await srv.close();
