/**
 * Token sampling on the GPU (kernels/sample.cu): temperature, top-k, top-p, min-p and the draw for each row of
 * logits, with the host sampler's semantics (src/engine/sampling.ts); the caller supplies each row's uniform
 * number, so a seeded request stays reproducible. Rows with temperature 0 are greedy (top-1: the argmax, lowest
 * id on ties). Graph-capturable: the settings are staged with the step.
 */
import type { RowSampling } from '../../../ops/ops.js';
import type { CudaCtx, CudaTensor } from '../tensor.js';

export type { RowSampling };

/** Longest row the kernel takes (its candidate bitmask lives in shared memory). */
export const SAMPLE_MAX_VOCAB = 262144;

/** Draws one token per row of x [rows, V] into the device buffer `out` (i32 [rows]). */
export function sampleInto(c: CudaCtx, x: CudaTensor, rows: readonly RowSampling[], out: number): void {
  c.live(x);
  if (x.dtype !== 'f32') throw new Error(`sample: logits must be float32, got ${x.dtype}`);
  if (rows.length !== x.rows) throw new Error(`sample: ${rows.length} settings for ${x.rows} rows`);
  const V = x.cols;
  if (V > SAMPLE_MAX_VOCAB) throw new Error(`sample: rows of ${V} logits exceed ${SAMPLE_MAX_VOCAB}`);
  rows.forEach((r, i) => {
    if (!(r.temperature >= 0) || !Number.isFinite(r.temperature)) throw new RangeError(`sample: row ${i} temperature ${r.temperature}`);
    if (!(r.u >= 0 && r.u < 1)) throw new RangeError(`sample: row ${i} uniform ${r.u} outside [0, 1)`);
    if (!(r.topP > 0 && r.topP <= 1)) throw new RangeError(`sample: row ${i} top_p ${r.topP} outside (0, 1]`);
    if (!(r.minP >= 0 && r.minP <= 1)) throw new RangeError(`sample: row ${i} min_p ${r.minP} outside [0, 1]`);
  });
  const xc = c.contig(x);
  const greedy = (r: RowSampling) => r.temperature === 0;
  const meta = c.dev.meta;
  const temp = meta.f32(Float32Array.from(rows, (r) => (greedy(r) ? 1 : r.temperature)));
  const topk = meta.i32(Int32Array.from(rows, (r) => (greedy(r) ? 1 : r.topK > 0 ? Math.min(r.topK, 2 ** 31 - 1) : 0)));
  const topp = meta.f32(Float32Array.from(rows, (r) => (greedy(r) ? 1 : r.topP)));
  const minp = meta.f32(Float32Array.from(rows, (r) => (greedy(r) ? 0 : r.minP)));
  const uni = meta.f32(Float32Array.from(rows, (r) => Math.min(r.u, 0.99999994)));
  c.kernels.launch('sample_rows', x.rows, 1024, [xc.ptr, V, temp, topk, topp, minp, uni, out]);
}
