// Port of main/store/lifetimes.ts: pairs allocations with frees per process while events
// stream in (in timestamp order), builds iterations with their signatures, the timeline and
// per-op totals. Writes allocations and iterations rows as it goes; timeline and op_stats at
// finish().
#pragma once
#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>
#include "addr-map.h"
#include "common.h"
#include "db.h"

namespace mp {

struct LifetimeTotals {
  int64_t events = 0, markers = 0, allocations = 0, liveAtExit = 0, iterations = 0, unmatchedFrees = 0;
  double peakLiveBytes = 0;
  bool hasBegin = false;  // tBegin/tEnd are null until the first event
  double tBegin = 0, tEnd = 0;
};

class LifetimeBuilder {
 public:
  LifetimeBuilder(Db& db, int64_t sessionId);
  void push(const StreamEvent& e) { one(e); }  // in timestamp order, inside a transaction
  void flush();                                    // buffered allocation rows
  LifetimeTotals finish();
  double currentLiveBytes() const { return liveBytes_; }
  const LifetimeTotals& totals() const { return totals_; }

 private:
  struct Live {  // the fields of an alloc that its allocations row needs
    int64_t eventId = 0, seq = 0, iterationId = 0 /* 0 = NULL */, addr = 0;
    double size = 0;
  };
  struct ThreadState {
    int64_t iterationId = 0;  // 0 = none
    double iterAllocs = 0, iterBytes = 0;
    uint32_t iterHashA = 0x811c9dc5, iterHashB = 0x12345678;
    // A block released by a realloc whose outcome is not yet seen (realloc_failed undoes it).
    bool hasPending = false;
    Live pendingLive;
    int64_t pendingEventId = 0, pendingSeq = 0;
    double pendingTs = 0;
    // The id range of this thread's allocations in bucket rangeBucket (-1: none open yet).
    int64_t rangeBucket = -1, rangeFirst = 0, rangeLast = 0;
  };
  struct Bucket {
    double allocs = 0, frees = 0, bytes = 0, liveEnd = 0, liveMax = 0;
    // events.id ranges of the allocations counted here, one or more per thread (merged when
    // written); allocations.id range of the rows whose free is counted here, 0 = none yet.
    std::vector<std::pair<int64_t, int64_t>> eventRanges;
    int64_t freeFirst = 0, freeLast = 0;
  };
  struct OpStat {
    double allocs = 0, bytes = 0, maxSize = 0;
  };
  static constexpr size_t NO_BUCKET = SIZE_MAX;

  void one(const StreamEvent& e);
  ThreadState& thread(int32_t id);
  AddrMap<Live>& blocksOf(int32_t processId);
  void settleRealloc(ThreadState& th);
  void endLife(const Live& l, bool freed, int64_t freeEvent, int64_t freeSeq, double tFree);
  size_t bucketFor(double ts);
  size_t bucketForUse(double ts);
  void coarsen();
  void writeAllocs(bool all);
  void rowsWritten(size_t from, size_t to, int64_t lastId);
  void addEventId(ThreadState& th, size_t bucket, int64_t id);
  void closeRange(ThreadState& th);

  Db& db_;
  int64_t sessionId_;
  LifetimeTotals totals_;
  double liveBytes_ = 0, seq_ = 0;
  // Maps in first-seen order (JS Maps iterate in insertion order; finish() depends on it).
  std::unordered_map<int32_t, size_t> threadIndex_;
  std::vector<ThreadState> threads_;
  int32_t lastThreadId_ = 0;
  size_t lastThread_ = 0;
  std::vector<std::pair<int32_t, std::unique_ptr<AddrMap<Live>>>> live_;
  std::unordered_map<int32_t, size_t> opIndex_;
  std::vector<std::pair<int32_t, OpStat>> opStats_;
  std::vector<Bucket> buckets_;
  double bucketNs_;
  // allocations rows: (session_id, iteration_id, seq, free_seq, alloc_event, free_event)
  struct AllocRow {
    int64_t iterationId, seq, freeSeq, allocEvent, freeEvent;  // 0 / freed=false: NULL
    bool freed;
    double tFree;  // to find the free's bucket once the row has its id
  };
  std::vector<AllocRow> allocRows_;
  Stmt insertAllocMany_, insertAllocOne_, insertIteration_, closeIteration_;
};

}  // namespace mp
