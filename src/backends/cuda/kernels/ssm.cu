// ssm.cu: Mamba-2 selective scan, exact recurrence (model-spec 3.4-3.5), float32 state, one token at a time.
// Block = (16 rows of head_dim p, head h, segment s); 4 warps x 4 rows; lane owns state columns n = lane + 32 j
// (state size <= 128). Per token: S = a S + dt x B^T, y = S C + D x. The state stays in registers for the
// whole segment and is written back once. Decode is the same kernel with one token per segment.
#include "common.cuh"

#define ROWS 4
#define COLS 4

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
    float dv = softplus(dtRaw[t * lddt + h] + bias);
    dv = fminf(fmaxf(dv, dtMin), dtMax);
    const float a = expf(dv * A);
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
      const float dx = dv * xv;
      float acc = 0.f;
#pragma unroll
      for (int j = 0; j < COLS; j++) {
        st[r][j] = a * st[r][j] + dx * bv[j];
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
