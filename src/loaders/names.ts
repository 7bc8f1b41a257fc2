/**
 * THE name table: checkpoint tensor names -> the engine's canonical names. Canonical names are the hub
 * names without the `backbone.` prefix, with one tensor per expert:
 *   embeddings.weight, norm_f.weight, lm_head.weight, layers.{i}.norm.weight, layers.{i}.mixer.<hub suffix>,
 *   layers.{i}.mixer.experts.{e}.up_proj.weight / down_proj.weight.
 * Layout quirks handled here, at load time (model-spec 7.1, 7.2): `backbone.` vs `model.` prefixes, the old
 * `embedding.weight` spelling, transformers-5 fused experts `experts.up_proj [E, I, H]` (split by expert).
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
