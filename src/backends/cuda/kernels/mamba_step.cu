// mamba_step.cu: one Mamba-2 decode step of the mixer core in one launch: causal conv + SiLU with the conv-state
// shift (as conv_step), the selective-scan step (as ssm_step_n128), and the gated grouped RMSNorm (as
// gated_rms_norm_v4). At batch 1 the three kernels were each a few microseconds of launch latency and memory
// round trips per Mamba layer (23 per token); fused, a layer pays one launch and about three dependent round trips.
#include "common.cuh"
#include "ssm.cuh"  // dt_decay, butterfly

#define MS_MAX_K 8  // conv kernel width
#define MS_ROWS 8   // state rows per warp: head dim <= 8 warps x 8 rows

// Block (h, s): head h of decode row s (token s, sequence s). proj [N, dInner + convDim + heads] = z | xBC | dt,
// row stride ld; convDim = dInner + 2 groups 128 (xBC = x | B | C); state size 128; head dim P <= 64; the norm
// groups are the SSM groups (normGroupSize = heads / groups * P).
// 1. conv: thread t owns B/C channel t of the head's group (t < 128: B, else C: 2 x 128 = the 256 threads) and,
//    when t < P, x channel h P + t. Every head-block of a group recomputes the group's B and C from the OLD conv
//    state; each shifts the state of its own x channels only.
// 2. scan: warp w owns state rows p = 8 r + w (r < 8), lane l the columns 4 l .. 4 l + 3; the rows are loaded
//    right after pdl_wait, so their round trip overlaps the conv's. y of the 8 rows: one 8-value reduce-scatter.
// 3. g = y silu(z) goes to out, the head's sum of g^2 to partial[s, h]; then a ticket per (row, group): the last
//    head-block of the group sums the partials in head order (deterministic), normalises the group's channels in
//    out, shifts the group's B/C conv state (only now has every head-block read the old values) and resets the
//    ticket for the next launch (graph replay). Other blocks' data is read with __ldcg (L2, not a stale L1).
// early: the weights are float32 copies that finished before this step's predecessor, so they may be loaded
// before pdl_wait (otherwise after it: a copy made in this step may still be in flight).
// tickets: [N, groups] ints, zero between launches. grid: (heads, N); block 256.
extern "C" __global__ void PDL __launch_bounds__(256) mamba_step(
    const float* proj, int ld, const float* convW, const float* convB, const float* aLog, const float* Dv, const float* dtBias,
    const float* normW, float* out, float* partial, int* tickets, int heads, int P, int groups, int K, float dtMin, float dtMax,
    float eps, int early, const u64* convStates, const u64* ssmStates) {
  __shared__ __align__(16) float sB[128];
  __shared__ __align__(16) float sC[128];
  __shared__ float sX[64], sZ[64], sG[64];  // x after conv, silu(z), g = y silu(z) of the head's channels
  __shared__ int sLast;
  pdl_launch_early();
  const int h = blockIdx.x, s = blockIdx.y, tid = threadIdx.x, lane = tid & 31, warp = tid >> 5;
  const int hpg = heads / groups, g = h / hpg, dInner = heads * P, gn = groups * 128;
  const int convDim = dInner + 2 * gn, gs = hpg * P, Km = K - 1;
  const int cBC = dInner + (tid < 128 ? g * 128 + tid : gn + g * 128 + (tid - 128));  // xBC channel
  const int cX = h * P + tid;
  const bool hasX = tid < P;

  float wBC[MS_MAX_K - 1], wX[MS_MAX_K - 1];  // taps on the state (oldest first)
  float wBCl, wXl, bBC, bX, A, Dh, dtB;       // tap on the new input, biases, head parameters
  auto loadWeights = [&]() {
#pragma unroll
    for (int j = 0; j < MS_MAX_K - 1; j++) {
      if (j < Km) {
        wBC[j] = convW[cBC * K + j];
        wX[j] = hasX ? convW[cX * K + j] : 0.f;
      }
    }
    wBCl = convW[cBC * K + Km];
    wXl = hasX ? convW[cX * K + Km] : 0.f;
    bBC = convB ? convB[cBC] : 0.f;
    bX = convB && hasX ? convB[cX] : 0.f;
    A = -expf(aLog[h]);
    Dh = Dv[h];
    dtB = dtBias[h];
  };
  if (early) {
    loadWeights();
    prefetch_l1(normW + g * gs, (long long)gs * 4, tid, 256);  // the group's norm weight: the last block's read
  }
  // The states are read before pdl_wait: the state pointers are step metadata (uploaded before the step), and the
  // states were last written by this layer's previous step, two or more launches back, which every PDL kernel's
  // wait-before-launch order has completed (see common.cuh). Through L2 (__ldcg): an SM's L1 may hold older lines.
  // Every load is issued before the first use; out-of-range ones are clamped to a valid address, their values
  // ignored, so that no branch separates the loads.
  float4* S = (float4*)((float*)ssmStates[s] + (long long)h * P * 128) + lane;  // row p at S[32 p]
  float4 st[MS_ROWS];
#pragma unroll
  for (int r = 0; r < MS_ROWS; r++) st[r] = __ldcg(S + 32 * min(8 * r + warp, P - 1));
  float* cs = (float*)convStates[s];  // [convDim, K-1]
  const int cXv = hasX ? cX : h * P;  // a valid x channel for the idle threads
  float winBC[MS_MAX_K - 1], winX[MS_MAX_K - 1];
#pragma unroll
  for (int j = 0; j < MS_MAX_K - 1; j++) {
    winBC[j] = __ldcg(cs + (long long)cBC * Km + min(j, Km - 1));
    winX[j] = __ldcg(cs + (long long)cXv * Km + min(j, Km - 1));
  }
  pdl_wait();
  if (!early) loadWeights();
  pdl_launch();

  const float* row = proj + (long long)s * ld;  // this step's in_proj output: after the wait
  const float vBC = row[dInner + cBC];
  const float vX = row[dInner + cXv];
  const float zv = row[cXv];
  const float dtRaw = row[dInner + convDim + h];

  // 1. conv (same summation order as conv_step)
  float acc = bBC;
#pragma unroll
  for (int j = 0; j < MS_MAX_K - 1; j++) if (j < Km) acc += wBC[j] * winBC[j];
  acc += wBCl * vBC;
  if (tid < 128) sB[tid] = silu(acc);
  else sC[tid - 128] = silu(acc);
  if (hasX) {
    float ax = bX;
#pragma unroll
    for (int j = 0; j < MS_MAX_K - 1; j++) if (j < Km) ax += wX[j] * winX[j];
    ax += wXl * vX;
    sX[tid] = silu(ax);
    sZ[tid] = silu(zv);
  }
  const float2 da = dt_decay(dtRaw, dtB, A, dtMin, dtMax);
  __syncthreads();
  TRACE_MARK(0);  // the in_proj row read, the conv done

  // 2. scan step (as ssm_step_n128)
  const float4 bv = ((const float4*)sB)[lane];
  const float4 cv = ((const float4*)sC)[lane];
  float v[MS_ROWS];
#pragma unroll
  for (int r = 0; r < MS_ROWS; r++) {
    const int p = 8 * r + warp;
    v[r] = 0.f;
    if (p < P) {
      const float dx = da.x * sX[p];
      float4 ns;
      ns.x = fmaf(da.y, st[r].x, dx * bv.x);
      ns.y = fmaf(da.y, st[r].y, dx * bv.y);
      ns.z = fmaf(da.y, st[r].z, dx * bv.z);
      ns.w = fmaf(da.y, st[r].w, dx * bv.w);
      st[r] = ns;  // stored after the ticket (see below)
      v[r] = fmaf(ns.x, cv.x, ns.y * cv.y) + fmaf(ns.z, cv.z, ns.w * cv.w);
    }
  }
  butterfly<4>(v, lane);
  butterfly<2>(v, lane);
  butterfly<1>(v, lane);
  v[0] += __shfl_xor_sync(FULL_MASK, v[0], 8);
  v[0] += __shfl_xor_sync(FULL_MASK, v[0], 16);
  float* orow = out + (long long)s * dInner;
  if (lane < MS_ROWS) {
    const int p = 8 * lane + warp;  // lane l holds y of row r = l
    if (p < P) {
      const float gv = (v[0] + Dh * sX[p]) * sZ[p];
      sG[p] = gv;
      orow[h * P + p] = gv;
    }
  }
  __syncthreads();

  // 3. gated norm: the head's sum of squares, then the group's last block normalises
  if (warp == 0) {
    float q = 0.f;
    for (int p = lane; p < P; p += 32) q += sG[p] * sG[p];
    q = warp_sum(q);
    if (lane == 0) partial[(long long)s * heads + h] = q;
  }
  __threadfence();
  __syncthreads();
  int* ticket = tickets + s * groups + g;
  TRACE_MARK(1);  // the scan done, y stored and fenced
  if (tid == 0) sLast = atomicAdd(ticket, 1) == hpg - 1;
  __syncthreads();
  TRACE_MARK(2);  // the ticket back
  // this head's new SSM state and x conv state, stored only now: no one reads them before the next step, and before
  // the ticket the __threadfence above would have waited for them too
#pragma unroll
  for (int r = 0; r < MS_ROWS; r++) {
    const int p = 8 * r + warp;
    if (p < P) S[32 * p] = st[r];
  }
  if (hasX) {
    float* sx = cs + (long long)cX * Km;
#pragma unroll
    for (int j = 0; j < MS_MAX_K - 2; j++) if (j < Km - 1) sx[j] = winX[j + 1];
    sx[Km - 1] = vX;
  }
  if (!sLast) return;
  __threadfence();
  float* og = orow + g * gs;
  const float* wg = normW + g * gs;
  float ov[4], wv[4];
  auto loadGroup = [&](int base) {
#pragma unroll
    for (int k = 0; k < 4; k++) {
      const int j = base + k * 256 + tid;
      if (j < gs) {
        ov[k] = __ldcg(og + j);
        wv[k] = wg[j];
      }
    }
  };
  loadGroup(0);  // issued with the partials' loads: one round trip, not two
  float tot = 0.f;
  for (int k = 0; k < hpg; k++) tot += __ldcg(partial + (long long)s * heads + g * hpg + k);
  const float inv = 1.f / sqrtf(tot / gs + eps);
  for (int base = 0; base < gs; base += 4 * 256) {
    if (base) loadGroup(base);
#pragma unroll
    for (int k = 0; k < 4; k++) {
      const int j = base + k * 256 + tid;
      if (j < gs) og[j] = wv[k] * ov[k] * inv;
    }
  }
  float* sbc = cs + (long long)cBC * Km;
#pragma unroll
  for (int j = 0; j < MS_MAX_K - 2; j++) if (j < Km - 1) sbc[j] = winBC[j + 1];
  sbc[Km - 1] = vBC;
  if (tid == 0) *ticket = 0;
}
