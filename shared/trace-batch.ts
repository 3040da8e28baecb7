/**
 * A batch of decoded trace records (docs/TRACE_FORMAT.md), one thread's, in columns: what the
 * trace readers (main/record/trace-format.ts, main/ingest/resume.ts) produce and the store's
 * event writer (main/store/ingest.ts) consumes.
 */
export interface RecordBatch {
  tid: number;
  threadIndex: number;
  count: number;
  ts: Float64Array;
  addr: (number | bigint)[];
  size: (number | bigint)[];
  scope: Uint32Array;
  kind: Uint8Array;
  alignLog2: Uint8Array;
  flags: Uint16Array;
}
