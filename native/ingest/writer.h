// Port of main/store/ingest.ts EventWriter: appends decoded records to the events table
// through a prepared multi-row INSERT, inside the caller's write transaction, knowing each
// row's id in advance (so the lifetime builder needs no query per event).
#pragma once
#include <cstdint>
#include <vector>
#include "common.h"
#include "db.h"
#include "event-buffer.h"
#include "reader.h"

namespace mp {

class EventWriter {
 public:
  explicit EventWriter(Db& db);
  void begin();  // first in each write transaction (BEGIN IMMEDIATE: no one else appends)
  // Stores one record; appends its StreamEvent to out.
  inline void write(const Record& r, int32_t threadId, int32_t processId, int32_t scope, EventBuffer& out);
  void flush();  // rows still buffered; checks the ids (call before committing)

  int64_t events = 0, markers = 0;
  bool hasIds = false;  // events.id range written so far
  int64_t firstId = 0, lastId = 0;

 private:
  static constexpr int COLS = 8;
  static constexpr int ROWS = 64;
  void bindRow(Stmt& s, int base, const StreamEvent& e);
  Db& db_;
  Stmt many_, one_, maxId_;
  StreamEvent rows_[ROWS];
  int filled_ = 0;
  int64_t nextId_ = 0, firstOfTransaction_ = 0, lastRowid_ = 0;
};

inline void EventWriter::write(const Record& r, int32_t threadId, int32_t processId, int32_t scope, EventBuffer& out) {
  if (mp_kind_is_marker(r.kind)) markers++;
  else events++;
  StreamEvent& e = out.next();
  e.id = nextId_++;
  e.ts = r.ts;
  e.addr = r.addr;
  e.size = r.size;
  e.threadId = threadId;
  e.processId = processId;
  e.scope = scope;
  e.kind = r.kind;
  e.alignLog2 = r.alignLog2;
  e.flags = r.flags;
  if (!hasIds) {
    hasIds = true;
    firstId = e.id;
  }
  lastId = e.id;
  rows_[filled_] = e;
  if (++filled_ == ROWS) {
    for (int i = 0; i < ROWS; i++) bindRow(many_, i * COLS, rows_[i]);
    many_.run();
    lastRowid_ = db_.lastRowid();
    filled_ = 0;
  }
}

}  // namespace mp
