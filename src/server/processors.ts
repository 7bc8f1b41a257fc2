/**
 * Logits processors the request fields turn into: logit_bias, and the reasoning budget (NIM / NVIDIA
 * cookbook semantics: after `budget` reasoning tokens, close the block with `</think>` at the next newline,
 * or at once after a grace of 10% of the budget, at least 8 tokens), so the answer still comes.
 */
import type { LogitsProcessor } from '../engine/engine.js';

/** Adds OpenAI logit_bias values (token id -> bias in [-100, 100]). */
export function logitBias(bias: Record<string, number>): LogitsProcessor {
  const entries = Object.entries(bias).map(([k, v]) => [Number(k), v] as const);
  return (_generated, logits) => {
    for (const [id, v] of entries) if (id < logits.length) logits[id] += v;
  };
}

export interface BudgetOptions {
  budget: number;
  thinkEndId: number;
  /** Decoded bytes of a token (to find newlines and a `</think>` the model wrote itself). */
  bytesOf(id: number): Uint8Array | undefined;
}

/** Forces `</think>` once the reasoning budget is spent (see module comment). */
export function reasoningBudget(opts: BudgetOptions): LogitsProcessor {
  const grace = Math.max(8, Math.ceil(opts.budget * 0.1));
  let closed = false;
  let seen = 0;
  let lastNewline = false;
  const dec = new TextDecoder();
  let tail = '';
  return (generated, logits) => {
    for (; seen < generated.length; seen++) {
      const t = generated[seen];
      if (t === opts.thinkEndId) closed = true;
      const b = opts.bytesOf(t);
      const text = b ? dec.decode(b, { stream: true }) : '';
      tail = (tail + text).slice(-16);
      if (tail.includes('</think>')) closed = true;
      lastNewline = text.endsWith('\n');
    }
    if (closed) return;
    const used = generated.length;
    if (used >= opts.budget && (lastNewline || used >= opts.budget + grace || opts.budget === 0)) {
      const keep = logits[opts.thinkEndId];
      logits.fill(-Infinity);
      logits[opts.thinkEndId] = Number.isFinite(keep) ? keep : 0;
    }
  };
}
