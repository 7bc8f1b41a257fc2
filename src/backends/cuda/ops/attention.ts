/** Causal GQA attention over growing per-sequence KV caches (kernels/attention.cu). */
import type { AttnDims, Segment } from '../../../ops/ops.js';
import type { CudaCtx, CudaKvCache, CudaTensor } from '../tensor.js';
import { segmentMap } from './mamba.js';

const INITIAL_CAPACITY = 256;

/** Makes room for `extra` more rows; growth copies run outside a step being captured. */
function reserve(c: CudaCtx, cache: CudaKvCache, extra: number): void {
  const need = cache.length + extra;
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

export function attention(c: CudaCtx, q: CudaTensor, k: CudaTensor, v: CudaTensor, dims: AttnDims, segments: readonly Segment[], caches: readonly CudaKvCache[]): CudaTensor {
  c.live(q, k, v);
  const { heads, kvHeads, headDim: hd } = dims;
  const G = heads / kvHeads;
  if (!Number.isInteger(G) || G > 16) throw new Error(`attention: ${heads} query heads per ${kvHeads} kv heads not supported (at most 16 per kv head)`);
  if (hd > 128) throw new Error(`attention: head dim ${hd} > 128 not supported`);
  const kvw = kvHeads * hd;
  if (q.cols !== heads * hd || k.cols !== kvw || v.cols !== kvw) throw new Error(`attention: q [${q.shape}] k [${k.shape}] v [${v.shape}] do not match the dims`);
  const N = q.rows;
  const tokSeg = segmentMap(segments, N);
  caches.forEach((cache, s) => {
    if (cache.released) throw new Error('attention: KV cache was released');
    if (cache.width !== kvw) throw new Error(`attention: KV cache of width ${cache.width} for ${kvw}`);
    reserve(c, cache, segments[s].length);
  });
  const meta = c.dev.meta;
  const tp = meta.i32(tokSeg);
  const sp = meta.i32(segments.map((s) => s.start));
  const pp = meta.i32(caches.map((x) => x.length));
  const kp = meta.u64(caches.map((x) => x.k));
  const vp = meta.u64(caches.map((x) => x.v));
  const out = c.alloc([N, heads * hd]);
  c.kernels.launch('kv_append', [Math.ceil(kvw / 128), N], 128, [k.ptr, k.ld, v.ptr, v.ld, kvw, tp, sp, pp, kp, vp]);
  c.kernels.launch('attn_rows', [N, kvHeads], 128, [q.ptr, q.ld, out.ptr, heads, kvHeads, hd, 1 / Math.sqrt(hd), tp, sp, pp, kp, vp]);
  caches.forEach((cache, s) => (cache.length += segments[s].length));
  return out;
}
