// One SQL text for SQLite and PostgreSQL: a connection that runs statements with `$N`
// placeholders and returns rows of text, over SQLite (placeholders become ?N, statements cached
// per connection) or libpq (PQexecParams). The reporter's ledger (report_store) and the
// dashboard's queries (store_queries) are each written once over it. DDL lives in schema/.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace dmarc::io::sql {

struct Param {
    enum class Kind : std::uint8_t { text, integer, blob };
    std::optional<std::string> value;  // nullopt: NULL
    Kind kind = Kind::text;
};
using Field = std::optional<std::string>;  // nullopt: NULL
using Row = std::vector<Field>;

Param p(std::string_view v);
Param p(std::int64_t v);
Param p(const std::optional<std::int64_t>& v);
Param blob(std::string_view v);

std::int64_t to_int(const Field& f);  // NULL and non-numbers: 0
std::optional<std::int64_t> to_opt_int(const Field& f);
std::string to_text(const Field& f);  // NULL: ""

class Connection {
  public:
    virtual ~Connection() = default;
    // bytea and BLOB columns come back as their bytes.
    virtual Result<std::vector<Row>> query(std::string_view sql,
                                           const std::vector<Param>& params) = 0;
    virtual bool postgres() const noexcept = 0;
    Result<void> exec(std::string_view sql, const std::vector<Param>& params = {});
    // BEGIN IMMEDIATE on SQLite (take the write lock now), BEGIN on PostgreSQL.
    Result<void> begin() { return exec(postgres() ? "BEGIN" : "BEGIN IMMEDIATE"); }
};

struct ConnectOptions {
    // SQLite: opened read-only (and never created). PostgreSQL: default_transaction_read_only,
    // so a statement that writes fails even when the role could write.
    bool read_only = false;
    bool create = true;          // SQLite: create the file when missing
    std::int64_t cache_kib = 0;  // SQLite page cache; 0: SQLite's default
};

// "postgresql://..." / "postgres://..." (libpq URI).
bool is_postgres_uri(std::string_view uri) noexcept;
// "sqlite:///abs/path" and "sqlite:rel" -> the path; anything else is taken as a path.
std::string sqlite_path(std::string_view uri);
// The URI for messages and logs: a password in a postgresql:// URI becomes "***".
std::string redacted(std::string_view uri);
// A libpq URI or a SQLite URI / path (store.hpp's Database URIs). No migration.
Result<std::unique_ptr<Connection>> connect(std::string_view uri, const ConnectOptions& options);

}  // namespace dmarc::io::sql
