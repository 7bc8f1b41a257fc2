/**
 * A stand-in CudaCtx over the emulator, so a check can call the real host op (src/backends/cuda/ops/*) and have
 * its launches run the kernel sources: arena and pool memory are emulator buffers (never reused), metadata is
 * uploaded, scratch is never released, parameters are already float32. Only what the ops used here touch.
 */
import { CudaTensor, type CudaCtx, type DType } from '../../../src/backends/cuda/tensor.js';
import type { EmuKernels } from './emu.js';

/**
 * `launched` collects the kernel names in launch order (so a check can assert which path the op took);
 * `multiprocessors` is what the ops read from the device info (e.g. the decode key splits).
 */
export function emuCtx(e: EmuKernels, launched: string[] = [], multiprocessors = 132): CudaCtx {
  const alloc = (shape: readonly number[], dtype: DType = 'f32') => {
    const cols = shape.length ? shape[shape.length - 1] : 1;
    const n = shape.reduce((a, b) => a * b, 1);
    return new CudaTensor(shape, dtype, e.alloc(n * 4), cols, 0, null);
  };
  const ctx = {
    dev: {
      mode: 'eager',
      info: { multiprocessors },
      meta: {
        i32: (a: ArrayLike<number>) => e.upload(Int32Array.from(a)),
        f32: (a: ArrayLike<number>) => e.upload(Float32Array.from(a)),
        u64: (a: ArrayLike<number>) => e.upload(BigUint64Array.from(Array.from(a, BigInt))),
      },
      pool: {
        alloc: (bytes: number) => ({ ptr: e.alloc(bytes), size: bytes }),
        release() {},
      },
      fill32: (dst: number, value: number, count: number) => e.write(dst, new Uint32Array(count).fill(value >>> 0)),
      copyOutsideStep() {
        throw new Error('emuCtx: no device copies (size the shapes so that no cache grows)');
      },
    },
    kernels: {
      resident: () => 64, // no occupancy limit on the emulator: the ops' own caps decide the grids
      launch: (...a: Parameters<EmuKernels['launch']>) => {
        launched.push(a[0]);
        e.launch(...a);
      },
    },
    precise: false,
    tokenFeed: null,
    kvAhead: 0,
    alloc,
    withScratch: <R>(fn: (scratch: (bytes: number) => number) => R) => fn((bytes) => e.alloc(bytes)),
    contig: (t: CudaTensor) => t,
    f32: (t: CudaTensor) => t,
    live() {},
    blocks: (n: number, per = 256) => Math.max(1, Math.min(Math.ceil(n / per), 2112)),
  };
  return ctx as unknown as CudaCtx;
}

/** A contiguous float32 device tensor holding `data`. */
export function emuTensor(e: EmuKernels, data: Float32Array, shape: readonly number[]): CudaTensor {
  return new CudaTensor(shape, 'f32', e.upload(data), shape[shape.length - 1], 0, null);
}
