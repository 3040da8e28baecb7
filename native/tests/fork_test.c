/* fork_test: parent mallocs 1111-byte blocks, forks; the child mallocs 2222-
 * byte blocks and exits; the parent then mallocs 3333-byte blocks. Before the
 * fork the parent interns a name and pushes it as scope (when the C API is
 * there), so the child's copy of the names file can be checked.
 * Prints "parent=<pid> child=<pid>". */
#include <dlfcn.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>
#include <unistd.h>

static void churn(size_t size, int n) {
  for (int i = 0; i < n; i++) {
    void *p = malloc(size);
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
  }
}

int main(void) {
  uint32_t (*intern)(const char *) = (uint32_t (*)(const char *))dlsym(RTLD_DEFAULT, "memoplan_intern");
  void (*push)(uint32_t) = (void (*)(uint32_t))dlsym(RTLD_DEFAULT, "memoplan_scope_push");
  if (intern && push) push(intern("fork_test_scope"));
  churn(1111, 100);
  fflush(stdout);
  pid_t pid = fork();
  if (pid < 0) { perror("fork"); return 1; }
  if (pid == 0) {
    churn(2222, 100);
    exit(0);
  }
  int st;
  waitpid(pid, &st, 0);
  churn(3333, 50);
  printf("parent=%d child=%d status=%d\n", (int)getpid(), (int)pid, WIFEXITED(st) ? WEXITSTATUS(st) : -1);
  return 0;
}
