// gemv1.cuh: the persistent batch-1 GEMV loop shared by gemv1.cu and moe_block1.cu (see gemv1.cu's header).
#pragma once
#include "common.cuh"

// Copies x[0, K) (16-byte aligned, K % 4 == 0) into shared xs with every thread's 16-byte copies in flight at once
// (cp.async holds no registers, so the weight row loaded before pdl_wait stays in them), then one barrier. A plain
// load/store loop waited for each load in turn: 5-6 L2 round trips after pdl_wait in every GEMV.
__device__ __forceinline__ void stage_row_async(float* xs, const float* x, int K) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  for (int c = threadIdx.x; c < (K >> 2); c += blockDim.x) {
    u32 sa;
    asm volatile("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(sa) : "l"(xs + 4 * c));
    asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(sa), "l"(x + 4 * c) : "memory");
  }
  asm volatile("cp.async.commit_group;" ::: "memory");
  asm volatile("cp.async.wait_group %0;" ::"n"(0) : "memory");
#else
  for (int c = threadIdx.x; c < (K >> 2); c += blockDim.x) ((float4*)xs)[c] = ((const float4*)x)[c];
#endif
  __syncthreads();
}

template <int MAXL>
__device__ __forceinline__ void load_row(uint4* u, const bf16* w, int K8, int lane) {
  const uint4* w8 = (const uint4*)w;
#pragma unroll
  for (int j = 0; j < MAXL; j++) {
    const int c = lane + 32 * j;
    if (c < K8) u[j] = ld_stream(w8 + c);
  }
}

template <int MAXL>
__device__ __forceinline__ float dot_staged(const uint4* u, const float4* xs4, int K8, int lane) {
  float acc = 0.f;
#pragma unroll
  for (int j = 0; j < MAXL; j++) {
    const int c = lane + 32 * j;
    if (c < K8) acc = fma_chunk(acc, u[j], xs4, c);
  }
  return acc;
}

// The shared loop: rowPtr(r) is weight row r; rows below `preRows` may be loaded before pdl_wait (weights that no
// earlier kernel chose); stage() runs after the wait (e.g. activations into shared memory); xRow(r) gives the
// activation row of row r as float4s; out(r, v) stores the row's result.
// `pre`: this warp's next `pre` rows are also pulled into L2 (prefetch, no registers): before pdl_wait for rows
// below preRows, after it for the others, so the memory stays busy through the wait and the staging, when only
// the first row is in registers.
template <int MAXL, typename RowPtr, typename Stage, typename XRow, typename Out>
__device__ __forceinline__ void gemv1_core(int K, int M, int preRows, int pre, RowPtr rowPtr, Stage stage, XRow xRow, Out out) {
  const int lane = threadIdx.x & 31, wpb = blockDim.x >> 5;
  const int nw = gridDim.x * wpb;
  const int K8 = K >> 3;
  int r = blockIdx.x * wpb + (threadIdx.x >> 5);
  uint4 u[MAXL];
  const bool early = r < M && r < preRows;
  if (early) load_row<MAXL>(u, rowPtr(r), K8, lane);
  for (int j = 1; j <= pre; j++) {
    const int rr = r + j * nw;
    if (rr < M && rr < preRows) prefetch_l2(rowPtr(rr), (long long)K * 2, lane, 32);
  }
  pdl_wait();
  stage();
  TRACE_MARK(0);  // the input row staged
  pdl_launch();
  if (r < M && !early) load_row<MAXL>(u, rowPtr(r), K8, lane);
  for (int j = 1; j <= pre; j++) {
    const int rr = r + j * nw;
    if (rr < M && rr >= preRows) prefetch_l2(rowPtr(rr), (long long)K * 2, lane, 32);
  }
  while (r < M) {
    float acc = dot_staged<MAXL>(u, xRow(r), K8, lane);
    const int rn = r + nw;
    if (rn < M) load_row<MAXL>(u, rowPtr(rn), K8, lane);
    if (rn < M && rn + nw >= M) TRACE_MARK(2);  // the warp's last row issued
    acc = warp_sum(acc);
    if (lane == 0) out(r, acc);
    TRACE_MARK(1);  // the first row done
    r = rn;
  }
}

// One activation row x for every weight row, staged once per block in shared memory (dynamic: K floats).
template <int MAXL, typename RowPtr, typename Out>
__device__ __forceinline__ void gemv1_run(const float* x, int K, int M, int preRows, int pre, RowPtr rowPtr, Out out) {
  extern __shared__ float4 xs4[];
  gemv1_core<MAXL>(
      K, M, preRows, pre, rowPtr,
      [&]() { stage_row_async((float*)xs4, x, K); },
      [&](int) { return (const float4*)xs4; }, out);
}

// As gemv1_run, but each row has its own activation row (xPtr(r), read through L1), all rows of length K.
template <int MAXL, typename RowPtr, typename XPtr, typename Out>
__device__ __forceinline__ void gemv1_multi_run(int K, int M, int preRows, int pre, RowPtr rowPtr, XPtr xPtr, Out out) {
  gemv1_core<MAXL>(K, M, preRows, pre, rowPtr, [] {}, [&](int r) { return (const float4*)xPtr(r); }, out);
}

// ---- a row in a shared-memory slot (cp.async), beside rows in registers: more bytes in flight per warp ----------
// Copies weight row w (K8 16-byte chunks) into this warp's slot, lane l taking chunks l + 32 j (the chunks it will
// read back: no warp barrier needed), and commits one group.
template <int MAXL>
__device__ __forceinline__ void slot_issue(uint4* slot, const bf16* w, int K8, int lane) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
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
  asm volatile("cp.async.commit_group;" ::: "memory");
#else
  for (int j = 0; j < MAXL; j++) {
    const int c = lane + 32 * j;
    if (c < K8) slot[c] = ((const uint4*)w)[c];
  }
#endif
}
// dot_staged over a landed slot: chunk c = lane + 32 j sits at slot[c] (a warp's reads of one j are one
// conflict-free 512-byte line); the same products in the same order as dot_staged.
template <int MAXL>
__device__ __forceinline__ float dot_slot(const uint4* slot, const float4* xs4, int K8, int lane) {
  float acc = 0.f;
#pragma unroll
  for (int j = 0; j < MAXL; j++) {
    const int c = lane + 32 * j;
    if (c < K8) acc = fma_chunk(acc, slot[c], xs4, c);
  }
  return acc;
}
__device__ __forceinline__ void slot_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group 0;" ::: "memory");
#endif
}
