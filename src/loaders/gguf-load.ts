/**
 * Loading a NemotronH GGUF file: finds the file, maps its tensors to canonical names (names.ts, GGUF
 * section), checks every one against expectedTensors(config), and reads them one at a time with the
 * load-time transforms (A_log = log(-ssm_a), reshapes, one expert of a stack, Q8_0 dequantisation).
 */
import { readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { NemotronHConfig } from '../models/config.js';
import { NemotronH } from '../models/nemotron-h.js';
import { expectedTensors } from '../models/tensors.js';
import type { Ops, Tensor } from '../ops/ops.js';
import type { FileDType } from './dtype.js';
import { toFloat32 } from './dtype.js';
import { configFromGguf, ggufGenerationDefaults } from './gguf-config.js';
import { GgufFile, type GgufTensorInfo, ggmlBytes, ggmlToFloat32 } from './gguf.js';
import type { LoadedModel, LoadOptions } from './load-model.js';
import { type GgufRef, mapGgufNames } from './names.js';
import { CheckpointError } from './safetensors.js';

/**
 * The GGUF file a model path names: the path itself if it is a `.gguf` file, or the one `.gguf` of a
 * directory that holds no safetensors checkpoint. Null when the path is a safetensors model directory.
 */
export function findGguf(path: string): string | null {
  let st;
  try {
    st = statSync(path);
  } catch {
    return null;
  }
  if (st.isFile()) return path.endsWith('.gguf') ? path : null;
  if (!st.isDirectory()) return null;
  const all = readdirSync(path);
  if (all.some((f) => f === 'model.safetensors.index.json' || /^model.*\.safetensors$/.test(f))) return null;
  const ggufs = all.filter((f) => f.endsWith('.gguf')).sort();
  if (ggufs.length > 1) throw new CheckpointError(`${path}: several .gguf files (${ggufs.join(', ')}); pass one of them with --model`);
  return ggufs.length === 1 ? join(path, ggufs[0]) : null;
}

/** One weight the model needs, resolved to its GGUF tensor. */
export interface GgufResolvedTensor extends GgufRef {
  name: string;
  /** Canonical (PyTorch-order) shape. */
  shape: number[];
  info: GgufTensorInfo;
}

const sameShape = (a: readonly number[], b: readonly number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const product = (s: readonly number[]) => s.reduce((x, y) => x * y, 1);

/** Maps the file's tensors to what the config needs and checks presence and shapes (no tensor data read). */
export function resolveGgufTensors(file: GgufFile, config: NemotronHConfig): { tensors: GgufResolvedTensor[]; unused: string[] } {
  const names = [...file.tensors.keys()];
  const { map, conflicts } = mapGgufNames(names, (n) => file.tensors.get(n)!.ne.at(-1) ?? 0);
  if (conflicts.length) throw new CheckpointError(`${file.path}: tensors given twice: ${conflicts.slice(0, 5).join('; ')}`);
  const expected = expectedTensors(config);
  const missing = expected.filter((e) => !map.has(e.name)).map((e) => e.name);
  if (missing.length) {
    const show = missing.slice(0, 8).map((n) => `${n}`).join(', ');
    throw new CheckpointError(`${file.path}: missing tensor${missing.length > 1 ? 's' : ''} for ${show}${missing.length > 8 ? ` (+${missing.length - 8} more)` : ''}`);
  }
  const tensors = expected.map((e) => {
    const ref = map.get(e.name)!;
    const info = file.tensors.get(ref.source)!;
    const torch = [...(ref.index === undefined ? info.ne : info.ne.slice(0, -1))].reverse(); // ggml ne is fastest-first
    const ok = ref.reshape ? product(torch) === product(e.shape) : [e.shape, ...(e.alt ?? [])].some((s) => sameShape(s, torch));
    if (!ok) {
      const what = ref.index === undefined ? `tensor "${ref.source}"` : `expert ${ref.index} of tensor "${ref.source}"`;
      throw new CheckpointError(`${file.path}: ${what} has ggml shape {${info.ne}} (PyTorch [${torch}]), expected [${e.shape}] for ${e.name}`);
    }
    return { ...ref, name: e.name, shape: e.shape, info };
  });
  const used = new Set(tensors.map((t) => t.source));
  return { tensors, unused: names.filter((n) => !used.has(n)) };
}

/** Reads one resolved tensor as bytes of a loader dtype, with its transform applied. */
export function readGgufTensor(file: GgufFile, t: GgufResolvedTensor): { bytes: Uint8Array; dtype: FileDType } {
  const count = product(t.shape);
  const sliceBytes = ggmlBytes(t.info.type, count);
  const raw = t.index === undefined ? file.readBytes(t.source) : file.readBytes(t.source, t.index * sliceBytes, sliceBytes);
  if (!t.alog && t.info.type !== 'Q8_0') return { bytes: raw, dtype: t.info.type };
  const f = ggmlToFloat32(raw, t.info.type);
  if (t.alog) {
    for (let i = 0; i < f.length; i++) {
      if (!(f[i] < 0)) throw new CheckpointError(`${file.path}: tensor "${t.source}" holds A = ${f[i]} at ${i}; A = -exp(A_log) must be < 0`);
      f[i] = Math.log(-f[i]);
    }
  }
  return { bytes: new Uint8Array(f.buffer, f.byteOffset, f.byteLength), dtype: 'F32' };
}

/** The GGUF branch of loadModel: one tensor per step. */
export function* loadGgufSteps<T extends Tensor>(path: string, ops: Ops<T>, opts: LoadOptions): Generator<void, LoadedModel<T>> {
  const file = new GgufFile(path);
  try {
    const config = configFromGguf(file);
    const { tensors, unused } = resolveGgufTensors(file, config);
    const weights = new Map<string, T>();
    for (const [idx, t] of tensors.entries()) {
      const { bytes, dtype } = readGgufTensor(file, t);
      weights.set(t.name, ops.fromBytes ? ops.fromBytes(bytes, dtype, t.shape) : ops.fromFloat32(toFloat32(bytes, dtype), t.shape));
      opts.onProgress?.(idx + 1, tensors.length, t.name);
      yield;
    }
    return { dir: path, config, model: new NemotronH(config, ops, weights), generation: ggufGenerationDefaults(config), unusedTensors: unused };
  } finally {
    file.close();
  }
}
