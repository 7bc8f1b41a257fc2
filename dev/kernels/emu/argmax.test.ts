import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { randn } from '../../../test/ops/cases.js';
import { emuUnavailable } from './build.js';
import { EMU_FLAGS, emuKernels, type EmuKernels } from './emu.js';

// basic.cu's two-pass row argmax (argmax_partial over column chunks, argmax_final over the parts) on the CPU
// emulator against a plain first-index argmax. The maxima are planted as ties across chunks and across lanes and
// warps of one chunk, so every merge (shuffles, warp parts, final) must keep the first index; a row of -inf must
// give 0, NaNs are never chosen.
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

/** Index of the first maximum of row r (NaN never wins; a row without a number > -inf gives 0). */
function argmax(x: Float32Array, r: number, cols: number): number {
  let bi = 0;
  for (let j = 1; j < cols; j++) if (x[r * cols + j] > x[r * cols + bi] || Number.isNaN(x[r * cols + bi])) bi = j;
  return Number.isNaN(x[r * cols + bi]) ? 0 : bi;
}

/** [parts, chunk] as backend.ts's argmaxLaunch picks them for rows of >= 8192 columns. */
function split(cols: number): [number, number] {
  const P = Math.min(64, Math.ceil(cols / 2048));
  return [P, Math.ceil(cols / P)];
}

describe.skipIf(!!why)('argmax_partial + argmax_final on the CPU emulator', () => {
  let e: EmuKernels;
  beforeAll(() => {
    e = emuKernels('basic.cu');
  });
  afterAll(() => e?.freeAll());

  it.each([
    ['backend split', 20000, ...split(20000), 0],
    ['backend split, scheduled in reverse', 20000, ...split(20000), EMU_FLAGS.reverseBlocks | EMU_FLAGS.reverseThreads],
    // the last chunk starts past the row's end: its part is the (-inf, sentinel) pair, which argmax_final must not pick
    ['last part empty', 1100, 5, 300, 0],
  ])('%s: 5 rows of %i in %i parts of %i (flags %i)', (_n, cols, P, chunk, flags) => {
    const rows = 5;
    const x = randn(1, rows * cols);
    const plant = (r: number, js: number[], v: number) => js.forEach((j) => (x[r * cols + j] = v));
    plant(0, [cols - 1, chunk + 3, 2 * chunk - 1], 9); // ties in two chunks: the earliest chunk's wins
    plant(1, [263, 295, 90, 71], 9); // ties in chunk 0 held by warps 0, 1, 2 (lanes 26, 7): lowest index, not warp or lane order
    plant(2, [cols - 1], 9); // the last column alone
    x.fill(-Infinity, 3 * cols, 4 * cols); // every value -inf: index 0
    plant(4, [0, 5, chunk + 1], NaN);
    plant(4, [chunk + 2], 8);
    const v = e.alloc(rows * P * 4);
    const i = e.alloc(rows * P * 4);
    const out = e.alloc(rows * 4);
    const out2 = e.alloc(rows * 4); // the copy a multi-step decode graph keeps per step
    e.setFlags(flags);
    e.launch('argmax_partial', [P, rows], 256, [e.upload(x), cols, chunk, v, i]);
    e.launch('argmax_final', rows, 32, [v, i, P, out, out2]);
    const want = Int32Array.from({ length: rows }, (_, r) => argmax(x, r, cols));
    expect(want).toEqual(Int32Array.from([chunk + 3, 71, cols - 1, 0, chunk + 2])); // the plants took
    expect(e.download(out, new Int32Array(rows))).toEqual(want);
    expect(e.download(out2, new Int32Array(rows))).toEqual(want);
    // the same in one launch (the last block of each row merges its parts), twice: the tickets reset themselves
    const counter = e.upload(new Int32Array(rows));
    for (let run = 0; run < 2; run++) {
      const o1 = e.alloc(rows * 4);
      const o2 = e.alloc(rows * 4);
      e.launch('argmax_rows2', [P, rows], 256, [e.upload(x), cols, chunk, v, i, counter, o1, o2, run]); // run 1: early trigger
      expect(e.download(o1, new Int32Array(rows)), `run ${run}`).toEqual(want);
      expect(e.download(o2, new Int32Array(rows)), `run ${run}`).toEqual(want);
      expect(e.download(counter, new Int32Array(rows))).toEqual(new Int32Array(rows));
    }
  });
});
