/* plan_util.h: shared by plan_test.c and plan_bench.c. A synthetic
 * "iteration" (a list of allocation and free ops, tensor-like: mixed sizes,
 * nested lifetimes, a few outputs that outlive it), a small first-fit planner
 * over its lifetimes, and a writer of the plan file (docs/PLAN_FORMAT.md),
 * computing the signature the documented way. Single-threaded, plain C. */
#ifndef PLAN_UTIL_H
#define PLAN_UTIL_H
#define _GNU_SOURCE
#include <malloc.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "plan-format.h"

enum { OP_MALLOC, OP_CALLOC, OP_POSIX_MEMALIGN, OP_ALIGNED_ALLOC, OP_REALLOC_NULL,
       OP_REALLOC_LIVE, OP_MEMALIGN, OP_FREE };

typedef struct {
  int kind;      /* OP_* */
  int slot;      /* block slot written (alloc) or freed (free) */
  int src;       /* OP_REALLOC_LIVE: slot reallocated (its block ends here) */
  size_t size, align;
} Op;

#define MAX_OPS 4096
#define MAX_SLOTS 2048
typedef struct {
  Op op[MAX_OPS];
  int nops, nslots;
  int nalloc;             /* allocations (ordinals) */
  /* per ordinal, filled by plan_build */
  int ord_slot[MAX_OPS];  /* slot of the ordinal's block */
  size_t ord_size[MAX_OPS], ord_align[MAX_OPS]; /* entry align (>= 16) */
  uint32_t ord_sigalign[MAX_OPS];
  int ord_planned[MAX_OPS];
  uint64_t ord_off[MAX_OPS];
  uint64_t arena;
} Work;

static uint64_t lcg_state = 88172645463325252ull;
static uint32_t lcg(void) {
  lcg_state = lcg_state * 6364136223846793005ull + 1442695040888963407ull;
  return (uint32_t)(lcg_state >> 33);
}

/* Tensor-like size: mostly small, some mid, a few large (max_size). */
static size_t pick_size(size_t max_size) {
  uint32_t r = lcg() % 100;
  size_t s;
  if (r < 45) s = 16 + lcg() % 496;
  else if (r < 80) s = 512 + lcg() % 16384;
  else if (r < 95) s = 16384 + lcg() % 131072;
  else s = max_size / 2 + lcg() % (max_size / 2);
  return s > max_size ? max_size : s;
}

/* Builds a workload of about nalloc allocations. Every allocation is freed
 * within the iteration (stack-like plus some out-of-order), except `outputs`
 * blocks which outlive it. scale multiplies every size (a plan for batch 1
 * run at batch 4). varied = include calloc/aligned/realloc kinds. */
static void work_make(Work *w, int nalloc, size_t max_size, int outputs, int scale, int varied,
                      uint64_t seed) {
  memset(w, 0, sizeof *w);
  lcg_state = seed;
  int live[MAX_SLOTS], nlive = 0, slot = 0;
  for (int k = 0; k < nalloc; k++) {
    Op o = {OP_MALLOC, slot, -1, pick_size(max_size) * (size_t)scale, 0};
    if (varied) {
      uint32_t r = lcg() % 20;
      if (r == 0) o.kind = OP_CALLOC;
      else if (r == 1) { o.kind = OP_POSIX_MEMALIGN; o.align = 64; }
      else if (r == 2) { o.kind = OP_ALIGNED_ALLOC; o.align = 4096; o.size = (o.size + 4095) & ~(size_t)4095; }
      else if (r == 3) o.kind = OP_REALLOC_NULL;
      else if (r == 4 && nlive > 0) { o.kind = OP_REALLOC_LIVE; o.src = live[nlive - 1]; nlive--; }
      else if (r == 5) { o.kind = OP_MEMALIGN; o.align = 256; }
    }
    w->op[w->nops++] = o;
    live[nlive++] = slot++;
    /* free some: usually the most recent ones (stack-like), sometimes an older one */
    while (nlive > 3 && lcg() % 3 == 0) {
      int idx = lcg() % 4 == 0 ? (int)(lcg() % nlive) : nlive - 1;
      Op f = {OP_FREE, live[idx], -1, 0, 0};
      w->op[w->nops++] = f;
      live[idx] = live[--nlive];
    }
  }
  /* free all but `outputs` blocks (those stay live past the iteration end) */
  while (nlive > outputs) {
    Op f = {OP_FREE, live[--nlive], -1, 0, 0};
    w->op[w->nops++] = f;
  }
  w->nslots = slot;
}

static uint32_t mix32(uint32_t h, uint32_t v) { return (h ^ v) * 0x01000193u; }

static uint32_t sigalign_of(const Op *o) {
  size_t a = o->kind == OP_POSIX_MEMALIGN || o->kind == OP_ALIGNED_ALLOC || o->kind == OP_MEMALIGN
                 ? o->align : 0;
  if (a < 2) return 0;
  return 1u << (63 - __builtin_clzll(a));
}

/* Lifetimes -> first-fit offsets (by allocation order, lowest aligned gap
 * not overlapping any placed block whose lifetime overlaps). */
static void plan_build(Work *w) {
  int start[MAX_OPS], end[MAX_OPS];
  int slot_ord[MAX_SLOTS];
  for (int s = 0; s < MAX_SLOTS; s++) slot_ord[s] = -1;
  int n = 0;
  for (int i = 0; i < w->nops; i++) {
    Op *o = &w->op[i];
    if (o->kind == OP_FREE) { end[slot_ord[o->slot]] = i; continue; }
    if (o->kind == OP_REALLOC_LIVE) end[slot_ord[o->src]] = i;
    start[n] = i;
    end[n] = -1;
    w->ord_slot[n] = o->slot;
    w->ord_size[n] = o->size;
    w->ord_sigalign[n] = sigalign_of(o);
    w->ord_align[n] = w->ord_sigalign[n] < 16 ? 16 : w->ord_sigalign[n];
    slot_ord[o->slot] = n++;
  }
  w->nalloc = n;
  w->arena = 0;
  for (int k = 0; k < n; k++) {
    w->ord_planned[k] = end[k] >= 0 && w->ord_size[k] > 0;
    w->ord_off[k] = 0;
    if (!w->ord_planned[k]) continue;
    uint64_t off = 0;
    for (int again = 1; again;) {
      again = 0;
      off = (off + w->ord_align[k] - 1) & ~(uint64_t)(w->ord_align[k] - 1);
      for (int j = 0; j < k; j++) {
        if (!w->ord_planned[j] || end[j] <= start[k]) continue; /* dead before k */
        if (off < w->ord_off[j] + w->ord_size[j] && w->ord_off[j] < off + w->ord_size[k]) {
          off = w->ord_off[j] + w->ord_size[j];
          again = 1;
        }
      }
    }
    w->ord_off[k] = off;
    if (off + w->ord_size[k] > w->arena) w->arena = off + w->ord_size[k];
  }
}

static void signature_of(const Work *w, char out[65]) {
  uint32_t a = 0x811c9dc5u, b = 0x12345678u;
  for (int k = 0; k < w->nalloc; k++) {
    uint64_t s = w->ord_size[k];
    a = mix32(mix32(a, (uint32_t)s), w->ord_sigalign[k]);
    b = mix32(mix32(b, (uint32_t)(s >> 32)), (uint32_t)(s & 0xffff));
  }
  snprintf(out, 65, "%x-%08x%08x", w->nalloc, a, b);
}

static void put64(unsigned char *p, uint64_t v) { memcpy(p, &v, 8); }
static void put32(unsigned char *p, uint32_t v) { memcpy(p, &v, 4); }

/* The version-2 plan image of w (malloc'ed, *len bytes). */
static unsigned char *plan_image(const Work *w, size_t *len_out) {
  size_t n = (size_t)w->nalloc, len = MP_PLAN_HEADER_SIZE + MP_PLAN_ENTRY_SIZE * n;
  unsigned char *buf = calloc(1, len);
  uint64_t total = 0;
  for (size_t k = 0; k < n; k++) {
    unsigned char *e = buf + MP_PLAN_HEADER_SIZE + MP_PLAN_ENTRY_SIZE * k;
    put64(e + MP_PLAN_ENTRY_OFF(offset), w->ord_planned[k] ? w->ord_off[k] : 0);
    put64(e + MP_PLAN_ENTRY_OFF(size), w->ord_size[k]);
    put32(e + MP_PLAN_ENTRY_OFF(align), (uint32_t)w->ord_align[k]);
    put32(e + MP_PLAN_ENTRY_OFF(flags), w->ord_planned[k] ? MP_PLAN_ENTRY_PLANNED : 0);
    if (w->ord_planned[k]) total += w->ord_size[k];
  }
  uint32_t h = mp_plan_fnv1a32(buf + MP_PLAN_HEADER_SIZE, len - MP_PLAN_HEADER_SIZE);
  memcpy(buf + MP_PLAN_OFF(magic), MP_PLAN_MAGIC, sizeof MP_PLAN_MAGIC);
  put32(buf + MP_PLAN_OFF(version), MP_PLAN_VERSION);
  put32(buf + MP_PLAN_OFF(header_size), MP_PLAN_HEADER_SIZE);
  put64(buf + MP_PLAN_OFF(entry_count), n);
  put64(buf + MP_PLAN_OFF(arena_bytes), w->arena);
  put64(buf + MP_PLAN_OFF(total_bytes), total);
  put32(buf + MP_PLAN_OFF(checksum), h);
  char sig[MP_PLAN_SIGNATURE_BYTES + 1];
  signature_of(w, sig);
  memcpy(buf + MP_PLAN_OFF(signature), sig, strlen(sig));
  put64(buf + MP_PLAN_OFF(plan_id), 42);
  *len_out = len;
  return buf;
}

static int write_all(const char *path, const unsigned char *buf, size_t len) {
  FILE *f = fopen(path, "wb");
  if (!f) return -1;
  size_t wr = fwrite(buf, 1, len, f);
  return fclose(f) == 0 && wr == len ? 0 : -1;
}

static int plan_write(const Work *w, const char *path) {
  size_t len;
  unsigned char *buf = plan_image(w, &len);
  int rc = write_all(path, buf, len);
  free(buf);
  return rc;
}

/* A plan set (version 3, docs/PLAN_FORMAT.md) of the k works. */
__attribute__((unused)) static int plan_set_write(const Work *const *w, int k, const char *path) {
  unsigned char *img[64];
  size_t len[64], total = MP_PLAN_HEADER_SIZE + MP_PLAN_SET_DIR_SIZE * (size_t)k;
  for (int i = 0; i < k; i++) { img[i] = plan_image(w[i], &len[i]); total += len[i]; }
  unsigned char *buf = calloc(1, total);
  size_t off = MP_PLAN_HEADER_SIZE + MP_PLAN_SET_DIR_SIZE * (size_t)k;
  for (int i = 0; i < k; i++) {
    unsigned char *d = buf + MP_PLAN_HEADER_SIZE + MP_PLAN_SET_DIR_SIZE * i;
    put64(d + MP_PLAN_DIR_OFF(offset), off);
    put64(d + MP_PLAN_DIR_OFF(length), len[i]);
    put64(d + MP_PLAN_DIR_OFF(seen), 1);
    memcpy(buf + off, img[i], len[i]);
    off += len[i];
    free(img[i]);
  }
  uint32_t h = mp_plan_fnv1a32(buf + MP_PLAN_HEADER_SIZE, total - MP_PLAN_HEADER_SIZE);
  memcpy(buf + MP_PLAN_SET_OFF(magic), MP_PLAN_MAGIC, sizeof MP_PLAN_MAGIC);
  put32(buf + MP_PLAN_SET_OFF(version), MP_PLAN_SET_VERSION);
  put32(buf + MP_PLAN_SET_OFF(header_size), MP_PLAN_HEADER_SIZE);
  put64(buf + MP_PLAN_SET_OFF(plan_count), (uint64_t)k);
  put64(buf + MP_PLAN_SET_OFF(set_id), 7);
  put32(buf + MP_PLAN_SET_OFF(checksum), h);
  int rc = write_all(path, buf, total);
  free(buf);
  return rc;
}

/* Performs one allocation op; returns the block. */
static void *do_alloc(const Op *o, void *src) {
  void *p = NULL;
  switch (o->kind) {
    case OP_MALLOC: return malloc(o->size);
    case OP_CALLOC: return calloc(1, o->size);
    case OP_POSIX_MEMALIGN: return posix_memalign(&p, o->align, o->size) == 0 ? p : NULL;
    case OP_ALIGNED_ALLOC: return aligned_alloc(o->align, o->size);
    case OP_REALLOC_NULL: return realloc(NULL, o->size);
    case OP_REALLOC_LIVE: return realloc(src, o->size);
    case OP_MEMALIGN: return memalign(o->align, o->size);
  }
  return NULL;
}
#endif
