/* plan-format.h: the plan file layout (docs/PLAN_FORMAT.md), versions 2 (one plan) and 3 (a
 * plan set). The one native definition of it: the interposer loads it (plan.cpp), the native
 * tests write it (native/tests/plan_util.h), and build/native/layouts prints it as JSON, which
 * test/native/layouts.test.ts compares with main/plan/plan-file.ts. The prose (what each
 * field means, what the interposer refuses) is docs/PLAN_FORMAT.md; the numbers are here, and
 * the static asserts below pin them to the offsets that document shows.
 *
 * C (gnu11) and C++ (17) alike. All integers little-endian. */
#ifndef MP_PLAN_FORMAT_H
#define MP_PLAN_FORMAT_H

#include <stddef.h>
#include <stdint.h>

#ifndef MP_STATIC_ASSERT
#ifdef __cplusplus
#define MP_STATIC_ASSERT(c, m) static_assert(c, m)
#else
#define MP_STATIC_ASSERT(c, m) _Static_assert(c, m)
#endif
#endif

#define MP_PLAN_MAGIC "MPPLAN1"         /* 8 bytes with its NUL (sizeof); both versions */
#define MP_PLAN_VERSION_AGENT_MODE 1u   /* refused: made by an older memoplan, plan again */
#define MP_PLAN_VERSION 2u              /* one plan */
#define MP_PLAN_SET_VERSION 3u          /* a plan set */
#define MP_PLAN_HEADER_SIZE 128u        /* both versions */
#define MP_PLAN_ENTRY_SIZE 24u
#define MP_PLAN_SIGNATURE_BYTES 64u     /* ASCII, NUL-padded, NUL-terminated within */
#define MP_PLAN_SET_DIR_SIZE 32u
#define MP_PLAN_SET_MAX_PLANS 256u

/* entry flags */
#define MP_PLAN_ENTRY_PLANNED 1u  /* bit0: served from the arena at offset; no other bit is defined */

/* The checksum: FNV-1a 32 over every byte from MP_PLAN_HEADER_SIZE to the end of the image. */
#define MP_PLAN_FNV_BASIS 0x811c9dc5u
#define MP_PLAN_FNV_PRIME 0x01000193u

static inline uint32_t mp_plan_fnv1a32(const unsigned char *p, uint64_t n) {
  uint32_t h = MP_PLAN_FNV_BASIS;
  for (uint64_t i = 0; i < n; i++) h = (h ^ p[i]) * MP_PLAN_FNV_PRIME;
  return h;
}

/* Version 2: this header, then entry_count entries. */
struct mp_plan_header {
  char magic[8];  /* MP_PLAN_MAGIC */
  uint32_t version;      /* MP_PLAN_VERSION */
  uint32_t header_size;  /* MP_PLAN_HEADER_SIZE */
  uint64_t entry_count;  /* every allocation of the iteration above the floor */
  uint64_t arena_bytes;  /* max(offset + size) over the planned entries */
  uint64_t total_bytes;  /* sum of sizes of the planned entries */
  uint32_t checksum;     /* mp_plan_fnv1a32 of the entries */
  uint32_t flags;        /* none defined, 0 */
  char signature[MP_PLAN_SIGNATURE_BYTES];
  uint64_t plan_id;      /* plans.id in the database that made it */
  uint64_t size_floor;   /* allocations of at most this many bytes are not in the plan; 0 none */
};

struct mp_plan_entry {
  uint64_t offset;  /* in the arena (a multiple of align); 0 if not planned */
  uint64_t size;
  uint32_t align;   /* at least 16 */
  uint32_t flags;   /* MP_PLAN_ENTRY_* */
};

/* Version 3: this header, plan_count directory records, then the plans (version-2 images). */
struct mp_plan_set_header {
  char magic[8];  /* MP_PLAN_MAGIC */
  uint32_t version;      /* MP_PLAN_SET_VERSION */
  uint32_t header_size;  /* MP_PLAN_HEADER_SIZE */
  uint64_t plan_count;   /* 1 .. MP_PLAN_SET_MAX_PLANS */
  uint64_t set_id;       /* plan_sets.id in the database that made it; 0 none */
  uint64_t size_floor;   /* every plan's size_floor equals it */
  uint32_t checksum;     /* mp_plan_fnv1a32 of every byte after the header */
  uint32_t flags;        /* none defined, 0 */
  uint8_t reserved[80];  /* zero */
};

struct mp_plan_set_dir {
  uint64_t offset;  /* of the plan in the file */
  uint64_t length;  /* of the plan in bytes */
  uint64_t key;     /* input-shape key; 0 none (none is written yet) */
  uint64_t seen;    /* iterations with this signature in the recording */
};

#define MP_PLAN_OFF(field) offsetof(struct mp_plan_header, field)
#define MP_PLAN_ENTRY_OFF(field) offsetof(struct mp_plan_entry, field)
#define MP_PLAN_SET_OFF(field) offsetof(struct mp_plan_set_header, field)
#define MP_PLAN_DIR_OFF(field) offsetof(struct mp_plan_set_dir, field)

MP_STATIC_ASSERT(sizeof(MP_PLAN_MAGIC) == 8, "plan magic: 8 bytes");
MP_STATIC_ASSERT(MP_PLAN_OFF(magic) == 0 && MP_PLAN_OFF(version) == 8 && MP_PLAN_OFF(header_size) == 12 &&
                     MP_PLAN_OFF(entry_count) == 16 && MP_PLAN_OFF(arena_bytes) == 24 &&
                     MP_PLAN_OFF(total_bytes) == 32 && MP_PLAN_OFF(checksum) == 40 && MP_PLAN_OFF(flags) == 44 &&
                     MP_PLAN_OFF(signature) == 48 && MP_PLAN_OFF(plan_id) == 112 &&
                     MP_PLAN_OFF(size_floor) == 120 && sizeof(struct mp_plan_header) == MP_PLAN_HEADER_SIZE,
                 "plan header layout");
MP_STATIC_ASSERT(MP_PLAN_ENTRY_OFF(offset) == 0 && MP_PLAN_ENTRY_OFF(size) == 8 && MP_PLAN_ENTRY_OFF(align) == 16 &&
                     MP_PLAN_ENTRY_OFF(flags) == 20 && sizeof(struct mp_plan_entry) == MP_PLAN_ENTRY_SIZE,
                 "plan entry layout");
MP_STATIC_ASSERT(MP_PLAN_SET_OFF(magic) == 0 && MP_PLAN_SET_OFF(version) == 8 &&
                     MP_PLAN_SET_OFF(header_size) == 12 && MP_PLAN_SET_OFF(plan_count) == 16 &&
                     MP_PLAN_SET_OFF(set_id) == 24 && MP_PLAN_SET_OFF(size_floor) == 32 &&
                     MP_PLAN_SET_OFF(checksum) == 40 && MP_PLAN_SET_OFF(flags) == 44 &&
                     MP_PLAN_SET_OFF(reserved) == 48 && sizeof(struct mp_plan_set_header) == MP_PLAN_HEADER_SIZE,
                 "plan set header layout");
MP_STATIC_ASSERT(MP_PLAN_DIR_OFF(offset) == 0 && MP_PLAN_DIR_OFF(length) == 8 && MP_PLAN_DIR_OFF(key) == 16 &&
                     MP_PLAN_DIR_OFF(seen) == 24 && sizeof(struct mp_plan_set_dir) == MP_PLAN_SET_DIR_SIZE,
                 "plan set directory layout");

#endif
