/**
 * A small GGUF v3 writer for tests, and a converter from the safetensors fixture checkpoints that applies the
 * llama.cpp converter's forward transforms as model-spec 7.4 describes them (its own name table, written
 * from the spec, not from src/loaders/names.ts): experts stacked, A = -exp(A_log) stored F32, conv squeezed
 * to {K, C}, ssm_norm reshaped to {dInner/ng, ng}, ssm_a/ssm_d as {1, H}, the forced-F32 rule, the
 * `nemotron_h_moe.*` metadata keys. Optionally Q8_0 for every matrix the converter would quantise.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Checkpoint } from '../../src/loaders/checkpoint.js';
import { halfToFloat, toFloat32 } from '../../src/loaders/dtype.js';
import { parseLenientJson } from '../../src/util/lenient-json.js';

/** gguf_type (metadata value types). */
export const T = { U8: 0, I8: 1, U16: 2, I16: 3, U32: 4, I32: 5, F32: 6, BOOL: 7, STRING: 8, ARRAY: 9, U64: 10, I64: 11, F64: 12 } as const;
/** ggml tensor types used here. */
export const G = { F32: 0, F16: 1, Q8_0: 8, BF16: 30, Q4_K: 12 } as const;

export type KVValue = number | bigint | boolean | string | KVValue[];
export interface KV {
  key: string;
  type: number;
  itemType?: number;
  value: KVValue;
}
export interface TensorSpec {
  name: string;
  /** ggml order: fastest axis first. */
  ne: number[];
  type: number;
  data: Uint8Array;
}
export interface GgufSpec {
  version?: number;
  metadata: KV[];
  tensors: TensorSpec[];
}

class Bytes {
  private parts: Uint8Array[] = [];
  length = 0;
  push(b: Uint8Array): void {
    this.parts.push(b);
    this.length += b.length;
  }
  num(size: number, set: (v: DataView) => void): void {
    const b = new Uint8Array(size);
    set(new DataView(b.buffer));
    this.push(b);
  }
  u32(v: number): void {
    this.num(4, (d) => d.setUint32(0, v, true));
  }
  u64(v: number | bigint): void {
    this.num(8, (d) => d.setBigUint64(0, BigInt(v), true));
  }
  str(s: string): void {
    const b = new TextEncoder().encode(s);
    this.u64(b.length);
    this.push(b);
  }
  pad(align: number): void {
    const n = (align - (this.length % align)) % align;
    if (n) this.push(new Uint8Array(n));
  }
  concat(): Uint8Array {
    const out = new Uint8Array(this.length);
    let o = 0;
    for (const p of this.parts) {
      out.set(p, o);
      o += p.length;
    }
    return out;
  }
}

function writeScalar(w: Bytes, type: number, v: KVValue): void {
  switch (type) {
    case T.U8: return w.num(1, (d) => d.setUint8(0, v as number));
    case T.I8: return w.num(1, (d) => d.setInt8(0, v as number));
    case T.U16: return w.num(2, (d) => d.setUint16(0, v as number, true));
    case T.I16: return w.num(2, (d) => d.setInt16(0, v as number, true));
    case T.U32: return w.u32(v as number);
    case T.I32: return w.num(4, (d) => d.setInt32(0, v as number, true));
    case T.F32: return w.num(4, (d) => d.setFloat32(0, v as number, true));
    case T.BOOL: return w.num(1, (d) => d.setUint8(0, v ? 1 : 0));
    case T.STRING: return w.str(v as string);
    case T.U64: return w.u64(v as number | bigint);
    case T.I64: return w.num(8, (d) => d.setBigInt64(0, BigInt(v as number), true));
    case T.F64: return w.num(8, (d) => d.setFloat64(0, v as number, true));
    default: throw new Error(`writer: bad type ${type}`);
  }
}

/** Serialises a GGUF file; the alignment is `general.alignment` when the metadata has it, else 32. */
export function encodeGguf(spec: GgufSpec): Uint8Array {
  const align = Number(spec.metadata.find((k) => k.key === 'general.alignment')?.value ?? 32);
  const w = new Bytes();
  w.push(new TextEncoder().encode('GGUF'));
  w.u32(spec.version ?? 3);
  w.u64(spec.tensors.length);
  w.u64(spec.metadata.length);
  for (const kv of spec.metadata) {
    w.str(kv.key);
    w.u32(kv.type);
    if (kv.type === T.ARRAY) {
      const arr = kv.value as KVValue[];
      w.u32(kv.itemType!);
      w.u64(arr.length);
      for (const x of arr) writeScalar(w, kv.itemType!, x);
    } else writeScalar(w, kv.type, kv.value);
  }
  let offset = 0;
  const offsets: number[] = [];
  for (const t of spec.tensors) {
    w.str(t.name);
    w.u32(t.ne.length);
    for (const d of t.ne) w.u64(d);
    w.u32(t.type);
    w.u64(offset);
    offsets.push(offset);
    offset += Math.ceil(t.data.length / align) * align;
  }
  w.pad(align);
  for (const t of spec.tensors) {
    w.push(t.data);
    w.pad(align);
  }
  return w.concat();
}

/** float -> IEEE binary16 bits, round to nearest even (subnormals included). */
export function floatToHalf(f: number): number {
  const f32 = new Float32Array([f]);
  const x = new Uint32Array(f32.buffer)[0];
  const sign = (x >>> 16) & 0x8000;
  const exp = (x >>> 23) & 0xff;
  let mant = x & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00 | (mant ? 0x200 : 0);
  let e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    if (e < -10) return sign;
    mant |= 0x800000;
    const shift = 14 - e;
    let h = mant >>> shift;
    const rem = mant & ((1 << shift) - 1);
    const half = 1 << (shift - 1);
    if (rem > half || (rem === half && h & 1)) h++;
    return sign | h;
  }
  let h = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && h & 1)) h++;
  e = h >>> 10;
  return sign | h; // a carry into the exponent (or to inf) is the correct rounding
}

/** Q8_0 as ggml's reference quantiser: per 32 values d = amax / 127 (stored f16), q = round(x / d). */
export function quantizeQ8_0(x: Float32Array): Uint8Array {
  const blocks = x.length / 32;
  const out = new Uint8Array(blocks * 34);
  const v = new DataView(out.buffer);
  for (let b = 0; b < blocks; b++) {
    let amax = 0;
    for (let j = 0; j < 32; j++) amax = Math.max(amax, Math.abs(x[b * 32 + j]));
    const d = amax / 127;
    const id = d ? 1 / d : 0;
    v.setUint16(b * 34, floatToHalf(d), true);
    for (let j = 0; j < 32; j++) {
      const q = x[b * 32 + j] * id;
      v.setInt8(b * 34 + 2 + j, Math.sign(q) * Math.round(Math.abs(q))); // roundf: half away from zero
    }
  }
  return out;
}

/** d * q per block of 32 (written here from the format, independently of the loader's decoder). */
export function dequantizeQ8_0(b: Uint8Array): Float32Array {
  const v = new DataView(b.buffer, b.byteOffset, b.byteLength);
  const out = new Float32Array((b.length / 34) * 32);
  for (let i = 0; i < out.length; i++) {
    const blk = Math.floor(i / 32);
    out[i] = halfToFloat(v.getUint16(blk * 34, true)) * v.getInt8(blk * 34 + 2 + (i % 32));
  }
  return out;
}

const f32Bytes = (a: Float32Array) => new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
const DT: Record<string, number> = { F32: G.F32, F16: G.F16, BF16: G.BF16 };

export interface FixtureToGgufOptions {
  /** Quantise every matrix that is not forced F32 (and whose rows are a multiple of 32) to Q8_0. */
  q8_0?: boolean | ((ggufName: string) => boolean);
  /** With q8_0: store the dequantised Q8_0 values as F32 instead (the exact model a Q8_0 file describes). */
  q8_0AsF32?: boolean;
  /** `general.architecture` (default nemotron_h_moe, as the converter picks for configs with experts). */
  arch?: string;
}

/** The GGUF a llama.cpp conversion of a fixture checkpoint would hold (model-spec 7.4). */
export function fixtureToGgufSpec(dir: string, opts: FixtureToGgufOptions = {}): GgufSpec {
  const c = parseLenientJson(readFileSync(join(dir, 'config.json'), 'utf8')) as Record<string, any>;
  const kinds: string[] = c.hybrid_override_pattern
    ? [...(c.hybrid_override_pattern as string)].map((ch) => ({ M: 'M', '*': '*', E: 'E', '-': '-' })[ch]!)
    : (c.layers_block_type as string[]).map((n) => ({ mamba: 'M', linear_attention: 'M', attention: '*', full_attention: '*', moe: 'E', mlp: '-' })[n]!);
  const arch = opts.arch ?? 'nemotron_h_moe';
  const a = (k: string) => `${arch}.${k}`;
  const dInner = c.mamba_num_heads * c.mamba_head_dim;

  // tensors: HF name (prefix stripped) -> GGUF name and forward transform
  const ck = new Checkpoint(dir);
  const tensors: TensorSpec[] = [];
  const stacks = new Map<string, { ne: number[]; parts: Array<{ e: number; data: Float32Array | Uint8Array; dtype: string }> }>();
  const emit = (name: string, torchShape: number[], src: Uint8Array, dtype: string) => {
    const ne = [...torchShape].reverse();
    const forceF32 = ne.length === 1 || name.endsWith('_norm.weight') || name.includes('ffn_gate_inp') || name.includes('ssm_conv1d') || !name.endsWith('.weight');
    if (forceF32) tensors.push({ name, ne, type: G.F32, data: dtype === 'F32' ? src : f32Bytes(toFloat32(src, dtype as 'BF16')) });
    else if ((typeof opts.q8_0 === 'function' ? opts.q8_0(name) : opts.q8_0) && ne[0] % 32 === 0) {
      const q = quantizeQ8_0(toFloat32(src, dtype as 'BF16'));
      tensors.push(opts.q8_0AsF32 ? { name, ne, type: G.F32, data: f32Bytes(dequantizeQ8_0(q)) } : { name, ne, type: G.Q8_0, data: q });
    }
    else tensors.push({ name, ne, type: DT[dtype], data: src });
  };
  const LAYER: Record<string, string> = {
    'norm.weight': 'attn_norm.weight', 'mixer.in_proj.weight': 'ssm_in.weight', 'mixer.conv1d.bias': 'ssm_conv1d.bias',
    'mixer.dt_bias': 'ssm_dt.bias', 'mixer.D': 'ssm_d', 'mixer.out_proj.weight': 'ssm_out.weight', 'mixer.q_proj.weight': 'attn_q.weight',
    'mixer.k_proj.weight': 'attn_k.weight', 'mixer.v_proj.weight': 'attn_v.weight', 'mixer.o_proj.weight': 'attn_output.weight',
    'mixer.gate.weight': 'ffn_gate_inp.weight', 'mixer.gate.e_score_correction_bias': 'exp_probs_b.bias',
    'mixer.shared_experts.up_proj.weight': 'ffn_up_shexp.weight', 'mixer.shared_experts.down_proj.weight': 'ffn_down_shexp.weight',
    'mixer.up_proj.weight': 'ffn_up.weight', 'mixer.down_proj.weight': 'ffn_down.weight',
  };
  for (const full of ck.names()) {
    const info = ck.info(full);
    const src = ck.readBytes(full);
    const n = full.replace(/^(backbone|model)\./, '');
    if (n === 'embeddings.weight' || n === 'embedding.weight') emit('token_embd.weight', info.shape, src, info.dtype);
    else if (n === 'norm_f.weight') emit('output_norm.weight', info.shape, src, info.dtype);
    else if (n === 'lm_head.weight') emit('output.weight', info.shape, src, info.dtype);
    else {
      const m = /^layers\.(\d+)\.(.+)$/.exec(n);
      if (!m) throw new Error(`writer: unexpected tensor ${full}`);
      const [, i, rest] = m;
      const exp = /^mixer\.experts\.(?:(\d+)\.)?(up|down)_proj(?:\.weight)?$/.exec(rest);
      if (exp) {
        const key = `blk.${i}.ffn_${exp[2]}_exps.weight`;
        const s = stacks.get(key) ?? { ne: [], parts: [] };
        if (exp[1] === undefined) {
          // transformers-5 fused [E, out, in]: already the stack
          s.ne = [...info.shape].reverse();
          s.parts.push({ e: -1, data: src, dtype: info.dtype });
        } else {
          s.ne = [info.shape[1], info.shape[0], c.n_routed_experts];
          s.parts.push({ e: Number(exp[1]), data: src, dtype: info.dtype });
        }
        stacks.set(key, s);
      } else if (rest === 'mixer.A_log') {
        const al = toFloat32(src, info.dtype);
        const A = new Float32Array(al.length).map((_, j) => -Math.exp(al[j])); // the converter's A = -exp(A_log)
        tensors.push({ name: `blk.${i}.ssm_a`, ne: [1, al.length], type: G.F32, data: f32Bytes(A) });
      } else if (rest === 'mixer.D') {
        tensors.push({ name: `blk.${i}.ssm_d`, ne: [1, info.shape[0]], type: G.F32, data: f32Bytes(toFloat32(src, info.dtype)) });
      } else if (rest === 'mixer.conv1d.weight') {
        emit(`blk.${i}.ssm_conv1d.weight`, [info.shape[0], info.shape[2]], src, info.dtype); // squeeze [C, 1, K]
      } else if (rest === 'mixer.norm.weight') {
        emit(`blk.${i}.ssm_norm.weight`, [c.n_groups, dInner / c.n_groups], src, info.dtype); // group-major
      } else if (LAYER[rest]) emit(`blk.${i}.${LAYER[rest]}`, info.shape, src, info.dtype);
      else throw new Error(`writer: unexpected tensor ${full}`);
    }
  }
  ck.close();
  for (const [name, s] of stacks) {
    const parts = s.parts.sort((x, y) => x.e - y.e);
    const total = parts.reduce((t, p) => t + p.data.byteLength, 0);
    const data = new Uint8Array(total);
    let o = 0;
    for (const p of parts) {
      data.set(p.data as Uint8Array, o);
      o += p.data.byteLength;
    }
    emit(name, [...s.ne].reverse(), data, parts[0].dtype);
  }
  tensors.sort((x, y) => (x.name < y.name ? -1 : 1));

  const perLayer = (f: (k: string) => number): KV['value'] => kinds.map(f);
  const hasMoe = kinds.includes('E');
  const tok = JSON.parse(readFileSync(join(dir, 'tokenizer.json'), 'utf8')) as { model: { vocab: Record<string, number> }; added_tokens?: Array<{ id: number; content: string }> };
  const tokens: string[] = new Array(c.vocab_size).fill('');
  for (const [s, id] of Object.entries(tok.model.vocab)) if (id < tokens.length) tokens[id] = s;
  for (const t of tok.added_tokens ?? []) if (t.id < tokens.length) tokens[t.id] = t.content;
  const metadata: KV[] = [
    { key: 'general.architecture', type: T.STRING, value: arch },
    { key: 'general.name', type: T.STRING, value: 'fixture' },
    { key: 'general.file_type', type: T.U32, value: opts.q8_0 ? 7 : 32 },
    { key: 'general.quantization_version', type: T.U32, value: 2 },
    { key: a('block_count'), type: T.U32, value: kinds.length },
    { key: a('context_length'), type: T.U32, value: 1048576 },
    { key: a('embedding_length'), type: T.U32, value: c.hidden_size },
    { key: a('feed_forward_length'), type: T.ARRAY, itemType: T.I32, value: perLayer((k) => (k === 'E' ? c.moe_intermediate_size : k === '-' ? c.intermediate_size : 0)) },
    { key: a('attention.head_count'), type: T.U32, value: c.num_attention_heads },
    { key: a('attention.head_count_kv'), type: T.ARRAY, itemType: T.I32, value: perLayer((k) => (k === '*' ? c.num_key_value_heads : 0)) },
    { key: a('attention.key_length'), type: T.U32, value: c.head_dim },
    { key: a('attention.value_length'), type: T.U32, value: c.head_dim },
    { key: a('attention.layer_norm_rms_epsilon'), type: T.F32, value: c.norm_eps },
    { key: a('attention.layer_norm_epsilon'), type: T.F32, value: c.layer_norm_epsilon },
    { key: a('rope.freq_base'), type: T.F32, value: 10000 },
    { key: a('rope.dimension_count'), type: T.U32, value: c.hidden_size / c.num_attention_heads },
    { key: a('rope.scaling.finetuned'), type: T.BOOL, value: false },
    { key: a('vocab_size'), type: T.U32, value: c.vocab_size },
    { key: a('ssm.conv_kernel'), type: T.U32, value: c.conv_kernel },
    { key: a('ssm.state_size'), type: T.U32, value: c.ssm_state_size },
    { key: a('ssm.group_count'), type: T.U32, value: c.n_groups },
    { key: a('ssm.inner_size'), type: T.U32, value: dInner },
    { key: a('ssm.time_step_rank'), type: T.U32, value: c.mamba_num_heads },
    ...(hasMoe
      ? [
          { key: a('expert_count'), type: T.U32, value: c.n_routed_experts },
          { key: a('expert_used_count'), type: T.U32, value: c.num_experts_per_tok },
          { key: a('expert_shared_count'), type: T.U32, value: c.n_shared_experts },
          { key: a('expert_feed_forward_length'), type: T.U32, value: c.moe_intermediate_size },
          { key: a('expert_shared_feed_forward_length'), type: T.U32, value: c.moe_shared_expert_intermediate_size },
          { key: a('expert_weights_norm'), type: T.BOOL, value: c.norm_topk_prob },
          { key: a('expert_weights_scale'), type: T.F32, value: c.routed_scaling_factor },
          { key: a('expert_group_count'), type: T.U32, value: c.n_group },
          { key: a('expert_group_used_count'), type: T.U32, value: c.topk_group },
        ]
      : []),
    { key: 'tokenizer.ggml.model', type: T.STRING, value: 'gpt2' },
    { key: 'tokenizer.ggml.pre', type: T.STRING, value: 'pixtral' },
    { key: 'tokenizer.ggml.tokens', type: T.ARRAY, itemType: T.STRING, value: tokens },
    { key: 'tokenizer.ggml.token_type', type: T.ARRAY, itemType: T.I32, value: tokens.map(() => 1) },
    { key: 'tokenizer.ggml.bos_token_id', type: T.U32, value: c.bos_token_id },
    { key: 'tokenizer.ggml.eos_token_id', type: T.U32, value: c.eos_token_id },
    { key: 'tokenizer.ggml.padding_token_id', type: T.U32, value: c.pad_token_id },
  ];
  return { metadata, tensors };
}
