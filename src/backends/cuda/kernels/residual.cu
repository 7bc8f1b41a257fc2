// residual.cu: the residual add fused into the RMSNorm that follows it, for decode-sized row counts. One
// 1024-thread block per row keeps the row in registers (H <= 4096: 4 values per thread), so the block reads a
// and b once, writes h and out once, and does one block reduction: a 256-thread block walking the row three
// times was latency-bound at batch 1 (about 5 us per layer boundary, 51 per token).
#include "common.cuh"

#define RES_PER_THREAD 4

// h = a + b (written: the next residual), out = w * h / sqrt(mean(h^2) + eps). Same summation per element as
// add_f32; the sum of squares is reduced in a different order than add_rms_norm (float32 rounding only). The norm
// weight is loaded before pdl_wait (a weight), so after the wait the only round trip is a and b.
// a, b, h, out: [rows, H] contiguous, H <= PER * block; b and h may be null (a plain RMSNorm of a).
// grid: rows; block 1024 (a 512-thread block with 8 values per thread measured the same on an H200).
// The row comes from row(c) (column c, after pdl_wait), so the embedding variant below shares the rest.
template <int PER, class Row>
__device__ __forceinline__ void rms_norm_wide_core(Row row, float* h, const float* w, float* out, int H, float eps) {
  __shared__ float sh[32];
  pdl_launch_early();
  float wv[PER];
#pragma unroll
  for (int j = 0; j < PER; j++) {
    const int c = threadIdx.x + j * blockDim.x;
    wv[j] = c < H ? w[c] : 0.f;
  }
  pdl_wait();
  pdl_launch();
  const long long r0 = (long long)blockIdx.x * H;
  float v[PER];
  float ss = 0.f;
#pragma unroll
  for (int j = 0; j < PER; j++) {
    const int c = threadIdx.x + j * blockDim.x;
    v[j] = c < H ? row(c) : 0.f;
    ss += v[j] * v[j];
  }
  ss = block_sum(ss, sh);
  const float inv = 1.f / sqrtf(ss / H + eps);
#pragma unroll
  for (int j = 0; j < PER; j++) {
    const int c = threadIdx.x + j * blockDim.x;
    if (c < H) {
      if (h) h[r0 + c] = v[j];
      out[r0 + c] = wv[j] * (v[j] * inv);
    }
  }
}
extern "C" __global__ void PDL add_rms_norm_wide(const float* a, const float* b, float* h, const float* w, float* out, int H, float eps) {
  const long long r0 = (long long)blockIdx.x * H;
  rms_norm_wide_core<RES_PER_THREAD>([&](int c) { return b ? a[r0 + c] + b[r0 + c] : a[r0 + c]; }, h, w, out, H, eps);
}

// The embedding and the first layer's RMSNorm in one kernel: h = table[ids[r]] (bf16 when isBf16, else float32;
// written: the residual), out = w * h / sqrt(mean(h^2) + eps); the values of embed_rows then add_rms_norm_wide
// (no b). At batch 1 this saves a launch boundary at the start of every decode step; in a graph of several steps
// it launches during the previous step's argmax, which writes ids. grid: rows; block 1024.
extern "C" __global__ void PDL embed_rms_norm_wide(const void* table, int isBf16, const int* ids, float* h, const float* w, float* out, int H, float eps) {
  rms_norm_wide_core<RES_PER_THREAD>(
      [&](int c) {
        const long long at = (long long)ids[blockIdx.x] * H + c;  // the same address for every j: loaded once
        return isBf16 ? bf2f(((const bf16*)table)[at]) : ((const float*)table)[at];
      },
      h, w, out, H, eps);
}
