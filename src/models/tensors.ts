/**
 * The tensors a NemotronH model needs, by canonical name (see src/loaders/names.ts), with shapes derived
 * from the config (model-spec 7.1). The loader checks every checkpoint tensor against this list.
 */
import type { NemotronHConfig } from './config.js';

export interface ExpectedTensor {
  name: string;
  shape: number[];
  /** Other shapes with the same bytes that a checkpoint may use (e.g. conv1d [C, 1, K] vs [C, K]). */
  alt?: number[][];
}

export function expectedTensors(c: NemotronHConfig): ExpectedTensor[] {
  const H = c.hiddenSize;
  const out: ExpectedTensor[] = [{ name: 'embeddings.weight', shape: [c.vocabSize, H] }];
  c.layers.forEach((kind, i) => {
    const p = `layers.${i}.`;
    const m = `${p}mixer.`;
    out.push({ name: `${p}norm.weight`, shape: [H] });
    if (kind === 'mamba') {
      out.push(
        { name: `${m}in_proj.weight`, shape: [c.inProjSize, H] },
        { name: `${m}conv1d.weight`, shape: [c.convDim, c.convKernel], alt: [[c.convDim, 1, c.convKernel]] },
        { name: `${m}dt_bias`, shape: [c.mambaNumHeads] },
        { name: `${m}A_log`, shape: [c.mambaNumHeads] },
        { name: `${m}D`, shape: [c.mambaNumHeads] },
        { name: `${m}norm.weight`, shape: [c.dInner] },
        { name: `${m}out_proj.weight`, shape: [H, c.dInner] },
      );
      if (c.useConvBias) out.push({ name: `${m}conv1d.bias`, shape: [c.convDim] });
      if (c.mambaProjBias) out.push({ name: `${m}in_proj.bias`, shape: [c.inProjSize] }, { name: `${m}out_proj.bias`, shape: [H] });
    } else if (kind === 'attention') {
      const hd = c.headDim;
      out.push(
        { name: `${m}q_proj.weight`, shape: [c.numAttentionHeads * hd, H] },
        { name: `${m}k_proj.weight`, shape: [c.numKeyValueHeads * hd, H] },
        { name: `${m}v_proj.weight`, shape: [c.numKeyValueHeads * hd, H] },
        { name: `${m}o_proj.weight`, shape: [H, c.numAttentionHeads * hd] },
      );
    } else if (kind === 'moe') {
      out.push(
        { name: `${m}gate.weight`, shape: [c.nRoutedExperts, H] },
        { name: `${m}gate.e_score_correction_bias`, shape: [c.nRoutedExperts] },
      );
      for (let e = 0; e < c.nRoutedExperts; e++) {
        out.push(
          { name: `${m}experts.${e}.up_proj.weight`, shape: [c.moeIntermediateSize, H] },
          { name: `${m}experts.${e}.down_proj.weight`, shape: [H, c.moeIntermediateSize] },
        );
      }
      if (c.nSharedExperts > 0) {
        out.push(
          { name: `${m}shared_experts.up_proj.weight`, shape: [c.moeSharedIntermediateSize, H] },
          { name: `${m}shared_experts.down_proj.weight`, shape: [H, c.moeSharedIntermediateSize] },
        );
      }
    } else {
      out.push({ name: `${m}up_proj.weight`, shape: [c.intermediateSize, H] }, { name: `${m}down_proj.weight`, shape: [H, c.intermediateSize] });
    }
  });
  out.push({ name: 'norm_f.weight', shape: [H] });
  if (!c.tieWordEmbeddings) out.push({ name: 'lm_head.weight', shape: [c.vocabSize, H] });
  return out;
}
