/**
 * CPU reference decode/prefill speed on a fixture model (not a test: numbers go to BENCHMARKS.md).
 * Usage: npx tsx bench/cpu-decode.ts [model-dir] [prompt-len] [new-tokens]
 */
import { cpus } from 'node:os';
import { join } from 'node:path';
import { selectBackend } from '../src/runtime/select.js';
import { loadModel } from '../src/loaders/load-model.js';

const dir = process.argv[2] ?? join(import.meta.dirname, '..', 'test', 'fixtures', 'models', 'hub-sharded');
const promptLen = Number(process.argv[3] ?? 128);
const newTokens = Number(process.argv[4] ?? 256);
const backendName = process.env.BACKEND ?? 'cpu-fast';
const { model, config } = loadModel(dir, selectBackend(backendName));
const prompt = Array.from({ length: promptLen }, (_, i) => 16 + ((i * 7919) % (config.vocabSize - 16)));

function run() {
  const state = model.newState();
  const t0 = performance.now();
  let logits = model.forward([{ tokens: prompt, state }]);
  const t1 = performance.now();
  for (let i = 0; i < newTokens; i++) {
    const row = model.ops.toFloat32(logits);
    let best = 0;
    for (let j = 1; j < row.length; j++) if (row[j] > row[best]) best = j;
    logits = model.forward([{ tokens: [best], state }]);
  }
  const t2 = performance.now();
  return { prefillTokS: (promptLen / (t1 - t0)) * 1000, decodeTokS: (newTokens / (t2 - t1)) * 1000 };
}

run(); // warm-up (JIT)
const r = run();
console.log(JSON.stringify({
  bench: 'cpu decode', backend: backendName, model: dir.split('/').slice(-1)[0], promptLen, newTokens,
  prefillTokS: Number(r.prefillTokS.toFixed(1)), decodeTokS: Number(r.decodeTokS.toFixed(1)),
  node: process.version, cpu: cpus()[0]?.model, date: new Date().toISOString().slice(0, 10),
}));
