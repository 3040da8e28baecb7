/* mt_churn THREADS PAIRS: each thread does PAIRS malloc(4097)/free pairs.
 * The runner checks that the trace holds exactly THREADS*PAIRS mallocs of
 * 4097 bytes, each freed on its thread. */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>

static long pairs;

static void *worker(void *arg) {
  for (long i = 0; i < pairs; i++) {
    char *p = malloc(4097);
    if (!p) abort();
    __asm__ volatile("" : : "r"(p) : "memory");
    p[0] = (char)i;
    free(p);
  }
  return arg;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 8;
  pairs = argc > 2 ? atol(argv[2]) : 1000000;
  pthread_t *t = calloc((size_t)n, sizeof *t);
  for (int i = 0; i < n; i++) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < n; i++) pthread_join(t[i], NULL);
  free(t);
  printf("mt_churn threads=%d pairs=%ld\n", n, pairs);
  return 0;
}
