/**
 * Kernel registry and launches. The `.cu` files in ./kernels are the single source of truth: their
 * `extern "C" __global__` signatures are parsed to pack arguments (pointers and 64-bit ints take 8 bytes,
 * int/unsigned/float 4, with natural alignment), so a call site only lists values in order. A file is compiled
 * (NVRTC, disk-cached) and loaded the first time one of its kernels is used. Arguments go through the
 * CU_LAUNCH_PARAM_BUFFER_POINTER form of cuLaunchKernel: one packed buffer, no per-argument pointers.
 * Kernels declared `PDL` (see common.cuh) go through cuLaunchKernelEx with programmatic stream serialization on
 * sm_90+, so that they start while their predecessor drains (set NEMOTRON_CUDA_PDL=0 to launch them normally).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compileCuda } from './compiler.js';
import type { CudaDevice } from './device.js';
import { check, CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, type Handle } from './ffi/driver.js';
import { getKoffi } from './ffi/load.js';
import { KernelTrace, traceSource } from './trace.js';

type ParamKind = 'ptr' | 'i32' | 'u32' | 'f32' | 'i64';

interface KernelSig {
  file: string;
  /** Declared PDL: calls pdl_wait() before touching data of earlier kernels, so it may launch early. */
  pdl: boolean;
  params: { kind: ParamKind; offset: number }[];
  size: number;
}

interface Kernel extends KernelSig {
  name: string;
  fn: Handle;
}

/** Where the kernel sources are: next to this module (src/), or src/ when running from dist/. */
export function kernelDir(): string {
  const env = process.env.NEMOTRON_CUDA_KERNELS;
  if (env) return env;
  for (const rel of ['./kernels/', '../../../src/backends/cuda/kernels/']) {
    const dir = fileURLToPath(new URL(rel, import.meta.url));
    if (existsSync(join(dir, 'common.cuh'))) return dir;
  }
  throw new Error('CUDA kernel sources (src/backends/cuda/kernels/*.cu) not found; set NEMOTRON_CUDA_KERNELS');
}

const KIND: Record<string, ParamKind> = {
  int: 'i32', float: 'f32', u32: 'u32', unsigned: 'u32', 'unsigned int': 'u32', 'long long': 'i64', u64: 'i64', 'unsigned long long': 'i64',
};

/** Parses the `extern "C" __global__` kernels of one source file. */
export function parseKernels(file: string, source: string): Map<string, KernelSig> {
  const out = new Map<string, KernelSig>();
  const re = /extern\s+"C"\s+__global__\s+void\s+((?:(?:PDL|__launch_bounds__\s*\([^)]*\))\s+)*)(\w+)\s*\(([^)]*)\)/g;
  for (const [, quals, name, list] of source.matchAll(re)) {
    const m = [name, name, list] as const;
    const params: KernelSig['params'] = [];
    let offset = 0;
    for (const raw of m[2].split(',').map((p) => p.trim()).filter(Boolean)) {
      let kind: ParamKind;
      if (raw.includes('*')) kind = 'ptr';
      else {
        const type = raw.replace(/\bconst\b/g, '').trim().split(/\s+/).slice(0, -1).join(' ');
        const k = KIND[type];
        if (!k) throw new Error(`${file}: kernel ${m[1]} has a parameter of unsupported type "${raw}"`);
        kind = k;
      }
      const size = kind === 'ptr' || kind === 'i64' ? 8 : 4;
      offset = Math.ceil(offset / size) * size;
      params.push({ kind, offset });
      offset += size;
    }
    out.set(m[1], { file, pdl: /\bPDL\b/.test(quals), params, size: offset }); // the driver wants the exact end of the last parameter
  }
  return out;
}

export type Dim = number | readonly [number, number?, number?];

export class Kernels {
  private readonly dir = kernelDir();
  private readonly sigs = new Map<string, KernelSig>();
  private readonly headers: Record<string, string> = {};
  private readonly modules = new Map<string, Handle>();
  private readonly kernels = new Map<string, Kernel>();
  private readonly argPtr: bigint;
  private readonly argView: DataView;
  private readonly extraPtr: bigint;
  private readonly sizeView: DataView;
  /** cuLaunchKernelEx config (CUlaunchConfig, 56 bytes) with one attribute (CUlaunchAttribute, 72 bytes). */
  private readonly cfgPtr: bigint;
  private readonly cfgView: DataView;
  private readonly pdl: boolean;
  /** Launches issued (eager or captured), for tests and statistics. */
  launches = 0;
  /** Milliseconds spent in NVRTC + module loads. */
  compileMs = 0;
  /** Step tracing (NEMOTRON_CUDA_TRACE=1, benchmarks only): every kernel records its warps' start and end. */
  readonly trace: KernelTrace | null;

  constructor(private readonly dev: CudaDevice) {
    for (const f of readdirSync(this.dir)) {
      if (f.endsWith('.cuh')) this.headers[f] = readFileSync(join(this.dir, f), 'utf8');
      if (f.endsWith('.cu')) for (const [name, sig] of parseKernels(f, readFileSync(join(this.dir, f), 'utf8'))) this.sigs.set(name, sig);
    }
    const k = getKoffi();
    // packed argument buffer + the `extra` array {BUFFER_POINTER, &args, BUFFER_SIZE, &size, END}
    this.argPtr = k.alloc('uint8_t', 4096) as bigint;
    this.argView = new DataView(k.view(this.argPtr, 4096));
    const sizePtr = k.alloc('uint64_t', 1) as bigint;
    this.sizeView = new DataView(k.view(sizePtr, 8));
    this.extraPtr = k.alloc('uint64_t', 5) as bigint;
    const extra = new DataView(k.view(this.extraPtr, 40));
    extra.setBigUint64(0, 1n, true);
    extra.setBigUint64(8, this.argPtr, true);
    extra.setBigUint64(16, 2n, true);
    extra.setBigUint64(24, sizePtr, true);
    extra.setBigUint64(32, 0n, true);
    this.cfgPtr = k.alloc('uint8_t', 56 + 72) as bigint;
    this.cfgView = new DataView(k.view(this.cfgPtr, 128));
    this.cfgView.setBigUint64(40, this.cfgPtr + 56n, true); // attrs
    this.cfgView.setUint32(48, 1, true); // numAttrs
    this.cfgView.setUint32(56, CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION, true);
    this.cfgView.setInt32(64, 1, true); // value.programmaticStreamSerializationAllowed
    this.trace = process.env.NEMOTRON_CUDA_TRACE === '1' ? new KernelTrace(dev) : null;
    this.pdl = !!dev.drv.cuLaunchKernelEx && Number(dev.info.computeCapability) >= 90 && process.env.NEMOTRON_CUDA_PDL !== '0';
  }

  /** Whether PDL kernels are launched with programmatic stream serialization. */
  get pdlEnabled(): boolean {
    return this.pdl;
  }

  has(name: string): boolean {
    return this.sigs.has(name);
  }

  /** Compiles and loads every kernel file now (so that no compile happens inside a capture or a timing). */
  loadAll(): void {
    for (const name of this.sigs.keys()) this.get(name);
  }

  private module(file: string): Handle {
    let mod = this.modules.get(file);
    if (mod) return mod;
    const t0 = performance.now();
    const text = readFileSync(join(this.dir, file), 'utf8');
    const source = this.trace ? traceSource(text) : text;
    // NEMOTRON_CUDA_DEFINES (tuning experiments): comma-separated macros for every kernel file
    const defines = (process.env.NEMOTRON_CUDA_DEFINES ?? '').split(',').filter(Boolean);
    if (defines.some((d) => !/^\w+(=\w+)?$/.test(d))) throw new Error(`NEMOTRON_CUDA_DEFINES: expected NAME or NAME=VALUE, comma-separated, got "${process.env.NEMOTRON_CUDA_DEFINES}"`);
    const compiled = compileCuda(file, source, this.headers, this.dev.info.computeCapability, [...defines.map((d) => `-D${d}`), ...(this.trace?.defines ?? [])]);
    let image: Uint8Array = compiled.image;
    if (compiled.ptx && image[image.length - 1] !== 0) image = Buffer.concat([image, Buffer.from([0])]);
    const m: [Handle | null] = [null];
    check(this.dev.drv.cuModuleLoadData(m, image), `cuModuleLoadData (${file})`);
    mod = m[0]!;
    this.modules.set(file, mod);
    this.compileMs += performance.now() - t0;
    return mod;
  }

  /**
   * Blocks of `block` threads with `shmem` bytes of dynamic shared memory that fit on one SM at once (the driver's
   * occupancy calculator: registers, shared memory, threads). Persistent grids take it as their cap, so that a kernel
   * whose register count grows runs fewer blocks per SM instead of a second, partial wave.
   */
  resident(name: string, block: number, shmem = 0): number {
    const key = `${name}/${block}/${shmem}`;
    let n = this.residentCache.get(key);
    if (n === undefined) {
      const out: [number] = [0];
      check(this.dev.drv.cuOccupancyMaxActiveBlocksPerMultiprocessor(out, this.get(name).fn, block, shmem), `cuOccupancyMaxActiveBlocksPerMultiprocessor (${name})`);
      this.residentCache.set(key, (n = out[0]));
    }
    return n;
  }
  private readonly residentCache = new Map<string, number>();

  private get(name: string): Kernel {
    let k = this.kernels.get(name);
    if (k) return k;
    const sig = this.sigs.get(name);
    if (!sig) throw new Error(`no CUDA kernel named ${name} in ${this.dir}`);
    const f: [Handle | null] = [null];
    check(this.dev.drv.cuModuleGetFunction(f, this.module(sig.file), name), `cuModuleGetFunction (${name})`);
    k = { ...sig, name, fn: f[0]! };
    this.kernels.set(name, k);
    return k;
  }

  /**
   * Launches `name` on the device stream with `args` in signature order (device pointers as numbers, null for a
   * null pointer). Nothing is launched in dry mode (the captured graph does it).
   */
  /**
   * Knock-out profiling (never for results): NEMOTRON_CUDA_DEBUG_SKIP lists kernel names, comma-separated, that are
   * not launched, so a timed decode step shows what they cost inside the graph. Outputs are then wrong.
   */
  private skipped(name: string): boolean {
    const env = process.env.NEMOTRON_CUDA_DEBUG_SKIP ?? '';
    if (env !== this.skipEnv) {
      this.skipEnv = env;
      this.skip = new Set(env.split(',').filter(Boolean));
    }
    return this.skip.size > 0 && this.skip.has(name);
  }
  private skipEnv = '';
  private readonly shmemOptIn = new Map<string, number>();
  private skip = new Set<string>();

  launch(name: string, grid: Dim, block: number, args: readonly (number | null)[], shmem = 0): void {
    const k = this.get(name);
    if (args.length !== k.params.length) throw new Error(`kernel ${name} takes ${k.params.length} arguments, got ${args.length}`);
    const dev = this.dev;
    if (dev.mode === 'dry') return;
    if (dev.mode === 'eager') dev.meta.flush();
    const v = this.argView;
    for (let i = 0; i < args.length; i++) {
      const { kind, offset } = k.params[i];
      const a = args[i] ?? 0;
      switch (kind) {
        case 'ptr':
        case 'i64':
          if (!Number.isSafeInteger(a)) throw new Error(`kernel ${name}: argument ${i} (${a}) is not an integer`);
          v.setUint32(offset, a % 4294967296 >>> 0, true);
          v.setInt32(offset + 4, Math.floor(a / 4294967296), true);
          break;
        case 'i32':
          v.setInt32(offset, a, true);
          break;
        case 'u32':
          v.setUint32(offset, a >>> 0, true);
          break;
        case 'f32':
          v.setFloat32(offset, a, true);
          break;
      }
    }
    this.sizeView.setUint32(0, k.size, true);
    this.sizeView.setUint32(4, 0, true);
    const [gx, gy = 1, gz = 1] = typeof grid === 'number' ? [grid] : grid;
    if (gx <= 0 || gy <= 0 || gz <= 0) return; // empty problem
    if (this.skipped(name)) return;
    if (shmem > 40 * 1024 && (this.shmemOptIn.get(name) ?? 0) < shmem) {
      // dynamic shared memory over 48 KB less the static (trace mode adds some) needs the kernel's opt-in
      // (CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES)
      check(dev.drv.cuFuncSetAttribute(k.fn, 8, shmem), `cuFuncSetAttribute (${name}: ${shmem} bytes of dynamic shared memory)`);
      this.shmemOptIn.set(name, shmem);
    }
    this.trace?.record(name, gx * gy * gz, block);
    if (k.pdl && this.pdl) {
      const c = this.cfgView;
      c.setUint32(0, gx, true);
      c.setUint32(4, gy, true);
      c.setUint32(8, gz, true);
      c.setUint32(12, block, true);
      c.setUint32(16, 1, true);
      c.setUint32(20, 1, true);
      c.setUint32(24, shmem, true);
      c.setBigUint64(32, BigInt(dev.stream), true);
      check(dev.drv.cuLaunchKernelEx!(this.cfgPtr, k.fn, null, this.extraPtr), `cuLaunchKernelEx (${name} grid ${gx}x${gy}x${gz} block ${block})`);
    } else {
      check(dev.drv.cuLaunchKernel(k.fn, gx, gy, gz, block, 1, 1, shmem, dev.stream, null, this.extraPtr), `cuLaunchKernel (${name} grid ${gx}x${gy}x${gz} block ${block})`);
    }
    this.launches++;
  }
}
