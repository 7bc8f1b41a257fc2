// norm.cu: RMSNorm over the last dim, and Mamba-2's gated grouped RMSNorm (model-spec 3.7).
#include "common.cuh"

// out[r] = w * x[r] / sqrt(mean(x[r]^2) + eps). grid: rows; block 256.
extern "C" __global__ void rms_norm(const float* x, int ldx, const float* w, float* out, int H, float eps) {
  __shared__ float sh[32];
  const float* xr = x + (long long)blockIdx.x * ldx;
  float ss = 0.f;
  for (int j = threadIdx.x; j < H; j += blockDim.x) ss += xr[j] * xr[j];
  ss = block_sum(ss, sh);
  const float inv = 1.f / sqrtf(ss / H + eps);
  float* o = out + (long long)blockIdx.x * H;
  for (int j = threadIdx.x; j < H; j += blockDim.x) o[j] = w[j] * (xr[j] * inv);
}

// v = y * silu(z); each group of `gs` channels normalised by its own RMS; times w. grid: (width / gs, rows).
extern "C" __global__ void gated_rms_norm(const float* y, int ldy, const float* z, int ldz, const float* w, float* out, int width, int gs, float eps) {
  __shared__ float sh[32];
  const long long r = blockIdx.y;
  const int g0 = blockIdx.x * gs;
  const float* yr = y + r * ldy + g0;
  const float* zr = z + r * ldz + g0;
  float ss = 0.f;
  for (int j = threadIdx.x; j < gs; j += blockDim.x) {
    const float v = yr[j] * silu(zr[j]);
    ss += v * v;
  }
  ss = block_sum(ss, sh);
  const float inv = 1.f / sqrtf(ss / gs + eps);
  float* o = out + r * width + g0;
  for (int j = threadIdx.x; j < gs; j += blockDim.x) o[j] = w[g0 + j] * (yr[j] * silu(zr[j])) * inv;
}

// The same with one float4 per thread, read once and kept in registers: block = gs / 4 threads (gs % 128 == 0,
// gs <= 4096; 16-byte aligned rows of y, z, w, out). A decode step has one row: one load round trip, one block
// reduction, one store. grid: (width / gs, rows).
extern "C" __global__ void gated_rms_norm_v4(const float* y, int ldy, const float* z, int ldz, const float* w, float* out, int width, int gs, float eps) {
  __shared__ float sh[32];
  const long long r = blockIdx.y;
  const int c = blockIdx.x * gs + 4 * threadIdx.x;
  const float4 yv = *(const float4*)(y + r * ldy + c);
  const float4 zv = *(const float4*)(z + r * ldz + c);
  const float4 wv = *(const float4*)(w + c);
  const float v0 = yv.x * silu(zv.x), v1 = yv.y * silu(zv.y), v2 = yv.z * silu(zv.z), v3 = yv.w * silu(zv.w);
  const float ss = block_sum(v0 * v0 + v1 * v1 + v2 * v2 + v3 * v3, sh);
  const float inv = 1.f / sqrtf(ss / gs + eps);
  float4 o;
  o.x = wv.x * v0 * inv;
  o.y = wv.y * v1 * inv;
  o.z = wv.z * v2 * inv;
  o.w = wv.w * v3 * inv;
  *(float4*)(out + r * width + c) = o;
}

// The residual add fused into the RMSNorm that follows it: h = a + b (written out: the next residual), then
// out = w * h / sqrt(mean(h^2) + eps). Same float32 values and summation order as add_f32 then rms_norm.
// a, b, h, out: [rows, H] contiguous. grid: rows; block 256.
extern "C" __global__ void add_rms_norm(const float* a, const float* b, float* h, const float* w, float* out, int H, float eps) {
  __shared__ float sh[32];
  const long long r0 = (long long)blockIdx.x * H;
  float ss = 0.f;
  for (int j = threadIdx.x; j < H; j += blockDim.x) {
    const float v = a[r0 + j] + b[r0 + j];
    h[r0 + j] = v;
    ss += v * v;
  }
  ss = block_sum(ss, sh);
  const float inv = 1.f / sqrtf(ss / H + eps);
  for (int j = threadIdx.x; j < H; j += blockDim.x) out[r0 + j] = w[j] * (h[r0 + j] * inv);
}
