/* bench_pagecost DIR [CHUNKS] [THREADS]: what the trace format costs the kernel alone.
 * Extends a file in DIR by 1 MiB chunks with fallocate, maps each chunk
 * MAP_SHARED and fills it with 32-byte records (3 stores + 1 release store,
 * no clock, no allocator), like libmemoplan does. Prints ns per record. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <unistd.h>

static uint64_t now(void) {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

static int fd, chunks;
static uint64_t next_chunk;
static const size_t CH = 1u << 20;

static void *worker(void *arg) {
  for (int c = 0; c < chunks; c++) {
    uint64_t idx = __atomic_fetch_add(&next_chunk, 1, __ATOMIC_RELAXED);
    if (fallocate(fd, 0, (off_t)(idx * CH), CH) != 0) { perror("fallocate"); exit(1); }
    uint64_t *m = mmap(NULL, CH, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)(idx * CH));
    if (m == MAP_FAILED) { perror("mmap"); exit(1); }
    for (size_t i = 4; i < CH / 8; i += 4) {
      m[i] = i; m[i + 1] = i; m[i + 2] = i;
      __atomic_store_n(&m[i + 3], i | 1ull << 32, __ATOMIC_RELEASE);
    }
    munmap(m, CH);
  }
  return arg;
}

int main(int argc, char **argv) {
  if (argc < 2) return 2;
  chunks = argc > 2 ? atoi(argv[2]) : 64;
  int threads = argc > 3 ? atoi(argv[3]) : 1;
  if (threads < 1 || threads > 64) return 2;
  char path[4096];
  snprintf(path, sizeof path, "%s/pagecost.%d", argv[1], (int)getpid());
  fd = open(path, O_RDWR | O_CREAT | O_EXCL, 0600);
  if (fd < 0) { perror(path); return 1; }
  unlink(path);
  pthread_t t[64];
  uint64_t t0 = now();
  for (int i = 0; i < threads; i++) pthread_create(&t[i], NULL, worker, NULL);
  for (int i = 0; i < threads; i++) pthread_join(t[i], NULL);
  /* wall time per record of one thread (each thread writes chunks*32767) */
  double ns = (double)(now() - t0) / ((double)chunks * (CH / 32 - 1));
  printf("pagecost dir=%s threads=%d ns_per_record=%.2f\n", argv[1], threads, ns);
  close(fd);
  return 0;
}
