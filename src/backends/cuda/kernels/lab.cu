// lab.cu: kernels for the kernel lab (bench/) only; the model never launches them.
#include "common.cuh"

__device__ __forceinline__ u64 lab_clock() {
  u64 t;
  asm volatile("mov.u64 %0, %%globaltimer;" : "=l"(t));
  return t;
}

// A kernel's dependency handoff, producer side: every block spins `ns` nanoseconds (its work), then thread 0 puts
// its end time into t[0] (max over blocks) and, when ctr is set, arrives on it (threadfence, then add). `early`:
// the next kernel may launch at this one's start (as the latency kernels do), else after the wait.
extern "C" __global__ void PDL lab_dep_producer(u32* ctr, u64* t, int ns, int early) {
  if (early) pdl_launch();
  pdl_wait();
  if (!early) pdl_launch();
  const u64 t0 = lab_clock();
  while (lab_clock() - t0 < (u64)ns) {
  }
  __syncthreads();
  if (threadIdx.x == 0) {
    atomicMax((unsigned long long*)t, (unsigned long long)lab_clock());
    if (ctr) {
      __threadfence();
      atomicAdd(ctr, 1u);
    }
  }
}
// Consumer side: waits with griddepcontrol.wait (ctr null) or until *ctr >= n (thread 0 polls, then the block
// barrier); t[1] / t[2]: the first / last block's wake time.
extern "C" __global__ void PDL lab_dep_consumer(const u32* ctr, u32 n, u64* t) {
  if (ctr) {
    if (threadIdx.x == 0)
      while (ld_acquire_u32(ctr) < n) {
      }
    __syncthreads();
  } else {
    pdl_wait();
  }
  pdl_launch();
  if (threadIdx.x == 0) {
    const u64 w = lab_clock();
    atomicMin((unsigned long long*)t + 1, (unsigned long long)w);
    atomicMax((unsigned long long*)t + 2, (unsigned long long)w);
  }
}
