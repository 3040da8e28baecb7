/* edge: allocator corner cases whose results (return values, errno) must be
 * identical with and without libmemoplan.so preloaded. Prints PASS/FAIL/INFO
 * lines without addresses; run.sh runs it both ways and diffs the output.
 * Everything is done twice: on the main thread and on a fresh thread (whose
 * first event takes the interposer's slow path). */
#define _GNU_SOURCE
#include <errno.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int fails;
static const char *where;
#define CHECK(c, name) do { if (c) printf("PASS %s %s\n", where, name); else { printf("FAIL %s %s\n", where, name); fails++; } } while (0)
#define ALIGNED(p, a) ((((uintptr_t)(p)) & ((uintptr_t)(a) - 1)) == 0)

static void *run(void *arg) {
  where = arg;
  void *p, *q;
  int rc;
  size_t big = SIZE_MAX / 2 + 2;

  errno = 777; p = malloc(10);  /* success must not touch errno */
  CHECK(p && errno == 777, "malloc keeps errno on success");
  free(p);

  errno = 0; p = realloc(NULL, 100);
  CHECK(p && malloc_usable_size(p) >= 100 && errno == 0, "realloc(NULL,n)");
  memset(p, 0xab, 100);
  q = realloc(p, 100000);
  CHECK(q && ((unsigned char *)q)[99] == 0xab && ((unsigned char *)q)[0] == 0xab, "realloc grow keeps data");
  errno = 555; p = realloc(q, 0);
  printf("INFO %s realloc(p,0) null=%d errno=%d\n", where, p == NULL, errno);
  free(p);

  errno = 1234; free(NULL);
  CHECK(errno == 1234, "free(NULL) keeps errno");

  p = (void *)0x1; errno = 4321; rc = posix_memalign(&p, 3, 16);
  CHECK(rc == EINVAL && errno == 4321 && p == (void *)0x1, "posix_memalign bad alignment EINVAL, errno and *p untouched");
  rc = posix_memalign(&p, 0, 16);
  CHECK(rc == EINVAL, "posix_memalign alignment 0");
  errno = 99; rc = posix_memalign(&p, 64, 100);
  CHECK(rc == 0 && ALIGNED(p, 64) && errno == 99, "posix_memalign 64");
  free(p);
  rc = posix_memalign(&p, 64, SIZE_MAX);
  CHECK(rc == ENOMEM, "posix_memalign huge ENOMEM");

  errno = 0; p = malloc(SIZE_MAX);
  CHECK(p == NULL && errno == ENOMEM, "malloc(SIZE_MAX) ENOMEM");
  errno = 0; p = calloc(big, 2);
  CHECK(p == NULL && errno == ENOMEM, "calloc overflow ENOMEM");
  p = calloc(1000, 8);
  int zero = 1;
  for (int i = 0; i < 8000; i++) zero &= ((unsigned char *)p)[i] == 0;
  CHECK(p && zero, "calloc zeroed");
  free(p);

  errno = 0; p = reallocarray(NULL, big, 2);
  CHECK(p == NULL && errno == ENOMEM, "reallocarray(NULL) overflow ENOMEM");
  q = malloc(32); memset(q, 0x5a, 32);
  errno = 0; p = reallocarray(q, big, 2);
  CHECK(p == NULL && errno == ENOMEM && ((unsigned char *)q)[31] == 0x5a, "reallocarray overflow keeps block");
  p = reallocarray(q, 10, 100);
  CHECK(p && ((unsigned char *)p)[31] == 0x5a, "reallocarray grow");
  errno = 0; q = realloc(p, SIZE_MAX - 4096);
  CHECK(q == NULL && errno == ENOMEM, "realloc huge fails, ENOMEM");
  free(p);

  errno = 0; p = aligned_alloc(256, 512);
  CHECK(p && ALIGNED(p, 256) && errno == 0, "aligned_alloc 256");
  free(p);
  errno = 0; p = aligned_alloc(3, 16);
  printf("INFO %s aligned_alloc(3,16) null=%d errno=%d\n", where, p == NULL, errno);
  free(p);
  p = memalign(4096, 10);
  CHECK(p && ALIGNED(p, 4096), "memalign 4096");
  free(p);
  errno = 0; p = memalign(64, SIZE_MAX);
  CHECK(p == NULL && errno == ENOMEM, "memalign huge ENOMEM");
  long ps = sysconf(_SC_PAGESIZE);
  p = valloc(10);
  CHECK(p && ALIGNED(p, ps), "valloc page aligned");
  free(p);
  p = pvalloc(10);
  CHECK(p && ALIGNED(p, ps) && malloc_usable_size(p) >= (size_t)ps, "pvalloc page aligned, page sized");
  free(p);

  CHECK(malloc_usable_size(NULL) == 0, "malloc_usable_size(NULL)");
  p = malloc(100);
  CHECK(malloc_usable_size(p) >= 100 && malloc_usable_size(p) < 200, "malloc_usable_size sane");
  free(p);
  return NULL;
}

int main(void) {
  run("main");
  pthread_t t;
  pthread_create(&t, NULL, run, "thread");
  pthread_join(t, NULL);
  where = "main";
  CHECK(1, "done");
  return fails ? 1 : 0;
}
