// Attach mode without gdb: dlopen libmemoplan.so into this (unpreloaded) process, call
// memoplan_attach/memoplan_detach in-process 20 times. Built with -fno-plt, so every call to
// malloc & co. goes through a GLOB_DAT GOT slot. Usage: attach_test LIB DIR
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef int (*attach_fn)(const char*, const char*, int);
typedef int (*detach_fn)(void);

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  char* before = malloc(1111);  // allocated before attach, freed while attached
  void* h = dlopen(argv[1], RTLD_NOW);
  if (!h) { printf("FAIL dlopen %s\n", dlerror()); return 1; }
  attach_fn at = (attach_fn)dlsym(h, "memoplan_attach");
  detach_fn de = (detach_fn)dlsym(h, "memoplan_detach");
  int fails = 0;
  for (int round = 0; round < 20; round++) {
    int rc = at(argv[2], "", 0);
    if (rc < 16) { printf("FAIL attach %d rc %d\n", round, rc); fails++; continue; }
    if (at(argv[2], "", 0) != -6) { printf("FAIL second attach not refused\n"); fails++; }
    for (int i = 0; i < 100; i++) {
      char* p = malloc(2222);
      memset(p, i, 2222);
      p = realloc(p, 4444);
      free(p);
    }
    void* q = NULL;
    if (posix_memalign(&q, 64, 5555) == 0) free(q);
    if (round == 0) free(before);
    int r = de();
    if (r < 1) { printf("FAIL detach %d rc %d\n", round, r); fails++; }
    if (de() != -6) { printf("FAIL second detach not refused\n"); fails++; }
    free(malloc(3333));  // after detach: not recorded
  }
  printf("attach_test rounds=20 fails=%d\n", fails);
  return fails != 0;
}
