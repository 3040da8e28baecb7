/* signal_test: a signal handler that allocates, delivered over and over while the main thread
 * churns malloc/free (record() interrupted at every point, chunk boundaries included).
 *   signal_test SIGNALS
 * The main thread mallocs/frees 48-byte blocks until a second thread has delivered SIGNALS
 * SIGUSR1s to it; the handler mallocs and frees one 6666-byte block. Prints
 * "pairs=N handled=M". The runner checks that every main-thread pair is in the trace and that
 * each handler pair is recorded whole or not at all (run.sh). */
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static volatile sig_atomic_t handled;
static volatile int stop;
static pthread_t main_thread;
static long want;

static void on_usr1(int sig) {
  (void)sig;
  char *p = malloc(6666);
  if (p) {
    p[0] = 1;
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
  }
  handled++;
}

static void *sender(void *arg) {
  (void)arg;
  for (long i = 0; i < want && !stop; i++) {
    pthread_kill(main_thread, SIGUSR1);
    for (volatile int spin = 0; spin < 200; spin++) {
    }
  }
  stop = 1;
  return NULL;
}

int main(int argc, char **argv) {
  want = argc > 1 ? atol(argv[1]) : 100000;
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_usr1;
  sa.sa_flags = SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGUSR1, &sa, NULL) != 0) return 2;
  main_thread = pthread_self();
  pthread_t t;
  if (pthread_create(&t, NULL, sender, NULL) != 0) return 2;
  long pairs = 0;
  while (!stop) {
    char *p = malloc(48);
    if (!p) abort();
    __asm__ volatile("" : : "r"(p) : "memory");
    free(p);
    pairs++;
  }
  pthread_join(t, NULL);
  printf("pairs=%ld handled=%ld\n", pairs, (long)handled);
  return 0;
}
