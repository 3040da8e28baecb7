/* kill_test: mallocs/frees 7777-byte blocks forever; prints "ready", then the
 * number of completed mallocs every 10000 (flushed). The runner SIGKILLs it
 * and checks the trace holds at least the last printed count. */
#include <stdio.h>
#include <stdlib.h>

int main(void) {
  printf("ready\n");
  fflush(stdout);
  for (long n = 1;; n++) {
    char *p = malloc(7777);
    if (!p) abort();
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
    if (n % 10000 == 0) { printf("%ld\n", n); fflush(stdout); }
  }
}
