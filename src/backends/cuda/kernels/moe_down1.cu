// moe_down1.cu: the tail of the batch-1 MoE block in one launch: the shared expert's and the K routed experts'
// down projections, the routing-weighted sum and the residual add,
//   out[o] = resid[o] + (routed + shared),  routed = sum_k wts[k] dot(down_{ids[k]}[o], act[Is + k I ..]) (k in
//   order), shared = sum_c dot(downS[o, c I .. (c + 1) I], act[c I ..]) (c < S = Is / I, in order),
// the association of moe_down1 + moe_combine1 + add_f32 (gemv1.cu, basic.cu). resid may be null (out = routed +
// shared) and may equal out (each output is read, then written, by one lane). clear (may be null): an int zeroed
// after pdl_wait (moe_router_up1's counter: the kernel before this one, its only reader, has finished).
//
// Work split: one warp per output o, walking its R = S + K rows of I weights (shared chunks first, then the routed
// slots) and keeping the sums in registers, so nothing goes through memory between rows. Why not finer: at the
// Nano shape (H 2688 outputs x 8 rows of 3.7 KB) a warp per output gives 2688 warps, which all fit on an H200 at
// once (132 SMs x 6 blocks x 4 warps), so every warp carries exactly 8 rows, there is no second wave, and all
// warps finish together (the tail is one row's latency). Two warps per output (5376) would not fit (about 3700
// resident warps at this register count): a partial second wave of whole outputs; splitting an output across
// blocks needs partials in memory (what moe_down1 + moe_combine1 do). Persistent: with more outputs than resident
// warps a warp walks o, o + nw, ... and the pipeline runs on across outputs.
//
// Bytes in flight: as gemv1_core, a warp issues its next row's 16-byte streaming loads before it reduces the
// current one, so one row is always in registers in flight; in addition the row PF rows further on is pulled into
// L2 with prefetch.global.L2 (no registers), so with PF = 1 about two rows (7.4 KB) per warp, 150 KB per SM, are
// on their way at 20 warps per SM. Before pdl_wait a warp loads its first shared-expert row and prefetches its
// other S - 1 (no routing needed; the previous kernel, moe_up1, is still draining); act, ids, wts and resid are
// read only after pdl_wait. act ([Is + K I] floats, 59 KB) is read through L1, shared by the SM's warps.
//
// The dot and its lane order are gemv1.cu's (dot_staged, warp_sum), so with MAXL 8 each row's dot is the value
// moe_down1_l8 writes to its partials. Needs I % 8 == 0, I <= 256 MAXL, Is == S I, K <= 32, 16-byte aligned act,
// downS and expert rows. grid: persistent, about SMs x resident blocks (ops/moe-down1.ts); block 128; no shmem.
#include "common.cuh"
#include "gemv1.cuh"  // load_row, dot_staged

// Pulls one weight row (bytes long) into L2, one 128-byte line per lane, starting at the line that holds its start.
__device__ __forceinline__ void md_prefetch_row(const bf16* w, int bytes, int lane) {
  const int head = (int)((u64)w & 127u);
  prefetch_l2((const char*)w - head, (long long)bytes + head, lane, 32);
}

template <int MAXL, int PF>
__device__ __forceinline__ void moe_down1_res_impl(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid, float* out,
                                                   int K, int S, int H, int I, int Is, int* clear) {
  const int lane = threadIdx.x & 31, wpb = blockDim.x >> 5;
  const int nw = gridDim.x * wpb;
  const int I8 = I >> 3, R = S + K;
  const int o0 = blockIdx.x * wpb + (threadIdx.x >> 5);
  // lane k < K holds routed slot k's expert base and weight (set after pdl_wait; read by shuffles)
  u64 slotBase = 0;
  float slotW = 0.f;
  // row t (< R) of output oo: shared chunk t, or routed slot t - S; only shared rows before pdl_wait
  auto rowPtr = [&](int oo, int t) -> const bf16* {
    if (t < S) return downS + (long long)oo * Is + (long long)t * I;
    return (const bf16*)__shfl_sync(FULL_MASK, slotBase, t - S) + (long long)oo * I;
  };
  // flat row f of this warp's sequence: output o0 + (f / R) nw, row f % R; prefetches rows up to f = upto
  int pfDone = 0;
  auto prefetchTo = [&](int upto) {
    for (; pfDone < upto; ) {
      const int f = ++pfDone, oo = o0 + (f / R) * nw;
      if (oo >= H) { pfDone = 0x7fffffff; return; }
      md_prefetch_row(rowPtr(oo, f % R), I * 2, lane);
    }
  };

  uint4 u[MAXL];
  const bool early = o0 < H && S > 0;
  if (early) {
    load_row<MAXL>(u, rowPtr(o0, 0), I8, lane);
    if (PF > 0) prefetchTo(S - 1);  // the other shared chunks of the first output
  }
  pdl_wait();
  pdl_launch();
  if (clear && blockIdx.x == 0 && threadIdx.x == 0) *clear = 0;  // moe_router_up1's counter: its readers are done
  if (o0 >= H) return;
  if (lane < K) {
    slotBase = downPtrs[ids[lane]];
    slotW = wts[lane];
  }
  if (!early) load_row<MAXL>(u, rowPtr(o0, 0), I8, lane);
  if (PF > 0) prefetchTo(1 + PF);
  TRACE_MARK(0);  // ids read (the first routed row needs them)

  float routed = 0.f, shared = 0.f;
  int o = o0, t = 0, f = 0;
  // the residual of the current output, loaded when the output starts (its round trip hides behind the rows)
  float rv = resid && lane == 0 ? resid[o] : 0.f;
  while (o < H) {
    const float d = dot_staged<MAXL>(u, (const float4*)(act + (t < S ? (long long)t * I : Is + (long long)(t - S) * I)), I8, lane);
    // the next row's loads go out before this row is reduced
    int on = o, tn = t + 1;
    if (tn == R) on += nw, tn = 0;
    if (on < H) {
      load_row<MAXL>(u, rowPtr(on, tn), I8, lane);
      if (PF > 0) prefetchTo(f + 1 + PF);
      if (tn == R - 1 && on + nw >= H) TRACE_MARK(2);  // the warp's last row issued
    }
    TRACE_MARK(1);  // the first row's dot done
    const float v = warp_sum(d);
    if (t < S) shared += v;
    else routed += __shfl_sync(FULL_MASK, slotW, t - S) * v;
    if (tn == 0) {
      const float moe = routed + shared;
      if (lane == 0) out[o] = resid ? rv + moe : moe;
      routed = shared = 0.f;
      if (resid && lane == 0 && on < H) rv = resid[on];  // after the store: resid may be out
    }
    o = on, t = tn, f++;
  }
}

extern "C" __global__ void PDL __launch_bounds__(128, 6) moe_down1_res_l8(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid,
                                                                       float* out, int K, int S, int H, int I, int Is, int* clear) {
  moe_down1_res_impl<8, 1>(act, ids, wts, downPtrs, downS, resid, out, K, S, H, I, Is, clear);
}
extern "C" __global__ void PDL __launch_bounds__(128, 5) moe_down1_res_l12(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid,
                                                                        float* out, int K, int S, int H, int I, int Is, int* clear) {
  moe_down1_res_impl<12, 1>(act, ids, wts, downPtrs, downS, resid, out, K, S, H, I, Is, clear);
}
// ---- the batch-1 default: each output's shared chunks in a rotated order ------------------------------------------
// moe_down1_res_l8_pf0 with output o's shared chunks taken from chunk o % S on: at each step the grid's warps read
// whole downS rows between them, where the canonical order has every warp read chunk t of its row (half of each
// 7.4 KB row, at a stride); the routed slots stay in order, so the warps read consecutive rows of one expert. DRAM
// locality counts: 2.258-2.260 against 2.265-2.268 ms per batch-1 step on an H200 (bench/cuda-decode-sweep.ts,
// session 6), and a variant that also rotated the routed slots (rows 6 apart per expert) measured 2.278. Each row's
// sum is kept in lane t (row t of the canonical order) and the output is summed in the canonical order at its end:
// the same bits as moe_down1_res_l8_pf0. Needs R = S + K <= 32. grid, block: as moe_down1_res_l8.
extern "C" __global__ void PDL __launch_bounds__(128, 6) moe_down1_res_l8_rots(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid,
                                                                            float* out, int K, int S, int H, int I, int Is, int* clear) {
  constexpr int MAXL = 8;
  const int lane = threadIdx.x & 31, wpb = blockDim.x >> 5;
  const int nw = gridDim.x * wpb;
  const int I8 = I >> 3, R = S + K;
  const int o0 = blockIdx.x * wpb + (threadIdx.x >> 5);
  u64 slotBase = 0;
  float slotW = 0.f;
  // the canonical row t of output oo at step i: shared chunks first (from chunk oo % S), then the routed slots
  auto rowOf = [&](int oo, int i) { return i < S ? (i + oo) % S : i; };
  auto rowPtr = [&](int oo, int t) -> const bf16* {
    if (t < S) return downS + (long long)oo * Is + (long long)t * I;
    return (const bf16*)__shfl_sync(FULL_MASK, slotBase, t - S) + (long long)oo * I;
  };
  uint4 u[MAXL];
  const bool early = o0 < H && S > 0;
  if (early) load_row<MAXL>(u, rowPtr(o0, rowOf(o0, 0)), I8, lane);
  pdl_wait();
  pdl_launch();
  if (clear && blockIdx.x == 0 && threadIdx.x == 0) *clear = 0;
  if (o0 >= H) return;
  if (lane < K) {
    slotBase = downPtrs[ids[lane]];
    slotW = wts[lane];
  }
  if (!early) load_row<MAXL>(u, rowPtr(o0, rowOf(o0, 0)), I8, lane);
  TRACE_MARK(0);  // ids read (the first routed row needs them)
  int o = o0, i = 0;
  float mine = 0.f;  // lane t: row t's sum of the current output
  float rv = resid && lane == 0 ? resid[o] : 0.f;
  while (o < H) {
    const int t = rowOf(o, i);
    const float d = dot_staged<MAXL>(u, (const float4*)(act + (t < S ? (long long)t * I : Is + (long long)(t - S) * I)), I8, lane);
    int on = o, in = i + 1;
    if (in == R) on += nw, in = 0;
    if (on < H) {
      load_row<MAXL>(u, rowPtr(on, rowOf(on, in)), I8, lane);
      if (in == R - 1 && on + nw >= H) TRACE_MARK(2);  // the warp's last row issued
    }
    TRACE_MARK(1);  // the first row's dot done
    const float v = warp_sum(d);
    if (lane == t) mine = v;
    if (in == 0) {
      // the canonical order: shared chunks, then the routed slots (as moe_down1_res_impl)
      float routed = 0.f, shared = 0.f;
      for (int tt = 0; tt < R; tt++) {
        const float vt = __shfl_sync(FULL_MASK, mine, tt);
        if (tt < S) shared += vt;
        else routed += __shfl_sync(FULL_MASK, slotW, tt - S) * vt;
      }
      const float moe = routed + shared;
      if (lane == 0) out[o] = resid ? rv + moe : moe;
      if (resid && lane == 0 && on < H) rv = resid[on];
    }
    o = on, i = in;
  }
}

// The prefetch distance as the kernel lab's knob (bench/cuda-gemv.ts): none, and two rows ahead.
extern "C" __global__ void PDL __launch_bounds__(128, 6) moe_down1_res_l8_pf0(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid,
                                                                           float* out, int K, int S, int H, int I, int Is, int* clear) {
  moe_down1_res_impl<8, 0>(act, ids, wts, downPtrs, downS, resid, out, K, S, H, I, Is, clear);
}
extern "C" __global__ void PDL __launch_bounds__(128, 6) moe_down1_res_l8_pf2(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid,
                                                                           float* out, int K, int S, int H, int I, int Is, int* clear) {
  moe_down1_res_impl<8, 2>(act, ids, wts, downPtrs, downS, resid, out, K, S, H, I, Is, clear);
}


// ---- two rows in flight per warp: one in registers, one in shared memory (tuning: NEMOTRON_CUDA_MOE_DOWN1_HY=1) ---
// In a traced decode step moe_down1_res streamed at 3.3 TB/s where in_proj reached 4.2: its 24 warps per SM keep one
// 3.7 KB row each in flight (89 KB per SM) against in_proj's 28 x 5.4 KB. Two rows in registers spill (96
// registers), and rows only in shared memory (ring kernels) took L1 from act; here the odd rows of a warp's flat
// sequence go through a 4 KB cp.async slot per warp (16 KB per block, ~82 KB per SM), the even rows through
// registers, so about 178 KB per SM are in flight. Same rows, products and order as moe_down1_res_impl: same bits.
// Measured slower on an H200: 2.432 against 2.340 ms per batch-1 step (bench/sweeps/gemv-n1-hybrid.json). Dynamic
// shared memory: warps * MAXL * 512 bytes.

template <int MAXL>
__device__ __forceinline__ void moe_down1_res_hy_impl(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid,
                                                      float* out, int K, int S, int H, int I, int Is, int* clear) {
  extern __shared__ uint4 hy_slots[];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, wpb = blockDim.x >> 5;
  const int nw = gridDim.x * wpb;
  const int I8 = I >> 3, R = S + K;
  const int o0 = blockIdx.x * wpb + warp;
  const int total = o0 < H && R > 0 ? ((H - 1 - o0) / nw + 1) * R : 0;  // this warp's rows
  uint4* slot = hy_slots + warp * MAXL * 32;
  u64 slotBase = 0;
  float slotW = 0.f;
  // flat row f: row f % R of output o0 + (f / R) nw (routed bases by shuffle: called by every lane)
  auto rowPtr = [&](int f) -> const bf16* {
    const int oo = o0 + (f / R) * nw, t = f % R;
    if (t < S) return downS + (long long)oo * Is + (long long)t * I;
    return (const bf16*)__shfl_sync(FULL_MASK, slotBase, t - S) + (long long)oo * I;
  };
  uint4 u[MAXL];
  const bool e0 = total > 0 && 0 % R < S, e1 = total > 1 && 1 % R < S;  // shared rows: before the wait
  if (e0) load_row<MAXL>(u, rowPtr(0), I8, lane);
  if (e1) slot_issue<MAXL>(slot, rowPtr(1), I8, lane);
  pdl_wait();
  pdl_launch();
  if (clear && blockIdx.x == 0 && threadIdx.x == 0) *clear = 0;  // moe_router_up1's counter: its readers are done
  if (o0 >= H) return;
  if (R == 0) {
    for (int o = o0; o < H; o += nw)
      if (lane == 0) out[o] = resid ? resid[o] : 0.f;
    return;
  }
  if (lane < K) {
    slotBase = downPtrs[ids[lane]];
    slotW = wts[lane];
  }
  if (total > 0 && !e0) load_row<MAXL>(u, rowPtr(0), I8, lane);
  if (total > 1 && !e1) slot_issue<MAXL>(slot, rowPtr(1), I8, lane);
  float routed = 0.f, shared = 0.f;
  auto finish = [&](int f, float d) {
    const int t = f % R;
    const float v = warp_sum(d);
    if (t < S) shared += v;
    else routed += __shfl_sync(FULL_MASK, slotW, t - S) * v;
    if (t == R - 1) {
      const int o = o0 + (f / R) * nw;
      const float moe = routed + shared;
      if (lane == 0) out[o] = resid ? resid[o] + moe : moe;
      routed = shared = 0.f;
    }
  };
  auto actRow = [&](int f) {
    const int t = f % R;
    return (const float4*)(act + (t < S ? (long long)t * I : Is + (long long)(t - S) * I));
  };
  for (int f = 0; f < total; f += 2) {
    // even row: registers; its successor f + 2 goes out before the reduction
    const float d0 = dot_staged<MAXL>(u, actRow(f), I8, lane);
    if (f + 2 < total) load_row<MAXL>(u, rowPtr(f + 2), I8, lane);
    finish(f, d0);
    if (f + 1 >= total) break;
    // odd row: the shared-memory slot (this thread's own chunks), refilled with f + 3 after the dot
    slot_wait();
    const float d1 = dot_slot<MAXL>(slot, actRow(f + 1), I8, lane);
    if (f + 3 < total) slot_issue<MAXL>(slot, rowPtr(f + 3), I8, lane);
    finish(f + 1, d1);
  }
}
extern "C" __global__ void PDL __launch_bounds__(128, 6) moe_down1_res_l8_hy(const float* act, const int* ids, const float* wts, const u64* downPtrs, const bf16* downS, const float* resid,
                                                                          float* out, int K, int S, int H, int I, int Is, int* clear) {
  moe_down1_res_hy_impl<8>(act, ids, wts, downPtrs, downS, resid, out, K, S, H, I, Is, clear);
}
