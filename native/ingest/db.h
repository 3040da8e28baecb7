// A thin RAII layer over the SQLite C API: one connection, prepared statements, errors as
// exceptions with SQLite's message.
#pragma once
#include <cstdint>
#include <string>
#include "sqlite3.h"

namespace mp {

// The schema version whose tables and columns the ingester writes (timeline's id ranges came in 5,
// stacks and ops.stack_id in 6).
constexpr int64_t MIN_SCHEMA_VERSION = 6;

class Db {
 public:
  explicit Db(const std::string& file);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  void exec(const char* sql);
  int64_t queryInt(const char* sql);  // first column of the first row (0 when NULL / no row)
  int64_t lastRowid() const { return sqlite3_last_insert_rowid(h_); }
  [[noreturn]] void fail(const std::string& what) const;
  sqlite3* handle() const { return h_; }

 private:
  sqlite3* h_ = nullptr;
};

class Stmt {
 public:
  Stmt(Db& db, const std::string& sql);
  ~Stmt();
  Stmt(const Stmt&) = delete;
  Stmt& operator=(const Stmt&) = delete;
  void bindInt(int i, int64_t v) { sqlite3_bind_int64(h_, i, v); }
  // A JS number, bound as better-sqlite3 binds one (a double; see common.h).
  void bindNum(int i, double v) { sqlite3_bind_double(h_, i, v); }
  // A JS number known to be integral: an integer where SQLite would store one anyway.
  void bindIntegral(int i, double v) {
    if (v > -9.2e18 && v < 9.2e18) sqlite3_bind_int64(h_, i, (int64_t)v);
    else sqlite3_bind_double(h_, i, v);
  }
  void bindNull(int i) { sqlite3_bind_null(h_, i); }
  void bindText(int i, const std::string& s) { sqlite3_bind_text(h_, i, s.data(), (int)s.size(), SQLITE_TRANSIENT); }
  void run();  // step to completion, reset
  bool step(); // true: a row is there
  int64_t colInt(int i) { return sqlite3_column_int64(h_, i); }
  void reset() { sqlite3_reset(h_); }

 private:
  Db& db_;
  sqlite3_stmt* h_ = nullptr;
};

// BEGIN IMMEDIATE ... COMMIT, rolled back when an exception leaves the scope.
class Transaction {
 public:
  explicit Transaction(Db& db) : db_(db) { db_.exec("BEGIN IMMEDIATE"); }
  ~Transaction() {
    if (!done_) sqlite3_exec(db_.handle(), "ROLLBACK", nullptr, nullptr, nullptr);
  }
  void commit() {
    db_.exec("COMMIT");
    done_ = true;
  }

 private:
  Db& db_;
  bool done_ = false;
};

}  // namespace mp
