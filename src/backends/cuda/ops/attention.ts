/**
 * Causal GQA attention over growing per-sequence KV caches (kernels/attention.cu). Head dims 8/16/32/64/128 run on
 * tensor cores (TF32): flash attention for prefill and mixed steps, flash decoding (keys split over a fixed number
 * of blocks, then a combine kernel) for steps of one token per sequence; other head dims use the SIMT kernel.
 */
import type { AttnDims, Segment } from '../../../ops/ops.js';
import type { CudaCtx, CudaKvCache, CudaTensor } from '../tensor.js';
import { segmentMap } from './mamba.js';

const INITIAL_CAPACITY = 256;
/** Head dims with tensor-core kernels (attn_prefill_hd*, attn_decode_hd*). */
const TC_HEAD_DIMS: ReadonlySet<number> = new Set([8, 16, 32, 64, 128]);
/** Rows (token, query head) of one prefill tile: PF_ROWS in attention.cu. */
const PREFILL_ROWS = 128;
/** Upper bound on the key splits of a decode step (attention.cu keeps at least 32 keys per split). */
const MAX_SPLITS = 128;
const LOG2E = 1.4426950408889634;

/** Makes room for `extra` more rows (and c.kvAhead beyond them); growth copies run outside a step being captured. */
function reserve(c: CudaCtx, cache: CudaKvCache, extra: number): void {
  const need = cache.length + extra + c.kvAhead;
  if (need <= cache.capacity) return;
  const cap = Math.max(INITIAL_CAPACITY, need, cache.capacity * 2);
  const bytes = cap * cache.width * 4;
  const k = c.dev.pool.alloc(bytes);
  const v = c.dev.pool.alloc(bytes);
  const used = cache.length * cache.width * 4;
  if (cache.capacity) {
    c.dev.copyOutsideStep(k.ptr, cache.k, used);
    c.dev.copyOutsideStep(v.ptr, cache.v, used);
    c.dev.pool.release(cache.k, cache.allocSize);
    c.dev.pool.release(cache.v, cache.allocSize);
  }
  cache.k = k.ptr;
  cache.v = v.ptr;
  cache.allocSize = k.size;
  cache.capacity = cap;
}

/** Rows that the tensor-core kernels may read as float4 (16-byte aligned start and row stride). */
const vec4 = (t: CudaTensor) => t.ptr % 16 === 0 && t.ld % 4 === 0;

/**
 * Key splits per (token, kv head) of a decode step: about two blocks per multiprocessor over the whole batch. A
 * function of the batch size and the device only, so that a captured decode graph stays valid as caches grow.
 */
export function decodeSplits(multiprocessors: number, tokens: number, kvHeads: number): number {
  return Math.max(1, Math.min(MAX_SPLITS, Math.ceil((2 * multiprocessors) / (tokens * kvHeads))));
}

/**
 * Prefill tiles: [slots][3] = (segment, first token in the segment, tokens), at most `tokensPerTile` tokens each,
 * the ones with the most keys to visit first (they finish last otherwise); unused slots have segment -1. The slot
 * count, ceil(N / tokensPerTile) + segments, bounds the tiles of any split of N tokens into that many segments.
 * `skipSingles`: segments of one token get no tile (the split-key kernel takes them).
 */
export function prefillTiles(segments: readonly Segment[], past: readonly number[], tokensPerTile: number, n: number, skipSingles = false): Int32Array {
  const tiles: { s: number; t0: number; len: number; keys: number }[] = [];
  segments.forEach((seg, s) => {
    if (skipSingles && seg.length === 1) return;
    for (let t0 = 0; t0 < seg.length; t0 += tokensPerTile) {
      const len = Math.min(tokensPerTile, seg.length - t0);
      tiles.push({ s, t0, len, keys: past[s] + t0 + len });
    }
  });
  tiles.sort((a, b) => b.keys - a.keys); // stable: equal tiles keep their order
  const out = new Int32Array((Math.ceil(n / tokensPerTile) + segments.length) * 3).fill(-1);
  tiles.forEach((t, i) => out.set([t.s, t.t0, t.len], 3 * i));
  return out;
}

export function attention(c: CudaCtx, q: CudaTensor, k: CudaTensor, v: CudaTensor, dims: AttnDims, segments: readonly Segment[], caches: readonly CudaKvCache[]): CudaTensor {
  c.live(q, k, v);
  const { heads, kvHeads, headDim: hd } = dims;
  const G = heads / kvHeads;
  if (!Number.isInteger(G) || G > 16) throw new Error(`attention: ${heads} query heads per ${kvHeads} kv heads not supported (at most 16 per kv head)`);
  if (hd > 128) throw new Error(`attention: head dim ${hd} > 128 not supported`);
  const kvw = kvHeads * hd;
  if (q.cols !== heads * hd || k.cols !== kvw || v.cols !== kvw) throw new Error(`attention: q [${q.shape}] k [${k.shape}] v [${v.shape}] do not match the dims`);
  if (caches.length !== segments.length) throw new Error(`attention: ${caches.length} caches for ${segments.length} segments`);
  const N = q.rows;
  const tokSeg = segmentMap(segments, N);
  caches.forEach((cache, s) => {
    if (cache.released) throw new Error('attention: KV cache was released');
    if (cache.width !== kvw) throw new Error(`attention: KV cache of width ${cache.width} for ${kvw}`);
    reserve(c, cache, segments[s].length);
  });
  // Shapes with tensor-core kernels keep TF32-rounded cache rows (what the mma reads); the choice depends on the
  // dims only, so every call on a cache agrees.
  const tc = TC_HEAD_DIMS.has(hd);
  const qscale = LOG2E / Math.sqrt(hd); // scores in base 2
  const past = caches.map((x) => x.length);
  const meta = c.dev.meta;
  const pp = meta.i32(past);
  const kp = meta.u64(caches.map((x) => x.k));
  const vp = meta.u64(caches.map((x) => x.v));
  const out = c.alloc([N, heads * hd]);
  const decode = segments.every((s, i) => s.length === 1 && s.start === i);
  /** Tokens with one query each on the split-key kernel: items null = token i of sequence i (a decode step). */
  const splitKeys = (items: Int32Array | null, count: number, append: boolean) => {
    const ns = decodeSplits(c.dev.info.multiprocessors, count, kvHeads);
    const ip = items ? meta.i32(items) : null;
    c.withScratch((scratch) => {
      const part = scratch(count * kvHeads * ns * G * hd * 4);
      const ml = scratch(count * kvHeads * ns * G * 2 * 4);
      c.kernels.launch(`attn_decode_hd${hd}`, [ns, kvHeads, count], 128, [
        q.ptr, q.ld, k.ptr, k.ld, v.ptr, v.ld, out.ptr, heads, kvHeads, qscale, ns, ip, append ? 1 : 0, pp, kp, vp, part, ml,
      ]);
      c.kernels.launch('attn_combine', [heads, count], 128, [out.ptr, heads, kvHeads, hd, ns, ip, pp, part, ml]);
    });
  };
  if (tc && decode && vec4(q) && vec4(k) && vec4(v)) {
    // the kernel appends this step's k, v rows itself; the grids depend on N and the dims only (graph replays)
    splitKeys(null, N, true);
  } else {
    const tp = meta.i32(tokSeg);
    const sp = meta.i32(segments.map((s) => s.start));
    c.kernels.launch('kv_append', [Math.ceil(kvw / 128), N], 128, [k.ptr, k.ld, v.ptr, v.ld, kvw, tp, sp, pp, kp, vp, tc ? 1 : 0]);
    if (tc && vec4(q)) {
      // prompt chunks on the flash kernel; single tokens (decoding sequences of a mixed step) on the split-key one
      const singles = segments.map((s, i) => (s.length === 1 ? i : -1)).filter((i) => i >= 0);
      if (singles.length < segments.length) {
        const tiles = prefillTiles(segments, past, Math.floor(PREFILL_ROWS / G), N, true);
        const tl = meta.i32(tiles);
        c.kernels.launch(`attn_prefill_hd${hd}`, (tiles.length / 3) * kvHeads, 256, [q.ptr, q.ld, out.ptr, heads, kvHeads, qscale, tl, sp, pp, kp, vp]);
      }
      if (singles.length) splitKeys(Int32Array.from(singles.flatMap((i) => [segments[i].start, i])), singles.length, false);
    } else {
      c.kernels.launch('attn_rows', [N, kvHeads], 128, [q.ptr, q.ld, out.ptr, heads, kvHeads, hd, 1 / Math.sqrt(hd), tp, sp, pp, kp, vp]);
    }
  }
  caches.forEach((cache, s) => (cache.length += segments[s].length));
  return out;
}
