/**
 * Compiles kernel sources with NVRTC for the device's compute capability and caches the CUBIN on disk, keyed by
 * sha256(source, headers, options, arch, NVRTC version). A failed compile throws KernelCompileError with the log.
 */
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { loadNvrtc } from './ffi/nvrtc.js';

export class KernelCompileError extends Error {
  constructor(readonly file: string, readonly log: string) {
    super(`NVRTC could not compile ${file}:\n${log}`);
    this.name = 'KernelCompileError';
  }
}

export interface CompiledModule {
  /** CUBIN bytes, or null-terminated PTX text when `ptx` is true. */
  image: Uint8Array;
  ptx: boolean;
  cached: boolean;
}

export function cacheDir(): string {
  return process.env.NEMOTRON_CUDA_CACHE ?? join(homedir(), '.cache', 'nemotron-ts', 'nvrtc');
}

export function nvrtcVersion(): string {
  const n = loadNvrtc();
  const major: [number] = [0];
  const minor: [number] = [0];
  n.nvrtcVersion(major, minor);
  return `${major[0]}.${minor[0]}`;
}

/**
 * `arch` is the compute capability as digits ("90"). `headers` maps include names to their text.
 */
export function compileCuda(file: string, source: string, headers: Record<string, string>, arch: string, extraOptions: readonly string[] = []): CompiledModule {
  const n = loadNvrtc();
  const version = nvrtcVersion();
  const options = [`--gpu-architecture=sm_${arch}`, '--std=c++17', '-default-device', ...extraOptions];
  const names = Object.keys(headers).sort();
  const key = createHash('sha256')
    .update(JSON.stringify({ source, headers: names.map((h) => [h, headers[h]]), options, arch, version }))
    .digest('hex');
  const dir = cacheDir();
  const path = join(dir, `${file.replace(/[^\w.-]/g, '_')}-${key.slice(0, 32)}.cubin`);
  try {
    return { image: new Uint8Array(readFileSync(path)), ptx: false, cached: true };
  } catch {
    // not cached yet
  }
  const prog: [bigint | null] = [null];
  let code = n.nvrtcCreateProgram(prog, source, file, names.length, names.map((h) => headers[h]), names);
  if (code !== 0) throw new KernelCompileError(file, `nvrtcCreateProgram: ${n.nvrtcGetErrorString(code)}`);
  try {
    code = n.nvrtcCompileProgram(prog[0], options.length, options);
    const logSize: [number] = [0];
    n.nvrtcGetProgramLogSize(prog[0], logSize);
    const logBuf = Buffer.alloc(Math.max(1, logSize[0]));
    n.nvrtcGetProgramLog(prog[0], logBuf);
    const log = logBuf.toString('utf8').replace(/\0+$/, '');
    if (code !== 0) throw new KernelCompileError(file, `${n.nvrtcGetErrorString(code)} (options ${options.join(' ')})\n${log}`);
    const size: [number] = [0];
    n.nvrtcGetCUBINSize(prog[0], size);
    if (size[0] > 0) {
      const cubin = Buffer.alloc(size[0]);
      n.nvrtcGetCUBIN(prog[0], cubin);
      try {
        mkdirSync(dir, { recursive: true });
        const tmp = `${path}.${process.pid}.tmp`;
        writeFileSync(tmp, cubin);
        renameSync(tmp, path); // atomic: concurrent processes never read a half-written file
      } catch {
        // a read-only cache folder only costs a recompile next time
      }
      return { image: new Uint8Array(cubin), ptx: false, cached: false };
    }
    n.nvrtcGetPTXSize(prog[0], size);
    const ptx = Buffer.alloc(size[0]);
    n.nvrtcGetPTX(prog[0], ptx);
    return { image: new Uint8Array(ptx), ptx: true, cached: false };
  } finally {
    n.nvrtcDestroyProgram(prog);
  }
}
