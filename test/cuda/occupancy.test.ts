import { expect, it } from 'vitest';
import { gemv1Grid } from '../../src/backends/cuda/ops/matmul.js';
import { upGrid } from '../../src/backends/cuda/ops/moe-block1.js';
import { moeDown1Grid } from '../../src/backends/cuda/ops/moe-down1.js';
import { describeCuda, gpu } from './helpers.js';

// The batch-1 decode's persistent grids are sized for a number of resident blocks per SM; a kernel change that adds
// registers silently lowers that number (moe_up1_l12 at 72 registers instead of 64 ran 7 blocks per SM where its grid
// asked for 8: a partial second wave, 0.1 ms per step slower on an H200). The grids now cap themselves by the
// driver's occupancy calculator; this pins the Hopper numbers the tuning was measured with.
describeCuda('resident blocks per SM of the batch-1 decode kernels', () => {
  it('moe_up1_l12 8, gemv1_bf16_l12 7, moe_down1_res 6, gemv_bf16_n1w 2 of 256 threads (sm_90), and the grids never ask for more', () => {
    const g = gpu();
    const [H, sms] = [2688, g.dev.info.multiprocessors];
    const resident = {
      up: g.kernels.resident('moe_up1_l12', 128, H * 4),
      gemv1: g.kernels.resident('gemv1_bf16_l12', 128, H * 4),
      down: g.kernels.resident('moe_down1_res_l8_rots', 128, 0),
      // out_proj's two waves (its first wave pulls the second's rows into L2) were measured at 2 per SM
      n1w: g.kernels.resident('gemv_bf16_n1w', 256, 0),
    };
    if (g.dev.info.computeCapability === '90') expect(resident).toEqual({ up: 8, gemv1: 7, down: 6, n1w: 2 });
    expect(upGrid(g, 3712 + 6 * 1856, H)).toBeLessThanOrEqual(sms * resident.up);
    expect(gemv1Grid(g, 131072, 12)).toBeLessThanOrEqual(sms * resident.gemv1);
    expect(moeDown1Grid(g, 100000, 8)).toBeLessThanOrEqual(sms * resident.down);
  });
});
