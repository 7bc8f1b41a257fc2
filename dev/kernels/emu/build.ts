/**
 * Builds the CPU emulation library of a kernel file: build/<name>.so from src/backends/cuda/kernels/<name>.cu
 * (translate.ts, then g++ against cuda_emu.h). Rebuilt only when a source, the prelude or the flags change.
 * As a script: `npx tsx dev/kernels/emu/build.ts [file.cu ...]` builds the given files (default: all of them)
 * and reports each, so a kernel change can be checked to compile for the emulator in one command.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { kernelDir } from '../../../src/backends/cuda/launch.js';
import { translateSource, translationUnit } from './translate.js';

export const EMU_DIR = fileURLToPath(new URL('.', import.meta.url));
export const BUILD_DIR = join(EMU_DIR, 'build');
const PRELUDE = ['cuda_emu.h', 'fibers.h', 'ptx.h', 'launch.h', 'translate.ts', 'build.ts'];
// -O1: fast enough to run, quick to build; no _FORTIFY_SOURCE: its longjmp check rejects the fiber switches
const FLAGS = ['-std=c++17', '-O1', '-g', '-shared', '-fPIC', '-fno-threadsafe-statics', '-U_FORTIFY_SOURCE', '-Wall', '-Wno-unknown-pragmas', '-Wno-unused'];

/** Why the emulator cannot be built here (no g++), or null. */
export function emuUnavailable(): string | null {
  const r = spawnSync(process.env.CXX ?? 'g++', ['--version'], { encoding: 'utf8' });
  return r.status === 0 ? null : `${process.env.CXX ?? 'g++'} not found: the CUDA emulator needs a C++17 compiler (apt-get install g++)`;
}

/** Builds (if stale) and returns the path of the library for one kernel file, e.g. 'sample.cu'. */
export function buildKernelFile(file: string): string {
  const dir = kernelDir();
  const headers = readdirSync(dir).filter((f) => f.endsWith('.cuh'));
  const source = readFileSync(join(dir, file), 'utf8');
  const stem = file.replace(/\.cu$/, '');
  const lib = join(BUILD_DIR, `${stem}.so`);
  const hash = createHash('sha256');
  for (const f of PRELUDE) hash.update(readFileSync(join(EMU_DIR, f)));
  for (const f of [...headers, file]) hash.update(f).update(readFileSync(join(dir, f)));
  hash.update(FLAGS.join(' '));
  const digest = hash.digest('hex');
  const stamp = join(BUILD_DIR, `${stem}.hash`);
  if (existsSync(lib) && existsSync(stamp) && readFileSync(stamp, 'utf8') === digest) return lib;

  // built in a folder of this process, then moved into place: parallel test files may build the same kernel file
  const work = join(BUILD_DIR, `${stem}.${process.pid}`);
  const inc = join(work, 'include');
  mkdirSync(inc, { recursive: true });
  for (const f of [...headers, file]) writeFileSync(join(inc, f), translateSource(readFileSync(join(dir, f), 'utf8'), f, join(dir, f)));
  const tu = join(work, `${stem}.cpp`);
  writeFileSync(tu, translationUnit(file, source));
  try {
    execFileSync(process.env.CXX ?? 'g++', [...FLAGS, '-I', EMU_DIR, '-I', work, tu, '-o', join(work, `${stem}.so`)], { stdio: ['ignore', 'pipe', 'pipe'], encoding: 'utf8' });
  } catch (e) {
    throw new Error(`emu build of ${file} failed (translated sources in ${work}):\n${(e as { stderr?: string }).stderr ?? e}`);
  }
  renameSync(join(work, `${stem}.so`), lib);
  writeFileSync(`${stamp}.${process.pid}`, digest);
  renameSync(`${stamp}.${process.pid}`, stamp);
  // the translated sources stay in build/<stem>/ for reading g++'s messages and debugging
  rmSync(join(BUILD_DIR, stem), { recursive: true, force: true });
  try {
    renameSync(work, join(BUILD_DIR, stem));
  } catch {
    rmSync(work, { recursive: true, force: true });
  }
  return lib;
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const why = emuUnavailable();
  if (why) {
    console.error(why);
    process.exit(1);
  }
  const files = process.argv.slice(2).length ? process.argv.slice(2) : readdirSync(kernelDir()).filter((f) => f.endsWith('.cu')).sort();
  let failed = 0;
  for (const f of files) {
    const t0 = performance.now();
    try {
      buildKernelFile(f);
      console.log(`ok   ${f} (${((performance.now() - t0) / 1000).toFixed(1)} s)`);
    } catch (e) {
      failed++;
      console.log(`FAIL ${f}\n${(e as Error).message}`);
    }
  }
  process.exit(failed ? 1 : 0);
}
