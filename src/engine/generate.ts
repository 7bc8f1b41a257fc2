/**
 * Single-sequence generation on a loaded model: prefill (optionally in chunks), then one decode step per
 * token, with sampling, stop tokens and a token budget. The multi-request scheduler builds on the same
 * model.forward() calls.
 */
import type { Tensor } from '../ops/ops.js';
import type { NemotronH } from '../models/nemotron-h.js';
import type { GenerationDefaults } from '../loaders/load-model.js';
import { Sampler, type SamplingParams } from './sampling.js';

export interface GenerateOptions extends SamplingParams {
  /** Most new tokens to produce (required, >= 1). */
  maxTokens: number;
  /** Generation stops after any of these; defaults to generation_config's eos ids ({2, 11} for Nano). */
  stopTokenIds?: number[];
  /** Prefill at most this many prompt tokens per forward call (0 = whole prompt at once). */
  prefillChunk?: number;
  signal?: AbortSignal;
}

export type FinishReason = 'stop' | 'length' | 'abort';

export interface GeneratedToken {
  token: number;
  /** 0-based index among the new tokens. */
  index: number;
  /** Set on the last token of the stream. */
  finishReason?: FinishReason;
}

export interface GenerateResult {
  tokens: number[];
  finishReason: FinishReason;
}

type Generatable<T extends Tensor> = { model: NemotronH<T>; generation: GenerationDefaults };

/** Streams new tokens one at a time. The sequence state is freed when the iterator finishes or is closed. */
export async function* generateStream<T extends Tensor>(lm: Generatable<T>, prompt: readonly number[], opts: GenerateOptions): AsyncGenerator<GeneratedToken> {
  const { model } = lm;
  if (prompt.length === 0) throw new RangeError('prompt is empty: at least one token is needed');
  if (!Number.isInteger(opts.maxTokens) || opts.maxTokens < 1) throw new RangeError('max_tokens must be an integer >= 1');
  const vocab = model.config.vocabSize;
  const bad = prompt.find((t) => !Number.isInteger(t) || t < 0 || t >= vocab);
  if (bad !== undefined) throw new RangeError(`prompt token ${bad} is outside the vocabulary [0, ${vocab})`);
  const stop = new Set(opts.stopTokenIds ?? lm.generation.eosTokenIds);
  const sampler = new Sampler(opts, prompt);
  const state = model.newState();
  try {
    const chunk = opts.prefillChunk && opts.prefillChunk > 0 ? opts.prefillChunk : prompt.length;
    let logits!: T;
    for (let i = 0; i < prompt.length; i += chunk) {
      logits = model.forward([{ tokens: prompt.slice(i, i + chunk), state }]);
      await yieldToEventLoop();
      if (opts.signal?.aborted) return;
    }
    for (let index = 0; index < opts.maxTokens; index++) {
      const token = sampler.sample(model.ops.toFloat32(logits));
      const finishReason: FinishReason | undefined = stop.has(token) ? 'stop' : index + 1 === opts.maxTokens ? 'length' : undefined;
      yield { token, index, finishReason };
      if (finishReason) return;
      logits = model.forward([{ tokens: [token], state }]);
      await yieldToEventLoop();
      if (opts.signal?.aborted) return;
    }
  } finally {
    model.freeState(state);
  }
}

/** Runs generation to the end and returns the new tokens. */
export async function generate<T extends Tensor>(lm: Generatable<T>, prompt: readonly number[], opts: GenerateOptions): Promise<GenerateResult> {
  const tokens: number[] = [];
  let finishReason: FinishReason = 'abort';
  for await (const t of generateStream(lm, prompt, opts)) {
    tokens.push(t.token);
    if (t.finishReason) finishReason = t.finishReason;
  }
  return { tokens, finishReason };
}

const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));
