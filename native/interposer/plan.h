// Plan mode of libmemoplan.so: serving the allocations of an iteration from a
// pre-planned arena (docs/PLAN_FORMAT.md). Internal interface between the
// wrappers (hooks.cpp) and the plan machinery (plan.cpp); nothing here is
// exported. See the comment at the top of plan.cpp for the hard cases.
#pragma once

#include <stddef.h>
#include <stdint.h>

#include "trace-format.h"

#define MP_HIDDEN __attribute__((visibility("hidden")))

namespace mp {

typedef void* (*malloc_fn)(size_t);
typedef void* (*calloc_fn)(size_t, size_t);
typedef void* (*realloc_fn)(void*, size_t);
typedef void (*free_fn)(void*);
typedef size_t (*usable_fn)(void*);

// The next allocator, as resolved by hooks.cpp (set before plan_load).
struct Reals {
  malloc_fn malloc_;
  calloc_fn calloc_;
  realloc_fn realloc_;
  free_fn free_;
  usable_fn usable_;
  int (*posix_memalign_)(void**, size_t, size_t);
};

enum : uint32_t { PH_NONE = 0, PH_OBSERVE = 1, PH_SERVE = 2 };
// Plan status (the trace header's plan_status): MP_PLAN_STATUS_*, native/include/trace-format.h.

// Per-thread plan state; only its first word is read by the wrappers.
struct PlanThreadHead {
  uint32_t phase;  // PH_*: what the wrappers do with this thread's allocations
  uint32_t busy;   // set while the plan path runs (a nested call forwards)
};

// All arenas live in one reserved region [g_rbase, g_rbase + g_rsize): the
// range check in free() is a subtraction and a compare. g_rsize is 0 when
// no plan was loaded, so the check is always false then.
extern uintptr_t g_rbase MP_HIDDEN;
extern uintptr_t g_rsize MP_HIDDEN;
extern __thread PlanThreadHead* t_plan MP_HIDDEN __attribute__((tls_model("initial-exec")));

inline bool in_arena(const void* p) { return (uintptr_t)p - g_rbase < g_rsize; }

// The thread's plan state when it is inside an observed or served iteration.
inline PlanThreadHead* plan_here() {
  PlanThreadHead* h = t_plan;
  return (h && h->phase != PH_NONE) ? h : nullptr;
}

// Loads MEMOPLAN_PLAN (if set). Returns true when plan mode is on.
bool plan_load(const Reals* reals, uint32_t page_size) MP_HIDDEN;
void plan_fork_child() MP_HIDDEN;      // plan mode off in a fork child
void plan_write_stats() MP_HIDDEN;     // MEMOPLAN_PLAN_STATS, at exit

// Allocation paths for a thread inside an iteration (h = plan_here()).
// They call the real allocator for everything not served from the arena.
// plan_malloc also takes any non-null t_plan (outside an iteration it
// forwards), so that malloc reaches it in one tail call.
void* plan_malloc(PlanThreadHead* h, size_t n) MP_HIDDEN;
void* plan_calloc(PlanThreadHead* h, size_t nm, size_t sz) MP_HIDDEN;
// aligned_alloc / memalign / valloc / pvalloc: real(align, n) or real(n).
typedef void* (*aligned_fn)(size_t, size_t);
typedef void* (*valloc_fn)(size_t);
void* plan_aligned(PlanThreadHead* h, aligned_fn real, size_t align, size_t n) MP_HIDDEN;
// posix_memalign: the allocator beneath is Reals::posix_memalign_ (four arguments: registers
// enough for the fast path without spills).
int plan_posix_memalign(PlanThreadHead* h, void** out, size_t align, size_t n) MP_HIDDEN;
void* plan_valloc(PlanThreadHead* h, valloc_fn real, size_t n, bool pvalloc) MP_HIDDEN;
// realloc(p, n) with n > 0 or p == NULL, inside an iteration.
void* plan_realloc(PlanThreadHead* h, void* p, size_t n) MP_HIDDEN;

// Arena blocks, from any thread, in or outside iterations.
void arena_free(void* p) MP_HIDDEN;
size_t arena_usable(void* p) MP_HIDDEN;
void* arena_realloc(void* p, size_t n) MP_HIDDEN;  // out to a real block

// Iteration boundaries (memoplan_iteration_begin/end), on the calling thread.
struct IterResult {
  uint64_t hits, misses, hit_bytes, miss_bytes, arena_bytes, served, retirements, passthrough;
  uint64_t unplanned;       // a set, and no plan of it was left for the iteration
  uint64_t new_signature;   // the first iteration any thread served with this plan
  uint32_t plan_index;      // the served plan's index in the set
};
void plan_begin() MP_HIDDEN;
// Ends the thread's iteration; fills r with what to add to the totals.
// Returns true when the thread was in an iteration (r valid).
bool plan_end(IterResult* r) MP_HIDDEN;

// The agent's own code (memoplan_agent_enter/leave, nestable): the thread's phase is parked at
// PH_NONE meanwhile, so what the agent allocates is neither matched nor observed.
void plan_agent_enter() MP_HIDDEN;
void plan_agent_leave() MP_HIDDEN;

// Process-wide state for the C API and the trace header.
uint32_t plan_status() MP_HIDDEN;
uint32_t plan_refusal_code() MP_HIDDEN;
void plan_counters(uint64_t out[8]) MP_HIDDEN;

}  // namespace mp
