#include "lifetimes.h"
#include <algorithm>
#include <cmath>
#include <cstdio>

namespace mp {

namespace {
constexpr double MAX_BUCKETS = 2048;  // timeline buckets double their width beyond this
constexpr double FIRST_BUCKET_NS = 1000000;
constexpr int ALLOC_COLS = 6;
constexpr size_t ALLOC_ROWS = 64;  // per multi-row INSERT (same rows as the JS's 32)

std::string allocInsert(size_t rows) {
  std::string s = "INSERT INTO allocations (session_id, iteration_id, seq, free_seq, alloc_event, free_event) VALUES ";
  for (size_t i = 0; i < rows; i++) s += i ? ",(?,?,?,?,?,?)" : "(?,?,?,?,?,?)";
  return s;
}

// mix() of lifetimes.ts: Math.imul(h ^ v, 0x01000193) >>> 0, on the ToUint32 of both.
inline uint32_t mix(uint32_t h, uint32_t v) { return (h ^ v) * 0x01000193u; }

// Widens an id range [first, last] (0 = empty) by id.
inline void widen(int64_t& first, int64_t& last, int64_t id) {
  if (!first || id < first) first = id;
  if (id > last) last = id;
}

// formatRanges() of main/store/id-ranges.ts: sorted, overlapping or adjacent ranges merged,
// as JSON "[[first,last],...]"; empty for none (stored as NULL).
std::string formatRanges(std::vector<std::pair<int64_t, int64_t>> r) {
  std::sort(r.begin(), r.end());
  std::string out;
  int64_t a = 0, b = 0;
  bool open = false;
  auto emit = [&] { out += (out.empty() ? "[[" : ",[") + std::to_string(a) + "," + std::to_string(b) + "]"; };
  for (auto& [x, y] : r) {
    if (open && x <= b + 1) {
      b = std::max(b, y);
      continue;
    }
    if (open) emit();
    a = x, b = y, open = true;
  }
  if (open) emit();
  return out.empty() ? out : out + "]";
}
inline int64_t firstOf(int64_t a, int64_t b) { return a && b ? std::min(a, b) : a ? a : b; }
}  // namespace

LifetimeBuilder::LifetimeBuilder(Db& db, int64_t sessionId)
    : db_(db),
      sessionId_(sessionId),
      bucketNs_(FIRST_BUCKET_NS),
      insertAllocMany_(db, allocInsert(ALLOC_ROWS)),
      insertAllocOne_(db, allocInsert(1)),
      insertIteration_(db, "INSERT INTO iterations (session_id, process_id, thread_id, number, t_begin, begin_seq) VALUES (?, ?, ?, ?, ?, ?)"),
      closeIteration_(db, "UPDATE iterations SET t_end = ?, end_seq = ?, latency_ns = ?, allocs = ?, alloc_bytes = ?, signature = ? WHERE id = ?") {
  allocRows_.reserve(ALLOC_ROWS);
}

LifetimeBuilder::ThreadState& LifetimeBuilder::thread(int32_t id) {
  if (id == lastThreadId_ && !threads_.empty()) return threads_[lastThread_];
  auto it = threadIndex_.find(id);
  size_t i;
  if (it == threadIndex_.end()) {
    i = threads_.size();
    threads_.emplace_back();
    threadIndex_.emplace(id, i);
  } else i = it->second;
  lastThreadId_ = id;
  lastThread_ = i;
  return threads_[i];
}

AddrMap<LifetimeBuilder::Live>& LifetimeBuilder::blocksOf(int32_t processId) {
  for (auto& p : live_)
    if (p.first == processId) return *p.second;
  live_.emplace_back(processId, std::make_unique<AddrMap<Live>>());
  return *live_.back().second;
}

void LifetimeBuilder::one(const StreamEvent& e) {
  ThreadState& th = thread(e.threadId);
  LifetimeTotals& t = totals_;
  if (!t.hasBegin) {
    t.hasBegin = true;
    t.tBegin = e.ts;
  }
  t.tEnd = e.ts;
  const int64_t mySeq = (int64_t)seq_++;
  if (e.kind >= 32) {
    t.markers++;
    if (e.kind == MP_KIND_ITER_BEGIN) {
      Stmt& s = insertIteration_;
      s.bindInt(1, sessionId_);
      s.bindInt(2, e.processId);
      s.bindInt(3, e.threadId);
      s.bindNum(4, (double)e.size);  // Number(e.size)
      s.bindNum(5, e.ts);
      s.bindInt(6, mySeq);
      s.run();
      th.iterationId = db_.lastRowid();
      th.iterAllocs = th.iterBytes = 0;
      th.iterHashA = 0x811c9dc5;
      th.iterHashB = 0x12345678;
      t.iterations++;
    } else if (e.kind == MP_KIND_ITER_END && th.iterationId != 0) {
      // allocs.toString(16) + '-' + hashA, hashB as 8 hex digits each
      char sig[64];
      snprintf(sig, sizeof sig, "%llx-%08x%08x", (unsigned long long)th.iterAllocs, th.iterHashA, th.iterHashB);
      Stmt& s = closeIteration_;
      s.bindNum(1, e.ts);
      s.bindInt(2, mySeq);
      s.bindNum(3, (double)e.size);
      s.bindNum(4, th.iterAllocs);
      s.bindNum(5, th.iterBytes);
      s.bindText(6, sig);
      s.bindInt(7, th.iterationId);
      s.run();
      th.iterationId = 0;
    }
    return;
  }
  t.events++;
  const size_t bucket = bucketFor(e.ts);
  AddrMap<Live>& blocks = blocksOf(e.processId);
  // A block released by realloc is settled by the next event of its thread, unless that is
  // the failed realloc itself (then realloc_failed may follow and undo the release).
  const bool failedRealloc = (e.kind == MP_KIND_REALLOC || e.kind == MP_KIND_REALLOCARRAY) && (e.flags & MP_TRACE_REC_FAILED);
  if (e.kind != MP_KIND_REALLOC_FAILED && !failedRealloc) settleRealloc(th);
  if (e.kind == MP_KIND_FREE || e.kind == MP_KIND_REALLOC_FREE) {
    Live* found = blocks.get(e.addr);
    if (!found) {
      t.unmatchedFrees++;  // allocated before tracing began (or by the interposer's bootstrap)
      return;
    }
    Live l = *found;
    blocks.erase(e.addr);
    if (e.kind == MP_KIND_REALLOC_FREE) {
      th.hasPending = true;
      th.pendingLive = l;
      th.pendingEventId = e.id;
      th.pendingSeq = mySeq;
      th.pendingTs = e.ts;
    } else {
      endLife(l, true, e.id, mySeq, e.ts);
    }
    return;
  }
  if (e.kind == MP_KIND_REALLOC_FAILED) {
    if (th.hasPending) {
      blocks.set(th.pendingLive.addr, th.pendingLive);
      th.hasPending = false;
    }
    return;
  }
  if (!mp_kind_is_alloc(e.kind) || (e.flags & MP_TRACE_REC_FAILED) || e.addr == 0) return;
  const double size = (double)e.size;
  if (Live* prior = blocks.get(e.addr)) {
    Live p = *prior;
    endLife(p, false, 0, 0, 0);  // cannot happen with a complete trace
  }
  Live l;
  l.eventId = e.id;
  l.seq = mySeq;
  l.iterationId = th.iterationId;
  l.addr = e.addr;
  l.size = size;
  blocks.set(e.addr, l);
  liveBytes_ += size;
  if (liveBytes_ > t.peakLiveBytes) t.peakLiveBytes = liveBytes_;
  // settleRealloc() above may only have touched earlier buckets: a thread's stamps never go
  // backwards, so bucket stays valid.
  Bucket& b = buckets_[bucket == NO_BUCKET ? bucketForUse(e.ts) : bucket];
  b.allocs++;
  addEventId(th, &b - buckets_.data(), e.id);
  b.bytes += size;
  if (liveBytes_ > b.liveMax) b.liveMax = liveBytes_;
  b.liveEnd = liveBytes_;
  if (th.iterationId != 0 && !(e.flags & MP_TRACE_REC_AGENT)) {  // the agent's own: not in the signature
    th.iterAllocs++;
    th.iterBytes += size;
    uint32_t align = e.alignLog2 == 0 ? 0 : e.alignLog2 < 32 ? (1u << e.alignLog2) : 0;  // ToUint32(2 ** a)
    th.iterHashA = mix(mix(th.iterHashA, toUint32(size)), align);
    // Math.floor(size / 2^32) and size & 0xffff
    uint64_t u = (uint64_t)size;
    th.iterHashB = mix(mix(th.iterHashB, (uint32_t)(u >> 32)), (uint32_t)(u & 0xffff));
  }
  const int32_t key = e.scope;  // e.scope ?? 0
  auto it = opIndex_.find(key);
  if (it != opIndex_.end()) {
    OpStat& st = opStats_[it->second].second;
    st.allocs++;
    st.bytes += size;
    if (size > st.maxSize) st.maxSize = size;
  } else {
    opIndex_.emplace(key, opStats_.size());
    opStats_.push_back({key, OpStat{1, size, size}});
  }
}

void LifetimeBuilder::settleRealloc(ThreadState& th) {
  if (!th.hasPending) return;
  th.hasPending = false;
  endLife(th.pendingLive, true, th.pendingEventId, th.pendingSeq, th.pendingTs);
}

void LifetimeBuilder::endLife(const Live& l, bool freed, int64_t freeEvent, int64_t freeSeq, double tFree) {
  totals_.allocations++;
  if (!freed) {
    totals_.liveAtExit++;
  } else {
    liveBytes_ -= l.size;
    size_t i = bucketFor(tFree);
    Bucket& b = buckets_[i == NO_BUCKET ? bucketForUse(tFree) : i];
    b.frees++;
    b.liveEnd = liveBytes_;
  }
  allocRows_.push_back({l.iterationId, l.seq, freeSeq, l.eventId, freeEvent, freed, tFree});
  if (allocRows_.size() == ALLOC_ROWS) writeAllocs(false);
}

void LifetimeBuilder::writeAllocs(bool all) {
  size_t done = 0;
  auto bindRow = [&](Stmt& s, int base, const AllocRow& r) {
    s.bindInt(base + 1, sessionId_);
    if (r.iterationId) s.bindInt(base + 2, r.iterationId);
    else s.bindNull(base + 2);
    s.bindInt(base + 3, r.seq);
    if (r.freed) {
      s.bindInt(base + 4, r.freeSeq);
      s.bindInt(base + 6, r.freeEvent);
    } else {
      s.bindNull(base + 4);
      s.bindNull(base + 6);
    }
    s.bindInt(base + 5, r.allocEvent);
  };
  while (allocRows_.size() - done >= ALLOC_ROWS) {
    for (size_t r = 0; r < ALLOC_ROWS; r++) bindRow(insertAllocMany_, (int)r * ALLOC_COLS, allocRows_[done + r]);
    insertAllocMany_.run();
    rowsWritten(done, done + ALLOC_ROWS, db_.lastRowid());
    done += ALLOC_ROWS;
  }
  if (all)
    for (; done < allocRows_.size(); done++) {
      bindRow(insertAllocOne_, 0, allocRows_[done]);
      insertAllocOne_.run();
      rowsWritten(done, done + 1, db_.lastRowid());
    }
  allocRows_.erase(allocRows_.begin(), allocRows_.begin() + (ptrdiff_t)done);
}

// Rows [from, to) of allocRows_ were inserted by one statement, the last with rowid lastId. One
// INSERT numbers its rows consecutively (max + 1 each, under our write lock), so row i has
// lastId - (to - 1 - i). Each freed row's id goes into its free's bucket, found again from the
// free time since buckets may have been coarsened after endLife.
void LifetimeBuilder::rowsWritten(size_t from, size_t to, int64_t lastId) {
  for (size_t i = from; i < to; i++) {
    const AllocRow& r = allocRows_[i];
    if (!r.freed) continue;
    size_t k = bucketFor(r.tFree);
    Bucket& b = buckets_[k == NO_BUCKET ? bucketForUse(r.tFree) : k];
    widen(b.freeFirst, b.freeLast, lastId - (int64_t)(to - 1 - i));
  }
}

void LifetimeBuilder::flush() { writeAllocs(true); }

// Counts allocation event id of thread th in bucket `bucket` in the thread's open id range
// (a thread's events are stored in its program order: its allocations of a bucket lie in one range).
void LifetimeBuilder::addEventId(ThreadState& th, size_t bucket, int64_t id) {
  if (th.rangeBucket == (int64_t)bucket) {
    th.rangeFirst = std::min(th.rangeFirst, id);
    th.rangeLast = std::max(th.rangeLast, id);
    return;
  }
  closeRange(th);
  th.rangeBucket = (int64_t)bucket;
  th.rangeFirst = th.rangeLast = id;
}

void LifetimeBuilder::closeRange(ThreadState& th) {
  if (th.rangeBucket >= 0) buckets_[(size_t)th.rangeBucket].eventRanges.emplace_back(th.rangeFirst, th.rangeLast);
  th.rangeBucket = -1;
}

// Returns NO_BUCKET for a stamp before the first event (JS: buckets[negative] is undefined).
size_t LifetimeBuilder::bucketFor(double ts) {
  const double t0 = totals_.tBegin;
  double i = std::floor((ts - t0) / bucketNs_);
  while (i >= MAX_BUCKETS) {
    coarsen();
    i = std::floor((ts - t0) / bucketNs_);
  }
  if (i < 0) return NO_BUCKET;
  while ((double)buckets_.size() <= i) {
    double live = buckets_.empty() ? liveBytes_ : buckets_.back().liveEnd;
    buckets_.push_back(Bucket{0, 0, 0, live, live, {}, 0, 0});
  }
  return (size_t)i;
}

// Where the JS would use an undefined bucket (a stamp before the session's first event, which
// the causal watermark rules out unless a record was committed > 5 ms after its stamp) and
// throw a TypeError, count it in the first bucket instead.
size_t LifetimeBuilder::bucketForUse(double ts) {
  if (buckets_.empty()) buckets_.push_back(Bucket{0, 0, 0, liveBytes_, liveBytes_, {}, 0, 0});
  return 0;
}

void LifetimeBuilder::coarsen() {
  std::vector<Bucket> merged;
  merged.reserve(buckets_.size() / 2 + 1);
  for (size_t i = 0; i < buckets_.size(); i += 2) {
    Bucket& a = buckets_[i];
    if (i + 1 < buckets_.size()) {
      Bucket& b = buckets_[i + 1];
      a.eventRanges.insert(a.eventRanges.end(), b.eventRanges.begin(), b.eventRanges.end());
      merged.push_back(Bucket{a.allocs + b.allocs, a.frees + b.frees, a.bytes + b.bytes, b.liveEnd, std::max(a.liveMax, b.liveMax),
                              std::move(a.eventRanges), firstOf(a.freeFirst, b.freeFirst), std::max(a.freeLast, b.freeLast)});
    } else merged.push_back(std::move(a));
  }
  buckets_.swap(merged);
  bucketNs_ *= 2;
  for (ThreadState& th : threads_)
    if (th.rangeBucket >= 0) th.rangeBucket /= 2;
}

LifetimeTotals LifetimeBuilder::finish() {
  for (ThreadState& th : threads_) settleRealloc(th);
  for (auto& p : live_) p.second->forEach([&](const Live& l) { endLife(l, false, 0, 0, 0); });
  live_.clear();
  flush();
  for (ThreadState& th : threads_) closeRange(th);
  const double t0 = totals_.hasBegin ? totals_.tBegin : 0;
  Stmt bucket(db_,
              "INSERT INTO timeline (session_id, bucket, t0, t1, allocs, frees, bytes_allocated, live_bytes_end, live_bytes_max, "
              "event_ranges, free_first, free_last) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)");
  auto bindId = [&](int col, int64_t id) {
    if (id) bucket.bindInt(col, id);
    else bucket.bindNull(col);
  };
  for (size_t i = 0; i < buckets_.size(); i++) {
    const Bucket& b = buckets_[i];
    bucket.bindInt(1, sessionId_);
    bucket.bindInt(2, (int64_t)i);
    bucket.bindNum(3, t0 + (double)i * bucketNs_);
    bucket.bindNum(4, t0 + (double)(i + 1) * bucketNs_);
    bucket.bindNum(5, b.allocs);
    bucket.bindNum(6, b.frees);
    bucket.bindNum(7, b.bytes);
    bucket.bindNum(8, b.liveEnd);
    bucket.bindNum(9, b.liveMax);
    const std::string ranges = formatRanges(b.eventRanges);
    if (ranges.empty()) bucket.bindNull(10);
    else bucket.bindText(10, ranges);
    bindId(11, b.freeFirst);
    bindId(12, b.freeLast);
    bucket.run();
  }
  Stmt op(db_, "INSERT INTO op_stats (session_id, op_id, allocs, bytes, max_size) VALUES (?, ?, ?, ?, ?)");
  for (auto& [id, st] : opStats_) {
    op.bindInt(1, sessionId_);
    op.bindInt(2, id);
    op.bindNum(3, st.allocs);
    op.bindNum(4, st.bytes);
    op.bindNum(5, st.maxSize);
    op.run();
  }
  return totals_;
}

}  // namespace mp
