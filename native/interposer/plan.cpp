// libmemoplan.so, plan mode: serves the allocations of an iteration from a
// pre-planned arena (docs/PLAN_FORMAT.md; Levental, arXiv 2203.00448).
// Same rules as memoplan.cpp: no exceptions, no libstdc++, no malloc of our
// own (everything is mmap'ed), initial-exec TLS.
//
// Hard cases (read these before changing anything):
//
// * Where arenas live. At load, one region of address space is reserved
//   (PROT_NONE, MAP_NORESERVE: costs no memory) and cut into slots of
//   `stride` bytes (a power of two >= the arena). A thread's arena is a slot
//   mapped read-write in place (MAP_FIXED over our own reservation), then
//   prefaulted. So "is p an arena pointer" is `p - g_rbase < g_rsize`, one
//   subtraction and compare in every free(), and the arena of p is
//   g_arena_of[(p - g_rbase) >> stride_log2]. Slots are never reused;
//   a retired arena stays mapped with its bookkeeping, so a late free of one
//   of its blocks is still recognised (and is a no-op).
//
// * Which block is p. Every planned entry starts at one of the plan's
//   "boundaries" (sorted distinct offsets and ends of planned entries).
//   Arena::owner[b] = entry index + 1 of the block starting at boundary b
//   that is live, 0 if none (live blocks never overlap, so at most one).
//   free(p) from any thread: hash lookup offset -> b, release-store 0 (an
//   offset that is no boundary stores nothing; a boundary with no live block
//   already holds 0, so the store is unconditional). The owner thread writes
//   owner[b] when it serves; no RMW anywhere.
//
// * The overlap check (safety: a planned entry is never handed out while any
//   byte it covers is still live at runtime, e.g. because the program frees
//   later than the recording did). At load, for every planned entry i, V(i)
//   = the entries j < i that were the most recent to cover some byte of i
//   ("visible predecessors": painting entries in order onto elementary
//   segments). At serve time, for each j in V(i): if j was served in this
//   iteration, j must be dead (owner[b(j)] != j+1); if it was not served (a
//   miss, or skipped by resynchronisation), descend into V(j), keeping only
//   entries that overlap i. Exact by induction: when j was served, every
//   block below it on its bytes was dead, and frees are final; so a live
//   block overlapping i is always found at or below the top of each byte.
//   The descent is capped (kCheckBudget visits); over the cap, a miss.
//   Fast path (check_fast, inline in the entry points), only while lim is ~0u
//   (no skip and no refused hit yet in this iteration, so every planned entry
//   below the cursor was served): only the part of V(i) that no earlier
//   entry's list holds is read, each found dead: any other j was checked dead
//   when the first entry listing it was served, and stays dead (Σ over an
//   iteration: at most one look per planned entry, instead of |V(i)| per
//   allocation). Any other outcome, and every allocation after an
//   irregularity, takes the exact walk above (serve_slow): keeping the fast
//   path to this one case keeps it free of register spills and of served[]
//   stores.
//   The previous iteration of the same arena cannot hold a live block: an
//   arena is only reused after an iteration that ended with none (below).
//
// * Retirement. At iteration end the thread scans owner[]. A live block
//   means a planned buffer outlived its iteration: the arena is retired
//   (left mapped, frees stay no-ops), the next iteration maps a fresh slot;
//   after kMaxRetirements the thread stops planning.
//
// * Foreign frees race with the owner only on blocks the owner cannot touch
//   (a live block's bytes are excluded by the check), except double frees,
//   which are undefined behaviour anyway.
//
// * Signals. `busy` is set around the serving path: an allocating signal
//   handler that interrupts it forwards to the real allocator instead of
//   reading a half-updated cursor (and is not counted).
//
// * fork. The child is single-threaded and has private copies of every
//   arena and its bookkeeping. Plan mode is switched off there (no serving,
//   no stats file), but arena pointers inherited from the parent stay
//   recognised: their frees are no-ops, realloc copies them out.

#include "fmt.h"
#include "plan.h"
#include "plan-format.h"

#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef MADV_POPULATE_WRITE
#define MADV_POPULATE_WRITE 23
#endif

#define LIKELY(x) __builtin_expect(!!(x), 1)
#define UNLIKELY(x) __builtin_expect(!!(x), 0)
#define COLD __attribute__((noinline, cold))

namespace mp {

uintptr_t g_rbase;
uintptr_t g_rsize;
__thread PlanThreadHead* t_plan __attribute__((tls_model("initial-exec")));

namespace {

constexpr uint32_t kNone = 0xffffffffu;
constexpr uint32_t kWindow = 32;          // resynchronisation look-ahead
constexpr uint64_t kSmallSkip = 4096;     // larger sizes are telling (find_entry)
constexpr uint32_t kSkipWindow = 256;     // how far a large allocation looks ahead
// An observed iteration whose dry run found 19/20 of the plan's arena entries, by count and by
// bytes, and matched 3/4 of its own allocations is the plan's pattern: the thread serves from
// its next iteration. (A first iteration, with its one-off caches and workspaces, usually
// matches under half of its own: resnet18 44%, the next one 90% (80% for a U-Net on torch
// 2.13), the steady ones 100%. A second thread's first iteration can match 3/4 and still miss
// plan entries: serving right after it served one-off blocks that outlived their iteration and
// retired arenas; requiring 19/20 of the entries stopped that in 8 of 8 runs.)
constexpr uint64_t kAcceptTwentieths = 19;
constexpr uint64_t kAcceptRunTwentieths = 15;
constexpr uint32_t kCheckBudget = 256;    // overlap-check descent cap
constexpr uint32_t kObserveMax = 20;      // iterations observed before refusing
constexpr uint32_t kMaxRetirements = 3;
constexpr uint64_t kHuge = 2ull << 20;
// Arenas from this size on ask for huge pages (MADV_HUGEPAGE). Measured on a held-out U-Net,
// torch 2.13, plan+tcmalloc, 6 interleaved rounds each: a 137 MB arena (batch 32) ran its
// iterations about 3% faster with them (TLB reach); an 8.5 MB one (batch 2) was no faster
// in steady state, and its first served iteration was 6% slower than the steady ones with
// them against 2% without (tcmalloc's own: 2%), a tail in every run's first samples.
constexpr uint64_t kHugeArena = 32ull << 20;
constexpr uint64_t kMaxArena = 1ull << 40;
constexpr uint64_t kMaxSlots = 1024;
constexpr uint64_t kMaxWork = 1ull << 28;  // painting steps at load
constexpr uint64_t kMaxVList = 1ull << 26; // visible-predecessor entries
constexpr uint32_t kMaxPlans = MP_PLAN_SET_MAX_PLANS;  // plans in a set (format version 3)
// The file layout: native/include/plan-format.h (docs/PLAN_FORMAT.md).
constexpr uint64_t kHeaderSize = MP_PLAN_HEADER_SIZE;  // either version
constexpr uint64_t kEntrySize = MP_PLAN_ENTRY_SIZE;
constexpr uint64_t kDirSize = MP_PLAN_SET_DIR_SIZE;    // a set's directory record
constexpr uint32_t kSelectSkips = 8;       // allocations no plan of a set expects, while selecting

// Refusal codes (the trace header's plan_refusal): MP_PLAN_REFUSAL_*, native/include/trace-format.h.

struct PEntry {       // 40 bytes; e[n] is a sentinel that matches nothing
  uint64_t size;
  uint64_t off;
  uint32_t align;     // as in the file (>= 16)
  uint32_t b;         // boundary index of off; kNone: not served from the arena
  uint32_t vbeg, vcnt;  // visible predecessors: vlist[vbeg, vbeg + vcnt)
  uint32_t fcnt;       // the first fcnt of them appear in no earlier entry's list (check_fast)
  uint32_t falign;     // align when served from the arena, else 0 (matches no allocation): try_fast
};

struct HSlot { uint64_t key1; uint32_t b, pad; };  // key1 = offset + 1, 0 = empty

// A visible predecessor (see top): entry index + 1 (what the owner word of its boundary holds
// while a block of it is live) and its boundary index.
struct VPred { uint32_t j1, b; };

// One plan of the file (a version-2 file is a set of one); read-only after load but for its
// counters.
struct Plan {
  const PEntry* e;         // [n + 1], e[n] a sentinel that matches nothing
  uint64_t n;
  const VPred* vlist;
  const uint64_t* psize;   // [n + 1]: sum of sizes of entries below
  const uint64_t* ppass;   // [n + 1]: number of unplanned entries below
  uint64_t arena_entries, arena_entry_bytes;  // entries served from the arena, their bytes
  const uint64_t* bounds;
  uint32_t nb, index;
  const HSlot* hash;
  uint64_t hmask;
  uint64_t arena_bytes;
  char sig[65];
  uint64_t served_iters, hits, misses;  // relaxed atomics, all threads
};

// The plan of an arena that has not served yet: no entry, no boundary, and a hash of one empty
// slot, so a lookup in it finds nothing. Constant-initialised (no constructor runs for it).
const HSlot g_no_slot = {0, 0, 0};
Plan g_no_plan = {nullptr, 0, nullptr, nullptr, nullptr, 0, 0, nullptr, 0, 0, &g_no_slot, 0, 0, {}, 0, 0, 0};

struct Arena {
  char* base;
  // The plan whose blocks the arena holds: set by the owner thread when it starts serving an
  // iteration with no block of the arena live (an arena is reused only after an iteration that
  // ended with none), so a free() from any thread reads the plan its block was served from.
  // &g_no_plan until then (never null: free() looks up any arena's plan without a test).
  const Plan* plan;
  uint32_t slot, pad;
  uint32_t owner[2];  // [g_max_nb rounded up to even]: the end scan reads 8 bytes at a time
};

// The serving path's state: its first 64 bytes are all the hot path touches
// (with the entry, its predecessors' owner/served words and the owner word).
struct PlanThread {
  PlanThreadHead h;   // phase, busy
  uint32_t epoch;
  // Every planned entry below `lim` that the cursor has passed was served in
  // this iteration (no skip, no refused hit below it): the overlap check
  // needs no served[] load for them. ~0u until the first irregularity.
  uint32_t lim;
  uint64_t cursor;
  uint32_t* own;      // arena->owner, arena->base (null without an arena)
  char* base;
  uint32_t* served;   // [g_max_n]: epoch in which the entry was served
  const PEntry* e;    // p->e, p->vlist: the iteration's plan (null while selecting)
  const VPred* vl;
  // colder
  const Plan* p;
  uint32_t prev_valid, prev_align;
  uint64_t prev_size;
  // Selecting the iteration's plan in a set (p == nullptr): each plan's cursor, kNone once it
  // differed; how many are left.
  uint64_t* scur;     // [g_np]
  uint8_t* accepted;  // [g_np]: an observed iteration fitted the plan; the thread serves it
  uint32_t sel_skips, unplanned;
  uint64_t sel_skip_bytes;
  // per iteration. hits, hit_bytes and passthrough are derived at the end
  // from the cursor and the prefix sums, less what `sub_*` took out (entries
  // skipped by resynchronisation, matched entries not served).
  uint64_t misses, miss_bytes, sub_n, sub_bytes, sub_pass;
  Arena* arena;
  // observing
  uint32_t hashA, hashB;
  uint64_t count;
  uint64_t obs_hits;             // allocations matched (dry run)
  uint64_t obs_arena, obs_arena_bytes;  // arena entries among them, their bytes
  // colder
  uint32_t state;     // TS_*
  uint32_t observed, retirements, tid, any_accepted;
  uint32_t agent_depth;  // memoplan_agent_enter() nesting; > 0: h.phase parked in parked_phase
  uint32_t parked_phase;
  uint64_t new_arena_bytes;
};
enum : uint32_t { TS_OBSERVING = 0, TS_SERVING = 1, TS_OFF = 2 };

// The phase the thread is in, parked or not.
inline uint32_t& phase_slot(PlanThread* pt) {
  return pt->agent_depth ? pt->parked_phase : pt->h.phase;
}

// Read-only after load.
Reals R;
int g_on;                    // plan loaded and usable
Plan g_plans[kMaxPlans];
uint32_t g_np;               // plans loaded (1 for a version-2 file)
uint64_t g_max_n;            // largest entry count, boundary count and arena of the set
uint32_t g_max_nb;
uint64_t g_floor;            // allocations of at most this size are not in the plan
uint64_t g_below;            // g_floor + 1, or 0 without a floor: n < g_below is below it
uint64_t g_arena_bytes, g_map_bytes;  // the largest plan's arena; every thread's arena
uint32_t g_stride_log2;
uint64_t g_smask;            // (1 << g_stride_log2) - 1
uint64_t g_nslots;
uint32_t g_page = 4096;
char g_path[1024];

Arena* g_arena_of[kMaxSlots];
pthread_key_t g_exit_key;    // its destructor gives a finished thread's arena pages back
int g_exit_key_ok;
void plan_thread_gone(void* p);
uint64_t g_next_slot;

// Process-wide, relaxed atomics.
uint32_t g_status, g_refusal_code;
int g_iter_seen;             // some thread began an iteration (stats are written)
int g_stats_off;             // fork child
char g_refusal[768];
uint64_t g_tot[8];           // hits misses hit_bytes miss_bytes arena_bytes served retirements pass
uint64_t g_sigs_served, g_unplanned;

// ------------------------------------------------------------- helpers ---
using mpfmt::put_str;
using mpfmt::put_u64;
char* put_hex(char* p, char* end, uint64_t v, int width) {
  char tmp[20];
  int n = 0;
  do { tmp[n++] = "0123456789abcdef"[v & 15]; v >>= 4; } while (v);
  while (n < width) tmp[n++] = '0';
  while (n && p < end) *p++ = tmp[--n];
  return p;
}

void say(const char* a, const char* b, const char* c) {  // one write(2) on stderr
  char buf[2048];
  char* end = buf + sizeof buf - 1;
  char* p = put_str(buf, end, a);
  p = put_str(p, end, b);
  p = put_str(p, end, c);
  *p++ = '\n';
  ssize_t r = write(2, buf, (size_t)(p - buf));
  (void)r;
}

void set_refusal(uint32_t code, const char* text) {
  uint32_t zero = 0;
  if (__atomic_compare_exchange_n(&g_refusal_code, &zero, code, false, __ATOMIC_RELAXED,
                                  __ATOMIC_RELAXED)) {
    char* end = g_refusal + sizeof g_refusal - 1;
    *put_str(g_refusal, end, text) = 0;
  }
}

// The refusal line on stderr ("memoplan: plan FILE refused: REASON; running unplanned") and
// the first refusal's code and reason.
COLD void announce_refusal(uint32_t code, const char* reason) {
  char line[1536];
  char* end = line + sizeof line - 1;
  char* p = put_str(line, end, "memoplan: plan ");
  p = put_str(p, end, g_path);
  p = put_str(p, end, " refused: ");
  p = put_str(p, end, reason);
  p = put_str(p, end, "; running unplanned");
  *p = 0;
  say(line, "", "");
  set_refusal(code, reason);
}

// Whole-plan refusal: one line, status 3, nothing served.
COLD bool refuse_line(uint32_t code, const char* reason) {
  announce_refusal(code, reason);
  __atomic_store_n(&g_status, MP_PLAN_STATUS_REFUSED, __ATOMIC_RELAXED);
  return false;
}

inline uint32_t log2_floor(uint64_t a) { return a ? 63 - __builtin_clzll(a) : 0; }
inline bool pow2(uint64_t a) { return a && !(a & (a - 1)); }
// Alignment as the signature sees it: the recorded align_log2 (floor), 0 = default.
inline uint32_t sig_align(uint64_t a) { return a >= 2 ? 1u << log2_floor(a) : 0; }
inline uint32_t mix(uint32_t h, uint32_t v) { return (h ^ v) * 0x01000193u; }

void* map_anon(size_t n) {
  void* m = mmap(nullptr, n, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  return m == MAP_FAILED ? nullptr : m;
}

void heapsort_u64(uint64_t* a, uint64_t n) {
  auto sift = [a](uint64_t i, uint64_t m) {
    for (;;) {
      uint64_t c = 2 * i + 1;
      if (c >= m) return;
      if (c + 1 < m && a[c + 1] > a[c]) c++;
      if (a[i] >= a[c]) return;
      uint64_t t = a[i]; a[i] = a[c]; a[c] = t;
      i = c;
    }
  };
  for (uint64_t i = n / 2; i-- > 0;) sift(i, n);
  for (uint64_t m = n; m > 1; m--) {
    uint64_t t = a[0]; a[0] = a[m - 1]; a[m - 1] = t;
    sift(0, m - 1);
  }
}

uint32_t lower_bound(const uint64_t* a, uint32_t n, uint64_t v) {
  uint32_t lo = 0, hi = n;
  while (lo < hi) {
    uint32_t mid = lo + (hi - lo) / 2;
    if (a[mid] < v) lo = mid + 1; else hi = mid;
  }
  return lo;
}

inline uint64_t hash_of(uint64_t off) { return (off * 0x9E3779B97F4A7C15ull) >> 17; }

inline uint32_t boundary_of(const Plan* pl, uint64_t off) {
  for (uint64_t i = hash_of(off) & pl->hmask;; i = (i + 1) & pl->hmask) {
    const HSlot& s = pl->hash[i];
    if (s.key1 == off + 1) return s.b;
    if (s.key1 == 0) return kNone;
  }
}

// ---------------------------------------------------------------- load ---
// Builds boundaries, the offset hash and the visible-predecessor lists.
bool precompute(Plan* pl, PEntry* e, uint64_t n) {
  uint64_t planned = 0;
  for (uint64_t i = 0; i < n; i++) planned += e[i].b != kNone;
  uint64_t cap = 2 * planned + 1;
  uint64_t* bounds = (uint64_t*)map_anon(cap * 8);
  if (!bounds) return refuse_line(MP_PLAN_REFUSAL_COMPLEX, "out of memory while preparing the plan");
  uint64_t m = 0;
  for (uint64_t i = 0; i < n; i++)
    if (e[i].b != kNone) { bounds[m++] = e[i].off; bounds[m++] = e[i].off + e[i].size; }
  heapsort_u64(bounds, m);
  uint64_t nb = 0;
  for (uint64_t i = 0; i < m; i++)
    if (nb == 0 || bounds[nb - 1] != bounds[i]) bounds[nb++] = bounds[i];
  if (nb >= kNone) return refuse_line(MP_PLAN_REFUSAL_COMPLEX, "too many entries");
  pl->bounds = bounds;
  pl->nb = (uint32_t)nb;
  // hash: block start offset -> boundary index (what free() looks up: a pointer it is given is
  // a block start or no block of the arena). Only starts, at most a quarter full, so that a
  // lookup nearly always ends at its first slot (linear probing: ~1.2 slots read on average).
  // Sized by the distinct starts (entries often share one), to keep it small in the cache.
  uint8_t* start = (uint8_t*)map_anon(nb ? nb : 1);
  if (!start) return refuse_line(MP_PLAN_REFUSAL_COMPLEX, "out of memory while preparing the plan");
  uint64_t starts = 0;
  for (uint64_t k = 0; k < n; k++) {
    if (e[k].b == kNone) continue;
    uint32_t b = lower_bound(bounds, (uint32_t)nb, e[k].off);
    starts += !start[b];
    start[b] = 1;
  }
  uint64_t hs = 16;
  while (hs < 4 * starts) hs <<= 1;
  HSlot* h = (HSlot*)map_anon(hs * sizeof(HSlot));
  if (!h) return refuse_line(MP_PLAN_REFUSAL_COMPLEX, "out of memory while preparing the plan");
  for (uint64_t b = 0; b < nb; b++) {
    if (!start[b]) continue;
    uint64_t i = hash_of(bounds[b]) & (hs - 1);
    while (h[i].key1) i = (i + 1) & (hs - 1);
    h[i].key1 = bounds[b] + 1;
    h[i].b = (uint32_t)b;
  }
  munmap(start, nb ? nb : 1);
  pl->hash = h;
  pl->hmask = hs - 1;
  // painting: top[s] = most recent entry covering elementary segment s
  uint32_t* top = (uint32_t*)map_anon((nb + 1) * 4);
  uint32_t* mark = (uint32_t*)map_anon((n + 1) * 4);
  uint32_t* vl = (uint32_t*)mmap(nullptr, kMaxVList * 4, PROT_READ | PROT_WRITE,
                                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (!top || !mark || vl == MAP_FAILED)
    return refuse_line(MP_PLAN_REFUSAL_COMPLEX, "out of memory while preparing the plan");
  memset(top, 0xff, (nb + 1) * 4);
  memset(mark, 0xff, (n + 1) * 4);
  uint64_t used = 0, work = 0;
  for (uint64_t i = 0; i < n; i++) {
    if (e[i].b == kNone) continue;
    uint32_t s = lower_bound(bounds, (uint32_t)nb, e[i].off);
    uint32_t t = lower_bound(bounds, (uint32_t)nb, e[i].off + e[i].size);
    e[i].b = s;
    e[i].vbeg = (uint32_t)used;
    work += t - s;
    if (work > kMaxWork) return refuse_line(MP_PLAN_REFUSAL_COMPLEX, "plan too complex to verify at load");
    for (uint32_t k = s; k < t; k++) {
      uint32_t j = top[k];
      if (j != kNone && mark[j] != (uint32_t)i) {
        if (used >= kMaxVList) return refuse_line(MP_PLAN_REFUSAL_COMPLEX, "plan too complex to verify at load");
        mark[j] = (uint32_t)i;
        vl[used++] = j;
      }
      top[k] = (uint32_t)i;
    }
    e[i].vcnt = (uint32_t)(used - e[i].vbeg);
  }
  munmap(top, (nb + 1) * 4);
  // Each list in two parts: the predecessors no earlier entry's list holds first (fcnt of
  // them), the rest after. In an iteration served without irregularity an entry needs only
  // its first part checked (check_fast): every other predecessor is in the list of an earlier
  // entry, which was served, so it was checked then (its first occurrence, by induction) and
  // found dead, and a served block, once freed, stays dead for the iteration.
  memset(mark, 0, (n + 1) * 4);  // now: 1 once j appeared in some list
  for (uint64_t i = 0; i < n; i++) {
    if (e[i].b == kNone) continue;
    uint32_t* seg = vl + e[i].vbeg;
    uint32_t f = 0;
    for (uint32_t x = 0; x < e[i].vcnt; x++) {
      uint32_t j = seg[x];
      if (mark[j]) continue;
      mark[j] = 1;  // a list holds each j once
      seg[x] = seg[f];
      seg[f++] = j;
    }
    e[i].fcnt = f;
    e[i].falign = e[i].align;
  }
  munmap(mark, (n + 1) * 4);
  // (entry, boundary) pairs: the check reads no PEntry of a predecessor
  VPred* vp = (VPred*)map_anon((used ? used : 1) * sizeof(VPred));
  uint64_t* pre = (uint64_t*)map_anon((n + 1) * 16);
  if (!vp || !pre) return refuse_line(MP_PLAN_REFUSAL_COMPLEX, "out of memory while preparing the plan");
  for (uint64_t x = 0; x < used; x++) vp[x] = VPred{vl[x] + 1, e[vl[x]].b};
  munmap(vl, kMaxVList * 4);
  pl->vlist = vp;
  uint64_t* ps = pre;
  uint64_t* pp = pre + n + 1;
  ps[0] = pp[0] = 0;
  for (uint64_t i = 0; i < n; i++) {
    ps[i + 1] = ps[i] + e[i].size;  // wraps harmlessly: only differences are used
    pp[i + 1] = pp[i] + (e[i].b == kNone);
    if (e[i].b != kNone) {
      pl->arena_entries++;
      pl->arena_entry_bytes += e[i].size;
    }
  }
  pl->psize = ps;
  pl->ppass = pp;
  return true;
}

bool reserve_region() {
  if (g_arena_bytes == 0) return true;  // nothing planned: no arena
  uint64_t page = g_page;
  // Whole pages only: a slot starts 2 MiB-aligned, so MADV_HUGEPAGE still backs every full
  // 2 MiB of the arena with a huge page, and the tail costs no more than it uses (rounding
  // to 2 MiB added up to 2 MiB of RSS per thread over the plan's own bytes).
  g_map_bytes = (g_arena_bytes + page - 1) & ~(page - 1);
  uint32_t sl = 21;
  while ((1ull << sl) < g_map_bytes) sl++;
  g_stride_log2 = sl;
  g_smask = (1ull << sl) - 1;
  uint64_t slots = kMaxSlots;
  while (slots > 1 && (slots << sl) > kMaxArena * 2) slots >>= 1;
  for (; slots >= 1; slots >>= 1) {
    uint64_t len = (slots << sl) + kHuge;
    void* m = mmap(nullptr, len, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (m == MAP_FAILED) continue;
    uintptr_t a = (uintptr_t)m, b = (a + kHuge - 1) & ~(kHuge - 1);
    if (b > a) munmap(m, b - a);
    uintptr_t end = a + len, used_end = b + (slots << sl);
    if (end > used_end) munmap((void*)used_end, end - used_end);
    g_nslots = slots;
    g_rbase = b;
    __atomic_store_n(&g_rsize, slots << sl, __ATOMIC_RELEASE);
    return true;
  }
  return refuse_line(MP_PLAN_REFUSAL_RESERVE, "cannot reserve address space for arenas");
}

struct Unmap {  // releases the file mapping on every return
  void* p; size_t n;
  ~Unmap() { if (p) munmap(p, n); }
};

// One version-2 plan image f[0, size): validated, entries decoded, precomputed into *pl.
// `what` prefixes the reasons ("" for a plan file, "plan 3 of the set: " in a set). The
// caller checks the floor against the set's.
bool load_one(const unsigned char* f, uint64_t size, Plan* pl, uint64_t* floor_out,
              const char* what) {
  char why[512];
  char* wend = why + sizeof why - 1;
  char* w0 = put_str(why, wend, what);
  if (size < kHeaderSize) {
    *put_str(put_u64(put_str(w0, wend, "not a memoplan plan file ("), wend, size), wend,
             " bytes)") = 0;
    return refuse_line(MP_PLAN_REFUSAL_MAGIC, why);
  }
  if (memcmp(f, MP_PLAN_MAGIC, sizeof MP_PLAN_MAGIC) != 0) {
    *put_str(w0, wend, "not a memoplan plan file (bad magic)") = 0;
    return refuse_line(MP_PLAN_REFUSAL_MAGIC, why);
  }
  mp_plan_header hdr;  // the file may be any alignment: copied out
  memcpy(&hdr, f, sizeof hdr);
  const uint32_t version = hdr.version, hsize = hdr.header_size, checksum = hdr.checksum;
  const uint64_t n = hdr.entry_count, arena = hdr.arena_bytes;
  const uint64_t floor = hdr.size_floor;
  if (version == MP_PLAN_VERSION_AGENT_MODE) {  // plans that depended on the recording's agent mode
    *put_str(w0, wend, "plan format version 1 was made by an older memoplan; "
                       "plan the session again with memoplan plan") = 0;
    return refuse_line(MP_PLAN_REFUSAL_VERSION, why);
  }
  if (version != MP_PLAN_VERSION) {
    *put_str(put_u64(put_str(w0, wend, "plan format version "), wend, version), wend,
             "; this memoplan reads versions 2 and 3") = 0;
    return refuse_line(MP_PLAN_REFUSAL_VERSION, why);
  }
  if (hsize != kHeaderSize) {
    *put_str(w0, wend, "header_size is not 128") = 0;
    return refuse_line(MP_PLAN_REFUSAL_VERSION, why);
  }
  if (n > (size - kHeaderSize) / kEntrySize || size != kHeaderSize + kEntrySize * n) {
    char* p = put_u64(put_str(w0, wend, "truncated or padded: "), wend, size);
    p = put_str(p, wend, " bytes, expected ");
    p = put_u64(p, wend, n <= (~0ull - kHeaderSize) / kEntrySize ? kHeaderSize + kEntrySize * n : ~0ull);
    p = put_str(p, wend, " for ");
    p = put_u64(p, wend, n);
    *put_str(p, wend, " entries") = 0;
    return refuse_line(MP_PLAN_REFUSAL_SIZE, why);
  }
  if (mp_plan_fnv1a32(f + kHeaderSize, size - kHeaderSize) != checksum) {
    *put_str(w0, wend, "corrupt: checksum mismatch") = 0;
    return refuse_line(MP_PLAN_REFUSAL_CHECKSUM, why);
  }
  // signature: NUL-terminated within 64 bytes, "<count hex>-<16 hex>", count == n
  uint32_t sl = 0;
  while (sl < MP_PLAN_SIGNATURE_BYTES && hdr.signature[sl]) sl++;
  if (sl == 0 || sl == MP_PLAN_SIGNATURE_BYTES) {
    *put_str(w0, wend, "signature missing or not terminated") = 0;
    return refuse_line(MP_PLAN_REFUSAL_HEADER, why);
  }
  memcpy(pl->sig, hdr.signature, sl);
  pl->sig[sl] = 0;
  {
    uint64_t cnt = 0;
    uint32_t i = 0;
    bool bad = false;
    for (; i < sl && pl->sig[i] != '-'; i++) {
      char c = pl->sig[i];
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0 || i >= 16) { bad = true; break; }
      cnt = cnt << 4 | (uint64_t)d;
    }
    if (bad || i == 0 || i == sl || sl - i - 1 != 16) {
      *put_str(w0, wend, "malformed signature") = 0;
      return refuse_line(MP_PLAN_REFUSAL_HEADER, why);
    }
    if (cnt != n) {
      *put_str(w0, wend, "signature count differs from entry_count") = 0;
      return refuse_line(MP_PLAN_REFUSAL_HEADER, why);
    }
  }
  if (arena > kMaxArena) {
    *put_str(w0, wend, "arena larger than 1 TiB") = 0;
    return refuse_line(MP_PLAN_REFUSAL_HEADER, why);
  }
  if (n >= kNone) {
    *put_str(w0, wend, "too many entries") = 0;
    return refuse_line(MP_PLAN_REFUSAL_HEADER, why);
  }
  PEntry* e = (PEntry*)map_anon((n + 1) * sizeof(PEntry));
  if (!e) return refuse_line(MP_PLAN_REFUSAL_COMPLEX, "out of memory while preparing the plan");
  for (uint64_t i = 0; i < n; i++) {
    mp_plan_entry ent;
    memcpy(&ent, f + kHeaderSize + kEntrySize * i, sizeof ent);
    const uint64_t off = ent.offset, sz = ent.size;
    const uint32_t al = ent.align, fl = ent.flags;
    char* p = put_u64(put_str(w0, wend, "corrupt: entry "), wend, i);
    if (fl & ~MP_PLAN_ENTRY_PLANNED) { *put_str(p, wend, " has unknown flags") = 0; return refuse_line(MP_PLAN_REFUSAL_ENTRY, why); }
    if (floor && sz <= floor) {
      *put_str(p, wend, " is at or below the plan's size floor") = 0;
      return refuse_line(MP_PLAN_REFUSAL_ENTRY, why);
    }
    e[i].size = sz;
    e[i].off = off;
    e[i].align = al;
    e[i].b = kNone;
    e[i].falign = 0;
    if (!(fl & MP_PLAN_ENTRY_PLANNED)) continue;
    if (!pow2(al) || al < 16) {
      *put_str(p, wend, ": alignment is not a power of two >= 16") = 0;
      return refuse_line(MP_PLAN_REFUSAL_ENTRY, why);
    }
    if (al > kHuge) {
      *put_str(p, wend, ": alignment beyond 2 MiB") = 0;
      return refuse_line(MP_PLAN_REFUSAL_ENTRY, why);
    }
    if (off % al) {
      *put_str(p, wend, ": offset is not a multiple of its alignment") = 0;
      return refuse_line(MP_PLAN_REFUSAL_ENTRY, why);
    }
    if (off > arena || sz > arena - off) {
      *put_str(p, wend, " does not fit the arena") = 0;
      return refuse_line(MP_PLAN_REFUSAL_ENTRY, why);
    }
    // A zero-size block would alias the start of another: not served.
    if (sz) e[i].b = 0;
  }
  // sentinel: no allocation has align 0 for matching (it is >= 16)
  e[n].size = ~0ull;
  e[n].align = 0;
  e[n].b = kNone;
  e[n].falign = 0;
  pl->e = e;
  pl->n = n;
  pl->arena_bytes = arena;
  *floor_out = floor;
  return precompute(pl, e, n);
}

// A version-3 file: header, directory, k version-2 images (docs/PLAN_FORMAT.md).
bool load_set(const unsigned char* f, uint64_t size) {
  char why[512];
  char* wend = why + sizeof why - 1;
  mp_plan_set_header hdr;
  memcpy(&hdr, f, sizeof hdr);  // the caller checked the size
  const uint32_t hsize = hdr.header_size, checksum = hdr.checksum, flags = hdr.flags;
  const uint64_t k = hdr.plan_count, floor = hdr.size_floor;
  if (hsize != kHeaderSize) return refuse_line(MP_PLAN_REFUSAL_VERSION, "header_size is not 128");
  if (k == 0 || k > kMaxPlans) {
    *put_str(put_u64(put_str(why, wend, "a plan set of "), wend, k), wend,
             " plans (1 to 256 are read)") = 0;
    return refuse_line(MP_PLAN_REFUSAL_HEADER, why);
  }
  if (size < kHeaderSize + kDirSize * k) return refuse_line(MP_PLAN_REFUSAL_SIZE, "truncated: the directory is cut short");
  if (mp_plan_fnv1a32(f + kHeaderSize, size - kHeaderSize) != checksum) return refuse_line(MP_PLAN_REFUSAL_CHECKSUM, "corrupt: checksum mismatch");
  if (flags) return refuse_line(MP_PLAN_REFUSAL_HEADER, "unknown flags in the set header");
  uint64_t expect = kHeaderSize + kDirSize * k;
  for (uint64_t i = 0; i < k; i++) {
    mp_plan_set_dir dir;
    memcpy(&dir, f + kHeaderSize + kDirSize * i, sizeof dir);
    const uint64_t off = dir.offset, len = dir.length;
    char what[64];
    char* we = what + sizeof what - 1;
    *put_str(put_u64(put_str(what, we, "plan "), we, i), we, " of the set: ") = 0;
    if (off != expect || len > size - off) {
      *put_str(put_str(why, wend, what), wend, "not where the directory says it is") = 0;
      return refuse_line(MP_PLAN_REFUSAL_SIZE, why);
    }
    Plan* pl = &g_plans[i];
    pl->index = (uint32_t)i;
    uint64_t fl = 0;
    if (!load_one(f + off, len, pl, &fl, what)) return false;
    if (fl != floor) {
      *put_str(put_str(why, wend, what), wend, "its size floor differs from the set's") = 0;
      return refuse_line(MP_PLAN_REFUSAL_HEADER, why);
    }
    for (uint64_t j = 0; j < i; j++)
      if (strcmp(g_plans[j].sig, pl->sig) == 0) {
        *put_str(put_str(why, wend, what), wend, "same signature as an earlier plan") = 0;
        return refuse_line(MP_PLAN_REFUSAL_HEADER, why);
      }
    expect = off + len;
  }
  if (expect != size) return refuse_line(MP_PLAN_REFUSAL_SIZE, "padded: bytes after the last plan");
  g_np = (uint32_t)k;
  g_floor = floor;
  return true;
}

}  // namespace

bool plan_load(const Reals* reals, uint32_t page_size) {
  const char* path = getenv("MEMOPLAN_PLAN");
  if (!path || !*path) return false;
  R = *reals;
  if (page_size) g_page = page_size;
  *put_str(g_path, g_path + sizeof g_path - 1, path) = 0;
  __atomic_store_n(&g_status, MP_PLAN_STATUS_LOADED, __ATOMIC_RELAXED);
  int saved = errno;
  struct Restore { int e; ~Restore() { errno = e; } } restore{saved};
  char why[512];
  char* wend = why + sizeof why - 1;
  int fd = open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) {
    *put_u64(put_str(why, wend, "cannot open it (errno "), wend, (uint64_t)errno) = 0;
    char* p = why + strlen(why);
    *put_str(p, wend, ")") = 0;
    return refuse_line(MP_PLAN_REFUSAL_OPEN, why);
  }
  struct stat st;
  if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    close(fd);
    return refuse_line(MP_PLAN_REFUSAL_OPEN, "not a regular file");
  }
  uint64_t size = (uint64_t)st.st_size;
  if (size < kHeaderSize) {
    close(fd);
    *put_str(put_u64(put_str(why, wend, "not a memoplan plan file ("), wend, size), wend,
             " bytes)") = 0;
    return refuse_line(MP_PLAN_REFUSAL_MAGIC, why);
  }
  const unsigned char* f =
      (const unsigned char*)mmap(nullptr, size, PROT_READ, MAP_PRIVATE, fd, 0);
  close(fd);
  if (f == (const unsigned char*)MAP_FAILED) return refuse_line(MP_PLAN_REFUSAL_OPEN, "cannot map it");
  Unmap um{(void*)f, size};
  if (memcmp(f, MP_PLAN_MAGIC, sizeof MP_PLAN_MAGIC) != 0) return refuse_line(MP_PLAN_REFUSAL_MAGIC, "not a memoplan plan file (bad magic)");
  uint32_t version;
  memcpy(&version, f + MP_PLAN_OFF(version), sizeof version);
  if (version == MP_PLAN_SET_VERSION) {
    if (!load_set(f, size)) return false;
  } else {
    g_plans[0].index = 0;
    if (!load_one(f, size, &g_plans[0], &g_floor, "")) return false;
    g_np = 1;
  }
  g_below = g_floor ? g_floor + 1 : 0;
  for (uint32_t i = 0; i < g_np; i++) {
    const Plan& pl = g_plans[i];
    if (pl.n > g_max_n) g_max_n = pl.n;
    if (pl.nb > g_max_nb) g_max_nb = pl.nb;
    if (pl.arena_bytes > g_arena_bytes) g_arena_bytes = pl.arena_bytes;
  }
  if (!reserve_region()) return false;
  g_exit_key_ok = pthread_key_create(&g_exit_key, plan_thread_gone) == 0;
  __atomic_store_n(&g_on, 1, __ATOMIC_RELEASE);
  return true;
}

void plan_fork_child() {
  __atomic_store_n(&g_on, 0, __ATOMIC_RELAXED);
  g_stats_off = 1;
  if (t_plan) t_plan->phase = PH_NONE;
  __atomic_store_n(&g_status, MP_PLAN_STATUS_NONE, __ATOMIC_RELAXED);
  for (int i = 0; i < 8; i++) g_tot[i] = 0;
}

// --------------------------------------------------------------- arena ---
namespace {

COLD Arena* new_arena(PlanThread* pt) {
  char msg[1536];
  char* end = msg + sizeof msg - 1;
  uint64_t slot = __atomic_fetch_add(&g_next_slot, 1, __ATOMIC_RELAXED);
  if (slot >= g_nslots) {
    char* p = put_str(msg, end, "plan ");
    p = put_str(p, end, g_path);
    p = put_u64(put_str(p, end, ": no arena slot left for thread "), end, pt->tid);
    *put_str(p, end, "; this thread runs unplanned") = 0;
    say("memoplan: ", msg, "");
    set_refusal(MP_PLAN_REFUSAL_ARENA_MAP, msg);
    return nullptr;
  }
  char* base = (char*)(g_rbase + (slot << g_stride_log2));
  int err = 0;
  void* m = mmap(base, g_map_bytes, PROT_READ | PROT_WRITE,
                 MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED, -1, 0);
  if (m == MAP_FAILED) err = errno;
  if (!err) {
    if (g_map_bytes >= kHugeArena) madvise(base, g_map_bytes, MADV_HUGEPAGE);
    if (madvise(base, g_map_bytes, MADV_POPULATE_WRITE) != 0) {
      if (errno == EINVAL) {  // kernel < 5.14: touch every page
        for (uint64_t o = 0; o < g_map_bytes; o += g_page) ((volatile char*)base)[o] = 0;
      } else {
        err = errno;  // ENOMEM: give the pages back rather than fault later
      }
    }
  }
  Arena* a = nullptr;
  if (!err) {
    a = (Arena*)map_anon(sizeof(Arena) + (uint64_t)g_max_nb * 4);  // owner[] has g_max_nb + 2
    if (!a) err = ENOMEM;
  }
  if (err) {
    mmap(base, g_map_bytes, PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED | MAP_NORESERVE,
         -1, 0);
    char* p = put_str(msg, end, "plan ");
    p = put_str(p, end, g_path);
    p = put_str(p, end, ": cannot map a ");
    p = put_u64(p, end, g_map_bytes);
    p = put_str(p, end, "-byte arena for thread ");
    p = put_u64(p, end, pt->tid);
    p = put_str(p, end, " (errno ");
    p = put_u64(p, end, (uint64_t)err);
    *put_str(p, end, "); this thread runs unplanned") = 0;
    say("memoplan: ", msg, "");
    set_refusal(MP_PLAN_REFUSAL_ARENA_MAP, msg);
    return nullptr;
  }
  a->base = base;
  a->slot = (uint32_t)slot;
  a->plan = &g_no_plan;
  __atomic_store_n(&g_arena_of[slot], a, __ATOMIC_RELEASE);
  pt->new_arena_bytes += g_map_bytes;
  return a;
}

inline bool overlaps(const PEntry& x, const PEntry& y) {
  return x.off < y.off + y.size && y.off < x.off + x.size;
}

// Safety check: no live block of this arena overlaps entry i (see top).
// Exact; the serving path tries check_fast first and comes here when that
// one cannot decide.
bool bytes_free(PlanThread* pt, uint32_t i) {
  const PEntry* E = pt->e;
  const VPred* vlist = pt->vl;
  const uint32_t* own = pt->own;
  const uint32_t* served = pt->served;
  uint32_t ep = pt->epoch, lim = pt->lim;
  if (__atomic_load_n(&own[E[i].b], __ATOMIC_ACQUIRE) != 0) return false;
  const VPred* v = vlist + E[i].vbeg;
  uint32_t cnt = E[i].vcnt;
  uint32_t stack[64];
  uint32_t sp = 0;
  for (uint32_t x = 0; x < cnt; x++) {
    uint32_t j = v[x].j1 - 1;
    if (LIKELY(j < lim) || served[j] == ep) {
      if (__atomic_load_n(&own[v[x].b], __ATOMIC_ACQUIRE) == j + 1) return false;
    } else {
      if (sp == 64) return false;
      stack[sp++] = j;
    }
  }
  uint32_t budget = kCheckBudget;
  while (sp) {  // entries not served this iteration: look below them
    uint32_t m = stack[--sp];
    const VPred* w = vlist + E[m].vbeg;
    for (uint32_t x = 0; x < E[m].vcnt; x++) {
      uint32_t j = w[x].j1 - 1;
      if (!overlaps(E[j], E[i])) continue;
      if (budget-- == 0) return false;
      if (j < lim || served[j] == ep) {
        if (__atomic_load_n(&own[w[x].b], __ATOMIC_ACQUIRE) == j + 1) return false;
      } else {
        if (sp == 64) return false;
        stack[sp++] = j;
      }
    }
  }
  return true;
}

// The common case of bytes_free: every visible predecessor of i was served
// in this iteration. true: no live block overlaps i (the same proof: the
// served predecessors are dead, nothing needs a descent). false: a live
// block was found OR a predecessor was not served; bytes_free decides.
inline bool check_fast(const PlanThread* pt, const PEntry* e) {
  const uint32_t* own = pt->own;
  if (__atomic_load_n(&own[e->b], __ATOMIC_ACQUIRE) != 0) return false;
  // After an irregularity (lim below ~0u) bytes_free decides, on the slow path: it reads
  // served[] at and above lim. Until then every planned entry below the cursor was served, so
  // only the predecessors no earlier entry had need a look (precompute).
  if (UNLIKELY(pt->lim != ~0u)) return false;
  const VPred* v = pt->vl + e->vbeg;
  for (const VPred* fend = v + e->fcnt; v != fend; v++)
    if (__atomic_load_n(&own[v->b], __ATOMIC_ACQUIRE) == v->j1) return false;
  return true;
}

inline void lower_lim(PlanThread* pt, uint64_t at) {
  if (at < pt->lim) pt->lim = (uint32_t)at;
}

// Which entry an allocation (size, align for matching) is, or kNone (a miss: the cursor stays).
// Runs differ from their recording by a few allocations: extra ones (a first iteration's
// caches and workspaces), missing ones (the recording agent's aten-op mode allocates in torch's
// dispatch path, a plain run does not). A small size says little (many entries share it); a
// large one (> kSmallSkip) is telling. So, in order:
//  1. the entry at the cursor;
//  2. a large allocation: the first entry like it within kSkipWindow, jumping over small
//     entries and at most one large one (a buffer the run does not make);
//  3. the previous allocation missed too and the two match two consecutive entries within
//     kWindow, jumping over small entries only.
// A small allocation never moves the cursor by itself: an extra one costs one miss, and a
// cursor stuck on a missing small entry is moved on by the next large allocation (or pair).
// (Measured on a held-out U-Net: every entry of the steady iterations matched, a first
// iteration's 165 extra allocations cost 165 misses and no entry; the greedier rules tried
// derailed there, jumping on coincidental small sizes.)
inline uint64_t find_entry(const PlanThread* pt, uint64_t size, uint32_t malign) {
  const PEntry* E = pt->e;
  uint64_t c = pt->cursor, n = pt->p->n;
  if (E[c].size == size && E[c].align == malign) return c;  // E[n] matches nothing
  if (size > kSmallSkip) {
    uint64_t slim = c + 1 + kSkipWindow < n ? c + 1 + kSkipWindow : n;
    uint32_t large = 0;
    for (uint64_t k = c + 1; k < slim; k++) {
      if (E[k - 1].size > kSmallSkip && ++large > 1) break;
      if (E[k].size == size && E[k].align == malign) return k;
    }
  }
  if (pt->prev_valid) {
    uint64_t lim = c + 1 + kWindow < n ? c + 1 + kWindow : n;
    for (uint64_t k = c + 1; k < lim; k++) {
      if (E[k].size == size && E[k].align == malign && E[k - 1].size == pt->prev_size &&
          E[k - 1].align == pt->prev_align)
        return k;
      if (E[k - 1].size > kSmallSkip) break;  // E[k - 1] would be jumped over next
    }
  }
  return kNone;
}

// Matches one allocation (size, align for matching) against the plan.
// Returns the arena block on a planned hit, nullptr otherwise (the caller
// uses the real allocator). arena_ok = false: never serve (pvalloc).
// Everything: resynchronisation, unplanned entries, misses, the full
// overlap check (try_fast below is its common case, inline).
COLD void* serve_slow(PlanThread* pt, uint64_t size, uint32_t malign, bool arena_ok) {
  const PEntry* E = pt->e;
  uint64_t c = pt->cursor, j = find_entry(pt, size, malign);
  if (j == kNone) {
    pt->prev_valid = 1;
    pt->prev_size = size;
    pt->prev_align = malign;
    pt->misses++;
    pt->miss_bytes += size;
    return nullptr;
  }
  if (j > c) {  // c .. j-1 skipped: neither hits nor served
    lower_lim(pt, c);
    pt->sub_n += j - c;
    pt->sub_bytes += pt->p->psize[j] - pt->p->psize[c];
    pt->sub_pass += pt->p->ppass[j] - pt->p->ppass[c];
  }
  pt->prev_valid = 0;
  pt->cursor = j + 1;
  const PEntry& e = E[j];
  if (e.b == kNone) return nullptr;  // outlives the iteration: real allocator (a hit)
  if (UNLIKELY(!arena_ok) || UNLIKELY(!bytes_free(pt, (uint32_t)j))) {
    lower_lim(pt, j);
    pt->misses++;
    pt->miss_bytes += size;
    pt->sub_n++;
    pt->sub_bytes += size;
    return nullptr;
  }
  __atomic_store_n(&pt->own[e.b], (uint32_t)j + 1, __ATOMIC_RELAXED);
  pt->served[j] = pt->epoch;
  return pt->base + e.off;
}

// The serving path's common case, inline in the entry points: the entry at
// the cursor matches (size, align), is planned, and check_fast holds. Sets
// busy around its reads and writes (a signal handler that allocates in
// between forwards). No counter is touched: hits are derived from the
// cursor at the end. nullptr: nothing was changed, the caller goes the slow
// way (serve_slow decides everything again).
__attribute__((always_inline)) inline void* try_fast(PlanThread* pt, uint64_t size,
                                                     uint32_t malign) {
  pt->h.busy = 1;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  void* q = nullptr;
  uint64_t c = pt->cursor;
  const PEntry* e = pt->e + c;
  // falign is 0 for an entry not served from the arena: it fails the compare (malign >= 16).
  if (LIKELY(e->size == size) && LIKELY(e->falign == malign) && LIKELY(check_fast(pt, e))) {
    pt->prev_valid = 0;
    pt->cursor = c + 1;
    __atomic_store_n(&pt->own[e->b], (uint32_t)c + 1, __ATOMIC_RELAXED);
    // No served[] store: it is read only for entries at or above lim, this path runs only
    // while lim is ~0u, and lim only ever drops to a cursor position, so an entry served here
    // stays below it for the iteration.
    q = pt->base + e->off;
  }
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  pt->h.busy = 0;
  return q;
}

inline void use_plan(PlanThread* pt, const Plan* pl) {
  pt->p = pl;
  pt->e = pl ? pl->e : nullptr;
  pt->vl = pl ? pl->vlist : nullptr;
}

// The thread serves the rest of its iteration from its plan, from entry k on. Entries below k
// were matched while the plan was being selected and went to the allocator beneath: counted as
// misses, not served (lim stops below the first planned one: the overlap check looks them up).
// The arena holds no live block here (it is reused only after an iteration that ended with
// none), so it takes this plan's boundaries from now on.
void start_serving(PlanThread* pt, uint64_t k) {
  const Plan* pl = pt->p;
  pt->epoch++;
  pt->lim = ~0u;
  for (uint64_t j = 0; j < k; j++)
    if (pl->e[j].b != kNone) { pt->lim = (uint32_t)j; break; }
  pt->cursor = k;
  Arena* a = pt->arena;
  if (a) __atomic_store_n(&a->plan, pl, __ATOMIC_RELEASE);
  pt->own = a ? a->owner : nullptr;
  pt->base = a ? a->base : nullptr;
  pt->prev_valid = 0;
  pt->sub_n = k;
  pt->sub_bytes = pl->psize[k];
  pt->sub_pass = pl->ppass[k];
  pt->misses = k + pt->sel_skips;  // made while selecting (0 outside a set)
  pt->miss_bytes = pl->psize[k] + pt->sel_skip_bytes;
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  phase_slot(pt) = PH_SERVE;
}

// One allocation of an iteration whose plan in the set is not known yet, before it is made:
// every plan whose next entry differs (size, alignment) drops out; the plan left alone is the
// iteration's, with its cursor on the entry of this allocation. None left: the iteration runs
// unplanned to its end. If the thread accepted the plan it serves from this allocation on
// (the caller takes the serving path), else observe() goes on with it.
COLD void select_step(PlanThread* pt, uint64_t size, uint32_t malign) {
  uint32_t left = 0, last = 0;
  // Once some plan matched the iteration's first allocations, an allocation no candidate
  // expects (an extra one: a cache, a workspace) is passed over, up to kSelectSkips of them;
  // the candidates stay. Before that it ends the selection: an iteration whose first allocation
  // starts no plan is another shape (passing over its allocations until one happened to equal
  // some plan's first entry served a never-recorded shape with the wrong plan).
  bool any = false, started = false;
  for (uint32_t i = 0; i < g_np && !any; i++) {
    uint64_t c = pt->scur[i];
    started |= c != ~0ull && c > 0;
    any = c != ~0ull && g_plans[i].e[c].size == size && g_plans[i].e[c].align == malign;
  }
  if (!any) {
    pt->sel_skip_bytes += size;
    if (!started || ++pt->sel_skips > kSelectSkips) pt->unplanned = 1;
    return;
  }
  for (uint32_t i = 0; i < g_np; i++) {
    uint64_t c = pt->scur[i];
    if (c == ~0ull) continue;
    const PEntry& e = g_plans[i].e[c];  // e[n]: the sentinel, matches nothing
    if (e.size == size && e.align == malign) {
      pt->scur[i] = c + 1;
      left++;
      last = i;
    } else {
      pt->scur[i] = ~0ull;
    }
  }
  if (left == 0) pt->unplanned = 1;
  if (left != 1) return;
  const Plan* pl = &g_plans[last];
  uint64_t k = pt->scur[last] - 1;  // this allocation's entry: observed or served by the caller
  use_plan(pt, pl);
  pt->cursor = k;
  pt->obs_hits = k;
  for (uint64_t j = 0; j < k; j++)
    if (pl->e[j].b != kNone) {
      pt->obs_arena++;
      pt->obs_arena_bytes += pl->e[j].size;
    }
  if (pt->accepted[last] && (pt->arena || !g_map_bytes)) start_serving(pt, k);
}

// An allocation of an observed iteration: hashed for the signature, and matched against the
// plan as serving would match it (a dry run: nothing is served).
inline void observe(PlanThread* pt, uint64_t size, uint32_t salign) {
  pt->count++;
  pt->hashA = mix(mix(pt->hashA, (uint32_t)size), salign);
  pt->hashB = mix(mix(pt->hashB, (uint32_t)(size >> 32)), (uint32_t)(size & 0xffff));
  uint32_t malign = salign < 16 ? 16 : salign;
  if (UNLIKELY(!pt->p)) return;  // a set, the plan not known yet (select_step ran before)
  uint64_t j = find_entry(pt, size, malign);
  if (j == kNone) {
    pt->prev_valid = 1;
    pt->prev_size = size;
    pt->prev_align = malign;
    return;
  }
  pt->prev_valid = 0;
  pt->cursor = j + 1;
  pt->obs_hits++;
  if (pt->e[j].b != kNone) {
    pt->obs_arena++;
    pt->obs_arena_bytes += size;
  }
}

// Before an allocation of an observed iteration: a set's selection (select_step).
// busy is set meanwhile: an allocating signal handler that interrupts it (and may find the
// thread half switched to serving) forwards, neither selecting nor observing.
inline void preselect(PlanThreadHead* h, uint64_t size, uint32_t malign) {
  PlanThread* pt = (PlanThread*)h;
  if (h->phase == PH_OBSERVE && !h->busy && UNLIKELY(!pt->p) && !pt->unplanned) {
    h->busy = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    select_step(pt, size, malign);
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    h->busy = 0;
  }
}

struct Busy {  // the serving path is not re-entered by a signal handler
  PlanThread* pt;
  explicit Busy(PlanThread* p) : pt(p) {
    pt->h.busy = 1;
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
  }
  ~Busy() {
    __atomic_signal_fence(__ATOMIC_SEQ_CST);
    pt->h.busy = 0;
  }
};

// phase == PH_SERVE and busy == 0, in one load and compare
inline bool serving(PlanThreadHead* h) {
  uint64_t w;
  memcpy(&w, h, 8);
  static_assert(sizeof(PlanThreadHead) == 8, "phase and busy: one word");
  return w == PH_SERVE;  // little-endian: phase is the low half
}
inline bool observing(PlanThreadHead* h) { return h->phase == PH_OBSERVE && !h->busy; }

}  // namespace

// ------------------------------------------------------ allocation paths ---
namespace {
// What the entry points do when try_fast cannot serve: everything, from
// scratch (try_fast changed nothing).
COLD void* malloc_slow(PlanThreadHead* h, size_t n) {
  PlanThread* pt = (PlanThread*)h;
  preselect(h, n, 16);
  if (serving(h)) {
    Busy b(pt);
    void* q = serve_slow(pt, n, 16, true);
    return q ? q : R.malloc_(n);
  }
  void* q = R.malloc_(n);
  if (q && observing(h)) observe(pt, n, 0);
  return q;
}

COLD void* calloc_slow(PlanThreadHead* h, size_t nm, size_t sz) {
  PlanThread* pt = (PlanThread*)h;
  size_t n;
  if (__builtin_mul_overflow(nm, sz, &n)) return R.calloc_(nm, sz);  // fails, uncounted
  preselect(h, n, 16);
  if (serving(h)) {
    Busy b(pt);
    void* q = serve_slow(pt, n, 16, true);
    if (q) return memset(q, 0, n);  // a reused slot holds old data
    return R.calloc_(nm, sz);
  }
  void* q = R.calloc_(nm, sz);
  if (q && observing(h)) observe(pt, n, 0);
  return q;
}

COLD void* aligned_slow(PlanThreadHead* h, aligned_fn real, size_t align, size_t n) {
  PlanThread* pt = (PlanThread*)h;
  if (align <= 16 || pow2(align)) preselect(h, n, align < 16 ? 16 : sig_align(align));
  if (serving(h)) {
    Busy b(pt);
    if (align <= 16 || pow2(align)) {
      void* q = serve_slow(pt, n, align < 16 ? 16 : (uint32_t)sig_align(align), align <= kHuge);
      if (q) return q;
    } else {  // rounded up by glibc: not served, not matched
      pt->misses++;
      pt->miss_bytes += n;
    }
    return real(align, n);
  }
  void* q = real(align, n);
  if (q && observing(h)) observe(pt, n, sig_align(align));
  return q;
}

COLD int posix_memalign_slow(PlanThreadHead* h, void** out, size_t align, size_t n) {
  int (*real)(void**, size_t, size_t) = R.posix_memalign_;
  if (n < g_below) return real(out, align, n);
  PlanThread* pt = (PlanThread*)h;
  bool valid = pow2(align) && align % sizeof(void*) == 0;
  if (valid) preselect(h, n, align < 16 ? 16 : sig_align(align));
  if (valid && serving(h)) {
    Busy b(pt);
    void* q = serve_slow(pt, n, align < 16 ? 16 : (uint32_t)sig_align(align), align <= kHuge);
    if (q) { *out = q; return 0; }
    return real(out, align, n);
  }
  int rc = real(out, align, n);
  if (rc == 0 && observing(h)) observe(pt, n, sig_align(align));
  return rc;
}

}  // namespace

// The entry points: a leaf that serves the common case (phase SERVE, the
// entry at the cursor matches, check_fast holds), else a tail call.
// An allocation at or below the plan's size floor is not the plan's: the allocator beneath,
// neither matched nor counted (one compare; never true without a floor).
void* plan_malloc(PlanThreadHead* h, size_t n) {
  if (n < g_below) return R.malloc_(n);
  if (LIKELY(serving(h)))
    if (void* q = try_fast((PlanThread*)h, n, 16)) return q;
  return malloc_slow(h, n);
}

void* plan_calloc(PlanThreadHead* h, size_t nm, size_t sz) {
  size_t n;
  if (g_below && !__builtin_mul_overflow(nm, sz, &n) && n < g_below) return R.calloc_(nm, sz);
  if (LIKELY(serving(h)) && !__builtin_mul_overflow(nm, sz, &n))
    if (void* q = try_fast((PlanThread*)h, n, 16)) return memset(q, 0, n);  // a reused slot holds old data
  return calloc_slow(h, nm, sz);
}

// A power-of-two align matches as max(align, 16); a planned entry's align is
// at most 2 MiB, so a fast hit is always allowed in the arena.
void* plan_aligned(PlanThreadHead* h, aligned_fn real, size_t align, size_t n) {
  if (n < g_below) return real(align, n);
  if (LIKELY(serving(h)) && pow2(align) && align <= kHuge)
    if (void* q = try_fast((PlanThread*)h, n, align < 16 ? 16 : (uint32_t)align)) return q;
  return aligned_slow(h, real, align, n);
}

// The size floor is checked on the slow path here: one tail call with the arguments as they
// came, so the fast path moves no register around (five arguments).
int plan_posix_memalign(PlanThreadHead* h, void** out, size_t align, size_t n) {
  if (LIKELY(n >= g_below) && LIKELY(serving(h)) && pow2(align) && align >= sizeof(void*) &&
      align <= kHuge)
    if (void* q = try_fast((PlanThread*)h, n, align < 16 ? 16 : (uint32_t)align)) {
      *out = q;
      return 0;
    }
  return posix_memalign_slow(h, out, align, n);
}

void* plan_valloc(PlanThreadHead* h, valloc_fn real, size_t n, bool pvalloc) {
  if (n < g_below) return real(n);
  PlanThread* pt = (PlanThread*)h;
  preselect(h, n, g_page);
  if (serving(h)) {
    Busy b(pt);
    // pvalloc's block is usable up to the next page: the plan did not size it.
    void* q = serve_slow(pt, n, g_page, !pvalloc && g_page <= kHuge);
    return q ? q : real(n);
  }
  void* q = real(n);
  if (q && observing(h)) observe(pt, n, g_page);
  return q;
}

namespace {
uint32_t* owner_slot(void* p, uint32_t* entry1, const Plan** plan);
}

void* plan_realloc(PlanThreadHead* h, void* p, size_t n) {
  PlanThread* pt = (PlanThread*)h;
  bool from_arena = p && in_arena(p);
  if (n < g_below) return from_arena ? arena_realloc(p, n) : R.realloc_(p, n);
  preselect(h, n, 16);
  if (serving(h)) {
    Busy b(pt);
    // A block of this thread's arena is released before matching: the plan
    // (like the trace: realloc_free, then realloc) may put the new block
    // over the old one; the data is then moved with memmove. If the new
    // block is not served from the arena, the old one is live again.
    uint32_t* own = nullptr;
    uint32_t e1 = 0;
    Arena* a = pt->arena;
    if (from_arena && a && (char*)p >= a->base && (char*)p < a->base + g_map_bytes) {
      const Plan* pl;
      own = owner_slot(p, &e1, &pl);
      if (own && e1) __atomic_store_n(own, 0u, __ATOMIC_RELAXED);
      else own = nullptr;
    }
    // The old size of a real block comes from malloc_usable_size.
    void* q = serve_slow(pt, n, 16, !p || from_arena || R.usable_);
    if (q && own) {
      size_t old = pt->e[e1 - 1].size;  // the arena's plan is the thread's while it serves
      memmove(q, p, old < n ? old : n);
      return q;
    }
    if (own) __atomic_store_n(own, e1, __ATOMIC_RELAXED);
    if (q) {
      if (p) {
        size_t old = from_arena ? arena_usable(p) : R.usable_(p);
        memcpy(q, p, old < n ? old : n);
        if (from_arena) arena_free(p); else R.free_(p);
      }
      return q;
    }
    return from_arena ? arena_realloc(p, n) : R.realloc_(p, n);
  }
  void* q = from_arena ? arena_realloc(p, n) : R.realloc_(p, n);
  if (q && observing(h)) observe(pt, n, 0);
  return q;
}

// ------------------------------------------------------- arena blocks ---
namespace {
// The owner word of the block at p (and the arena's plan), or nullptr: p is no block start.
uint32_t* owner_slot(void* p, uint32_t* entry1, const Plan** plan) {
  uintptr_t rel = (uintptr_t)p - g_rbase;
  Arena* a = __atomic_load_n(&g_arena_of[rel >> g_stride_log2], __ATOMIC_ACQUIRE);
  if (!a) return nullptr;
  const Plan* pl = __atomic_load_n(&a->plan, __ATOMIC_ACQUIRE);
  *plan = pl;
  uint64_t off = rel & ((1ull << g_stride_log2) - 1);
  if (off >= pl->arena_bytes) return nullptr;
  uint32_t b = boundary_of(pl, off);
  if (b == kNone) return nullptr;
  uint32_t* s = &a->owner[b];
  *entry1 = __atomic_load_n(s, __ATOMIC_RELAXED);
  return s;
}
}  // namespace

// free(p): the arena of p, its boundary (hash), one release store of 0. An
// offset that is no boundary (past the arena, not a block start) finds none;
// a boundary where no block is live already holds 0.
void arena_free(void* p) {
  uintptr_t rel = (uintptr_t)p - g_rbase;
  Arena* a = __atomic_load_n(&g_arena_of[rel >> g_stride_log2], __ATOMIC_ACQUIRE);
  if (UNLIKELY(!a)) return;
  // An arena that never served has g_no_plan: its one empty slot ends the lookup.
  const Plan* pl = __atomic_load_n(&a->plan, __ATOMIC_ACQUIRE);
  uint64_t key1 = (rel & g_smask) + 1;
  const HSlot* h = pl->hash;
  uint64_t m = pl->hmask;
  uint64_t i = hash_of(key1 - 1) & m;
  for (; h[i].key1 != key1; i = (i + 1) & m)
    if (h[i].key1 == 0) return;  // not a block start
  __atomic_store_n(&a->owner[h[i].b], 0u, __ATOMIC_RELEASE);
}

size_t arena_usable(void* p) {
  uint32_t e1;
  const Plan* pl;
  uint32_t* s = owner_slot(p, &e1, &pl);
  return s && e1 ? pl->e[e1 - 1].size : 0;
}

void* arena_realloc(void* p, size_t n) {
  size_t old = arena_usable(p);
  void* q = R.malloc_(n);
  if (!q) return nullptr;  // p stays live, errno from the real malloc
  memcpy(q, p, old < n ? old : n);
  arena_free(p);
  return q;
}

// ----------------------------------------------------------- iterations ---
namespace {

void format_sig(char* out, uint64_t count, uint32_t a, uint32_t b) {
  char* end = out + 64;
  char* p = put_hex(out, end, count, 1);
  *p++ = '-';
  p = put_hex(p, end, a, 8);
  p = put_hex(p, end, b, 8);
  *p = 0;
}

// When a thread starts serving, the buffers of the iterations it ran unplanned sit freed in the
// allocator beneath (glibc's bins, tcmalloc's and mimalloc's caches, jemalloc's dirty pages):
// the arena serves them now, and a peak RSS should not count them twice. Each allocator's own
// call hands them back to the kernel, where it has one (looked up by name: whichever allocator
// is beneath). Run at the begin of the thread's first served iteration, before the agent starts
// its clock; allocating here is safe (the thread's phase is not set yet).
COLD void release_beneath() {
  typedef void (*v_fn)(void);
  typedef void (*collect_fn)(bool);
  typedef int (*mallctl_fn)(const char*, void*, size_t*, void*, size_t);
  typedef int (*trim_fn)(size_t);
  if (getenv("MEMOPLAN_PLAN_NO_RELEASE")) return;
  if (v_fn f = (v_fn)dlsym(RTLD_DEFAULT, "MallocExtension_ReleaseFreeMemory")) f();  // tcmalloc
  if (collect_fn f = (collect_fn)dlsym(RTLD_DEFAULT, "mi_collect")) f(true);          // mimalloc
  if (mallctl_fn f = (mallctl_fn)dlsym(RTLD_DEFAULT, "mallctl"))                      // jemalloc
    f("arena.4096.purge", nullptr, nullptr, nullptr, 0);  // 4096: MALLCTL_ARENAS_ALL
  if (trim_fn f = (trim_fn)dlsym(RTLD_DEFAULT, "malloc_trim")) f(0);                // glibc
}

// An arena that will never serve again (retired, or its thread ended): the pages no live block
// covers go back to the kernel. The slot stays mapped and recognised (a late free of one of its
// blocks is still a no-op; a page given back reads as zeros). Only the owner thread serves from
// an arena, so nothing new can become live in it; a block freed meanwhile keeps its pages.
void release_idle_pages(Arena* a) {
  uint64_t page = g_page, from = 0;
  const Plan* pl = __atomic_load_n(&a->plan, __ATOMIC_ACQUIRE);
  uint32_t nb = pl->nb;  // an arena that never served (g_no_plan) holds nothing
  auto drop = [&](uint64_t lo, uint64_t hi) {
    lo = (lo + page - 1) & ~(page - 1);
    hi &= ~(page - 1);
    if (hi > lo) madvise(a->base + lo, hi - lo, MADV_DONTNEED);
  };
  for (uint32_t b = 0; b < nb; b++) {  // boundaries in offset order; live blocks never overlap
    uint32_t e1 = __atomic_load_n(&a->owner[b], __ATOMIC_ACQUIRE);
    if (!e1) continue;
    const PEntry& e = pl->e[e1 - 1];
    if (e.off > from) drop(from, e.off);
    if (e.off + e.size > from) from = e.off + e.size;
  }
  drop(from, g_map_bytes);
}

// A thread that ends serves no more: its arena's idle pages go back to the kernel.
void plan_thread_gone(void* p) {
  PlanThread* pt = (PlanThread*)p;
  int saved = errno;
  pt->state = TS_OFF;
  pt->h.phase = PH_NONE;
  pt->agent_depth = 0;
  if (Arena* a = pt->arena) release_idle_pages(a);
  errno = saved;
}

COLD PlanThread* new_plan_thread() {
  size_t served_bytes = (g_max_n * 4 + 7) & ~(size_t)7;
  size_t bytes = sizeof(PlanThread) + served_bytes + g_np * 9;
  char* m = (char*)map_anon(bytes);
  if (!m) return nullptr;
  PlanThread* pt = (PlanThread*)m;
  pt->served = (uint32_t*)(m + sizeof(PlanThread));
  pt->scur = (uint64_t*)(m + sizeof(PlanThread) + served_bytes);
  pt->accepted = (uint8_t*)(pt->scur + g_np);
  pt->tid = (uint32_t)syscall(SYS_gettid);
  pt->state = TS_OBSERVING;
  t_plan = &pt->h;
  if (g_exit_key_ok) pthread_setspecific(g_exit_key, pt);  // may allocate: t_plan is idle
  return pt;
}

}  // namespace


void plan_agent_enter() {
  PlanThread* pt = (PlanThread*)t_plan;
  if (!pt) {
    if (!__atomic_load_n(&g_on, __ATOMIC_ACQUIRE)) return;
    int saved = errno;
    pt = new_plan_thread();  // so that an iteration begun inside the agent's code is parked too
    errno = saved;
    if (!pt) return;
  }
  if (pt->agent_depth++ == 0) {
    pt->parked_phase = pt->h.phase;
    pt->h.phase = PH_NONE;  // one store: a signal handler sees either phase, both consistent
  }
}

void plan_agent_leave() {
  PlanThread* pt = (PlanThread*)t_plan;
  if (!pt || pt->agent_depth == 0) return;
  if (--pt->agent_depth == 0) pt->h.phase = pt->parked_phase;
}

void plan_begin() {
  if (!__atomic_load_n(&g_iter_seen, __ATOMIC_RELAXED))
    __atomic_store_n(&g_iter_seen, 1, __ATOMIC_RELAXED);
  if (!__atomic_load_n(&g_on, __ATOMIC_ACQUIRE)) return;
  int saved = errno;
  PlanThread* pt = (PlanThread*)t_plan;
  if (!pt) pt = new_plan_thread();
  if (!pt || pt->state == TS_OFF) {
    errno = saved;
    return;
  }
  if (pt->any_accepted && !pt->arena && g_map_bytes) {
    // The first iteration that may serve: what the allocator beneath cached of the unplanned
    // ones goes back first (by now the program freed the last one's buffers), then the arena
    // (sized for the largest plan of the set) is mapped.
    if (!pt->retirements) release_beneath();
    if (!(pt->arena = new_arena(pt))) {
      pt->state = TS_OFF;
      errno = saved;
      return;
    }
  }
  pt->hashA = 0x811c9dc5u;
  pt->hashB = 0x12345678u;
  pt->count = 0;
  pt->cursor = 0;
  pt->prev_valid = 0;
  pt->obs_hits = pt->obs_arena = pt->obs_arena_bytes = 0;
  pt->unplanned = pt->sel_skips = 0;
  pt->sel_skip_bytes = 0;
  if (g_np == 1) {
    use_plan(pt, &g_plans[0]);
    if (pt->accepted[0]) {
      start_serving(pt, 0);
      errno = saved;
      return;
    }
  } else {  // a set: the first allocations select the plan (select_step)
    use_plan(pt, nullptr);
    for (uint32_t i = 0; i < g_np; i++) pt->scur[i] = 0;
  }
  phase_slot(pt) = PH_OBSERVE;
  errno = saved;
}

namespace {
COLD void refuse_thread(PlanThread* pt, const char* sig) {
  pt->state = TS_OFF;
  char why[512];
  char* end = why + sizeof why - 1;
  char* p = put_str(why, end, "signature mismatch on thread ");
  p = put_u64(p, end, pt->tid);
  if (g_np == 1) {
    p = put_str(p, end, ": the plan was made for ");
    p = put_str(p, end, g_plans[0].sig);
  } else {
    p = put_u64(put_str(p, end, ": none of the set's "), end, g_np);
    p = put_str(p, end, " plans fitted");
  }
  p = put_str(p, end, ", the last of ");
  p = put_u64(p, end, pt->observed);
  p = put_str(p, end, " iterations observed is ");
  p = put_str(p, end, sig);
  p = put_u64(put_str(p, end, " (it matched "), end, pt->obs_hits);
  p = put_u64(put_str(p, end, " of its "), end, pt->count);
  *put_str(p, end, " allocations)") = 0;
  announce_refusal(MP_PLAN_REFUSAL_SIGNATURE, why);
  uint32_t st = MP_PLAN_STATUS_LOADED;
  __atomic_compare_exchange_n(&g_status, &st, MP_PLAN_STATUS_REFUSED, false, __ATOMIC_RELAXED,
                              __ATOMIC_RELAXED);
}
}  // namespace

bool plan_end(IterResult* r) {
  PlanThread* pt = (PlanThread*)t_plan;
  if (!pt || phase_slot(pt) == PH_NONE) return false;
  int saved = errno;
  uint32_t phase = phase_slot(pt);
  phase_slot(pt) = PH_NONE;  // nothing more is served from here on
  __atomic_signal_fence(__ATOMIC_SEQ_CST);
  memset(r, 0, sizeof *r);
  if (phase == PH_OBSERVE) {
    const Plan* pl = pt->p;
    char sig[65];
    format_sig(sig, pt->count, pt->hashA, pt->hashB);
    // The pattern is the plan's when the signatures are equal, or when the dry run found
    // nearly every arena entry of the plan, by count and by bytes, and nearly every allocation
    // of the iteration was one of the plan's (a run with a few allocations more or fewer than
    // its recording): serve it from the next iteration that selects it.
    bool fits = pl && (strcmp(sig, pl->sig) == 0 ||
                       (pl->arena_entries > 0 &&
                        pt->obs_arena * 20 >= pl->arena_entries * kAcceptTwentieths &&
                        pt->obs_arena_bytes * 20 >= pl->arena_entry_bytes * kAcceptTwentieths &&
                        pt->obs_hits * 20 >= pt->count * kAcceptRunTwentieths));
    if (!pl && g_np > 1) {
      r->unplanned = 1;
      __atomic_fetch_add(&g_unplanned, 1, __ATOMIC_RELAXED);
    }
    if (fits) {
      pt->accepted[pl->index] = 1;
      pt->any_accepted = 1;
      pt->state = TS_SERVING;
      __atomic_store_n(&g_status, MP_PLAN_STATUS_SERVING, __ATOMIC_RELAXED);
    } else if (!pt->any_accepted && ++pt->observed >= kObserveMax) {
      refuse_thread(pt, sig);
    }
    errno = saved;
    return true;
  }
  // served iteration
  const Plan* pl = pt->p;
  uint64_t c = pt->cursor;
  r->hits = c - pt->sub_n;
  r->misses = pt->misses;
  r->hit_bytes = pl->psize[c] - pt->sub_bytes;
  r->miss_bytes = pt->miss_bytes;
  r->passthrough = pl->ppass[c] - pt->sub_pass;
  r->served = 1;
  r->plan_index = pl->index;
  Plan* counted = &g_plans[pl->index];
  if (__atomic_fetch_add(&counted->served_iters, 1, __ATOMIC_RELAXED) == 0) {
    r->new_signature = 1;
    __atomic_fetch_add(&g_sigs_served, 1, __ATOMIC_RELAXED);
  }
  if (r->hits) __atomic_fetch_add(&counted->hits, r->hits, __ATOMIC_RELAXED);
  if (r->misses) __atomic_fetch_add(&counted->misses, r->misses, __ATOMIC_RELAXED);
  if (Arena* a = pt->arena) {
    // any live block? owner[] OR-reduced 8 bytes at a time (its length is even)
    typedef uint64_t __attribute__((may_alias)) u64a;
    const u64a* w = (const u64a*)a->owner;
    uint64_t nw = ((uint64_t)pl->nb + 1) / 2, acc0 = 0, acc1 = 0, x = 0;
    for (; x + 2 <= nw; x += 2) {
      acc0 |= __atomic_load_n(&w[x], __ATOMIC_RELAXED);
      acc1 |= __atomic_load_n(&w[x + 1], __ATOMIC_RELAXED);
    }
    if (x < nw) acc0 |= __atomic_load_n(&w[x], __ATOMIC_RELAXED);
    bool live = (acc0 | acc1) != 0;
    if (live) {  // a planned buffer outlived its iteration: never reuse this arena
      release_idle_pages(a);  // but keep only the pages of what is still live
      pt->arena = nullptr;
      pt->retirements++;
      r->retirements = 1;
      if (pt->retirements >= kMaxRetirements) {
        pt->state = TS_OFF;
        char msg[1536];
        char* end = msg + sizeof msg - 1;
        char* p = put_str(msg, end, "plan ");
        p = put_str(p, end, g_path);
        p = put_str(p, end, ": thread ");
        p = put_u64(p, end, pt->tid);
        *put_str(p, end, " retired 3 arenas (planned buffers outlived their iteration); "
                         "this thread stops planning") = 0;
        say("memoplan: ", msg, "");
        set_refusal(MP_PLAN_REFUSAL_RETIRED, msg);
      }
    }
  }
  r->arena_bytes = pt->new_arena_bytes;
  pt->new_arena_bytes = 0;
  uint64_t v[8] = {r->hits, r->misses, r->hit_bytes, r->miss_bytes, r->arena_bytes,
                   r->served, r->retirements, r->passthrough};
  for (int i = 0; i < 8; i++)
    if (v[i]) __atomic_fetch_add(&g_tot[i], v[i], __ATOMIC_RELAXED);
  errno = saved;
  return true;
}

uint32_t plan_status() { return __atomic_load_n(&g_status, __ATOMIC_RELAXED); }
uint32_t plan_refusal_code() { return __atomic_load_n(&g_refusal_code, __ATOMIC_RELAXED); }
void plan_counters(uint64_t out[8]) {
  for (int i = 0; i < 8; i++) out[i] = __atomic_load_n(&g_tot[i], __ATOMIC_RELAXED);
}

void plan_write_stats() {
  if (g_stats_off || !__atomic_load_n(&g_iter_seen, __ATOMIC_RELAXED)) return;
  const char* path = getenv("MEMOPLAN_PLAN_STATS");
  if (!path || !*path) return;
  int saved = errno;
  static char buf[256 * 160 + 2048];  // at exit, one thread: static is fine
  char* end = buf + sizeof buf - 16;
  static const char* const keys[8] = {"hits", "misses", "hit_bytes", "miss_bytes",
                                      "arena_bytes", "iterations_served", "retirements",
                                      "passthrough"};
  uint64_t t[8];
  plan_counters(t);
  char* p = put_u64(put_str(buf, end, "{\"status\":"), end, plan_status());
  for (int i = 0; i < 8; i++) {
    p = put_str(p, end, ",\"");
    p = put_str(p, end, keys[i]);
    p = put_str(p, end, "\":");
    p = put_u64(p, end, t[i]);
  }
  p = put_u64(put_str(p, end, ",\"signatures_served\":"), end,
              __atomic_load_n(&g_sigs_served, __ATOMIC_RELAXED));
  p = put_u64(put_str(p, end, ",\"iterations_unplanned\":"), end,
              __atomic_load_n(&g_unplanned, __ATOMIC_RELAXED));
  p = put_str(p, end, ",\"signatures\":[");
  for (uint32_t i = 0; i < g_np && p < end - 200; i++) {
    const Plan& pl = g_plans[i];
    p = put_str(p, end, i ? ",{\"signature\":\"" : "{\"signature\":\"");
    p = put_str(p, end, pl.sig);  // hex digits and '-'
    p = put_u64(put_str(p, end, "\",\"iterations_served\":"), end,
                __atomic_load_n(&pl.served_iters, __ATOMIC_RELAXED));
    p = put_u64(put_str(p, end, ",\"hits\":"), end, __atomic_load_n(&pl.hits, __ATOMIC_RELAXED));
    p = put_u64(put_str(p, end, ",\"misses\":"), end, __atomic_load_n(&pl.misses, __ATOMIC_RELAXED));
    p = put_str(p, end, "}");
  }
  p = put_str(p, end, "]");
  p = put_str(p, end, ",\"refusal\":\"");
  for (const char* s = g_refusal; *s && p < end - 8; s++) {
    unsigned char c = (unsigned char)*s;
    if (c == '"' || c == '\\') { *p++ = '\\'; *p++ = (char)c; }
    else if (c < 0x20 || c == 0x7f) { p = put_str(p, end, "\\u00"); p = put_hex(p, end, c, 2); }
    else *p++ = (char)c;
  }
  p = put_str(p, buf + sizeof buf, "\"}\n");
  int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd >= 0) {
    ssize_t w = write(fd, buf, (size_t)(p - buf));
    (void)w;
    close(fd);
  }
  errno = saved;
}

}  // namespace mp
