/* trace-format.h: the trace file layout (docs/TRACE_FORMAT.md), version 1. The one native
 * definition of it: the interposer writes it (native/interposer), memoplan-ingest reads it and
 * writes the reader's fields (native/ingest: released, chunks_used and the copies), trace_dump
 * checks it (native/tests), and build/native/layouts prints it as JSON, which
 * test/native/layouts.test.ts compares with the TypeScript reader's constants. The prose
 * (what each field means, who writes it when) is docs/TRACE_FORMAT.md; the numbers are here,
 * and the static asserts below pin them to the offsets that document shows.
 *
 * C (gnu11) and C++ (17) alike. All integers little-endian (x86-64 only). */
#ifndef MP_TRACE_FORMAT_H
#define MP_TRACE_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#ifndef MP_STATIC_ASSERT
#ifdef __cplusplus
#define MP_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define MP_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif
#endif

/* ------------------------------------------------------------------ geometry --- */
#define MP_TRACE_MAGIC "MPTRACE"           /* 8 bytes with its NUL (sizeof) */
#define MP_TRACE_VERSION 1u
#define MP_TRACE_RECORD_SIZE 32u
#define MP_TRACE_CHUNK_SIZE (1u << 20)      /* what the interposer writes; readers take the header's */
#define MP_TRACE_HEADER_BYTES 4096u         /* chunk 0's first page: the header and its reserved bytes */
#define MP_TRACE_CHUNK_MAGIC 0x4b43504du    /* "MPCK" */
#define MP_TRACE_CHUNK_HEADER_SIZE 32u      /* records follow it */
/* Record slots of a chunk: the chunk header takes the first slot's room (32767). */
#define MP_TRACE_CHUNK_SLOTS (MP_TRACE_CHUNK_SIZE / MP_TRACE_RECORD_SIZE - 1)

/* ------------------------------------------------------------ header (chunk 0) --- */
/* header flags */
#define MP_TRACE_CLEAN_EXIT 1u   /* bit0: clean exit (or detach): the counters are final */
#define MP_TRACE_FORK_CHILD 2u   /* bit1: a fork child (ppid: the traced parent) */
#define MP_TRACE_STOPPED 4u      /* bit2: recording stopped early on an error (ENOSPC, ...) */
#define MP_TRACE_ATTACHED 8u     /* bit3: attached (memoplan attach): began after the process */

/* Plan-mode counters at header offset 88 (zero unless MEMOPLAN_PLAN is set). hits through
 * retirements are 7 consecutive u64 (the interposer adds them as an array). */
struct mp_trace_plan_counters {
  uint64_t hits, misses, hit_bytes, miss_bytes, arena_bytes, iterations_served, retirements;
  uint32_t status;   /* MP_PLAN_STATUS_* */
  uint32_t refusal;  /* MP_PLAN_REFUSAL_*: the first refusal, 0 none */
  uint64_t passthrough, signatures_served, iterations_unplanned;
};

struct mp_trace_header {
  char magic[8];  /* MP_TRACE_MAGIC, stored last */
  uint32_t version, record_size, chunk_size, pid, ppid, flags;
  uint64_t start_ns, start_realtime_ns;
  uint64_t chunks_used;  /* atomic; includes chunk 0; the ingest adds its copies too */
  uint64_t events_written, markers_written, names_written, threads_seen;
  struct mp_trace_plan_counters plan;
  uint64_t chunks_reused;   /* chunks written again after a reader handed them back */
  uint32_t chunks_filled;   /* futex word: +1 (and a wake) whenever a thread's chunk is full */
  uint32_t spill_waiting;   /* non-zero while memoplan-ingest's spill thread waits on it */
  /* 192 .. MP_TRACE_HEADER_BYTES - 1: reserved, zero */
};

/* plan_status values (also memoplan_plan_status() and MEMOPLAN_PLAN_STATS "status") */
#define MP_PLAN_STATUS_NONE 0u
#define MP_PLAN_STATUS_LOADED 1u    /* loaded, observing */
#define MP_PLAN_STATUS_SERVING 2u
#define MP_PLAN_STATUS_REFUSED 3u

/* plan_refusal codes (docs/TRACE_FORMAT.md "Header"); 11 and 12 leave the status as it is */
#define MP_PLAN_REFUSAL_NONE 0u
#define MP_PLAN_REFUSAL_OPEN 1u       /* cannot open or map the file */
#define MP_PLAN_REFUSAL_MAGIC 2u      /* not a plan file */
#define MP_PLAN_REFUSAL_VERSION 3u    /* version or header_size */
#define MP_PLAN_REFUSAL_SIZE 4u       /* truncated or padded */
#define MP_PLAN_REFUSAL_CHECKSUM 5u
#define MP_PLAN_REFUSAL_ENTRY 6u      /* an entry outside the arena, misaligned, unknown flags */
#define MP_PLAN_REFUSAL_HEADER 7u     /* signature malformed or its count, arena > 1 TiB */
#define MP_PLAN_REFUSAL_COMPLEX 8u    /* too complex to verify at load */
#define MP_PLAN_REFUSAL_RESERVE 9u    /* cannot reserve address space */
#define MP_PLAN_REFUSAL_SIGNATURE 10u /* a thread observed 20 iterations without a match */
#define MP_PLAN_REFUSAL_ARENA_MAP 11u /* an arena could not be mapped for a thread */
#define MP_PLAN_REFUSAL_RETIRED 12u   /* a thread retired 3 arenas and stopped planning */

/* ------------------------------------------------------- chunk header (chunks 1..) --- */
/* chunk flags */
#define MP_TRACE_CHUNK_KEPT 1u    /* bit0: the writer keeps it mapped and writes it again once released */
#define MP_TRACE_CHUNK_CLOSED 2u  /* bit1: left with free slots (thread exit); no record follows */
#define MP_TRACE_CHUNK_COPY 4u    /* bit2: a copy made by the ingest ("Copies") */

struct mp_trace_chunk_header {
  uint32_t tid;           /* gettid */
  uint32_t thread_index;  /* 1-based, order of first event */
  union {
    /* chunk_seq | gen << 32, stored as one word: no reader sees a new chunk_seq with an old gen */
    uint64_t seq_gen;
    struct {
      uint32_t chunk_seq;  /* 0-based among the thread's chunks */
      uint32_t gen;        /* times the chunk was written again */
    };
  };
  uint64_t released;  /* written by the reader: gen + 1 once generation gen is stored */
  uint32_t magic;     /* MP_TRACE_CHUNK_MAGIC, stored last (release) */
  uint32_t flags;     /* MP_TRACE_CHUNK_* */
};

/* ---------------------------------------------------------------------- record --- */
/* record flags */
#define MP_TRACE_REC_FAILED 1u     /* bit0: the call failed */
#define MP_TRACE_REC_AGENT 2u      /* bit1: made inside the agent's own code */
#define MP_TRACE_REC_GEN 0x8000u   /* bit15: parity of the chunk's gen; readers clear it */

struct mp_trace_record {
  uint64_t ts_ns;  /* CLOCK_MONOTONIC */
  uint64_t addr;
  uint64_t size;
  union {
    /* bytes 24..31 as one word: its release store commits the record (MP_TRACE_TAIL) */
    uint64_t tail;
    struct {
      uint32_t scope;      /* innermost scope id (a names id), 0 none */
      uint8_t kind;        /* MP_KIND_*; never 0 in a committed record */
      uint8_t align_log2;  /* requested alignment, 0 default */
      uint16_t flags;      /* MP_TRACE_REC_* */
    };
  };
};

/* The tail word of a record (little-endian: scope at 24, kind 28, align_log2 29, flags 30). */
#define MP_TRACE_TAIL(scope, kind, align_log2, flags)                          \
  ((uint64_t)(scope) | (uint64_t)(kind) << 32 | (uint64_t)(align_log2) << 40 | \
   (uint64_t)(flags) << 48)

/* Committed: the kind byte is set and flags bit15 is the parity of the chunk's gen. */
static inline int mp_trace_committed(const unsigned char *rec, uint32_t gen) {
  return rec[offsetof(struct mp_trace_record, kind)] != 0 &&
         (uint32_t)(rec[offsetof(struct mp_trace_record, flags) + 1] >> 7) == (gen & 1);
}

/* ----------------------------------------------------------------------- kinds --- */
enum mp_trace_kind {
  /* allocation family (counted in events_written) */
  MP_KIND_MALLOC = 1,
  MP_KIND_CALLOC = 2,
  MP_KIND_REALLOC = 3,
  MP_KIND_FREE = 4,
  MP_KIND_REALLOC_FREE = 5,
  MP_KIND_POSIX_MEMALIGN = 6,
  MP_KIND_ALIGNED_ALLOC = 7,
  MP_KIND_MEMALIGN = 8,
  MP_KIND_VALLOC = 9,
  MP_KIND_PVALLOC = 10,
  MP_KIND_REALLOCARRAY = 11,
  MP_KIND_REALLOC_FAILED = 12,
  /* markers (counted in markers_written): every kind from MP_KIND_FIRST_MARKER on */
  MP_KIND_FIRST_MARKER = 32,
  MP_KIND_ITER_BEGIN = 32,
  MP_KIND_ITER_END = 33,
  MP_KIND_THREAD_EXIT = 34,
  MP_KIND_FORK = 35,
  MP_KIND_PLAN_ITER = 36
};

/* Kinds that hand a new block to the program (when the call did not fail). */
static inline int mp_kind_is_alloc(unsigned k) { return (k >= 1 && k <= 3) || (k >= 6 && k <= 11); }
static inline int mp_kind_is_marker(unsigned k) { return k >= MP_KIND_FIRST_MARKER; }

/* ------------------------------------------------------------------ names file --- */
/* .names: records of this header followed by len bytes of UTF-8 (no terminator). */
struct mp_trace_name_record {
  uint32_t id;
  uint32_t len;
};

/* ------------------------------------------------ the offsets docs/TRACE_FORMAT.md shows --- */
#define MP_TRACE_OFF(field) offsetof(struct mp_trace_header, field)
#define MP_CHUNK_OFF(field) offsetof(struct mp_trace_chunk_header, field)
#define MP_REC_OFF(field) offsetof(struct mp_trace_record, field)

MP_STATIC_ASSERT(sizeof(MP_TRACE_MAGIC) == 8, "trace magic: 8 bytes");
MP_STATIC_ASSERT(MP_TRACE_OFF(magic) == 0 && MP_TRACE_OFF(version) == 8 && MP_TRACE_OFF(record_size) == 12 &&
                     MP_TRACE_OFF(chunk_size) == 16 && MP_TRACE_OFF(pid) == 20 && MP_TRACE_OFF(ppid) == 24 &&
                     MP_TRACE_OFF(flags) == 28,
                 "trace header: identity");
MP_STATIC_ASSERT(MP_TRACE_OFF(start_ns) == 32 && MP_TRACE_OFF(start_realtime_ns) == 40 &&
                     MP_TRACE_OFF(chunks_used) == 48 && MP_TRACE_OFF(events_written) == 56 &&
                     MP_TRACE_OFF(markers_written) == 64 && MP_TRACE_OFF(names_written) == 72 &&
                     MP_TRACE_OFF(threads_seen) == 80,
                 "trace header: counters");
MP_STATIC_ASSERT(MP_TRACE_OFF(plan) == 88 && sizeof(struct mp_trace_plan_counters) == 88 &&
                     MP_TRACE_OFF(plan.hits) == 88 && MP_TRACE_OFF(plan.misses) == 96 &&
                     MP_TRACE_OFF(plan.hit_bytes) == 104 && MP_TRACE_OFF(plan.miss_bytes) == 112 &&
                     MP_TRACE_OFF(plan.arena_bytes) == 120 && MP_TRACE_OFF(plan.iterations_served) == 128 &&
                     MP_TRACE_OFF(plan.retirements) == 136 && MP_TRACE_OFF(plan.status) == 144 &&
                     MP_TRACE_OFF(plan.refusal) == 148 && MP_TRACE_OFF(plan.passthrough) == 152 &&
                     MP_TRACE_OFF(plan.signatures_served) == 160 &&
                     MP_TRACE_OFF(plan.iterations_unplanned) == 168,
                 "trace header: plan counters");
MP_STATIC_ASSERT(MP_TRACE_OFF(chunks_reused) == 176 && MP_TRACE_OFF(chunks_filled) == 184 &&
                     MP_TRACE_OFF(spill_waiting) == 188 && sizeof(struct mp_trace_header) == 192 &&
                     sizeof(struct mp_trace_header) <= MP_TRACE_HEADER_BYTES,
                 "trace header: reuse and spill words");
MP_STATIC_ASSERT(MP_CHUNK_OFF(tid) == 0 && MP_CHUNK_OFF(thread_index) == 4 && MP_CHUNK_OFF(seq_gen) == 8 &&
                     MP_CHUNK_OFF(chunk_seq) == 8 && MP_CHUNK_OFF(gen) == 12 && MP_CHUNK_OFF(released) == 16 &&
                     MP_CHUNK_OFF(magic) == 24 && MP_CHUNK_OFF(flags) == 28 &&
                     sizeof(struct mp_trace_chunk_header) == MP_TRACE_CHUNK_HEADER_SIZE &&
                     MP_TRACE_CHUNK_HEADER_SIZE == MP_TRACE_RECORD_SIZE,
                 "chunk header layout");
MP_STATIC_ASSERT(MP_REC_OFF(ts_ns) == 0 && MP_REC_OFF(addr) == 8 && MP_REC_OFF(size) == 16 &&
                     MP_REC_OFF(tail) == 24 && MP_REC_OFF(scope) == 24 && MP_REC_OFF(kind) == 28 &&
                     MP_REC_OFF(align_log2) == 29 && MP_REC_OFF(flags) == 30 &&
                     sizeof(struct mp_trace_record) == MP_TRACE_RECORD_SIZE,
                 "record layout");
MP_STATIC_ASSERT(MP_TRACE_CHUNK_SLOTS == 32767, "slots per chunk");
MP_STATIC_ASSERT(sizeof(struct mp_trace_name_record) == 8, "names record header");

#endif
