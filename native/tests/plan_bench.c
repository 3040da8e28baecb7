/* plan_bench: ns per allocation+free of an inference-like iteration (about
 * 200 allocations of 16 B .. 2 MiB, nested lifetimes, 2 outputs outliving
 * it), under whatever allocator is preloaded, or under plan mode.
 *   plan_bench mkplan FILE        write the plan of the workload
 *   plan_bench run ITERS [touch]  time ITERS iterations after 20 warm-up ones;
 *                                 touch=1 writes one byte per 4 KiB page of
 *                                 every block, touch=2 writes nothing (else
 *                                 only its first byte)
 * Prints "ns_per_alloc=X hits=H misses=M". */
#include "plan_util.h"
#include <dlfcn.h>
#include <time.h>

static Work W;

static uint64_t now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int main(int argc, char **argv) {
  work_make(&W, 200, 2 << 20, 2, 1, 0, 777);
  plan_build(&W);
  if (argc >= 3 && !strcmp(argv[1], "mkplan")) return plan_write(&W, argv[2]) ? 1 : 0;
  if (argc < 3) { fprintf(stderr, "usage: plan_bench mkplan FILE | run ITERS [touch]\n"); return 2; }
  int iters = atoi(argv[2]), touch = argc > 3 && atoi(argv[3]);
  uint64_t (*ib)(void) = (uint64_t (*)(void))dlsym(RTLD_DEFAULT, "memoplan_iteration_begin");
  void (*ie)(uint64_t, uint64_t) = (void (*)(uint64_t, uint64_t))dlsym(RTLD_DEFAULT, "memoplan_iteration_end");
  void (*pc)(uint64_t *) = (void (*)(uint64_t *))dlsym(RTLD_DEFAULT, "memoplan_plan_counters");
  static void *slots[MAX_SLOTS];
  uint64_t t0 = 0;
  for (int it = -20; it < iters; it++) {
    if (it == 0) t0 = now();
    uint64_t n = ib ? ib() : 0;
    for (int i = 0; i < W.nops; i++) {
      const Op *o = &W.op[i];
      if (o->kind == OP_FREE) { free(slots[o->slot]); slots[o->slot] = NULL; continue; }
      char *p = do_alloc(o, NULL);
      if (touch == 1) for (size_t off = 0; off < o->size; off += 4096) p[off] = 1;
      else if (touch == 0) p[0] = 1;
      slots[o->slot] = p;
    }
    if (ie) ie(n, 0);
    for (int s = 0; s < W.nslots; s++) if (slots[s]) { free(slots[s]); slots[s] = NULL; }
  }
  uint64_t dt = now() - t0;
  uint64_t c[8] = {0};
  if (pc) pc(c);
  printf("ns_per_alloc=%.1f hits=%llu misses=%llu allocs_per_iter=%d arena=%llu\n",
         (double)dt / ((double)iters * W.nalloc), (unsigned long long)c[0], (unsigned long long)c[1],
         W.nalloc, (unsigned long long)W.arena);
  return 0;
}
