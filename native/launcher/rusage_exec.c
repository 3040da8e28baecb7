/*
 * memoplan-rusage: runs one command and reports what the kernel counted for it alone.
 *
 *   memoplan-rusage --out FILE [--preload LIB] -- CMD ARGS...
 *
 * fork, (child: set LD_PRELOAD=LIB when given, execvp), wait4 on that child: the rusage wait4
 * returns is the child's own (and that of descendants it waited for), not ours nor that of
 * other children of the caller, which is what getrusage(RUSAGE_CHILDREN) in Node would mix in.
 * LD_PRELOAD is set only in the child so that a broken allocator cannot take the launcher down.
 *
 * FILE gets one JSON object:
 *   {"pid":N,"exited":0|1,"exit_code":N|null,"signal":N|null,"core_dumped":0|1,"exec_errno":N|null,
 *    "wall_ns":N,"utime_us":N,"stime_us":N,"maxrss_kb":N,"minflt":N,"majflt":N,"nvcsw":N,"nivcsw":N}
 * The launcher exits with the child's exit code, or 128 + signal. SIGINT, SIGTERM and SIGHUP
 * sent to the launcher are forwarded to the child. exit 127 when CMD cannot be executed
 * (exec_errno says why), 125 for a usage error of the launcher itself.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static volatile pid_t child_pid = -1;

static void forward(int sig) {
  if (child_pid > 0) kill(child_pid, sig);
}

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

static void usage(void) {
  fprintf(stderr, "usage: memoplan-rusage --out FILE [--preload LIB] -- CMD ARGS...\n");
  exit(125);
}

int main(int argc, char** argv) {
  const char* out = NULL;
  const char* preload = NULL;
  int i = 1;
  for (; i < argc; i++) {
    if (strcmp(argv[i], "--") == 0) { i++; break; }
    if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) out = argv[++i];
    else if (strcmp(argv[i], "--preload") == 0 && i + 1 < argc) preload = argv[++i];
    else usage();
  }
  if (!out || i >= argc) usage();
  char** cmd = argv + i;

  /* The child reports an exec failure through this close-on-exec pipe. */
  int errpipe[2];
  if (pipe2(errpipe, O_CLOEXEC) != 0) { perror("memoplan-rusage: pipe"); return 125; }

  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = forward;
  sigemptyset(&sa.sa_mask);
  sa.sa_flags = SA_RESTART;

  long long t0 = now_ns();
  pid_t pid = fork();
  if (pid < 0) { perror("memoplan-rusage: fork"); return 125; }
  if (pid == 0) {
    close(errpipe[0]);
    if (preload && *preload) setenv("LD_PRELOAD", preload, 1);
    execvp(cmd[0], cmd);
    int e = errno;
    ssize_t w = write(errpipe[1], &e, sizeof e);
    (void)w;
    _exit(127);
  }
  child_pid = pid;
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  close(errpipe[1]);
  int exec_errno = 0;
  ssize_t r;
  do r = read(errpipe[0], &exec_errno, sizeof exec_errno); while (r < 0 && errno == EINTR);
  if (r != (ssize_t)sizeof exec_errno) exec_errno = 0;
  close(errpipe[0]);

  int status = 0;
  struct rusage ru;
  memset(&ru, 0, sizeof ru);
  pid_t w;
  do w = wait4(pid, &status, 0, &ru); while (w < 0 && errno == EINTR);
  long long wall = now_ns() - t0;
  if (w < 0) { perror("memoplan-rusage: wait4"); return 125; }

  int exited = WIFEXITED(status);
  int code = exited ? WEXITSTATUS(status) : -1;
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  int core = WIFSIGNALED(status) && WCOREDUMP(status);

  char code_s[16] = "null", sig_s[16] = "null", errno_s[16] = "null";
  if (exited) snprintf(code_s, sizeof code_s, "%d", code);
  if (sig) snprintf(sig_s, sizeof sig_s, "%d", sig);
  if (exec_errno) snprintf(errno_s, sizeof errno_s, "%d", exec_errno);
  FILE* f = fopen(out, "w");
  if (!f) { perror("memoplan-rusage: cannot write --out file"); return 125; }
  fprintf(f,
          "{\"pid\":%d,\"exited\":%d,\"exit_code\":%s,\"signal\":%s,\"core_dumped\":%d,\"exec_errno\":%s,"
          "\"wall_ns\":%lld,\"utime_us\":%lld,\"stime_us\":%lld,\"maxrss_kb\":%ld,\"minflt\":%ld,\"majflt\":%ld,"
          "\"nvcsw\":%ld,\"nivcsw\":%ld}\n",
          (int)pid, exited, code_s, sig_s, core, errno_s, wall,
          (long long)ru.ru_utime.tv_sec * 1000000LL + ru.ru_utime.tv_usec,
          (long long)ru.ru_stime.tv_sec * 1000000LL + ru.ru_stime.tv_usec, ru.ru_maxrss, ru.ru_minflt, ru.ru_majflt,
          ru.ru_nvcsw, ru.ru_nivcsw);
  if (fclose(f) != 0) { perror("memoplan-rusage: write"); return 125; }
  return exited ? code : 128 + sig;
}
