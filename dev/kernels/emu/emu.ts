/**
 * Runs the project's CUDA kernels on the CPU: `emuKernels('sample.cu')` builds (build.ts) and loads that file's
 * emulation library and launches its kernels the way Kernels.launch (src/backends/cuda/launch.ts) does: name,
 * grid, 1-D block, arguments in signature order packed by parseKernels's layout, dynamic shared memory. "Device"
 * memory is host memory from emu_alloc (256-byte aligned, filled with 0xff so unwritten floats read as NaN); a
 * device pointer is its address as a number.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import koffi from 'koffi';
import { kernelDir, parseKernels, type Dim } from '../../../src/backends/cuda/launch.js';
import { buildKernelFile } from './build.js';

type Typed = Float32Array | Int32Array | Uint32Array | Uint16Array | Uint8Array | BigUint64Array;

/** Scheduling variations (emu_set_flags): run a check under several to expose races that one order hides. */
/** Scheduling flags (launch.h): cooperative runs every block at once, for kernels whose blocks wait on each other. */
export const EMU_FLAGS = { earlyCopies: 1, reverseBlocks: 2, reverseThreads: 4, cooperative: 8 } as const;

export interface EmuKernels {
  /** Launches `name` and runs it to completion; throws with the emulator's message on a fault. */
  launch(name: string, grid: Dim, block: number, args: readonly (number | null)[], shmem?: number): void;
  /** A new buffer of `bytes` bytes, filled with 0xff (unwritten floats read NaN, ints -1); returns its address. */
  alloc(bytes: number): number;
  /** Copies `data` into a new buffer and returns its address. */
  upload(data: Typed): number;
  /** Copies `data` to `ptr` (an existing buffer). */
  write(ptr: number, data: Typed): void;
  /** Reads `out.byteLength` bytes at `ptr` into `out` and returns it. */
  download<T extends Typed>(ptr: number, out: T): T;
  setFlags(flags: number): void;
  /** Frees every buffer this object allocated. */
  freeAll(): void;
}

export function emuKernels(file: string): EmuKernels {
  const lib = koffi.load(buildKernelFile(file));
  const launch = lib.func('int emu_launch(const char*, uint32_t, uint32_t, uint32_t, uint32_t, uint32_t, const uint8_t*)');
  const error = lib.func('const char* emu_error()');
  const setFlags = lib.func('void emu_set_flags(uint32_t)');
  // addresses as integers: the C side takes and returns void*, the same registers
  const alloc = lib.func('uint64_t emu_alloc(uint64_t)');
  const free = lib.func('void emu_free(uint64_t)');
  const sigs = parseKernels(file, readFileSync(join(kernelDir(), file), 'utf8'));
  const owned = new Set<number>();
  const view = (ptr: number, bytes: number) => new Uint8Array(koffi.view(BigInt(ptr) as never, bytes));

  const api: EmuKernels = {
    launch(name, grid, block, args, shmem = 0) {
      const k = sigs.get(name);
      if (!k) throw new Error(`no kernel ${name} in ${file}`);
      if (args.length !== k.params.length) throw new Error(`kernel ${name} takes ${k.params.length} arguments, got ${args.length}`);
      // the layout of Kernels.launch (launch.ts), into a buffer of its own
      const buf = Buffer.alloc(Math.max(8, k.size));
      const v = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
      k.params.forEach(({ kind, offset }, i) => {
        const a = args[i] ?? 0;
        if (kind === 'ptr' || kind === 'i64') v.setBigInt64(offset, BigInt(a), true);
        else if (kind === 'f32') v.setFloat32(offset, a, true);
        else if (kind === 'u32') v.setUint32(offset, a >>> 0, true);
        else v.setInt32(offset, a, true);
      });
      const [gx, gy = 1, gz = 1] = typeof grid === 'number' ? [grid] : grid;
      if (gx <= 0 || gy <= 0 || gz <= 0) return; // empty problem, as launch.ts
      if (launch(name, gx, gy, gz, block, shmem, buf) !== 0) throw new Error(`emu: ${error()}`);
    },
    alloc(bytes) {
      const p = Number(alloc(Math.max(1, bytes)));
      if (!p) throw new Error(`emu: cannot allocate ${bytes} bytes`);
      owned.add(p);
      return p;
    },
    upload(data) {
      const p = api.alloc(data.byteLength);
      view(p, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
      return p;
    },
    write(ptr, data) {
      view(ptr, data.byteLength).set(new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    },
    download(ptr, out) {
      new Uint8Array(out.buffer, out.byteOffset, out.byteLength).set(view(ptr, out.byteLength));
      return out;
    },
    setFlags(flags) {
      setFlags(flags);
    },
    freeAll() {
      for (const p of owned) free(p);
      owned.clear();
    },
  };
  return api;
}
