/**
 * Loads a NemotronH model directory (config.json, generation_config.json, safetensors in either layout) onto
 * a backend. Tensors are read one at a time, converted to float32 and handed to the backend, so peak host
 * memory is one tensor beyond what the backend keeps.
 */
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Ops, Tensor } from '../ops/ops.js';
import { loadConfig, type NemotronHConfig } from '../models/config.js';
import { NemotronH } from '../models/nemotron-h.js';
import { expectedTensors } from '../models/tensors.js';
import { parseLenientJson } from '../util/lenient-json.js';
import { Checkpoint } from './checkpoint.js';
import { DTYPE_BYTES, toFloat32 } from './dtype.js';
import { findGguf, loadGgufSteps } from './gguf-load.js';
import { mapCheckpointNames } from './names.js';
import { CheckpointError, type TensorInfo } from './safetensors.js';

export interface GenerationDefaults {
  eosTokenIds: number[];
  bosTokenId: number | null;
  padTokenId: number | null;
  temperature?: number;
  topP?: number;
  topK?: number;
}

export interface LoadedModel<T extends Tensor> {
  dir: string;
  config: NemotronHConfig;
  model: NemotronH<T>;
  generation: GenerationDefaults;
  /** Checkpoint tensors that no rule knows (reported, not loaded). */
  unusedTensors: string[];
}

export interface LoadOptions {
  /** Called after each tensor: (done, total, canonical name). */
  onProgress?: (done: number, total: number, name: string) => void;
}

/** Reads generation_config.json if present; falls back to the config's token ids. */
export function loadGenerationDefaults(dir: string, config: NemotronHConfig): GenerationDefaults {
  const file = join(dir, 'generation_config.json');
  const base: GenerationDefaults = { eosTokenIds: config.eosTokenIds, bosTokenId: config.bosTokenId, padTokenId: config.padTokenId };
  if (!existsSync(file)) return base;
  let g: Record<string, unknown>;
  try {
    g = parseLenientJson(readFileSync(file, 'utf8')) as Record<string, unknown>;
  } catch (e) {
    throw new CheckpointError(`${file}: not valid JSON (${(e as Error).message})`);
  }
  const eos = g.eos_token_id;
  if (Array.isArray(eos)) base.eosTokenIds = eos.map(Number);
  else if (typeof eos === 'number') base.eosTokenIds = [eos];
  if (typeof g.bos_token_id === 'number') base.bosTokenId = g.bos_token_id;
  if (typeof g.pad_token_id === 'number') base.padTokenId = g.pad_token_id;
  if (typeof g.temperature === 'number') base.temperature = g.temperature;
  if (typeof g.top_p === 'number') base.topP = g.top_p;
  if (typeof g.top_k === 'number') base.topK = g.top_k;
  return base;
}

/** One weight the model needs, resolved to where its bytes are. */
export interface ResolvedTensor {
  name: string;
  shape: number[];
  source: string;
  /** Slice of a fused tensor along dim 0. */
  index?: number;
  info: TensorInfo & { file: string };
}

/**
 * Maps a checkpoint's names to the tensors the config needs and checks presence and shapes, reading headers
 * only (no tensor data). Throws CheckpointError naming the file and tensor on any mismatch.
 */
export function resolveTensors(ckpt: Checkpoint, config: NemotronHConfig): { tensors: ResolvedTensor[]; unused: string[] } {
  const dir = ckpt.dir;
  const { map, conflicts } = mapCheckpointNames(ckpt.names(), (n) => ckpt.info(n).shape[0] ?? 0);
  if (conflicts.length) throw new CheckpointError(`${dir}: tensors given twice: ${conflicts.slice(0, 5).join('; ')}`);
  const expected = expectedTensors(config);
  const missing = expected.filter((e) => !map.has(e.name)).map((e) => e.name);
  if (missing.length) {
    throw new CheckpointError(`${dir}: missing tensor${missing.length > 1 ? 's' : ''} ${missing.slice(0, 8).join(', ')}${missing.length > 8 ? ` (+${missing.length - 8} more)` : ''}`);
  }
  const tensors = expected.map((e) => {
    const ref = map.get(e.name)!;
    const info = ckpt.info(ref.source);
    const shape = ref.index === undefined ? info.shape : info.shape.slice(1);
    const ok = [e.shape, ...(e.alt ?? [])].some((s) => s.length === shape.length && s.every((d, i) => d === shape[i]));
    if (!ok) {
      const what = ref.index === undefined ? `tensor "${ref.source}"` : `slice ${ref.index} of tensor "${ref.source}"`;
      throw new CheckpointError(`${info.file}: ${what} has shape [${shape}], expected [${e.shape}] for the config in ${dir}`);
    }
    return { name: e.name, shape: e.shape, source: ref.source, index: ref.index, info };
  });
  const used = new Set(tensors.map((t) => t.source));
  const unused = ckpt.names().filter((n) => !used.has(n) && !n.startsWith('mtp.'));
  return { tensors, unused };
}

/** Loads config + weights from `dir` (or from a `.gguf` file, see gguf-load.ts) onto `ops`, one tensor at a time. */
export function loadModel<T extends Tensor>(dir: string, ops: Ops<T>, opts: LoadOptions = {}): LoadedModel<T> {
  const steps = loadSteps(dir, ops, opts);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/**
 * Like loadModel, but yields to the event loop while it reads (at least every `sliceMs`), so a server stays
 * responsive (health checks answer 503) during a long load.
 */
export async function loadModelAsync<T extends Tensor>(dir: string, ops: Ops<T>, opts: LoadOptions & { sliceMs?: number } = {}): Promise<LoadedModel<T>> {
  const steps = loadSteps(dir, ops, opts);
  let last = performance.now();
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    if (performance.now() - last >= (opts.sliceMs ?? 20)) {
      await new Promise<void>((resolve) => setImmediate(resolve));
      last = performance.now();
    }
  }
}

function* loadSteps<T extends Tensor>(dir: string, ops: Ops<T>, opts: LoadOptions): Generator<void, LoadedModel<T>> {
  const gguf = findGguf(dir); // a .gguf file, or a directory holding one and no safetensors
  if (gguf) return yield* loadGgufSteps(gguf, ops, opts);
  const config = loadConfig(dir);
  const generation = loadGenerationDefaults(dir, config);
  const ckpt = new Checkpoint(dir);
  try {
    const { tensors, unused } = resolveTensors(ckpt, config);
    const weights = new Map<string, T>();
    for (const [idx, t] of tensors.entries()) {
      let bytes: Uint8Array;
      if (t.index === undefined) bytes = ckpt.readBytes(t.source);
      else {
        const sliceBytes = t.shape.reduce((a, b) => a * b, 1) * DTYPE_BYTES[t.info.dtype];
        bytes = ckpt.readBytes(t.source, t.index * sliceBytes, sliceBytes);
      }
      weights.set(t.name, ops.fromBytes ? ops.fromBytes(bytes, t.info.dtype, t.shape) : ops.fromFloat32(toFloat32(bytes, t.info.dtype), t.shape));
      opts.onProgress?.(idx + 1, tensors.length, t.name);
      yield;
    }
    return { dir, config, model: new NemotronH(config, ops, weights), generation, unusedTensors: unused };
  } finally {
    ckpt.close();
  }
}
