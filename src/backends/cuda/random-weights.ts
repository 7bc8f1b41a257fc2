/**
 * A model of the real Nemotron 3 Nano shape (src/backends/cuda/nano-config.json: 52 layers, 128 experts,
 * 31.6 B parameters) with random weights made directly on the GPU, for benchmarks without the 63 GB download.
 * Matrices are BF16 with uniform values of standard deviation 1/sqrt(fan_in); norms 1, A in [-16, -1], D 1.
 */
import { existsSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { parseConfig, type NemotronHConfig } from '../../models/config.js';
import { NemotronH } from '../../models/nemotron-h.js';
import { expectedTensors } from '../../models/tensors.js';
import type { CudaBackend } from './backend.js';
import type { CudaTensor } from './tensor.js';

/** Path of the real Nano config.json copy used by random-weights mode (and by the HF side-by-side script). */
export function nanoConfigPath(): string {
  for (const rel of ['./nano-config.json', '../../../src/backends/cuda/nano-config.json']) {
    const p = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(p)) return p;
  }
  throw new Error('nano-config.json not found next to the CUDA backend sources');
}

export function nanoConfig(): NemotronHConfig {
  const path = nanoConfigPath();
  return parseConfig(readFileSync(path, 'utf8'), path);
}

/** Value range per tensor (uniform [lo, hi)). */
function range(name: string, shape: readonly number[]): [number, number] {
  if (/norm(_f)?\.weight$/.test(name) || name.endsWith('.D')) return [1, 1];
  if (name.endsWith('A_log')) return [0, Math.log(16)];
  if (name.endsWith('dt_bias')) return [-4, -2];
  if (name.endsWith('conv1d.weight')) return [-0.5, 0.5];
  if (name.endsWith('conv1d.bias')) return [-0.1, 0.1];
  if (name.endsWith('e_score_correction_bias')) return [-0.01, 0.01];
  if (name === 'embeddings.weight') return [-1, 1];
  const a = Math.sqrt(3 / shape[shape.length - 1]);
  return [-a, a];
}

/** Creates every weight of `config` on the device; returns the model and the bytes allocated. */
export function randomModel(backend: CudaBackend, config: NemotronHConfig = nanoConfig(), seed = 1): { model: NemotronH<CudaTensor>; bytes: number; params: number } {
  const weights = new Map<string, CudaTensor>();
  let bytes = 0;
  let params = 0;
  expectedTensors(config).forEach((e, i) => {
    const bf16 = e.shape.length === 2 && e.shape[1] % 8 === 0;
    const [lo, hi] = range(e.name, e.shape);
    const t = backend.randomTensor(e.shape, bf16 ? 'bf16' : 'f32', lo, hi, seed * 100003 + i);
    const n = e.shape.reduce((a, b) => a * b, 1);
    params += n;
    bytes += n * (bf16 ? 2 : 4);
    weights.set(e.name, t);
  });
  backend.dev.sync();
  return { model: new NemotronH(config, backend, weights), bytes, params };
}
