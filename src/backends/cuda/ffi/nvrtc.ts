/** libnvrtc (run-time CUDA C++ compiler) symbol declarations and error text. */
import { bind, openLibrary, type Library } from './load.js';

type Fn = (...a: unknown[]) => number;

export interface Nvrtc {
  lib: Library;
  nvrtcVersion: Fn; nvrtcCreateProgram: Fn; nvrtcCompileProgram: Fn; nvrtcDestroyProgram: Fn;
  nvrtcGetProgramLogSize: Fn; nvrtcGetProgramLog: Fn; nvrtcGetCUBINSize: Fn; nvrtcGetCUBIN: Fn; nvrtcGetPTXSize: Fn; nvrtcGetPTX: Fn;
  nvrtcGetErrorString: (code: number) => string;
}

let nvrtc: Nvrtc | undefined;

export function loadNvrtc(): Nvrtc {
  if (nvrtc) return nvrtc;
  const lib = openLibrary('the CUDA run-time compiler libnvrtc', ['libnvrtc.so.13', 'libnvrtc.so.12', 'libnvrtc.so']);
  const f = (name: string, args: string) => bind(lib, 'int', [name], args);
  nvrtc = {
    lib,
    nvrtcVersion: f('nvrtcVersion', '_Out_ int *major, _Out_ int *minor'),
    nvrtcCreateProgram: f('nvrtcCreateProgram', '_Out_ void **prog, const char *src, const char *name, int numHeaders, const char **headers, const char **includeNames'),
    nvrtcCompileProgram: f('nvrtcCompileProgram', 'void *prog, int numOptions, const char **options'),
    nvrtcDestroyProgram: f('nvrtcDestroyProgram', '_Inout_ void **prog'),
    nvrtcGetProgramLogSize: f('nvrtcGetProgramLogSize', 'void *prog, _Out_ size_t *size'),
    nvrtcGetProgramLog: f('nvrtcGetProgramLog', 'void *prog, uint8_t *log'),
    nvrtcGetCUBINSize: f('nvrtcGetCUBINSize', 'void *prog, _Out_ size_t *size'),
    nvrtcGetCUBIN: f('nvrtcGetCUBIN', 'void *prog, uint8_t *cubin'),
    nvrtcGetPTXSize: f('nvrtcGetPTXSize', 'void *prog, _Out_ size_t *size'),
    nvrtcGetPTX: f('nvrtcGetPTX', 'void *prog, uint8_t *ptx'),
    nvrtcGetErrorString: lib.func('const char *nvrtcGetErrorString(int code)') as (code: number) => string,
  };
  return nvrtc;
}
