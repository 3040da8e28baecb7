#include "pace.h"
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <unistd.h>

namespace mp {

namespace {
// Jiffies are 10 ms: over 100 ms on 2 cores that is 20 of them, enough to tell a free core.
constexpr int64_t MIN_INTERVAL_NS = 100000000;

int64_t clockNs(clockid_t id) {
  timespec ts;
  clock_gettime(id, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// MEMOPLAN_INGEST_PACE=0: poll at full speed always (as before pacing; benches compare).
bool paceWanted() {
  const char* v = getenv("MEMOPLAN_INGEST_PACE");
  return !(v && std::strcmp(v, "0") == 0);
}

// trace-<digits>-<digits>.mpt (session.cpp discovers the same names)
bool isTraceName(const char* n) {
  size_t len = std::strlen(n);
  return std::strncmp(n, "trace-", 6) == 0 && len > 10 && std::strcmp(n + len - 4, ".mpt") == 0;
}
}  // namespace

CpuSampler::CpuSampler() {
  long hz = sysconf(_SC_CLK_TCK);
  hz_ = hz > 0 ? (double)hz : 100.0;
}

// Nanoseconds this process's thread (memoplan-ingest runs one) has waited on a run queue:
// the second field of /proc/self/schedstat; 0 when the kernel does not say.
int64_t runDelayNs() {
  int fd = ::open("/proc/self/schedstat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[128];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = 0;
  unsigned long long run = 0, wait = 0;
  if (sscanf(buf, "%llu %llu", &run, &wait) != 2) return 0;
  return (int64_t)wait;
}

bool CpuSampler::read(uint64_t& idle, int64_t& ownNs, int64_t& wallNs) {
  int fd = ::open("/proc/stat", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[512];
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  // "cpu  user nice system idle iowait irq softirq steal guest guest_nice"
  unsigned long long v[5] = {0};
  if (std::strncmp(buf, "cpu ", 4) != 0 || sscanf(buf + 4, "%llu %llu %llu %llu %llu", &v[0], &v[1], &v[2], &v[3], &v[4]) < 4) return false;
  idle = v[3] + v[4];
  // What we ran, less what we waited for a CPU meanwhile (others wanted "our" core).
  ownNs = clockNs(CLOCK_PROCESS_CPUTIME_ID) - runDelayNs();
  wallNs = clockNs(CLOCK_MONOTONIC);
  return true;
}

double CpuSampler::freeCores() {
  uint64_t idle;
  int64_t own, wall;
  if (!read(idle, own, wall)) return last_ = -1;
  if (!have_) {
    have_ = true;
  } else {
    int64_t dWall = wall - wall0_;
    if (dWall < MIN_INTERVAL_NS) return last_;
    double idleSec = (double)(idle - idle0_) / hz_;
    double ownSec = (double)(own - own0_) / 1e9;
    last_ = (idleSec + ownSec) / ((double)dWall / 1e9);
  }
  idle0_ = idle;
  own0_ = own;
  wall0_ = wall;
  return last_;
}

uint64_t traceFootprint(const std::string& dir) {
  DIR* d = opendir(dir.c_str());
  if (!d) return 0;
  uint64_t sum = 0;
  while (dirent* e = readdir(d)) {
    if (!isTraceName(e->d_name)) continue;
    struct stat st;
    if (fstatat(dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) sum += (uint64_t)st.st_blocks * 512;
  }
  closedir(d);
  return sum;
}

uint64_t freeBytes(const std::string& dir) {
  struct statvfs s;
  if (statvfs(dir.c_str(), &s) != 0) return 0;
  return (uint64_t)s.f_bavail * (uint64_t)s.f_frsize;
}

Pacer::Pacer(std::string traceDir, int64_t pollMs, std::function<bool()> writersEnded)
    : traceDir_(std::move(traceDir)), pollMs_(pollMs), writersEnded_(std::move(writersEnded)), enabled_(paceWanted()) {
  cpu_.freeCores();  // the first interval starts now
  lastPollEndMs_ = clockNs(CLOCK_MONOTONIC) / 1000000;
}

Pacer::~Pacer() {
  if (getenv("MEMOPLAN_INGEST_PROFILE")) {
    fprintf(stderr, "pace: full %llu (backlog %llu, free core %llu, ended %llu), once %llu, skipped %llu\n",
            (unsigned long long)(counts_[0] + counts_[1] + counts_[2]), (unsigned long long)counts_[0], (unsigned long long)counts_[1],
            (unsigned long long)counts_[2], (unsigned long long)counts_[3], (unsigned long long)counts_[4]);
  }
}

int64_t Pacer::polled(const PaceDecision& d, int64_t startMs, int64_t endMs) {
  lastPollEndMs_ = endMs;
  int64_t took = endMs - startMs;
  if (d.mode == PaceMode::Once) {
    // The next Once waits for its duty cycle; what calls for full speed is looked at meanwhile.
    int64_t rest = (int64_t)((double)std::max<int64_t>(took, 1) * (1 - d.duty) / d.duty);
    nextOnceMs_ = endMs + std::clamp<int64_t>(rest, pollMs_, MAX_DEFER_MS);
    return pollMs_;
  }
  return pollMs_ - took;
}

PaceDecision Pacer::decide(int64_t nowMs) {
  if (!enabled_) return {PaceMode::Full};
  const double free = cpu_.freeCores();  // every time: each verdict covers the time since the last
  const uint64_t footprint = traceFootprint(traceDir_);
  const uint64_t avail = freeBytes(traceDir_);
  const uint64_t high = std::max<uint64_t>(std::min<uint64_t>(HIGH_BYTES, avail / 4), 4ull << 20);
  const uint64_t low = std::min(LOW_BYTES, high / 4);
  if (footprint >= high) return counts_[0]++, PaceDecision{PaceMode::Full};
  if (free >= FREE_CORE) return counts_[1]++, PaceDecision{PaceMode::Full};
  if (!ended_ && nowMs - endedCheckedMs_ >= 500) {
    endedCheckedMs_ = nowMs;
    ended_ = writersEnded_();
  }
  if (ended_) return counts_[2]++, PaceDecision{PaceMode::Full};
  if (nowMs < nextOnceMs_) return counts_[4]++, PaceDecision{PaceMode::Skip};
  if (footprint >= low) {
    // Our share of the time grows with the backlog: duty = (footprint - low) / (high - low).
    return counts_[3]++, PaceDecision{PaceMode::Once, std::max(0.05, (double)(footprint - low) / (double)(high - low)), ONCE_RECORDS};
  }
  if (nowMs - lastPollEndMs_ >= MAX_DEFER_MS) return counts_[3]++, PaceDecision{PaceMode::Once, 1, ONCE_RECORDS};
  return counts_[4]++, PaceDecision{PaceMode::Skip};
}

}  // namespace mp
