// launch.h: the C ABI of a kernel library (one per .cu file, loaded by emu.ts through koffi). The generated
// translation unit (translate.ts) defines the table `emu_kernels` after the kernels. Arguments arrive packed as launch.ts packs them for
// cuLaunchKernel: in order, pointers and 64-bit integers on 8 bytes, int/unsigned/float on 4, naturally aligned.
#pragma once

namespace emu {
struct Kernel { const char* name; void (*call)(const unsigned char* args); };

template <class T> inline T take(const unsigned char* a, size_t& off) {
  const size_t s = sizeof(T) == 8 ? 8 : 4;
  off = (off + s - 1) / s * s;
  T v;
  memcpy(&v, a + off, sizeof(T));
  off += s;
  return v;
}
inline unsigned launch_shmem = 0;
inline dim3 block_index(unsigned long long b) {
  return {(unsigned)(b % gridDim.x), (unsigned)(b / gridDim.x % gridDim.y), (unsigned)(b / gridDim.x / gridDim.y)};
}

// Cooperative mode: every block live, taking turns until all are done. A block's shared memory (the registered
// __shared__ variables, then the dynamic buffer) is saved when its turn ends and restored when the next begins;
// what a block has not written yet reads as 0xff. Rounds in which only spin-waits ran, many in a row, are a
// deadlock.
inline void run_grid_coop(unsigned long long n) {
  const unsigned nt = blockDim.x;
  if (n * nt > 16384) fail("cooperative mode runs at most 16384 threads at once");
  if (fibers.size() < n * nt) fibers.resize(n * nt);
  struct Saved { std::vector<std::vector<unsigned char>> vars; std::vector<unsigned char> dyn; };
  std::vector<Saved> saved(n);
  std::vector<bool> done(n, false);
  for (unsigned long long b = 0; b < n; b++) init_block((unsigned)(b * nt), nt);
  shared_vars.clear();
  const bool rev = flags & REVERSE_BLOCKS;
  for (unsigned idle = 0;;) {
    bool all = true, moved = false;
    for (unsigned long long i = 0; i < n; i++) {
      const unsigned long long b = rev ? n - 1 - i : i;
      if (done[b]) continue;
      all = false;
      Saved& sv = saved[b];
      for (size_t v = 0; v < shared_vars.size(); v++) {
        if (v < sv.vars.size()) memcpy(shared_vars[v].p, sv.vars[v].data(), shared_vars[v].n);
        else memset(shared_vars[v].p, 0xff, shared_vars[v].n);
      }
      if (sv.dyn.empty()) memset(dyn_smem_buf, 0xff, launch_shmem);
      else memcpy(dyn_smem_buf, sv.dyn.data(), launch_shmem);
      blockIdx = block_index(b);
      fiber_base = (unsigned)(b * nt);
      done[b] = run_fibers(nt, moved);
      sv.vars.resize(shared_vars.size());  // variables registered during this turn are saved too
      for (size_t v = 0; v < shared_vars.size(); v++) {
        const unsigned char* p = (const unsigned char*)shared_vars[v].p;
        sv.vars[v].assign(p, p + shared_vars[v].n);
      }
      sv.dyn.assign(dyn_smem_buf, dyn_smem_buf + launch_shmem);
    }
    if (all) break;
    idle = moved ? 0 : idle + 1;
    if (idle > 100000) {
      cur = -1;
      fail("deadlock: every live block only spins");
    }
  }
  fiber_base = 0;
}

// Runs fn as every thread of every block of the launch (gridDim, blockDim set).
inline void run_grid(const std::function<void()>& fn) {
  body = &fn;
  const bool rev = flags & REVERSE_BLOCKS;
  const unsigned long long n = (unsigned long long)gridDim.x * gridDim.y * gridDim.z;
  if (flags & COOPERATIVE) return run_grid_coop(n);
  for (unsigned long long i = 0; i < n; i++) {
    const unsigned long long b = rev ? n - 1 - i : i;
    blockIdx = block_index(b);
    memset(dyn_smem_buf, 0xff, launch_shmem);  // NaN / -1: reading dynamic shared memory before writing it shows
    run_block(blockDim.x);
  }
}
// Unpacks the arguments (braced init: read left to right) and runs kernel k over the grid.
template <class... P> inline void call_packed(void (*k)(P...), const unsigned char* a) {
  size_t off = 0;
  const std::tuple<std::decay_t<P>...> args{take<std::decay_t<P>>(a, off)...};
  (void)a, (void)off;
  run_grid([&] { std::apply(k, args); });
}
// Compile-time check that launch.ts's offsets (parseKernels) match the C++ parameter types.
template <class... P> constexpr bool offsets_match(void (*)(P...), std::initializer_list<int> want) {
  constexpr int sizes[] = {(int)sizeof(P)..., 0};
  if (want.size() != sizeof...(P)) return false;
  int off = 0;
  for (size_t i = 0; i < sizeof...(P); i++) {
    const int s = sizes[i] == 8 ? 8 : 4;
    off = (off + s - 1) / s * s;
    if (want.begin()[i] != off || (sizes[i] != 4 && sizes[i] != 8)) return false;
    off += s;
  }
  return true;
}

inline struct sigaction old_segv, old_bus;
inline void on_fault(int sig, siginfo_t* si, void*) {
  if (!in_launch) return;
  char msg[96];
  snprintf(msg, sizeof msg, "%s at address %p (out of bounds, or a fiber stack overflow)", sig == SIGSEGV ? "SIGSEGV" : "SIGBUS", si->si_addr);
  fail(msg);
}
}  // namespace emu
extern const emu::Kernel emu_kernels[];
extern const int emu_kernel_count;

extern "C" {
// 0: done; otherwise emu_error() says why (unknown kernel, bad launch shape, or a fault found while running).
int emu_launch(const char* name, unsigned gx, unsigned gy, unsigned gz, unsigned block, unsigned shmem, const unsigned char* args) {
  using namespace emu;
  error.clear();
  kernel_name = name;
  const Kernel* k = nullptr;
  for (int i = 0; i < emu_kernel_count; i++) if (!strcmp(emu_kernels[i].name, name)) k = &emu_kernels[i];
  if (!k) return error = std::string("no kernel named ") + name, 1;
  if (block < 1 || block > 1024) return error = kernel_name + ": block of " + std::to_string(block) + " threads", 1;
  if (shmem > MAX_SHMEM) return error = kernel_name + ": " + std::to_string(shmem) + " bytes of dynamic shared memory", 1;
  // faults inside kernels come back as errors, on a stack of their own (a fiber stack may be what overflowed)
  static std::vector<char> altStack(1 << 16);
  stack_t ss{}, oldSs{};
  ss.ss_sp = altStack.data();
  ss.ss_size = altStack.size();
  sigaltstack(&ss, &oldSs);
  struct sigaction sa {};
  sa.sa_sigaction = on_fault;
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigaction(SIGSEGV, &sa, &old_segv);
  sigaction(SIGBUS, &sa, &old_bus);
  int rc = 0;
  if (sigsetjmp(fail_jb, 1)) {
    rc = 1;
  } else {
    in_launch = true;
    gridDim = {gx, gy, gz};
    blockDim = {block, 1, 1};
    launch_shmem = shmem;
    k->call(args);
  }
  in_launch = false;
  body = nullptr;
  sigaction(SIGSEGV, &old_segv, nullptr);
  sigaction(SIGBUS, &old_bus, nullptr);
  sigaltstack(&oldSs, nullptr);
  return rc;
}
const char* emu_error() { return emu::error.c_str(); }
// EARLY_COPIES 1 (cp.async lands at issue), REVERSE_BLOCKS 2, REVERSE_THREADS 4 (other orders expose races),
// COOPERATIVE 8 (every block live at once: blocks that wait on each other).
void emu_set_flags(unsigned f) { emu::flags = f; }
// Host buffers standing in for device memory: 256-byte aligned like cuMemAlloc, filled with 0xff (NaN / -1).
void* emu_alloc(unsigned long long bytes) {
  void* p = aligned_alloc(256, (bytes + 255) / 256 * 256 + 256);
  if (p) memset(p, 0xff, bytes);
  return p;
}
void emu_free(void* p) { free(p); }
}
