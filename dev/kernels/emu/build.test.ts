import { readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { kernelDir } from '../../../src/backends/cuda/launch.js';
import { buildKernelFile, emuUnavailable } from './build.js';

// Every kernel file must build against the emulator, so a new PTX instruction or CUDA intrinsic is added to
// cuda_emu.h / ptx.h with the kernel that needs it (built once; later runs reuse build/ while nothing changed).
const why = emuUnavailable();
if (why) console.warn(`skipping the CUDA emulator checks: ${why}`);

describe.skipIf(!!why)('every kernel file builds for the CPU emulator', () => {
  const files = readdirSync(kernelDir()).filter((f) => f.endsWith('.cu')).sort();
  it.each(files)('%s', (f) => {
    expect(buildKernelFile(f)).toMatch(/\.so$/);
  });
});
