#include "writers.h"
#include <cerrno>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sys/stat.h>
#include <sys/sysmacros.h>

namespace mp {

namespace {

// The pid in trace-<pid>-<start_ns>.mpt, 0 if the name is not one.
long pidOf(const std::string& file) {
  size_t slash = file.rfind('/');
  const char* n = file.c_str() + (slash == std::string::npos ? 0 : slash + 1);
  if (std::strncmp(n, "trace-", 6) != 0) return 0;
  char* end;
  long pid = std::strtol(n + 6, &end, 10);
  return *end == '-' && pid > 0 ? pid : 0;
}

// Whether /proc/<pid>/maps has a mapping of the file (same device and inode, or the same path:
// on overlay file systems maps may show the lower layer's device).
bool mapsFile(long pid, const struct stat& st, const std::string& path) {
  char name[64];
  snprintf(name, sizeof name, "/proc/%ld/maps", pid);
  FILE* f = fopen(name, "re");
  if (!f) return false;  // no such process (or not ours to read: then it is not our writer either)
  char* line = nullptr;
  size_t cap = 0;
  bool found = false;
  while (!found && getline(&line, &cap, f) > 0) {
    // start-end perms offset major:minor inode [path]
    unsigned maj, min;
    unsigned long long ino;
    int pathAt = 0;
    if (sscanf(line, "%*s %*s %*s %x:%x %llu %n", &maj, &min, &ino, &pathAt) < 3) continue;
    if (ino == (unsigned long long)st.st_ino && makedev(maj, min) == st.st_dev) found = true;
    else if (pathAt > 0) {
      std::string p = line + pathAt;
      while (!p.empty() && (p.back() == '\n' || p.back() == ' ')) p.pop_back();
      found = p == path;
    }
  }
  free(line);
  fclose(f);
  return found;
}

}  // namespace

bool traceWriterRunning(const std::string& file, long* pid) {
  *pid = pidOf(file);
  struct stat st;
  if (*pid == 0 || stat(file.c_str(), &st) != 0) return false;
  char real[PATH_MAX];
  std::string path = realpath(file.c_str(), real) ? real : file;
  return mapsFile(*pid, st, path);
}

bool traceWriterDone(const std::string& file, bool cleanExit) {
  long pid;
  return cleanExit || !traceWriterRunning(file, &pid);
}

bool taskGone(long pid, uint32_t tid) {
  char task[64];
  snprintf(task, sizeof task, "/proc/%ld/task/%u", pid, tid);
  struct stat st;
  return tid != 0 && stat(task, &st) != 0 && errno == ENOENT;
}

}  // namespace mp
