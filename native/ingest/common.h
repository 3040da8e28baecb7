// memoplan-ingest: shared types. The ingester is a port of the JS reference ingest
// (test/oracle/session-ingest.ts, main/record/trace-format.ts, main/store/ingest.ts,
// lifetimes.ts, addr-map.ts)
// and must write exactly the same rows. Where JavaScript semantics leak into stored values
// (every JS number is a double; u64 fields beyond 2^53 are BigInts clamped to INT64_MAX) the
// port reproduces them; see "JS numbers" below.
#pragma once
#include <cstdint>
#include <stdexcept>
#include <string>
#include "trace-format.h"

namespace mp {

// A trace file that is not what docs/TRACE_FORMAT.md describes (the message names the file).
struct TraceFormatError : std::runtime_error {
  using std::runtime_error::runtime_error;
};

// JS numbers. trace-format.ts turns a u64 field into a Number when it is below 2^53 (exact)
// and into a BigInt clamped to INT64_MAX otherwise; better-sqlite3 binds a BigInt as int64, so
// the stored value is min(v, INT64_MAX) either way. The lifetime builder then does arithmetic
// on Number(v), a double: clampU64 + toDouble below, done in the same order, give the same
// doubles. Doubles are bound with sqlite3_bind_double like better-sqlite3 does; SQLite stores
// an integral one in an INTEGER column as an integer, so the rows match bit for bit.
inline int64_t clampU64(uint64_t v) { return v > (uint64_t)INT64_MAX ? INT64_MAX : (int64_t)v; }
constexpr int64_t TWO53 = int64_t(1) << 53;  // at and above: a BigInt in the JS reader

// JS ToUint32 of an integral double in [0, 2^64) (what `x >>> 0`, `x ^ y`, Math.imul see).
inline uint32_t toUint32(double d) { return (uint32_t)(uint64_t)d; }

// One record as handed from the event writer to the lifetime builder (StreamEvent in
// lifetimes.ts). 48 bytes: a poll can hold millions of them.
struct StreamEvent {
  int64_t id;        // events.id
  double ts;         // ns since the clock base, computed as the JS reader does
  int64_t addr;      // clampU64
  int64_t size;      // clampU64
  int32_t threadId;  // threads.id
  int32_t processId; // processes.id
  int32_t scope;     // ops.id, 0 = NULL
  uint8_t kind;
  uint8_t alignLog2; // align = 2^alignLog2 (0: default, stored as 0)
  uint16_t flags;
};

// Kinds and record flags: MP_KIND_*, MP_TRACE_REC_*, mp_kind_is_alloc/mp_kind_is_marker in
// native/include/trace-format.h (shared/trace-kinds.ts on the TypeScript side).

}  // namespace mp
