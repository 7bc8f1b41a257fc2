/**
 * Token sampling from one row of logits, in vLLM's order: repetition / presence / frequency penalties ->
 * temperature -> top-k ->
 * top-p -> min-p -> draw. temperature 0 means greedy (argmax after the penalty).
 */
import type { RowSampling } from '../ops/ops.js';
import { Rng } from './rng.js';
import { selectCrossing, selectTopK } from './select.js';

/** Per-request sampling settings; omitted fields are off. */
export interface SamplingParams {
  /** 0 = greedy. Default 1. */
  temperature?: number;
  /** Keep the k most likely tokens; 0 or -1 = off. */
  topK?: number;
  /** Nucleus: smallest set with cumulative probability >= topP; 1 = off. */
  topP?: number;
  /** Drop tokens with p < minP * p_max; 0 = off. */
  minP?: number;
  /** HF/vLLM semantics over prompt + generated tokens: logit > 0 ? logit / r : logit * r; 1 = off. */
  repetitionPenalty?: number;
  /** OpenAI semantics over generated tokens: logit -= presence if the token appeared; 0 = off. */
  presencePenalty?: number;
  /** OpenAI semantics over generated tokens: logit -= frequency * count; 0 = off. */
  frequencyPenalty?: number;
  /** Seed for reproducible sampling; random when omitted. */
  seed?: number;
}

/** Throws a RangeError naming the first invalid field. */
export function validateSampling(p: SamplingParams): void {
  const check = (ok: boolean, field: string, why: string) => {
    if (!ok) throw new RangeError(`${field} ${why}`);
  };
  if (p.temperature !== undefined) check(Number.isFinite(p.temperature) && p.temperature >= 0, 'temperature', 'must be a finite number >= 0');
  if (p.topK !== undefined) check(Number.isInteger(p.topK) && p.topK >= -1, 'top_k', 'must be an integer >= -1 (0 or -1 = off)');
  if (p.topP !== undefined) check(p.topP > 0 && p.topP <= 1, 'top_p', 'must be in (0, 1]');
  if (p.minP !== undefined) check(p.minP >= 0 && p.minP <= 1, 'min_p', 'must be in [0, 1]');
  if (p.repetitionPenalty !== undefined) check(Number.isFinite(p.repetitionPenalty) && p.repetitionPenalty > 0, 'repetition_penalty', 'must be > 0');
  if (p.presencePenalty !== undefined) check(p.presencePenalty >= -2 && p.presencePenalty <= 2, 'presence_penalty', 'must be in [-2, 2]');
  if (p.frequencyPenalty !== undefined) check(p.frequencyPenalty >= -2 && p.frequencyPenalty <= 2, 'frequency_penalty', 'must be in [-2, 2]');
  if (p.seed !== undefined) check(Number.isInteger(p.seed), 'seed', 'must be an integer');
}

/** Samples tokens for one sequence; holds its RNG and the set of seen tokens for the penalty. */
export class Sampler {
  private readonly rng: Rng;
  private readonly seen = new Set<number>();
  /** Generated-token counts (presence / frequency penalties apply to the output only, as in vLLM). */
  private readonly counts = new Map<number, number>();

  constructor(readonly params: SamplingParams, promptTokens: Iterable<number> = []) {
    validateSampling(params);
    this.rng = new Rng(params.seed ?? Math.floor(Math.random() * 2 ** 32));
    for (const t of promptTokens) this.seen.add(t);
  }

  /**
   * The settings for a device-side draw of the next token (Ops.sampleRows), consuming this sampler's random number
   * as `sample()` would; null when a penalty is set (penalties need the host). Record the drawn token with
   * `accept()`. A seed then reproduces the device's draws, which walk the kept tokens in id order rather than in
   * probability order: the same distribution, not the same tokens as the host path.
   */
  deviceDraw(): RowSampling | null {
    const p = this.params;
    if (!this.devicePossible) return null;
    const temperature = p.temperature ?? 1;
    return { temperature, topK: p.topK ?? 0, topP: p.topP ?? 1, minP: p.minP ?? 0, u: temperature === 0 ? 0 : this.rng.next() };
  }

  /** Whether the next token may be drawn on the device: no penalty is set. */
  get devicePossible(): boolean {
    const p = this.params;
    return (p.repetitionPenalty ?? 1) === 1 && (p.presencePenalty ?? 0) === 0 && (p.frequencyPenalty ?? 0) === 0;
  }

  /** Records a token drawn elsewhere (see deviceDraw). */
  accept(token: number): void {
    this.seen.add(token);
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
  }

  /** Picks the next token from `logits` (one row, not modified) and records it as seen. */
  sample(logits: Float32Array): number {
    const token = this.pick(logits);
    this.seen.add(token);
    this.counts.set(token, (this.counts.get(token) ?? 0) + 1);
    return token;
  }

  private pick(row: Float32Array): number {
    const p = this.params;
    const logits = Float64Array.from(row);
    const r = p.repetitionPenalty ?? 1;
    if (r !== 1) for (const t of this.seen) if (t < logits.length) logits[t] = logits[t] > 0 ? logits[t] / r : logits[t] * r;
    const presence = p.presencePenalty ?? 0;
    const frequency = p.frequencyPenalty ?? 0;
    if (presence !== 0 || frequency !== 0) {
      for (const [t, n] of this.counts) if (t < logits.length) logits[t] -= presence + frequency * n;
    }
    const temperature = p.temperature ?? 1;
    if (temperature === 0) return argmax(logits);
    return drawFiltered(logits, temperature, p.topK ?? 0, p.topP ?? 1, p.minP ?? 0, this.rng.next());
  }
}

/**
 * temperature -> top-k -> top-p -> min-p -> draw over `logits` (penalties already applied), with u uniform in
 * [0, 1): the token that walking the candidates in rank order (logit descending, ties to the lower id) would pick.
 * NaN and -Infinity logits are never drawn; when every logit is, the argmax.
 */
export function drawFiltered(logits: Float64Array, temperature: number, topK: number, topP: number, minP: number, u: number): number {
  const V = logits.length;
  let ids = new Int32Array(V);
  let n = 0;
  for (let i = 0; i < V; i++) if (logits[i] > -Infinity) ids[n++] = i; // false for NaN
  if (n === 0) return argmax(logits);
  if (topK > 0 && topK < n) {
    selectTopK(logits, ids.subarray(0, n), topK);
    n = topK;
  }
  ids = ids.subarray(0, n);
  let max = -Infinity;
  for (const t of ids) if (logits[t] > max) max = logits[t];
  const w = new Float64Array(V); // relative probabilities exp((l - max) / T) of the candidates
  let z = 0;
  for (const t of ids) z += w[t] = Math.exp((logits[t] - max) / temperature);
  if (topP < 1) {
    // keep while the running probability is below top_p: up to and including the token that reaches it
    n = selectCrossing(logits, w, ids, n, topP * z, true) + 1;
    ids = ids.subarray(0, n);
  }
  if (minP > 0) {
    // p >= min_p * p_max, and p_max's relative weight is 1: a prefix of the rank order
    let m = 0;
    for (const t of ids) if (w[t] >= minP) ids[m++] = t;
    ids = ids.subarray(0, Math.max(1, m));
  }
  let s = 0;
  for (const t of ids) s += w[t];
  return ids[selectCrossing(logits, w, ids, ids.length, u * s, false)];
}

export function argmax(a: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < a.length; i++) if (a[i] > a[best]) best = i;
  return best;
}
