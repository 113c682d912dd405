// RAII over the SQLite C API (design.md §5): an owned connection that sets WAL, busy_timeout and
// foreign_keys, prepared statements that reset themselves, a Transaction that rolls back unless
// committed, and the schema/ migration runner (versioned; a newer database is refused).
#pragma once

#include <chrono>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "core/result.hpp"

struct sqlite3;
struct sqlite3_stmt;

namespace dmarc::io::sqlite {

struct DbDeleter {
    void operator()(sqlite3* db) const noexcept;
};
struct StmtDeleter {
    void operator()(sqlite3_stmt* stmt) const noexcept;
};
using DbHandle = std::unique_ptr<sqlite3, DbDeleter>;
using StmtHandle = std::unique_ptr<sqlite3_stmt, StmtDeleter>;

// A prepared statement bound to its connection. Binds use 1-based indexes as in SQLite.
class Statement {
  public:
    Statement() = default;
    Statement(sqlite3* db, StmtHandle stmt) : db_(db), stmt_(std::move(stmt)) {}

    Statement& bind(int index, std::int64_t value);
    Statement& bind(int index, std::string_view value);  // copied by SQLite (SQLITE_TRANSIENT)
    Statement& bind(int index, const std::string& value) {
        return bind(index, std::string_view(value));
    }
    Statement& bind(int index, const char* value) { return bind(index, std::string_view(value)); }
    // Not copied (SQLITE_STATIC): `value` must stay alive and unchanged until the statement has
    // been run or reset. Saves a malloc and a copy per text column in bulk imports.
    Statement& bind_static(int index, std::string_view value);
    Statement& bind_static(int index, const std::optional<std::string_view>& value);
    Statement& bind_static(int index, const std::string& value) {
        return bind_static(index, std::string_view(value));
    }
    Statement& bind(int index, const std::optional<std::string_view>& value);
    Statement& bind(int index, const std::optional<std::int64_t>& value);
    Statement& bind_null(int index);
    Statement& bind_blob(int index, std::string_view bytes);  // a BLOB, not TEXT

    // true: a row is ready; false: done (the statement is then reset for reuse).
    Result<bool> step();
    // Steps to completion and resets.
    Result<void> run();
    // Clears the bindings and rewinds; needed after an error or an abandoned row set.
    void reset() noexcept;

    int column_count() const noexcept;
    bool is_null(int column) const noexcept;
    std::int64_t column_int64(int column) const noexcept;
    std::string_view column_text(int column) const noexcept;  // valid until the next step/reset

    explicit operator bool() const noexcept { return stmt_ != nullptr; }

  private:
    Error error(std::string_view what) const;
    sqlite3* db_ = nullptr;
    StmtHandle stmt_;
};

struct OpenOptions {
    bool read_only = false;
    bool create = true;
    std::chrono::milliseconds busy_timeout{5000};
    bool wal = true;
    // NORMAL is durable across application crashes in WAL mode; only a power cut may lose the
    // last commits (sqlite.org/pragma.html#pragma_synchronous).
    std::string_view synchronous = "NORMAL";
    // Page cache per connection; 0 keeps SQLite's default (2 MiB). Bulk imports want the hot
    // index pages of a large store in memory.
    std::int64_t cache_kib = 0;
    // Memory-mapped reads (PRAGMA mmap_size), saving a copy per page read; 0: off.
    std::int64_t mmap_bytes = 0;
};

class Db {
  public:
    static Result<Db> open(const std::string& path, const OpenOptions& options = {});

    // One or more statements, no results.
    Result<void> exec(std::string_view sql);
    Result<Statement> prepare(std::string_view sql);

    std::int64_t last_insert_rowid() const noexcept;
    std::int64_t changes() const noexcept;
    sqlite3* get() const noexcept { return db_.get(); }
    const std::string& path() const noexcept { return path_; }

  private:
    DbHandle db_;
    std::string path_;
};

// BEGIN IMMEDIATE (take the write lock now, so a busy store fails early rather than mid-batch)
// or DEFERRED; the destructor rolls back unless commit() succeeded.
class Transaction {
  public:
    static Result<Transaction> begin(Db& db, bool immediate = true);
    Transaction(Transaction&& other) noexcept : db_(other.db_) { other.db_ = nullptr; }
    Transaction& operator=(Transaction&&) = delete;
    Transaction(const Transaction&) = delete;
    ~Transaction();
    Result<void> commit();

  private:
    explicit Transaction(Db* db) : db_(db) {}
    Db* db_;
};

// Applies schema/sqlite/<component>_NNNN_*.sql above the database's version, each migration in
// its own transaction with its version row. Returns the resulting version; a database newer
// than every migration this program knows is refused (Errc::invalid_value) and left untouched.
Result<int> migrate(Db& db, std::string_view component);

// The newest migration version of schema/sqlite/<component>_*.sql compiled into this program.
int known_version(std::string_view backend, std::string_view component) noexcept;

}  // namespace dmarc::io::sqlite
