// fibers.h: runs one block at a time, each CUDA thread a fiber (ucontext to start, _setjmp/_longjmp to switch:
// swapcontext would make a signal-mask syscall per switch). A fiber runs until it reaches a barrier, a warp
// collective or its end; the scheduler then releases whatever can proceed, or reports a deadlock or a collective
// that lanes reach in different ways. Errors unwind to emu_launch (sigsetjmp) and come back as a message.
// Cooperative mode (flag COOPERATIVE): every block of the grid is live at once, for kernels whose blocks wait on
// each other through memory (spin-waits with __nanosleep, which then yields). Blocks take turns: the current one
// runs until none of its fibers can move, then its shared memory (registered __shared__ variables and the dynamic
// buffer) is saved and the next block's restored.
#pragma once

namespace emu {

enum State { RUN, AT_BLOCK, AT_WARP, SPIN, DONE };  // SPIN: yielded in a spin-wait (cooperative mode)
struct Fiber;
using WarpOp = void (*)(Fiber** lanes, unsigned mask);  // fills out[] of the lanes in mask from their in[]
struct Copy { unsigned char* dst; unsigned char data[16]; int bytes; };

struct Fiber {
  jmp_buf jb;
  ucontext_t ctx;
  char* stack = nullptr;
  State state = DONE;
  bool started = false;
  unsigned tid = 0;
  // the pending warp collective: what it is (so lanes reaching different ones are caught), its lanes, operands
  const char* what = nullptr;
  unsigned mask = 0;
  WarpOp op = nullptr;
  unsigned long long in[16], out[4];
  std::vector<Copy> open;                  // cp.async issued since the last commit_group
  std::deque<std::vector<Copy>> inflight;  // committed groups, oldest first
};

constexpr size_t STACK = 256 << 10, GUARD = 4096;
constexpr unsigned MAX_SHMEM = 227 << 10;  // H200: dynamic shared memory per block
enum Flags : unsigned { EARLY_COPIES = 1, REVERSE_BLOCKS = 2, REVERSE_THREADS = 4, COOPERATIVE = 8 };

inline std::vector<Fiber> fibers(1024);
inline int cur = -1;
inline unsigned fiber_base = 0;  // the running block's first fiber (cooperative mode: block * threads per block)
inline jmp_buf sched_jb;
inline sigjmp_buf fail_jb;
inline bool in_launch = false;
inline std::string error, kernel_name;
inline unsigned flags = 0;
inline const std::function<void()>* body = nullptr;
alignas(128) inline unsigned char dyn_smem_buf[MAX_SHMEM];  // also the anchor of 32-bit shared addresses

inline Fiber& self() { return fibers[cur]; }
inline int lane() { return (int)threadIdx.x & 31; }
inline unsigned warp_lanes() {  // lanes that exist in this thread's warp (the last warp may be partial)
  const unsigned n = blockDim.x - (threadIdx.x & ~31u);
  return n >= 32 ? 0xffffffffu : (1u << n) - 1u;
}
inline unsigned active_lanes() {
  unsigned m = 0;
  const unsigned base = threadIdx.x & ~31u;
  for (unsigned l = 0; l < 32 && base + l < blockDim.x; l++) if (fibers[fiber_base + base + l].state != DONE) m |= 1u << l;
  return m;
}
inline unsigned char* dyn_smem() { return dyn_smem_buf; }

[[noreturn]] inline void fail(const std::string& msg) {
  char where[160];
  snprintf(where, sizeof where, "%s block (%u,%u,%u) thread %d: ", kernel_name.c_str(), blockIdx.x, blockIdx.y, blockIdx.z, cur);
  error = where + msg;
  siglongjmp(fail_jb, 1);
}

// Parks this fiber; the scheduler sets threadIdx back before it resumes (noinline: callers must reload globals).
[[gnu::noinline]] inline void wait(State s) {
  Fiber& f = self();
  f.state = s;
  if (!_setjmp(f.jb)) _longjmp(sched_jb, 1);
}

inline void collective(const char* what, unsigned mask, WarpOp op) {
  Fiber& f = self();
  f.what = what;
  f.mask = mask & warp_lanes();
  f.op = op;
  if (!(f.mask >> lane() & 1)) fail(std::string(what) + " with a mask that leaves out the calling lane");
  wait(AT_WARP);
}

inline void land(Fiber& f, size_t keep) {  // cp.async groups beyond the newest `keep` arrive
  while (f.inflight.size() > keep) {
    for (const Copy& c : f.inflight.front()) memcpy(c.dst, c.data, c.bytes);
    f.inflight.pop_front();
  }
}

inline void fiber_main() {
  (*body)();
  Fiber& f = self();
  f.inflight.push_back(std::move(f.open));
  land(f, 0);
  f.state = DONE;
  _longjmp(sched_jb, 1);
}

// Releases the warp collectives whose lanes have all arrived; true if any was released.
inline bool release_warps(unsigned nthreads) {
  bool any = false;
  for (unsigned base = 0; base < nthreads; base += 32) {
    Fiber* lane[32] = {};
    for (unsigned l = 0; l < 32 && base + l < nthreads; l++) lane[l] = &fibers[fiber_base + base + l];
    for (int l = 0; l < 32; l++) {
      if (!lane[l] || lane[l]->state != AT_WARP) continue;
      const unsigned m = lane[l]->mask;
      bool ready = true;
      for (int o = 0; o < 32; o++) {
        if (!(m >> o & 1)) continue;
        if (lane[o]->state == DONE) { cur = fiber_base + base + l; fail(std::string(lane[l]->what) + ": lane " + std::to_string(o) + " of its mask has exited"); }
        if (lane[o]->state != AT_WARP) { ready = false; continue; }
        if (lane[o]->what != lane[l]->what || lane[o]->mask != m) {
          cur = fiber_base + base + l;
          fail(std::string("lanes of one warp wait in different collectives: ") + lane[l]->what + " / " + lane[o]->what);
        }
      }
      if (!ready) continue;
      lane[l]->op(lane, m);
      for (int o = 0; o < 32; o++) if (m >> o & 1) lane[o]->state = RUN;
      any = true;
    }
  }
  return any;
}

// Prepares the fibers [base, base + nthreads) of one block.
inline void init_block(unsigned base, unsigned nthreads) {
  for (unsigned t = 0; t < nthreads; t++) {
    Fiber& f = fibers[base + t];
    if (!f.stack) {  // lazily committed; the guard page below turns an overflow into a reported fault
      void* m = mmap(nullptr, STACK + GUARD, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
      if (m == MAP_FAILED) fail("out of memory for fiber stacks");
      mprotect(m, GUARD, PROT_NONE);
      f.stack = (char*)m;
    }
    f.state = RUN;
    f.started = false;
    f.tid = t;
    f.open.clear();
    f.inflight.clear();
  }
}

// Runs the block at fiber_base until it is done (true) or, in cooperative mode, until none of its fibers can move
// (false; spinning fibers get one more turn each call). `moved`: set when anything but a spin happened.
inline bool run_fibers(unsigned nthreads, bool& moved) {
  const bool rev = flags & REVERSE_THREADS, coop = flags & COOPERATIVE;
  std::vector<bool> fromSpin(coop ? nthreads : 0, false);  // resumed from a spin: yielding again is no progress
  for (unsigned t = 0; t < nthreads; t++) {
    Fiber& f = fibers[fiber_base + t];
    if (f.state != SPIN) continue;
    fromSpin[t] = true;
    f.state = RUN;
  }
  for (;;) {
    for (unsigned i = 0; i < nthreads; i++) {
      const unsigned t = rev ? nthreads - 1 - i : i;
      Fiber& f = fibers[fiber_base + t];
      if (f.state != RUN) continue;
      cur = (int)(fiber_base + t);
      threadIdx = {t, 0, 0};
      if (!_setjmp(sched_jb)) {
        if (f.started) _longjmp(f.jb, 1);
        f.started = true;
        getcontext(&f.ctx);
        f.ctx.uc_stack.ss_sp = f.stack + GUARD;
        f.ctx.uc_stack.ss_size = STACK;
        f.ctx.uc_link = nullptr;
        makecontext(&f.ctx, fiber_main, 0);
        setcontext(&f.ctx);
      }
      if (!coop || !fromSpin[t] || f.state != SPIN) moved = true;
      if (coop) fromSpin[t] = false;
    }
    unsigned done = 0, atBlock = 0;
    for (unsigned t = 0; t < nthreads; t++) {
      const State st = fibers[fiber_base + t].state;
      done += st == DONE;
      atBlock += st == AT_BLOCK;
    }
    if (done == nthreads) return true;
    if (release_warps(nthreads)) {
      moved = true;
      continue;
    }
    if (atBlock + done == nthreads) {  // exited threads count as arrived, as on the GPU
      for (unsigned t = 0; t < nthreads; t++) if (fibers[fiber_base + t].state == AT_BLOCK) fibers[fiber_base + t].state = RUN;
      moved = true;
      continue;
    }
    if (coop) return false;  // the other blocks' turn
    cur = -1;
    fail("deadlock: " + std::to_string(atBlock) + " threads at __syncthreads, " + std::to_string(nthreads - done - atBlock) +
         " in warp collectives that cannot complete, " + std::to_string(done) + " exited");
  }
}

// Runs one block to completion.
inline void run_block(unsigned nthreads) {
  fiber_base = 0;
  init_block(0, nthreads);
  bool moved = false;
  run_fibers(nthreads, moved);
}

}  // namespace emu
