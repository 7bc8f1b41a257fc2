// ptx.h: the PTX instructions the kernels write as inline asm. translate.ts turns `asm("op.a.b %0, [%1];" : ...)`
// into `ptx::op_a_b(operand0, operand1)` (operands in template order, `{...}` lists flattened, outputs by
// reference), so a new instruction is one function here. Shared-memory addresses (cvta.to.shared) are 32-bit
// offsets from emu::dyn_smem_buf; every __shared__ array lives in the same library, within 2 GB of it.
#pragma once

namespace ptx {
using u32 = unsigned;
using u64 = unsigned long long;

inline unsigned char* shared_ptr(u32 a) { return emu::dyn_smem_buf + (int32_t)a; }
inline float bf16_lo_hi(u32 v, int hi) { return __uint_as_float(hi ? v & 0xffff0000u : v << 16); }
inline float tf32_bits(u32 v) { return __uint_as_float(v & 0xffffe000u); }  // the tensor core reads 19 bits

// ---- no-ops on the CPU: PDL (blocks of consecutive launches never overlap here) and cache hints
inline void griddepcontrol_wait() {}
inline void griddepcontrol_launch_dependents() {}
inline void prefetch_global_L2(const void*) {}
inline void prefetch_global_L1(const void*) {}

// ---- conversions and special functions
inline void cvta_to_shared_u64(u64& d, const void* p) {
  const long long off = (const unsigned char*)p - emu::dyn_smem_buf;
  if (off < INT32_MIN || off > INT32_MAX) emu::fail("cvta.to.shared of a pointer that is not shared memory");
  d = (u64)off;
}
inline void cvt_u32_u64(u32& d, u64 s) { d = (u32)s; }
inline void cvt_rna_tf32_f32(u32& d, float x) {  // round to nearest, ties away from zero
  const u32 u = __float_as_uint(x);
  d = (u & 0x7f800000u) == 0x7f800000u ? u : (u + 0x1000u) & 0xffffe000u;
}
inline void ex2_approx_ftz_f32(float& d, float x) {  // flush-to-zero of subnormal inputs and results
  if (fabsf(x) < 1.17549435e-38f) x = 0.f;
  const float r = exp2f(x);
  d = r < 1.17549435e-38f ? 0.f : r;
}

// ---- global loads
inline void ld_global_nc_L1_no_allocate_v4_u32(u32& a, u32& b, u32& c, u32& d, const void* p) {
  if ((uintptr_t)p & 15) emu::fail("ld.global.nc.v4 of a misaligned address");
  u32 v[4];
  memcpy(v, p, 16);
  a = v[0], b = v[1], c = v[2], d = v[3];
}

// ---- special registers and moves (the step trace): one SM, a timer that only counts up
inline u64 sreg_globaltimer() { static u64 t = 0; return t += 32; }
inline u32 sreg_smid() { return 0; }
inline void mov_u64(u64& d, u64 s) { d = s; }
inline void mov_u32(u32& d, u32 s) { d = s; }

// ---- acquire load (device counters)
inline void ld_acquire_gpu_global_u32(u32& d, const void* p) { d = __atomic_load_n((const u32*)p, __ATOMIC_ACQUIRE); }  // reloaded every spin

// ---- cp.async: the source is read at issue, the destination written when a wait_group lets the group land
// (or at once with the EARLY_COPIES flag), so reading shared memory before the wait shows up as stale data.
inline void cp_async_cg_shared_global(u32 dst, const void* src, int bytes, int srcBytes) {
  unsigned char* d = shared_ptr(dst);
  if ((dst | (uintptr_t)src) & (unsigned)(bytes - 1)) emu::fail("cp.async with a misaligned address");
  emu::Copy c{d, {}, bytes};
  memset(c.data, 0, sizeof c.data);
  if (srcBytes > 0) memcpy(c.data, src, srcBytes < bytes ? srcBytes : bytes);  // the rest is zero-filled
  if (emu::flags & emu::EARLY_COPIES) memcpy(d, c.data, bytes);
  else emu::self().open.push_back(c);
}
inline void cp_async_cg_shared_global(u32 dst, const void* src, int bytes) { cp_async_cg_shared_global(dst, src, bytes, bytes); }
inline void cp_async_commit_group() {
  emu::Fiber& f = emu::self();
  f.inflight.push_back(std::move(f.open));
  f.open.clear();
}
inline void cp_async_wait_group(int n) { emu::land(emu::self(), (size_t)n); }
inline void cp_async_wait_all() { cp_async_commit_group(), emu::land(emu::self(), 0); }

// ---- warp-wide matrix instructions (fragment layouts: PTX ISA, "Matrix fragments for mma.m16n8k*")
// ldmatrix .x4: lane 8j + r gives the address of row r of matrix j; lane l receives, from each matrix, the 4
// bytes at row l / 4, column pair l % 4.
inline void ldmatrix_sync_aligned_m8n8_x4_shared_b16(u32& r0, u32& r1, u32& r2, u32& r3, u32 addr) {
  if (addr & 15) emu::fail("ldmatrix row address not 16-byte aligned");
  if (emu::warp_lanes() != 0xffffffffu) emu::fail("ldmatrix in a partial warp");
  emu::Fiber& f = emu::self();
  f.in[0] = addr;
  emu::collective("ldmatrix.x4", 0xffffffffu, [](emu::Fiber** lane, unsigned) {
    for (int l = 0; l < 32; l++)
      for (int j = 0; j < 4; j++) {
        u32 v;
        memcpy(&v, shared_ptr((u32)lane[8 * j + l / 4]->in[0]) + (l % 4) * 4, 4);
        lane[l]->out[j] = v;
      }
  });
  r0 = (u32)f.out[0], r1 = (u32)f.out[1], r2 = (u32)f.out[2], r3 = (u32)f.out[3];
}

// Deposits a lane's A, B and C registers (in[0..3], in[4..5], in[6..9]) and returns its D fragment.
template <class Op> inline void mma(float& d0, float& d1, float& d2, float& d3, const u32* a, u32 b0, u32 b1, const float* c, const char* what, Op op) {
  if (emu::warp_lanes() != 0xffffffffu) emu::fail(std::string(what) + " in a partial warp");
  emu::Fiber& f = emu::self();
  for (int i = 0; i < 4; i++) f.in[i] = a[i], f.in[6 + i] = __float_as_uint(c[i]);
  f.in[4] = b0, f.in[5] = b1;
  emu::collective(what, 0xffffffffu, op);
  d0 = __uint_as_float((u32)f.out[0]), d1 = __uint_as_float((u32)f.out[1]);
  d2 = __uint_as_float((u32)f.out[2]), d3 = __uint_as_float((u32)f.out[3]);
}
// D (16x8) = A (16xK) B (Kx8) + C for every lane: lane g*4+t holds D rows g, g+8 at columns 2t, 2t+1.
template <class A, class B> inline void mma_finish(emu::Fiber** lane, int K, A a, B b) {
  for (int l = 0; l < 32; l++) {
    const int g = l / 4, t = l % 4;
    for (int v = 0; v < 4; v++) {
      const int row = g + (v >= 2 ? 8 : 0), col = 2 * t + (v & 1);
      double s = 0;
      for (int k = 0; k < K; k++) s += (double)a(row, k) * b(k, col);
      lane[l]->out[v] = __float_as_uint((float)(__uint_as_float((u32)lane[l]->in[6 + v]) + s));
    }
  }
}
inline void mma_sync_aligned_m16n8k16_row_col_f32_bf16_bf16_f32(float& d0, float& d1, float& d2, float& d3, u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1,
                                                                float c0, float c1, float c2, float c3) {
  const u32 a[4] = {a0, a1, a2, a3};
  const float c[4] = {c0, c1, c2, c3};
  mma(d0, d1, d2, d3, a, b0, b1, c, "mma.m16n8k16.bf16", [](emu::Fiber** lane, unsigned) {
    // A (row-major): register (row >= 8) + 2 (k >= 8) of lane 4 (row % 8) + (k % 8) / 2, half k % 2
    auto A = [&](int r, int k) { return bf16_lo_hi((u32)lane[(r % 8) * 4 + (k % 8) / 2]->in[(r >= 8) + 2 * (k >= 8)], k & 1); };
    // B (column-major): register 4 + (k >= 8) of lane 4 n + (k % 8) / 2, half k % 2
    auto B = [&](int k, int n) { return bf16_lo_hi((u32)lane[n * 4 + (k % 8) / 2]->in[4 + (k >= 8)], k & 1); };
    mma_finish(lane, 16, A, B);
  });
}
inline void mma_sync_aligned_m16n8k8_row_col_f32_tf32_tf32_f32(float& d0, float& d1, float& d2, float& d3, u32 a0, u32 a1, u32 a2, u32 a3, u32 b0, u32 b1,
                                                              float c0, float c1, float c2, float c3) {
  const u32 a[4] = {a0, a1, a2, a3};
  const float c[4] = {c0, c1, c2, c3};
  mma(d0, d1, d2, d3, a, b0, b1, c, "mma.m16n8k8.tf32", [](emu::Fiber** lane, unsigned) {
    // A: register (row >= 8) + 2 (k >= 4) of lane 4 (row % 8) + k % 4
    auto A = [&](int r, int k) { return tf32_bits((u32)lane[(r % 8) * 4 + k % 4]->in[(r >= 8) + 2 * (k >= 4)]); };
    // B: register 4 + (k >= 4) of lane 4 n + k % 4
    auto B = [&](int k, int n) { return tf32_bits((u32)lane[n * 4 + k % 4]->in[4 + (k >= 4)]); };
    mma_finish(lane, 8, A, B);
  });
}
}  // namespace ptx
