/* layouts: prints every constant, offset and size of native/include/trace-format.h and
 * plan-format.h as one JSON object, for test/native/layouts.test.ts, which compares them with
 * the constants the TypeScript side reads and writes these files with
 * (main/record/trace-format.ts, main/plan/plan-file.ts, shared/trace-kinds.ts; the test
 * helpers' trace writer takes trace-format.ts's). Built as C, so it also checks that the
 * headers compile as C (the interposer and the ingester compile them as C++). No arguments. */
#include <stdio.h>

#include "plan-format.h"
#include "trace-format.h"

static int first;
static void open_obj(const char *name) {
  printf("%s\"%s\":{", first ? "" : ",", name);
  first = 1;
}
static void close_obj(void) {
  printf("}");
  first = 0;
}
static void num(const char *name, unsigned long long v) {
  printf("%s\"%s\":%llu", first ? "" : ",", name, v);
  first = 0;
}
/* An 8-byte magic, its NUL included, as a JSON string. */
static void magic(const char *name, const char *m, size_t n) {
  printf("%s\"%s\":\"", first ? "" : ",", name);
  for (size_t i = 0; i < n; i++) {
    unsigned char c = (unsigned char)m[i];
    if (c >= 0x20 && c < 0x7f && c != '"' && c != '\\') putchar(c);
    else printf("\\u%04x", c);
  }
  putchar('"');
  first = 0;
}

#define TH(f) num(#f, MP_TRACE_OFF(f))
#define TP(f) num("plan_" #f, MP_TRACE_OFF(plan.f))
#define CH(f) num(#f, MP_CHUNK_OFF(f))
#define RE(f) num(#f, MP_REC_OFF(f))
#define PH(f) num(#f, MP_PLAN_OFF(f))
#define PE(f) num(#f, MP_PLAN_ENTRY_OFF(f))
#define PS(f) num(#f, MP_PLAN_SET_OFF(f))
#define PD(f) num(#f, MP_PLAN_DIR_OFF(f))

int main(void) {
  printf("{");
  first = 1;
  open_obj("trace");
  magic("magic", MP_TRACE_MAGIC, sizeof MP_TRACE_MAGIC);
  num("version", MP_TRACE_VERSION);
  num("record_size", MP_TRACE_RECORD_SIZE);
  num("chunk_size", MP_TRACE_CHUNK_SIZE);
  num("header_bytes", MP_TRACE_HEADER_BYTES);
  num("chunk_magic", MP_TRACE_CHUNK_MAGIC);
  num("chunk_header_size", MP_TRACE_CHUNK_HEADER_SIZE);
  num("chunk_slots", MP_TRACE_CHUNK_SLOTS);

  open_obj("header");  /* offsets in the header (chunk 0) */
  TH(magic); TH(version); TH(record_size); TH(chunk_size); TH(pid); TH(ppid); TH(flags);
  TH(start_ns); TH(start_realtime_ns); TH(chunks_used); TH(events_written); TH(markers_written);
  TH(names_written); TH(threads_seen);
  TP(hits); TP(misses); TP(hit_bytes); TP(miss_bytes); TP(arena_bytes); TP(iterations_served);
  TP(retirements); TP(status); TP(refusal); TP(passthrough); TP(signatures_served);
  TP(iterations_unplanned);
  TH(chunks_reused); TH(chunks_filled); TH(spill_waiting);
  num("bytes", sizeof(struct mp_trace_header));
  close_obj();

  open_obj("header_flags");
  num("clean_exit", MP_TRACE_CLEAN_EXIT);
  num("fork_child", MP_TRACE_FORK_CHILD);
  num("stopped", MP_TRACE_STOPPED);
  num("attached", MP_TRACE_ATTACHED);
  close_obj();

  open_obj("chunk_header");
  CH(tid); CH(thread_index); CH(chunk_seq); CH(gen); CH(released); CH(magic); CH(flags);
  num("bytes", sizeof(struct mp_trace_chunk_header));
  close_obj();

  open_obj("chunk_flags");
  num("kept", MP_TRACE_CHUNK_KEPT);
  num("closed", MP_TRACE_CHUNK_CLOSED);
  num("copy", MP_TRACE_CHUNK_COPY);
  close_obj();

  open_obj("record");
  RE(ts_ns); RE(addr); RE(size); RE(scope); RE(kind); RE(align_log2); RE(flags);
  num("bytes", sizeof(struct mp_trace_record));
  close_obj();

  open_obj("record_flags");
  num("failed", MP_TRACE_REC_FAILED);
  num("agent", MP_TRACE_REC_AGENT);
  num("gen", MP_TRACE_REC_GEN);
  close_obj();

  open_obj("kinds");
  num("malloc", MP_KIND_MALLOC);
  num("calloc", MP_KIND_CALLOC);
  num("realloc", MP_KIND_REALLOC);
  num("free", MP_KIND_FREE);
  num("realloc_free", MP_KIND_REALLOC_FREE);
  num("posix_memalign", MP_KIND_POSIX_MEMALIGN);
  num("aligned_alloc", MP_KIND_ALIGNED_ALLOC);
  num("memalign", MP_KIND_MEMALIGN);
  num("valloc", MP_KIND_VALLOC);
  num("pvalloc", MP_KIND_PVALLOC);
  num("reallocarray", MP_KIND_REALLOCARRAY);
  num("realloc_failed", MP_KIND_REALLOC_FAILED);
  num("iter_begin", MP_KIND_ITER_BEGIN);
  num("iter_end", MP_KIND_ITER_END);
  num("thread_exit", MP_KIND_THREAD_EXIT);
  num("fork", MP_KIND_FORK);
  num("plan_iter", MP_KIND_PLAN_ITER);
  close_obj();
  num("first_marker_kind", MP_KIND_FIRST_MARKER);
  {
    /* which kinds of 0..255 hand out a block (the ingesters pair them with frees) */
    printf(",\"alloc_kinds\":[");
    int n = 0;
    for (unsigned k = 0; k < 256; k++)
      if (mp_kind_is_alloc(k)) printf("%s%u", n++ ? "," : "", k);
    printf("]");
  }

  open_obj("name_record");
  num("id", offsetof(struct mp_trace_name_record, id));
  num("len", offsetof(struct mp_trace_name_record, len));
  num("bytes", sizeof(struct mp_trace_name_record));
  close_obj();

  open_obj("plan_status");
  num("none", MP_PLAN_STATUS_NONE);
  num("loaded", MP_PLAN_STATUS_LOADED);
  num("serving", MP_PLAN_STATUS_SERVING);
  num("refused", MP_PLAN_STATUS_REFUSED);
  close_obj();
  close_obj();  /* trace */

  open_obj("plan");
  magic("magic", MP_PLAN_MAGIC, sizeof MP_PLAN_MAGIC);
  num("version_agent_mode", MP_PLAN_VERSION_AGENT_MODE);
  num("version", MP_PLAN_VERSION);
  num("set_version", MP_PLAN_SET_VERSION);
  num("header_size", MP_PLAN_HEADER_SIZE);
  num("entry_size", MP_PLAN_ENTRY_SIZE);
  num("signature_bytes", MP_PLAN_SIGNATURE_BYTES);
  num("set_dir_size", MP_PLAN_SET_DIR_SIZE);
  num("set_max_plans", MP_PLAN_SET_MAX_PLANS);
  num("fnv_basis", MP_PLAN_FNV_BASIS);
  num("fnv_prime", MP_PLAN_FNV_PRIME);
  num("entry_planned", MP_PLAN_ENTRY_PLANNED);

  open_obj("header");
  PH(magic); PH(version); PH(header_size); PH(entry_count); PH(arena_bytes); PH(total_bytes);
  PH(checksum); PH(flags); PH(signature); PH(plan_id); PH(size_floor);
  num("bytes", sizeof(struct mp_plan_header));
  close_obj();

  open_obj("entry");
  PE(offset); PE(size); PE(align); PE(flags);
  num("bytes", sizeof(struct mp_plan_entry));
  close_obj();

  open_obj("set_header");
  PS(magic); PS(version); PS(header_size); PS(plan_count); PS(set_id); PS(size_floor);
  PS(checksum); PS(flags); PS(reserved);
  num("bytes", sizeof(struct mp_plan_set_header));
  close_obj();

  open_obj("set_dir");
  PD(offset); PD(length); PD(key); PD(seen);
  num("bytes", sizeof(struct mp_plan_set_dir));
  close_obj();
  close_obj();  /* plan */
  printf("}\n");
  return 0;
}
