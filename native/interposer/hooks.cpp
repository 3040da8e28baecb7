// libmemoplan.so: the malloc-family wrappers (malloc, free, calloc, realloc, reallocarray,
// posix_memalign, aligned_alloc, memalign, valloc, pvalloc, malloc_usable_size) and fork(): the
// symbols a program binds to (LD_PRELOAD; attach.cpp points GOT slots at them). Each forwards
// to the allocator beneath (or serves from a plan, plan.cpp) and records through record.h's
// inline hot path. Also where the real functions are found, and the bootstrap arena that
// serves the allocations made while they are.
//
// * Bootstrap recursion. The real functions are found with
//   dlsym(RTLD_NEXT, ...), and dlsym itself may call malloc/calloc (dlerror
//   state, TLS for the lookup). While the resolving thread is inside
//   resolve_reals() (t_guard bit1 set) every allocation is served from
//   g_boot, a static bump arena. Its blocks are recognised by address in
//   free/realloc/malloc_usable_size and are never handed to the real
//   allocator; free of one is a no-op, realloc of one copies out to a real
//   block. Another thread arriving while resolution is in progress spins
//   until it is done (in practice the first call is single-threaded).

#include <dlfcn.h>
#include <errno.h>
#include <malloc.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#include "record.h"

namespace mpr {

alignas(64) int g_resolve_state;

namespace {
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

}  // namespace

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

}  // namespace mpr

using namespace mpr;

namespace {
inline bool resolving() { return (t_guard & 2) != 0; }

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
  int rc = h ? mp::plan_posix_memalign(h, out, align, n)
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
    if (mp::PlanThreadHead* h = mp::t_plan) return mp::plan_posix_memalign(h, out, align, n);
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

