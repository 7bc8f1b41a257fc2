/**
 * Loads koffi and the CUDA shared libraries on demand. Nothing here runs at import time: machines without
 * CUDA never touch the FFI unless the cuda backend is selected. Libraries are searched by soname first (the
 * dynamic loader's path), then in the usual CUDA and Python-wheel folders, then in NEMOTRON_CUDA_LIB_DIRS.
 */
import { existsSync, readdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';

export type Koffi = typeof import('koffi');
export type Library = ReturnType<Koffi['load']>;

/** CUDA cannot be used on this machine; the message says why. */
export class CudaUnavailableError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'CudaUnavailableError';
  }
}

let koffi: Koffi | undefined;

export function getKoffi(): Koffi {
  if (!koffi) {
    try {
      koffi = createRequire(import.meta.url)('koffi') as Koffi;
    } catch (e) {
      throw new CudaUnavailableError(`the koffi FFI package could not be loaded (${(e as Error).message}); run npm install`);
    }
  }
  return koffi;
}

function listDir(dir: string): string[] {
  try {
    return readdirSync(dir);
  } catch {
    return [];
  }
}

/** Folders that may hold libnvrtc / libcublas besides the loader's own path (CUDA toolkits, pip wheels). */
export function libraryDirs(): string[] {
  const dirs: string[] = [];
  for (const d of (process.env.NEMOTRON_CUDA_LIB_DIRS ?? '').split(':')) if (d) dirs.push(d);
  for (const home of [process.env.CUDA_HOME, process.env.CUDA_PATH, '/usr/local/cuda']) {
    if (home) dirs.push(join(home, 'lib64'), join(home, 'targets', 'x86_64-linux', 'lib'));
  }
  for (const v of listDir('/usr/local').filter((n) => n.startsWith('cuda-'))) dirs.push(join('/usr/local', v, 'lib64'));
  // pip wheels (nvidia-cuda-nvrtc, nvidia-cublas): site-packages/nvidia/<pkg>/lib, e.g. next to PyTorch
  const sites: string[] = [];
  for (const root of ['/opt', '/usr/local/lib', '/usr/lib', '/root/.local/lib']) {
    for (const a of listDir(root)) {
      const base = join(root, a);
      if (a.startsWith('python3')) sites.push(join(base, 'site-packages'), join(base, 'dist-packages'));
      for (const venv of ['.venv', 'venv']) {
        for (const py of listDir(join(base, venv, 'lib'))) if (py.startsWith('python3')) sites.push(join(base, venv, 'lib', py, 'site-packages'));
      }
    }
  }
  for (const site of sites) {
    const nv = join(site, 'nvidia');
    for (const pkg of listDir(nv)) {
      dirs.push(join(nv, pkg, 'lib'));
      for (const sub of listDir(join(nv, pkg))) if (/^cu\d+$/.test(sub)) dirs.push(join(nv, pkg, sub, 'lib'));
    }
  }
  dirs.push('/usr/lib/x86_64-linux-gnu', '/usr/local/nvidia/lib64', '/usr/local/nvidia/lib');
  return [...new Set(dirs)].filter((d) => existsSync(d));
}

/** Opens the first library that loads among `names` (sonames, then the same names in `libraryDirs()`). */
export function openLibrary(what: string, names: readonly string[]): Library {
  const k = getKoffi();
  const errors: string[] = [];
  for (const n of names) {
    try {
      return k.load(n);
    } catch (e) {
      errors.push(`${n}: ${(e as Error).message}`);
    }
  }
  for (const dir of libraryDirs()) {
    for (const file of listDir(dir)) {
      if (!names.some((n) => file === n || file.startsWith(`${n}.`))) continue;
      try {
        return k.load(join(dir, file));
      } catch (e) {
        errors.push(`${join(dir, file)}: ${(e as Error).message}`);
      }
    }
  }
  throw new CudaUnavailableError(`${what} not found (tried ${names.join(', ')} and ${libraryDirs().length} folders; set NEMOTRON_CUDA_LIB_DIRS)${errors.length ? `: ${errors[0]}` : ''}`);
}

/** Binds the first symbol that exists among the alternatives (e.g. `_v2` names first). */
export function bind(lib: Library, ret: string, names: readonly string[], args: string): (...a: unknown[]) => number {
  let last: unknown;
  for (const n of names) {
    try {
      return lib.func(`${ret} ${n}(${args})`) as (...a: unknown[]) => number;
    } catch (e) {
      last = e;
    }
  }
  throw new CudaUnavailableError(`symbol ${names.join(' / ')} not found: ${(last as Error).message}`);
}
