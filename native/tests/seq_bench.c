/* seq_bench FILE ITERATIONS [WARMUP]: replays a recorded iteration's allocation sequence
 * (written by bench/replay.bench.ts from a memoplan session) ITERATIONS times and prints the
 * mean ns per allocation+free pair over the iterations after WARMUP.
 *
 * FILE: first line "N" (allocations in the iteration), then one event per line in the
 * recorded order: "a ORDINAL SIZE ALIGN KIND" or "f ORDINAL". Allocations never freed within
 * the iteration are freed after it ends, as in the recording. KIND picks the call (malloc,
 * calloc, posix_memalign, aligned_alloc, memalign), so that the interposer in plan mode sees
 * the same (size, align) sequence as the recording and its signature gate opens. Each block's
 * first bytes are written, as a tensor's would be. Iterations are marked through the
 * interposer's C API when it is preloaded (dlsym), else run unmarked. */
#define _GNU_SOURCE
#include <dlfcn.h>
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct ev { int alloc; int ord; size_t size; size_t align; int kind; };

static uint64_t now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

int main(int argc, char **argv) {
  if (argc < 3) { fprintf(stderr, "usage: seq_bench FILE ITERATIONS [WARMUP]\n"); return 2; }
  FILE *f = fopen(argv[1], "r");
  if (!f) { perror(argv[1]); return 2; }
  long iterations = atol(argv[2]);
  long warmup = argc > 3 ? atol(argv[3]) : 3;
  int n;
  if (fscanf(f, "%d", &n) != 1 || n <= 0) { fprintf(stderr, "bad header\n"); return 2; }
  struct ev *evs = calloc((size_t)(2 * n), sizeof *evs);
  int m = 0;
  char op[2];
  while (m < 2 * n && fscanf(f, "%1s", op) == 1) {
    struct ev *e = &evs[m];
    if (op[0] == 'a') {
      if (fscanf(f, "%d %zu %zu %d", &e->ord, &e->size, &e->align, &e->kind) != 4) return 2;
      e->alloc = 1;
    } else if (fscanf(f, "%d", &e->ord) != 1) return 2;
    m++;
  }
  fclose(f);
  void **blocks = calloc((size_t)n, sizeof *blocks);
  uint64_t (*begin)(void) = (uint64_t (*)(void))dlsym(RTLD_DEFAULT, "memoplan_iteration_begin");
  void (*end)(uint64_t, uint64_t) = (void (*)(uint64_t, uint64_t))dlsym(RTLD_DEFAULT, "memoplan_iteration_end");
  uint64_t total = 0;
  for (long it = 0; it < warmup + iterations; it++) {
    memset(blocks, 0, (size_t)n * sizeof *blocks);
    uint64_t t0 = now();
    uint64_t mark = begin ? begin() : 0;
    for (int i = 0; i < m; i++) {
      struct ev *e = &evs[i];
      if (!e->alloc) {
        free(blocks[e->ord]);
        blocks[e->ord] = NULL;
        continue;
      }
      void *p = NULL;
      switch (e->kind) {
        case 2: p = calloc(1, e->size); break;
        case 6: if (posix_memalign(&p, e->align, e->size)) p = NULL; break;
        case 7: p = aligned_alloc(e->align, e->size); break;
        case 8: p = memalign(e->align, e->size); break;
        default: p = malloc(e->size); break;
      }
      if (!p && e->size) { fprintf(stderr, "allocation failed\n"); return 1; }
      if (e->size) memset(p, 1, e->size < 64 ? e->size : 64);
      blocks[e->ord] = p;
    }
    if (end) end(mark, 0);
    uint64_t t1 = now();
    for (int i = 0; i < n; i++) free(blocks[i]);  /* the ones that outlive the iteration */
    if (it >= warmup) total += t1 - t0;
  }
  printf("seq_bench allocations=%d iterations=%ld ns_per_pair=%.1f\n", n, iterations, (double)total / (double)iterations / n);
  return 0;
}
