/** Elementwise ops, embedding, row gather, column views: thin launches of kernels/basic.cu and norm.cu. */
import type { CudaCtx } from '../tensor.js';
import { CudaTensor } from '../tensor.js';

function sameNumel(what: string, a: CudaTensor, b: CudaTensor): void {
  if (a.numel !== b.numel) throw new Error(`${what}: shapes [${a.shape}] and [${b.shape}] differ`);
}

/** An embedding lookup ready to launch: the ids' device address (the token feed or metadata) and the output. */
export interface EmbedLaunch {
  table: CudaTensor;
  ids: number;
  out: CudaTensor; // [n, H]
}

/** Checks the ids and places them (embed_rows or embed_rms_norm_wide reads them); launches nothing. */
export function embedInputs(c: CudaCtx, table: CudaTensor, ids: Int32Array): EmbedLaunch {
  c.live(table);
  const [vocab, h] = table.shape;
  const feed = c.tokenFeed && c.tokenFeed.n === ids.length ? c.tokenFeed.ptr : 0;
  // fed ids were written on the device by argmax_rows over the vocabulary: in range by construction
  if (!feed) {
    ids.forEach((id) => {
      if (!Number.isInteger(id) || id < 0 || id >= vocab) throw new RangeError(`token id ${id} is outside the vocabulary [0, ${vocab})`);
    });
  }
  return { table, ids: feed || c.dev.meta.i32(ids), out: c.alloc([ids.length, h]) };
}

export function launchEmbed(c: CudaCtx, e: EmbedLaunch): void {
  c.kernels.launch('embed_rows', e.out.rows, 256, [e.table.ptr, e.table.dtype === 'bf16' ? 1 : 0, e.ids, e.out.ptr, e.out.cols]);
}

export function embed(c: CudaCtx, table: CudaTensor, ids: Int32Array): CudaTensor {
  const e = embedInputs(c, table, ids);
  launchEmbed(c, e);
  return e.out;
}

export function rmsNorm(c: CudaCtx, x: CudaTensor, w: CudaTensor, eps: number): CudaTensor {
  c.live(x, w);
  const h = x.cols;
  const wf = c.f32(w);
  if (wf.numel !== h) throw new Error(`rmsNorm: weight of ${wf.numel} for rows of ${h}`);
  const out = c.alloc(x.shape);
  c.kernels.launch('rms_norm', x.rows, 256, [x.ptr, x.ld, wf.ptr, out.ptr, h, eps]);
  return out;
}

export function add(c: CudaCtx, a: CudaTensor, b: CudaTensor): CudaTensor {
  c.live(a, b);
  sameNumel('add', a, b);
  const ac = c.contig(a);
  const bc = c.contig(b);
  const out = c.alloc(a.shape);
  c.kernels.launch('add_f32', c.blocks(a.numel), 256, [ac.ptr, bc.ptr, out.ptr, a.numel]);
  return out;
}

export function addBias(c: CudaCtx, x: CudaTensor, b: CudaTensor): CudaTensor {
  c.live(x, b);
  const d = x.cols;
  const bf = c.f32(b);
  if (bf.numel !== d) throw new Error(`addBias: bias of ${bf.numel} for rows of ${d}`);
  const xc = c.contig(x);
  const out = c.alloc(x.shape);
  c.kernels.launch('add_bias_f32', c.blocks(x.numel), 256, [xc.ptr, bf.ptr, out.ptr, x.numel, d]);
  return out;
}

export function relu2(c: CudaCtx, x: CudaTensor): CudaTensor {
  c.live(x);
  const xc = c.contig(x);
  const out = c.alloc(x.shape);
  c.kernels.launch('relu2_f32', c.blocks(x.numel), 256, [xc.ptr, out.ptr, x.numel]);
  return out;
}

export function gatherRows(c: CudaCtx, x: CudaTensor, rows: Int32Array): CudaTensor {
  c.live(x);
  const n = x.rows;
  rows.forEach((r) => {
    if (!Number.isInteger(r) || r < 0 || r >= n) throw new RangeError(`gatherRows: row ${r} of ${n}`);
  });
  const d = x.cols;
  const out = c.alloc([rows.length, d]);
  const rp = c.dev.meta.i32(rows);
  c.kernels.launch('gather_rows_f32', rows.length, 256, [x.ptr, x.ld, rp, out.ptr, d]);
  return out;
}

/** Column blocks as views of x (no copy); kernels that read them take the row stride. */
export function splitCols(c: CudaCtx, x: CudaTensor, widths: readonly number[]): CudaTensor[] {
  c.live(x);
  const total = widths.reduce((a, b) => a + b, 0);
  if (total !== x.cols) throw new Error(`splitCols: widths sum to ${total}, tensor has ${x.cols} columns`);
  const esize = x.dtype === 'bf16' ? 2 : 4;
  let off = 0;
  return widths.map((w) => {
    const v = new CudaTensor([...x.shape.slice(0, -1), w], x.dtype, x.ptr + off * esize, x.ld, x.gen, null);
    off += w;
    return v;
  });
}

export function gatedRmsNorm(c: CudaCtx, y: CudaTensor, z: CudaTensor, w: CudaTensor, groupSize: number, eps: number): CudaTensor {
  c.live(y, z, w);
  const width = y.cols;
  if (width % groupSize !== 0) throw new Error(`gatedRmsNorm: width ${width} is not a multiple of the group size ${groupSize}`);
  if (z.cols !== width || z.rows !== y.rows) throw new Error(`gatedRmsNorm: z [${z.shape}] does not match y [${y.shape}]`);
  const wf = c.f32(w);
  const out = c.alloc([y.rows, width]);
  const args = [y.ptr, y.ld, z.ptr, z.ld, wf.ptr, out.ptr, width, groupSize, eps];
  const vec = groupSize % 128 === 0 && groupSize <= 4096 && [y, z, wf].every((t) => t.ptr % 16 === 0 && t.ld % 4 === 0);
  if (vec) c.kernels.launch('gated_rms_norm_v4', [width / groupSize, y.rows], groupSize / 4, args); // one float4 per thread
  else c.kernels.launch('gated_rms_norm', [width / groupSize, y.rows], 256, args);
  return out;
}
