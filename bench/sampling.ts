/**
 * Host sampler speed (src/engine/sampling.ts): ms per drawn token at the demo model's and the real Nano's
 * vocabulary sizes, for typical settings. Not a test; numbers go to BENCHMARKS.md.
 * Usage: npx tsx bench/sampling.ts
 */
import { Sampler, type SamplingParams } from '../src/engine/sampling.js';

const settings: SamplingParams[] = [{ temperature: 0.7, topP: 0.95 }, { temperature: 1 }, { temperature: 0.6, topK: 20 }, { temperature: 0.6, topP: 0.95, minP: 0.05 }];
for (const V of [4096, 131072]) {
  // logits shaped like a model's: a few strong candidates over a broad tail
  const logits = Float32Array.from({ length: V }, (_, i) => Math.sin(i * 12.9898) * 4 + (i % 997 === 0 ? 8 : 0));
  for (const p of settings) {
    const s = new Sampler({ ...p, seed: 1 });
    const n = V > 10000 ? 40 : 400;
    for (let i = 0; i < 5; i++) s.sample(logits);
    const t = performance.now();
    for (let i = 0; i < n; i++) s.sample(logits);
    console.log(`vocab ${V} ${JSON.stringify(p)}: ${((performance.now() - t) / n).toFixed(3)} ms per token`);
  }
}
