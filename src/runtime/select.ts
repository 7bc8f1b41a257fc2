/**
 * Picks a backend by name: the only module that imports concrete backends. The CUDA backend is loaded
 * only when asked for, so machines without CUDA never touch its FFI.
 */
import { CpuRefBackend } from '../backends/cpu/ref/backend.js';
import type { Ops, Tensor } from '../ops/ops.js';

export const BACKENDS = ['cpu-ref'] as const;
export type BackendName = (typeof BACKENDS)[number];

/** Returns the backend called `name`; throws with the list of known ones otherwise. */
export function selectBackend(name: string = 'cpu-ref'): Ops<Tensor> {
  switch (name) {
    case 'cpu-ref':
    case 'cpu':
      return new CpuRefBackend() as unknown as Ops<Tensor>;
    default:
      throw new Error(`unknown backend "${name}" (available: ${BACKENDS.join(', ')})`);
  }
}
