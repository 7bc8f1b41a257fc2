/** `nemotron info --model DIR`: config summary, layer pattern, parameter counts, tensor dtypes. */
import { parseArgs } from 'node:util';
import { Checkpoint } from '../../loaders/checkpoint.js';
import { GgufFile } from '../../loaders/gguf.js';
import { configFromGguf } from '../../loaders/gguf-config.js';
import { findGguf } from '../../loaders/gguf-load.js';
import { KIND_TO_CHAR, loadConfig } from '../../models/config.js';
import { parameterCounts } from '../../models/params.js';
import { UsageError } from '../args.js';

export const usage = `nemotron info --model DIR|FILE.gguf [--json]\n  config, layer pattern, parameter counts and tensor dtypes of a model directory or GGUF file`;

export function run(argv: string[]): void {
  const { values } = parseArgs({ args: argv, options: { model: { type: 'string', short: 'm' }, json: { type: 'boolean' } } });
  if (!values.model) throw new UsageError('info needs --model DIR');
  const dir = values.model;
  const dtypes = new Map<string, number>();
  let fileParams = 0;
  const count = (dtype: string, shape: number[]) => {
    dtypes.set(dtype, (dtypes.get(dtype) ?? 0) + 1);
    fileParams += shape.reduce((a, b) => a * b, 1);
  };
  const ggufPath = findGguf(dir);
  let c;
  if (ggufPath) {
    const f = new GgufFile(ggufPath);
    try {
      c = configFromGguf(f);
      for (const t of f.tensors.values()) count(t.type, t.ne);
    } finally {
      f.close();
    }
  } else {
    c = loadConfig(dir);
    const ck = new Checkpoint(dir);
    for (const n of ck.names()) {
      const i = ck.info(n);
      count(i.dtype, i.shape);
    }
    ck.close();
  }
  const { total, activePerToken: active } = parameterCounts(c);
  const pattern = c.layers.map((k) => KIND_TO_CHAR[k]).join('');
  const info = {
    dir, pattern, layers: c.layers.length,
    counts: { mamba: c.layers.filter((k) => k === 'mamba').length, attention: c.layers.filter((k) => k === 'attention').length, moe: c.layers.filter((k) => k === 'moe').length, mlp: c.layers.filter((k) => k === 'mlp').length },
    hidden: c.hiddenSize, vocab: c.vocabSize,
    mamba: { heads: c.mambaNumHeads, headDim: c.mambaHeadDim, state: c.ssmStateSize, groups: c.nGroups, conv: c.convKernel, chunk: c.chunkSize, dtLimit: c.timeStepLimit },
    attention: { heads: c.numAttentionHeads, kvHeads: c.numKeyValueHeads, headDim: c.headDim },
    moe: { experts: c.nRoutedExperts, topK: c.numExpertsPerTok, width: c.moeIntermediateSize, sharedWidth: c.moeSharedIntermediateSize, scale: c.routedScalingFactor },
    parameters: { total, activePerTokenExclEmbedding: active, inFiles: fileParams },
    tensorDtypes: Object.fromEntries(dtypes),
  };
  if (values.json) {
    console.log(JSON.stringify(info, (_k, v) => (v === Infinity ? 'Infinity' : v), 2));
    return;
  }
  const fmt = (n: number) => n.toLocaleString('en-US');
  console.log(`model      ${dir}`);
  console.log(`pattern    ${pattern} (${info.layers} layers: ${info.counts.mamba} M, ${info.counts.moe} E, ${info.counts.attention} *, ${info.counts.mlp} -)`);
  console.log(`hidden     ${c.hiddenSize}, vocab ${c.vocabSize}, eps ${c.normEps}`);
  console.log(`mamba-2    ${c.mambaNumHeads} heads x ${c.mambaHeadDim}, state ${c.ssmStateSize}, ${c.nGroups} groups, conv ${c.convKernel}, dt limit [${c.timeStepLimit}]`);
  console.log(`attention  ${c.numAttentionHeads} q heads, ${c.numKeyValueHeads} kv heads, head dim ${c.headDim}, no positional encoding`);
  console.log(`moe        ${c.nRoutedExperts} experts top-${c.numExpertsPerTok} (width ${c.moeIntermediateSize}) + shared (${c.moeSharedIntermediateSize}), scale ${c.routedScalingFactor}`);
  console.log(`parameters ${fmt(total)} total, ${fmt(active)} active per token (excl. embedding)`);
  console.log(`dtypes     ${[...dtypes].map(([d, n]) => `${d}: ${n} tensors`).join(', ')}`);
}
