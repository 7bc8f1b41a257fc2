/**
 * THE name table: checkpoint tensor names -> the engine's canonical names. Canonical names are the hub
 * names without the `backbone.` prefix, with one tensor per expert:
 *   embeddings.weight, norm_f.weight, lm_head.weight, layers.{i}.norm.weight, layers.{i}.mixer.<hub suffix>,
 *   layers.{i}.mixer.experts.{e}.up_proj.weight / down_proj.weight.
 * Layout quirks handled here, at load time (model-spec 7.1, 7.2): `backbone.` vs `model.` prefixes, the old
 * `embedding.weight` spelling, transformers-5 fused experts `experts.up_proj [E, I, H]` (split by expert).
 * GGUF files (llama.cpp names, stacked experts, A = -exp(A_log), model-spec 7.4) have their own table below,
 * with the load-time transforms it implies; gguf-load.ts applies them.
 */

/** Where a canonical tensor comes from: a whole checkpoint tensor, or slice `index` along dim 0 of one. */
export interface SourceRef {
  source: string;
  index?: number;
}

interface Rule {
  pattern: RegExp;
  /** Canonical names produced by a matching checkpoint name; `count` is dim 0 for fused tensors. */
  map(m: RegExpExecArray, dim0: number): Array<[canonical: string, ref: SourceRef]>;
}

const whole = (canonical: string, source: string): Array<[string, SourceRef]> => [[canonical, { source }]];

const RULES: Rule[] = [
  { pattern: /^(?:backbone|model)\.embeddings?\.weight$/, map: (m) => whole('embeddings.weight', m[0]) },
  { pattern: /^(?:backbone|model)\.norm_f\.weight$/, map: (m) => whole('norm_f.weight', m[0]) },
  { pattern: /^lm_head\.weight$/, map: (m) => whole('lm_head.weight', m[0]) },
  {
    // transformers-5 fused experts: (E, out, in) -> one canonical tensor per expert
    pattern: /^(?:backbone|model)\.layers\.(\d+)\.mixer\.experts\.(up_proj|down_proj)$/,
    map: (m, dim0) =>
      Array.from({ length: dim0 }, (_, e) => [`layers.${m[1]}.mixer.experts.${e}.${m[2]}.weight`, { source: m[0], index: e }]),
  },
  { pattern: /^(?:backbone|model)\.layers\.(\d+)\.(.+)$/, map: (m) => whole(`layers.${m[1]}.${m[2]}`, m[0]) },
];

/** Checkpoint names that are known and deliberately not used (multi-token-prediction heads). */
const IGNORED = [/^mtp\./];

/**
 * Builds canonical name -> source for every tensor of a checkpoint. `dim0(name)` gives a tensor's first
 * dimension (for fused tensors). Returns the unknown names separately so the caller can report them.
 */
export function mapCheckpointNames(
  names: string[],
  dim0: (name: string) => number,
): { map: Map<string, SourceRef>; unknown: string[]; conflicts: string[] } {
  const map = new Map<string, SourceRef>();
  const unknown: string[] = [];
  const conflicts: string[] = [];
  for (const name of names) {
    if (IGNORED.some((p) => p.test(name))) continue;
    const rule = RULES.find((r) => r.pattern.test(name));
    if (!rule) {
      unknown.push(name);
      continue;
    }
    for (const [canonical, ref] of rule.map(rule.pattern.exec(name)!, dim0(name))) {
      if (map.has(canonical)) conflicts.push(`${canonical} (from ${map.get(canonical)!.source} and ${name})`);
      map.set(canonical, ref);
    }
  }
  return { map, unknown, conflicts };
}

// ---- GGUF (llama.cpp, architectures nemotron_h_moe / nemotron_h; model-spec 7.4) ----

/**
 * How a GGUF tensor's values become the canonical tensor. ggml `ne` lists the fastest axis first, so the
 * PyTorch shape is `ne` reversed over the same bytes; on top of that:
 *  - `reshape`: same values, other shape (ssm_a/ssm_d {1, H} -> [H]; ssm_norm {512, 8} -> [4096]; conv {K, C} is
 *    already [C, K] reversed);
 *  - `alog`: the converter stored A = -exp(A_log); the engine wants A_log = log(-A);
 *  - `index`: one expert of a stacked `*_exps` tensor (PyTorch [E, out, in], slice along dim 0).
 */
export interface GgufRef {
  source: string;
  index?: number;
  reshape?: boolean;
  alog?: boolean;
}

interface GgufRule {
  pattern: RegExp;
  map(m: RegExpExecArray, experts: number): Array<[canonical: string, ref: GgufRef]>;
}

const g = (canonical: string, source: string, extra: Omit<GgufRef, 'source'> = {}): Array<[string, GgufRef]> => [[canonical, { source, ...extra }]];
/** Per-layer GGUF names -> canonical suffix under `layers.{i}.` */
const GGUF_LAYER: Record<string, [suffix: string, extra?: Omit<GgufRef, 'source'>]> = {
  'attn_norm.weight': ['norm.weight'], // the block norm of every layer type, not only attention
  'ssm_in.weight': ['mixer.in_proj.weight'],
  'ssm_in.bias': ['mixer.in_proj.bias'],
  'ssm_conv1d.weight': ['mixer.conv1d.weight'],
  'ssm_conv1d.bias': ['mixer.conv1d.bias'],
  'ssm_dt.bias': ['mixer.dt_bias'],
  ssm_a: ['mixer.A_log', { reshape: true, alog: true }],
  ssm_d: ['mixer.D', { reshape: true }],
  'ssm_norm.weight': ['mixer.norm.weight', { reshape: true }],
  'ssm_out.weight': ['mixer.out_proj.weight'],
  'ssm_out.bias': ['mixer.out_proj.bias'],
  'attn_q.weight': ['mixer.q_proj.weight'],
  'attn_k.weight': ['mixer.k_proj.weight'],
  'attn_v.weight': ['mixer.v_proj.weight'],
  'attn_output.weight': ['mixer.o_proj.weight'],
  'ffn_gate_inp.weight': ['mixer.gate.weight'],
  'exp_probs_b.bias': ['mixer.gate.e_score_correction_bias'],
  'ffn_up_shexp.weight': ['mixer.shared_experts.up_proj.weight'],
  'ffn_down_shexp.weight': ['mixer.shared_experts.down_proj.weight'],
  'ffn_up.weight': ['mixer.up_proj.weight'],
  'ffn_down.weight': ['mixer.down_proj.weight'],
};

const GGUF_RULES: GgufRule[] = [
  { pattern: /^token_embd\.weight$/, map: (m) => g('embeddings.weight', m[0]) },
  { pattern: /^output_norm\.weight$/, map: (m) => g('norm_f.weight', m[0]) },
  { pattern: /^output\.weight$/, map: (m) => g('lm_head.weight', m[0]) },
  {
    // stacked experts {in, out, E}: one canonical tensor per expert, read as a slice on demand
    pattern: /^blk\.(\d+)\.ffn_(up|down)_exps\.weight$/,
    map: (m, experts) =>
      Array.from({ length: experts }, (_, e) => [`layers.${m[1]}.mixer.experts.${e}.${m[2]}_proj.weight`, { source: m[0], index: e }]),
  },
  {
    pattern: /^blk\.(\d+)\.(.+)$/,
    map: (m) => {
      const hit = GGUF_LAYER[m[2]];
      return hit ? g(`layers.${m[1]}.${hit[0]}`, m[0], hit[1]) : [];
    },
  },
];

/**
 * Builds canonical name -> GGUF source for every tensor of a GGUF file. `experts(name)` gives the expert
 * count of a stacked tensor (its last ggml dimension). Unknown names are returned for reporting.
 */
export function mapGgufNames(
  names: string[],
  experts: (name: string) => number,
): { map: Map<string, GgufRef>; unknown: string[]; conflicts: string[] } {
  const map = new Map<string, GgufRef>();
  const unknown: string[] = [];
  const conflicts: string[] = [];
  for (const name of names) {
    const rule = GGUF_RULES.find((r) => r.pattern.test(name));
    const pairs = rule ? rule.map(rule.pattern.exec(name)!, experts(name)) : [];
    if (pairs.length === 0) unknown.push(name);
    for (const [canonical, ref] of pairs) {
      if (map.has(canonical)) conflicts.push(`${canonical} (from ${map.get(canonical)!.source} and ${name})`);
      map.set(canonical, ref);
    }
  }
  return { map, unknown, conflicts };
}
