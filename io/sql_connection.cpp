// sql::Connection (sql_connection.hpp) over SQLite and libpq. Moved out of report_store.cpp so
// the dashboard's queries run on the same layer.
#include "io/sql_connection.hpp"

#include <libpq-fe.h>

#include <charconv>
#include <unordered_map>

#include "io/sqlite.hpp"

namespace dmarc::io::sql {

Param p(std::string_view v) {
    return Param{std::string(v), Param::Kind::text};
}
Param p(std::int64_t v) {
    return Param{std::to_string(v), Param::Kind::integer};
}
Param p(const std::optional<std::int64_t>& v) {
    return v ? p(*v) : Param{std::nullopt, Param::Kind::integer};
}
Param blob(std::string_view v) {
    return Param{std::string(v), Param::Kind::blob};
}

std::int64_t to_int(const Field& f) {
    std::int64_t v = 0;
    if (f) std::from_chars(f->data(), f->data() + f->size(), v);
    return v;
}
std::optional<std::int64_t> to_opt_int(const Field& f) {
    if (!f) return std::nullopt;
    return to_int(f);
}
std::string to_text(const Field& f) {
    return f ? *f : std::string();
}

Result<void> Connection::exec(std::string_view sql, const std::vector<Param>& params) {
    auto r = query(sql, params);
    if (!r) return tl::unexpected(r.error());
    return {};
}

namespace {

class SqliteConnection final : public Connection {
  public:
    explicit SqliteConnection(sqlite::Db db) : db_(std::move(db)) {}
    bool postgres() const noexcept override { return false; }

    Result<std::vector<Row>> query(std::string_view sql,
                                   const std::vector<Param>& params) override {
        auto it = statements_.find(std::string(sql));
        if (it == statements_.end()) {
            // $N -> ?N: one SQL text for both backends.
            std::string converted(sql);
            for (char& c : converted) {
                if (c == '$') c = '?';
            }
            auto stmt = db_.prepare(converted);
            if (!stmt) return tl::unexpected(stmt.error());
            it = statements_.emplace(std::string(sql), std::move(*stmt)).first;
        }
        sqlite::Statement& s = it->second;
        for (std::size_t i = 0; i < params.size(); ++i) {
            const int index = static_cast<int>(i + 1);
            const Param& param = params[i];
            if (!param.value) {
                s.bind_null(index);
            } else if (param.kind == Param::Kind::blob) {
                s.bind_blob(index, *param.value);
            } else if (param.kind == Param::Kind::integer) {
                // Bound as an integer, so LIMIT, arithmetic and index seeks see a number.
                s.bind(index, to_int(param.value));
            } else {
                s.bind(index, *param.value);
            }
        }
        std::vector<Row> rows;
        for (;;) {
            auto more = s.step();
            if (!more) {
                s.reset();
                return tl::unexpected(more.error());
            }
            if (!*more) break;
            Row row;
            row.reserve(static_cast<std::size_t>(s.column_count()));
            for (int c = 0; c < s.column_count(); ++c) {
                if (s.is_null(c)) {
                    row.emplace_back();
                } else {
                    row.emplace_back(std::string(s.column_text(c)));
                }
            }
            rows.push_back(std::move(row));
        }
        return rows;
    }

  private:
    sqlite::Db db_;
    std::unordered_map<std::string, sqlite::Statement> statements_;
};

struct PgConnDeleter {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct PgResultDeleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};

// bytea in text output form: "\x" followed by hex digits.
std::string decode_bytea(std::string_view text) {
    if (!text.starts_with("\\x")) return std::string(text);
    std::string out;
    out.reserve((text.size() - 2) / 2);
    auto nibble = [](char c) -> int {
        if (c >= '0' && c <= '9') return c - '0';
        if (c >= 'a' && c <= 'f') return c - 'a' + 10;
        if (c >= 'A' && c <= 'F') return c - 'A' + 10;
        return 0;
    };
    for (std::size_t i = 2; i + 1 < text.size(); i += 2) {
        out += static_cast<char>(nibble(text[i]) * 16 + nibble(text[i + 1]));
    }
    return out;
}

class PostgresConnection final : public Connection {
  public:
    PostgresConnection(PGconn* conn, std::vector<std::string> setup)
        : conn_(conn), setup_(std::move(setup)) {}
    bool postgres() const noexcept override { return true; }

    Result<void> run_setup() {
        for (const auto& statement : setup_) {
            if (auto r = exec(statement); !r) return r;
        }
        return {};
    }

    Result<std::vector<Row>> query(std::string_view sql,
                                   const std::vector<Param>& params) override {
        // A server restart ends every session: reconnect once (with the session settings)
        // instead of failing every later request on this connection.
        if (PQstatus(conn_.get()) == CONNECTION_BAD) {
            PQreset(conn_.get());
            if (PQstatus(conn_.get()) != CONNECTION_OK) {
                return make_error(Errc::temporary, "PostgreSQL: cannot reconnect: " +
                                                       std::string(PQerrorMessage(conn_.get())));
            }
            if (auto r = run_setup(); !r) return tl::unexpected(r.error());
        }
        std::vector<const char*> values;
        std::vector<int> lengths, formats;
        for (const auto& param : params) {
            values.push_back(param.value ? param.value->data() : nullptr);
            lengths.push_back(param.value ? static_cast<int>(param.value->size()) : 0);
            formats.push_back(param.kind == Param::Kind::blob ? 1 : 0);
        }
        std::unique_ptr<PGresult, PgResultDeleter> r(
            PQexecParams(conn_.get(), std::string(sql).c_str(), static_cast<int>(params.size()),
                         nullptr, values.data(), lengths.data(), formats.data(), 0));
        const auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
        if (status != PGRES_COMMAND_OK && status != PGRES_TUPLES_OK) {
            std::string message = PQerrorMessage(conn_.get());
            while (!message.empty() && message.back() == '\n') message.pop_back();
            const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
            const bool transient = state && (std::string_view(state).starts_with("40") ||
                                             std::string_view(state).starts_with("08"));
            return make_error(transient ? Errc::temporary : Errc::io, "PostgreSQL: " + message);
        }
        std::vector<Row> rows;
        const int n = PQntuples(r.get()), columns = PQnfields(r.get());
        constexpr Oid kByteaOid = 17;
        for (int i = 0; i < n; ++i) {
            Row row;
            for (int c = 0; c < columns; ++c) {
                if (PQgetisnull(r.get(), i, c)) {
                    row.emplace_back();
                    continue;
                }
                std::string_view value(PQgetvalue(r.get(), i, c),
                                       static_cast<std::size_t>(PQgetlength(r.get(), i, c)));
                row.emplace_back(PQftype(r.get(), c) == kByteaOid ? decode_bytea(value)
                                                                  : std::string(value));
            }
            rows.push_back(std::move(row));
        }
        return rows;
    }

  private:
    std::unique_ptr<PGconn, PgConnDeleter> conn_;
    std::vector<std::string> setup_;
};

}  // namespace

bool is_postgres_uri(std::string_view uri) noexcept {
    return uri.starts_with("postgresql:") || uri.starts_with("postgres:");
}

std::string sqlite_path(std::string_view uri) {
    if (uri.starts_with("sqlite://")) return std::string(uri.substr(9));
    if (uri.starts_with("sqlite:")) return std::string(uri.substr(7));
    return std::string(uri);
}

std::string redacted(std::string_view uri) {
    if (!is_postgres_uri(uri)) return std::string(uri);
    const auto scheme = uri.find("://");
    if (scheme == std::string_view::npos) return std::string(uri);
    // The last '@' of the authority (a password may hold an unencoded '@'; a host cannot).
    const auto at = uri.substr(0, uri.find('/', scheme + 3)).rfind('@');
    if (at == std::string_view::npos || at < scheme) return std::string(uri);
    const auto colon = uri.substr(0, at).find(':', scheme + 3);
    if (colon == std::string_view::npos) return std::string(uri);
    return std::string(uri.substr(0, colon + 1)) + "***" + std::string(uri.substr(at));
}

Result<std::unique_ptr<Connection>> connect(std::string_view uri, const ConnectOptions& options) {
    if (is_postgres_uri(uri)) {
        PGconn* conn = PQconnectdb(std::string(uri).c_str());
        if (!conn || PQstatus(conn) != CONNECTION_OK) {
            std::string message = conn ? PQerrorMessage(conn) : "out of memory";
            if (conn) PQfinish(conn);
            while (!message.empty() && message.back() == '\n') message.pop_back();
            return make_error(Errc::temporary, "cannot connect to PostgreSQL: " + message);
        }
        std::vector<std::string> setup{"SET client_min_messages = warning"};
        if (options.read_only) setup.emplace_back("SET default_transaction_read_only = on");
        auto pg = std::make_unique<PostgresConnection>(conn, std::move(setup));
        if (auto r = pg->run_setup(); !r) return tl::unexpected(r.error());
        return std::unique_ptr<Connection>(std::move(pg));
    }
    sqlite::OpenOptions sqlite_options;
    sqlite_options.read_only = options.read_only;
    sqlite_options.create = options.create && !options.read_only;
    // A read-only connection cannot change the journal mode.
    if (options.read_only) sqlite_options.wal = false;
    sqlite_options.cache_kib = options.cache_kib;
    auto db = sqlite::Db::open(sqlite_path(uri), sqlite_options);
    if (!db) return tl::unexpected(db.error());
    return std::unique_ptr<Connection>(std::make_unique<SqliteConnection>(std::move(*db)));
}

}  // namespace dmarc::io::sql
