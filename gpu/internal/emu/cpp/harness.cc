// harness.cc: runs kernels of the shared source on the CPU for package emu.
// Usage: harness ARENA_FILE SIZE. It maps the arena (the emulated device
// memory, shared with the Go side) and reads one command per line:
//   run KERNEL GX GY GZ THREADS NARGS OFF... PARAMS_HEX
// runs every threadgroup of the grid in order, and answers "ok" or
// "err MESSAGE".
#include <dlfcn.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <ucontext.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <iostream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "prelude_cpu.h"
#line 1 "kernels.inc"
#include "kernels.inc"

thread_local EmuIDs emu_ids;

namespace {

const size_t kStack = 256 << 10;

struct Fiber {
  ucontext_t ctx;
  std::vector<char> stack;
  bool done = false;
  int wait = 0;        // 0 running, 1 block barrier, 2 warp barrier
  unsigned gen = 0;    // the barrier generation it waits past
};

struct Block {
  std::vector<Fiber> fibers;
  ucontext_t sched;
  int cur = -1;
  int live = 0;
  unsigned bgen = 0;
  int barrived = 0;
  unsigned wgen[32] = {};
  int warrived[32] = {};
  int wlive[32] = {};
  float wslot[32][32];
  int wislot[32][32];
  std::string error;
};

Block blk;
void (*entry)(int) = nullptr;

void fail(const std::string& msg) {
  if (blk.error.empty()) blk.error = msg;
}

void yield() { swapcontext(&blk.fibers[blk.cur].ctx, &blk.sched); }

void trampoline(int t) {
  entry(t);
  Fiber& f = blk.fibers[t];
  f.done = true;
  blk.live--;
  uint w = (uint)t >> 5;
  blk.wlive[w]--;
  // An exited thread no longer holds up barriers.
  if (blk.barrived > 0 && blk.barrived >= blk.live) { blk.barrived = 0; blk.bgen++; }
  if (blk.warrived[w] > 0 && blk.warrived[w] >= blk.wlive[w]) { blk.warrived[w] = 0; blk.wgen[w]++; }
  swapcontext(&f.ctx, &blk.sched);
}

}  // namespace

void emu_barrier() {
  Fiber& f = blk.fibers[blk.cur];
  if (++blk.barrived >= blk.live) {
    blk.barrived = 0;
    blk.bgen++;
    return;
  }
  f.wait = 1;
  f.gen = blk.bgen;
  yield();
}

void emu_warp_barrier() {
  Fiber& f = blk.fibers[blk.cur];
  uint w = (uint)blk.cur >> 5;
  if (blk.wlive[w] != 32 && (int)blk.fibers.size() >= (int)(w + 1) * 32) {
    fail("warp operation in warp " + std::to_string(w) + " after some of its lanes exited");
  }
  if (++blk.warrived[w] >= blk.wlive[w]) {
    blk.warrived[w] = 0;
    blk.wgen[w]++;
    return;
  }
  f.wait = 2;
  f.gen = blk.wgen[w];
  yield();
}

float emu_warp_reduce(float v, int op) {
  uint w = (uint)blk.cur >> 5, lane = (uint)blk.cur & 31u;
  blk.wslot[w][lane] = v;
  emu_warp_barrier();
  float a[32];
  for (int i = 0; i < 32; i++) a[i] = blk.wslot[w][i];
  for (int off = 16; off > 0; off >>= 1) {
    float b[32];
    for (int i = 0; i < 32; i++) b[i] = op == 0 ? a[i] + a[i ^ off] : fmaxf(a[i], a[i ^ off]);
    memcpy(a, b, sizeof a);
  }
  emu_warp_barrier();
  return a[lane];
}

float emu_warp_bcast(float v, uint src) {
  uint w = (uint)blk.cur >> 5, lane = (uint)blk.cur & 31u;
  blk.wslot[w][lane] = v;
  emu_warp_barrier();
  float r = blk.wslot[w][src & 31u];
  emu_warp_barrier();
  return r;
}

int emu_warp_bcast_int(int v, uint src) {
  uint w = (uint)blk.cur >> 5, lane = (uint)blk.cur & 31u;
  blk.wislot[w][lane] = v;
  emu_warp_barrier();
  int r = blk.wislot[w][src & 31u];
  emu_warp_barrier();
  return r;
}

void emu_check_align(const void* p, const char* what) {
  if (((uintptr_t)p & 15u) != 0) fail(std::string(what) + ": address not 16-byte aligned");
}

namespace {

char* arena = nullptr;
size_t arenaSize = 0;
void* args[32];
int nargs = 0;
Params params;
void* fn = nullptr;

// Kernels take pointers and then the Params block by value: call through a
// pointer type with void* parameters (the same calling convention).
typedef void* P;
void invoke() {
  switch (nargs) {
    case 1: ((void (*)(P, Params))fn)(args[0], params); break;
    case 2: ((void (*)(P, P, Params))fn)(args[0], args[1], params); break;
    case 3: ((void (*)(P, P, P, Params))fn)(args[0], args[1], args[2], params); break;
    case 4: ((void (*)(P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], params); break;
    case 5: ((void (*)(P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], params); break;
    case 6: ((void (*)(P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], params); break;
    case 7: ((void (*)(P, P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], args[6], params); break;
    case 8: ((void (*)(P, P, P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], params); break;
    case 9: ((void (*)(P, P, P, P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], params); break;
    case 10: ((void (*)(P, P, P, P, P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], params); break;
    case 11: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], params); break;
    case 12: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11], params); break;
    case 13: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11], args[12], params); break;
    case 14: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11], args[12], args[13], params); break;
    case 15: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11], args[12], args[13], args[14], params); break;
    case 16: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11], args[12], args[13], args[14], args[15], params); break;
    case 17: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11], args[12], args[13], args[14], args[15], args[16], params); break;
    case 18: ((void (*)(P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, P, Params))fn)(args[0], args[1], args[2], args[3], args[4], args[5], args[6], args[7], args[8], args[9], args[10], args[11], args[12], args[13], args[14], args[15], args[16], args[17], params); break;
    default: fail("unsupported argument count " + std::to_string(nargs));
  }
}

uint gx, gy, gz, nthreads;

void run_thread(int t) {
  emu_ids.tid = (uint)t;
  invoke();
}

void run_block(uint x, uint y, uint z) {
  blk.fibers.resize(nthreads);
  blk.live = (int)nthreads;
  blk.barrived = 0;
  for (int w = 0; w < 32; w++) {
    blk.warrived[w] = 0;
    int lo = w * 32, hi = std::min((int)nthreads, lo + 32);
    blk.wlive[w] = hi > lo ? hi - lo : 0;
  }
  emu_ids.gid[0] = x; emu_ids.gid[1] = y; emu_ids.gid[2] = z;
  emu_ids.ngroups[0] = gx; emu_ids.ngroups[1] = gy; emu_ids.ngroups[2] = gz;
  emu_ids.bdim = nthreads;
  for (uint t = 0; t < nthreads; t++) {
    Fiber& f = blk.fibers[t];
    if (f.stack.empty()) f.stack.resize(kStack);
    f.done = false;
    f.wait = 0;
    getcontext(&f.ctx);
    f.ctx.uc_stack.ss_sp = f.stack.data();
    f.ctx.uc_stack.ss_size = kStack;
    f.ctx.uc_link = nullptr;
    makecontext(&f.ctx, (void (*)())trampoline, 1, (int)t);
  }
  entry = run_thread;
  for (;;) {
    bool progress = false, all = true;
    for (uint t = 0; t < nthreads; t++) {
      Fiber& f = blk.fibers[t];
      if (f.done) continue;
      all = false;
      if (f.wait == 1 && f.gen == blk.bgen) continue;
      if (f.wait == 2 && f.gen == blk.wgen[t >> 5]) continue;
      f.wait = 0;
      blk.cur = (int)t;
      emu_ids.tid = t;
      swapcontext(&blk.sched, &f.ctx);
      progress = true;
    }
    if (all) break;
    if (!progress) {
      fail("deadlock: threads wait at a barrier others never reach");
      break;
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 3) {
    fprintf(stderr, "usage: harness ARENA SIZE\n");
    return 2;
  }
  arenaSize = strtoull(argv[2], nullptr, 10);
  int fd = open(argv[1], O_RDWR);
  if (fd < 0) { perror("open"); return 1; }
  arena = (char*)mmap(nullptr, arenaSize, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (arena == MAP_FAILED) { perror("mmap"); return 1; }
  std::string line;
  while (std::getline(std::cin, line)) {
    std::istringstream in(line);
    std::string cmd, name, hex;
    in >> cmd;
    if (cmd == "quit") break;
    if (cmd != "run") { std::cout << "err unknown command " << cmd << std::endl; continue; }
    in >> name >> gx >> gy >> gz >> nthreads >> nargs;
    blk.error.clear();
    for (int i = 0; i < nargs; i++) {
      unsigned long long off;
      in >> off;
      if (off > arenaSize) fail("argument outside the arena");
      args[i] = arena + off;
    }
    in >> hex;
    if (hex.size() != 2 * sizeof(Params)) fail("params block of " + std::to_string(hex.size() / 2) + " bytes");
    for (size_t i = 0; i + 1 < hex.size() && i / 2 < sizeof(Params); i += 2) {
      ((unsigned char*)&params)[i / 2] = (unsigned char)strtoul(hex.substr(i, 2).c_str(), nullptr, 16);
    }
    fn = dlsym(RTLD_DEFAULT, name.c_str());
    if (!fn) fail("no kernel " + name);
    if (nthreads == 0 || nthreads > 1024 || nthreads % 32 != 0) fail("bad threadgroup size");
    if (blk.error.empty()) {
      for (uint z = 0; z < gz && blk.error.empty(); z++)
        for (uint y = 0; y < gy && blk.error.empty(); y++)
          for (uint x = 0; x < gx && blk.error.empty(); x++) run_block(x, y, z);
    }
    if (blk.error.empty()) std::cout << "ok" << std::endl;
    else std::cout << "err " << blk.error << std::endl;
  }
  return 0;
}
