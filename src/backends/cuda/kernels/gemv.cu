// gemv.cu: y = x . W^T for few activation rows (decode), weights bf16 or f32, float32 accumulation.
// One warp per output feature m; the warp streams W's row once and dots it with up to NT activation rows at a
// time (looping over tiles of NT), so a weight row is read from memory once per call. Large batches use cuBLAS.
// Launched with PDL (common.cuh): before waiting for the previous kernel, each warp pulls its weight row into L2,
// so the weight stream of this GEMV overlaps the tail of the kernel before it.
#include "common.cuh"
#include "gemv1.cuh"  // load_row, slot_issue, slot_wait

template <typename WT, int NT>
__device__ __forceinline__ void gemv_impl(const float* x, int ldx, const WT* W, float* y, int ldy, int N, int K, int M) {
  const int lane = threadIdx.x & 31;
  const int m = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (m >= M) return;
  const WT* w = W + (long long)m * K;
  prefetch_l2(w, (long long)K * sizeof(WT), lane, 32);
  pdl_wait();
  pdl_launch();
  const bool vecW = sizeof(WT) == 2 ? (K & 7) == 0 : (K & 3) == 0;
  const bool vec = vecW && (ldx & 3) == 0 && aligned16(x) && aligned16(W);
  for (int n0 = 0; n0 < N; n0 += NT) {
    const int nt = min(NT, N - n0);
    float acc[NT];
#pragma unroll
    for (int t = 0; t < NT; t++) acc[t] = 0.f;
    if (sizeof(WT) == 2 && NT == 1 && vec) acc[0] = dot_row_bf16_1((const bf16*)w, x + (long long)n0 * ldx, K, lane);
    else if (sizeof(WT) == 2) dot_row_bf16<NT>((const bf16*)w, x + (long long)n0 * ldx, ldx, nt, K, vec, lane, acc);
    else dot_row_f32<NT>((const float*)w, x + (long long)n0 * ldx, ldx, nt, K, vec, lane, acc);
    TRACE_MARK(0);  // the row's dot done
#pragma unroll
    for (int t = 0; t < NT; t++) {
      const float s = warp_sum(acc[t]);
      if (lane == 0 && t < nt) y[(long long)(n0 + t) * ldy + m] = s;
    }
  }
}

// grid: ceil(M / warpsPerBlock); block: 32 * warpsPerBlock
extern "C" __global__ void PDL gemv_bf16_n1(const float* x, int ldx, const bf16* W, float* y, int ldy, int N, int K, int M) { gemv_impl<bf16, 1>(x, ldx, W, y, ldy, N, K, M); }
extern "C" __global__ void PDL gemv_bf16_n4(const float* x, int ldx, const bf16* W, float* y, int ldy, int N, int K, int M) { gemv_impl<bf16, 4>(x, ldx, W, y, ldy, N, K, M); }
extern "C" __global__ void PDL gemv_bf16_n8(const float* x, int ldx, const bf16* W, float* y, int ldy, int N, int K, int M) { gemv_impl<bf16, 8>(x, ldx, W, y, ldy, N, K, M); }
extern "C" __global__ void PDL gemv_f32_n1(const float* x, int ldx, const float* W, float* y, int ldy, int N, int K, int M) { gemv_impl<float, 1>(x, ldx, W, y, ldy, N, K, M); }
extern "C" __global__ void PDL gemv_f32_n4(const float* x, int ldx, const float* W, float* y, int ldy, int N, int K, int M) { gemv_impl<float, 4>(x, ldx, W, y, ldy, N, K, M); }
extern "C" __global__ void PDL gemv_f32_n8(const float* x, int ldx, const float* W, float* y, int ldy, int N, int K, int M) { gemv_impl<float, 8>(x, ldx, W, y, ldy, N, K, M); }

// gemv_bf16_n1 (one activation row) for a grid that runs in two waves (out_proj, o_proj: 336 blocks of 256, 2 per SM
// at 128 registers, so 264 in the first wave on an H200). A first-wave warp pulls its own row into L2 before
// pdl_wait, as gemv_bf16_n1, and after the wait also the row `ahead` rows on (the row of the second-wave warp in its
// place): the kernel before (mamba_step, the attention) is done with memory by then, and the first wave reads its
// rows from L2, so DRAM is free. The second wave's 72 blocks, whose rows no earlier launch pulled, had taken 7.7 us
// per launch after 90 % of the first wave's warps were done (traced H200 step). The batch-1 default (ops/matmul.ts):
// 2.214-2.215 against 2.231-2.232 ms per decode step with gemv_bf16_n1 on an H200 (pulled before the wait: 2.219,
// at d35ba4d). Same products in the same order as gemv_bf16_n1. grid: ceil(M / 8); block 256.
extern "C" __global__ void PDL __launch_bounds__(256, 2) gemv_bf16_n1w(const float* x, const bf16* W, float* y, int K, int M, int ahead) {
  const int lane = threadIdx.x & 31;
  const int m = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (m >= M) return;
  const bf16* w = W + (long long)m * K;
  const bool pull = ahead > 0 && m + ahead < M;
  prefetch_l2(w, (long long)K * 2, lane, 32);
  pdl_wait();
  pdl_launch();
  if (pull) prefetch_l2(w + (long long)ahead * K, (long long)K * 2, lane, 32);
  const float acc = warp_sum(dot_row_bf16_1(w, x, K, lane));
  if (lane == 0) y[m] = acc;
}
// y[m] = W[m] . x for one activation row, rows of K <= 4096 bf16 (out_proj, o_proj), one warp per row: the first
// 2048 columns in registers, the rest through a 4 KB cp.async slot per warp, both loaded before pdl_wait (weights).
// gemv_bf16_n1 takes 127 registers (all 16 loads of a 4096-row in registers), so 2 blocks of 256 fit per SM: the
// 336 blocks of out_proj run in two waves (10.7 us per call in a traced H200 step, 22 MB); holding it to one wave
// spilled. Here about 64 registers and 32 KB of shared memory per block: one wave, every row in flight before the
// wait. The same products in the same order as gemv_bf16_n1 (dot_row_bf16_1), so the same bits.
// Measured slower on an H200 (NEMOTRON_CUDA_GEMV_N1_HY=1, tuning only): 2.359 against 2.340 ms per batch-1 step
// (session 4 defaults), 2.302 against 2.278 (session 5). The trace shows out_proj ending sooner (4.4 against 9.9 us
// after its wait), but the router after it later: with one wave of these blocks the router's blocks find no room
// on the SMs until out_proj ends. Staging x per block, launching the router early, or a 64-register router did
// not help either (BENCHMARKS.md, session 5). K % 8 == 0; x, W 16-byte aligned. grid: ceil(M / 8); block 256;
// shmem 8 * 4096 bytes.
extern "C" __global__ void PDL __launch_bounds__(256) gemv_bf16_n1_hy(const float* x, const bf16* W, float* y, int K, int M) {
  extern __shared__ uint4 n1_slots[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int m = blockIdx.x * (blockDim.x >> 5) + warp;
  const int K8 = K >> 3, K8a = min(K8, 256);
  uint4* slot = n1_slots + warp * 256;
  uint4 u[8];
  const bf16* w = W + (long long)m * K;
  if (m < M) {
    load_row<8>(u, w, K8a, lane);
    if (K8 > 256) slot_issue<8>(slot, w + 2048, K8 - 256, lane);
  }
  pdl_wait();
  pdl_launch();
  if (m >= M) return;
  const float4* x4 = (const float4*)x;
  float acc = 0.f;  // chunks in dot_row_bf16_1's order: the register half, then the slot's
#pragma unroll
  for (int j = 0; j < 8; j++) {
    const int c = lane + 32 * j;
    if (c < K8a) acc = fma_chunk(acc, u[j], x4, c);
  }
  if (K8 > 256) {
    slot_wait();
#pragma unroll
    for (int j = 0; j < 8; j++) {
      const int c = lane + 32 * j;
      if (256 + c < K8) acc = fma_chunk(acc, slot[c], x4, 256 + c);
    }
  }
  acc = warp_sum(acc);
  if (lane == 0) y[m] = acc;
}
