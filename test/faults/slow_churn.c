/* slow_churn THREADS MILLISECONDS PAIRS_PER_MS: each thread does about PAIRS_PER_MS
 * malloc/free pairs per millisecond until MILLISECONDS have passed, so a recording runs long
 * enough to be disturbed (kill -9 of the ingester, a full disk) while many trace chunks fill.
 * Prints the number of pairs each thread made. Compiled by test/faults tests with cc.
 * With CHURN_ITERATIONS=1 each round of PAIRS_PER_MS pairs (sizes 64 KiB + 4 KiB i, the same every
 * round) is an iteration marked through the interposer's C API, so it can be planned and
 * replayed. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long ms, rate;
static int iterations;
static uint64_t (*iter_begin)(void);
static void (*iter_end)(uint64_t, uint64_t);

static long now_ms(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void *worker(void *arg) {
  long end = now_ms() + ms, n = 0;
  while (now_ms() < end) {
    uint64_t it = iterations ? iter_begin() : 0;
    for (long i = 0; i < rate; i++, n++) {
      char *p = malloc(iterations ? 65536 + 4096 * (size_t)i : 64 + (size_t)(n % 4096));
      if (!p) abort();
      __asm__ volatile("" : : "r"(p) : "memory");
      p[0] = (char)n;
      free(p);
    }
    if (iterations) iter_end(it, 0);
    struct timespec d = {0, 1000000};
    nanosleep(&d, NULL);
  }
  *(long *)arg = n;
  return NULL;
}

int main(int argc, char **argv) {
  int threads = argc > 1 ? atoi(argv[1]) : 2;
  ms = argc > 2 ? atol(argv[2]) : 2000;
  rate = argc > 3 ? atol(argv[3]) : 50;
  pthread_t t[64];
  long counts[64];
  if (threads > 64) threads = 64;
  const char *e = getenv("CHURN_ITERATIONS");
  iter_begin = (uint64_t (*)(void))dlsym(RTLD_DEFAULT, "memoplan_iteration_begin");
  iter_end = (void (*)(uint64_t, uint64_t))dlsym(RTLD_DEFAULT, "memoplan_iteration_end");
  iterations = e && *e == '1' && iter_begin && iter_end;
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, &counts[i]);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  for (int i = 0; i < threads; i++) printf("%ld\n", counts[i]);
  return 0;
}
