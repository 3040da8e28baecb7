// memoplan-ingest: the trace ingest as a process of its own (spawned by
// main/record/native-ingest.ts). It must be a separate process: better-sqlite3 holds the same
// database open in the Node process, and two copies of SQLite in one process would break
// SQLite's POSIX lock bookkeeping.
//
//   memoplan-ingest --db FILE --session ID --trace-dir DIR --clock-base NS [--poll-ms N]
//
// Polls the trace directory every poll-ms, one BEGIN IMMEDIATE transaction per poll, and after
// each poll writes a line {"type":"progress",...} to stdout. While the target runs, polls are
// paced (pace.h): skipped or spaced out while no core is free and the backlog is small. A line "finish" on stdin, or
// SIGTERM: drain, finish, write {"type":"done",...}, exit 0. A line "target PID" names the
// launched target (an orphaned ingester waits for it even before its trace exists). Any error:
// {"type":"error","message":...}, exit 1.
//
// EOF on stdin, or SIGHUP, means the parent died (killed, or its terminal closed) while the
// target may still run: an attached process, or a launched one that outlives its recorder.
// Then we are the last one who can store the recording, so we go on polling until every
// traced process is done writing (writers.h: exited, detached, or gone), finish, end the
// session ourselves (status complete; its exit code is not ours to know) and remove the trace
// directory. `memoplan detach` waits for us rather than ingesting the trace a second time.
#include <algorithm>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <ftw.h>
#include <poll.h>
#include <string>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>
#include "db.h"
#include "pace.h"
#include "session.h"

namespace {

volatile sig_atomic_t g_term = 0, g_hup = 0;
// The launched target, when the recorder said ("target PID" on stdin): while it lives, an
// orphaned ingester goes on even if no trace file exists yet (the recorder was killed between
// spawning it and the interposer creating its file).
long long g_targetPid = 0;
void onTerm(int) { g_term = 1; }
void onHup(int) { g_hup = 1; }

std::string jsonString(const std::string& s) {
  std::string o = "\"";
  for (unsigned char c : s) {
    switch (c) {
      case '"': o += "\\\""; break;
      case '\\': o += "\\\\"; break;
      case '\n': o += "\\n"; break;
      case '\r': o += "\\r"; break;
      case '\t': o += "\\t"; break;
      default:
        if (c < 0x20) {
          char b[8];
          snprintf(b, sizeof b, "\\u%04x", c);
          o += b;
        } else o += (char)c;
    }
  }
  return o + "\"";
}

// A JS number as JSON: integral values exactly (JSON.parse gives back the same double).
std::string num(double d) {
  char b[64];
  if (d == (double)(long long)d && d > -9e18 && d < 9e18) snprintf(b, sizeof b, "%lld", (long long)d);
  else if (d == d && d - d == 0) snprintf(b, sizeof b, d == __builtin_floor(d) ? "%.0f" : "%.17g", d);
  else snprintf(b, sizeof b, "null");
  return b;
}
std::string num(int64_t v) { return std::to_string(v); }

void line(const std::string& s) {
  std::string l = s + "\n";
  const char* p = l.data();
  size_t n = l.size();
  while (n > 0) {  // the parent may be gone (EPIPE): nothing to do about it
    ssize_t w = write(1, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return;
    p += w;
    n -= (size_t)w;
  }
}

std::string planJson(const mp::PlanCounters& p) {
  return "{\"hits\":" + num(p.hits) + ",\"misses\":" + num(p.misses) + ",\"hitBytes\":" + num(p.hitBytes) +
         ",\"missBytes\":" + num(p.missBytes) + ",\"arenaBytes\":" + num(p.arenaBytes) + ",\"iterationsServed\":" +
         num(p.iterationsServed) + ",\"retirements\":" + num(p.retirements) + ",\"status\":" + num((int64_t)p.status) +
         ",\"refusal\":" + num((int64_t)p.refusal) + ",\"signaturesServed\":" + num(p.signaturesServed) +
         ",\"iterationsUnplanned\":" + num(p.iterationsUnplanned) + "}";
}

std::string progressJson(const mp::PollStats& s) {
  return "{\"type\":\"progress\",\"events\":" + num(s.events) + ",\"markers\":" + num(s.markers) + ",\"processes\":" +
         num(s.processes) + ",\"busySeconds\":" + num(s.busySeconds) + ",\"liveBytes\":" + num(s.liveBytes) + "}";
}

std::string doneJson(const mp::FinishResult& r, double busySeconds) {
  const mp::LifetimeTotals& t = r.totals;
  std::string totals = "{\"events\":" + num(t.events) + ",\"markers\":" + num(t.markers) + ",\"allocations\":" + num(t.allocations) +
                       ",\"liveAtExit\":" + num(t.liveAtExit) + ",\"iterations\":" + num(t.iterations) + ",\"unmatchedFrees\":" +
                       num(t.unmatchedFrees) + ",\"peakLiveBytes\":" + num(t.peakLiveBytes) + ",\"tBegin\":" +
                       (t.hasBegin ? num(t.tBegin) : "null") + ",\"tEnd\":" + (t.hasBegin ? num(t.tEnd) : "null") +
                       ",\"ops\":" + num(r.ops) + "}";
  std::string notes = "[";
  for (size_t i = 0; i < r.notes.size(); i++) notes += (i ? "," : "") + jsonString(r.notes[i]);
  notes += "]";
  return "{\"type\":\"done\",\"claimed\":" + (r.claimed ? num(*r.claimed) : "null") + ",\"totals\":" + totals +
         ",\"notes\":" + notes + ",\"plan\":" + (r.plan ? planJson(*r.plan) : "null") + ",\"busySeconds\":" + num(busySeconds) + "}";
}

[[noreturn]] void usage(const std::string& why) {
  line("{\"type\":\"error\",\"message\":" +
       jsonString(why + " (usage: memoplan-ingest --db FILE --session ID --trace-dir DIR --clock-base NS [--poll-ms N])") + "}");
  exit(1);
}

bool parseInt(const char* s, long long& out) {
  char* end;
  errno = 0;
  out = strtoll(s, &end, 10);
  return *s && !*end && errno == 0;
}

int64_t nowMs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

enum class Wait { Timeout, Finish, Orphaned, Created };

// A file was created in (or moved into) the trace folder: read off the inotify events (their
// names do not matter: discover() lists the folder). -1: no watch (inotify unavailable).
int watchFolder(const std::string& dir) {
  int fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
  if (fd < 0) return -1;
  if (inotify_add_watch(fd, dir.c_str(), IN_CREATE | IN_MOVED_TO) < 0) {
    close(fd);
    return -1;
  }
  return fd;
}

void drainWatch(int fd) {
  alignas(inotify_event) char b[4096];
  while (read(fd, b, sizeof b) > 0) {
  }
}

// Waits up to ms for stdin: Finish when the parent asked (a line "finish", or SIGTERM),
// Orphaned when it is gone (EOF on stdin, stdin unusable, or SIGHUP), Created when a file
// appeared in the trace folder (watch >= 0) before either.
Wait waitForParent(int ms, std::string& buf, int watch) {
  int64_t until = nowMs() + ms;
  for (;;) {
    if (g_term) return Wait::Finish;
    if (g_hup) return Wait::Orphaned;
    int left = (int)(until - nowMs());
    if (left < 0) left = 0;
    pollfd p[2] = {{0, POLLIN, 0}, {watch, POLLIN, 0}};
    int r = ::poll(p, watch >= 0 ? 2 : 1, left);
    if (r < 0) {
      if (errno == EINTR) continue;
      return Wait::Orphaned;
    }
    if (r == 0) return Wait::Timeout;
    if (watch >= 0 && (p[1].revents & POLLIN) && !(p[0].revents & (POLLIN | POLLHUP | POLLERR))) {
      drainWatch(watch);
      return Wait::Created;
    }
    char b[256];
    ssize_t n = read(0, b, sizeof b);
    if (n < 0 && (errno == EINTR || errno == EAGAIN)) continue;
    if (n <= 0) return Wait::Orphaned;
    buf.append(b, (size_t)n);
    size_t nl;
    while ((nl = buf.find('\n')) != std::string::npos) {
      std::string cmd = buf.substr(0, nl);
      buf.erase(0, nl + 1);
      while (!cmd.empty() && (cmd.back() == '\r' || cmd.back() == ' ')) cmd.pop_back();
      if (cmd == "finish") return Wait::Finish;
      if (cmd.rfind("target ", 0) == 0) {
        long long pid;
        if (parseInt(cmd.c_str() + 7, pid) && pid > 0) g_targetPid = pid;
      }
    }
  }
}

// Sleeps ms, or less when SIGTERM arrives.
void nap(int ms) {
  timespec ts{ms / 1000, (long)(ms % 1000) * 1000000L};
  while (!g_term && nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

// ISO 8601 UTC with milliseconds, as JavaScript's Date.toISOString().
std::string isoNow() {
  timespec ts;
  clock_gettime(CLOCK_REALTIME, &ts);
  tm t;
  gmtime_r(&ts.tv_sec, &t);
  char b[64];
  snprintf(b, sizeof b, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", t.tm_year + 1900, t.tm_mon + 1, t.tm_mday, t.tm_hour, t.tm_min, t.tm_sec,
           ts.tv_nsec / 1000000);
  return b;
}

// The session's end, written by its recorder normally (main/store/sessions.ts endSession):
// complete; incomplete when a process stopped recording early or claimed more events than are
// stored (as record says, main/record/record.ts); failed when no traced process ever started.
void endOrphanedSession(mp::Db& db, long long session, bool traced, bool whole) {
  const std::string now = isoNow();
  mp::Stmt s(db,
             "UPDATE sessions SET status = ?3, ended_at = ?1, "
             "detached_at = CASE WHEN attached_pid IS NOT NULL THEN coalesce(detached_at, ?1) ELSE detached_at END "
             "WHERE id = ?2 AND status = 'recording'");
  s.bindText(1, now);
  s.bindInt(2, session);
  s.bindText(3, !traced ? "failed" : whole ? "complete" : "incomplete");
  s.run();
}

int removeEntry(const char* path, const struct stat*, int, FTW*) { return remove(path); }

// Whether a process runs (not gone, not a zombie).
bool processAlive(long long pid) {
  char path[64];
  snprintf(path, sizeof path, "/proc/%lld/stat", pid);
  FILE* f = fopen(path, "r");
  if (!f) return false;
  char buf[512];
  size_t n = fread(buf, 1, sizeof buf - 1, f);
  fclose(f);
  buf[n] = 0;
  const char* close = strrchr(buf, ')');
  if (!close || close[1] != ' ') return true;
  char state = close[2];
  return state != 'Z' && state != 'X';
}

// Orphaned with no trace file yet and no target named: the recorder may have died right after
// spawning the target; wait this long for its trace to appear before ending the session.
constexpr int64_t ORPHAN_GRACE_MS = 2000;

}  // namespace

int main(int argc, char** argv) {
  // Ctrl-C reaches the whole process group: the recorder stays to store the trace, so do we.
  signal(SIGINT, SIG_IGN);
  signal(SIGPIPE, SIG_IGN);
  signal(SIGTERM, onTerm);
  signal(SIGHUP, onHup);
  std::string dbFile, traceDir;
  long long session = -1, clockBase = 0, pollMs = 50;
  bool haveClock = false;
  for (int i = 1; i < argc; i++) {
    std::string a = argv[i];
    if (i + 1 >= argc) usage("missing value for " + a);
    const char* v = argv[++i];
    if (a == "--db") dbFile = v;
    else if (a == "--trace-dir") traceDir = v;
    else if (a == "--session") {
      if (!parseInt(v, session) || session <= 0) usage(std::string("bad --session ") + v);
    } else if (a == "--clock-base") {
      if (!parseInt(v, clockBase)) usage(std::string("bad --clock-base ") + v);
      haveClock = true;
    } else if (a == "--poll-ms") {
      if (!parseInt(v, pollMs) || pollMs < 1 || pollMs > 60000) usage(std::string("bad --poll-ms ") + v);
    } else usage("unknown option " + a);
  }
  if (dbFile.empty() || traceDir.empty() || session <= 0 || !haveClock) usage("missing option");
  try {
    mp::Db db(dbFile);
    {
      mp::Stmt s(db, "SELECT count(*) FROM sessions WHERE id = ?");
      s.bindInt(1, session);
      if (!s.step() || s.colInt(0) == 0) throw std::runtime_error("no session " + std::to_string(session) + " in " + dbFile);
      s.reset();
    }
    // The database file itself: removed or replaced under us (rm, a copy over it), what we store
    // goes nowhere anyone will look. Checked after every poll; the recorder keeps the trace.
    struct stat dbStat;
    if (stat(dbFile.c_str(), &dbStat) != 0) throw std::runtime_error("database not found: " + dbFile);
    auto dbStillThere = [&]() {
      struct stat now;
      return stat(dbFile.c_str(), &now) == 0 && now.st_dev == dbStat.st_dev && now.st_ino == dbStat.st_ino;
    };
    // Before the first look at the folder: a trace created in between is seen by that look.
    const int watch = watchFolder(traceDir);
    mp::SessionIngest ingest(db, session, traceDir, clockBase);
    std::string stdinBuf;
    bool orphaned = false;
    int64_t orphanedAt = 0;
    // While the target runs, polls yield the CPU to it when that is cheap and safe (pace.h).
    mp::Pacer pacer(traceDir, pollMs, [&]() {
      if (g_targetPid > 0) return !processAlive(g_targetPid);
      return ingest.stats().processes > 0 && ingest.writersDone();
    });
    for (;;) {
      int64_t started = nowMs();
      mp::PaceDecision pace = pacer.decide(started);
      int left;
      if (pace.mode == mp::PaceMode::Skip) {
        ingest.discover();
        if (!dbStillThere()) throw std::runtime_error("the database " + dbFile + " was removed or replaced while recording");
        left = (int)pollMs;
      } else {
        ingest.poll(false, pace.maxRecords);
        if (!dbStillThere()) throw std::runtime_error("the database " + dbFile + " was removed or replaced while recording");
        line(progressJson(ingest.stats()));
        // At full speed, a poll that left a backlog unread polls again at once.
        left = (int)pacer.polled(pace, started, nowMs());
        if (pace.mode == mp::PaceMode::Full && ingest.lastPollCut()) left = 0;
      }
      if (orphaned) {
        if (g_term) break;
        if (ingest.writersDone()) {
          // Done only once the target has ended too (its trace may not exist yet), or, when it
          // was never named, after a grace period without any trace.
          bool targetRuns = g_targetPid > 0 && processAlive(g_targetPid);
          bool waitForFirst = g_targetPid == 0 && ingest.stats().processes == 0 && nowMs() - orphanedAt < ORPHAN_GRACE_MS;
          if (!targetRuns && !waitForFirst) break;
        }
        nap(left > 0 ? left : 0);
        continue;
      }
      // A new trace file is taken up at once (its spill thread starts with its first chunks),
      // then the wait goes on: the pacing of polls is unchanged.
      Wait w;
      for (int64_t until = nowMs() + (left > 0 ? left : 0);;) {
        w = waitForParent((int)std::max<int64_t>(0, until - nowMs()), stdinBuf, watch);
        if (w != Wait::Created) break;
        ingest.discover();
      }
      if (w == Wait::Finish) break;
      if (w == Wait::Orphaned) {
        orphaned = true;
        orphanedAt = nowMs();
      }
    }
    mp::FinishResult r = ingest.finish();
    line(doneJson(r, ingest.stats().busySeconds));
    if (orphaned) {
      bool whole = !(r.claimed && r.totals.events < *r.claimed);
      for (const std::string& n : r.notes)
        if (n.find("stopped recording early") != std::string::npos) whole = false;
      endOrphanedSession(db, session, ingest.stats().processes > 0, whole);
      // Everything in it is stored; nobody else will remove it (traces may sit in /dev/shm).
      nftw(traceDir.c_str(), removeEntry, 16, FTW_DEPTH | FTW_PHYS);
    }
    return 0;
  } catch (const std::exception& e) {
    std::string msg = e.what();
    for (char& c : msg)
      if (c == '\n') c = ' ';
    line("{\"type\":\"error\",\"message\":" + jsonString(msg) + "}");
    return 1;
  }
}
