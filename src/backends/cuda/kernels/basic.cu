// basic.cu: embedding lookup, elementwise ops, row gather/copy, dtype conversions, random fill, row argmax.
#include "common.cuh"

// out[r, :] = table[ids[r], :]; table is bf16 (isBf16 = 1) or f32. grid: rows.
// PDL: in a graph of several decode steps it launches during the previous step's argmax (which writes `ids`).
extern "C" __global__ void PDL embed_rows(const void* table, int isBf16, const int* ids, float* out, int H) {
  pdl_wait();
  pdl_launch();
  const long long id = ids[blockIdx.x];
  float* o = out + (long long)blockIdx.x * H;
  if (isBf16) {
    const bf16* t = (const bf16*)table + id * H;
    for (int j = threadIdx.x; j < H; j += blockDim.x) o[j] = bf2f(t[j]);
  } else {
    const float* t = (const float*)table + id * H;
    for (int j = threadIdx.x; j < H; j += blockDim.x) o[j] = t[j];
  }
}

extern "C" __global__ void add_f32(const float* a, const float* b, float* out, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) out[i] = a[i] + b[i];
}

extern "C" __global__ void add_bias_f32(const float* x, const float* b, float* out, long long n, int cols) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) out[i] = x[i] + b[i % cols];
}

extern "C" __global__ void relu2_f32(const float* x, float* out, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const float v = x[i] > 0.f ? x[i] : 0.f;
    out[i] = v * v;
  }
}

// out[i, :] = x[rows[i], :]. grid: output rows.
extern "C" __global__ void gather_rows_f32(const float* x, int ldx, const int* rows, float* out, int D) {
  const float* src = x + (long long)rows[blockIdx.x] * ldx;
  float* dst = out + (long long)blockIdx.x * D;
  for (int j = threadIdx.x; j < D; j += blockDim.x) dst[j] = src[j];
}

// Strided 2-D copy (materialises a column view). grid: (ceil(cols/256), rows).
extern "C" __global__ void copy2d_f32(const float* src, int lds, float* dst, int ldd, int cols) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j < cols) dst[(long long)blockIdx.y * ldd + j] = src[(long long)blockIdx.y * lds + j];
}

// f32 [rows, cols] (row stride lds) -> bf16 hi (and lo = bf16(x - hi) when lo != 0), contiguous.
// hi + lo carries ~16 mantissa bits: two bf16 GEMMs then match a float32-activation product (precise mode).
extern "C" __global__ void to_bf16_split(const float* src, int lds, bf16* hi, bf16* lo, int cols) {
  const int j = blockIdx.x * blockDim.x + threadIdx.x;
  if (j >= cols) return;
  const float v = src[(long long)blockIdx.y * lds + j];
  const bf16 h = f2bf(v);
  const long long o = (long long)blockIdx.y * cols + j;
  hi[o] = h;
  if (lo) lo[o] = f2bf(v - bf2f(h));
}

extern "C" __global__ void bf16_to_f32(const bf16* src, float* dst, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) dst[i] = bf2f(src[i]);
}

extern "C" __global__ void f32_to_i32(const float* src, int* dst, long long n) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) dst[i] = (int)src[i];
}

// Deterministic uniform values in [lo, hi) from a counter hash (random-weights mode); bf16 or f32 output.
__device__ __forceinline__ u32 hash32(u64 x) {
  x ^= x >> 33; x *= 0xff51afd7ed558ccdull; x ^= x >> 33; x *= 0xc4ceb9fe1a85ec53ull; x ^= x >> 33;
  return (u32)x;
}
extern "C" __global__ void rand_fill(void* p, int isBf16, long long n, u32 seed, float lo, float hi) {
  for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
    const float u = (hash32(((u64)seed << 40) ^ (u64)i) >> 8) * (1.f / 16777216.f);
    const float v = lo + (hi - lo) * u;
    if (isBf16) ((bf16*)p)[i] = f2bf(v); else ((float*)p)[i] = v;
  }
}

// out[r] = argmax_j x[r, j] (first index on ties); also into out2[r] unless out2 is null (a decode graph of several
// steps keeps each step's ids there). grid: rows, block 256.
extern "C" __global__ void argmax_rows(const float* x, int cols, int* out, int* out2) {
  __shared__ float sv[256];
  __shared__ int si[256];
  const float* row = x + (long long)blockIdx.x * cols;
  float best = NEG_INF;
  int bi = 0x7fffffff;
  for (int j = threadIdx.x; j < cols; j += blockDim.x) {
    const float v = row[j];
    if (v > best || (v == best && j < bi)) { best = v; bi = j; }
  }
  sv[threadIdx.x] = best;
  si[threadIdx.x] = bi;
  __syncthreads();
  for (int s = blockDim.x / 2; s > 0; s >>= 1) {
    if (threadIdx.x < s) {
      const float ov = sv[threadIdx.x + s];
      const int oi = si[threadIdx.x + s];
      if (ov > sv[threadIdx.x] || (ov == sv[threadIdx.x] && oi < si[threadIdx.x])) { sv[threadIdx.x] = ov; si[threadIdx.x] = oi; }
    }
    __syncthreads();
  }
  if (threadIdx.x == 0) {
    const int r = si[0] == 0x7fffffff ? 0 : si[0];
    out[blockIdx.x] = r;
    if (out2) out2[blockIdx.x] = r;
  }
}

// Row argmax in two passes for long rows (the LM head's 131072 logits would leave one block on one SM): pass 1,
// block (b, r) reduces columns [b * chunk, (b + 1) * chunk) of row r to (value, index) in part[r, b]; pass 2
// reduces the P parts of each row. Ties go to the first index, as argmax_rows. grid: (P, rows); block 256.
__device__ __forceinline__ void argmax_merge(float& v, int& i, float ov, int oi) {
  if (ov > v || (ov == v && oi < i)) { v = ov; i = oi; }
}
// Block (b, r)'s (value, index) over columns [b chunk, (b + 1) chunk) of row r, stored to part[r, b] by thread 0.
__device__ __forceinline__ void argmax_part(const float* x, int cols, int chunk, float* partV, int* partI) {
  __shared__ float sv[8];
  __shared__ int si[8];
  const float* row = x + (long long)blockIdx.y * cols;
  const int c0 = blockIdx.x * chunk, c1 = min(cols, c0 + chunk);
  float best = NEG_INF;
  int bi = 0x7fffffff;
  for (int j = c0 + threadIdx.x; j < c1; j += blockDim.x) argmax_merge(best, bi, row[j], j);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) argmax_merge(best, bi, __shfl_xor_sync(FULL_MASK, best, o), __shfl_xor_sync(FULL_MASK, bi, o));
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (lane == 0) { sv[warp] = best; si[warp] = bi; }
  __syncthreads();
  if (threadIdx.x == 0) {
    for (int w = 1; w < (int)(blockDim.x >> 5); w++) argmax_merge(best, bi, sv[w], si[w]);
    partV[(long long)blockIdx.y * gridDim.x + blockIdx.x] = best;
    partI[(long long)blockIdx.y * gridDim.x + blockIdx.x] = bi;
  }
}
extern "C" __global__ void PDL argmax_partial(const float* x, int cols, int chunk, float* partV, int* partI) {
  pdl_wait();
  pdl_launch();
  argmax_part(x, cols, chunk, partV, partI);
}
// argmax_partial and argmax_final in one launch: the last block of row r to store its part (a ticket in
// counter[r], reset by that block) merges the row's P parts as argmax_final does. One launch boundary fewer at the
// end of a decode step. counter: rows ints, zero between launches. grid: (P, rows); block 256.
// early = 1: the next kernel launches at this one's start (pdl_launch_early): in a graph of several decode steps the
// next step's embedding + norm, and through its own early trigger the first GEMV, become resident and load their
// weights during the LM head's tail (the next kernel must read only weights before its wait).
extern "C" __global__ void PDL argmax_rows2(const float* x, int cols, int chunk, float* partV, int* partI, int* counter, int* out, int* out2, int early) {
  __shared__ int last;
  if (early) pdl_launch_early();
  pdl_wait();
  pdl_launch();
  const long long row = blockIdx.y, P = gridDim.x;
  argmax_part(x, cols, chunk, partV, partI);
  if (threadIdx.x == 0) {
    __threadfence();  // the part thread 0 stored, before the ticket
    last = atomicAdd(counter + row, 1) == (int)P - 1;
  }
  __syncthreads();
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  if (!last || warp != 0) return;
  __threadfence();
  float best = NEG_INF;
  int bi = 0x7fffffff;
  for (int j = lane; j < P; j += 32) argmax_merge(best, bi, __ldcg(partV + row * P + j), __ldcg(partI + row * P + j));
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) argmax_merge(best, bi, __shfl_xor_sync(FULL_MASK, best, o), __shfl_xor_sync(FULL_MASK, bi, o));
  if (lane == 0) {
    const int r = bi == 0x7fffffff ? 0 : bi;
    out[row] = r;
    if (out2) out2[row] = r;
    counter[row] = 0;
  }
}

// grid: rows; block 32.
extern "C" __global__ void PDL argmax_final(const float* partV, const int* partI, int P, int* out, int* out2) {
  pdl_wait();
  pdl_launch();
  float best = NEG_INF;
  int bi = 0x7fffffff;
  for (int j = threadIdx.x; j < P; j += 32) argmax_merge(best, bi, partV[(long long)blockIdx.x * P + j], partI[(long long)blockIdx.x * P + j]);
#pragma unroll
  for (int o = 16; o > 0; o >>= 1) argmax_merge(best, bi, __shfl_xor_sync(FULL_MASK, best, o), __shfl_xor_sync(FULL_MASK, bi, o));
  if (threadIdx.x == 0) {
    const int r = bi == 0x7fffffff ? 0 : bi;
    out[blockIdx.x] = r;
    if (out2) out2[blockIdx.x] = r;  // as argmax_rows
  }
}
