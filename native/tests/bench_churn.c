/* bench_churn THREADS [PAIRS]: each thread does PAIRS (default 2,000,000)
 * malloc(32)/free pairs after a barrier; prints the mean over threads of
 * elapsed CLOCK_MONOTONIC ns / (2*PAIRS), i.e. ns per event (one event = one
 * malloc or one free call), and the same with the thread's CPU time
 * (CLOCK_THREAD_CPUTIME_ID, less sensitive to other load on the machine). */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

static long pairs = 2000000;
static pthread_barrier_t bar;
static double ns_per_event[64], cpu_ns_per_event[64];

static uint64_t cpu_now(void) {
  struct timespec t;
  clock_gettime(CLOCK_THREAD_CPUTIME_ID, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static uint64_t now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static void *worker(void *arg) {
  long id = (long)arg;
  /* warm up: thread state, first chunk, tcache */
  for (int i = 0; i < 1000; i++) { void *p = malloc(32); __asm__ volatile("" : : "r"(p) : "memory"); free(p); }
  pthread_barrier_wait(&bar);
  uint64_t c0 = cpu_now();
  uint64_t t0 = now();
  for (long i = 0; i < pairs; i++) {
    void *p = malloc(32);
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
  }
  uint64_t t1 = now();
  uint64_t c1 = cpu_now();
  ns_per_event[id] = (double)(t1 - t0) / (2.0 * (double)pairs);
  cpu_ns_per_event[id] = (double)(c1 - c0) / (2.0 * (double)pairs);
  return NULL;
}

int main(int argc, char **argv) {
  int n = argc > 1 ? atoi(argv[1]) : 1;
  if (argc > 2) pairs = atol(argv[2]);
  if (n < 1 || n > 64) return 2;
  pthread_t t[64];
  pthread_barrier_init(&bar, NULL, (unsigned)n);
  for (long i = 0; i < n; i++) pthread_create(&t[i], NULL, worker, (void *)i);
  double sum = 0, csum = 0;
  for (int i = 0; i < n; i++) { pthread_join(t[i], NULL); sum += ns_per_event[i]; csum += cpu_ns_per_event[i]; }
  printf("threads=%d pairs=%ld ns_per_event=%.2f cpu_ns_per_event=%.2f\n", n, pairs, sum / n, csum / n);
  return 0;
}
