/** Shared by the CUDA tests: whether a GPU is here (and why not), one backend per test file, bf16 helpers. */
import { describe } from 'vitest';
import { cudaAvailability } from '../../src/backends/cuda/available.js';
import { CudaBackend, type CudaBackendOptions } from '../../src/backends/cuda/backend.js';

export const cuda = cudaAvailability();
if (!cuda.ok) console.warn(`\n[test:cuda] GPU suites SKIPPED: ${cuda.reason}\n`);

/** `describe` when a CUDA device is usable, else a skipped suite. */
export const describeCuda = (cuda.ok ? describe : describe.skip) as typeof describe;

const backends = new Map<string, CudaBackend>();

/** One backend per option set and process (they share the device's primary context). */
export function gpu(opts: CudaBackendOptions = {}): CudaBackend {
  const key = JSON.stringify(opts);
  let b = backends.get(key);
  if (!b) backends.set(key, (b = new CudaBackend({ poison: true, ...opts })));
  return b;
}

export { relErr, toBf16 } from '../helpers/numeric.js';
