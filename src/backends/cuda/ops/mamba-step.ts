/** Fused Mamba-2 decode step (conv + scan + gated norm in one kernel): not written yet, so every call declines. */
import type { MambaMixerParams, MambaState, Segment } from '../../../ops/ops.js';
import type { CudaCtx, CudaTensor } from '../tensor.js';

export function mambaMixerStep(
  _c: CudaCtx, _proj: CudaTensor, _p: MambaMixerParams<CudaTensor>, _segments: readonly Segment[], _states: readonly MambaState<CudaTensor>[],
): CudaTensor | null {
  return null;
}
