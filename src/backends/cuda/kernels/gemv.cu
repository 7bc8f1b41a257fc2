// gemv.cu: y = x . W^T for few activation rows (decode), weights bf16 or f32, float32 accumulation.
// One warp per output feature m; the warp streams W's row once and dots it with up to NT activation rows at a
// time (looping over tiles of NT), so a weight row is read from memory once per call. Large batches use cuBLAS.
// Launched with PDL (common.cuh): before waiting for the previous kernel, each warp pulls its weight row into L2,
// so the weight stream of this GEMV overlaps the tail of the kernel before it.
#include "common.cuh"
#include "gemv1.cuh"  // load_row, slot_issue, slot_wait
#include "ssm.cuh"    // ms_group_inv, ms_shift_bc

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

// Mamba's out_proj at batch 1 with mamba_step's deferred tail (mamba_step defer = 1): x is normW g, not yet
// normalised; the GEMV scales each chunk of x by its norm group's inverse RMS (lane k < groups computes group k's
// from the head partials, as mamba_step's last block would; chunks get it by a shuffle) and dots the row as
// gemv_bf16_n1 dots it with mamba_step's normalised output: the same products in the same order, the same bits.
// Blocks 0 .. groups - 1 also shift group blockIdx.x's B/C conv state (only now has every head-block of mamba_step
// read the old one). mamba_step then ends without its fence, ticket and last block (2.4 us of a traced 5.4 per
// Mamba layer). Needs K % 8 == 0, K = heads P, norm groups of gs = K / groups columns with gs % 8 == 0, groups <= 32,
// ceil(M / 8) >= groups; x, W 16-byte aligned. grid: ceil(M / 8); block 256.
extern "C" __global__ void PDL __launch_bounds__(256, 2) gemv_bf16_n1_gs(const float* x, const bf16* W, float* y, int K, int M, const float* partial, float eps,
                                                                       int heads, int groups, const float* proj, int convK, const u64* convStates) {
  const int lane = threadIdx.x & 31;
  const int m = blockIdx.x * (blockDim.x >> 5) + (threadIdx.x >> 5);
  if (m < M) prefetch_l2(W + (long long)m * K, (long long)K * 2, lane, 32);
  pdl_wait();
  pdl_launch();
  if (m < M) {
    const int gs = K / groups;
    const uint4* w8 = (const uint4*)(W + (long long)m * K);
    const int K8 = K >> 3;
    float acc = 0.f, invL = 0.f;
    for (int base = 0; base < K8; base += 32 * 16) {  // dot_row_bf16_1's loads and order
      uint4 u[16];
#pragma unroll
      for (int j = 0; j < 16; j++) {
        const int c = base + lane + 32 * j;
        if (c < K8) u[j] = ld_stream(w8 + c);
      }
      // the row's loads go out first (ld_stream is volatile: it stays in this order), then the partials' round trip
      if (base == 0 && lane < groups) invL = ms_group_inv(partial, lane, heads / groups, gs, eps);
#pragma unroll
      for (int j = 0; j < 16; j++) {
        const int c = base + lane + 32 * j;
        const float inv = __shfl_sync(FULL_MASK, invL, min(c * 8 / gs, 31));
        if (c < K8) {
          float f[8];
          unpack8(u[j], f);
          const float4* xp = (const float4*)(x + c * 8);
          float4 a = xp[0], b = xp[1];
          a.x = a.x * inv, a.y = a.y * inv, a.z = a.z * inv, a.w = a.w * inv;
          b.x = b.x * inv, b.y = b.y * inv, b.z = b.z * inv, b.w = b.w * inv;
          acc += f[0] * a.x + f[1] * a.y + f[2] * a.z + f[3] * a.w + f[4] * b.x + f[5] * b.y + f[6] * b.z + f[7] * b.w;
        }
      }
    }
    acc = warp_sum(acc);
    if (lane == 0) y[m] = acc;
  }
  // after the block's rows: the B/C conv-state shift of group blockIdx.x
  if (blockIdx.x < groups) ms_shift_bc(proj, (float*)convStates[0], K, blockIdx.x, groups, convK - 1, threadIdx.x);
}
