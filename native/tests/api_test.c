/* api_test: exercises the C API (found with dlsym so the program also runs
 * without the library): names, scopes (including overflow past depth 64),
 * iteration markers, events_written, and a thread that exits (thread_exit
 * marker). Mallocs of 5555 bytes happen inside a scope. */
#include <dlfcn.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

static void *thread_fn(void *a) {
  for (int i = 0; i < 10; i++) free(malloc(64));
  return a;
}

int main(void) {
  int (*active)(void) = (int (*)(void))dlsym(RTLD_DEFAULT, "memoplan_active");
  uint32_t (*intern)(const char *) = (uint32_t (*)(const char *))dlsym(RTLD_DEFAULT, "memoplan_intern");
  void (*push)(uint32_t) = (void (*)(uint32_t))dlsym(RTLD_DEFAULT, "memoplan_scope_push");
  void (*pop)(void) = (void (*)(void))dlsym(RTLD_DEFAULT, "memoplan_scope_pop");
  uint64_t (*ib)(void) = (uint64_t (*)(void))dlsym(RTLD_DEFAULT, "memoplan_iteration_begin");
  void (*ie)(uint64_t, uint64_t) = (void (*)(uint64_t, uint64_t))dlsym(RTLD_DEFAULT, "memoplan_iteration_end");
  uint64_t (*ew)(void) = (uint64_t (*)(void))dlsym(RTLD_DEFAULT, "memoplan_events_written");
  if (!active || !intern || !push || !pop || !ib || !ie || !ew) { printf("FAIL api missing\n"); return 1; }
  int fails = 0;
#define CHECK(c, name) do { if (c) printf("PASS %s\n", name); else { printf("FAIL %s\n", name); fails++; } } while (0)
  CHECK(active() == 1, "active");
  uint32_t a = intern("scope_a"), b = intern("scope_b");
  CHECK(a >= 1 && b > a, "intern ids");
  char big[3000];
  for (size_t i = 0; i < sizeof big - 1; i++) big[i] = 'x';
  big[sizeof big - 1] = 0;
  CHECK(intern(big) > b, "intern long name");
  push(a);
  for (int i = 0; i < 10; i++) free(malloc(5555));
  for (int i = 0; i < 100; i++) push(b);  /* 36 beyond depth 64: counted */
  for (int i = 0; i < 100; i++) pop();
  pop();
  pop(); /* underflow: ignored */
  for (int it = 0; it < 3; it++) {
    uint64_t n = ib();
    CHECK(n == (uint64_t)it, "iteration number");
    ie(n, 1000 + n);
  }
  pthread_t t;
  pthread_create(&t, NULL, thread_fn, NULL);
  pthread_join(t, NULL);
  CHECK(ew() > 20, "events_written");
  return fails ? 1 : 0;
}
