// libmemoplan.so: what the interposer's files share (internal: nothing here is exported).
// The trace layout's types (native/include/trace-format.h), the per-thread state, the
// read-mostly globals, and the recording hot path, inline: every malloc-family wrapper
// (hooks.cpp) records without a call. record() takes a slot, stamps it and commits it; only a
// new thread state, a new chunk or a marker goes through the slow path (memoplan.cpp).
//
// Hard cases of the hot path (read these before changing anything; the others are with their
// code in memoplan.cpp, hooks.cpp and attach.cpp):
//
// * Re-entrancy. The per-event fast path calls nothing that can allocate
//   (rdtsc, an xadd, four stores); its guard bit is for signals only (see
//   "Signals" at reserve_slot). Only the slow path (new thread state, new
//   chunk, pthread_setspecific, markers) can re-enter us; it sets the
//   thread-local t_guard first, and a nested call that reaches the slow path
//   while t_guard is set forwards without recording. The fast path cannot be
//   taken by a nested call because the state it would use (t_state non-null,
//   cur != end) is only published at the end of the slow path.
//
// * errno. The fast path issues no syscall and no libc call, so errno is
//   whatever the real allocator left. Every slow path (fallocate, mmap,
//   munmap, write, gettid, pthread_*) saves errno on entry and restores it
//   on exit, so ENOMEM/EINVAL set by the real call reach the caller intact.
//
// * Signals: with reserve_slot below.
#pragma once

#include <errno.h>
#include <pthread.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <time.h>
#include <x86intrin.h>

#include "fmt.h"
#include "plan.h"
#include "trace-format.h"

#define EXPORT extern "C" __attribute__((visibility("default")))
#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define TLS_IE __attribute__((tls_model("initial-exec")))
#define NOINLINE __attribute__((noinline))
#define COLD __attribute__((noinline, cold))

// Hidden, and known to be at the declaration: globals are then addressed PC-relative and
// functions called directly, as when all of this was one file.
#pragma GCC visibility push(hidden)

namespace mpr {

// ---------------------------------------------------------------- format ---
// The layout is native/include/trace-format.h (docs/TRACE_FORMAT.md).
typedef mp_trace_header Header;
typedef mp_trace_plan_counters PlanHeader;  // the header's plan counters (offset 88)
typedef mp_trace_chunk_header ChunkHeader;
typedef mp_trace_record Record;
constexpr uint32_t kChunkSize = MP_TRACE_CHUNK_SIZE;
constexpr uint32_t kSlotsPerChunk = MP_TRACE_CHUNK_SLOTS;  // 32767
constexpr size_t kHeaderMap = MP_TRACE_HEADER_BYTES;
// Chunks a thread keeps mapped for reuse (its ring; "Chunk reuse" in memoplan.cpp). A chunk
// the reader has stored and handed back is written again where it is: its pages are in the
// page cache and mapped already, so the writer takes no page fault and the kernel allocates
// and zeroes nothing (a fresh page of a MAP_SHARED tmpfs file costs a write fault, ~1.3 us
// here: 10 ns per record).
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
  uint32_t rec_flags;   // ORed into every record's flags: MP_TRACE_REC_AGENT, MP_TRACE_REC_GEN
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
extern Hot g;

extern posix_memalign_fn real_posix_memalign;
extern aligned_fn real_aligned_alloc, real_memalign;
extern valloc_fn real_valloc, real_pvalloc;
extern usable_fn real_usable;
extern fork_fn real_fork;

// Rarely written process state (kept off the hot line). Defined in memoplan.cpp, but for
// g_resolve_state (hooks.cpp).
extern int g_resolve_state;       // 0 none, 1 in progress, 2 done
extern Header* g_hdr;
extern int g_fd, g_names_fd;
extern ThreadState* g_threads;    // lock-free push-only registry
extern pthread_key_t g_key;
extern int g_key_ok;
extern int g_configured;          // MEMOPLAN_TRACE_DIR was set and valid
extern uint32_t g_page_log2;
extern uint64_t g_next_name;
extern uint64_t g_iteration;
extern char g_dir[4096];
// Attach mode (memoplan_attach/memoplan_detach, driven by gdb): see attach.cpp.
extern uint32_t g_epoch;          // bumped at every attach; thread states of older ones are stale
extern int g_attached;            // recording because of memoplan_attach
extern int g_attach_mode;         // memoplan_attach succeeded at least once

extern __thread ThreadState* t_state TLS_IE;
extern __thread uint32_t t_guard TLS_IE;  // bit0: in slow path (or forking); bit1: resolving; bit2: kFilling

// ------------------------------------------------------------ resolving ---
COLD void resolve_reals();  // hooks.cpp ("Bootstrap recursion")
inline void ensure_reals() {
  if (UNLIKELY(__atomic_load_n(&g_resolve_state, __ATOMIC_ACQUIRE) != 2)) resolve_reals();
}

// ---------------------------------------------------------------- clock ---
inline uint64_t mono_ns() {
  struct timespec t;
  clock_gettime(CLOCK_MONOTONIC, &t);
  return (uint64_t)t.tv_sec * 1000000000ull + (uint64_t)t.tv_nsec;
}

NOINLINE uint64_t mono_ns_slow();

inline uint64_t now_ns() {
  if (__builtin_expect_with_probability(g.clock_tsc != 0, 1, 0.999)) {
    uint64_t d = __rdtsc() - g.tsc_base;
    if (UNLIKELY((int64_t)d < 0)) d = 0;  // a core whose TSC lags the calibrating one
    return g.ns_base + (uint64_t)(((unsigned __int128)d * g.tsc_mult) >> 32);
  }
  return mono_ns_slow();
}

// ------------------------------------------------------------ counting ---
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

// ------------------------------------------------------------- hot path ---
inline void fill_record(ThreadState* ts, Record* r, uint64_t now, uint8_t kind, uint64_t addr,
                        uint64_t size, uint32_t align_log2, uint32_t flags) {
  r->ts_ns = now;
  r->addr = addr;
  r->size = size;
  uint64_t tail = MP_TRACE_TAIL(ts->scope_top, kind, align_log2 & 0xff, (flags | ts->rec_flags) & 0xffff);
  __atomic_store_n(&r->tail, tail, __ATOMIC_RELEASE);
}

// Signals. A handler that allocates (not async-signal-safe, but glibc
// tolerates it outside its own locks, which is where record() runs) may
// interrupt record() anywhere, typically on return from the page fault of a
// fresh trace page. Two things must hold: a slot is never handed out twice,
// and a chunk is never released while an interrupted record still has to
// fill a slot in it. So the fast path takes its slot with one instruction
// (reserve_slot: an xadd on cur, which a signal cannot split) and raises
// kFilling in t_guard until the record is committed. A nested record() may
// still take later slots of the same chunk, but never a new chunk or a new
// thread state: when the chunk is full it is not recorded (its alloc then
// reads as unmatched, or its block as live at exit, never paired wrongly).
// A slot taken past the chunk's end (a handler filled the chunk between the
// check and the xadd) is never written; counts clamp cur to the end.
//
// Takes the thread's next slot in one instruction (see "Signals" above). Only the owner
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

// Slow path of record() and markers (memoplan.cpp).
COLD void record_slow(uint8_t kind, uint64_t addr, uint64_t size, uint32_t align_log2, uint32_t flags);
// scope != 0: written in the record's scope field instead of the thread's scope (plan_iter:
// the plan's index in the set + 1).
COLD void record_marker(uint8_t kind, uint64_t addr, uint64_t size, uint32_t scope = 0);

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

// ----------------------------------------------- the rest of memoplan.cpp ---
// For the C API (api.cpp) and attach (attach.cpp).
ThreadState* new_thread_state();                  // the calling thread's, registered
COLD void renew_thread(ThreadState* ts);          // a state of an earlier attach starts over
void thread_dtor(void* p);                        // the pthread key's destructor
void calibrate_clock();
bool open_trace(uint32_t flags, uint32_t ppid, int copy_names_from);
void atfork_prepare();
void atfork_parent();
void atfork_child();
void plan_header_status();
void finalize_header(Header* h);

inline PlanHeader* plan_header() {
  return g_hdr ? &g_hdr->plan : nullptr;
}

using mpfmt::put_str;
using mpfmt::put_u64;

}  // namespace mpr

#pragma GCC visibility pop
