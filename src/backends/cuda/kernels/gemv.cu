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

// y[m] = W[m] . x for one activation row, rows of K <= 4096 bf16 (out_proj, o_proj), one warp per row, the row's
// first 32 REG chunks of 8 in registers, the rest through a 4 KB cp.async slot per warp, all loaded before pdl_wait
// (weights); SX: x staged once per block in shared memory after the wait, instead of every warp reading it through
// L1. Why: gemv_bf16_n1 (127 registers: 2 blocks of 256 per SM, two waves) took 9.9 us per out_proj after
// mamba_step ended in a traced H200 step, for 22 MB; one wave with every row loaded before the wait
// (gemv_bf16_n1_hy: REG 8, 64 registers) measured no faster (2.359 vs 2.340 ms per step), which leaves the x reads:
// right after the wait all 2688 warps read the same 16 KB (43 MB of L1 misses if they all miss together).
// Measured (tuning only, NEMOTRON_CUDA_GEMV_N1): sx 2.391, hysx 2.393 against 2.348 ms per batch-1 step on an
// H200. The trace shows out_proj itself ending sooner (4.6 against 9.9 us after its wait), but the router after it
// later: with one wave there is no room on the SMs for the router's blocks until out_proj ends.
// The same products in the same order as gemv_bf16_n1 (dot_row_bf16_1), so the same bits.
// EARLY (the _e kernels): pdl_launch_early(), so that the router after out_proj is placed and loads its weights
// while this one-wave GEMV runs (the router reads only weights before its wait).
// K % 8 == 0, K <= 4096; x, W 16-byte aligned. grid: ceil(M / 8); block 256;
// shmem (SX ? K * 4 : 0) + (REG < 16 ? 8 * 4096 : 0) bytes.
template <int REG, bool SX, bool EARLY = false>
__device__ __forceinline__ void gemv_n1_impl(const float* x, const bf16* W, float* y, int K, int M) {
  extern __shared__ uint4 n1_mem[];
  if (EARLY) pdl_launch_early();  // [x: K / 4 float4 when SX | 8 slots of 256 chunks when REG < 16]
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int m = blockIdx.x * (blockDim.x >> 5) + warp;
  const int K8 = K >> 3, K8a = min(K8, 32 * REG);
  uint4* slot = n1_mem + (SX ? K >> 2 : 0) + warp * 256;
  uint4 u[REG];
  const bf16* w = W + (long long)m * K;
  if (m < M) {
    load_row<REG>(u, w, K8a, lane);
    if (REG < 16 && K8 > K8a) slot_issue<8>(slot, w + 8 * K8a, K8 - K8a, lane);
  }
  pdl_wait();
  pdl_launch();
  const float4* x4 = (const float4*)x;
  if (SX) {
    float4* xs = (float4*)n1_mem;
    for (int i = threadIdx.x; i < (K >> 2); i += blockDim.x) xs[i] = x4[i];
    __syncthreads();
    x4 = xs;
  }
  if (m >= M) return;
  float acc = 0.f;  // chunks in dot_row_bf16_1's order: the register part, then the slot's
#pragma unroll
  for (int j = 0; j < REG; j++) {
    const int c = lane + 32 * j;
    if (c < K8a) acc = fma_chunk(acc, u[j], x4, c);
  }
  if (REG < 16 && K8 > K8a) {
    slot_wait();
#pragma unroll
    for (int j = 0; j < 8; j++) {
      const int c = lane + 32 * j;
      if (K8a + c < K8) acc = fma_chunk(acc, slot[c], x4, K8a + c);
    }
  }
  acc = warp_sum(acc);
  if (lane == 0) y[m] = acc;
}
extern "C" __global__ void PDL __launch_bounds__(256) gemv_bf16_n1_hy(const float* x, const bf16* W, float* y, int K, int M) { gemv_n1_impl<8, false>(x, W, y, K, M); }
extern "C" __global__ void PDL __launch_bounds__(256) gemv_bf16_n1_hysx(const float* x, const bf16* W, float* y, int K, int M) { gemv_n1_impl<8, true>(x, W, y, K, M); }
extern "C" __global__ void PDL __launch_bounds__(256) gemv_bf16_n1_sx(const float* x, const bf16* W, float* y, int K, int M) { gemv_n1_impl<16, true>(x, W, y, K, M); }
extern "C" __global__ void PDL __launch_bounds__(256) gemv_bf16_n1_hye(const float* x, const bf16* W, float* y, int K, int M) { gemv_n1_impl<8, false, true>(x, W, y, K, M); }
extern "C" __global__ void PDL __launch_bounds__(256) gemv_bf16_n1_sxe(const float* x, const bf16* W, float* y, int K, int M) { gemv_n1_impl<16, true, true>(x, W, y, K, M); }
