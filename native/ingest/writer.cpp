#include "writer.h"
#include <cmath>
#include <string>

namespace mp {

namespace {
std::string eventInsert(int rows) {
  std::string s = "INSERT INTO events (thread_id, ts, kind, addr, size, align, scope, flags) VALUES ";
  for (int i = 0; i < rows; i++) s += i ? ",(?,?,?,?,?,?,?,?)" : "(?,?,?,?,?,?,?,?)";
  return s;
}
}  // namespace

EventWriter::EventWriter(Db& db)
    : db_(db), many_(db, eventInsert(ROWS)), one_(db, eventInsert(1)), maxId_(db, "SELECT coalesce(max(id), 0) FROM events") {}

void EventWriter::begin() {
  if (!maxId_.step()) db_.fail("max(id)");
  nextId_ = maxId_.colInt(0) + 1;
  maxId_.reset();
  firstOfTransaction_ = nextId_;
}

void EventWriter::bindRow(Stmt& s, int b, const StreamEvent& e) {
  s.bindInt(b + 1, e.threadId);
  // ts is integral (differences of integers): bound as the integer SQLite would store.
  s.bindIntegral(b + 2, e.ts);
  s.bindInt(b + 3, e.kind);
  s.bindInt(b + 4, e.addr);  // clamped: what better-sqlite3 stores for the Number or BigInt
  s.bindInt(b + 5, e.size);
  // align = 2 ** a, a JS number: an integer up to 2^62, a REAL beyond (as SQLite stores it).
  if (e.alignLog2 <= 62) s.bindInt(b + 6, e.alignLog2 == 0 ? 0 : int64_t(1) << e.alignLog2);
  else s.bindNum(b + 6, std::ldexp(1.0, e.alignLog2));
  if (e.scope) s.bindInt(b + 7, e.scope);
  else s.bindNull(b + 7);
  s.bindInt(b + 8, e.flags);
}

void EventWriter::flush() {
  for (int i = 0; i < filled_; i++) {
    bindRow(one_, 0, rows_[i]);
    one_.run();
    lastRowid_ = db_.lastRowid();
  }
  filled_ = 0;
  // SQLite gives each new row max(rowid)+1, and BEGIN IMMEDIATE keeps other writers out, so the
  // ids handed to the lifetime builder are the rowids. Check it once per transaction.
  if (nextId_ != firstOfTransaction_ && lastRowid_ != nextId_ - 1) {
    throw std::runtime_error("event ids out of step: rowid " + std::to_string(lastRowid_) + ", expected " + std::to_string(nextId_ - 1));
  }
}

}  // namespace mp
