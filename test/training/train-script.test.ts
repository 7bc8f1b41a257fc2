// The training script's torch-free logic (batching, hub names, shards, config text, schedule), run with the
// local python3 + numpy when present (the GPU machine runs the rest).
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { expect, it } from 'vitest';

const SCRIPT = fileURLToPath(new URL('../../scripts/train/test_train_logic.py', import.meta.url));
const hasNumpy = spawnSync('python3', ['-c', 'import numpy'], { encoding: 'utf8' }).status === 0;

it.skipIf(!hasNumpy)('scripts/train/train.py logic passes its Python unit tests', () => {
  const r = spawnSync('python3', [SCRIPT], { encoding: 'utf8' });
  expect(r.status, r.stderr).toBe(0);
  expect(r.stderr).toMatch(/OK/);
});
