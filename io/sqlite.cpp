// SQLite RAII and the migration runner (see sqlite.hpp); every SQLite error becomes an Error
// naming the database file and SQLite's message, SQLITE_BUSY/LOCKED as Errc::temporary.
#include "io/sqlite.hpp"

#include <sqlite3.h>

#include <climits>
#include <string>
#include <vector>

#include "io/schema.hpp"

namespace dmarc::io::sqlite {
namespace {

Errc errc_of(int code) {
    switch (code & 0xff) {
        case SQLITE_BUSY:
        case SQLITE_LOCKED:
            return Errc::temporary;
        case SQLITE_TOOBIG:
            return Errc::limit;
        case SQLITE_CONSTRAINT:
        case SQLITE_MISMATCH:
            return Errc::invalid_value;
        default:
            return Errc::io;
    }
}

Error db_error(sqlite3* db, int code, std::string_view what) {
    std::string message(what);
    message += ": ";
    message += db ? sqlite3_errmsg(db) : sqlite3_errstr(code);
    if (db && sqlite3_db_filename(db, "main") && *sqlite3_db_filename(db, "main")) {
        message = std::string(sqlite3_db_filename(db, "main")) + ": " + message;
    }
    return Error{errc_of(code), std::move(message)};
}

int to_int_length(std::size_t size) {
    return size > INT_MAX ? INT_MAX : static_cast<int>(size);
}

}  // namespace

void DbDeleter::operator()(sqlite3* db) const noexcept {
    sqlite3_close_v2(db);
}
void StmtDeleter::operator()(sqlite3_stmt* stmt) const noexcept {
    sqlite3_finalize(stmt);
}

Statement& Statement::bind(int index, std::int64_t value) {
    sqlite3_bind_int64(stmt_.get(), index, value);
    return *this;
}

Statement& Statement::bind(int index, std::string_view value) {
    // A non-null pointer even for "" so the value is '' and not NULL.
    sqlite3_bind_text(stmt_.get(), index, value.data() ? value.data() : "",
                      to_int_length(value.size()), SQLITE_TRANSIENT);
    return *this;
}

Statement& Statement::bind_static(int index, std::string_view value) {
    sqlite3_bind_text(stmt_.get(), index, value.data() ? value.data() : "",
                      to_int_length(value.size()), SQLITE_STATIC);
    return *this;
}

Statement& Statement::bind_static(int index, const std::optional<std::string_view>& value) {
    return value ? bind_static(index, *value) : bind_null(index);
}

Statement& Statement::bind(int index, const std::optional<std::string_view>& value) {
    return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind(int index, const std::optional<std::int64_t>& value) {
    return value ? bind(index, *value) : bind_null(index);
}

Statement& Statement::bind_blob(int index, std::string_view bytes) {
    sqlite3_bind_blob(stmt_.get(), index, bytes.data() ? bytes.data() : "",
                      to_int_length(bytes.size()), SQLITE_TRANSIENT);
    return *this;
}

Statement& Statement::bind_null(int index) {
    sqlite3_bind_null(stmt_.get(), index);
    return *this;
}

Error Statement::error(std::string_view what) const {
    return db_error(db_, sqlite3_errcode(db_), what);
}

Result<bool> Statement::step() {
    int rc = sqlite3_step(stmt_.get());
    if (rc == SQLITE_ROW) return true;
    if (rc == SQLITE_DONE) {
        sqlite3_reset(stmt_.get());
        return false;
    }
    Error e = db_error(db_, rc, sqlite3_sql(stmt_.get()) ? "statement failed" : "step");
    reset();
    return tl::unexpected(std::move(e));
}

Result<void> Statement::run() {
    for (;;) {
        auto row = step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
    }
    sqlite3_clear_bindings(stmt_.get());
    return {};
}

void Statement::reset() noexcept {
    sqlite3_reset(stmt_.get());
    sqlite3_clear_bindings(stmt_.get());
}

int Statement::column_count() const noexcept {
    return sqlite3_column_count(stmt_.get());
}

bool Statement::is_null(int column) const noexcept {
    return sqlite3_column_type(stmt_.get(), column) == SQLITE_NULL;
}

std::int64_t Statement::column_int64(int column) const noexcept {
    return sqlite3_column_int64(stmt_.get(), column);
}

std::string_view Statement::column_text(int column) const noexcept {
    const auto* text = sqlite3_column_text(stmt_.get(), column);
    if (!text) return {};
    return {reinterpret_cast<const char*>(text),
            static_cast<std::size_t>(sqlite3_column_bytes(stmt_.get(), column))};
}

Result<Db> Db::open(const std::string& path, const OpenOptions& options) {
    // SQLite's memory statistics take a global mutex on every allocation (~3% of an import);
    // nothing here reads them. Only possible before SQLite initialises: later it is refused
    // (SQLITE_MISUSE) and statistics simply stay on, so the result is ignored. sqlite3_config is
    // not thread-safe; every SQLite use goes through Db::open first, and this runs once, before
    // the first connection, under the static's initialisation guard.
    static const bool memstatus_off = [] {
        (void)sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0);
        return true;
    }();
    (void)memstatus_off;
    int flags = SQLITE_OPEN_NOMUTEX;
    if (options.read_only) {
        flags |= SQLITE_OPEN_READONLY;
    } else {
        flags |= SQLITE_OPEN_READWRITE;
        if (options.create) flags |= SQLITE_OPEN_CREATE;
    }
    sqlite3* raw = nullptr;
    int rc = sqlite3_open_v2(path.c_str(), &raw, flags, nullptr);
    Db db;
    db.db_.reset(raw);
    db.path_ = path;
    if (rc != SQLITE_OK) {
        return tl::unexpected(
            Error{errc_of(rc),
                  path + ": cannot open: " + (raw ? sqlite3_errmsg(raw) : sqlite3_errstr(rc))});
    }
    sqlite3_extended_result_codes(raw, 1);
    sqlite3_busy_timeout(raw, static_cast<int>(options.busy_timeout.count()));
    std::string pragmas = "PRAGMA foreign_keys=ON;";
    if (!options.read_only) {
        if (options.wal) pragmas += "PRAGMA journal_mode=WAL;";
        pragmas += "PRAGMA synchronous=" + std::string(options.synchronous) + ";";
    }
    if (options.mmap_bytes > 0) {
        pragmas += "PRAGMA mmap_size=" + std::to_string(options.mmap_bytes) + ";";
    }
    if (options.cache_kib > 0)
        pragmas += "PRAGMA cache_size=-" + std::to_string(options.cache_kib) + ";";
    if (auto r = db.exec(pragmas); !r) return tl::unexpected(r.error());
    return db;
}

Result<void> Db::exec(std::string_view sql) {
    std::string text(sql);
    char* message = nullptr;
    int rc = sqlite3_exec(db_.get(), text.c_str(), nullptr, nullptr, &message);
    if (rc != SQLITE_OK) {
        std::string detail = message ? message : sqlite3_errstr(rc);
        sqlite3_free(message);
        return tl::unexpected(Error{errc_of(rc), path_ + ": " + detail});
    }
    return {};
}

Result<Statement> Db::prepare(std::string_view sql) {
    sqlite3_stmt* raw = nullptr;
    int rc = sqlite3_prepare_v3(db_.get(), sql.data(), to_int_length(sql.size()),
                                SQLITE_PREPARE_PERSISTENT, &raw, nullptr);
    StmtHandle stmt(raw);
    if (rc != SQLITE_OK) return tl::unexpected(db_error(db_.get(), rc, "prepare"));
    return Statement(db_.get(), std::move(stmt));
}

std::int64_t Db::last_insert_rowid() const noexcept {
    return sqlite3_last_insert_rowid(db_.get());
}
std::int64_t Db::changes() const noexcept {
    return sqlite3_changes64(db_.get());
}

Result<Transaction> Transaction::begin(Db& db, bool immediate) {
    if (auto r = db.exec(immediate ? "BEGIN IMMEDIATE" : "BEGIN"); !r) {
        return tl::unexpected(r.error());
    }
    return Transaction(&db);
}

Transaction::~Transaction() {
    if (db_ && !sqlite3_get_autocommit(db_->get())) (void)db_->exec("ROLLBACK");
}

Result<void> Transaction::commit() {
    if (!db_) return make_error(Errc::internal, "commit of a finished transaction");
    auto r = db_->exec("COMMIT");
    if (!r) return r;  // the destructor rolls back
    db_ = nullptr;
    return {};
}

int known_version(std::string_view backend, std::string_view component) noexcept {
    int newest = 0;
    for (const auto& m : schema::all_migrations()) {
        if (m.backend == backend && m.component == component && m.version > newest) {
            newest = m.version;
        }
    }
    return newest;
}

namespace {

// Foreign-key enforcement off while migrations run, as SQLite's documented table rebuild needs
// (https://sqlite.org/lang_altertable.html "Making Other Kinds Of Table Schema Changes": a
// dropped and renamed parent table would otherwise fail its children's keys); each migration's
// result is checked with foreign_key_check before it commits. The pragma is a no-op inside a
// transaction, hence set around the loop; the previous setting is restored.
class ForeignKeysOff {
  public:
    explicit ForeignKeysOff(Db& db) : db_(db) {
        if (auto state = db_.prepare("PRAGMA foreign_keys")) {
            auto row = state->step();
            was_on_ = row && *row && state->column_int64(0) != 0;
        }
        if (was_on_) (void)db_.exec("PRAGMA foreign_keys=OFF");
    }
    ~ForeignKeysOff() {
        if (was_on_) (void)db_.exec("PRAGMA foreign_keys=ON");
    }
    ForeignKeysOff(const ForeignKeysOff&) = delete;
    ForeignKeysOff& operator=(const ForeignKeysOff&) = delete;

  private:
    Db& db_;
    bool was_on_ = false;
};

Result<void> check_foreign_keys(Db& db) {
    auto check = db.prepare("PRAGMA foreign_key_check");
    if (!check) return tl::unexpected(check.error());
    auto row = check->step();
    if (!row) return tl::unexpected(row.error());
    if (*row) {
        return make_error(Errc::internal, db.path() + ": foreign key broken in table " +
                                              std::string(check->column_text(0)));
    }
    return {};
}

// Indexes that the migrations up to `version` create but `db` lacks: those a bulk import
// dropped (Store::begin_bulk in store_sqlite.cpp) and was killed before it rebuilt them. They are
// recreated from the migrations themselves, replayed into an in-memory database, so their DDL
// stays in schema/ only. Called inside migrate()'s write transaction; costs about a millisecond
// when nothing is missing.
Result<void> restore_indexes(Db& db, std::string_view component, int version) {
    if (version == 0) return {};
    OpenOptions options;
    options.wal = false;
    auto scratch = Db::open(":memory:", options);
    if (!scratch) return tl::unexpected(scratch.error());
    for (const auto& m : schema::all_migrations()) {
        if (m.backend == "sqlite" && m.component == component && m.version <= version) {
            if (auto r = scratch->exec(m.sql); !r) return r;
        }
    }
    auto wanted = scratch->prepare(
        "SELECT name, sql FROM sqlite_master WHERE type='index' AND sql IS NOT NULL ORDER BY name");
    if (!wanted) return tl::unexpected(wanted.error());
    auto present = db.prepare("SELECT count(*) FROM sqlite_master WHERE type='index' AND name=?1");
    if (!present) return tl::unexpected(present.error());
    std::vector<std::string> missing;
    for (;;) {
        auto row = wanted->step();
        if (!row) return tl::unexpected(row.error());
        if (!*row) break;
        present->bind(1, wanted->column_text(0));
        auto found = present->step();
        if (!found) return tl::unexpected(found.error());
        if (present->column_int64(0) == 0) missing.emplace_back(wanted->column_text(1));
        present->reset();
    }
    for (const auto& sql : missing) {
        if (auto r = db.exec(sql); !r) return r;
    }
    return {};
}

}  // namespace

Result<int> migrate(Db& db, std::string_view component) {
    // Serialise concurrent first starts: the version check and the DDL share one write lock.
    const int known = known_version("sqlite", component);
    ForeignKeysOff foreign_keys_off(db);
    bool restored = false;
    for (;;) {
        auto tx = Transaction::begin(db, true);
        if (!tx) return tl::unexpected(tx.error());
        auto exists = db.prepare(
            "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='schema_version'");
        if (!exists) return tl::unexpected(exists.error());
        auto row = exists->step();
        if (!row) return tl::unexpected(row.error());
        int current = 0;
        if (exists->column_int64(0) > 0) {
            exists->reset();
            auto version = db.prepare("SELECT version FROM schema_version WHERE component=?1");
            if (!version) return tl::unexpected(version.error());
            version->bind(1, component);
            auto vrow = version->step();
            if (!vrow) return tl::unexpected(vrow.error());
            if (*vrow) current = static_cast<int>(version->column_int64(0));
            version->reset();
        } else {
            exists->reset();
        }
        if (current > known) {
            return make_error(Errc::invalid_value,
                              db.path() + ": the " + std::string(component) +
                                  " schema is version " + std::to_string(current) +
                                  ", newer than version " + std::to_string(known) +
                                  " that this program knows; upgrade this program");
        }
        if (!restored) {
            // Before the next migration, which may expect them.
            if (auto r = restore_indexes(db, component, current); !r) {
                return tl::unexpected(r.error());
            }
            restored = true;
        }
        const schema::Migration* next = nullptr;
        for (const auto& m : schema::all_migrations()) {
            if (m.backend == "sqlite" && m.component == component && m.version == current + 1) {
                next = &m;
            }
        }
        if (!next) {
            if (current < known) {
                return make_error(Errc::internal,
                                  "schema migration " + std::to_string(current + 1) + " missing");
            }
            if (auto c = tx->commit(); !c) return tl::unexpected(c.error());
            return current;
        }
        auto applied = db.exec(next->sql);
        if (applied) applied = check_foreign_keys(db);
        if (!applied) {
            return make_error(applied.error().code,
                              "schema " + std::string(component) + " migration " +
                                  std::to_string(next->version) + " (" + std::string(next->name) +
                                  "): " + applied.error().message);
        }
        auto set =
            db.prepare("INSERT OR REPLACE INTO schema_version(component, version) VALUES (?1, ?2)");
        if (!set) return tl::unexpected(set.error());
        set->bind(1, component).bind(2, std::int64_t{next->version});
        if (auto r = set->run(); !r) return tl::unexpected(r.error());
        if (auto c = tx->commit(); !c) return tl::unexpected(c.error());
    }
}

}  // namespace dmarc::io::sqlite
