import { describe, expect, it } from 'vitest';
import { CpuFastBackend } from '../../src/backends/cpu/fast/backend.js';
import { CpuRefBackend } from '../../src/backends/cpu/ref/backend.js';
import { CpuSimdBackend } from '../../src/backends/cpu/simd/backend.js';
import { loadModel } from '../../src/loaders/load-model.js';
import { FIXTURE_NAMES, fixtureDir, readGolden, relErr } from '../helpers/fixtures.js';

// Acceptance of issue 2: logits within 1e-4 (max |a-b| / max |b| per position) of HF transformers' float32
// reference, greedy continuations of 64 tokens identical. Goldens: scripts/golden/make_golden.py.
const cases = FIXTURE_NAMES.flatMap((name) => [[name, 'cpu-ref'], [name, 'cpu-fast'], [name, 'cpu-simd']] as const);

describe.each(cases)('golden parity: %s on %s', (name, backend) => {
  const golden = readGolden(name);
  const { model } = loadModel(fixtureDir(name), backend === 'cpu-ref' ? new CpuRefBackend() : backend === 'cpu-fast' ? new CpuFastBackend() : new CpuSimdBackend());

  it.each(Object.keys(golden.prompts))('logits of prompt "%s" + continuation match per position', (p) => {
    const tokens = [...golden.prompts[p], ...golden.greedy[p].tokens];
    const logits = model.ops.toFloat32(model.forward([{ tokens, state: model.newState() }], true));
    const ref = golden.logits(p);
    expect(ref.rows).toBe(tokens.length);
    let worst = 0;
    for (let r = 0; r < ref.rows; r++) {
      const e = relErr(logits.subarray(r * ref.vocab, (r + 1) * ref.vocab), ref.data.subarray(r * ref.vocab, (r + 1) * ref.vocab));
      worst = Math.max(worst, e);
    }
    expect(worst).toBeLessThanOrEqual(1e-4);
  });
});
