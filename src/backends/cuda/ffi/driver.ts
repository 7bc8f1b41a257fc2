/**
 * libcuda.so.1 (driver API) symbol declarations, and `check()`, which turns a CUresult into a CudaError carrying
 * cuGetErrorName / cuGetErrorString. Handles (context, stream, module, function, graph, event) are BigInt
 * pointers; device addresses (CUdeviceptr) are plain numbers (they fit in 53 bits).
 */
import { bind, getKoffi, openLibrary, type Library } from './load.js';

/** A failed CUDA call: `result` is the CUresult. */
export class CudaError extends Error {
  constructor(readonly result: number, message: string) {
    super(message);
    this.name = 'CudaError';
  }
}

export type Handle = bigint;
type Fn = (...a: unknown[]) => number;

export interface Driver {
  lib: Library;
  cuInit: Fn; cuDriverGetVersion: Fn; cuDeviceGetCount: Fn; cuDeviceGet: Fn; cuDeviceGetName: Fn; cuDeviceGetAttribute: Fn;
  cuDeviceTotalMem: Fn; cuDevicePrimaryCtxRetain: Fn; cuCtxSetCurrent: Fn; cuCtxSynchronize: Fn;
  cuStreamCreate: Fn; cuStreamSynchronize: Fn; cuStreamDestroy: Fn;
  cuMemAlloc: Fn; cuMemFree: Fn; cuMemGetInfo: Fn; cuMemHostAlloc: Fn; cuMemFreeHost: Fn;
  cuMemcpyHtoDAsync: Fn; cuMemcpyDtoHAsync: Fn; cuMemcpyDtoDAsync: Fn; cuMemsetD32Async: Fn;
  cuModuleLoadData: Fn; cuModuleGetFunction: Fn; cuFuncSetAttribute: Fn; cuOccupancyMaxActiveBlocksPerMultiprocessor: Fn; cuLaunchKernel: Fn; cuLaunchKernelEx: Fn | null; cuProfilerStart: Fn | null; cuProfilerStop: Fn | null;
  cuEventCreate: Fn; cuEventRecord: Fn; cuEventSynchronize: Fn; cuEventElapsedTime: Fn;
  cuStreamBeginCapture: Fn; cuStreamEndCapture: Fn; cuGraphInstantiate: Fn; cuGraphLaunch: Fn; cuGraphDestroy: Fn; cuGraphExecDestroy: Fn;
  cuGetErrorName: Fn; cuGetErrorString: Fn;
}

export const CU_DEVICE_ATTRIBUTE = { MULTIPROCESSOR_COUNT: 16, COMPUTE_CAPABILITY_MAJOR: 75, COMPUTE_CAPABILITY_MINOR: 76, L2_CACHE_SIZE: 38 } as const;
export const CU_STREAM_NON_BLOCKING = 1;
export const CU_STREAM_CAPTURE_MODE_RELAXED = 2;
export const CU_FUNC_ATTRIBUTE_MAX_DYNAMIC_SHARED_SIZE_BYTES = 8;
export const CU_LAUNCH_ATTRIBUTE_PROGRAMMATIC_STREAM_SERIALIZATION = 6;
export const CUDA_ERROR_OUT_OF_MEMORY = 2;

let driver: Driver | undefined;

/** Loads libcuda.so.1 and binds the driver API (once per process). */
export function loadDriver(): Driver {
  if (driver) return driver;
  const lib = openLibrary('the NVIDIA driver library libcuda.so.1 (no NVIDIA driver on this machine?)', ['libcuda.so.1', 'libcuda.so']);
  const f = (names: string | string[], args: string) => bind(lib, 'int', typeof names === 'string' ? [names] : names, args);
  driver = {
    lib,
    cuInit: f('cuInit', 'unsigned int flags'),
    cuDriverGetVersion: f('cuDriverGetVersion', '_Out_ int *v'),
    cuDeviceGetCount: f('cuDeviceGetCount', '_Out_ int *n'),
    cuDeviceGet: f('cuDeviceGet', '_Out_ int *dev, int ordinal'),
    cuDeviceGetName: f('cuDeviceGetName', 'uint8_t *name, int len, int dev'),
    cuDeviceGetAttribute: f('cuDeviceGetAttribute', '_Out_ int *v, int attrib, int dev'),
    cuDeviceTotalMem: f(['cuDeviceTotalMem_v2', 'cuDeviceTotalMem'], '_Out_ size_t *bytes, int dev'),
    cuDevicePrimaryCtxRetain: f('cuDevicePrimaryCtxRetain', '_Out_ void **ctx, int dev'),
    cuCtxSetCurrent: f('cuCtxSetCurrent', 'void *ctx'),
    cuCtxSynchronize: f('cuCtxSynchronize', ''),
    cuStreamCreate: f('cuStreamCreate', '_Out_ void **stream, unsigned int flags'),
    cuStreamSynchronize: f('cuStreamSynchronize', 'void *stream'),
    cuStreamDestroy: f(['cuStreamDestroy_v2', 'cuStreamDestroy'], 'void *stream'),
    cuMemAlloc: f(['cuMemAlloc_v2', 'cuMemAlloc'], '_Out_ uint64_t *dptr, size_t bytes'),
    cuMemFree: f(['cuMemFree_v2', 'cuMemFree'], 'uint64_t dptr'),
    cuMemGetInfo: f(['cuMemGetInfo_v2', 'cuMemGetInfo'], '_Out_ size_t *free, _Out_ size_t *total'),
    cuMemHostAlloc: f('cuMemHostAlloc', '_Out_ void **p, size_t bytes, unsigned int flags'),
    cuMemFreeHost: f('cuMemFreeHost', 'void *p'),
    cuMemcpyHtoDAsync: f(['cuMemcpyHtoDAsync_v2', 'cuMemcpyHtoDAsync'], 'uint64_t dst, void *src, size_t bytes, void *stream'),
    cuMemcpyDtoHAsync: f(['cuMemcpyDtoHAsync_v2', 'cuMemcpyDtoHAsync'], 'void *dst, uint64_t src, size_t bytes, void *stream'),
    cuMemcpyDtoDAsync: f(['cuMemcpyDtoDAsync_v2', 'cuMemcpyDtoDAsync'], 'uint64_t dst, uint64_t src, size_t bytes, void *stream'),
    cuMemsetD32Async: f('cuMemsetD32Async', 'uint64_t dst, unsigned int value, size_t count, void *stream'),
    cuModuleLoadData: f('cuModuleLoadData', '_Out_ void **mod, void *image'),
    cuModuleGetFunction: f('cuModuleGetFunction', '_Out_ void **fn, void *mod, const char *name'),
    cuFuncSetAttribute: f('cuFuncSetAttribute', 'void *fn, int attrib, int value'),
    cuOccupancyMaxActiveBlocksPerMultiprocessor: f('cuOccupancyMaxActiveBlocksPerMultiprocessor', '_Out_ int *n, void *fn, int blockSize, size_t dynamicSmem'),
    cuLaunchKernel: f('cuLaunchKernel', 'void *fn, unsigned int gx, unsigned int gy, unsigned int gz, unsigned int bx, unsigned int by, unsigned int bz, unsigned int shmem, void *stream, void *params, void *extra'),
    // CUDA >= 12.0: launch attributes (programmatic dependent launch); null on older drivers
    cuLaunchKernelEx: (() => {
      try {
        return f('cuLaunchKernelEx', 'void *config, void *fn, void *params, void *extra');
      } catch {
        return null;
      }
    })(),
    // profiler range for Nsight Compute / Systems (--profile-from-start off); null when the driver lacks them
    cuProfilerStart: (() => {
      try {
        return f('cuProfilerStart', '');
      } catch {
        return null;
      }
    })(),
    cuProfilerStop: (() => {
      try {
        return f('cuProfilerStop', '');
      } catch {
        return null;
      }
    })(),
    cuEventCreate: f('cuEventCreate', '_Out_ void **ev, unsigned int flags'),
    cuEventRecord: f('cuEventRecord', 'void *ev, void *stream'),
    cuEventSynchronize: f('cuEventSynchronize', 'void *ev'),
    cuEventElapsedTime: f(['cuEventElapsedTime_v2', 'cuEventElapsedTime'], '_Out_ float *ms, void *start, void *end'),
    cuStreamBeginCapture: f(['cuStreamBeginCapture_v2', 'cuStreamBeginCapture'], 'void *stream, int mode'),
    cuStreamEndCapture: f('cuStreamEndCapture', 'void *stream, _Out_ void **graph'),
    cuGraphInstantiate: f('cuGraphInstantiateWithFlags', '_Out_ void **exec, void *graph, unsigned long long flags'),
    cuGraphLaunch: f('cuGraphLaunch', 'void *exec, void *stream'),
    cuGraphDestroy: f('cuGraphDestroy', 'void *graph'),
    cuGraphExecDestroy: f('cuGraphExecDestroy', 'void *exec'),
    cuGetErrorName: f('cuGetErrorName', 'int code, _Out_ void **str'),
    cuGetErrorString: f('cuGetErrorString', 'int code, _Out_ void **str'),
  };
  return driver;
}

/** Throws a CudaError naming `what` unless `code` is CUDA_SUCCESS. */
export function check(code: number, what: string): void {
  if (code === 0) return;
  let name = `CUresult ${code}`;
  let text = '';
  if (driver) {
    const k = getKoffi();
    const p: [bigint | null] = [null];
    if (driver.cuGetErrorName(code, p) === 0 && p[0]) name = k.decode.string(p[0]);
    const q: [bigint | null] = [null];
    if (driver.cuGetErrorString(code, q) === 0 && q[0]) text = k.decode.string(q[0]);
  }
  throw new CudaError(code, `${what} failed: ${name}${text ? ` (${text})` : ''}`);
}
