// ssm.cuh: pieces of the Mamba-2 scan shared by ssm.cu and mamba_step.cu.
#pragma once
#include "common.cuh"

__device__ __forceinline__ float2 f2(float a, float b) {
  float2 r;
  r.x = a;
  r.y = b;
  return r;
}

// (dt, exp(dt A)) with dt = clamp(softplus(raw + bias), dtMin, dtMax) (model-spec 3.4)
__device__ __forceinline__ float2 dt_decay(float raw, float bias, float A, float dtMin, float dtMax) {
  float dv = softplus(raw + bias);
  dv = fminf(fmaxf(dv, dtMin), dtMax);
  return f2(dv, expf(dv * A));
}

// One step of a reduce-scatter over the lanes: v[0..2 O) -> v[0..O). A lane with bit O set keeps v[O..2 O), the
// partner (lane ^ O) keeps v[0..O); each adds the other's part of the values it keeps. After the steps O = 16 .. 1
// lane l holds in v[0] the warp's sum of value l.
template <int O>
__device__ __forceinline__ void butterfly(float* v, int lane) {
  const bool up = (lane & O) != 0;
#pragma unroll
  for (int k = 0; k < O; k++) {
    const float send = up ? v[k] : v[k + O];
    const float keep = up ? v[k + O] : v[k];
    v[k] = keep + __shfl_xor_sync(FULL_MASK, send, O);
  }
}

// The inverse RMS of norm group g from its heads' sums of squares (partialRow[heads]), summed in head order as
// mamba_step's last block sums them.
__device__ __forceinline__ float ms_group_inv(const float* partialRow, int g, int hpg, int gs, float eps) {
  const float* pg = partialRow + g * hpg;
  float v[8];  // the first 8 loads in flight together: one round trip at up to 8 heads per group
#pragma unroll
  for (int k = 0; k < 8; k++) v[k] = k < hpg ? __ldcg(pg + k) : 0.f;
  float tot = 0.f;
#pragma unroll
  for (int k = 0; k < 8; k++) if (k < hpg) tot += v[k];
  for (int k = 8; k < hpg; k++) tot += __ldcg(pg + k);
  return 1.f / sqrtf(tot / gs + eps);
}

// Shifts the conv state of B/C channel t (t < 2 x 128: group g's B channel g 128 + t, or its C channel) of one row
// by a step, as mamba_step's last block does: the window drops its oldest value and takes this step's input
// (projRow: the row's in_proj output z | xBC | dt; cs: the row's conv state [convDim, Km]).
__device__ __forceinline__ void ms_shift_bc(const float* projRow, float* cs, int dInner, int g, int groups, int Km, int t) {
  if (t >= 256) return;
  const int c = dInner + (t < 128 ? g * 128 + t : groups * 128 + g * 128 + (t - 128));  // xBC channel
  float* w = cs + (long long)c * Km;
  const float v = projRow[dInner + c];
  float old[7];  // Km <= 7
#pragma unroll
  for (int j = 0; j < 6; j++) if (j < Km - 1) old[j] = __ldcg(w + j + 1);
#pragma unroll
  for (int j = 0; j < 6; j++) if (j < Km - 1) w[j] = old[j];
  w[Km - 1] = v;
}
