// libmemoplan.so: LD_PRELOAD allocation interposer, record mode (this file and record.h)
// and plan mode (plan.cpp, hooked in by the wrappers of hooks.cpp).
//
// This file is the recorder's core: the trace file pair and its header, each thread's state
// and chunks (taken, kept and written again, closed), the slow path of a record and the
// markers, thread exit, fork, and the library's constructor and destructor. The other files:
//   record.h     the shared state and the per-event hot path, inline
//   hooks.cpp    the malloc-family wrappers and fork() (the symbols programs bind to)
//   api.cpp      the C API of the Python agent (names, scopes, iterations)
//   attach.cpp   memoplan attach/detach (GOT patching: got.cpp)
//   plan.cpp     plan mode; cxx_new.cpp operator new/delete on our malloc family
//
// Writes the trace described in docs/TRACE_FORMAT.md (version 1), whose layout is
// native/include/trace-format.h. C++17 used as "better C": no exceptions, no RTTI, no
// libstdc++ symbols (the .so has no DT_NEEDED on libstdc++ or libgcc_s).
//
// Hard cases (read these before changing anything). Each is commented with its code:
// re-entrancy, errno and signals in record.h; bootstrap recursion in hooks.cpp; attach and
// detach in attach.cpp; here failure (stop_recording), chunk reuse (reuse_kept), thread exit
// (thread_dtor), fork and other libraries' atfork handlers (atfork_prepare), fork
// (atfork_child) and process exit (memoplan_fini).

#include <errno.h>
#include <fcntl.h>
#include <linux/futex.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>
#include <cpuid.h>

#include "record.h"

namespace mpr {

// -------------------------------------------------------------- globals ---
Hot g;

posix_memalign_fn real_posix_memalign;
aligned_fn real_aligned_alloc, real_memalign;
valloc_fn real_valloc, real_pvalloc;
usable_fn real_usable;
fork_fn real_fork;

// Rarely written process state (kept off the hot line).
alignas(64) Header* g_hdr;
int g_fd = -1, g_names_fd = -1;
ThreadState* g_threads;
pthread_key_t g_key;
int g_key_ok;
int g_configured;
uint32_t g_page_log2 = 12;
uint64_t g_next_name = 1;
uint64_t g_iteration;
char g_dir[4096];
uint32_t g_epoch;
int g_attached;
int g_attach_mode;

__thread ThreadState* t_state TLS_IE;
__thread uint32_t t_guard TLS_IE;

// ---------------------------------------------------------------- clock ---
NOINLINE uint64_t mono_ns_slow() { return mono_ns(); }

// One (tsc, CLOCK_MONOTONIC) pair; the narrowest of several brackets.
static void clock_pair(uint64_t* tsc, uint64_t* ns) {
  uint64_t best = ~0ull;
  for (int i = 0; i < 16; i++) {
    uint64_t a = __rdtsc();
    uint64_t n = mono_ns();
    uint64_t b = __rdtsc();
    if (b - a < best) { best = b - a; *tsc = a + (b - a) / 2; *ns = n; }
  }
}

static bool tsc_usable() {
  unsigned a, b, c, d;
  if (!__get_cpuid(0x80000000, &a, &b, &c, &d) || a < 0x80000007) return false;
  __cpuid(0x80000007, a, b, c, d);
  if (!(d & (1u << 8))) return false;  // invariant TSC
  int fd = open("/sys/devices/system/clocksource/clocksource0/current_clocksource",
                O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[16] = {0};
  ssize_t n = read(fd, buf, sizeof buf - 1);
  close(fd);
  return n >= 3 && memcmp(buf, "tsc", 3) == 0 && (n == 3 || buf[3] == '\n');
}

// Calibrates rdtsc against CLOCK_MONOTONIC over ~5 ms (sleeping, the TSC is
// nonstop). Fixed for the life of the process image (inherited by fork
// children) so that the conversion is one monotone function for all threads.
void calibrate_clock() {
  g.clock_tsc = 0;
  if (getenv("MEMOPLAN_NO_TSC") || !tsc_usable()) return;
  uint64_t t1, n1, t2, n2;
  clock_pair(&t1, &n1);
  struct timespec req = {0, 5000000};
  while (nanosleep(&req, &req) != 0 && errno == EINTR) {}
  clock_pair(&t2, &n2);
  if (t2 <= t1 || n2 <= n1) return;
  g.tsc_mult = (uint64_t)(((unsigned __int128)(n2 - n1) << 32) / (t2 - t1));
  g.tsc_base = t2;
  g.ns_base = n2;
  g.clock_tsc = 1;
}

// ------------------------------------------------------------ recording ---
// * Failure. If the trace file cannot be created, extended (ENOSPC, EFBIG,
//   RLIMIT_FSIZE, which is checked first because exceeding it raises SIGXFSZ)
//   or mapped, g_on is cleared, header flags bit2 is set when a header exists,
//   and the process keeps running with pure forwarding. fallocate is used
//   (not a sparse extension) so that a later write to a mapped page can never
//   raise SIGBUS for lack of space.
COLD static void stop_recording() {
  __atomic_store_n(&g.on, 0, __ATOMIC_RELEASE);
  if (g_hdr) __atomic_fetch_or(&g_hdr->flags, MP_TRACE_STOPPED, __ATOMIC_RELAXED);
}

// Growing a file past RLIMIT_FSIZE raises SIGXFSZ, which kills by default:
// check first (one getrlimit per chunk).
static bool may_extend(uint64_t new_size) {
  struct rlimit rl;
  return getrlimit(RLIMIT_FSIZE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
         new_size <= (uint64_t)rl.rlim_cur;
}

// Counts the records of the thread's current chunk as done and unmaps it unless the thread
// keeps it in its ring (no-op without one). Called by the owning thread with t_guard set.
static void release_chunk(ThreadState* ts) {
  if (!ts->first) return;
  __atomic_store_n(&ts->records_done, ts->records_done + chunk_records(ts->first, ts->cur),
                   __ATOMIC_RELAXED);
#ifndef MEMOPLAN_BENCH_NOFILE
  ChunkHeader* ch = (ChunkHeader*)ts->first - 1;
  // A chunk left with free slots says so (after its last commit): the reader reads a thread's
  // chunks in chunk_seq order and needs to know that the next one follows this one.
  if (chunk_records(ts->first, ts->cur) < kSlotsPerChunk)
    __atomic_fetch_or(&ch->flags, MP_TRACE_CHUNK_CLOSED, __ATOMIC_RELEASE);
  if (!(ch->flags & MP_TRACE_CHUNK_KEPT)) munmap(ch, kChunkSize);
#endif
  __atomic_store_n(&ts->first, (Record*)nullptr, __ATOMIC_RELAXED);
  __atomic_store_n(&ts->cur, (Record*)nullptr, __ATOMIC_RELAXED);
  ts->end = nullptr;
}

// Unmaps the chunks the thread kept for reuse (thread exit, a new attach's file). The reader
// punches them once stored, as it does any chunk of a thread that ended. Call after
// release_chunk, with t_guard set (or in the fork child, where nothing else runs).
static void drop_ring(ThreadState* ts) {
  for (uint32_t i = 0; i < ts->ring_n; i++) munmap(ts->ring[i], kChunkSize);
  ts->ring_n = 0;
}

// * Chunk reuse. A thread keeps up to kRing chunks mapped and writes one again once the
//   reader has stored it and handed it back (docs/TRACE_FORMAT.md "Chunk reuse"): the new
//   generation's chunk_seq and gen are one 64-bit store, its records carry the gen's parity
//   (MP_TRACE_REC_GEN, in rec_flags, so the fast path is unchanged), so an old record never reads as
//   committed. A chunk left with free slots (thread exit) is marked closed, so that a reader
//   going through the thread's chunks in chunk_seq order knows its next one follows.
//
// The thread's next chunk is its oldest kept one, written again, once the reader has stored
// every record in it and handed it back (released == gen + 1: a reader never hands back a
// chunk before it is finished). The new generation takes the next chunk_seq (stored with gen
// in one 64-bit store) and flips the parity bit its records carry: the old records it
// overwrites one by one read as uncommitted (docs/TRACE_FORMAT.md).
static ChunkHeader* reuse_kept(ThreadState* ts) {
#ifdef MEMOPLAN_BENCH_NOFILE
  (void)ts;
  return nullptr;
#else
  if (ts->ring_n == 0) return nullptr;
  ChunkHeader* ch = ts->ring[0];
  uint32_t gen = (uint32_t)(ch->seq_gen >> 32);
  if (__atomic_load_n(&ch->released, __ATOMIC_ACQUIRE) != (uint64_t)gen + 1) return nullptr;
  for (uint32_t i = 1; i < ts->ring_n; i++) ts->ring[i - 1] = ts->ring[i];
  ts->ring[ts->ring_n - 1] = ch;
  gen++;
  __atomic_store_n(&ch->seq_gen, (uint64_t)ts->chunk_seq++ | (uint64_t)gen << 32, __ATOMIC_RELEASE);
  ts->rec_flags = (ts->rec_flags & ~MP_TRACE_REC_GEN) | ((gen & 1) ? MP_TRACE_REC_GEN : 0);
  __atomic_fetch_add(&g_hdr->chunks_reused, 1, __ATOMIC_RELAXED);
  return ch;
#endif
}

// Closes the thread's current chunk (if any) and takes the next: a kept one handed back by the
// reader, else a fresh one. Called with t_guard set and errno saved.
static bool new_chunk(ThreadState* ts) {
#ifndef MEMOPLAN_BENCH_NOFILE
  const bool full = ts->first && chunk_records(ts->first, ts->cur) >= kSlotsPerChunk;
#endif
  release_chunk(ts);
  Header* h = g_hdr;
  if (!h || !g.on) return false;
#ifndef MEMOPLAN_BENCH_NOFILE
  // A chunk is full: the ingest's spill thread may copy kept ones out and hand them back before
  // this thread needs them again. One futex wake per 32,767 records, only while it waits.
  if (full) {
    uint32_t* filled = &h->chunks_filled;
    __atomic_fetch_add(filled, 1, __ATOMIC_SEQ_CST);
    if (__atomic_load_n(&h->spill_waiting, __ATOMIC_SEQ_CST))
      syscall(SYS_futex, filled, FUTEX_WAKE, 1, nullptr, nullptr, 0);
  }
#endif
  if (ts->index == 0) ts->index = (uint32_t)__atomic_add_fetch(&h->threads_seen, 1, __ATOMIC_RELAXED);
  if (ChunkHeader* kept = reuse_kept(ts)) {
    Record* first = (Record*)(kept + 1);
    ts->end = first + kSlotsPerChunk;
    __atomic_store_n(&ts->first, first, __ATOMIC_RELAXED);
    __atomic_store_n(&ts->cur, first, __ATOMIC_RELAXED);
    return true;
  }
  uint64_t idx = __atomic_fetch_add(&h->chunks_used, 1, __ATOMIC_RELAXED);
  off_t off = (off_t)(idx * kChunkSize);
#ifdef MEMOPLAN_BENCH_NOFILE
  // Benchmark-only build (libmemoplan_nofile.so): every chunk of a thread is
  // the same prefaulted anonymous buffer, so the kernel's page-cache cost is
  // left out and only the user-space hot path is measured. Writes no records.
  (void)off;
  static __thread void* reuse TLS_IE;
  if (!reuse)
    reuse = mmap(nullptr, kChunkSize, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_POPULATE, -1, 0);
  void* m = reuse;
  if (m == MAP_FAILED) { reuse = nullptr; stop_recording(); return false; }
#else
  if (!may_extend(off + kChunkSize) || fallocate(g_fd, 0, off, kChunkSize) != 0) {
    stop_recording();
    return false;
  }
  void* m = mmap(nullptr, kChunkSize, PROT_READ | PROT_WRITE, MAP_SHARED, g_fd, off);
  if (m == MAP_FAILED) { stop_recording(); return false; }
#endif
  ChunkHeader* ch = (ChunkHeader*)m;
  ch->tid = ts->tid;
  ch->thread_index = ts->index;
  ch->seq_gen = ts->chunk_seq++;  // gen 0
#ifndef MEMOPLAN_BENCH_NOFILE
  // Kept while the ring has room; not after the thread's last destructor round (late events
  // of an ending thread: nothing would reuse it).
  if (ts->ring_n < kRing && ts->dtor_round < kDtorRounds) {
    ch->flags = MP_TRACE_CHUNK_KEPT;
    ts->ring[ts->ring_n++] = ch;
  }
#endif
  ts->rec_flags &= ~MP_TRACE_REC_GEN;  // gen 0
  __atomic_store_n(&ch->magic, MP_TRACE_CHUNK_MAGIC, __ATOMIC_RELEASE);
  Record* first = (Record*)(ch + 1);
  ts->end = first + kSlotsPerChunk;
  __atomic_store_n(&ts->first, first, __ATOMIC_RELAXED);
  __atomic_store_n(&ts->cur, first, __ATOMIC_RELAXED);
  return true;
}

ThreadState* new_thread_state() {
  void* m = mmap(nullptr, 4096, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (m == MAP_FAILED) return nullptr;
  ThreadState* ts = (ThreadState*)m;  // zero-filled
  ts->tid = (uint32_t)syscall(SYS_gettid);
  ts->epoch = __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE);
  ThreadState* head = __atomic_load_n(&g_threads, __ATOMIC_RELAXED);
  do {
    ts->next = head;
  } while (!__atomic_compare_exchange_n(&g_threads, &head, ts, true, __ATOMIC_RELEASE,
                                        __ATOMIC_RELAXED));
  t_state = ts;
  if (g_key_ok) pthread_setspecific(g_key, ts);
  return ts;
}

// A state left from an earlier attach (its chunk belongs to that attach's file, its counters
// to that file's header): the owner drops the chunk and starts over. Called by the owning
// thread with t_guard set.
COLD void renew_thread(ThreadState* ts) {
  release_chunk(ts);
  drop_ring(ts);
  __atomic_store_n(&ts->records_done, (uint64_t)0, __ATOMIC_RELAXED);
  __atomic_store_n(&ts->markers, (uint64_t)0, __ATOMIC_RELAXED);
  ts->index = 0;
  ts->chunk_seq = 0;
  ts->depth = 0;
  ts->scope_top = 0;
  ts->scope_overflow = 0;
  ts->agent_depth = 0;
  ts->rec_flags = 0;
  __atomic_store_n(&ts->epoch, __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE), __ATOMIC_RELEASE);
}

// A slot is free in the thread's chunk, mapping a new chunk if needed. t_guard set.
static inline bool room(ThreadState* ts) {
  if (UNLIKELY(ts->epoch != __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE))) renew_thread(ts);
  return ts->cur < ts->end || new_chunk(ts);
}

// The thread state, created if needed. Called with t_guard set.
static inline ThreadState* get_state() {
  ThreadState* ts = t_state;
  return ts ? ts : new_thread_state();
}

// Slow-path write, with t_guard set (no nested record can run here).
static inline void write_record(ThreadState* ts, Record* r, uint8_t kind, uint64_t addr,
                         uint64_t size, uint32_t align_log2, uint32_t flags) {
  uint64_t now = now_ns();
  ts->cur = r + 1;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  fill_record(ts, r, now, kind, addr, size, align_log2, flags);
}

// Slow path of record(): a new thread state or chunk first. Not while t_guard is up (our own
// slow path re-entered, a handler interrupting a record or this slow path, or a fork).
COLD void record_slow(uint8_t kind, uint64_t addr, uint64_t size, uint32_t align_log2,
                      uint32_t flags) {
  if (t_guard || !__atomic_load_n(&g.on, __ATOMIC_ACQUIRE)) return;
  int saved = errno;
  t_guard = 1;
  ThreadState* ts = get_state();
  if (ts && room(ts)) write_record(ts, ts->cur, kind, addr, size, align_log2, flags);
  t_guard = 0;
  errno = saved;
}

// Markers: rare, always through the slow machinery.
// scope != 0: written in the record's scope field instead of the thread's scope (plan_iter:
// the plan's index in the set + 1).
COLD void record_marker(uint8_t kind, uint64_t addr, uint64_t size, uint32_t scope) {
  if (!__atomic_load_n(&g.on, __ATOMIC_ACQUIRE) || t_guard) return;
  int saved = errno;
  t_guard = 1;
  ThreadState* ts = get_state();
  if (ts && room(ts)) {
    __atomic_store_n(&ts->markers, ts->markers + 1, __ATOMIC_RELAXED);
    Record* r = ts->cur;
    if (!scope) {
      write_record(ts, r, kind, addr, size, 0, 0);
    } else {  // as write_record, with the given scope
      uint64_t now = now_ns();
      ts->cur = r + 1;
      __atomic_signal_fence(__ATOMIC_SEQ_CST);
      r->ts_ns = now;
      r->addr = addr;
      r->size = size;
      uint64_t tail = MP_TRACE_TAIL(scope, kind, 0, ts->rec_flags & 0xffff);
      __atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
    }
  }
  t_guard = 0;
  errno = saved;
}

// * Thread exit. A pthread key with a destructor is set when a thread first
//   records. glibc runs C++ thread_local destructors (__call_tls_dtors)
//   before key destructors, and runs key destructors in up to
//   PTHREAD_DESTRUCTOR_ITERATIONS (4) rounds, re-running a key whose value
//   was set again. Our destructor re-arms itself for rounds 1..3 so that it
//   runs after the destructors of keys created later; in round 4 it writes
//   the thread_exit marker (size = allocation events the thread wrote so far)
//   and unmaps its chunk. Events that still happen afterwards (glibc freeing
//   its own key arrays, later keys' destructors) take the slow path, get a
//   fresh chunk and are recorded normally; they are counted in the header
//   totals at exit. Thread states are never freed (the exit handler sums
//   them), so a late event can never touch freed memory.
void thread_dtor(void* p) {
  ThreadState* ts = (ThreadState*)p;
  int saved = errno;
  if (++ts->dtor_round < kDtorRounds) {
    t_guard = 1;
    pthread_setspecific(g_key, ts);  // run again after later keys' destructors
    t_guard = 0;
    errno = saved;
    return;
  }
  if (ts->epoch != __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE)) {
    t_guard = 1;
    renew_thread(ts);  // nothing recorded in this attach yet: no marker
    t_guard = 0;
  }
  if (__atomic_load_n(&g.on, __ATOMIC_ACQUIRE) && ts->cur) {
    record_marker(MP_KIND_THREAD_EXIT, 0, thread_events(ts));
  }
  t_guard = 1;
  release_chunk(ts);  // a late event maps a new chunk
  drop_ring(ts);
  t_guard = 0;
  errno = saved;
}

// ---------------------------------------------------------- file set-up ---
// Creates trace-<pid>-<start_ns>.{mpt,names} and maps the header.
// Returns false (and leaves recording off) on any failure.
bool open_trace(uint32_t flags, uint32_t ppid, int copy_names_from) {
  uint64_t start_ns = mono_ns();
  struct timespec rt;
  clock_gettime(CLOCK_REALTIME, &rt);
  uint32_t pid = (uint32_t)getpid();
  char path[4200];
  char* end = path + sizeof path - 8;
  char* p = put_str(path, end, g_dir);
  p = put_str(p, end, "/trace-");
  p = put_u64(p, end, pid);
  p = put_str(p, end, "-");
  p = put_u64(p, end, start_ns);
  if (p >= end) return false;
  char* ext = p;
  memcpy(ext, ".mpt", 5);
  int fd = open(path, O_RDWR | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  if (!may_extend(kChunkSize) || fallocate(fd, 0, 0, kChunkSize) != 0) {
    close(fd);
    unlink(path);
    return false;
  }
  Header* h = (Header*)mmap(nullptr, kHeaderMap, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  if (h == MAP_FAILED) { close(fd); unlink(path); return false; }
  memcpy(ext, ".names", 7);
  int nfd = open(path, O_RDWR | O_CREAT | O_EXCL | O_APPEND | O_CLOEXEC, 0644);
  if (nfd < 0) {
    munmap(h, kHeaderMap);
    close(fd);
    memcpy(ext, ".mpt", 5);
    unlink(path);
    return false;
  }
  h->version = MP_TRACE_VERSION;
  h->record_size = MP_TRACE_RECORD_SIZE;
  h->chunk_size = kChunkSize;
  h->pid = pid;
  h->ppid = ppid;
  h->flags = flags;
  h->start_ns = start_ns;
  h->start_realtime_ns = (uint64_t)rt.tv_sec * 1000000000ull + (uint64_t)rt.tv_nsec;
  h->chunks_used = 1;
  // Fork child: copy the parent's names so inherited scope ids resolve.
  if (copy_names_from >= 0) {
    char buf[8192];
    off_t in = 0;
    size_t have = 0;
    uint64_t count = 0;
    for (;;) {
      ssize_t n = pread(copy_names_from, buf + have, sizeof buf - have, in);
      if (n <= 0) break;
      in += n;
      have += (size_t)n;
      // write only whole records
      size_t whole = 0;
      while (whole + sizeof(mp_trace_name_record) <= have) {
        mp_trace_name_record rec;
        memcpy(&rec, buf + whole, sizeof rec);
        if (whole + sizeof rec + rec.len > have) break;
        whole += sizeof rec + rec.len;
        count++;
      }
      if (whole == 0) break;  // record larger than buf: stop copying
      if (write(nfd, buf, whole) != (ssize_t)whole) break;
      memmove(buf, buf + whole, have - whole);
      have -= whole;
    }
    h->names_written = count;
  }
  __atomic_thread_fence(__ATOMIC_RELEASE);
  memcpy(h->magic, MP_TRACE_MAGIC, sizeof h->magic);
  g_hdr = h;
  g_fd = fd;
  g_names_fd = nfd;
  return true;
}

// * fork and other libraries' atfork handlers. Child handlers run in
//   registration order, and in attach mode ours is registered last: handlers
//   before it that allocate would record into the parent's chunks, which the
//   child still maps. Our prepare handler raises t_guard (prepare handlers
//   run in reverse order, so ours runs first when registered last); the child
//   handler lowers it once the child's own file is open, the parent handler
//   at once. Allocations of handlers that run while it is up are not
//   recorded (in record mode none: ours is registered first).
//
// t_guard as it was when fork() began (see "fork and other libraries' atfork handlers").
static __thread uint32_t t_fork_guard TLS_IE;
void atfork_prepare() {
  t_fork_guard = t_guard;
  t_guard = 1;
}
void atfork_parent() { t_guard = t_fork_guard; }

COLD static void start_recording() {
  const char* dir = getenv("MEMOPLAN_TRACE_DIR");
  if (!dir || !*dir) return;
  size_t len = strlen(dir);
  if (len >= sizeof g_dir - 64) return;
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode)) return;
  memcpy(g_dir, dir, len + 1);
  if (pthread_key_create(&g_key, thread_dtor) == 0) g_key_ok = 1;
  calibrate_clock();
  g_configured = 1;
  pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  if (open_trace(0, (uint32_t)getppid(), -1)) __atomic_store_n(&g.on, 1, __ATOMIC_RELEASE);
}

// * fork. The child shares our MAP_SHARED chunks with the parent, so it must
//   never write into them. The pthread_atfork child handler (runs in the
//   single-threaded child before fork() returns) unmaps every inherited chunk
//   and the header, closes the inherited fds, forgets the registry, and
//   starts a new file pair (flags bit1, ppid = parent). The calling thread's
//   scope stack is carried over and the parent's names file is copied into
//   the child's, so scope ids in the child resolve. The parent's fork marker
//   (kind 35, addr = child pid) needs the child pid, which atfork handlers do
//   not get, so fork() itself is wrapped for that (hooks.cpp). vfork children share our
//   memory and the suspended parent's thread state; their (rare) events land
//   in the parent's trace as if the parent made them, which is harmless.
void atfork_child() {
  if (!g_configured || (g_attach_mode && !__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE))) {
    t_guard = t_fork_guard;
    return;
  }
  int saved = errno;
  t_guard = 1;
  __atomic_store_n(&g.on, 0, __ATOMIC_RELAXED);
  ThreadState* old = t_state;
  // Drop every mapping of the parent's file: writing there would corrupt it.
  for (ThreadState* ts = g_threads; ts; ts = ts->next) {
    ChunkHeader* cur = ts->first ? (ChunkHeader*)ts->first - 1 : nullptr;
    if (cur && !(cur->flags & MP_TRACE_CHUNK_KEPT)) munmap(cur, kChunkSize);
    drop_ring(ts);  // the current chunk too, when kept
  }
  if (g_hdr) munmap(g_hdr, kHeaderMap);
  g_hdr = nullptr;
  if (g_fd >= 0) close(g_fd);
  g_fd = -1;
  int parent_names = g_names_fd;
  g_names_fd = -1;
  g_threads = nullptr;
  t_state = nullptr;
  bool ok = open_trace(MP_TRACE_FORK_CHILD, (uint32_t)getppid(), parent_names);
  if (parent_names >= 0) close(parent_names);
  if (ok) {
    ThreadState* ts = new_thread_state();
    if (ts && old) {  // keep the scope stack the thread had
      ts->depth = old->depth;
      ts->scope_top = old->scope_top;
      ts->scope_overflow = old->scope_overflow;
      ts->agent_depth = old->agent_depth;
      ts->rec_flags = old->rec_flags & ~MP_TRACE_REC_GEN;
      memcpy(ts->stack, old->stack, sizeof ts->stack);
    }
    __atomic_store_n(&g.on, 1, __ATOMIC_RELEASE);
  }
  // Other threads' states (and the old one) are private copies now; leak them.
  t_guard = t_fork_guard;
  errno = saved;
}

// Status and refusal reason into the trace header (counters are added at
// each iteration end).
void plan_header_status() {
  if (PlanHeader* ph = plan_header()) {
    __atomic_store_n(&ph->status, mp::plan_status(), __ATOMIC_RELAXED);
    __atomic_store_n(&ph->refusal, mp::plan_refusal_code(), __ATOMIC_RELAXED);
  }
}

static void plan_atfork_child() {
  __atomic_store_n(&g.plan, 0, __ATOMIC_RELAXED);
  mp::plan_fork_child();
}

__attribute__((constructor)) static void memoplan_init() {
  int saved = errno;
  ensure_reals();
  long ps = sysconf(_SC_PAGESIZE);
  if (ps > 0) g_page_log2 = 63 - __builtin_clzll((unsigned long long)ps);
  start_recording();
  mp::Reals reals = {g.malloc_, g.calloc_, g.realloc_, g.free_, real_usable, real_posix_memalign};
  if (mp::plan_load(&reals, 1u << g_page_log2)) {
    pthread_atfork(nullptr, nullptr, plan_atfork_child);
    __atomic_store_n(&g.plan, 1, __ATOMIC_RELEASE);
  }
  plan_header_status();
  errno = saved;
}

// Sums the counters of the current attach's thread states into the header and sets bit0.
void finalize_header(Header* h) {
  uint64_t ev = 0, mk = 0;
  uint32_t epoch = __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE);
  for (ThreadState* ts = __atomic_load_n(&g_threads, __ATOMIC_ACQUIRE); ts; ts = ts->next) {
    if (__atomic_load_n(&ts->epoch, __ATOMIC_ACQUIRE) != epoch) continue;
    ev += thread_events(ts);
    mk += __atomic_load_n(&ts->markers, __ATOMIC_RELAXED);
  }
  __atomic_store_n(&h->events_written, ev, __ATOMIC_RELAXED);
  __atomic_store_n(&h->markers_written, mk, __ATOMIC_RELAXED);
  __atomic_fetch_or(&h->flags, MP_TRACE_CLEAN_EXIT, __ATOMIC_RELEASE);
}

// * Process exit. The library destructor (runs in _dl_fini, after atexit
//   handlers and after the destructors of objects initialised after us)
//   clears g_on, sums the per-thread counters into the header and sets flags
//   bit0. Nothing is unmapped: threads still running, or allocations made by
//   later destructors, see g_on == 0 and simply forward. A thread that had
//   already passed the g_on check may commit one more record after the sum.
__attribute__((destructor)) static void memoplan_fini() {
  mp::plan_write_stats();
  if (!g_configured) return;
  int saved = errno;
  plan_header_status();
  __atomic_store_n(&g.on, 0, __ATOMIC_RELEASE);
  Header* h = g_hdr;  // null once detached
  if (h) finalize_header(h);
  errno = saved;
}

}  // namespace mpr
