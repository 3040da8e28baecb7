// Attach mode and other libraries' atfork handlers: a child handler registered before the
// attach (so it runs before ours in the child) allocates while the child still maps the
// parent's trace chunks. Usage: atfork_test LIB DIR. Prints "parent=PID child=PID".
// The runner checks that the handler's 8888-byte block is in neither trace, and that the
// parent's trace counts match its records (nothing written into it by the child).
#include <dlfcn.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

typedef int (*attach_fn)(const char*, const char*, int);
typedef int (*detach_fn)(void);

static void* kept;
static void child_handler(void) {
  kept = malloc(8888);  // runs in the child before memoplan's own child handler
  if (kept) memset(kept, 1, 8888);
}

int main(int argc, char** argv) {
  if (argc < 3) return 2;
  if (pthread_atfork(NULL, NULL, child_handler) != 0) return 2;
  void* h = dlopen(argv[1], RTLD_NOW);
  if (!h) { printf("FAIL dlopen %s\n", dlerror()); return 1; }
  attach_fn at = (attach_fn)dlsym(h, "memoplan_attach");
  detach_fn de = (detach_fn)dlsym(h, "memoplan_detach");
  int rc = at(argv[2], "", 0);
  if (rc < 16) { printf("FAIL attach rc %d\n", rc); return 1; }
  for (int i = 0; i < 50; i++) free(malloc(2222));
  fflush(stdout);
  pid_t child = fork();
  if (child < 0) return 1;
  if (child == 0) {
    for (int i = 0; i < 10; i++) free(malloc(2222));
    _exit(kept ? 0 : 3);
  }
  int status = 0;
  // No allocation in the parent until the child is done: whatever it wrote stays visible.
  waitpid(child, &status, 0);
  if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) { printf("FAIL child status %d\n", status); return 1; }
  if (de() < 1) { printf("FAIL detach\n"); return 1; }
  printf("parent=%d child=%d\n", (int)getpid(), (int)child);
  return 0;
}
