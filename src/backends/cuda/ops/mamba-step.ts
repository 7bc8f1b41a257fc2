/**
 * Fused Mamba-2 decode step (kernels/mamba_step.cu): conv + SiLU with the conv-state shift, the scan step and the
 * gated grouped RMSNorm in one launch, for steps where every sequence brings one token. Anything else declines
 * (null) and the model runs the three ops.
 */
import type { MambaMixerParams, MambaState, Segment } from '../../../ops/ops.js';
import type { CudaCtx, CudaTensor } from '../tensor.js';
import { ticketBuffer } from './tickets.js';

/** Most decode rows per launch (the ticket buffer holds MAX_ROWS x MAX_GROUPS). */
export const MAMBA_STEP_MAX_ROWS = 64;
const MAX_GROUPS = 64;
/** NEMOTRON_CUDA_MAMBA_STEP=0: always decline, so a benchmark can compare with the three-kernel path. */
const disabled = () => process.env.NEMOTRON_CUDA_MAMBA_STEP === '0';

/** The per-(row, group) tickets: [MAX_ROWS, MAX_GROUPS] ints (the kernel resets them). */
const tickets = (c: CudaCtx) => ticketBuffer(c, 'mambaMixer', MAMBA_STEP_MAX_ROWS * MAX_GROUPS);

/**
 * Weights an earlier call already took through c.f32: a float32 copy made then has finished before this step's
 * kernels run, so the kernel may load it before pdl_wait. A copy made in this call is written by a kernel that may
 * still be running when ours starts.
 */
const seen = new WeakSet<CudaTensor>();
const ready = (t: CudaTensor | null) => !t || (t.dtype === 'f32' ? t.contiguous : seen.has(t));

export function mambaMixerStep(
  c: CudaCtx, proj: CudaTensor, p: MambaMixerParams<CudaTensor>, segments: readonly Segment[], states: readonly MambaState<CudaTensor>[],
): CudaTensor | null {
  const { heads, headDim: P, stateSize, groups } = p.dims;
  const N = proj.rows;
  const K = p.convW.shape[1];
  const decode = segments.length === N && states.length === N && segments.every((s, i) => s.length === 1 && s.start === i);
  // the kernel's fixed shape: 256 threads = the group's 2 x 128 B/C channels, 8 warps x 8 state rows >= P,
  // norm groups = SSM groups (the last head-block of a group normalises it). proj is read one float per thread, so
  // any alignment and row stride will do.
  const fits = stateSize === 128 && P >= 1 && P <= 64 && heads % groups === 0 && groups <= MAX_GROUPS && K >= 2 && K <= 8
    && p.dInner === heads * P && p.convDim === p.dInner + 2 * groups * stateSize && p.normGroupSize === (heads / groups) * P
    && proj.dtype === 'f32' && proj.cols === p.dInner + p.convDim + heads && p.convW.shape[0] === p.convDim;
  // contiguous f32 states; float4 accesses of the ssm state rows (pool allocations: 256-byte aligned)
  const stateOk = states.every((s) => s.ssm.ptr % 16 === 0 && s.ssm.dtype === 'f32' && s.ssm.contiguous && s.ssm.numel === heads * P * stateSize
    && s.conv.dtype === 'f32' && s.conv.contiguous && s.conv.numel === p.convDim * (K - 1));
  if (disabled() || !decode || !fits || !stateOk || N < 1 || N > MAMBA_STEP_MAX_ROWS) return null;
  c.live(proj, p.convW, p.convB, p.aLog, p.d, p.dtBias, p.normW, ...states.flatMap((s) => [s.conv, s.ssm]));
  const weights = [p.convW, p.convB, p.aLog, p.d, p.dtBias, p.normW];
  const early = weights.every(ready);
  const [convW, convB, aLog, d, dtBias, normW] = weights.map((t) => (t ? c.f32(t) : null));
  for (const t of weights) if (t && t.dtype !== 'f32') seen.add(t);
  const out = c.alloc([N, p.dInner]); // [N, dInner]
  const partial = c.alloc([N, heads]); // [N, heads] each head's sum of g^2
  const convSt = c.dev.meta.u64(states.map((s) => s.conv.ptr));
  const ssmSt = c.dev.meta.u64(states.map((s) => s.ssm.ptr));
  c.kernels.launch('mamba_step', [heads, N], 256, [
    proj.ptr, proj.ld, convW!.ptr, convB?.ptr ?? null, aLog!.ptr, d!.ptr, dtBias!.ptr, normW!.ptr, out.ptr, partial.ptr, tickets(c),
    heads, P, groups, K, p.dims.dtMin, p.dims.dtMax, p.eps, early ? 1 : 0, convSt, ssmSt,
  ]);
  return out;
}
