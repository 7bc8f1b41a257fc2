import { defineConfig } from 'vitest/config';

// `npm run test:cuda`: the CUDA backend against the CPU reference. On a machine without an NVIDIA GPU the GPU
// suites report themselves skipped (with the reason) and only the device-independent checks run.
export default defineConfig({
  test: {
    include: ['test/cuda/**/*.test.ts'],
    setupFiles: ['test/cuda/setup.ts'],
    testTimeout: 600_000,
    hookTimeout: 600_000,
    pool: 'forks',
    fileParallelism: false,
  },
});
