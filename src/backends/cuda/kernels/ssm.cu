// ssm.cu: Mamba-2 selective scan, exact recurrence (model-spec 3.4-3.5), float32 state, token by token:
// S = a S + dt x B^T, y = S C + D x, a = exp(dt A). Three kernels:
// - ssm_scan_n128 (prefill, state size 128, head dim % 32 == 0): dt, x, B, C staged in shared memory 16 tokens
//   ahead (cp.async, double-buffered), so a token step is shared-memory loads and the state FMAs only; the
//   y = S C sums are reduced across lanes once per 8 tokens, off the recurrence path.
// - ssm_step_n128 (decode, every segment one token, state size 128): one warp per state row, 16-byte accesses.
// - ssm_scan: any shape with state size <= 128 (tiny models, unaligned views).
#include "common.cuh"
#include "ssm.cuh"

// ---- cp.async (sm_80+; plain copies elsewhere) ------------------------------------------------------------

__device__ __forceinline__ void cp_async16(float* dst, const float* src) {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  u32 sa;
  asm volatile("{ .reg .u64 a; cvta.to.shared.u64 a, %1; cvt.u32.u64 %0, a; }" : "=r"(sa) : "l"(dst));
  asm volatile("cp.async.cg.shared.global [%0], [%1], 16;" ::"r"(sa), "l"(src) : "memory");
#else
  *(float4*)dst = *(const float4*)src;
#endif
}

__device__ __forceinline__ void cp_async_commit() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.commit_group;" ::: "memory");
#endif
}

// waits until at most N of this thread's committed groups are still in flight
template <int N>
__device__ __forceinline__ void cp_async_wait() {
#if defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 800
  asm volatile("cp.async.wait_group %0;" ::"n"(N) : "memory");
#endif
}

__device__ __forceinline__ void zero4(float* dst) {
  float4 z;
  z.x = z.y = z.z = z.w = 0.f;
  *(float4*)dst = z;
}

// ---- prefill: state size 128 -------------------------------------------------------------------------------

#define SCAN_T 16  // tokens per staged chunk (two buffers: 36 KB of shared memory)
#define SCAN_R 8   // tokens per y reduction

// Block = 32 state rows (p) of head h of segment s, 8 warps; warp w owns rows 4w..4w+3 (r < 4), lane l owns state
// columns n = 4l..4l+3 of those rows: 16 state values in registers. A token step reads 14 floats per lane from
// shared memory (B, C: one float4 each, all lanes distinct; x of the 4 rows and (dt, a): one address for the whole
// warp) for 52 multiplies and FMAs, so the shared-memory return path (128 bytes per cycle) keeps up with the FMA
// pipes. y[p] is a sum over the 32 lanes: each lane keeps its parts of y for 8 tokens x 4 rows (32 values), and a
// butterfly over the warp (31 shuffles per 8 tokens, instead of 5 per row and token) leaves lane l with the sum of
// value l = token l / 4, row l % 4, which it writes. Padding tokens past the segment's end have dt = 0, a = 1,
// x = B = C = 0: the state goes through them unchanged. grid: (P / 32, heads, segments); block 256.
extern "C" __global__ void __launch_bounds__(256, 2) ssm_scan_n128(
    const float* x, int ldx, const float* dtRaw, int lddt, const float* Bm, int ldb, const float* Cm, int ldc,
    const float* aLog, const float* Dv, const float* dtBias, float* y, int heads, int P, int groups,
    float dtMin, float dtMax, const int* segStart, const int* segLen, const u64* states) {
  __shared__ __align__(16) float sB[2][SCAN_T][128];
  __shared__ __align__(16) float sC[2][SCAN_T][128];
  __shared__ __align__(16) float sX[2][SCAN_T][32];
  __shared__ float2 sDA[2][SCAN_T];  // (dt, a) per token
  const int s = blockIdx.z, h = blockIdx.y, tid = threadIdx.x;
  const int lane = tid & 31, r0 = (tid >> 5) * 4;  // the warp's first row within the block's 32
  const int p0 = blockIdx.x * 32 + r0;
  const int g = h / (heads / groups);
  const long long start = segStart[s];
  const int len = segLen[s];
  const float A = -expf(aLog[h]);
  const float Dh = Dv[h];
  const float bias = dtBias[h];
  const float* Bg = Bm + g * 128;
  const float* Cg = Cm + g * 128;
  const float* xg = x + h * P + blockIdx.x * 32;
  const long long yw = (long long)heads * P;
  float* S = (float*)states[s] + ((long long)h * P + p0) * 128 + 4 * lane;
  float4 st[4];  // st[r] = state row p0 + r, columns 4 lane .. 4 lane + 3
#pragma unroll
  for (int r = 0; r < 4; r++) st[r] = *(const float4*)(S + 128 * r);

  // B, C and x rows of chunk c into buffer b (cp.async; zeros past the segment's end)
  auto stage = [&](int c, int b) {
    const int base = c * SCAN_T;
#pragma unroll
    for (int k = tid; k < SCAN_T * 32; k += 256) {
      const int i = k >> 5, f = (k & 31) * 4;
      if (base + i < len) {
        const long long t = start + base + i;
        cp_async16(&sB[b][i][f], Bg + t * ldb + f);
        cp_async16(&sC[b][i][f], Cg + t * ldc + f);
      } else {
        zero4(&sB[b][i][f]);
        zero4(&sC[b][i][f]);
      }
    }
    if (tid < SCAN_T * 8) {
      const int i = tid >> 3, f = (tid & 7) * 4;
      if (base + i < len) cp_async16(&sX[b][i][f], xg + (start + base + i) * ldx + f);
      else zero4(&sX[b][i][f]);
    }
  };
  // dt of chunk c: threads 0..SCAN_T-1 (warp 0), one token each; the raw value is loaded one chunk ahead
  const bool dtLane = tid < SCAN_T;
  auto rawDt = [&](int c) -> float {
    const int i = c * SCAN_T + tid;
    return i < len ? dtRaw[(start + i) * lddt + h] : 0.f;
  };
  auto putDt = [&](int c, int b, float raw) {
    sDA[b][tid] = c * SCAN_T + tid < len ? dt_decay(raw, bias, A, dtMin, dtMax) : f2(0.f, 1.f);
  };

  const int chunks = (len + SCAN_T - 1) / SCAN_T;
  float rawNext = 0.f;
  if (chunks > 0) {
    stage(0, 0);
    cp_async_commit();
    if (dtLane) {
      putDt(0, 0, rawDt(0));
      rawNext = rawDt(1);
    }
  }
  for (int c = 0; c < chunks; c++) {
    const int b = c & 1;
    // buffer b ^ 1 was last read in iteration c - 1, which ended with a barrier
    if (c + 1 < chunks) {
      stage(c + 1, b ^ 1);
      cp_async_commit();
      if (dtLane) {
        putDt(c + 1, b ^ 1, rawNext);
        rawNext = rawDt(c + 2);
      }
      cp_async_wait<1>();  // chunk c landed (c + 1 may still be in flight)
    } else {
      cp_async_wait<0>();
    }
    __syncthreads();
#pragma unroll
    for (int half = 0; half < SCAN_T / SCAN_R; half++) {
      float v[SCAN_R * 4];  // v[4 k + r]: this lane's part of y for token half * SCAN_R + k, row p0 + r
#pragma unroll
      for (int k = 0; k < SCAN_R; k++) {
        const int i = half * SCAN_R + k;
        const float2 da = sDA[b][i];
        const float4 xv = *(const float4*)&sX[b][i][r0];
        const float4 bv = *(const float4*)&sB[b][i][4 * lane];
        const float4 cv = *(const float4*)&sC[b][i][4 * lane];
        const float dx[4] = {da.x * xv.x, da.x * xv.y, da.x * xv.z, da.x * xv.w};
#pragma unroll
        for (int r = 0; r < 4; r++) {
          st[r].x = fmaf(da.y, st[r].x, dx[r] * bv.x);
          st[r].y = fmaf(da.y, st[r].y, dx[r] * bv.y);
          st[r].z = fmaf(da.y, st[r].z, dx[r] * bv.z);
          st[r].w = fmaf(da.y, st[r].w, dx[r] * bv.w);
          v[4 * k + r] = fmaf(st[r].w, cv.w, fmaf(st[r].z, cv.z, fmaf(st[r].y, cv.y, st[r].x * cv.x)));
        }
      }
      butterfly<16>(v, lane);
      butterfly<8>(v, lane);
      butterfly<4>(v, lane);
      butterfly<2>(v, lane);
      butterfly<1>(v, lane);
      const int i = half * SCAN_R + (lane >> 2), r = lane & 3;  // v[0] is y of token i, row p0 + r
      if (c * SCAN_T + i < len) y[(start + c * SCAN_T + i) * yw + h * P + p0 + r] = v[0] + Dh * sX[b][i][r0 + r];
    }
    __syncthreads();
  }
#pragma unroll
  for (int r = 0; r < 4; r++) *(float4*)(S + 128 * r) = st[r];
}

// ---- decode: one token per segment, state size 128 --------------------------------------------------------

// Warp = one state row p of head h (lane owns n = 4 lane .. 4 lane + 3); token = segStart[s].
// grid: (ceil(P / 8), heads, segments); block 256.
extern "C" __global__ void __launch_bounds__(256) ssm_step_n128(
    const float* x, int ldx, const float* dtRaw, int lddt, const float* Bm, int ldb, const float* Cm, int ldc,
    const float* aLog, const float* Dv, const float* dtBias, float* y, int heads, int P, int groups,
    float dtMin, float dtMax, const int* segStart, const u64* states) {
  const int s = blockIdx.z, h = blockIdx.y, lane = threadIdx.x & 31;
  const int p = blockIdx.x * 8 + (threadIdx.x >> 5);
  if (p >= P) return;
  float4* S = (float4*)((float*)states[s] + ((long long)h * P + p) * 128) + lane;
  const float4 sv = *S;
  const long long t = segStart[s];
  const int g = h / (heads / groups);
  const float4 bv = ((const float4*)(Bm + t * ldb + g * 128))[lane];
  const float4 cv = ((const float4*)(Cm + t * ldc + g * 128))[lane];
  const float xv = x[t * ldx + h * P + p];
  const float2 da = dt_decay(dtRaw[t * lddt + h], dtBias[h], -expf(aLog[h]), dtMin, dtMax);
  const float dx = da.x * xv;
  float4 ns;
  ns.x = fmaf(da.y, sv.x, dx * bv.x);
  ns.y = fmaf(da.y, sv.y, dx * bv.y);
  ns.z = fmaf(da.y, sv.z, dx * bv.z);
  ns.w = fmaf(da.y, sv.w, dx * bv.w);
  *S = ns;
  float acc = fmaf(ns.x, cv.x, ns.y * cv.y) + fmaf(ns.z, cv.z, ns.w * cv.w);
  acc = warp_sum(acc);
  if (lane == 0) y[t * heads * P + h * P + p] = acc + Dv[h] * xv;
}

// ---- general: any state size <= 128 ------------------------------------------------------------------------

#define ROWS 4
#define COLS 4

// Block = (16 rows of head_dim p, head h, segment s); 4 warps x 4 rows; lane owns state columns n = lane + 32 j.
// The state stays in registers for the whole segment and is written back once.
// grid: (ceil(P / 16), heads, segments); block 128.
extern "C" __global__ void __launch_bounds__(128) ssm_scan(
    const float* x, int ldx, const float* dtRaw, int lddt, const float* Bm, int ldb, const float* Cm, int ldc,
    const float* aLog, const float* Dv, const float* dtBias, float* y, int heads, int P, int Nst, int groups,
    float dtMin, float dtMax, const int* segStart, const int* segLen, const u64* states) {
  const int s = blockIdx.z, h = blockIdx.y;
  const int warp = threadIdx.x >> 5, lane = threadIdx.x & 31;
  const int p0 = blockIdx.x * 16 + warp * ROWS;
  if (p0 >= P) return;  // whole warp idle (no block-level sync below)
  const int g = h / (heads / groups);
  float* S = (float*)states[s] + (long long)h * P * Nst;
  const float A = -expf(aLog[h]);
  const float Dh = Dv[h];
  const float bias = dtBias[h];
  float st[ROWS][COLS];
#pragma unroll
  for (int r = 0; r < ROWS; r++)
#pragma unroll
    for (int j = 0; j < COLS; j++) {
      const int p = p0 + r, n = lane + 32 * j;
      st[r][j] = (p < P && n < Nst) ? S[(long long)p * Nst + n] : 0.f;
    }
  const long long start = segStart[s];
  const int len = segLen[s];
  const long long yw = (long long)heads * P;
  for (int i = 0; i < len; i++) {
    const long long t = start + i;
    const float2 da = dt_decay(dtRaw[t * lddt + h], bias, A, dtMin, dtMax);
    float bv[COLS], cv[COLS];
#pragma unroll
    for (int j = 0; j < COLS; j++) {
      const int n = lane + 32 * j;
      bv[j] = n < Nst ? Bm[t * ldb + g * Nst + n] : 0.f;
      cv[j] = n < Nst ? Cm[t * ldc + g * Nst + n] : 0.f;
    }
#pragma unroll
    for (int r = 0; r < ROWS; r++) {
      const int p = p0 + r;
      const float xv = p < P ? x[t * ldx + h * P + p] : 0.f;
      const float dx = da.x * xv;
      float acc = 0.f;
#pragma unroll
      for (int j = 0; j < COLS; j++) {
        st[r][j] = da.y * st[r][j] + dx * bv[j];
        acc += st[r][j] * cv[j];
      }
      acc = warp_sum(acc);
      if (lane == 0 && p < P) y[t * yw + h * P + p] = acc + Dh * xv;
    }
  }
#pragma unroll
  for (int r = 0; r < ROWS; r++)
#pragma unroll
    for (int j = 0; j < COLS; j++) {
      const int p = p0 + r, n = lane + 32 * j;
      if (p < P && n < Nst) S[(long long)p * Nst + n] = st[r][j];
    }
}
