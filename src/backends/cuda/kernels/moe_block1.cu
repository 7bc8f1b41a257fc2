// moe_block1.cu: the head of a batch-1 MoE layer in one launch: the router (gate rows, then the top-k) and every up
// row with relu^2 (the shared expert's, then the routed experts'), over the layer's input row (optionally
// RMSNorm(a + b), staged in every block by stage_norm_row); moe_down1_res follows. As its own kernel the router is
// a latency chain (norm, GEMV, ticket, top-k by the last block, then the next kernel's wait): 9.5-10.5 us per MoE
// layer after the kernel before it ends, in a traced H200 decode step (bench/cuda-step-trace.ts), while it reads
// 0.7 MB. Here its rows are some warps' first rows; the other warps stream shared up rows meanwhile, and a warp
// that reaches a routed row waits for all router rows (a device counter), then runs the top-k itself.
#include "common.cuh"
#include "gemv1.cuh"
#include "topk.cuh"

// The router warps (the first E warps; E % 4 == 0, so they fill whole blocks) take gate row w, then shared rows
// (j - 1) E + w below Sr; the other warps take the remaining shared rows, then the routed rows, in stride order:
// no router warp ever waits for a routed row, so the wait cannot stall a router row (and the CPU emulator, which
// runs blocks in order, can run the kernel). Virtual rows: v < E gate row v -> logits[v]; E <= v < E + Is shared
// up row v - E -> act[v - E]; E + Is + k I + i: row i of routed expert ids[k] -> act[v - E]. Each router row adds
// 1 to *arrive after its logit (threadfence first); a warp runs the top-k once *arrive reaches E; the warp with
// routed row 0 writes ids and wts for moe_down1_res, which also zeroes *arrive for the next launch (after its
// pdl_wait: every reader here has finished). A wait past ~1 s traps (a grid larger than what is resident would
// otherwise hang). a, b, h, nw, eps, uOut: as stage_norm_row (nw null: the input row is a itself). Needs E <= 128,
// K <= 32, H % 8 == 0, H <= 3072, and the whole grid resident at once (ops/moe-block1.ts: at most the blocks per SM
// of the variant's __launch_bounds__). grid: persistent, more than E / 4 blocks; block 128; shmem H * 4.
__device__ __forceinline__ void moe_router_up1_impl(const float* a, const float* b, float* h, const float* nw, float eps, float* uOut, const bf16* gate,
                                                    const float* bias, float* logits, int* arrive, int* ids, float* wts, const u64* upPtrs,
                                                    const bf16* upS, float* act, int E, int K, int H, int I, int Is, int nGroup, int topkGroup,
                                                    int normTopk, float scale) {
  extern __shared__ float4 xr4[];
  __shared__ float red[32];
  __shared__ float cs[4][256];
  __shared__ int sIds[4][32];
  __shared__ float sWts[4][32];
  const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5;
  const int nwarps = gridDim.x * 4, w = blockIdx.x * 4 + warp, H8 = H >> 3;
  const int R = (E + Is + K * I + nwarps - 1) / nwarps;  // rounds
  const int Sr = min(Is, E * (R - 1));                    // shared rows taken by the router warps
  const int NO = nwarps - E;                              // the other warps
  // this warp's j-th virtual row, or -1
  auto rowOf = [&](int j) -> int {
    if (w < E) {
      if (j == 0) return w;
      const int s = (j - 1) * E + w;
      return s < Sr ? E + s : -1;
    }
    const int q = j * NO + (w - E);
    if (q < Is - Sr) return E + Sr + q;
    const int rr = q - (Is - Sr);
    return rr < K * I ? E + Is + rr : -1;
  };
  auto rowPtr = [&](int v) -> const bf16* {
    if (v < E) return gate + (long long)v * H;
    if (v < E + Is) return upS + (long long)(v - E) * H;
    const int rr = v - E - Is;
    return (const bf16*)upPtrs[sIds[warp][rr / I]] + (long long)(rr % I) * H;
  };
  bool routed = false;
  auto route = [&]() {  // once per warp: wait for every router row, then the top-k
    if (lane == 0) {
      unsigned n = 0;
      while ((int)ld_acquire_u32((const u32*)arrive) < E) {
        __nanosleep(64);
        if (++n > (1u << 24)) __trap();  // router rows that never come: a grid larger than what is resident
      }
    }
    __syncwarp();
    for (int e = lane; e < E; e += 32) cs[warp][e] = __ldcg(logits + e);
    __syncwarp();
    topk_token<4>(cs[warp], bias, sIds[warp], sWts[warp], E, K, nGroup, topkGroup, normTopk, scale, cs[warp], lane);
    __syncwarp();
    routed = true;
  };
  uint4 u[12];
  int j = 0, v = rowOf(0);
  const bool early = v >= 0 && v < E + Is;  // gate and shared rows are weights no earlier kernel chose
  if (early) load_row<12>(u, rowPtr(v), H8, lane);
  pdl_wait();
  if (nw) stage_norm_row<2>(a, b, h, nw, eps, uOut, (float*)xr4, H, red);
  else stage_row_async((float*)xr4, a, H);
  pdl_launch();
  if (v >= 0 && !early) {
    route();
    load_row<12>(u, rowPtr(v), H8, lane);
  }
  while (v >= 0) {
    float acc = dot_staged<12>(u, (const float4*)xr4, H8, lane);
    const int vn = rowOf(++j);
    if (vn >= 0) {
      if (vn >= E + Is && !routed) route();  // never in a router warp: its rows are gate and shared rows
      load_row<12>(u, rowPtr(vn), H8, lane);
    }
    acc = warp_sum(acc);
    if (v < E) {
      if (lane == 0) {
        logits[v] = acc;
        __threadfence();
        atomicAdd(arrive, 1);
      }
    } else {
      const float t = acc > 0.f ? acc : 0.f;
      if (lane == 0) act[v - E] = t * t;
      if (v == E + Is && lane < K) {
        ids[lane] = sIds[warp][lane];
        wts[lane] = sWts[warp][lane];
      }
    }
    v = vn;
  }
}
// 7 blocks per SM (72 registers, ~80 bytes spilled to L1) and 6 (80 registers, no spills): the tuning pair.
extern "C" __global__ void PDL __launch_bounds__(128, 7) moe_router_up1_l12_b7(const float* a, const float* b, float* h, const float* nw, float eps, float* uOut,
                                                                            const bf16* gate, const float* bias, float* logits, int* arrive, int* ids,
                                                                            float* wts, const u64* upPtrs, const bf16* upS, float* act, int E, int K,
                                                                            int H, int I, int Is, int nGroup, int topkGroup, int normTopk, float scale) {
  moe_router_up1_impl(a, b, h, nw, eps, uOut, gate, bias, logits, arrive, ids, wts, upPtrs, upS, act, E, K, H, I, Is, nGroup, topkGroup, normTopk, scale);
}
extern "C" __global__ void PDL __launch_bounds__(128, 6) moe_router_up1_l12_b6(const float* a, const float* b, float* h, const float* nw, float eps, float* uOut,
                                                                            const bf16* gate, const float* bias, float* logits, int* arrive, int* ids,
                                                                            float* wts, const u64* upPtrs, const bf16* upS, float* act, int E, int K,
                                                                            int H, int I, int Is, int nGroup, int topkGroup, int normTopk, float scale) {
  moe_router_up1_impl(a, b, h, nw, eps, uOut, gate, bias, logits, arrive, ids, wts, upPtrs, upS, act, E, K, H, I, Is, nGroup, topkGroup, normTopk, scale);
}
