/* plan_test: plan mode of libmemoplan.so.
 *   plan_test mkplan FILE [scale]    write the plan of the test workload
 *   plan_test mkset FILE s1,s2,...   write a plan set (version 3): one plan per scale
 *   plan_test run [key=value...]     run iterations of it, checking data
 * run options: iters=N (6) scale=S (1: sizes x S) extra=IT (one extra malloc
 * in the middle of iteration IT; extrafirst=IT: at its start) missing=IT (one allocation left out in IT) outlive=IT (a
 * planned block freed only after IT ends, then realloc'ed) foreign=1 (one
 * block per iteration freed by another thread) threads=T (T serving threads)
 * cycle=s1,s2,... (one thread: iteration i runs the workload at scale
 * s[i % count], a different allocation pattern each).
 * stdout: deterministic summary (same with or without the library);
 * stderr: "iter I hits H misses M arena_ptrs A base B" per iteration (single
 * thread) and "total ..." counters; checks print "ERROR ..." on stderr.
 * Nothing inside an iteration allocates except the workload itself. */
#include "plan_util.h"
#include <dlfcn.h>
#include <pthread.h>
#include <stdatomic.h>

static Work W;
static Work WC[8];  /* cycle=: the workload at each scale */
static int ncycle;
static int opt_iters = 6, opt_scale = 1, opt_extra = -1, opt_missing = -1, opt_outlive = -1;
static int opt_extra_first = -1;
static int opt_foreign = 0, opt_threads = 1;
static uint64_t (*ib)(void);
static void (*ie)(uint64_t, uint64_t);
static void (*pc)(uint64_t *);
static int (*ps)(void);
static atomic_int errors;

#define ERROR(...) do { atomic_fetch_add(&errors, 1); fprintf(stderr, "ERROR " __VA_ARGS__); fputc('\n', stderr); } while (0)

static unsigned char pat(int slot, int it) { return (unsigned char)(slot * 131 + it * 7 + 1); }
static int check_fill(const unsigned char *p, size_t n, unsigned char v) {
  for (size_t i = 0; i < n; i++) if (p[i] != v) return 0;
  return 1;
}

/* helper thread for foreign frees */
static _Atomic(void *) handoff;
static atomic_int helper_stop;
static void *helper(void *a) {
  while (!atomic_load(&helper_stop)) {
    void *p = atomic_load(&handoff);
    if (p && p != (void *)1) { free(p); atomic_store(&handoff, (void *)1); }
  }
  return a;
}

typedef struct { int tid; uintptr_t last_base; uintptr_t bases[64]; int nbases; } ThreadRes;

static uintptr_t known_bases[256];
static atomic_int nknown;

static void *run_thread(void *arg) {
  ThreadRes *res = arg;
  void *slots[MAX_SLOTS] = {0};
  void *ord_ptr[MAX_OPS] = {0};
  int skip_ord = -1, foreign_slot = -1, outlive_slot = -1;
  if (opt_missing >= 0 || opt_foreign || opt_outlive >= 0) {
    /* a malloc'ed, planned ordinal in the middle, not a realloc source */
    for (int k = W.nalloc / 2; k < W.nalloc; k++) {
      int s = W.ord_slot[k], used_as_src = 0;
      for (int i = 0; i < W.nops; i++) if (W.op[i].kind == OP_REALLOC_LIVE && W.op[i].src == s) used_as_src = 1;
      if (W.ord_planned[k] && !used_as_src) { skip_ord = k; break; }
    }
    if (opt_foreign) foreign_slot = W.ord_slot[skip_ord];
    if (opt_outlive >= 0) {
      /* the planned block freed earliest: its bytes are reused soon after */
      for (int i = 0; i < W.nops && outlive_slot < 0; i++)
        if (W.op[i].kind == OP_FREE) outlive_slot = W.op[i].slot;
    }
  }
  uint64_t before[8] = {0}, after[8] = {0};
  void *held = NULL;
  size_t held_size = 0;
  int held_it = -1;
  for (int it = 0; it < opt_iters; it++) {
    if (ncycle) W = WC[it % ncycle];  /* one thread only */
    if (pc && opt_threads == 1) pc(before);
    uint64_t n = ib ? ib() : 0;
    int ord = 0;
    for (int i = 0; i < W.nops; i++) {
      const Op *o = &W.op[i];
      if ((it == opt_extra && i == W.nops / 2) || (it == opt_extra_first && i == 0)) {
        void *x = malloc(777);
        memset(x, 0x5a, 777);
        free(x);
      }
      if (o->kind == OP_FREE) {
        void *p = slots[o->slot];
        if (!p) continue;  /* the left-out allocation */
        size_t sz = 0;
        for (int k = 0; k < W.nalloc; k++) if (W.ord_slot[k] == o->slot) sz = W.ord_size[k];
        if (!check_fill(p, sz, pat(o->slot, it))) ERROR("it %d slot %d: data corrupted", it, o->slot);
        slots[o->slot] = NULL;
        if (it == opt_outlive && o->slot == outlive_slot) { held = p; held_size = sz; held_it = it; continue; }
        if (o->slot == foreign_slot) {
          atomic_store(&handoff, p);
          while (atomic_load(&handoff) != (void *)1) {}
          atomic_store(&handoff, NULL);
          continue;
        }
        free(p);
        continue;
      }
      int k = ord++;
      if (it == opt_missing && k == skip_ord) { slots[o->slot] = NULL; ord_ptr[k] = NULL; continue; }
      void *src = o->kind == OP_REALLOC_LIVE ? slots[o->src] : NULL;
      size_t src_size = 0;
      if (src) {
        for (int j = 0; j < W.nalloc; j++) if (W.ord_slot[j] == o->src) src_size = W.ord_size[j];
      }
      unsigned char *p = do_alloc(o, src);
      if (!p) { ERROR("it %d op %d: allocation failed", it, i); continue; }
      if (((uintptr_t)p & (W.ord_align[k] - 1)) != 0) ERROR("it %d ord %d: misaligned %p", it, k, (void *)p);
      if (o->kind == OP_CALLOC && !check_fill(p, o->size, 0)) ERROR("it %d ord %d: calloc not zeroed", it, k);
      if (src) {
        size_t m = src_size < o->size ? src_size : o->size;
        if (!check_fill(p, m, pat(o->src, it))) ERROR("it %d ord %d: realloc lost data", it, k);
        slots[o->src] = NULL;
      }
      size_t us = malloc_usable_size(p);
      if (us < o->size) ERROR("it %d ord %d: usable size %zu < %zu", it, k, us, o->size);
      memset(p, pat(o->slot, it), o->size);
      slots[o->slot] = p;
      ord_ptr[k] = p;
    }
    /* outputs: still live at the end, freed after it */
    if (held && held_it == it && !check_fill(held, held_size, pat(outlive_slot, it)))
      ERROR("it %d: the block that outlived its iteration was overwritten", it);
    if (ie) ie(n, 0);
    if (pc && opt_threads == 1) pc(after);
    /* which planned ordinals came from one arena base */
    uintptr_t base = 0;
    int arena_ptrs = 0;
    /* the base of the last planned ordinal (the first ones may go to malloc while a set selects) */
    for (int k = W.nalloc - 1; k >= 0; k--) {
      if (!W.ord_planned[k] || !ord_ptr[k]) continue;
      uintptr_t b = (uintptr_t)ord_ptr[k] - W.ord_off[k];
      if (!base) base = b;
      if (b == base) arena_ptrs++;
    }
    if (arena_ptrs < W.nalloc / 2) base = 0;  /* not served */
    if (base && getenv("PLAN_TEST_VERBOSE"))
      for (int k = 0; k < W.nalloc; k++)
        if (W.ord_planned[k] && ord_ptr[k] && (uintptr_t)ord_ptr[k] - W.ord_off[k] != base)
          fprintf(stderr, "  it %d ord %d not from the arena (size %zu align %zu)\n", it, k, W.ord_size[k], W.ord_align[k]);
    if (base) {
      int seen = 0;
      for (int i = 0; i < res->nbases; i++) seen |= res->bases[i] == base;
      if (!seen && res->nbases < 64) res->bases[res->nbases++] = base;
      int nk = atomic_load(&nknown);
      seen = 0;
      for (int i = 0; i < nk; i++) seen |= known_bases[i] == base;
      if (!seen && nk < 256) { known_bases[nk] = base; atomic_store(&nknown, nk + 1); }
      res->last_base = base;
    }
    if (opt_threads == 1)
      fprintf(stderr, "iter %d hits %llu misses %llu arena_ptrs %d base %#lx\n", it,
              (unsigned long long)(after[0] - before[0]), (unsigned long long)(after[1] - before[1]),
              arena_ptrs, (unsigned long)base);
    /* free the outputs, outside the iteration */
    for (int s = 0; s < W.nslots; s++) if (slots[s]) { free(slots[s]); slots[s] = NULL; }
    /* allocations outside an iteration are never in an arena */
    for (int j = 0; j < 8; j++) {
      void *q = malloc(W.ord_size[j]);
      int nk = atomic_load(&nknown);
      for (int i = 0; i < nk; i++)
        if ((uintptr_t)q >= known_bases[i] && (uintptr_t)q < known_bases[i] + W.arena)
          ERROR("it %d: allocation outside an iteration served from an arena", it);
      free(q);
    }
    if (held && held_it == it) {  /* realloc of an arena block: data kept, moved out */
      unsigned char *q = realloc(held, held_size * 2);
      if (!q || !check_fill(q, held_size, pat(outlive_slot, it))) ERROR("realloc of the held block lost data");
      int nk = atomic_load(&nknown);
      for (int i = 0; i < nk; i++)
        if ((uintptr_t)q >= known_bases[i] && (uintptr_t)q < known_bases[i] + W.arena)
          ERROR("realloc of an arena block stayed in the arena");
      free(q);
      held = NULL;
    }
  }
  return NULL;
}

int main(int argc, char **argv) {
  if (argc >= 3 && strcmp(argv[1], "mkplan") == 0) {
    int scale = argc >= 4 ? atoi(argv[3]) : 1;
    work_make(&W, 120, 256 * 1024, 2, scale, 1, 12345);
    plan_build(&W);
    char sig[65];
    signature_of(&W, sig);
    if (plan_write(&W, argv[2]) != 0) { perror("write plan"); return 1; }
    printf("plan %s entries=%d arena=%llu signature=%s\n", argv[2], W.nalloc,
           (unsigned long long)W.arena, sig);
    return 0;
  }
  if (argc >= 4 && strcmp(argv[1], "mkset") == 0) {
    static Work ws[8];
    const Work *wp[8];
    int k = 0;
    for (char *t = strtok(argv[3], ","); t && k < 8; t = strtok(NULL, ","), k++) {
      work_make(&ws[k], 120, 256 * 1024, 2, atoi(t), 1, 12345);
      plan_build(&ws[k]);
      wp[k] = &ws[k];
      char sig[65];
      signature_of(&ws[k], sig);
      printf("plan %d scale %s entries=%d arena=%llu signature=%s\n", k, t, ws[k].nalloc,
             (unsigned long long)ws[k].arena, sig);
    }
    if (plan_set_write(wp, k, argv[2]) != 0) { perror("write plan set"); return 1; }
    return 0;
  }
  if (argc < 2 || strcmp(argv[1], "run") != 0) {
    fprintf(stderr, "usage: plan_test mkplan FILE [scale] | mkset FILE s1,s2,... | run [key=value...]\n");
    return 2;
  }
  for (int i = 2; i < argc; i++) {
    int v = atoi(strchr(argv[i], '=') ? strchr(argv[i], '=') + 1 : "0");
    if (!strncmp(argv[i], "iters=", 6)) opt_iters = v;
    else if (!strncmp(argv[i], "scale=", 6)) opt_scale = v;
    else if (!strncmp(argv[i], "extra=", 6)) opt_extra = v;
    else if (!strncmp(argv[i], "extrafirst=", 11)) opt_extra_first = v;
    else if (!strncmp(argv[i], "missing=", 8)) opt_missing = v;
    else if (!strncmp(argv[i], "outlive=", 8)) opt_outlive = v;
    else if (!strncmp(argv[i], "foreign=", 8)) opt_foreign = v;
    else if (!strncmp(argv[i], "threads=", 8)) opt_threads = v;
    else if (!strncmp(argv[i], "cycle=", 6)) {
      for (char *t = strtok(argv[i] + 6, ","); t && ncycle < 8; t = strtok(NULL, ",")) {
        work_make(&WC[ncycle], 120, 256 * 1024, 2, atoi(t), 1, 12345);
        plan_build(&WC[ncycle++]);
      }
    }
  }
  work_make(&W, 120, 256 * 1024, 2, opt_scale, 1, 12345);
  plan_build(&W);
  ib = (uint64_t (*)(void))dlsym(RTLD_DEFAULT, "memoplan_iteration_begin");
  ie = (void (*)(uint64_t, uint64_t))dlsym(RTLD_DEFAULT, "memoplan_iteration_end");
  pc = (void (*)(uint64_t *))dlsym(RTLD_DEFAULT, "memoplan_plan_counters");
  ps = (int (*)(void))dlsym(RTLD_DEFAULT, "memoplan_plan_status");
  pthread_t h;
  if (opt_foreign) pthread_create(&h, NULL, helper, NULL);
  fprintf(stderr, "workload allocations=%d arena=%llu\n", W.nalloc, (unsigned long long)W.arena);
  ThreadRes res[16] = {{0}};
  if (opt_threads <= 1) {
    run_thread(&res[0]);
  } else {
    pthread_t t[16];
    for (int i = 0; i < opt_threads && i < 16; i++) pthread_create(&t[i], NULL, run_thread, &res[i]);
    for (int i = 0; i < opt_threads && i < 16; i++) pthread_join(t[i], NULL);
    int distinct = 1;
    for (int i = 0; i < opt_threads; i++)
      for (int j = 0; j < i; j++)
        if (!res[i].last_base || res[i].last_base == res[j].last_base) distinct = 0;
    fprintf(stderr, "threads_distinct_bases %d\n", distinct);
  }
  if (opt_foreign) { atomic_store(&helper_stop, 1); pthread_join(h, NULL); }
  fprintf(stderr, "bases %d\n", res[0].nbases);
  if (pc) {
    uint64_t c[8];
    pc(c);
    fprintf(stderr, "total status %d hits %llu misses %llu hit_bytes %llu miss_bytes %llu arena_bytes %llu served %llu retired %llu pass %llu\n",
            ps ? ps() : -1, (unsigned long long)c[0], (unsigned long long)c[1], (unsigned long long)c[2],
            (unsigned long long)c[3], (unsigned long long)c[4], (unsigned long long)c[5],
            (unsigned long long)c[6], (unsigned long long)c[7]);
  }
  printf("plan_test ran %d iterations x %d thread(s), %d allocations each, errors=%d\n", opt_iters,
         opt_threads, W.nalloc, atomic_load(&errors));
  return atomic_load(&errors) ? 1 : 0;
}
