#include "common.h"
#include "reader.h"
#include "writers.h"
#include <algorithm>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <fcntl.h>
#include <linux/falloc.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <sys/stat.h>
#include <unistd.h>

namespace mp {

namespace {
// The layout: native/include/trace-format.h (docs/TRACE_FORMAT.md).
constexpr size_t HEADER_READ = MP_TRACE_OFF(chunks_reused);  // through the plan counters
constexpr uint32_t RECORD_SIZE = MP_TRACE_RECORD_SIZE;
constexpr uint32_t CHUNK_HEADER = MP_TRACE_CHUNK_HEADER_SIZE;  // read whole, as one record
constexpr uint32_t CHUNK_MAGIC = MP_TRACE_CHUNK_MAGIC;
static_assert(CHUNK_HEADER == RECORD_SIZE, "a chunk header takes one record slot");

std::runtime_error sysError(const std::string& what, const std::string& file) {
  return std::runtime_error(what + " " + file + ": " + std::strerror(errno));
}

// pread until n bytes or EOF, like fs.readSync returns what it got.
size_t readAt(int fd, void* buf, size_t n, uint64_t off, const std::string& file) {
  size_t got = 0;
  while (got < n) {
    ssize_t r = pread(fd, (char*)buf + got, n - got, (off_t)(off + got));
    if (r < 0) {
      if (errno == EINTR) continue;
      throw sysError("cannot read", file);
    }
    if (r == 0) break;
    got += (size_t)r;
  }
  return got;
}

uint64_t fileSize(int fd, const std::string& file) {
  struct stat st;
  if (fstat(fd, &st) != 0) throw sysError("cannot stat", file);
  return (uint64_t)st.st_size;
}

TraceHeader parseHeader(const uint8_t* b) {
  if (std::memcmp(b, MP_TRACE_MAGIC, sizeof MP_TRACE_MAGIC) != 0) throw TraceFormatError("not a memoplan trace file (bad magic)");
  TraceHeader h;
  h.version = rd32(b + MP_TRACE_OFF(version));
  if (h.version != MP_TRACE_VERSION) throw TraceFormatError("unsupported trace version " + std::to_string(h.version));
  uint32_t recordSize = rd32(b + MP_TRACE_OFF(record_size));
  h.chunkSize = rd32(b + MP_TRACE_OFF(chunk_size));
  if (recordSize != RECORD_SIZE || h.chunkSize < 4096 || h.chunkSize % RECORD_SIZE != 0) {
    throw TraceFormatError("bad trace geometry (record " + std::to_string(recordSize) + ", chunk " + std::to_string(h.chunkSize) + ")");
  }
  uint32_t flags = rd32(b + MP_TRACE_OFF(flags));
  h.pid = rd32(b + MP_TRACE_OFF(pid));
  h.ppid = rd32(b + MP_TRACE_OFF(ppid));
  h.cleanExit = flags & MP_TRACE_CLEAN_EXIT;
  h.forkChild = flags & MP_TRACE_FORK_CHILD;
  h.stoppedEarly = flags & MP_TRACE_STOPPED;
  // u64num(): hi * 2^32 + lo as doubles, which is (double)v (one rounding).
  auto num = [&](size_t off) { return (double)rd64(b + off); };
  h.startNs = num(MP_TRACE_OFF(start_ns));
  h.startRealtimeNs = num(MP_TRACE_OFF(start_realtime_ns));
  h.chunksUsed = num(MP_TRACE_OFF(chunks_used));
  h.eventsWritten = num(MP_TRACE_OFF(events_written));
  h.markersWritten = num(MP_TRACE_OFF(markers_written));
  h.plan.hits = num(MP_TRACE_OFF(plan.hits));
  h.plan.misses = num(MP_TRACE_OFF(plan.misses));
  h.plan.hitBytes = num(MP_TRACE_OFF(plan.hit_bytes));
  h.plan.missBytes = num(MP_TRACE_OFF(plan.miss_bytes));
  h.plan.arenaBytes = num(MP_TRACE_OFF(plan.arena_bytes));
  h.plan.iterationsServed = num(MP_TRACE_OFF(plan.iterations_served));
  h.plan.retirements = num(MP_TRACE_OFF(plan.retirements));
  h.plan.status = rd32(b + MP_TRACE_OFF(plan.status));
  h.plan.refusal = rd32(b + MP_TRACE_OFF(plan.refusal));
  h.plan.signaturesServed = num(MP_TRACE_OFF(plan.signatures_served));
  h.plan.iterationsUnplanned = num(MP_TRACE_OFF(plan.iterations_unplanned));
  return h;
}
}  // namespace

TraceReader::TraceReader(std::string file, std::string namesFile, int64_t clockBaseNs, bool punch)
    : file_(std::move(file)), namesFile_(std::move(namesFile)) {
  // Read-write only to punch consumed chunks (nothing is ever written). The interposer creates
  // the file 0644 as the target's user: another user (root attaching to someone's process on
  // a file system that squashes root, a read-only mount...) gets it read-only, and no punching.
  if (punch) {
    fd_ = ::open(file_.c_str(), O_RDWR | O_CLOEXEC);
    if (fd_ >= 0) punch_ = true;
    else punchError_ = errno;
  }
  if (fd_ < 0) fd_ = ::open(file_.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd_ < 0) throw sysError("cannot open", file_);
  // clockBaseNs >> 32n and & 0xffffffffn of a BigInt (arithmetic shift for a negative base).
  baseHi_ = (double)(clockBaseNs >> 32);
  baseLo_ = (double)(clockBaseNs & 0xffffffffLL);
}

TraceReader::~TraceReader() { close(); }

void TraceReader::close() {
  toPunch_.clear();
  if (headerMap_) munmap(headerMap_, MP_TRACE_HEADER_BYTES);
  headerMap_ = nullptr;
  if (fd_ >= 0) ::close(fd_);
  if (namesFd_ >= 0) ::close(namesFd_);
  fd_ = namesFd_ = -1;
}

const TraceHeader* TraceReader::readHeader() {
  uint8_t buf[HEADER_READ];
  size_t n = readAt(fd_, buf, HEADER_READ, 0, file_);
  if (n < HEADER_READ || rd32(buf) == 0) return hasHeader_ ? &header_ : nullptr;
  header_ = parseHeader(buf);
  hasHeader_ = true;
  return &header_;
}

std::vector<NameRecord> TraceReader::readNames() {
  std::vector<NameRecord> out;
  if (namesFd_ < 0) {
    namesFd_ = ::open(namesFile_.c_str(), O_RDONLY | O_CLOEXEC);
    if (namesFd_ < 0) return out;
  }
  uint64_t size = fileSize(namesFd_, namesFile_);
  if (size <= namesOffset_) return out;
  size_t keep = namesPending_.size();
  namesPending_.resize(keep + (size_t)(size - namesOffset_));
  size_t got = readAt(namesFd_, namesPending_.data() + keep, (size_t)(size - namesOffset_), namesOffset_, namesFile_);
  namesOffset_ += got;
  namesPending_.resize(keep + got);
  const uint8_t* b = namesPending_.data();
  size_t len = namesPending_.size(), off = 0;
  constexpr size_t NAME_HEAD = sizeof(mp_trace_name_record);  // u32 id, u32 len, then len bytes
  while (off + NAME_HEAD <= len) {
    uint32_t n = rd32(b + off + offsetof(mp_trace_name_record, len));
    if (off + NAME_HEAD + (uint64_t)n > len) break;  // a partial trailing record: the rest comes later
    out.push_back({rd32(b + off + offsetof(mp_trace_name_record, id)), decodeUtf8(b + off + NAME_HEAD, n)});
    off += NAME_HEAD + (size_t)n;
  }
  namesPending_.erase(namesPending_.begin(), namesPending_.begin() + (ptrdiff_t)off);
  return out;
}

bool TraceReader::readRecords(const std::function<void(const RecordBatch&)>& onBatch, ReadBudget* budget) {
  const TraceHeader* h = readHeader();
  if (!h) return false;
  uint64_t size = fileSize(fd_, file_);
  uint64_t chunkSize = h->chunkSize, slots = chunkSize / RECORD_SIZE;
  // Chunks counted in chunks_used; those beyond the end of the file are skipped until it
  // grows. (The JS reader adds a state for every counted chunk at once; states for chunks
  // beyond EOF are added here only once the file reaches them: same records, and a corrupt
  // huge count cannot exhaust memory.)
  double want = h->chunksUsed;
  double inFile = (double)(size / chunkSize);
  if (inFile < want) want = inFile;
  for (uint64_t i = chunks_.size() + 1; (double)i < want; i++) chunks_.push_back(Chunk{i});
  // A thread's chunks are read in chunk_seq order, one at a time: with reuse, a thread's next
  // chunk may lie before its current one in the file. Passes in file order until one makes no
  // progress (a chunk that fills during a pass lets its successor be read in the next).
  std::vector<uint64_t> idle;
  for (bool progress = true; progress;) {
    progress = false;
    passes_++;
    idle.clear();
    for (Chunk& c : chunks_) {
      if (c.gone) continue;
      uint64_t base = c.index * chunkSize;
      if (base + chunkSize > size) continue;  // not extended yet
      if (c.handedBack) {
        if (!nextGeneration(c, base)) continue;
      } else if (c.full) {
        continue;
      }
      if (c.tid == 0 && !readChunkHeader(c, base)) continue;  // chunk header magic still 0
      if (!isNext(c)) {
        // A chunk_seq its thread has passed: the original of a copy read already (ours, or an
        // earlier reader's: docs/TRACE_FORMAT.md "Copies"), the same records. Read once; an
        // original may still come back in a new generation.
        auto it = nextSeq_.find(c.threadIndex);
        if (it != nextSeq_.end() && c.seq < it->second) c.full = c.handedBack = true;
        continue;
      }
      if (!c.copy && readAsCopy(c)) {  // this generation is read through its copy
        c.full = c.handedBack = true;
        continue;
      }
      uint64_t first = 1 + c.consumed;
      if (first >= slots) {
        finished(c, base, slots);
        progress = true;
        continue;
      }
      if (budget && budget->left == 0) continue;
      uint64_t before = c.consumed;
      // Left with free slots (its thread's last destructors moved on to a new chunk): what was
      // committed before the flag, which is looked at first, is all there is. (Looked at before
      // reading, so that the thread's next chunk is read in the same pass, in file order.)
      const bool wasClosed = closed(c, base);
      readCommitted(c, base, first, slots, onBatch);
      if (!c.full && wasClosed) finished(c, base, slots);
      if (c.full) progress = true;
      if (c.consumed == before && !c.full && punch_) idle.push_back(c.index);
      if (budget) budget->left -= std::min(budget->left, c.consumed - before);
    }
    if (progress) continue;
    // A thread whose next chunk_seq is in no chunk of the file while a later one is: its earlier
    // chunks were stored and released by another reader (a second ingest of a folder whose
    // ingester died), so its chain starts later. Decided after a pass that read every header
    // there is after the later chunk was seen (a thread's chunk is set up before its next one,
    // so its header is there by then), and never while one of the thread's chunks was handed
    // back here and waits for its next generation.
    std::unordered_map<uint32_t, const Chunk*> lowest;  // thread -> its unfinished chunk of lowest chunk_seq
    std::unordered_set<uint32_t> blocked;               // thread -> its next chunk is there, or one is handed back
    for (const Chunk& c : chunks_) {
      if (c.tid == 0 || c.gone) continue;
      if (c.handedBack || (isNext(c) && !c.full)) {
        blocked.insert(c.threadIndex);
      } else if (!c.full) {
        auto it = lowest.find(c.threadIndex);
        if (it == lowest.end() || c.seq < it->second->seq) lowest[c.threadIndex] = &c;
      }
    }
    // Not once this reader has copied chunks out: a copy of a thread's chunk appears after the
    // thread's later chunks (this reader never needs the rule: it saw every chunk appear).
    bool copied;
    {
      std::lock_guard<std::mutex> lock(mu_);
      copied = !copyOf_.empty();
    }
    if (copied) lowest.clear();
    for (auto& [thread, c] : lowest) {
      if (blocked.count(thread) || c->seq <= nextSeq_[thread]) continue;
      if (c->seenPass < passes_) nextSeq_[thread] = c->seq;
      progress = true;  // read it, or look at every header once more first
    }
  }
  // With a budget spent: every chunk left unread bounds the stamps of the records not read yet
  // by its next committed record (a waiting successor's records come after its predecessor's).
  if (budget && budget->left == 0) {
    for (const Chunk& c : chunks_) {
      if (c.tid == 0 || c.gone || c.handedBack || c.full) continue;
      uint64_t base = c.index * chunkSize;
      if (base + chunkSize <= size) peekUnread(c, base, slots, *budget);
    }
  }
  // Chunks with room that got nothing new: if their thread has ended (the process runs on),
  // they are finished. Read once more what was committed before the end, then let them go.
  // Chunks handed back whose thread (or process) has ended will not be written again: punched.
  bool anyHandedBack = false;
  for (const Chunk& c : chunks_) anyHandedBack = anyHandedBack || (c.handedBack && !c.gone);
  if ((!idle.empty() || anyHandedBack) && threadsEndedCheckDue()) {
    for (Chunk& c : chunks_) {
      if (!c.handedBack || c.gone || !writerGone(c) || !sameGeneration(c)) continue;
      c.gone = true;
      toPunch_.push_back({c.index * chunkSize, chunkSize});
    }
    long pid;
    if (!idle.empty() && traceWriterRunning(file_, &pid)) {
      for (uint64_t i : idle) {
        Chunk& c = chunks_[i - 1];
        if (!taskGone(pid, c.tid)) continue;
        uint64_t base = c.index * chunkSize;
        uint64_t before = c.consumed;
        readCommitted(c, base, 1 + c.consumed, slots, onBatch);
        if (budget) budget->left -= std::min(budget->left, c.consumed - before);
        if (!c.full) finished(c, base, slots);
      }
    }
  }
  return true;
}

// A chunk handed back to its writer: true once its next generation is there (gen changed),
// with the new chunk_seq (stored before gen: read after seeing it) and nothing consumed.
bool TraceReader::nextGeneration(Chunk& c, uint64_t base) {
  uint8_t b[CHUNK_HEADER] = {0};
  readAt(fd_, b, CHUNK_HEADER, base, file_);
  if (rd32(b + MP_CHUNK_OFF(gen)) == c.gen || rd32(b + MP_CHUNK_OFF(magic)) != CHUNK_MAGIC) return false;
  readAt(fd_, b, CHUNK_HEADER, base, file_);
  c.gen = rd32(b + MP_CHUNK_OFF(gen));
  c.seq = rd32(b + MP_CHUNK_OFF(chunk_seq));
  c.data = c.index;
  c.seenPass = passes_;
  c.consumed = 0;
  c.full = c.handedBack = false;
  return true;
}

// Whether no thread will write c again: its process exited cleanly or its thread is gone (a
// process gone has no /proc/PID/task either).
bool TraceReader::writerGone(const Chunk& c) const {
  return header_.cleanExit || taskGone((long)header_.pid, c.tid);
}

// Whether c still holds the generation handed back. Asked once its writer is gone (so the
// answer is final): a writer may have taken the chunk again and filled it just before it
// ended, after the last look at its header; that generation is read first.
bool TraceReader::sameGeneration(const Chunk& c) {
  uint8_t b[CHUNK_HEADER] = {0};
  readAt(fd_, b, CHUNK_HEADER, c.index * (uint64_t)header_.chunkSize, file_);
  return rd32(b + MP_CHUNK_OFF(gen)) == c.gen;
}

// Whether the writer left c before it was full (chunk flags bit1, stored after its last commit).
bool TraceReader::closed(const Chunk& c, uint64_t base) {
  uint8_t b[4] = {0};
  readAt(fd_, b, 4, base + MP_CHUNK_OFF(flags), file_);
  return (rd32(b) & MP_TRACE_CHUNK_CLOSED) != 0;
}

// Whether c is its thread's chunk to read now (the thread's chunks go in chunk_seq order).
bool TraceReader::isNext(const Chunk& c) const {
  auto it = nextSeq_.find(c.threadIndex);
  return it != nextSeq_.end() && c.seq == it->second;
}

// Every record of c is returned: its thread reads on in its next chunk; c goes once stored.
void TraceReader::finished(Chunk& c, uint64_t base, uint64_t slots) {
  c.full = true;
  if (isNext(c)) nextSeq_[c.threadIndex] = c.seq + 1;
  std::lock_guard<std::mutex> lock(mu_);
  readHere_.erase(genKey(c.index, c.gen));
  uint64_t data = dataOf(c);
  if (data != c.index) {  // read from its copy: the chunk itself went back to its writer
    toPunch_.push_back({data * (base / c.index), (uint64_t)slots * RECORD_SIZE});
    c.handedBack = true;
    return;
  }
  doneHere_[c.index] = c.gen;  // the spill thread leaves it alone: handed back (or punched) below
  if (c.kept) toHandBack_.push_back(c.index);
  else toPunch_.push_back({base, (uint64_t)slots * RECORD_SIZE});
}

uint64_t TraceReader::dataOf(Chunk& c) {
  if (c.data == 0) c.data = c.index;
  if (c.data == c.index && !c.copy && !spilledTo_.empty()) {
    auto it = spilledTo_.find(genKey(c.index, c.gen));
    if (it != spilledTo_.end() && it->second.as != ReadAs::Copy) {
      it->second.as = ReadAs::Original;
      c.data = it->second.copy;
    }
  }
  return c.data;
}

bool TraceReader::readAsCopy(const Chunk& c) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = spilledTo_.find(genKey(c.index, c.gen));
  return it != spilledTo_.end() && it->second.as == ReadAs::Copy;
}

bool TraceReader::threadsEndedCheckDue() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  int64_t now = (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
  if (now - lastEndedCheckNs_ < 500000000) return false;
  lastEndedCheckNs_ = now;
  return true;
}

// A chunk the budget left unread: the stamp of its next record, if committed, bounds the
// stamps of all its records not read yet.
void TraceReader::peekUnread(const Chunk& c, uint64_t base, uint64_t slots, ReadBudget& budget) {
  uint8_t b[RECORD_SIZE];
  uint64_t next = 1 + c.consumed;
  if (next >= slots) return;
  std::unique_lock<std::mutex> lock(mu_);
  base = dataOf(const_cast<Chunk&>(c)) * (base / c.index);
  if (readAt(fd_, b, RECORD_SIZE, base + next * RECORD_SIZE, file_) < RECORD_SIZE || !committedAt(b, c)) return;
  budget.cut = true;
  budget.minUnreadTs = std::min(budget.minUnreadTs, decode(b).ts);
}

size_t TraceReader::releaseConsumed() {
  size_t done = 0;
  // Kept chunks: released = gen + 1 tells the writer it may write the chunk again (it keeps it
  // mapped). A file opened read-only, or punching turned off, hands nothing back: the writer
  // then takes fresh chunks.
  for (uint64_t i : toHandBack_) {
    Chunk& c = chunks_[i - 1];
    uint64_t base = c.index * (uint64_t)header_.chunkSize;
    {
      std::lock_guard<std::mutex> lock(mu_);
      auto it = spilledTo_.find(genKey(c.index, c.gen));
      if (it != spilledTo_.end()) {  // copied out and handed back meanwhile: the copy goes
        toPunch_.push_back({it->second.copy * (uint64_t)header_.chunkSize, (uint64_t)header_.chunkSize});
        c.handedBack = true;
        continue;
      }
    }
    if (!punch_ || fd_ < 0) {
      c.gone = true;  // finished, never read again (as a punched chunk)
      continue;
    }
    if (writerGone(c)) {  // nothing will reuse it
      c.gone = true;
      toPunch_.push_back({base, (uint64_t)header_.chunkSize});
      continue;
    }
    uint64_t v = (uint64_t)c.gen + 1;
    ssize_t rc;
    do rc = pwrite(fd_, &v, sizeof v, (off_t)(base + MP_CHUNK_OFF(released)));
    while (rc < 0 && errno == EINTR);
    if (rc != (ssize_t)sizeof v) {  // cannot write: leave it whole, as an unpunched chunk
      c.gone = true;
      continue;
    }
    c.handedBack = true;
    handedBackTotal_++;
  }
  toHandBack_.clear();
  if (header_.cleanExit) {  // the process has exited: nothing waits for the chunks handed back
    for (Chunk& c : chunks_) {
      if (!c.handedBack || c.gone || !sameGeneration(c)) continue;
      c.gone = true;
      toPunch_.push_back({c.index * (uint64_t)header_.chunkSize, (uint64_t)header_.chunkSize});
    }
  }
  for (const Range& r : toPunch_) {
    if (!punch_ || fd_ < 0) break;
    if (r.off == 0) continue;  // the header: never (readRecords does not hand it over anyway)
    int rc;
    do rc = fallocate(fd_, FALLOC_FL_PUNCH_HOLE | FALLOC_FL_KEEP_SIZE, (off_t)r.off, (off_t)r.len);
    while (rc != 0 && errno == EINTR);
    if (rc != 0) {  // EOPNOTSUPP (file system), EPERM (immutable/append-only), ...: stop for this file
      punch_ = false;
      punchError_ = errno;
      break;
    }
    done++;
  }
  toPunch_.clear();
  punched_ += done;
  return done;
}

bool TraceReader::readChunkHeader(Chunk& c, uint64_t base) {
  uint8_t b[CHUNK_HEADER] = {0};
  readAt(fd_, b, CHUNK_HEADER, base, file_);
  if (rd32(b + MP_CHUNK_OFF(magic)) != CHUNK_MAGIC) return false;
  c.tid = rd32(b + MP_CHUNK_OFF(tid));
  c.threadIndex = rd32(b + MP_CHUNK_OFF(thread_index));
  c.seq = rd32(b + MP_CHUNK_OFF(chunk_seq));
  c.gen = rd32(b + MP_CHUNK_OFF(gen));
  c.kept = (rd32(b + MP_CHUNK_OFF(flags)) & MP_TRACE_CHUNK_KEPT) != 0;
  c.seenPass = passes_;
  c.copy = (rd32(b + MP_CHUNK_OFF(flags)) & MP_TRACE_CHUNK_COPY) != 0;
  if (c.copy) {  // a copy (spillFull): one of ours is read as itself unless its original was
    std::lock_guard<std::mutex> lock(mu_);
    auto it = copyOf_.find(c.index);
    if (it != copyOf_.end()) {
      Spill& e = spilledTo_[it->second];
      if (e.as == ReadAs::Original || e.copy != c.index) {
        c.gone = true;
        return false;
      }
      e.as = ReadAs::Copy;
    }
  }
  nextSeq_.emplace(c.threadIndex, 0);  // a thread's chunks start at chunk_seq 0
  return true;
}

void TraceReader::readCommitted(Chunk& c, uint64_t base, uint64_t first, uint64_t slots, const std::function<void(const RecordBatch&)>& onBatch) {
  // Read under mu_: the spill thread hands a chunk back (and its writer overwrites it) only
  // between reads, after which dataOf points at its copy.
  std::unique_lock<std::mutex> lock(mu_);
  const uint64_t header = base;
  base = dataOf(c) * (base / c.index);
  // Read in place: a copy made from now on is read through this chunk, not as itself (part of
  // this generation may be returned already).
  if (base == header && !c.copy) {
    auto it = spilledTo_.find(genKey(c.index, c.gen));
    if (it != spilledTo_.end() && it->second.as == ReadAs::Copy) return;  // read as the copy
    readHere_.insert(genKey(c.index, c.gen));
  }
  // The committed prefix: records up to the first kind byte 0. (The JS reads the whole rest of
  // the chunk for this; reading it a piece at a time finds the same prefix, and a live chunk
  // of a slow thread costs one small read per poll instead of a megabyte.)
  const size_t piece = 2048;  // records (64 KiB)
  if (scratch_.size() < piece * RECORD_SIZE) scratch_.resize(piece * RECORD_SIZE);
  size_t n = 0;
  for (;;) {
    size_t want = (size_t)std::min<uint64_t>(piece, slots - first - n);
    if (want == 0) break;
    size_t got = readAt(fd_, scratch_.data(), want * RECORD_SIZE, base + (first + n) * RECORD_SIZE, file_) / RECORD_SIZE;
    size_t k = 0;
    while (k < got && committedAt(&scratch_[k * RECORD_SIZE], c)) k++;
    n += k;
    if (k < want) break;
  }
  if (n == 0) return;
  // Read the committed prefix again: every field of those records was stored before the commit
  // byte we saw, so the second copy holds them whole (docs/TRACE_FORMAT.md).
  if (out_.size() < n * RECORD_SIZE) out_.resize(n * RECORD_SIZE);
  size_t again = readAt(fd_, out_.data(), n * RECORD_SIZE, base + first * RECORD_SIZE, file_) / RECORD_SIZE;
  // Committed records never change, so the second copy is committed too, unless the range was
  // punched in between by another reader of the same file (two ingests of one directory):
  // then it reads as zeros, and none of those may become a row.
  size_t k = 0;
  while (k < again && k < n && committedAt(&out_[k * RECORD_SIZE], c)) k++;
  n = k;
  lock.unlock();
  if (n == 0) return;
  c.consumed += n;
  if (first + n >= slots) finished(c, header, slots);
  onBatch({c.tid, c.threadIndex, out_.data(), n});
}

std::string decodeUtf8(const uint8_t* p, size_t n) {
  static const char FFFD[] = "\xEF\xBF\xBD";
  std::string s;
  s.reserve(n);
  size_t i = 0;
  while (i < n) {
    uint8_t b = p[i];
    if (b < 0x80) {
      s.push_back((char)b);
      i++;
      continue;
    }
    size_t need;
    uint8_t lo = 0x80, hi = 0xBF;
    if (b >= 0xC2 && b <= 0xDF) need = 1;
    else if (b >= 0xE0 && b <= 0xEF) {
      need = 2;
      if (b == 0xE0) lo = 0xA0;
      if (b == 0xED) hi = 0x9F;
    } else if (b >= 0xF0 && b <= 0xF4) {
      need = 3;
      if (b == 0xF0) lo = 0x90;
      if (b == 0xF4) hi = 0x8F;
    } else {
      s.append(FFFD);
      i++;
      continue;
    }
    size_t j = 1;
    for (; j <= need && i + j < n; j++) {
      uint8_t c = p[i + j];
      if (c < lo || c > hi) break;
      lo = 0x80;
      hi = 0xBF;
    }
    if (j <= need) {  // invalid or truncated: the maximal subpart becomes one U+FFFD
      s.append(FFFD);
      i += j;
      continue;
    }
    s.append((const char*)p + i, need + 1);
    i += need + 1;
  }
  return s;
}

}  // namespace mp

namespace mp {

// The spill thread's pass over one file (reader.h). Its own reads: the header (chunk size,
// chunks_used), the headers of kept chunks and their last slot; per thread, the full kept
// chunks not handed back yet, oldest first, are copied out and handed back.
size_t TraceReader::spillFull() {
  if (!punch_ || fd_ < 0) return 0;  // read-only: nothing is handed back, nothing copied
  uint8_t h[64];
  static_assert(sizeof h >= MP_TRACE_OFF(chunks_used) + 8, "spillFull reads the header through chunks_used");
  if (readAt(fd_, h, sizeof h, 0, file_) < sizeof h || std::memcmp(h, MP_TRACE_MAGIC, sizeof MP_TRACE_MAGIC) != 0) return 0;
  const uint64_t chunkSize = rd32(h + MP_TRACE_OFF(chunk_size));
  if (chunkSize < 4096 || chunkSize % RECORD_SIZE != 0) return 0;
  // Nothing to hand back to a process that has ended (exited cleanly, or gone): it writes no
  // more, and copying would only change the order the rest is read in.
  if ((rd32(h + MP_TRACE_OFF(flags)) & MP_TRACE_CLEAN_EXIT) || (kill((pid_t)rd32(h + MP_TRACE_OFF(pid)), 0) != 0 && errno == ESRCH)) return 0;
  const uint64_t used = rd64(h + MP_TRACE_OFF(chunks_used)), size = fileSize(fd_, file_);
  if (!headerMap_) {
    void* m = mmap(nullptr, MP_TRACE_HEADER_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd_, 0);
    if (m == MAP_FAILED) return 0;
    headerMap_ = (mp_trace_header*)m;
  }
  // New chunks: the kept ones are watched (copies and fresh unkept chunks are not).
  while (spillScanned_ < used && (spillScanned_ + 1) * chunkSize <= size) {
    uint8_t b[CHUNK_HEADER];
    readAt(fd_, b, CHUNK_HEADER, spillScanned_ * chunkSize, file_);
    if (rd32(b + MP_CHUNK_OFF(magic)) != CHUNK_MAGIC) break;  // being set up: look again next time
    if ((rd32(b + MP_CHUNK_OFF(flags)) & (MP_TRACE_CHUNK_KEPT | MP_TRACE_CHUNK_COPY)) == MP_TRACE_CHUNK_KEPT) spillKept_.push_back(spillScanned_);
    spillScanned_++;
  }
  struct Full {
    uint32_t seq, gen;
    uint64_t index;
  };
  std::unordered_map<uint32_t, std::vector<Full>> byThread;
  const uint64_t slots = chunkSize / RECORD_SIZE;
  size_t keep = 0;
  for (uint64_t index : spillKept_) {
    uint8_t b[CHUNK_HEADER], last[RECORD_SIZE];
    readAt(fd_, b, CHUNK_HEADER, index * chunkSize, file_);
    if (rd32(b + MP_CHUNK_OFF(magic)) != CHUNK_MAGIC) continue;  // punched: its thread ended; forget it
    spillKept_[keep++] = index;
    uint32_t gen = rd32(b + MP_CHUNK_OFF(gen));
    if (rd64(b + MP_CHUNK_OFF(released)) == (uint64_t)gen + 1) continue;  // handed back already
    readAt(fd_, last, RECORD_SIZE, index * chunkSize + (slots - 1) * RECORD_SIZE, file_);
    if (!mp_trace_committed(last, gen)) continue;  // not full
    byThread[rd32(b + MP_CHUNK_OFF(thread_index))].push_back({rd32(b + MP_CHUNK_OFF(chunk_seq)), gen, index});
  }
  spillKept_.resize(keep);
  size_t copied = 0;
  for (auto& [thread, full] : byThread) {
    std::sort(full.begin(), full.end(), [](const Full& a, const Full& b) { return a.seq < b.seq; });
    for (size_t i = 0; i < full.size(); i++) copied += spillOne(full[i].index, full[i].gen, chunkSize, i + 1 == full.size()) ? 1 : 0;
  }
  spilledTotal_ += copied;
  return copied;
}

void TraceReader::spillWait(int timeoutMs) {
  struct timespec ts = {timeoutMs / 1000, (long)(timeoutMs % 1000) * 1000000L};
  if (!headerMap_) {  // the header is not there yet: look again soon
    struct timespec soon = {0, 1000000L};
    nanosleep(&soon, nullptr);
    return;
  }
  uint32_t* filled = &headerMap_->chunks_filled;
  uint32_t* waiting = &headerMap_->spill_waiting;
  uint32_t seen = __atomic_load_n(filled, __ATOMIC_SEQ_CST);
  __atomic_store_n(waiting, 1u, __ATOMIC_SEQ_CST);
  if (__atomic_load_n(filled, __ATOMIC_SEQ_CST) == seen) syscall(SYS_futex, filled, FUTEX_WAIT, seen, &ts, nullptr, 0);
  __atomic_store_n(waiting, 0u, __ATOMIC_SEQ_CST);
}

void TraceReader::spillWake() {
  if (headerMap_) syscall(SYS_futex, &headerMap_->chunks_filled, FUTEX_WAKE, 1 << 30, nullptr, nullptr, 0);
}

// Copies generation gen of chunk index to a new chunk at the end of the file, then hands the
// chunk back. Under mu_, so the ingest never reads the chunk while it is handed back: it reads
// the copy from then on (dataOf). The copy is complete before its magic is written, and
// before the hand-back.
bool TraceReader::spillOne(uint64_t index, uint32_t gen, uint64_t chunkSize, bool newest) {
  std::lock_guard<std::mutex> lock(mu_);
  if (spilledTo_.count(genKey(index, gen))) return false;
  // The ingest may have read all of it already, but it hands it back only once its rows are
  // committed (a poll's transaction, up to a few hundred ms): copied all the same, and the
  // copy is punched at that commit instead of being read.
  auto done = doneHere_.find(index);
  const bool readAll = done != doneHere_.end() && done->second == gen;
  uint8_t hb[CHUNK_HEADER];
  if (readAt(fd_, hb, CHUNK_HEADER, index * chunkSize, file_) < CHUNK_HEADER) return false;
  if (rd32(hb + MP_CHUNK_OFF(magic)) != CHUNK_MAGIC || rd32(hb + MP_CHUNK_OFF(gen)) != gen ||
      rd64(hb + MP_CHUNK_OFF(released)) == (uint64_t)gen + 1)
    return false;
  // Every slot is committed once the last one is, if the thread has moved on to a later chunk:
  // a record interrupted by a signal handler that filled the chunk is committed before its
  // thread takes another slot. The thread's newest full chunk may still be its current one, so
  // that one is read whole and checked.
  if (newest) {
    const uint64_t slots = chunkSize / RECORD_SIZE;
    if (spillBuf_.size() < chunkSize) spillBuf_.resize(chunkSize);
    if (readAt(fd_, spillBuf_.data(), chunkSize, index * chunkSize, file_) < chunkSize) return false;
    for (uint64_t k = 1; k < slots; k++) {
      const uint8_t* r = spillBuf_.data() + k * RECORD_SIZE;
      if (!mp_trace_committed(r, gen)) return false;
    }
  }
  // A new chunk, counted in chunks_used as the interposer counts its own (readers skip a
  // counted chunk whose magic is 0, should anything below fail).
  uint64_t copy = __atomic_fetch_add(&headerMap_->chunks_used, 1, __ATOMIC_RELAXED);
  auto writeAt = [&](const void* p, size_t n, uint64_t off) {
    size_t put = 0;
    while (put < n) {
      ssize_t w = pwrite(fd_, (const char*)p + put, n - put, (off_t)(off + put));
      if (w < 0 && errno == EINTR) continue;
      if (w <= 0) return false;
      put += (size_t)w;
    }
    return true;
  };
  // Its header first without the magic (flags: a copy, not kept), so that a copy left unfinished
  // (the ingester killed) says what it is: records under a header with magic 0 and flags bit2,
  // skipped by every reader; its original was not handed back.
  mp_trace_chunk_header ch;
  std::memcpy(&ch, hb, CHUNK_HEADER);
  ch.released = 0;
  ch.flags = MP_TRACE_CHUNK_COPY;
  mp_trace_chunk_header unfinished = ch;
  unfinished.magic = 0;
  if (!writeAt(&unfinished, CHUNK_HEADER, copy * chunkSize)) return false;
  // The records, copied in the kernel (no page of them passes through here), else by hand.
  const size_t body = chunkSize - CHUNK_HEADER;
  size_t moved = 0;
  while (moved < body) {
    loff_t from = (loff_t)(index * chunkSize + CHUNK_HEADER + moved), to = (loff_t)(copy * chunkSize + CHUNK_HEADER + moved);
    ssize_t n = copy_file_range(fd_, &from, fd_, &to, body - moved, 0);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    moved += (size_t)n;
  }
  if (moved < body) {
    if (spillBuf_.size() < body) spillBuf_.resize(body);
    if (fallocate(fd_, 0, (off_t)(copy * chunkSize), (off_t)chunkSize) != 0) return false;
    if (readAt(fd_, spillBuf_.data(), body, index * chunkSize + CHUNK_HEADER, file_) < body) return false;
    if (!writeAt(spillBuf_.data(), body, copy * chunkSize + CHUNK_HEADER)) return false;
  }
  // Known before its magic is written, so that the ingest reads the generation once.
  spilledTo_[genKey(index, gen)] = {gen, copy, readAll || readHere_.count(genKey(index, gen)) ? ReadAs::Original : ReadAs::Undecided};
  copyOf_[copy] = genKey(index, gen);
  if (!writeAt(&ch, CHUNK_HEADER, copy * chunkSize)) {  // never read: the original is read as it is
    spilledTo_.erase(genKey(index, gen));
    return false;
  }
  uint64_t released = (uint64_t)gen + 1;
  if (!writeAt(&released, sizeof released, index * chunkSize + MP_CHUNK_OFF(released))) {
    // Not handed back: the original stays; read it as it is unless its copy was taken already.
    Spill& e = spilledTo_[genKey(index, gen)];
    if (e.as == ReadAs::Undecided) e.as = ReadAs::Original;
    return false;
  }
  return true;
}

}  // namespace mp
