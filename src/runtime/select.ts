/**
 * Picks a backend by name: the only module that imports concrete backends. The CUDA backend is loaded
 * only when asked for, so machines without CUDA never touch its FFI.
 */
import { CpuFastBackend } from '../backends/cpu/fast/backend.js';
import { CpuRefBackend } from '../backends/cpu/ref/backend.js';
import { CpuSimdBackend } from '../backends/cpu/simd/backend.js';
import { CudaBackend } from '../backends/cuda/backend.js';
import type { Ops, Tensor } from '../ops/ops.js';

export const BACKENDS = ['cpu-simd', 'cpu-fast', 'cpu-ref', 'cuda'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Returns the backend called `name`; throws with the list of known ones otherwise. */
/** Backend options; `precise` applies to cuda (float32-accurate GEMM activations, see CudaBackendOptions). */
export interface SelectOptions {
  precise?: boolean;
}

export function selectBackend(name: string = 'cpu-simd', opts: SelectOptions = {}): Ops<Tensor> {
  switch (name) {
    case 'cpu-ref':
      return new CpuRefBackend() as unknown as Ops<Tensor>;
    case 'cpu-fast':
      return new CpuFastBackend() as unknown as Ops<Tensor>;
    case 'cpu-simd':
    case 'cpu':
      // the default CPU backend: WASM SIMD kernels (src/backends/cpu/simd), ~4-5x cpu-fast on the demo model
      return new CpuSimdBackend() as unknown as Ops<Tensor>;
    case 'cuda':
      // importing the module loads no FFI: koffi and libcuda are opened by the constructor
      return new CudaBackend({ precise: opts.precise }) as unknown as Ops<Tensor>;
    default:
      throw new Error(`unknown backend "${name}" (available: ${BACKENDS.join(', ')})`);
  }
}
