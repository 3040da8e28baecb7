#include "db.h"
#include <stdexcept>
#include <sys/stat.h>

namespace mp {

Db::Db(const std::string& file) {
  struct stat st;
  if (stat(file.c_str(), &st) != 0) throw std::runtime_error("database not found: " + file);
  if (S_ISDIR(st.st_mode)) throw std::runtime_error("database path is a directory: " + file);
  if (sqlite3_open_v2(file.c_str(), &h_, SQLITE_OPEN_READWRITE, nullptr) != SQLITE_OK) {
    std::string msg = h_ ? sqlite3_errmsg(h_) : "out of memory";
    sqlite3_close(h_);
    h_ = nullptr;
    throw std::runtime_error("cannot open database " + file + ": " + msg);
  }
  // The Node side (main/store/db.ts) created the file, migrated it and set WAL (a property of
  // the file). Per connection, match what it sets: synchronous, foreign keys, and a generous
  // busy timeout (its connection writes now and then while we ingest). cache_size as
  // better-sqlite3 builds SQLite (SQLITE_DEFAULT_CACHE_SIZE=-16000).
  sqlite3_busy_timeout(h_, 60000);
  int64_t version;
  try {
    version = queryInt("PRAGMA user_version");
  } catch (const std::exception& e) {
    throw std::runtime_error(file + " is not a memoplan database (" + e.what() + ")");
  }
  if (version < 1) throw std::runtime_error(file + " is not a memoplan database (schema version 0)");
  // The columns we write (main/store/schema.ts): the Node side migrates the file before it
  // spawns us, so an older version means a file it never opened.
  if (version < MIN_SCHEMA_VERSION)
    throw std::runtime_error(file + " has schema version " + std::to_string(version) + ", older than this ingester writes (" +
                             std::to_string(MIN_SCHEMA_VERSION) + "); open it with memoplan first to migrate it");
  exec("PRAGMA synchronous = NORMAL");
  exec("PRAGMA foreign_keys = ON");
  exec("PRAGMA cache_size = -16000");
}

Db::~Db() { sqlite3_close(h_); }

void Db::fail(const std::string& what) const { throw std::runtime_error(what + ": " + sqlite3_errmsg(h_)); }

void Db::exec(const char* sql) {
  char* err = nullptr;
  if (sqlite3_exec(h_, sql, nullptr, nullptr, &err) != SQLITE_OK) {
    std::string msg = err ? err : sqlite3_errmsg(h_);
    sqlite3_free(err);
    throw std::runtime_error(std::string(sql) + ": " + msg);
  }
}

int64_t Db::queryInt(const char* sql) {
  Stmt s(*this, sql);
  int64_t v = s.step() ? s.colInt(0) : 0;
  s.reset();
  return v;
}

Stmt::Stmt(Db& db, const std::string& sql) : db_(db) {
  if (sqlite3_prepare_v3(db.handle(), sql.c_str(), (int)sql.size() + 1, SQLITE_PREPARE_PERSISTENT, &h_, nullptr) != SQLITE_OK) {
    db.fail("cannot prepare " + sql.substr(0, 60));
  }
}

Stmt::~Stmt() { sqlite3_finalize(h_); }

void Stmt::run() {
  int rc = sqlite3_step(h_);
  if (rc != SQLITE_DONE && rc != SQLITE_ROW) {
    std::string msg = sqlite3_errmsg(db_.handle());
    sqlite3_reset(h_);
    throw std::runtime_error(msg);
  }
  sqlite3_reset(h_);
}

bool Stmt::step() {
  int rc = sqlite3_step(h_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  std::string msg = sqlite3_errmsg(db_.handle());
  sqlite3_reset(h_);
  throw std::runtime_error(msg);
}

}  // namespace mp
