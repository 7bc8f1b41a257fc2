// gemv.cu: y = x . W^T for few activation rows (decode), weights bf16 or f32, float32 accumulation.
// One warp per output feature m; the warp streams W's row once and dots it with up to NT activation rows at a
// time (looping over tiles of NT), so a weight row is read from memory once per call. Large batches use cuBLAS.
// Launched with PDL (common.cuh): before waiting for the previous kernel, each warp pulls its weight row into L2,
// so the weight stream of this GEMV overlaps the tail of the kernel before it.
#include "common.cuh"

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
