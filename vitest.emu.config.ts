import { defineConfig } from 'vitest/config';

// CPU emulation checks of the CUDA kernels (dev/kernels/emu/README.md): `npm run test:emu`, not part of `npm test`.
export default defineConfig({
  test: {
    include: ['dev/kernels/emu/**/*.test.ts'],
    testTimeout: 300_000,
    hookTimeout: 300_000,
    pool: 'forks',
  },
});
