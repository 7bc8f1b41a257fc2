// cuda_emu.h: the CUDA subset that src/backends/cuda/kernels/*.cu use, emulated on the CPU so that g++ compiles
// the real kernel sources (after translate.ts has turned their inline PTX into ptx:: calls). Every thread of a
// block is a fiber on one OS thread; blocks run one after another. Barriers and warp collectives switch fibers:
// a warp collective (shuffle, vote, ldmatrix, mma) runs once all its lanes have arrived, on their deposited
// operands, so fragment layouts follow the PTX ISA exactly. No timing, no memory model beyond this interleaving.
#pragma once
#include <math.h>
#include <setjmp.h>
#include <signal.h>
#include <sys/mman.h>
#include <ucontext.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <functional>
#include <initializer_list>
#include <string>
#include <tuple>
#include <type_traits>
#include <vector>

#define __CUDA_ARCH__ 900  // the sm_90 paths (cp.async, PDL) are the ones worth checking
#define __global__
#define __device__
#define __host__
#define __forceinline__ inline
#define __noinline__ __attribute__((noinline))
#define __launch_bounds__(...)
#define __shared__ static  // one copy shared by the fibers of the running block
#define __align__(n) __attribute__((aligned(n)))
#define __restrict__ __restrict

// ---- vector types and built-in variables ------------------------------------------------------------------------
struct dim3 { unsigned x = 1, y = 1, z = 1; };
struct alignas(8) float2 { float x, y; };
struct alignas(16) float4 { float x, y, z, w; };
struct alignas(8) int2 { int x, y; };
struct alignas(16) int4 { int x, y, z, w; };
struct alignas(8) uint2 { unsigned x, y; };
struct alignas(16) uint4 { unsigned x, y, z, w; };
inline float2 make_float2(float x, float y) { return {x, y}; }
inline float4 make_float4(float x, float y, float z, float w) { return {x, y, z, w}; }
inline int2 make_int2(int x, int y) { return {x, y}; }
inline int4 make_int4(int x, int y, int z, int w) { return {x, y, z, w}; }
inline uint2 make_uint2(unsigned x, unsigned y) { return {x, y}; }
inline uint4 make_uint4(unsigned x, unsigned y, unsigned z, unsigned w) { return {x, y, z, w}; }
inline dim3 threadIdx, blockIdx, blockDim, gridDim;  // threadIdx is set by the scheduler before a fiber resumes
constexpr int warpSize = 32;

// ---- scalar intrinsics ------------------------------------------------------------------------------------------
template <class To, class From> inline To emu_bits(From f) { To t; memcpy(&t, &f, sizeof t); return t; }
inline float __int_as_float(int i) { return emu_bits<float>(i); }
inline int __float_as_int(float f) { return emu_bits<int>(f); }
inline float __uint_as_float(unsigned u) { return emu_bits<float>(u); }
inline unsigned __float_as_uint(float f) { return emu_bits<unsigned>(f); }
inline int __popc(unsigned v) { return __builtin_popcount(v); }
inline int __popcll(unsigned long long v) { return __builtin_popcountll(v); }
inline int __clz(unsigned v) { return v ? __builtin_clz(v) : 32; }
inline int __ffs(unsigned v) { return __builtin_ffs((int)v); }
inline unsigned __brev(unsigned v) { unsigned r = 0; for (int i = 0; i < 32; i++) r |= ((v >> i) & 1u) << (31 - i); return r; }
inline float rsqrtf(float v) { return 1.f / sqrtf(v); }
inline float __expf(float v) { return expf(v); }
inline float __logf(float v) { return logf(v); }
inline float __fdividef(float a, float b) { return a / b; }
inline float __saturatef(float v) { return v < 0.f ? 0.f : v > 1.f ? 1.f : v; }
// CUDA's min/max take mixed argument types (std::min does not)
template <class A, class B> inline std::common_type_t<A, B> min(A a, B b) { return b < a ? b : a; }
template <class A, class B> inline std::common_type_t<A, B> max(A a, B b) { return a < b ? b : a; }
// cache-hinted loads and stores are plain accesses here
template <class T> inline T __ldg(const T* p) { return *p; }
template <class T> inline T __ldcg(const T* p) { return *p; }
template <class T> inline T __ldcs(const T* p) { return *p; }
template <class T> inline void __stcg(T* p, T v) { *p = v; }
template <class T> inline void __stcs(T* p, T v) { *p = v; }
inline void __threadfence() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
inline void __threadfence_block() { __atomic_thread_fence(__ATOMIC_SEQ_CST); }
// fibers never preempt each other, so a plain read-modify-write is atomic
template <class T, class U> inline T atomicAdd(T* p, U v) { T o = *p; *p = o + (T)v; return o; }
template <class T, class U> inline T atomicSub(T* p, U v) { T o = *p; *p = o - (T)v; return o; }
template <class T, class U> inline T atomicMax(T* p, U v) { T o = *p; *p = max(o, (T)v); return o; }
template <class T, class U> inline T atomicMin(T* p, U v) { T o = *p; *p = min(o, (T)v); return o; }
template <class T, class U> inline T atomicExch(T* p, U v) { T o = *p; *p = (T)v; return o; }
template <class T, class U> inline T atomicOr(T* p, U v) { T o = *p; *p = o | (T)v; return o; }
template <class T, class U> inline T atomicAnd(T* p, U v) { T o = *p; *p = o & (T)v; return o; }
template <class T, class U> inline T atomicXor(T* p, U v) { T o = *p; *p = o ^ (T)v; return o; }
template <class T, class U, class V> inline T atomicCAS(T* p, U cmp, V v) { T o = *p; if (o == (T)cmp) *p = (T)v; return o; }

#include "fibers.h"

// ---- __shared__ variables: registered where declared (translate.ts), so that cooperative mode can keep a copy per
// block (each is one static: one copy for all blocks)
namespace emu {
struct SharedVar { void* p; size_t n; };
inline std::vector<SharedVar> shared_vars;
inline void shared_reg(void* p, size_t n) {
  for (const SharedVar& v : shared_vars) if (v.p == p) return;
  shared_vars.push_back({p, n});
}
}  // namespace emu
#define EMU_SHARED(x) emu::shared_reg((void*)&(x), sizeof(x))

// ---- barriers and warp collectives ------------------------------------------------------------------------------
inline void __syncthreads() { emu::wait(emu::AT_BLOCK); }
// A spin-wait's sleep yields to the other blocks in cooperative mode; otherwise blocks run one after another and
// nothing another block does can end the wait.
inline void __nanosleep(unsigned) {
  if (emu::flags & emu::COOPERATIVE) emu::wait(emu::SPIN);
}
[[noreturn]] inline void __trap() { emu::fail("__trap"); }
inline void __syncwarp(unsigned mask = 0xffffffffu) { emu::collective("__syncwarp", mask, [](emu::Fiber**, unsigned) {}); }
inline unsigned __activemask() { return emu::active_lanes(); }
inline unsigned __ballot_sync(unsigned mask, int pred) {
  emu::Fiber& f = emu::self();
  f.in[0] = pred != 0;
  emu::collective("__ballot_sync", mask, [](emu::Fiber** lane, unsigned m) {
    unsigned b = 0;
    for (int l = 0; l < 32; l++) if ((m >> l & 1) && lane[l]->in[0]) b |= 1u << l;
    for (int l = 0; l < 32; l++) if (m >> l & 1) lane[l]->out[0] = b;
  });
  return (unsigned)f.out[0];
}
// __reduce_{max,min}_sync on unsigned (redux.sync, sm_80+)
inline unsigned __reduce_max_sync(unsigned mask, unsigned v) {
  emu::Fiber& f = emu::self();
  f.in[0] = v;
  emu::collective("__reduce_max_sync", mask, [](emu::Fiber** lane, unsigned m) {
    unsigned r = 0;
    for (int l = 0; l < 32; l++) if ((m >> l & 1) && (unsigned)lane[l]->in[0] > r) r = (unsigned)lane[l]->in[0];
    for (int l = 0; l < 32; l++) if (m >> l & 1) lane[l]->out[0] = r;
  });
  return (unsigned)f.out[0];
}
inline unsigned __reduce_min_sync(unsigned mask, unsigned v) {
  emu::Fiber& f = emu::self();
  f.in[0] = v;
  emu::collective("__reduce_min_sync", mask, [](emu::Fiber** lane, unsigned m) {
    unsigned r = 0xffffffffu;
    for (int l = 0; l < 32; l++) if ((m >> l & 1) && (unsigned)lane[l]->in[0] < r) r = (unsigned)lane[l]->in[0];
    for (int l = 0; l < 32; l++) if (m >> l & 1) lane[l]->out[0] = r;
  });
  return (unsigned)f.out[0];
}
inline bool __any_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) != 0; }
inline bool __all_sync(unsigned mask, int pred) { return __ballot_sync(mask, pred) == (mask & emu::warp_lanes()); }

namespace emu {
// src: the lane to read; the caller has already applied the width rules (out-of-segment -> itself)
template <class T> inline T shfl(unsigned mask, T v, int src, const char* what) {
  static_assert(sizeof(T) <= 8, "shuffles move at most 8 bytes");
  Fiber& f = self();
  f.in[0] = 0;
  memcpy(&f.in[0], &v, sizeof(T));
  f.in[1] = (unsigned)src;
  collective(what, mask, [](Fiber** lane, unsigned m) {
    for (int l = 0; l < 32; l++) {
      if (!(m >> l & 1)) continue;
      const unsigned s = (unsigned)lane[l]->in[1];
      lane[l]->out[0] = s < 32 && (m >> s & 1) ? lane[s]->in[0] : lane[l]->in[0];  // inactive source: own value
    }
  });
  T r;
  memcpy(&r, &f.out[0], sizeof(T));
  return r;
}
}  // namespace emu
template <class T> inline T __shfl_sync(unsigned mask, T v, int src, int width = 32) {
  const int lane = emu::lane();
  return emu::shfl(mask, v, (lane & ~(width - 1)) + (src & (width - 1)), "__shfl_sync");
}
template <class T> inline T __shfl_xor_sync(unsigned mask, T v, int m, int width = 32) {
  const int lane = emu::lane(), src = lane ^ m;
  return emu::shfl(mask, v, src >= (lane & ~(width - 1)) + width ? lane : src, "__shfl_xor_sync");
}
template <class T> inline T __shfl_up_sync(unsigned mask, T v, unsigned d, int width = 32) {
  const int lane = emu::lane();
  return emu::shfl(mask, v, (lane & (width - 1)) < (int)d ? lane : lane - (int)d, "__shfl_up_sync");
}
template <class T> inline T __shfl_down_sync(unsigned mask, T v, unsigned d, int width = 32) {
  const int lane = emu::lane();
  return emu::shfl(mask, v, (lane & (width - 1)) + (int)d >= width ? lane : lane + (int)d, "__shfl_down_sync");
}

#include "ptx.h"
#include "launch.h"
