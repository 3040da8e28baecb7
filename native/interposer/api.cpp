// libmemoplan.so: the C API the Python agent calls through ctypes (docs/TRACE_FORMAT.md "C
// API"): whether this process records, names (interned into the .names file), the scope
// stack each record carries, the agent's own code (records flagged, never planned),
// iterations (markers, and the boundaries plan mode serves by) and the plan counters.
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "record.h"

using namespace mpr;

EXPORT int memoplan_active(void) { return __atomic_load_n(&g.on, __ATOMIC_ACQUIRE) ? 1 : 0; }

EXPORT uint32_t memoplan_intern(const char* name) {
  uint32_t id = (uint32_t)__atomic_fetch_add(&g_next_name, 1, __ATOMIC_RELAXED);
  if (!__atomic_load_n(&g.on, __ATOMIC_ACQUIRE) || !name) return id;
  int saved = errno;
  uint32_t len = (uint32_t)strlen(name);
  mp_trace_name_record hdr = {id, len};  // then the name's bytes (docs/TRACE_FORMAT.md "Files")
  char buf[1024];
  ssize_t want = (ssize_t)(sizeof hdr + (size_t)len), got;
  if (len <= sizeof buf - sizeof hdr) {  // one write(2) per record
    memcpy(buf, &hdr, sizeof hdr);
    memcpy(buf + sizeof hdr, name, len);
    got = write(g_names_fd, buf, (size_t)want);
  } else {  // still one system call
    struct iovec iov[2] = {{&hdr, sizeof hdr}, {(void*)name, len}};
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

