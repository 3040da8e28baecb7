// Port of test/oracle/session-ingest.ts SessionIngest: the trace files of one session (one per traced
// process, discovered as they appear) -> processes, threads, ops, events rows, and the
// lifetime builder fed in causal order.
#pragma once
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>
#include "db.h"
#include "event-buffer.h"
#include "lifetimes.h"
#include "reader.h"
#include "spill.h"
#include "writer.h"

namespace mp {

struct PollStats {
  int64_t events, markers, processes;
  double busySeconds, liveBytes;
};

struct FinishResult {
  std::optional<double> claimed;  // null when a process did not exit cleanly
  LifetimeTotals totals;
  int64_t ops;
  std::vector<std::string> notes;
  std::optional<PlanCounters> plan;
};

class SessionIngest {
 public:
  SessionIngest(Db& db, int64_t sessionId, std::string traceDir, int64_t clockBaseNs);
  PollStats stats() const;
  // Records stored by this poll. maxRecords: read at most this many (give or take a chunk)
  // instead of the default budget (MEMOPLAN_INGEST_POLL_RECORDS), when smaller; 0: the default.
  int64_t poll(bool final, uint64_t maxRecords = 0);
  // Whether the last poll left committed records unread (its budget was spent): poll again soon.
  bool lastPollCut() const { return lastCut_; }
  void drain();
  FinishResult finish();
  // Whether every traced process is done writing (writers.h): none may add records any more.
  bool writersDone();
  // Takes up the trace files that appeared in the folder since the last look (each gets its
  // reader and, while recording, its spill thread). poll() does this too; the main loop calls
  // it as soon as a file appears, so that a spill thread watches a new process from its first
  // chunks whether or not the pacing lets a poll run.
  void discover();

 private:
  struct ProcessTrace {
    std::unique_ptr<TraceReader> reader;
    int64_t processId = 0;  // 0: not yet (header not written)
    std::unordered_map<uint32_t, int32_t> threads;  // thread_index -> threads.id
    std::unordered_map<uint32_t, int32_t> scopes;   // interposer name id -> ops.id
    std::unordered_map<uint32_t, int64_t> stacks;   // interposer name id -> stacks.id
  };
  void pollOne(ProcessTrace& t, ReadBudget& budget);
  void writeBatch(ProcessTrace& t, const RecordBatch& batch);
  int32_t defineScope(ProcessTrace& t, uint32_t id, const std::string* name);
  void defineStack(ProcessTrace& t, uint32_t id, const std::string& name);

  Db& db_;
  int64_t sessionId_;
  std::string traceDir_;
  int64_t clockBaseNs_;
  EventWriter writer_;
  LifetimeBuilder lifetimes_;
  std::vector<std::unique_ptr<ProcessTrace>> traces_;  // discovery order
  std::unordered_map<std::string, size_t> known_;
  void feedSorted();
  EventBuffer pending_, ready_, keep_;
  double busyNs_ = 0;
  Stmt insertProcess_, insertThread_, insertOp_, renameOp_, insertStack_;
  bool punch_;  // punch consumed full chunks out of the trace files (MEMOPLAN_INGEST_PUNCH)
  uint64_t pollRecords_;  // records read per poll at most, give or take a chunk (MEMOPLAN_INGEST_POLL_RECORDS)
  bool lastCut_ = false;
  bool spill_;  // copy full kept chunks out for writers faster than the ingest (MEMOPLAN_INGEST_SPILL)
  Spiller spiller_;  // after traces_: stopped before the readers go
};

}  // namespace mp
