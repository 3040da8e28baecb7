#include "session.h"
#include <algorithm>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <ctime>
#include <dirent.h>
#include <limits>
#include <stdexcept>
#include "writers.h"

namespace mp {

namespace {
// Slack for the difference between the interposer's clock and ours (both CLOCK_MONOTONIC).
constexpr double WATERMARK_MARGIN_NS = 5000000;

// MEMOPLAN_INGEST_PROFILE=1: seconds per phase on stderr at exit (for tuning), and the trace
// chunks punched out, handed back and copied out.
struct Profile {
  double read = 0, write = 0, feed = 0, commit = 0, punch = 0;  // read includes write
  uint64_t punched = 0, handedBack = 0, copied = 0;
  bool on = getenv("MEMOPLAN_INGEST_PROFILE") != nullptr;
  ~Profile() {
    if (on) {
      fprintf(stderr, "profile: read %.3f write %.3f feed %.3f commit %.3f punch %.3f (%llu chunks; %llu handed back, %llu copied out)\n",
              read - write, write, feed, commit, punch, (unsigned long long)punched, (unsigned long long)handedBack,
              (unsigned long long)copied);
    }
  }
} g_profile;

// MEMOPLAN_INGEST_PUNCH=0: keep every chunk of the trace files (a test reads them again after
// a live ingest). Otherwise consumed full chunks are punched out once stored.
bool punchWanted() {
  const char* v = getenv("MEMOPLAN_INGEST_PUNCH");
  return !(v && std::strcmp(v, "0") == 0);
}

// MEMOPLAN_INGEST_SPILL=0: no spill thread (spill.h); chunks go back to their writers only
// once stored.
bool spillWanted() {
  const char* v = getenv("MEMOPLAN_INGEST_SPILL");
  return !(v && std::strcmp(v, "0") == 0);
}

// Records read per poll at most (a chunk more at worst): what a poll holds in memory (48 bytes
// an event) and in one transaction. MEMOPLAN_INGEST_POLL_RECORDS overrides it (tests).
constexpr uint64_t POLL_RECORDS = 250000;
uint64_t pollRecordsWanted() {
  const char* v = getenv("MEMOPLAN_INGEST_POLL_RECORDS");
  if (!v || !*v) return POLL_RECORDS;
  char* end;
  unsigned long long n = strtoull(v, &end, 10);
  if (*end || n == 0) throw std::runtime_error(std::string("MEMOPLAN_INGEST_POLL_RECORDS must be a positive integer, got ") + v);
  return n;
}

int64_t monotonicNs() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

// /^trace-(\d+)-(\d+)\.mpt$/
bool isTraceFile(const char* n) {
  if (std::strncmp(n, "trace-", 6) != 0) return false;
  const char* p = n + 6;
  for (int part = 0; part < 2; part++) {
    const char* s = p;
    while (*p >= '0' && *p <= '9') p++;
    if (p == s) return false;
    if (part == 0 && *p++ != '-') return false;
  }
  return std::strcmp(p, ".mpt") == 0;
}

int32_t rowid32(Db& db) {
  int64_t id = db.lastRowid();
  if (id > std::numeric_limits<int32_t>::max()) throw std::runtime_error("row id beyond 2^31 (threads/ops/processes)");
  return (int32_t)id;
}

// Names that are Python stacks rather than scopes (schema version 6): "@stack<TAB>" + frames.
const std::string kStackPrefix = "@stack\t";

struct ScopeName {
  std::string module, op, stack;  // stack: the decimal name id of the scope's Python stack, or ""
};

// "module<TAB>op[<TAB>stack]", as main/record/trace-names.ts splitScope: a stack field that is not 1..10 digits is "".
ScopeName splitScope(const std::string& name) {
  size_t tab = name.find('\t');
  if (tab == std::string::npos) return {name, "", ""};
  size_t tab2 = name.find('\t', tab + 1);
  if (tab2 == std::string::npos) return {name.substr(0, tab), name.substr(tab + 1), ""};
  std::string stack = name.substr(tab2 + 1);
  bool digits = !stack.empty() && stack.size() <= 10;
  for (char c : stack) digits = digits && c >= '0' && c <= '9';
  return {name.substr(0, tab), name.substr(tab + 1, tab2 - tab - 1), digits ? stack : ""};
}
}  // namespace

SessionIngest::SessionIngest(Db& db, int64_t sessionId, std::string traceDir, int64_t clockBaseNs)
    : db_(db),
      sessionId_(sessionId),
      traceDir_(std::move(traceDir)),
      clockBaseNs_(clockBaseNs),
      writer_(db),
      lifetimes_(db, sessionId),
      insertProcess_(db, "INSERT INTO processes (session_id, pid, ppid, is_fork_child, start_ns, trace_file) VALUES (?, ?, ?, ?, ?, ?)"),
      insertThread_(db, "INSERT INTO threads (session_id, process_id, tid, thread_index) VALUES (?, ?, ?, ?)"),
      insertOp_(db, "INSERT INTO ops (session_id, process_id, name_id, module, op, stack_id) VALUES (?, ?, ?, ?, ?, ?)"),
      renameOp_(db, "UPDATE ops SET module = ?, op = ?, stack_id = ? WHERE id = ?"),
      insertStack_(db, "INSERT INTO stacks (session_id, process_id, name_id, frames) VALUES (?, ?, ?, ?)"),
      punch_(punchWanted()),
      pollRecords_(pollRecordsWanted()),
      spill_(punch_ && spillWanted()) {}

PollStats SessionIngest::stats() const {
  return {writer_.events, writer_.markers, (int64_t)traces_.size(), busyNs_ / 1e9, lifetimes_.currentLiveBytes()};
}

int64_t SessionIngest::poll(bool final, uint64_t maxRecords) {
  const int64_t started = monotonicNs();
  // Events stamped before this instant (less the margin) have all their causal predecessors
  // read by now: the interposer commits a free before the real free and stamps an allocation
  // after the real call returns (see test/oracle/session-ingest.ts). Number(started - base) - margin, as doubles.
  double watermark = final ? std::numeric_limits<double>::infinity() : (double)(started - clockBaseNs_) - WATERMARK_MARGIN_NS;
  const int64_t before = writer_.events + writer_.markers;
  discover();
  Transaction tx(db_);
  writer_.begin();
  // A backlog is read a budget at a time (memory, and the write lock held per poll). Records
  // left unread are stamped at or after budget.minUnreadTs, so only what is stamped before it
  // can be fed now. Chunks are read in file order, which is the order they were taken, so the
  // rest of the backlog is read by the next polls. (The JS reads everything each poll: the
  // rows come out the same, as every record is still read in the same order and fed in the
  // same stable time order.)
  ReadBudget budget{maxRecords && maxRecords < pollRecords_ ? maxRecords : pollRecords_};
  for (auto& t : traces_) pollOne(*t, budget);
  lastCut_ = budget.cut;
  if (budget.cut) watermark = std::min(watermark, budget.minUnreadTs);
  writer_.flush();
  // ready: the pending events stamped before the watermark, in read order; the rest stay.
  size_t early = 0;
  pending_.forEachSpan([&](const StreamEvent* e, size_t n) {
    for (size_t i = 0; i < n; i++) early += e[i].ts < watermark;
  });
  ready_.clear();
  if (early == pending_.size()) {
    ready_.swap(pending_);
  } else if (early > 0) {
    keep_.clear();
    pending_.forEachSpan([&](const StreamEvent* e, size_t n) {
      for (size_t i = 0; i < n; i++) (e[i].ts < watermark ? ready_ : keep_).push(e[i]);
    });
    pending_.swap(keep_);
  }
  const int64_t fed = monotonicNs();
  feedSorted();
  lifetimes_.flush();
  const int64_t committing = monotonicNs();
  tx.commit();
  const int64_t committed = monotonicNs();
  g_profile.feed += (committing - fed) / 1e9;
  g_profile.commit += (committed - committing) / 1e9;
  // Every record read by this poll is now committed (events rows; the lifetime builder keeps
  // what it needs in memory): the full chunks it finished may go. A SIGKILL before this point
  // leaves them in the file; after it, their rows are in the database.
  for (auto& t : traces_) g_profile.punched += t->reader->releaseConsumed();
  g_profile.punch += (monotonicNs() - committed) / 1e9;
  ready_.clear();
  busyNs_ += (double)(monotonicNs() - started);
  return writer_.events + writer_.markers - before;
}

// Feeds ready_ to the lifetime builder in the order of a stable sort by ts (the JS sorts with
// (a, b) => a.ts - b.ts, stable: equal stamps keep their read order). ready_ is a few long runs
// already in order (each thread's records in program order, a chunk at a time), so: find the
// maximal non-decreasing runs and merge them with a heap keyed by (ts, run index). The run
// index breaks ties exactly as stability does, since runs are in read order.
void SessionIngest::feedSorted() {
  const size_t n = ready_.size();
  if (n == 0) return;
  struct Run {
    size_t cur, end;
  };
  std::vector<Run> runs;
  size_t start = 0;
  double prev = ready_[0].ts;
  for (size_t i = 1; i < n; i++) {
    double ts = ready_[i].ts;
    if (ts < prev) {
      runs.push_back({start, i});
      start = i;
    }
    prev = ts;
  }
  runs.push_back({start, n});
  if (runs.size() == 1) {
    ready_.forEachSpan([&](const StreamEvent* e, size_t m) {
      for (size_t i = 0; i < m; i++) lifetimes_.push(e[i]);
    });
    return;
  }
  // min-heap of run indices
  std::vector<uint32_t> heap(runs.size());
  for (uint32_t r = 0; r < runs.size(); r++) heap[r] = r;
  auto after = [&](uint32_t a, uint32_t b) {  // a comes after b
    double ta = ready_[runs[a].cur].ts, tb = ready_[runs[b].cur].ts;
    return ta > tb || (ta == tb && a > b);
  };
  std::make_heap(heap.begin(), heap.end(), after);
  while (!heap.empty()) {
    std::pop_heap(heap.begin(), heap.end(), after);
    uint32_t r = heap.back();
    Run& run = runs[r];
    // take from this run while it stays first (common: long stretches of one thread)
    for (;;) {
      lifetimes_.push(ready_[run.cur]);
      if (++run.cur == run.end) break;
      if (heap.size() > 1 && after(r, heap.front())) break;
    }
    if (run.cur == run.end) heap.pop_back();
    else std::push_heap(heap.begin(), heap.end(), after);
  }
}

void SessionIngest::drain() {
  while (poll(true) > 0) {
  }
}

FinishResult SessionIngest::finish() {
  spiller_.stop();  // the writers are done: nothing to hand back any more
  for (auto& t : traces_) g_profile.copied += t->reader->spilled();
  drain();
  const int64_t started = monotonicNs();
  FinishResult r;
  r.claimed = 0.0;
  Transaction tx(db_);
  Stmt update(db_, "UPDATE processes SET clean_exit = ?, events_claimed = ? WHERE id = ?");
  for (auto& t : traces_) {
    const TraceHeader* hp;
    try {
      hp = t->reader->readHeader();
    } catch (const TraceFormatError& e) {
      throw TraceFormatError(t->reader->file() + ": " + e.what());
    }
    std::optional<TraceHeader> h;
    if (hp) h = *hp;
    g_profile.handedBack += t->reader->handedBack();
    t->reader->close();
    if (t->processId == 0 || !h) continue;
    if (h->plan.status != 0) {
      if (!r.plan) r.plan = h->plan;
      else {
        PlanCounters& a = *r.plan;
        const PlanCounters& b = h->plan;
        a.hits += b.hits;
        a.misses += b.misses;
        a.hitBytes += b.hitBytes;
        a.missBytes += b.missBytes;
        a.arenaBytes += b.arenaBytes;
        a.iterationsServed += b.iterationsServed;
        a.retirements += b.retirements;
        // As the JS ingest merges processes (test/oracle/session-ingest.ts): the most signatures
        // any one process served, the unplanned iterations of all.
        a.signaturesServed = std::max(a.signaturesServed, b.signaturesServed);
        a.iterationsUnplanned += b.iterationsUnplanned;
        a.status = std::max(a.status, b.status);
        a.refusal = a.refusal ? a.refusal : b.refusal;
      }
    }
    if (h->stoppedEarly) {
      r.notes.push_back("process " + std::to_string(h->pid) + " stopped recording early (disk full or file size limit?): its trace is incomplete");
    }
    update.bindInt(1, h->cleanExit ? 1 : 0);
    if (h->cleanExit) update.bindNum(2, h->eventsWritten);
    else update.bindNull(2);
    update.bindInt(3, t->processId);
    update.run();
    if (!h->cleanExit) r.claimed.reset();
    else if (r.claimed) *r.claimed += h->eventsWritten;
  }
  r.totals = lifetimes_.finish();
  const LifetimeTotals& t = r.totals;
  {
    Stmt count(db_, "SELECT count(*) FROM ops WHERE session_id = ?");
    count.bindInt(1, sessionId_);
    r.ops = count.step() ? count.colInt(0) : 0;
    count.reset();
  }
  Stmt s(db_,
         "UPDATE sessions SET events = ?, markers = ?, events_claimed = ?, allocations = ?, live_at_exit = ?, iterations = ?, "
         "ops = ?, t_begin = ?, t_end = ?, peak_live_bytes = ?, first_event = ?, last_event = ? WHERE id = ?");
  s.bindInt(1, t.events);
  s.bindInt(2, t.markers);
  if (r.claimed) s.bindNum(3, *r.claimed);
  else s.bindNull(3);
  s.bindInt(4, t.allocations);
  s.bindInt(5, t.liveAtExit);
  s.bindInt(6, t.iterations);
  s.bindInt(7, r.ops);
  if (t.hasBegin) {
    s.bindNum(8, t.tBegin);
    s.bindNum(9, t.tEnd);
  } else {
    s.bindNull(8);
    s.bindNull(9);
  }
  s.bindNum(10, t.peakLiveBytes);
  if (writer_.hasIds) {
    s.bindInt(11, writer_.firstId);
    s.bindInt(12, writer_.lastId);
  } else {
    s.bindNull(11);
    s.bindNull(12);
  }
  s.bindInt(13, sessionId_);
  s.run();
  tx.commit();
  busyNs_ += (double)(monotonicNs() - started);
  return r;
}

bool SessionIngest::writersDone() {
  discover();
  for (auto& t : traces_) {
    const TraceHeader* h = nullptr;
    try {
      h = t->reader->readHeader();
    } catch (const TraceFormatError&) {
      continue;  // finish() reports it
    }
    if (!traceWriterDone(t->reader->file(), h && h->cleanExit)) return false;
  }
  return true;
}

void SessionIngest::discover() {
  DIR* d = opendir(traceDir_.c_str());
  if (!d) return;
  std::vector<std::string> names;
  while (dirent* e = readdir(d))
    if (isTraceFile(e->d_name)) names.emplace_back(e->d_name);
  closedir(d);
  // fs.readdirSync lists names sorted (libuv's scandir sorts with strcmp): new files are
  // taken in that order, which numbers their processes rows.
  std::sort(names.begin(), names.end(), [](const std::string& a, const std::string& b) { return std::strcmp(a.c_str(), b.c_str()) < 0; });
  for (const std::string& name : names) {
    std::string file = traceDir_ + (traceDir_.empty() || traceDir_.back() != '/' ? "/" : "") + name;
    if (known_.count(file)) continue;
    auto t = std::make_unique<ProcessTrace>();
    t->reader = std::make_unique<TraceReader>(file, file.substr(0, file.size() - 4) + ".names", clockBaseNs_, punch_);
    known_.emplace(file, traces_.size());
    if (spill_) spiller_.add(t->reader.get());
    traces_.push_back(std::move(t));
  }
}

void SessionIngest::pollOne(ProcessTrace& t, ReadBudget& budget) {
  TraceReader& reader = *t.reader;
  try {
    if (budget.left == 0) {
      // Spent: only the stamps of what is left (no rows, so the JS order of rows holds).
      reader.readRecords([](const RecordBatch&) {}, &budget);
      return;
    }
    if (t.processId == 0) {
      const TraceHeader* h = reader.readHeader();
      if (!h) return;
      const std::string& f = reader.file();
      insertProcess_.bindInt(1, sessionId_);
      insertProcess_.bindInt(2, h->pid);
      insertProcess_.bindInt(3, h->ppid);
      insertProcess_.bindInt(4, h->forkChild ? 1 : 0);
      insertProcess_.bindNum(5, h->startNs);
      insertProcess_.bindText(6, f.substr(f.rfind('/') + 1));
      insertProcess_.run();
      t.processId = db_.lastRowid();
    }
    for (const NameRecord& n : reader.readNames()) {
      if (n.name.compare(0, kStackPrefix.size(), kStackPrefix) == 0) defineStack(t, n.id, n.name);
      else defineScope(t, n.id, &n.name);
    }
    int64_t r0 = monotonicNs();
    reader.readRecords([&](const RecordBatch& batch) { writeBatch(t, batch); }, &budget);
    g_profile.read += (monotonicNs() - r0) / 1e9;
  } catch (const TraceFormatError& e) {
    throw TraceFormatError(reader.file() + ": " + e.what());
  }
}

void SessionIngest::writeBatch(ProcessTrace& t, const RecordBatch& batch) {
  int64_t w0 = monotonicNs();
  int32_t threadId;
  auto it = t.threads.find(batch.threadIndex);
  if (it != t.threads.end()) threadId = it->second;
  else {
    insertThread_.bindInt(1, sessionId_);
    insertThread_.bindInt(2, t.processId);
    insertThread_.bindInt(3, batch.tid);
    insertThread_.bindInt(4, batch.threadIndex);
    insertThread_.run();
    threadId = rowid32(db_);
    t.threads.emplace(batch.threadIndex, threadId);
  }
  const int32_t processId = (int32_t)t.processId;
  const TraceReader& reader = *t.reader;
  const uint8_t* rec = batch.data;
  uint32_t lastName = 0;
  int32_t lastScope = 0;
  for (size_t i = 0; i < batch.count; i++, rec += 32) {
    Record r = reader.decode(rec);
    int32_t scope = 0;
    // plan_iter's scope field is the serving plan's index in its set + 1, not a name id.
    if (r.scope != 0 && r.kind != MP_KIND_PLAN_ITER) {
      if (r.scope == lastName) scope = lastScope;
      else {
        auto s = t.scopes.find(r.scope);
        scope = s != t.scopes.end() ? s->second : defineScope(t, r.scope, nullptr);
        lastName = r.scope;
        lastScope = scope;
      }
    }
    writer_.write(r, threadId, processId, scope, pending_);
  }
  g_profile.write += (monotonicNs() - w0) / 1e9;
}

// A scope name from the agent is "module<TAB>op", or "module<TAB>op<TAB>stack" where stack is
// the name id of a Python stack interned before it (defineStack). A record can name a scope
// whose name has not been read yet only if the names file lags; it gets a placeholder row
// ('', '#id'), named on arrival.
int32_t SessionIngest::defineScope(ProcessTrace& t, uint32_t id, const std::string* name) {
  ScopeName mo = name ? splitScope(*name) : ScopeName{"", "#" + std::to_string(id), ""};
  int64_t stackId = 0;  // 0: none (NULL)
  if (!mo.stack.empty()) {
    uint64_t sid = std::stoull(mo.stack);
    if (sid <= std::numeric_limits<uint32_t>::max()) {
      auto s = t.stacks.find((uint32_t)sid);
      if (s != t.stacks.end()) stackId = s->second;
    }
  }
  auto it = t.scopes.find(id);
  if (it != t.scopes.end()) {
    if (name) {
      renameOp_.bindText(1, mo.module);
      renameOp_.bindText(2, mo.op);
      if (stackId) renameOp_.bindInt(3, stackId);
      else renameOp_.bindNull(3);
      renameOp_.bindInt(4, it->second);
      renameOp_.run();
    }
    return it->second;
  }
  insertOp_.bindInt(1, sessionId_);
  insertOp_.bindInt(2, t.processId);
  insertOp_.bindInt(3, id);
  insertOp_.bindText(4, mo.module);
  insertOp_.bindText(5, mo.op);
  if (stackId) insertOp_.bindInt(6, stackId);
  else insertOp_.bindNull(6);
  insertOp_.run();
  int32_t opId = rowid32(db_);
  t.scopes.emplace(id, opId);
  return opId;
}

// A Python stack the agent interned: "@stack<TAB>" + frames ("file:line function" lines, outermost first).
void SessionIngest::defineStack(ProcessTrace& t, uint32_t id, const std::string& name) {
  if (t.stacks.count(id)) return;
  insertStack_.bindInt(1, sessionId_);
  insertStack_.bindInt(2, t.processId);
  insertStack_.bindInt(3, id);
  insertStack_.bindText(4, name.substr(kStackPrefix.size()));
  insertStack_.run();
  t.stacks.emplace(id, db_.lastRowid());
}

}  // namespace mp
