/* trace_dump: minimal reader/validator of memoplan trace files (version 1),
 * for the native tests. Usage:
 *   trace_dump [--size N] [--quiet] FILE.mpt
 * Prints key=value lines (header fields, per-kind counts, committed records),
 * validates the format invariants, and exits 1 if any check failed.
 *   --size N   also count mallocs of exactly N bytes (size_mallocs) and frees,
 *              on the same thread, of addresses those mallocs returned
 *              (size_frees).
 * Checks: header magic/version/sizes; every chunk: magic, committed prefix
 * (after it at most one partly written slot, then zeros); per thread: chunk
 * seqs contiguous, timestamps non-decreasing; every realloc_free is followed,
 * on its thread, by realloc/reallocarray/realloc_failed; realloc_failed names
 * the block of the preceding realloc_free; with flags bit0 the header counters
 * equal the committed records; names file well formed and names_written
 * matches. */
#define _GNU_SOURCE
#include <fcntl.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "trace-format.h"

#define CHUNK MP_TRACE_CHUNK_SIZE
#define SLOTS MP_TRACE_CHUNK_SLOTS
#define RS MP_TRACE_RECORD_SIZE
#define CH MP_TRACE_CHUNK_HEADER_SIZE

struct rec { uint64_t ts, addr, size; uint32_t scope; uint8_t kind, align; uint16_t flags; };
struct chunk { uint32_t tid, index, seq; uint64_t off; uint32_t committed; };

static int errors;
#define ERR(...) do { if (errors++ < 20) { fprintf(stderr, "ERROR: " __VA_ARGS__); fputc('\n', stderr); } } while (0)

static const char *kind_name(int k) {
  switch (k) {
    case MP_KIND_MALLOC: return "malloc";
    case MP_KIND_CALLOC: return "calloc";
    case MP_KIND_REALLOC: return "realloc";
    case MP_KIND_FREE: return "free";
    case MP_KIND_REALLOC_FREE: return "realloc_free";
    case MP_KIND_POSIX_MEMALIGN: return "posix_memalign";
    case MP_KIND_ALIGNED_ALLOC: return "aligned_alloc";
    case MP_KIND_MEMALIGN: return "memalign";
    case MP_KIND_VALLOC: return "valloc";
    case MP_KIND_PVALLOC: return "pvalloc";
    case MP_KIND_REALLOCARRAY: return "reallocarray";
    case MP_KIND_REALLOC_FAILED: return "realloc_failed";
    case MP_KIND_ITER_BEGIN: return "iter_begin";
    case MP_KIND_ITER_END: return "iter_end";
    case MP_KIND_THREAD_EXIT: return "thread_exit";
    case MP_KIND_FORK: return "fork";
    case MP_KIND_PLAN_ITER: return "plan_iter";
  }
  return NULL;
}

static int cmp_chunk(const void *a, const void *b) {
  const struct chunk *x = a, *y = b;
  if (x->index != y->index) return x->index < y->index ? -1 : 1;
  return x->seq < y->seq ? -1 : x->seq > y->seq;
}

/* tiny open-addressing set of addresses */
static uint64_t *set; static size_t set_cap, set_n;
static void set_clear(void) { memset(set, 0, set_cap * 8); set_n = 0; }
static size_t set_slot(uint64_t a) {
  size_t i = (size_t)((a * 0x9E3779B97F4A7C15ull) >> 20) & (set_cap - 1);
  while (set[i] && set[i] != a) i = (i + 1) & (set_cap - 1);
  return i;
}
static void set_add(uint64_t a) {
  if (!a) return;
  if ((set_n + 1) * 2 > set_cap) {
    uint64_t *old = set; size_t oc = set_cap;
    set_cap = oc ? oc * 2 : 1024; set = calloc(set_cap, 8); set_n = 0;
    for (size_t i = 0; i < oc; i++) if (old[i]) { set[set_slot(old[i])] = old[i]; set_n++; }
    free(old);
  }
  size_t i = set_slot(a);
  if (!set[i]) { set[i] = a; set_n++; }
}
static int set_del(uint64_t a) {
  if (!set_cap || !a) return 0;
  size_t i = set_slot(a);
  if (!set[i]) return 0;
  /* backward-shift deletion */
  set[i] = 0; set_n--;
  size_t j = i;
  for (;;) {
    j = (j + 1) & (set_cap - 1);
    if (!set[j]) break;
    uint64_t v = set[j]; set[j] = 0; set_n--;
    set[set_slot(v)] = v; set_n++;
  }
  return 1;
}

static void read_rec(const unsigned char *p, struct rec *r) {
  struct mp_trace_record t;
  memcpy(&t, p, sizeof t);
  r->ts = t.ts_ns; r->addr = t.addr; r->size = t.size;
  r->scope = t.scope; r->kind = t.kind; r->align = t.align_log2;
  r->flags = t.flags & (uint16_t)~MP_TRACE_REC_GEN;
}

static int all_zero(const unsigned char *p, size_t n) {
  for (size_t i = 0; i < n; i++) if (p[i]) return 0;
  return 1;
}

static void check_names(const char *mpt, uint64_t names_written) {
  char path[4096];
  size_t l = strlen(mpt);
  if (l < 4 || l + 8 > sizeof path) return;
  memcpy(path, mpt, l - 4); strcpy(path + l - 4, ".names");
  FILE *f = fopen(path, "rb");
  if (!f) { ERR("names file %s missing", path); return; }
  uint64_t count = 0; struct mp_trace_name_record hdr;
  while (fread(&hdr, sizeof hdr, 1, f) == 1) {
    if (hdr.id == 0) ERR("name id 0");
    if (fseek(f, hdr.len, SEEK_CUR) != 0) { ERR("truncated name"); break; }
    count++;
  }
  long pos = ftell(f);
  fseek(f, 0, SEEK_END);
  if (ftell(f) != pos) ERR("names file has a partial record");
  fclose(f);
  printf("names_records=%" PRIu64 "\n", count);
  if (count != names_written) ERR("names_written %" PRIu64 " != names records %" PRIu64, names_written, count);
}

int main(int argc, char **argv) {
  long long want_size = -1;
  int quiet = 0;
  const char *path = NULL;
  for (int i = 1; i < argc; i++) {
    if (!strcmp(argv[i], "--size") && i + 1 < argc) want_size = atoll(argv[++i]);
    else if (!strcmp(argv[i], "--quiet")) quiet = 1;
    else path = argv[i];
  }
  if (!path) { fprintf(stderr, "usage: trace_dump [--size N] FILE.mpt\n"); return 2; }
  int fd = open(path, O_RDONLY);
  if (fd < 0) { perror(path); return 2; }
  struct stat st;
  fstat(fd, &st);
  if (st.st_size < MP_TRACE_HEADER_BYTES) { fprintf(stderr, "too small\n"); return 1; }
  const unsigned char *m = mmap(NULL, st.st_size, PROT_READ, MAP_SHARED, fd, 0);
  if (m == MAP_FAILED) { perror("mmap"); return 2; }

  struct mp_trace_header h;  /* copied out: the fields as the interposer's struct has them */
  memcpy(&h, m, sizeof h);
  uint32_t flags = h.flags;
  uint64_t chunks_used = h.chunks_used, ev_w = h.events_written, mk_w = h.markers_written;
  uint64_t nm_w = h.names_written, thr = h.threads_seen;
  if (memcmp(h.magic, MP_TRACE_MAGIC, sizeof h.magic)) ERR("bad magic");
  if (h.version != MP_TRACE_VERSION || h.record_size != RS || h.chunk_size != CHUNK)
    ERR("bad version/record_size/chunk_size");
  /* plan-mode counters, chunks written again, the spill futex words (docs/TRACE_FORMAT.md);
   * the rest reserved */
  if (!all_zero(m + sizeof h, MP_TRACE_HEADER_BYTES - sizeof h)) ERR("reserved header bytes not zero");
  {
    const struct mp_trace_plan_counters *pc = &h.plan;
    printf("plan_hits=%" PRIu64 "\nplan_misses=%" PRIu64 "\nplan_hit_bytes=%" PRIu64
           "\nplan_miss_bytes=%" PRIu64 "\nplan_arena_bytes=%" PRIu64 "\nplan_iterations_served=%" PRIu64
           "\nplan_retirements=%" PRIu64 "\n",
           pc->hits, pc->misses, pc->hit_bytes, pc->miss_bytes, pc->arena_bytes, pc->iterations_served,
           pc->retirements);
    printf("plan_status=%u\nplan_refusal=%u\nplan_passthrough=%" PRIu64 "\n", pc->status, pc->refusal,
           pc->passthrough);
    printf("plan_signatures_served=%" PRIu64 "\n", pc->signatures_served);
    printf("plan_iterations_unplanned=%" PRIu64 "\n", pc->iterations_unplanned);
  }
  printf("file=%s\nversion=%u\npid=%u\nppid=%u\nflags=%u\nstart_ns=%" PRIu64
         "\nstart_realtime_ns=%" PRIu64 "\nchunks_used=%" PRIu64 "\nevents_written=%" PRIu64
         "\nmarkers_written=%" PRIu64 "\nnames_written=%" PRIu64 "\nthreads_seen=%" PRIu64 "\n",
         path, h.version, h.pid, h.ppid, flags, h.start_ns, h.start_realtime_ns, chunks_used, ev_w, mk_w,
         nm_w, thr);

  uint64_t nchunks = (uint64_t)st.st_size / CHUNK;
  if (chunks_used < nchunks) ERR("file has more chunks than chunks_used");
  struct chunk *ch = calloc(nchunks ? nchunks : 1, sizeof *ch);
  size_t nc = 0;
  for (uint64_t c = 1; c < nchunks; c++) {
    const unsigned char *b = m + c * CHUNK;
    struct mp_trace_chunk_header chh;
    memcpy(&chh, b, sizeof chh);
    if (chh.magic != MP_TRACE_CHUNK_MAGIC) {
      /* counted but never finished (being set up, or the process died) */
      if (!all_zero(b + CH, CHUNK - CH)) ERR("chunk %" PRIu64 " without magic has records", c);
      continue;
    }
    struct chunk *k = &ch[nc++];
    k->tid = chh.tid; k->index = chh.thread_index; k->seq = chh.chunk_seq;
    k->off = c * CHUNK;
    if (k->index == 0 || k->index > thr) ERR("chunk %" PRIu64 " thread_index %u out of range", c, k->index);
    /* committed: kind != 0 and flags bit15 == parity of the chunk's gen (a reused chunk,
     * docs/TRACE_FORMAT.md "Chunk reuse", holds older records after its committed prefix) */
    uint32_t gen = chh.gen;
    uint32_t n = 0;
    while (n < SLOTS && mp_trace_committed(b + CH + (size_t)n * RS, gen)) n++;
    k->committed = n;
    /* after the prefix: at most one partly written slot (kind 0), then zeros (gen 0 only) */
    if (n < SLOTS && gen == 0) {
      const unsigned char *s = b + CH + (size_t)n * RS;
      if (!all_zero(s + MP_REC_OFF(tail), 8)) ERR("chunk %" PRIu64 " slot %u: tail set without kind", c, n);
      if (n + 1 < SLOTS && !all_zero(s + RS, (size_t)(SLOTS - n - 1) * RS))
        ERR("chunk %" PRIu64 ": data after the committed prefix (slot %u)", c, n);
    }
  }
  qsort(ch, nc, sizeof *ch, cmp_chunk);

  uint64_t kinds[256] = {0}, committed = 0, threads = 0;
  uint64_t plan_iter_hits = 0, plan_iter_misses = 0;
  uint64_t size_mallocs = 0, size_frees = 0, scoped = 0;
  uint64_t fork_pids[64]; int nfork = 0;
  for (size_t i = 0; i < nc;) {
    size_t j = i;
    uint64_t last_ts = 0;
    int pending_rf = 0; uint64_t rf_addr = 0, thread_ev = 0;
    threads++;
    if (set_cap) set_clear();
    for (; j < nc && ch[j].index == ch[i].index; j++) {
      if (ch[j].seq != (uint32_t)(j - i)) ERR("thread %u: chunk seq %u, expected %zu", ch[j].index, ch[j].seq, j - i);
      if (ch[j].tid != ch[i].tid) ERR("thread %u: tid changes", ch[j].index);
      for (uint32_t s = 0; s < ch[j].committed; s++) {
        struct rec r;
        read_rec(m + ch[j].off + CH + (size_t)s * RS, &r);
        committed++;
        kinds[r.kind]++;
        if (!kind_name(r.kind)) ERR("unknown kind %u", r.kind);
        if (r.ts < last_ts) ERR("thread %u: timestamp goes back (%" PRIu64 " < %" PRIu64 ")", ch[j].index, r.ts, last_ts);
        last_ts = r.ts;
        if (r.scope && r.kind != MP_KIND_PLAN_ITER) scoped++;  /* plan_iter: scope = plan index + 1 */
        if (r.kind == MP_KIND_THREAD_EXIT && r.size != thread_ev)
          ERR("thread %u: thread_exit says %" PRIu64 " events, counted %" PRIu64, ch[j].index, r.size, thread_ev);
        if (!mp_kind_is_marker(r.kind)) {
          thread_ev++;
          if (pending_rf) {
            if (r.kind != MP_KIND_REALLOC && r.kind != MP_KIND_REALLOCARRAY && r.kind != MP_KIND_REALLOC_FAILED)
              ERR("realloc_free not followed by realloc");
            if (r.kind == MP_KIND_REALLOC_FAILED && r.addr != rf_addr) ERR("realloc_failed addr differs from realloc_free");
            pending_rf = 0;
          } else if (r.kind == MP_KIND_REALLOC_FAILED) {
            ERR("realloc_failed without realloc_free");
          }
          if (r.kind == MP_KIND_REALLOC_FREE) { pending_rf = 1; rf_addr = r.addr; }
          if ((r.flags & MP_TRACE_REC_FAILED) && r.addr != 0 && r.kind != MP_KIND_REALLOC_FAILED)
            ERR("failed record with addr");
        }
        if (want_size >= 0) {
          if (r.kind == MP_KIND_MALLOC && r.size == (uint64_t)want_size && r.addr) { size_mallocs++; set_add(r.addr); }
          else if (r.kind == MP_KIND_FREE || r.kind == MP_KIND_REALLOC_FREE) { if (set_del(r.addr)) size_frees++; }
        }
        if (r.kind == MP_KIND_FORK && nfork < 64) fork_pids[nfork++] = r.addr;
        if (r.kind == MP_KIND_PLAN_ITER) { plan_iter_hits += r.addr; plan_iter_misses += r.size; }
      }
    }
    i = j;
  }
  uint64_t alloc_ev = 0, markers = 0;
  for (int k = 1; k < 256; k++) { if (!mp_kind_is_marker(k)) alloc_ev += kinds[k]; else markers += kinds[k]; }
  printf("chunks_present=%zu\nthreads_with_records=%" PRIu64 "\ncommitted=%" PRIu64
         "\nalloc_events=%" PRIu64 "\nmarkers=%" PRIu64 "\n", nc, threads, committed, alloc_ev, markers);
  printf("scoped_records=%" PRIu64 "\n", scoped);
  for (int k = 1; k < 256; k++)
    if (kinds[k]) printf("kind_%s=%" PRIu64 "\n", kind_name(k) ? kind_name(k) : "unknown", kinds[k]);
  if (want_size >= 0) printf("size_mallocs=%" PRIu64 "\nsize_frees=%" PRIu64 "\n", size_mallocs, size_frees);
  for (int i = 0; i < nfork; i++) printf("fork_child=%" PRIu64 "\n", fork_pids[i]);
  printf("plan_iter_hits=%" PRIu64 "\nplan_iter_misses=%" PRIu64 "\n", plan_iter_hits, plan_iter_misses);
  if (flags & MP_TRACE_CLEAN_EXIT) {
    if (ev_w != alloc_ev) ERR("events_written %" PRIu64 " != committed alloc events %" PRIu64, ev_w, alloc_ev);
    if (mk_w != markers) ERR("markers_written %" PRIu64 " != committed markers %" PRIu64, mk_w, markers);
  }
  check_names(path, nm_w);
  (void)quiet;
  printf("errors=%d\n", errors);
  return errors ? 1 : 0;
}
