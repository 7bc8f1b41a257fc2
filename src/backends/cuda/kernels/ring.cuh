// ring.cuh: weight rows streamed through a per-warp ring of D shared-memory slots with cp.async, so that D rows
// per warp are in flight at once. The register kernels (gemv1.cuh) keep one row in registers: a warp waits a whole
// memory round trip per row, and with 8-10 rows per warp per kernel the round trips, not the bandwidth, set the
// time (2.9-3.4 TB/s of the 4.3 a copy reaches, Nsight Compute on an H200). cp.async holds no registers while the
// bytes travel, and the rows of weights (which no earlier kernel writes) go out before pdl_wait, while the previous
// kernel drains.
//
// Layout: slot s of a warp is MAXL * 32 uint4; lane l copies, and later reads, chunks c = l + 32 j of a row, so a
// lane only reads what its own cp.async wrote (its own wait_group orders it: no __syncwarp) and a warp's 16-byte
// reads of one j are one conflict-free 512-byte line. Every issue commits exactly one group (empty past the last
// row), so "the oldest row has landed" is always cp.async.wait_group D - 1.
#pragma once
#include "common.cuh"

// Copies weight row w (K8 16-byte chunks; null: none) into slot and commits one group.
template <int MAXL>
__device__ __forceinline__ void ring_issue(uint4* slot, const bf16* w, int K8, int lane) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  if (w) {
    const uint4* w8 = (const uint4*)w;
#pragma unroll
    for (int j = 0; j < MAXL; j++) {
      const int c = lane + 32 * j;
      if (c < K8) {
        u32 sa;
        asm volatile("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(sa) : "l"(slot + c));
        asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(sa), "l"(w8 + c) : "memory");
      }
    }
  }
  asm volatile("cp.async.commit_group;" ::: "memory");
#else
  if (w)
    for (int j = 0; j < MAXL; j++) {
      const int c = lane + 32 * j;
      if (c < K8) slot[c] = ((const uint4*)w)[c];
    }
#endif
}

// Waits until at most N of this thread's groups are pending (the oldest row of a D-deep ring: N = D - 1).
template <int N>
__device__ __forceinline__ void ring_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}

// dot_staged (gemv1.cuh) over a landed slot, the same products in the same order: x4 is the activation row as
// float4s (global memory, through L1; 16-byte aligned).
template <int MAXL>
__device__ __forceinline__ float dot_ring(const uint4* slot, const float4* x4, int K8, int lane) {
  float acc = 0.f;
#pragma unroll
  for (int j = 0; j < MAXL; j++) {
    const int c = lane + 32 * j;
    if (c < K8) {
      float f[8];
      unpack8(slot[c], f);
      const float4 a = x4[2 * c], b = x4[2 * c + 1];
      acc += f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w;
    }
  }
  return acc;
}

// Dynamic shared memory of a ring kernel: D slots per warp.
#define RING_SLOT(MAXL) ((MAXL) * 32)

// The persistent GEMV over a ring: warp w of nw walks rows w, w + nw, ...; rowPtr(r) is weight row r (K bf16);
// rows below preRows may be issued before pdl_wait (weights that no earlier kernel chose); xRow(r) is row r's
// activation row as float4s (read after the wait); out(r, v) stores the result. Shmem: warps * D * MAXL * 512.
template <int MAXL, int D, typename RowPtr, typename XRow, typename Out>
__device__ __forceinline__ void ring_gemv(int K, int M, int preRows, RowPtr rowPtr, XRow xRow, Out out) {
  extern __shared__ uint4 ring_smem[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, wpb = blockDim.x >> 5;
  const int nw = gridDim.x * wpb, K8 = K >> 3;
  uint4* ring = ring_smem + warp * D * RING_SLOT(MAXL);
  const int r0 = blockIdx.x * wpb + warp;
  int p = 0;  // rows issued before the wait
  for (; p < D; p++) {
    const int r = r0 + p * nw;
    if (r >= M || r >= preRows) break;
    ring_issue<MAXL>(ring + p * RING_SLOT(MAXL), rowPtr(r), K8, lane);
  }
  pdl_wait();
  pdl_launch();
  for (int i = p; i < D; i++) {
    const int r = r0 + i * nw;
    ring_issue<MAXL>(ring + i * RING_SLOT(MAXL), r < M ? rowPtr(r) : nullptr, K8, lane);
  }
  int s = 0;
  for (int r = r0; r < M; r += nw) {
    ring_wait<D - 1>();
    uint4* slot = ring + s * RING_SLOT(MAXL);
    float acc = dot_ring<MAXL>(slot, xRow(r), K8, lane);
    const int rn = r + D * nw;
    ring_issue<MAXL>(slot, rn < M ? rowPtr(rn) : nullptr, K8, lane);  // after the dot: the slot's reads are done
    acc = warp_sum(acc);
    if (lane == 0) out(r, acc);
    s = s + 1 == D ? 0 : s + 1;
  }
}
