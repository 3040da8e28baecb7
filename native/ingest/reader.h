// Tails one trace file (docs/TRACE_FORMAT.md); port of test/oracle/trace-tail.ts (decoding:
// main/record/trace-format.ts). Only committed records are returned, each exactly once.
#pragma once
#include <cstdint>
#include <atomic>
#include <functional>
#include <limits>
#include <mutex>
#include <string>
#include <unordered_set>
#include <unordered_map>
#include <vector>
#include "common.h"

namespace mp {

struct PlanCounters {
  // u64 header fields read as JS numbers (u64num: a double, rounded beyond 2^53)
  double hits = 0, misses = 0, hitBytes = 0, missBytes = 0, arenaBytes = 0, iterationsServed = 0, retirements = 0;
  uint32_t status = 0, refusal = 0;
  double signaturesServed = 0, iterationsUnplanned = 0;  // plan sets (header 160, 168)
};

struct TraceHeader {
  uint32_t version = 0, chunkSize = 0, pid = 0, ppid = 0;
  bool cleanExit = false, forkChild = false, stoppedEarly = false;
  double startNs = 0, startRealtimeNs = 0, chunksUsed = 0, eventsWritten = 0, markersWritten = 0;
  PlanCounters plan;
};

struct NameRecord {
  uint32_t id;
  std::string name;  // UTF-8 as Node's Buffer.toString('utf8') decodes it (U+FFFD for bad bytes)
};

// Committed records of one thread chunk, raw (32 bytes each).
struct RecordBatch {
  uint32_t tid, threadIndex;
  const uint8_t* data;  // valid during the callback only
  size_t count;
};

// One record decoded as trace-format.ts decodes it.
struct Record {
  double ts;
  int64_t addr, size;
  uint32_t scope;
  uint8_t kind, alignLog2;
  uint16_t flags;
};

// A bound on the records one poll reads (SessionIngest::poll). Once `left` is spent, no more
// chunks are read; for each chunk left unread, the stamp of its next committed record is
// taken instead: every record not read yet is stamped at or after minUnreadTs (a thread's
// stamps never go back, and a record still uncommitted is stamped about now).
struct ReadBudget {
  uint64_t left;
  bool cut = false;  // some chunk was left unread
  double minUnreadTs = std::numeric_limits<double>::infinity();
};

class TraceReader {
 public:
  // punch: release the pages of consumed full chunks (releaseConsumed) when the file system
  // allows it. The file is opened read-write for that, read-only when that is refused.
  TraceReader(std::string file, std::string namesFile, int64_t clockBaseNs, bool punch = true);
  ~TraceReader();
  TraceReader(const TraceReader&) = delete;
  TraceReader& operator=(const TraceReader&) = delete;
  void close();
  const std::string& file() const { return file_; }

  // The header as last read; null until the interposer has written it.
  const TraceHeader* readHeader();
  // New interned names since the last call (complete records only).
  std::vector<NameRecord> readNames();
  // Every record committed since the last call, handed to onBatch chunk by chunk, each
  // thread's chunks in chunk_seq order (docs/TRACE_FORMAT.md "Chunk reuse"); false when the header is not there yet. (The JS reader returns all batches, then the
  // ingest stores them; here each chunk is stored before the next is read, so that a backlog
  // of gigabytes is never held twice. A live chunk read a moment later just holds more.)
  // With a budget: stops reading chunks once it is spent (see ReadBudget); none is read when it
  // already is.
  bool readRecords(const std::function<void(const RecordBatch&)>& onBatch, ReadBudget* budget = nullptr);

  // Punches out (fallocate PUNCH_HOLE | KEEP_SIZE) every chunk that readRecords found finished
  // and has handed over whole since the last call, and forgets them: those chunks are never
  // read again (a punched range reads as zeros). A kept chunk (docs/TRACE_FORMAT.md "Chunk
  // reuse") is handed back to its writer instead (released = gen + 1), and read again once its
  // next generation appears; it is punched once its thread has ended. Call only once the
  // records handed over are committed. Finished: full (the interposer writes no slot after committing it, and a full
  // chunk's owner takes its next slot in a new chunk), or its thread has ended while the
  // process runs on (writers.h; checked for idle chunks at most every 500 ms). Never chunk 0
  // (docs/TRACE_FORMAT.md). Returns the chunks punched. The first failure (EOPNOTSUPP,
  // EPERM...) turns punching off for this file; ingest goes on.
  size_t releaseConsumed();
  // Chunks punched so far, and why punching is off (0: it is not, or not wanted).
  uint64_t punched() const { return punched_; }
  // Kept chunks handed back to the writer for reuse so far.
  uint64_t handedBack() const { return handedBackTotal_; }

  // Called by the spill thread (spill.h), concurrently with the rest. A kept chunk that is
  // full while its thread already has another full one waiting (the writer outruns the ingest:
  // it would take fresh chunks, and their page faults, next) is copied to a new chunk at the
  // end of the file and handed back to its writer at once; the ingest reads the copy instead
  // and punches it once stored (docs/TRACE_FORMAT.md "Copies"). Nothing is handed back before
  // its copy is in the file. Returns the chunks copied.
  size_t spillFull();
  // Waits (futex on the trace header) until a writer fills a kept chunk, at most timeoutMs.
  void spillWait(int timeoutMs);
  void spillWake();  // ends a spillWait of another thread (stopping)
  uint64_t spilled() const { return spilledTotal_; }
  int punchError() const { return punchError_; }

  inline Record decode(const uint8_t* r) const;

 private:
  // One chunk of the file in its current generation (docs/TRACE_FORMAT.md "Chunk reuse").
  struct Chunk {
    uint64_t index;
    uint64_t data = 0;  // where this generation's records are read: index, or a copy (spillFull)
    uint64_t seenPass = 0;  // the pass of readRecords that first saw this generation's header
    uint32_t tid = 0, threadIndex = 0;  // tid 0: header not seen yet
    uint32_t seq = 0, gen = 0;
    bool kept = false;      // the writer reuses it once handed back
    bool copy = false;      // a copy made by spillFull (here or by an earlier reader)
    uint64_t consumed = 0;  // records of this generation already returned
    bool full = false;      // finished: every record returned (full, or its thread ended)
    bool handedBack = false;  // released to the writer: waiting for its next generation
    bool gone = false;      // punched: never read again
  };
  bool readChunkHeader(Chunk& c, uint64_t base);
  bool nextGeneration(Chunk& c, uint64_t base);
  bool isNext(const Chunk& c) const;
  bool closed(const Chunk& c, uint64_t base);
  bool writerGone(const Chunk& c) const;
  bool sameGeneration(const Chunk& c);
  void finished(Chunk& c, uint64_t base, uint64_t slots);
  void peekUnread(const Chunk& c, uint64_t base, uint64_t slots, ReadBudget& budget);
  bool threadsEndedCheckDue();
  void readCommitted(Chunk& c, uint64_t base, uint64_t first, uint64_t slots, const std::function<void(const RecordBatch&)>& onBatch);
  bool committedAt(const uint8_t* rec, const Chunk& c) const { return mp_trace_committed(rec, c.gen); }

  std::string file_, namesFile_;
  int fd_ = -1, namesFd_ = -1;
  bool hasHeader_ = false;
  TraceHeader header_;
  std::vector<Chunk> chunks_;
  bool punch_ = false;
  int punchError_ = 0;
  uint64_t punched_ = 0;
  struct Range {
    uint64_t off, len;
  };
  std::vector<Range> toPunch_;  // finished chunks handed over whole, not punched yet
  std::vector<uint64_t> toHandBack_;  // finished kept chunks (index) handed over whole, not released yet
  std::unordered_map<uint32_t, uint32_t> nextSeq_;  // per thread index: the chunk_seq to read next
  uint64_t passes_ = 0;
  uint64_t handedBackTotal_ = 0;

  // Spilling (shared with the spill thread under mu_; the thread's own state below it).
  std::mutex mu_;
  // A generation copied out is read once: through its original (which then reads from the
  // copy) or as the copy itself, whichever the ingest comes to first.
  enum class ReadAs { Undecided, Original, Copy };
  struct Spill {
    uint32_t gen;
    uint64_t copy;
    ReadAs as;
  };
  static uint64_t genKey(uint64_t index, uint32_t gen) { return index << 32 | gen; }
  std::unordered_map<uint64_t, Spill> spilledTo_;    // genKey(chunk index, gen) -> its copy
  std::unordered_map<uint64_t, uint64_t> copyOf_;     // copy's chunk index -> genKey of its original (copies made here)
  std::unordered_map<uint64_t, uint32_t> doneHere_;   // chunk index -> generation the ingest finished
  std::unordered_set<uint64_t> readHere_;             // genKeys the ingest has begun to read in place
  uint64_t dataOf(Chunk& c);                          // c.data, redirected to a copy when spilled (mu_ held)
  bool readAsCopy(const Chunk& c);                    // c's generation is read through its copy
  bool spillOne(uint64_t index, uint32_t gen, uint64_t chunkSize, bool newest);
  uint64_t spillScanned_ = 1;                         // chunks whose header the spill thread has seen
  std::vector<uint64_t> spillKept_;                   // kept chunks it watches
  mp_trace_header* headerMap_ = nullptr;              // page 0, shared: chunks_used for copies, the spill futex
  std::vector<uint8_t> spillBuf_;
  std::atomic<uint64_t> spilledTotal_{0};
  int64_t lastEndedCheckNs_ = 0;  // when idle chunks' threads were last looked up in /proc
  uint64_t namesOffset_ = 0;
  std::vector<uint8_t> namesPending_;
  std::vector<uint8_t> scratch_, out_;
  double baseHi_, baseLo_;
};

static inline uint32_t rd32(const uint8_t* p) {
  uint32_t v;
  __builtin_memcpy(&v, p, 4);
  return v;
}
static inline uint16_t rd16(const uint8_t* p) {
  uint16_t v;
  __builtin_memcpy(&v, p, 2);
  return v;
}
static inline uint64_t rd64(const uint8_t* p) {
  uint64_t v;
  __builtin_memcpy(&v, p, 8);
  return v;
}

inline Record TraceReader::decode(const uint8_t* r) const {
  Record o;
  // As the JS reader: (hi - baseHi) * 2^32 + (lo - baseLo) in doubles. Both products are exact;
  // the sum rounds once, beyond 2^53 ns from the base, exactly as in JS.
  o.ts = ((double)rd32(r + MP_REC_OFF(ts_ns) + 4) - baseHi_) * 4294967296.0 + ((double)rd32(r + MP_REC_OFF(ts_ns)) - baseLo_);
  o.addr = clampU64(rd64(r + MP_REC_OFF(addr)));
  o.size = clampU64(rd64(r + MP_REC_OFF(size)));
  o.scope = rd32(r + MP_REC_OFF(scope));
  o.kind = r[MP_REC_OFF(kind)];
  o.alignLog2 = r[MP_REC_OFF(align_log2)];
  o.flags = (uint16_t)(rd16(r + MP_REC_OFF(flags)) & ~MP_TRACE_REC_GEN);  // bit15: the chunk generation's parity
  return o;
}

// Decodes UTF-8 the way V8 does for Buffer.toString('utf8') (the WHATWG decoder: each maximal
// invalid subsequence becomes one U+FFFD).
std::string decodeUtf8(const uint8_t* p, size_t n);

}  // namespace mp
