// When memoplan-ingest polls while the target runs (main.cpp). Storing costs far more CPU per
// event than recording it (SQLite), so an ingester that reads as fast as it can takes a core
// the target may want. It yields instead while that is cheap and safe:
//
//   - a core is free (at least half a core idle, or run by us without waiting for a CPU,
//     over the last 100 ms or more; CpuSampler): full speed, as it costs the target little;
//   - the traced processes are done (the launched target ended, or every writer is done): full
//     speed (a "finish" from the recorder always drains at full speed anyway);
//   - the trace files hold at least the high watermark (256 MiB allocated, or a quarter of the
//     trace folder's free space when less: a full tmpfs stops the recording): full speed;
//   - between the low (64 MiB) and the high watermark: small polls (25,000 records) spaced out
//     so that our share of the time grows with the backlog (duty cycle (footprint - low) /
//     (high - low), at least one poll a second); the other cases are still looked at every
//     poll interval;
//   - below the low watermark, no core free: no poll, except a small one a second (progress
//     shows).
//
// Nothing is lost by waiting: committed records stay in the trace files until stored. The
// footprint is the trace files' allocated size (st_blocks): the stored chunks are punched out
// (docs/TRACE_FORMAT.md), so it is the backlog plus one live chunk per thread. Where the files
// cannot be punched it only grows, and the ingest is at full speed once it passes the high
// watermark. MEMOPLAN_INGEST_PACE=0: always full speed.
#pragma once
#include <cstdint>
#include <functional>
#include <string>

namespace mp {

// Core-equivalents that nobody but us used over the interval since the previous look: idle
// (idle + iowait jiffies of /proc/stat's aggregate line) plus our own CPU time, less the time
// we waited on a run queue (/proc/self/schedstat): running alone on an idle core counts 1,
// taking turns with a busy thread of the target on one core about 0.
class CpuSampler {
 public:
  CpuSampler();
  // The free cores over the last interval of at least MIN_INTERVAL_NS (the previous verdict
  // while a new interval is shorter); negative when not known yet or /proc/stat is unreadable.
  double freeCores();

 private:
  bool read(uint64_t& idle, int64_t& ownNs, int64_t& wallNs);
  uint64_t idle0_ = 0;
  int64_t own0_ = 0, wall0_ = 0;
  bool have_ = false;
  double last_ = -1;
  double hz_;
};

// Bytes allocated by the trace files (trace-*.mpt) of a folder, and the free bytes of its file
// system (0 when unknown).
uint64_t traceFootprint(const std::string& dir);
uint64_t freeBytes(const std::string& dir);

enum class PaceMode {
  Full,     // poll, and again at once while a poll leaves a backlog
  Once,     // one poll, and no other Once before its duty cycle allows
  Skip,     // no poll now; look again in a poll interval
};

struct PaceDecision {
  PaceMode mode;
  double duty = 1;  // Once: the share of the time to spend polling (polled)
  // Records the poll reads at most (0: the ingest's default budget). A Once poll is small
  // (about 15 ms of work), so that its duty cycle is fine-grained and it never holds the
  // target's core for long.
  uint64_t maxRecords = 0;
};

class Pacer {
 public:
  // writersEnded: whether every traced process is done writing (asked at most every 500 ms,
  // and only when the answer matters).
  Pacer(std::string traceDir, int64_t pollMs, std::function<bool()> writersEnded);
  // Decides the next poll.
  PaceDecision decide(int64_t nowMs);
  // After a poll of d that ran from startMs to endMs: how long to wait before the next
  // decision (ms; the rest of the poll interval).
  int64_t polled(const PaceDecision& d, int64_t startMs, int64_t endMs);
  bool enabled() const { return enabled_; }
  ~Pacer();  // MEMOPLAN_INGEST_PROFILE: the decisions made, on stderr

  static constexpr uint64_t LOW_BYTES = 64ull << 20;
  static constexpr uint64_t HIGH_BYTES = 256ull << 20;
  static constexpr int64_t MAX_DEFER_MS = 1000;  // below the low watermark: one poll a second
  static constexpr uint64_t ONCE_RECORDS = 25000;
  static constexpr double FREE_CORE = 0.5;       // a core is free when this much was unused

 private:
  std::string traceDir_;
  int64_t pollMs_;
  std::function<bool()> writersEnded_;
  bool enabled_;
  CpuSampler cpu_;
  int64_t lastPollEndMs_ = 0;
  int64_t nextOnceMs_ = 0;  // no Once poll before this (its duty cycle)
  int64_t endedCheckedMs_ = -1000000;
  bool ended_ = false;
  uint64_t counts_[5] = {0};  // full: backlog, free core, ended; once; skip
};

}  // namespace mp
