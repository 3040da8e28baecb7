// libmemoplan.so: LD_PRELOAD allocation interposer, record mode (this file)
// and plan mode (plan.cpp, hooked in by the wrappers below).
//
// Writes the trace described in docs/TRACE_FORMAT.md (version 1). C++17 used
// as "better C": no exceptions, no RTTI, no libstdc++ symbols (the .so has no
// DT_NEEDED on libstdc++ or libgcc_s).
//
// Hard cases (read these before changing anything):
//
// * Bootstrap recursion. The real functions are found with
//   dlsym(RTLD_NEXT, ...), and dlsym itself may call malloc/calloc (dlerror
//   state, TLS for the lookup). While the resolving thread is inside
//   resolve_reals() (t_resolving set) every allocation is served from
//   g_boot, a static bump arena. Its blocks are recognised by address in
//   free/realloc/malloc_usable_size and are never handed to the real
//   allocator; free of one is a no-op, realloc of one copies out to a real
//   block. Another thread arriving while resolution is in progress spins
//   until it is done (in practice the first call is single-threaded).
//
// * Re-entrancy. The per-event fast path calls nothing that can allocate
//   (rdtsc, an xadd, four stores); its guard bit is for signals only (see
//   "Signals"). Only the slow path (new
//   thread state, new chunk, pthread_setspecific, markers) can re-enter us;
//   it sets the thread-local t_guard first, and a nested call that reaches
//   the slow path while t_guard is set forwards without recording. The fast
//   path cannot be taken by a nested call because the state it would use
//   (t_state non-null, cur != end) is only published at the end of the slow
//   path.
//
// * errno. The fast path issues no syscall and no libc call, so errno is
//   whatever the real allocator left. Every slow path (fallocate, mmap,
//   munmap, write, gettid, pthread_*) saves errno on entry and restores it
//   on exit, so ENOMEM/EINVAL set by the real call reach the caller intact.
//
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
//
// * Process exit. The library destructor (runs in _dl_fini, after atexit
//   handlers and after the destructors of objects initialised after us)
//   clears g_on, sums the per-thread counters into the header and sets flags
//   bit0. Nothing is unmapped: threads still running, or allocations made by
//   later destructors, see g_on == 0 and simply forward. A thread that had
//   already passed the g_on check may commit one more record after the sum.
//
// * fork. The child shares our MAP_SHARED chunks with the parent, so it must
//   never write into them. The pthread_atfork child handler (runs in the
//   single-threaded child before fork() returns) unmaps every inherited chunk
//   and the header, closes the inherited fds, forgets the registry, and
//   starts a new file pair (flags bit1, ppid = parent). The calling thread's
//   scope stack is carried over and the parent's names file is copied into
//   the child's, so scope ids in the child resolve. The parent's fork marker
//   (kind 35, addr = child pid) needs the child pid, which atfork handlers do
//   not get, so fork() itself is wrapped for that. vfork children share our
//   memory and the suspended parent's thread state; their (rare) events land
//   in the parent's trace as if the parent made them, which is harmless.
//
// * Signals. A handler that allocates (not async-signal-safe, but glibc
//   tolerates it outside its own locks, which is where record() runs) may
//   interrupt record() anywhere, typically on return from the page fault of a
//   fresh trace page. Two things must hold: a slot is never handed out twice,
//   and a chunk is never released while an interrupted record still has to
//   fill a slot in it. So the fast path takes its slot with one instruction
//   (reserve_slot: an xadd on cur, which a signal cannot split) and raises
//   kFilling in t_guard until the record is committed. A nested record() may
//   still take later slots of the same chunk, but never a new chunk or a new
//   thread state: when the chunk is full it is not recorded (its alloc then
//   reads as unmatched, or its block as live at exit, never paired wrongly).
//   A slot taken past the chunk's end (a handler filled the chunk between the
//   check and the xadd) is never written; counts clamp cur to the end.
//
// * fork and other libraries' atfork handlers. Child handlers run in
//   registration order, and in attach mode ours is registered last: handlers
//   before it that allocate would record into the parent's chunks, which the
//   child still maps. Our prepare handler raises t_guard (prepare handlers
//   run in reverse order, so ours runs first when registered last); the child
//   handler lowers it once the child's own file is open, the parent handler
//   at once. Allocations of handlers that run while it is up are not
//   recorded (in record mode none: ours is registered first).
//
// * Chunk reuse. A thread keeps up to kRing chunks mapped and writes one again once the
//   reader has stored it and handed it back (docs/TRACE_FORMAT.md "Chunk reuse"): the new
//   generation's chunk_seq and gen are one 64-bit store, its records carry the gen's parity
//   (MP_TRACE_REC_GEN, in rec_flags, so the fast path is unchanged), so an old record never reads as
//   committed. A chunk left with free slots (thread exit) is marked closed, so that a reader
//   going through the thread's chunks in chunk_seq order knows its next one follows.
//
// * Failure. If the trace file cannot be created, extended (ENOSPC, EFBIG,
//   RLIMIT_FSIZE, which is checked first because exceeding it raises SIGXFSZ)
//   or mapped, g_on is cleared, header flags bit2 is set when a header exists,
//   and the process keeps running with pure forwarding. fallocate is used
//   (not a sparse extension) so that a later write to a mapped page can never
//   raise SIGBUS for lack of space.

#include "fmt.h"
#include <dlfcn.h>
#include <link.h>
#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <linux/futex.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>
#include <x86intrin.h>
#include <cpuid.h>

#include "got.h"
#include "plan.h"
#include "trace-format.h"

#define EXPORT extern "C" __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TLS_IE __attribute__((tls_model("initial-exec")))
#define NOINLINE __attribute__((noinline))
#define COLD __attribute__((noinline, cold))

namespace {

// ---------------------------------------------------------------- format ---
// The layout is native/include/trace-format.h (docs/TRACE_FORMAT.md).
typedef mp_trace_header Header;
typedef mp_trace_plan_counters PlanHeader;  // the header's plan counters (offset 88)
typedef mp_trace_chunk_header ChunkHeader;
typedef mp_trace_record Record;
constexpr uint32_t kChunkSize = MP_TRACE_CHUNK_SIZE;
constexpr uint32_t kSlotsPerChunk = MP_TRACE_CHUNK_SLOTS;  // 32767
constexpr size_t kHeaderMap = MP_TRACE_HEADER_BYTES;
// Chunks a thread keeps mapped for reuse (its ring). A chunk the reader has stored and handed
// back is written again where it is: its pages are in the page cache and mapped already, so
// the writer takes no page fault and the kernel allocates and zeroes nothing (a fresh page of
// a MAP_SHARED tmpfs file costs a write fault, ~1.3 us here: 10 ns per record).
constexpr uint32_t kRing = 4;

// --------------------------------------------------------- thread state ---
constexpr int kScopeDepth = 64;
constexpr int kDtorRounds = 4;  // PTHREAD_DESTRUCTOR_ITERATIONS

// One per thread that ever recorded, in its own page, never freed. Only the
// owner writes the first line; other threads read it (relaxed) when summing.
struct alignas(64) ThreadState {
  Record* cur;          // next free slot, or nullptr without a chunk
  Record* end;          // one past the last slot of the chunk
  uint32_t scope_top;   // innermost scope id (0 = none)
  uint32_t depth;       // entries used in stack
  uint64_t markers;     // markers written by this thread
  uint32_t rec_flags;   // ORed into every record's flags: MP_TRACE_REC_AGENT inside the agent's code, MP_TRACE_REC_GEN
  uint32_t pad_;
  Record* first;        // first slot of the mapped chunk
  uint64_t records_done;  // records in chunks already closed
  // -- colder --
  ThreadState* next;    // registry link
  uint32_t tid, index, chunk_seq, dtor_round;
  uint32_t epoch;       // attach generation this state's chunk/counters belong to
  uint32_t agent_depth; // memoplan_agent_enter() nesting (flags of records: MP_TRACE_REC_AGENT)
  uint64_t scope_overflow;  // pushes beyond kScopeDepth not yet popped
  uint64_t scope_overflow_total;
  uint32_t ring_n;      // chunks kept mapped for reuse, oldest (lowest chunk_seq) first
  ChunkHeader* ring[kRing];
  uint32_t stack[kScopeDepth];
};
static_assert(sizeof(ThreadState) <= 4096, "thread state fits a page");

// -------------------------------------------------------------- globals ---
typedef void* (*malloc_fn)(size_t);
typedef void* (*calloc_fn)(size_t, size_t);
typedef void* (*realloc_fn)(void*, size_t);
typedef void (*free_fn)(void*);
typedef int (*posix_memalign_fn)(void**, size_t, size_t);
typedef void* (*aligned_fn)(size_t, size_t);
typedef void* (*valloc_fn)(size_t);
typedef size_t (*usable_fn)(void*);
typedef pid_t (*fork_fn)(void);

// Read-mostly line: everything the fast path reads.
struct alignas(64) Hot {
  int on;  // recording
  uint16_t clock_tsc;
  uint16_t plan;  // plan mode loaded (see plan.h)
  uint64_t tsc_base, ns_base, tsc_mult;  // ns = ns_base + (tsc-tsc_base)*mult>>32
  malloc_fn malloc_;
  free_fn free_;
  calloc_fn calloc_;
  realloc_fn realloc_;
};
Hot g;

posix_memalign_fn real_posix_memalign;
aligned_fn real_aligned_alloc, real_memalign;
valloc_fn real_valloc, real_pvalloc;
usable_fn real_usable;
fork_fn real_fork;

// Rarely written process state (kept off the hot line).
alignas(64) int g_resolve_state;  // 0 none, 1 in progress, 2 done
Header* g_hdr;
int g_fd = -1, g_names_fd = -1;
ThreadState* g_threads;           // lock-free push-only registry
pthread_key_t g_key;
int g_key_ok;
int g_configured;                 // MEMOPLAN_TRACE_DIR was set and valid
uint32_t g_page_log2 = 12;
uint64_t g_next_name = 1;
uint64_t g_iteration;
char g_dir[4096];
// Attach mode (memoplan_attach/memoplan_detach, driven by gdb): see the top of this file.
uint32_t g_epoch;                 // bumped at every attach; thread states of older ones are stale
int g_attached;                   // recording because of memoplan_attach
int g_attach_mode;                // memoplan_attach succeeded at least once

__thread ThreadState* t_state TLS_IE;
__thread uint32_t t_guard TLS_IE;  // bit0: in slow path (or forking); bit1: resolving; bit2: kFilling

// ------------------------------------------------------- bootstrap arena ---
constexpr size_t kBootSize = 256 * 1024;
alignas(64) char g_boot[kBootSize];
size_t g_boot_used;

inline bool is_boot(const void* p) {
  return (const char*)p >= g_boot && (const char*)p < g_boot + kBootSize;
}

void* boot_alloc(size_t n, size_t align) {
  if (align < 16) align = 16;
  for (;;) {
    size_t used = __atomic_load_n(&g_boot_used, __ATOMIC_RELAXED);
    size_t start = (used + 16 + align - 1) & ~(align - 1);  // 16 for the size
    if (n > kBootSize || start + n > kBootSize) return nullptr;
    if (__atomic_compare_exchange_n(&g_boot_used, &used, start + n, false,
                                    __ATOMIC_RELAXED, __ATOMIC_RELAXED)) {
      *(size_t*)(g_boot + start - 16) = n;
      return g_boot + start;  // static storage: already zero, never reused
    }
  }
}
inline size_t boot_size(const void* p) { return *(const size_t*)((const char*)p - 16); }

// ------------------------------------------------------------ resolving ---
COLD void resolve_reals() {
  int expected = 0;
  if (!__atomic_compare_exchange_n(&g_resolve_state, &expected, 1, false,
                                   __ATOMIC_ACQUIRE, __ATOMIC_ACQUIRE)) {
    while (__atomic_load_n(&g_resolve_state, __ATOMIC_ACQUIRE) != 2) _mm_pause();
    return;
  }
  t_guard |= 2;
  malloc_fn m = (malloc_fn)dlsym(RTLD_NEXT, "malloc");
  free_fn f = (free_fn)dlsym(RTLD_NEXT, "free");
  calloc_fn c = (calloc_fn)dlsym(RTLD_NEXT, "calloc");
  realloc_fn r = (realloc_fn)dlsym(RTLD_NEXT, "realloc");
  real_posix_memalign = (posix_memalign_fn)dlsym(RTLD_NEXT, "posix_memalign");
  real_aligned_alloc = (aligned_fn)dlsym(RTLD_NEXT, "aligned_alloc");
  real_memalign = (aligned_fn)dlsym(RTLD_NEXT, "memalign");
  real_valloc = (valloc_fn)dlsym(RTLD_NEXT, "valloc");
  real_pvalloc = (valloc_fn)dlsym(RTLD_NEXT, "pvalloc");
  real_usable = (usable_fn)dlsym(RTLD_NEXT, "malloc_usable_size");
  real_fork = (fork_fn)dlsym(RTLD_NEXT, "fork");
  g.free_ = f;
  g.calloc_ = c;
  g.realloc_ = r;
  __atomic_store_n(&g.malloc_, m, __ATOMIC_RELEASE);
  t_guard &= ~2u;
  __atomic_store_n(&g_resolve_state, 2, __ATOMIC_RELEASE);
}

inline bool resolving() { return (t_guard & 2) != 0; }
inline void ensure_reals() {
  if (UNLIKELY(__atomic_load_n(&g_resolve_state, __ATOMIC_ACQUIRE) != 2)) resolve_reals();
}

// ---------------------------------------------------------------- clock ---
inline uint64_t mono_ns() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

NOINLINE uint64_t mono_ns_slow() { return mono_ns(); }

inline uint64_t now_ns() {
  if (__builtin_expect_with_probability(g.clock_tsc != 0, 1, 0.999)) {
    uint64_t d = __rdtsc() - g.tsc_base;
    if (UNLIKELY((int64_t)d < 0)) d = 0;  // a core whose TSC lags the calibrating one
    return g.ns_base + (uint64_t)(((unsigned __int128)d * g.tsc_mult) >> 32);
  }
  return mono_ns_slow();
}

// One (tsc, CLOCK_MONOTONIC) pair; the narrowest of several brackets.
void clock_pair(uint64_t* tsc, uint64_t* ns) {
  uint64_t best = ~0ull;
  for (int i = 0; i < 16; i++) {
    uint64_t a = __rdtsc();
    uint64_t n = mono_ns();
    uint64_t b = __rdtsc();
    if (b - a < best) { best = b - a; *tsc = a + (b - a) / 2; *ns = n; }
  }
}

bool tsc_usable() {
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
COLD void stop_recording() {
  __atomic_store_n(&g.on, 0, __ATOMIC_RELEASE);
  if (g_hdr) __atomic_fetch_or(&g_hdr->flags, MP_TRACE_STOPPED, __ATOMIC_RELAXED);
}

// Records in the chunk starting at first whose next slot is cur. A slot taken past the
// chunk's end is never written (see "Signals"), so cur is clamped to the end.
inline uint64_t chunk_records(const Record* first, const Record* cur) {
  if (!first || !cur || cur < first) return 0;
  uint64_t n = (uint64_t)(cur - first);
  return n < kSlotsPerChunk ? n : kSlotsPerChunk;
}

inline uint64_t thread_records(const ThreadState* ts) {
  Record* cur = __atomic_load_n(&ts->cur, __ATOMIC_RELAXED);
  Record* first = __atomic_load_n(&ts->first, __ATOMIC_RELAXED);
  uint64_t done = __atomic_load_n(&ts->records_done, __ATOMIC_RELAXED);
  return done + chunk_records(first, cur);
}
inline uint64_t thread_events(const ThreadState* ts) {
  return thread_records(ts) - __atomic_load_n(&ts->markers, __ATOMIC_RELAXED);
}

// Growing a file past RLIMIT_FSIZE raises SIGXFSZ, which kills by default:
// check first (one getrlimit per chunk).
bool may_extend(uint64_t new_size) {
  struct rlimit rl;
  return getrlimit(RLIMIT_FSIZE, &rl) != 0 || rl.rlim_cur == RLIM_INFINITY ||
         new_size <= (uint64_t)rl.rlim_cur;
}

// Counts the records of the thread's current chunk as done and unmaps it unless the thread
// keeps it in its ring (no-op without one). Called by the owning thread with t_guard set.
void release_chunk(ThreadState* ts) {
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
void drop_ring(ThreadState* ts) {
  for (uint32_t i = 0; i < ts->ring_n; i++) munmap(ts->ring[i], kChunkSize);
  ts->ring_n = 0;
}

// The thread's next chunk is its oldest kept one, written again, once the reader has stored
// every record in it and handed it back (released == gen + 1: a reader never hands back a
// chunk before it is finished). The new generation takes the next chunk_seq (stored with gen
// in one 64-bit store) and flips the parity bit its records carry: the old records it
// overwrites one by one read as uncommitted (docs/TRACE_FORMAT.md).
ChunkHeader* reuse_kept(ThreadState* ts) {
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
bool new_chunk(ThreadState* ts) {
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

void thread_dtor(void* p);

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
inline bool room(ThreadState* ts) {
  if (UNLIKELY(ts->epoch != __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE))) renew_thread(ts);
  return ts->cur < ts->end || new_chunk(ts);
}

// The thread state, created if needed. Called with t_guard set.
inline ThreadState* get_state() {
  ThreadState* ts = t_state;
  return ts ? ts : new_thread_state();
}

inline void fill_record(ThreadState* ts, Record* r, uint64_t now, uint8_t kind, uint64_t addr,
                        uint64_t size, uint32_t align_log2, uint32_t flags) {
  r->ts_ns = now;
  r->addr = addr;
  r->size = size;
  uint64_t tail = MP_TRACE_TAIL(ts->scope_top, kind, align_log2 & 0xff, (flags | ts->rec_flags) & 0xffff);
  __atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
}

// Slow-path write, with t_guard set (no nested record can run here).
inline void write_record(ThreadState* ts, Record* r, uint8_t kind, uint64_t addr,
                         uint64_t size, uint32_t align_log2, uint32_t flags) {
  uint64_t now = now_ns();
  ts->cur = r + 1;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  fill_record(ts, r, now, kind, addr, size, align_log2, flags);
}

// Takes the thread's next slot in one instruction (see "Signals" at the top). Only the owner
// thread writes cur, so no lock prefix is needed on x86-64: a signal handler runs before or
// after the xadd, never inside it. Elsewhere an atomic add (correct, a little slower).
// The slot may lie past the chunk's end: the caller checks.
inline Record* reserve_slot(ThreadState* ts) {
#if defined(__x86_64__)
  uintptr_t r = sizeof(Record);
  __asm__ volatile("xaddq %0, %1" : "+r"(r), "+m"(ts->cur) : : "memory");
  return (Record*)r;
#else
  return (Record*)__atomic_fetch_add((uintptr_t*)&ts->cur, sizeof(Record), __ATOMIC_RELAXED);
#endif
}

// t_guard bit2: a record() of this thread is between taking its slot and committing it.
constexpr uint32_t kFilling = 4;

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

// Fast path: no locks, no syscalls, no shared cache line written.
inline __attribute__((always_inline)) void record(uint8_t kind, const void* addr,
                                                  uint64_t size, uint32_t align_log2 = 0,
                                                  uint32_t flags = 0) {
  ThreadState* ts = t_state;
  const uint32_t guard = t_guard;  // 0, or kFilling inside a handler that interrupted a record
  if (LIKELY(ts != nullptr) && LIKELY((guard & ~kFilling) == 0) && LIKELY(ts->cur < ts->end)) {
    t_guard = guard | kFilling;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    Record* r = reserve_slot(ts);
    // ts->first, not ts->end: another thread's attach may null end at any time. first is null
    // only if a handler before the xadd found the disk full (recording stopped, no chunk).
    Record* const first = ts->first;
    Record* const end = first + kSlotsPerChunk;
    if (LIKELY(first != nullptr) && LIKELY(r >= first) && LIKELY(r < end)) {
      uint64_t now = now_ns();
      // A handler that ran between the xadd and the stamp took the slots after ours, stamped
      // earlier: ours takes the first of those stamps, so a thread's stamps never go back
      // (still after the real allocation returned, still before the real free).
      __atomic_signal_fence(__ATOMIC_SEQ_CST);
      Record* next = r + 1;
      if (UNLIKELY(ts->cur != next) && next < end && next->ts_ns < now) now = next->ts_ns;
      fill_record(ts, r, now, kind, (uint64_t)(uintptr_t)addr, size, align_log2, flags);
      __atomic_signal_fence(__ATOMIC_SEQ_CST);
      t_guard = guard;
      return;
    }
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    t_guard = guard;
  }
  record_slow(kind, (uint64_t)(uintptr_t)addr, size, align_log2, flags);
}

// Markers: rare, always through the slow machinery.
// scope != 0: written in the record's scope field instead of the thread's scope (plan_iter:
// the plan's index in the set + 1).
COLD void record_marker(uint8_t kind, uint64_t addr, uint64_t size, uint32_t scope = 0) {
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
using mpfmt::put_str;
using mpfmt::put_u64;

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
      while (whole + 8 <= have) {
        uint32_t len;
        memcpy(&len, buf + whole + 4, 4);
        if (whole + 8 + len > have) break;
        whole += 8 + len;
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

void atfork_child();

// t_guard as it was when fork() began (see "fork and other libraries' atfork handlers").
__thread uint32_t t_fork_guard TLS_IE;
void atfork_prepare() {
  t_fork_guard = t_guard;
  t_guard = 1;
}
void atfork_parent() { t_guard = t_fork_guard; }

COLD void start_recording() {
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

inline PlanHeader* plan_header() {
  return g_hdr ? &g_hdr->plan : nullptr;
}

// Status and refusal reason into the trace header (counters are added at
// each iteration end).
void plan_header_status() {
  if (PlanHeader* ph = plan_header()) {
    __atomic_store_n(&ph->status, mp::plan_status(), __ATOMIC_RELAXED);
    __atomic_store_n(&ph->refusal, mp::plan_refusal_code(), __ATOMIC_RELAXED);
  }
}

void plan_atfork_child() {
  __atomic_store_n(&g.plan, 0, __ATOMIC_RELAXED);
  mp::plan_fork_child();
}

__attribute__((constructor)) void memoplan_init() {
  int saved = errno;
  ensure_reals();
  long ps = sysconf(_SC_PAGESIZE);
  if (ps > 0) g_page_log2 = 63 - __builtin_clzll((unsigned long long)ps);
  start_recording();
  mp::Reals reals = {g.malloc_, g.calloc_, g.realloc_, g.free_, real_usable};
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

__attribute__((destructor)) void memoplan_fini() {
  mp::plan_write_stats();
  if (!g_configured) return;
  int saved = errno;
  plan_header_status();
  __atomic_store_n(&g.on, 0, __ATOMIC_RELEASE);
  Header* h = g_hdr;  // null once detached
  if (h) finalize_header(h);
  errno = saved;
}

inline uint32_t log2_floor(size_t a) { return a ? 63 - __builtin_clzll(a) : 0; }
inline uint64_t sat_mul(size_t a, size_t b) {
  size_t r;
  return __builtin_mul_overflow(a, b, &r) ? ~0ull : r;
}

}  // namespace

// ============================================================= wrappers ===

namespace {
// The thread's plan state when plan mode is on and it is inside an iteration.
inline mp::PlanThreadHead* planning() { return UNLIKELY(g.plan) ? mp::plan_here() : nullptr; }

NOINLINE void* malloc_ext(malloc_fn f, size_t n) {
  if (LIKELY(!g.on)) {  // planning only: tail calls, nothing to record
    mp::PlanThreadHead* h = mp::plan_here();
    return h ? mp::plan_malloc(h, n) : f(n);
  }
  mp::PlanThreadHead* h = planning();
  void* p = h ? mp::plan_malloc(h, n) : f(n);
  if (g.on) record(MP_KIND_MALLOC, p, n, 0, p ? 0 : MP_TRACE_REC_FAILED);
  return p;
}
NOINLINE void free_rec(free_fn f, void* p) {
  record(MP_KIND_FREE, p, 0);
  f(p);
}
// An arena block never reaches the real free (plan.cpp).
NOINLINE void free_arena(void* p) {
  if (g.on) record(MP_KIND_FREE, p, 0);
  mp::arena_free(p);
}
COLD void* malloc_slow(size_t n) {
  if (resolving()) return boot_alloc(n, 16);
  ensure_reals();
  void* p = g.malloc_(n);
  if (g.on) record(MP_KIND_MALLOC, p, n, 0, p ? 0 : MP_TRACE_REC_FAILED);
  return p;
}
}  // namespace

// malloc and free: when neither recording nor planning, two loads, one test
// and a tail call (free adds the arena range check).
EXPORT void* malloc(size_t n) __THROW {
  malloc_fn f = g.malloc_;
  if (UNLIKELY(!f)) return malloc_slow(n);
  if (!(g.on | g.plan)) return f(n);
  if (!g.on) {  // planning only: plan_malloc serves, or observes, or forwards
    if (mp::PlanThreadHead* h = mp::t_plan) return mp::plan_malloc(h, n);
    return f(n);
  }
  return malloc_ext(f, n);
}

EXPORT void free(void* p) __THROW {
  if (UNLIKELY(!p)) return;  // free(NULL) does nothing and is not recorded
  // An arena block never reaches the real free (never a bootstrap block; the
  // range is empty until a plan is loaded).
  if (mp::in_arena(p)) return g.on ? free_arena(p) : mp::arena_free(p);
  if (UNLIKELY(is_boot(p))) return;
  free_fn f = g.free_;
  if (UNLIKELY(!f)) {
    if (resolving()) return;  // cannot happen in practice; leaking is the safe choice
    ensure_reals();
    f = g.free_;
  }
  if (!g.on) return f(p);
  return free_rec(f, p);
}

EXPORT void* calloc(size_t nm, size_t sz) __THROW {
  calloc_fn f = g.calloc_;
  if (UNLIKELY(!f)) {
    if (resolving()) {
      size_t n;
      if (__builtin_mul_overflow(nm, sz, &n)) { errno = ENOMEM; return nullptr; }
      return boot_alloc(n, 16);
    }
    ensure_reals();
    f = g.calloc_;
  }
  mp::PlanThreadHead* h = planning();
  if (LIKELY(!g.on)) return h ? mp::plan_calloc(h, nm, sz) : f(nm, sz);
  void* p = h ? mp::plan_calloc(h, nm, sz) : f(nm, sz);
  if (g.on) record(MP_KIND_CALLOC, p, sat_mul(nm, sz), 0, p ? 0 : MP_TRACE_REC_FAILED);
  return p;
}

namespace {
// realloc of an arena block, or any realloc on a thread inside an iteration.
NOINLINE void* realloc_plan(realloc_fn f, void* p, size_t n, uint8_t kind, uint64_t rsize) {
  bool ar = p && mp::in_arena(p);
  mp::PlanThreadHead* h = planning();
  if (g.on && p) record(MP_KIND_REALLOC_FREE, p, 0);
  void* q;
  if (p && n == 0) {  // glibc frees p and returns NULL
    if (ar) mp::arena_free(p);
    q = ar ? nullptr : f(p, 0);
  } else if (h) {
    q = mp::plan_realloc(h, p, n);
  } else {
    q = ar ? mp::arena_realloc(p, n) : f(p, n);
  }
  if (g.on) {
    if (q) record(kind, q, rsize);
    else if (p && n != 0) record(MP_KIND_REALLOC_FAILED, p, rsize, 0, MP_TRACE_REC_FAILED);
    else record(kind, nullptr, rsize, 0, MP_TRACE_REC_FAILED);
  }
  return q;
}

// realloc / reallocarray body once the size is known. kind: MP_KIND_REALLOC or
// MP_KIND_REALLOCARRAY. size: what goes in the record.
inline void* do_realloc(void* p, size_t n, uint8_t kind, uint64_t rsize) {
  realloc_fn f = g.realloc_;
  if (UNLIKELY(!f)) {
    if (resolving()) {
      void* q = boot_alloc(n, 16);
      if (q && p) memcpy(q, p, is_boot(p) ? (boot_size(p) < n ? boot_size(p) : n) : 0);
      return q;
    }
    ensure_reals();
    f = g.realloc_;
  }
  if (UNLIKELY(p && is_boot(p))) {  // never hand a bootstrap block to the real realloc
    void* q = g.malloc_(n);
    if (q) {
      size_t old = boot_size(p);
      memcpy(q, p, old < n ? old : n);
    }
    if (g.on) record(kind, q, rsize, 0, q ? 0 : MP_TRACE_REC_FAILED);
    return q;
  }
  if (UNLIKELY(g.plan) || UNLIKELY(p && mp::in_arena(p)))
    return realloc_plan(f, p, n, kind, rsize);
  if (g.on) {
    if (p) record(MP_KIND_REALLOC_FREE, p, 0);
    void* q = f(p, n);
    if (q) record(kind, q, rsize);
    else if (p && n != 0) record(MP_KIND_REALLOC_FAILED, p, rsize, 0, MP_TRACE_REC_FAILED);
    else record(kind, nullptr, rsize, 0, MP_TRACE_REC_FAILED);
    return q;
  }
  return f(p, n);
}
}  // namespace

EXPORT void* realloc(void* p, size_t n) __THROW { return do_realloc(p, n, MP_KIND_REALLOC, n); }

// Implemented on top of the real realloc, exactly as glibc does, so that it
// neither records twice (glibc's reallocarray calls realloc) nor depends on
// the next allocator exporting it.
EXPORT void* reallocarray(void* p, size_t nm, size_t sz) __THROW {
  size_t n;
  if (__builtin_mul_overflow(nm, sz, &n)) {
    if (g.on && p) {  // p untouched and still live
      record(MP_KIND_REALLOC_FREE, p, 0);
      record(MP_KIND_REALLOC_FAILED, p, ~0ull, 0, MP_TRACE_REC_FAILED);
    } else if (g.on) {
      record(MP_KIND_REALLOCARRAY, nullptr, ~0ull, 0, MP_TRACE_REC_FAILED);
    }
    errno = ENOMEM;
    return nullptr;
  }
  return do_realloc(p, n, MP_KIND_REALLOCARRAY, n);
}

namespace {
// posix_memalign beyond its fast paths: bootstrap, recording.
NOINLINE int posix_memalign_ext(void** out, size_t align, size_t n) {
  if (UNLIKELY(!real_posix_memalign)) {
    if (resolving()) {
      if (!align || (align & (align - 1)) || align % sizeof(void*)) return EINVAL;
      void* q = boot_alloc(n, align);
      if (!q) return ENOMEM;
      *out = q;
      return 0;
    }
    ensure_reals();
  }
  mp::PlanThreadHead* h = planning();
  int rc = h ? mp::plan_posix_memalign(h, real_posix_memalign, out, align, n)
             : real_posix_memalign(out, align, n);
  if (UNLIKELY(g.on))
    record(MP_KIND_POSIX_MEMALIGN, rc == 0 ? *out : nullptr, n, log2_floor(align), rc ? MP_TRACE_REC_FAILED : 0);
  return rc;
}
}  // namespace

// Like malloc: neither recording nor planning, a tail call; planning only,
// a tail call into plan mode (which forwards outside iterations).
EXPORT int posix_memalign(void** out, size_t align, size_t n) __THROW {
  posix_memalign_fn f = real_posix_memalign;
  if (LIKELY(f) && !g.on) {
    if (!g.plan) return f(out, align, n);
    if (mp::PlanThreadHead* h = mp::t_plan) return mp::plan_posix_memalign(h, f, out, align, n);
    return f(out, align, n);
  }
  return posix_memalign_ext(out, align, n);
}

namespace {
inline void* do_aligned(aligned_fn* fp, uint8_t kind, size_t align, size_t n) {
  if (UNLIKELY(!*fp)) {
    if (resolving()) {
      if (align && (align & (align - 1)) == 0) return boot_alloc(n, align);
      errno = EINVAL;
      return nullptr;
    }
    ensure_reals();
  }
  mp::PlanThreadHead* h = planning();
  if (LIKELY(!g.on)) return h ? mp::plan_aligned(h, *fp, align, n) : (*fp)(align, n);
  void* p = h ? mp::plan_aligned(h, *fp, align, n) : (*fp)(align, n);
  if (g.on) record(kind, p, n, log2_floor(align), p ? 0 : MP_TRACE_REC_FAILED);
  return p;
}
inline void* do_valloc(valloc_fn* fp, uint8_t kind, size_t n) {
  if (UNLIKELY(!*fp)) {
    if (resolving()) return boot_alloc(n, 4096);
    ensure_reals();
  }
  mp::PlanThreadHead* h = planning();
  void* p = h ? mp::plan_valloc(h, *fp, n, kind == MP_KIND_PVALLOC) : (*fp)(n);
  if (g.on) record(kind, p, n, g_page_log2, p ? 0 : MP_TRACE_REC_FAILED);
  return p;
}
}  // namespace

EXPORT void* aligned_alloc(size_t align, size_t n) __THROW {
  return do_aligned(&real_aligned_alloc, MP_KIND_ALIGNED_ALLOC, align, n);
}
EXPORT void* memalign(size_t align, size_t n) __THROW {
  return do_aligned(&real_memalign, MP_KIND_MEMALIGN, align, n);
}
EXPORT void* valloc(size_t n) __THROW { return do_valloc(&real_valloc, MP_KIND_VALLOC, n); }
EXPORT void* pvalloc(size_t n) __THROW { return do_valloc(&real_pvalloc, MP_KIND_PVALLOC, n); }

EXPORT size_t malloc_usable_size(void* p) __THROW {
  if (p && is_boot(p)) return boot_size(p);
  if (p && mp::in_arena(p)) return mp::arena_usable(p);  // its planned size
  if (UNLIKELY(!real_usable)) ensure_reals();
  return real_usable ? real_usable(p) : 0;
}

EXPORT pid_t fork(void) __THROW {
  if (UNLIKELY(!real_fork)) ensure_reals();
  pid_t pid = real_fork();
  if (pid > 0 && g.on) {
    int saved = errno;
    record_marker(MP_KIND_FORK, (uint64_t)pid, 0);
    errno = saved;
  }
  return pid;
}

// ================================================================ C API ===

EXPORT int memoplan_active(void) { return __atomic_load_n(&g.on, __ATOMIC_ACQUIRE) ? 1 : 0; }

EXPORT uint32_t memoplan_intern(const char* name) {
  uint32_t id = (uint32_t)__atomic_fetch_add(&g_next_name, 1, __ATOMIC_RELAXED);
  if (!__atomic_load_n(&g.on, __ATOMIC_ACQUIRE) || !name) return id;
  int saved = errno;
  uint32_t len = (uint32_t)strlen(name);
  char buf[1024];
  ssize_t want = (ssize_t)(8 + (size_t)len), got;
  if (len <= sizeof buf - 8) {  // one write(2) per record
    memcpy(buf, &id, 4);
    memcpy(buf + 4, &len, 4);
    memcpy(buf + 8, name, len);
    got = write(g_names_fd, buf, (size_t)want);
  } else {  // still one system call
    uint32_t hdr[2] = {id, len};
    struct iovec iov[2] = {{hdr, 8}, {(void*)name, len}};
    got = writev(g_names_fd, iov, 2);
  }
  if (got == want && g_hdr) __atomic_fetch_add(&g_hdr->names_written, 1, __ATOMIC_RELAXED);
  errno = saved;
  return id;
}

namespace {
// The calling thread's state for the agent's C API calls, created (or renewed after an attach)
// if needed; null while recording is off or inside our own slow path.
ThreadState* api_state() {
  if (!__atomic_load_n(&g.on, __ATOMIC_ACQUIRE)) return nullptr;
  ThreadState* ts = t_state;
  if (!ts || ts->epoch != __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE)) {
    if (t_guard) return nullptr;
    int saved = errno;
    t_guard = 1;
    if (ts) renew_thread(ts);
    else ts = new_thread_state();
    t_guard = 0;
    errno = saved;
  }
  return ts;
}
}  // namespace

EXPORT void memoplan_scope_push(uint32_t id) {
  ThreadState* ts = api_state();
  if (!ts) return;
  if (ts->scope_overflow || ts->depth >= kScopeDepth) {
    ts->scope_overflow++;
    ts->scope_overflow_total++;
    return;
  }
  ts->stack[ts->depth++] = id;
  ts->scope_top = id;
}

EXPORT void memoplan_scope_pop(void) {
  ThreadState* ts = t_state;
  if (!ts) return;
  if (ts->scope_overflow) { ts->scope_overflow--; return; }
  if (ts->depth == 0) return;
  ts->depth--;
  ts->scope_top = ts->depth ? ts->stack[ts->depth - 1] : 0;
}

// The agent's own code (its hooks, its dispatch mode's bookkeeping) runs between
// memoplan_agent_enter() and memoplan_agent_leave() (nestable, per thread). What it allocates
// there is the profiler's, not the program's: recorded with flags bit1 (the ingest leaves it
// out of iteration signatures and plans), and never served from a plan (plan.cpp: the
// thread's phase is parked, so it goes to the real allocator unmatched). So a plan made from
// any recording serves a run with the minimal agent, and vice versa.
EXPORT void memoplan_agent_enter(void) {
  if (g.plan) mp::plan_agent_enter();
  ThreadState* ts = api_state();
  if (!ts) return;
  if (ts->agent_depth++ == 0) ts->rec_flags |= MP_TRACE_REC_AGENT;
}

EXPORT void memoplan_agent_leave(void) {
  if (g.plan) mp::plan_agent_leave();
  ThreadState* ts = t_state;
  if (!ts || ts->agent_depth == 0) return;
  if (--ts->agent_depth == 0) ts->rec_flags &= ~MP_TRACE_REC_AGENT;
}

namespace {
// Ends the thread's plan iteration (if any): plan_iter marker, header counters.
void plan_iteration_done() {
  mp::IterResult r;
  if (!mp::plan_end(&r)) return;
  if (r.served) record_marker(MP_KIND_PLAN_ITER, r.hits, r.misses, r.plan_index + 1);
  if (PlanHeader* ph = plan_header()) {
    uint64_t* f = &ph->hits;  // hits .. retirements: 7 consecutive u64
    uint64_t v[7] = {r.hits, r.misses, r.hit_bytes, r.miss_bytes, r.arena_bytes, r.served,
                     r.retirements};
    for (int i = 0; i < 7; i++)
      if (v[i]) __atomic_fetch_add(&f[i], v[i], __ATOMIC_RELAXED);
    if (r.passthrough) __atomic_fetch_add(&ph->passthrough, r.passthrough, __ATOMIC_RELAXED);
    if (r.new_signature) __atomic_fetch_add(&ph->signatures_served, 1, __ATOMIC_RELAXED);
    if (r.unplanned) __atomic_fetch_add(&ph->iterations_unplanned, 1, __ATOMIC_RELAXED);
  }
  plan_header_status();
}
}  // namespace

EXPORT uint64_t memoplan_iteration_begin(void) {
  uint64_t n = __atomic_fetch_add(&g_iteration, 1, __ATOMIC_RELAXED);
  record_marker(MP_KIND_ITER_BEGIN, 0, n);
  if (g.plan) plan_iteration_done();  // a begin without an end closes the previous one
  mp::plan_begin();
  return n;
}

EXPORT void memoplan_iteration_end(uint64_t iteration, uint64_t latency_ns) {
  if (g.plan) plan_iteration_done();
  record_marker(MP_KIND_ITER_END, iteration, latency_ns);
}

EXPORT void memoplan_plan_counters(uint64_t out[8]) { mp::plan_counters(out); }

EXPORT int memoplan_plan_status(void) { return (int)mp::plan_status(); }

EXPORT uint64_t memoplan_events_written(void) {
  uint64_t ev = 0;
  uint32_t epoch = __atomic_load_n(&g_epoch, __ATOMIC_ACQUIRE);
  for (ThreadState* ts = __atomic_load_n(&g_threads, __ATOMIC_ACQUIRE); ts; ts = ts->next)
    if (__atomic_load_n(&ts->epoch, __ATOMIC_ACQUIRE) == epoch) ev += thread_events(ts);
  return ev;
}


// ============================================================ attach ===
//
// memoplan attach PID: gdb stops the target at a safe point (docs in main/session/attach.ts),
// dlopen()s this library (RTLD_NOW | RTLD_LOCAL: nothing binds to our malloc by name) and
// calls memoplan_attach(). That creates a new trace file pair (header flags bit3: attached,
// the trace covers the process from now on), turns recording on, then points the
// malloc-family and dlopen slots of every loaded object's GOT at our wrappers (got.cpp) and
// starts the Python agent in a thread of its own. memoplan_detach() undoes it. The library
// is never unloaded: wrappers that a thread is still running, or whose address an object
// took while attached, keep forwarding to the real functions.
//
// * Real functions. The wrappers' reals are the definitions the slots were bound to: the
//   first definition in the global scope (dlsym RTLD_DEFAULT: glibc's, or a preloaded
//   allocator's). Not ours (a preloaded copy of this library: then nothing is patched, the
//   symbols already interpose), and not a canonical PLT entry of a non-PIE executable
//   (which jumps through a slot we patch: then libc.so.6's own definition is used).
// * Blocks allocated before attach are freed through our free: the free is recorded (the
//   ingest counts it as unmatched) and handed to the same real free. Blocks allocated while
//   attached are freed after detach by the real free directly.
// * Thread states survive detach (other threads' TLS cannot be reset from here). Each
//   attach bumps g_epoch and sets every registered state's `end` to null (the fast path
//   compares cur < end, so the owner falls into the slow path), and the owner renews its
//   state there (renew_thread: old chunk unmapped, counters and scope stack cleared).
// * Detach order: agent uninstall requested, slots restored, recording off, a 20 ms grace
//   period for a thread that passed the on-check just before, header counters summed
//   (flags bit0), header unmapped and files closed. A thread preempted for longer than the
//   grace period inside record() may still commit one record into the closed-out chunk.
// * dlopen hook. glibc's dlopen looks at its return address to choose the caller's
//   RUNPATH and namespace, so the hook calls it with a return address inside the caller's
//   own code (a `ret` byte found in the caller's page, which then returns to us), and then
//   scans the objects loaded by the call. Objects loaded by libc or ld.so internally (NSS,
//   iconv modules) are patched at the next hooked dlopen.
// * Plan mode cannot be attached (the plan must be loaded before the first allocation).

namespace {

constexpr size_t kCodeMap = 256 * 1024;  // one agent job's Python source

struct PyApi {
  int (*is_init)(void);
  int (*ensure)(void);
  void (*release)(int);
  int (*run)(const char*);
};

bool py_api(PyApi* a) {
  a->is_init = (int (*)(void))dlsym(RTLD_DEFAULT, "Py_IsInitialized");
  a->ensure = (int (*)(void))dlsym(RTLD_DEFAULT, "PyGILState_Ensure");
  a->release = (void (*)(int))dlsym(RTLD_DEFAULT, "PyGILState_Release");
  a->run = (int (*)(const char*))dlsym(RTLD_DEFAULT, "PyRun_SimpleString");
  return a->is_init && a->ensure && a->release && a->run;
}

// Runs one snippet of Python in a new thread of its own: PyGILState_Ensure gives that
// thread a thread state and waits for the GIL like any native thread calling into Python,
// so the interpreter is entered at one of its own switch points, never inside whatever the
// thread that gdb interrupted was doing.
void* agent_thread(void* arg) {
  char* code = (char*)arg;
  PyApi api;
  if (py_api(&api) && api.is_init()) {
    int st = api.ensure();
    api.run(code);
    api.release(st);
  }
  munmap(code, kCodeMap);
  return nullptr;
}

char* put_hex(char* p, char* end, const char* s) {
  static const char digits[] = "0123456789abcdef";
  for (; *s && p + 2 < end; s++) {
    unsigned char c = (unsigned char)*s;
    *p++ = digits[c >> 4];
    *p++ = digits[c & 15];
  }
  return p;
}

// exec(bytes.fromhex('<inner>').decode(), {}): runs `inner` without touching __main__.
bool start_agent_job(const char* inner) {
  char* code = (char*)mmap(nullptr, kCodeMap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (code == MAP_FAILED) return false;
  char* end = code + kCodeMap - 64;
  char* p = put_str(code, end, "exec(bytes.fromhex('");
  p = put_hex(p, end, inner);
  p = put_str(p, end, "').decode('utf-8', 'surrogateescape'), {'__name__': 'memoplan_attach'})");
  *p = 0;
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t t;
  int rc = pthread_create(&t, &attr, agent_thread, code);
  pthread_attr_destroy(&attr);
  if (rc != 0) { munmap(code, kCodeMap); return false; }
  pthread_setname_np(t, "memoplan-agent");
  return true;
}

// Python source, built without the allocator (static buffer, called under g_attach_lock).
char g_src[64 * 1024];
char* src_hexstr(char* p, char* end, const char* s) {  // bytes.fromhex('..').decode(...)
  p = put_str(p, end, "bytes.fromhex('");
  p = put_hex(p, end, s);
  return put_str(p, end, "').decode('utf-8', 'surrogateescape')");
}

pthread_mutex_t g_attach_lock = PTHREAD_MUTEX_INITIALIZER;
int g_preloaded;          // this library interposes by symbol already (LD_PRELOAD)
int g_agent_started;      // this attach started the Python agent
uint32_t g_attach_gen;
char g_self_path[4096];
void* g_self;             // dlopen handle of this library
void* g_real_dlopen;

enum {
  H_MALLOC, H_CALLOC, H_REALLOC, H_REALLOCARRAY, H_FREE, H_POSIX_MEMALIGN, H_ALIGNED_ALLOC,
  H_MEMALIGN, H_VALLOC, H_PVALLOC, H_USABLE, H_DLOPEN, H_COUNT
};
const char* const kHookNames[H_COUNT] = {
    "malloc", "calloc", "realloc", "reallocarray", "free", "posix_memalign", "aligned_alloc",
    "memalign", "valloc", "pvalloc", "malloc_usable_size", "dlopen"};
got::Hook g_hooks[H_COUNT];
int g_nhooks;

struct ExeRange { uintptr_t lo, hi; };
int exe_cb(struct dl_phdr_info* info, size_t, void* arg) {
  ExeRange* r = (ExeRange*)arg;
  r->lo = ~(uintptr_t)0;
  r->hi = 0;
  for (int i = 0; i < info->dlpi_phnum; i++) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type != PT_LOAD) continue;
    uintptr_t a = info->dlpi_addr + ph.p_vaddr;
    if (a < r->lo) r->lo = a;
    if (a + ph.p_memsz > r->hi) r->hi = a + ph.p_memsz;
  }
  return 1;  // the first object is the executable
}

void* find_real(const char* name, void* libc, ExeRange exe) {
  void* a = dlsym(RTLD_DEFAULT, name);
  void* b = libc ? dlsym(libc, name) : nullptr;
  void* self = g_self ? dlsym(g_self, name) : nullptr;
  if (!a || a == self) return b;
  if ((uintptr_t)a >= exe.lo && (uintptr_t)a < exe.hi && b) return b;  // canonical PLT entry
  return a;
}

extern "C" void* mp_call_with_ra(void* fn, const void* a0, intptr_t a1, const void* ra);
// mp_call_with_ra(fn, a0, a1, ra): fn(a0, a1) with `ra` as its return address; ra must point
// at a `ret` instruction, which returns to us. Keeps the stack 16-byte aligned at fn's entry.
asm(R"(
  .text
  .p2align 4
  .type mp_call_with_ra,@function
mp_call_with_ra:
  .cfi_startproc
  pushq %rbx
  .cfi_adjust_cfa_offset 8
  .cfi_rel_offset %rbx, 0
  subq $8, %rsp
  .cfi_adjust_cfa_offset 8
  movq %rdi, %rax
  movq %rsi, %rdi
  movq %rdx, %rsi
  leaq 1f(%rip), %rbx
  pushq %rbx
  pushq %rcx
  jmp *%rax
1:
  addq $8, %rsp
  popq %rbx
  ret
  .cfi_endproc
  .size mp_call_with_ra, .-mp_call_with_ra
)");

// A `ret` byte in the page of `ra` (the caller's code), or null.
const void* ret_gadget(const void* ra) {
  uintptr_t page = (uintptr_t)ra & ~(uintptr_t)4095;
  const unsigned char* p = (const unsigned char*)ra;
  for (const unsigned char* q = p; (uintptr_t)q < page + 4096; q++)
    if (*q == 0xc3) return q;
  for (const unsigned char* q = p; (uintptr_t)q >= page; q--)
    if (*q == 0xc3) return q;
  return nullptr;
}

NOINLINE void* hook_dlopen(const char* file, int mode) {
  const void* gadget = ret_gadget(__builtin_return_address(0));
  void* h = gadget ? mp_call_with_ra(g_real_dlopen, file, mode, gadget)
                   : ((void* (*)(const char*, int))g_real_dlopen)(file, mode);
  if (__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE) && !g_preloaded) {
    int saved = errno;
    got::patch_new(g_hooks, g_nhooks, (uintptr_t)(void*)&hook_dlopen);
    errno = saved;
  }
  return h;
}

bool resolve_attach() {
  Dl_info di;
  if (!g_self) {
    if (!dladdr((void*)&hook_dlopen, &di) || !di.dli_fname) return false;
    size_t n = strlen(di.dli_fname);
    if (n >= sizeof g_self_path) return false;
    memcpy(g_self_path, di.dli_fname, n + 1);
    g_self = dlopen(g_self_path, RTLD_NOW | RTLD_NOLOAD);
    if (!g_self) return false;
  }
  void* ours = dlsym(g_self, "malloc");
  g_preloaded = dlsym(RTLD_DEFAULT, "malloc") == ours;
  if (g_preloaded) return true;  // the symbols interpose already: nothing to patch
  void* libc = dlopen("libc.so.6", RTLD_NOW | RTLD_NOLOAD);
  ExeRange exe = {0, 0};
  dl_iterate_phdr(exe_cb, &exe);
  void* r[H_COUNT];
  for (int i = 0; i < H_COUNT; i++) r[i] = find_real(kHookNames[i], libc, exe);
  if (!r[H_MALLOC] || !r[H_FREE] || !r[H_CALLOC] || !r[H_REALLOC] || !r[H_DLOPEN]) return false;
  g_nhooks = 0;
  for (int i = 0; i < H_COUNT; i++) {
    void* w = i == H_DLOPEN ? (void*)&hook_dlopen : dlsym(g_self, kHookNames[i]);
    if (!r[i] || !w) continue;
    g_hooks[g_nhooks++] = got::Hook{kHookNames[i], w, r[i]};
  }
  real_posix_memalign = (posix_memalign_fn)r[H_POSIX_MEMALIGN];
  real_aligned_alloc = (aligned_fn)r[H_ALIGNED_ALLOC];
  real_memalign = (aligned_fn)r[H_MEMALIGN];
  real_valloc = (valloc_fn)r[H_VALLOC];
  real_pvalloc = (valloc_fn)r[H_PVALLOC];
  if (r[H_USABLE]) real_usable = (usable_fn)r[H_USABLE];
  g_real_dlopen = r[H_DLOPEN];
  g.free_ = (free_fn)r[H_FREE];
  g.calloc_ = (calloc_fn)r[H_CALLOC];
  g.realloc_ = (realloc_fn)r[H_REALLOC];
  __atomic_store_n(&g.malloc_, (malloc_fn)r[H_MALLOC], __ATOMIC_RELEASE);
  return true;
}

}  // namespace

// Return: >= 0 attached: bit0 the Python agent was started, bit1 Python is linked in but not
// initialised, bits 4.. the number of GOT slots patched. < 0 refused, nothing changed:
// -1 not a directory, -2 already recording (launched under memoplan record), -3 plan mode,
// -4 the real allocator functions cannot be found, -5 the trace file cannot be created,
// -6 already attached. flags: bit0 attribute aten ops.
EXPORT int memoplan_attach(const char* trace_dir, const char* agent_dir, int flags) {
  int saved = errno;
  pthread_mutex_lock(&g_attach_lock);
  int rc = 0;
  struct stat st;
  size_t len = trace_dir ? strlen(trace_dir) : 0;
  if (__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE)) rc = -6;
  else if (g_configured && !g_attach_mode) rc = -2;
  else if (g.plan) rc = -3;
  else if (!len || len >= sizeof g_dir - 64 || stat(trace_dir, &st) != 0 || !S_ISDIR(st.st_mode)) rc = -1;
  else if (!resolve_attach()) rc = -4;
  if (rc) goto out;
  memcpy(g_dir, trace_dir, len + 1);
  if (!g_attach_mode) {
    if (!g_key_ok && pthread_key_create(&g_key, thread_dtor) == 0) g_key_ok = 1;
    if (!g.clock_tsc) calibrate_clock();
    pthread_atfork(atfork_prepare, atfork_parent, atfork_child);
  }
  // New attach generation: every existing thread state renews itself at its next event.
  __atomic_add_fetch(&g_epoch, 1, __ATOMIC_ACQ_REL);
  for (ThreadState* ts = __atomic_load_n(&g_threads, __ATOMIC_ACQUIRE); ts; ts = ts->next)
    __atomic_store_n(&ts->end, (Record*)nullptr, __ATOMIC_RELAXED);
  if (!open_trace(MP_TRACE_ATTACHED, (uint32_t)getppid(), -1)) { rc = -5; goto out; }
  g_configured = 1;
  g_attach_mode = 1;
  g_attach_gen++;
  __atomic_store_n(&g_attached, 1, __ATOMIC_RELEASE);
  __atomic_store_n(&g.on, 1, __ATOMIC_RELEASE);
  if (!g_preloaded) {
    got::patch_new(g_hooks, g_nhooks, (uintptr_t)(void*)&hook_dlopen);
    rc = (int)(got::stats().slots << 4);
  }
  g_agent_started = 0;
  if (agent_dir && *agent_dir) {
    PyApi api;
    if (py_api(&api)) {
      if (!api.is_init()) {
        rc |= 2;
      } else {
        char status[4200];
        char* e = status + sizeof status - 8;
        char* q = put_str(status, e, g_dir);
        q = put_str(q, e, "/agent-");
        q = put_u64(q, e, g_attach_gen);
        q = put_str(q, e, ".status");
        *q = 0;
        char* end = g_src + sizeof g_src - 64;
        char* p = put_str(g_src, end, "import os, sys\nstatus = ");
        p = src_hexstr(p, end, status);
        p = put_str(p, end, "\ntry:\n    p = ");
        p = src_hexstr(p, end, agent_dir);
        p = put_str(p, end,
                    "\n    if p not in sys.path:\n        sys.path.insert(0, p)\n"
                    "    import memoplan_agent\n    memoplan_agent._attached(");
        p = src_hexstr(p, end, g_self_path);
        p = put_str(p, end, ", ");
        p = put_u64(p, end, g_attach_gen);
        p = put_str(p, end, (flags & 1) ? ", True, status)\n" : ", False, status)\n");
        p = put_str(p, end,
                    "except BaseException as err:\n"
                    "    with open(status + '.tmp', 'w') as f:\n"
                    "        f.write('error %s: %s\\n' % (type(err).__name__, err))\n"
                    "    os.replace(status + '.tmp', status)\n");
        *p = 0;
        if (p < end && start_agent_job(g_src)) {
          g_agent_started = 1;
          rc |= 1;
        }
      }
    }
  }
out:
  pthread_mutex_unlock(&g_attach_lock);
  errno = saved;
  return rc;
}

// Return: >= 0 the number of GOT slots restored; -6 not attached.
EXPORT int memoplan_detach(void) {
  int saved = errno;
  pthread_mutex_lock(&g_attach_lock);
  int rc = 0;
  if (!__atomic_load_n(&g_attached, __ATOMIC_ACQUIRE)) {
    rc = -6;
  } else {
    if (g_agent_started) {
      char* end = g_src + sizeof g_src - 64;
      char* p = put_str(g_src, end, "import sys\nm = sys.modules.get('memoplan_agent')\nif m is not None:\n    m._detached(");
      p = put_u64(p, end, g_attach_gen);
      p = put_str(p, end, ")\n");
      *p = 0;
      start_agent_job(g_src);
      g_agent_started = 0;
    }
    if (!g_preloaded) rc = got::restore_all();
    __atomic_store_n(&g.on, 0, __ATOMIC_RELEASE);
    struct timespec grace = {0, 20000000};
    while (nanosleep(&grace, &grace) != 0 && errno == EINTR) {}
    Header* h = g_hdr;
    if (h) {
      plan_header_status();
      finalize_header(h);
      g_hdr = nullptr;
      munmap(h, kHeaderMap);
    }
    if (g_fd >= 0) close(g_fd);
    if (g_names_fd >= 0) close(g_names_fd);
    g_fd = g_names_fd = -1;
    __atomic_store_n(&g_attached, 0, __ATOMIC_RELEASE);
  }
  pthread_mutex_unlock(&g_attach_lock);
  errno = saved;
  return rc;
}

// 1 while memoplan_attach is in effect.
EXPORT int memoplan_attached(void) { return __atomic_load_n(&g_attached, __ATOMIC_ACQUIRE); }
