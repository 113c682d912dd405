// PostgreSQL Store over libpq (see store_postgres.hpp). Queries are prepared once per connection;
// parameters travel as text. SQL text for queries lives here; DDL only in schema/postgres/.
#include "io/store_postgres.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <thread>
#include <tuple>
#include <unordered_map>
#include <unordered_set>
#include <utility>
#include <vector>

#include "core/domain_name.hpp"
#include "core/ip.hpp"
#include "core/text.hpp"
#include "io/schema.hpp"

namespace dmarc::io {
namespace {

struct ConnDeleter {
    void operator()(PGconn* c) const noexcept { PQfinish(c); }
};
struct ResultDeleter {
    void operator()(PGresult* r) const noexcept { PQclear(r); }
};
using ConnHandle = std::unique_ptr<PGconn, ConnDeleter>;
using PgResult = std::unique_ptr<PGresult, ResultDeleter>;

// Parameters as text (NULL = absent).
class Params {
  public:
    Params& add(std::string_view v) {
        values_.emplace_back(v);
        nulls_.push_back(false);
        return *this;
    }
    Params& add(std::int64_t v) { return add(std::string_view(std::to_string(v))); }
    Params& add(const std::optional<std::int64_t>& v) { return v ? add(*v) : add_null(); }
    Params& add(const std::optional<std::string_view>& v) { return v ? add(*v) : add_null(); }
    Params& add_null() {
        values_.emplace_back();
        nulls_.push_back(true);
        return *this;
    }
    int size() const { return static_cast<int>(values_.size()); }
    std::vector<const char*> pointers() const {
        std::vector<const char*> out;
        for (std::size_t i = 0; i < values_.size(); ++i) {
            out.push_back(nulls_[i] ? nullptr : values_[i].c_str());
        }
        return out;
    }

  private:
    std::vector<std::string> values_;
    std::vector<bool> nulls_;
};

struct StringHash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const noexcept {
        return std::hash<std::string_view>{}(s);
    }
};
using Cache = std::unordered_map<std::string, std::int64_t, StringHash, std::equal_to<>>;

std::string normalise_domain(std::string_view raw) {
    auto a_label = to_a_label_domain(raw);
    return a_label ? std::move(*a_label) : text::lower(raw);
}
std::string normalise_ip(std::string_view raw) {
    auto ip = IpAddress::parse(raw);
    return ip ? ip->to_string() : std::string(raw);
}
std::string_view envelope_domain(std::string_view mail_from) {
    auto at = mail_from.rfind('@');
    return at == std::string_view::npos ? mail_from : mail_from.substr(at + 1);
}
template <class E>
std::string_view token_or_empty(const std::optional<E>& value) {
    return value ? to_string(*value) : std::string_view{};
}
template <class E>
std::optional<std::string_view> token(const std::optional<E>& value) {
    if (!value) return std::nullopt;
    return to_string(*value);
}

constexpr std::string_view kDigestQuery = R"sql(
SELECT r.name, m.job_id, m.received, ip.addr, m.helo, m.mail_from, ed.name, m.rcpt_to, hf.name,
       pd.name, pr.p, pr.sp, pr.np, pr.adkim, pr.aspf, pr.pct, pr.testing, pr.fo, pr.rua, pr.ri,
       m.discovery_method, m.spf_result, sd.name, m.spf_scope, m.dkim_count, m.arc_result,
       m.arc_policy, m.dkim_aligned, m.spf_aligned, m.dmarc_result, m.policy_applied,
       m.disposition, m.override_reasons, m.action, m.is_report, m.origin,
       (SELECT string_agg(d.name || ' ' || k.selector || ' ' || k.result, ',' ORDER BY k.seq)
        FROM dkim_results k JOIN domains d ON d.id = k.domain_id WHERE k.message_id = m.id)
FROM messages m
JOIN reporters r ON r.id = m.reporter_id
JOIN ip_addresses ip ON ip.id = m.ip_id
JOIN domains hf ON hf.id = m.header_from_domain_id
LEFT JOIN domains ed ON ed.id = m.env_domain_id
LEFT JOIN domains pd ON pd.id = m.policy_domain_id
LEFT JOIN domains sd ON sd.id = m.spf_domain_id
LEFT JOIN policy_records pr ON pr.id = m.policy_record_id
ORDER BY r.name COLLATE "C", m.job_id COLLATE "C", m.received
)sql";

constexpr const char* kStagingTables =
    "CREATE TEMPORARY TABLE IF NOT EXISTS import_messages (reporter_id BIGINT, job_id TEXT, "
    "received BIGINT, "
    "ip_id BIGINT, helo TEXT, mail_from TEXT, env_domain_id BIGINT, rcpt_to TEXT, "
    "header_from_domain_id BIGINT, policy_domain_id BIGINT, policy_record_id BIGINT, "
    "discovery_method TEXT, spf_result TEXT, spf_domain_id BIGINT, spf_scope TEXT, dkim_count "
    "BIGINT, arc_result TEXT, arc_policy TEXT, dkim_aligned BIGINT, spf_aligned BIGINT, "
    "dmarc_result TEXT, policy_applied TEXT, disposition TEXT, override_reasons TEXT, action "
    "TEXT, is_report BIGINT, origin TEXT) ON COMMIT DELETE ROWS;"
    "CREATE TEMPORARY TABLE IF NOT EXISTS import_dkim (reporter_id BIGINT, job_id TEXT, received "
    "BIGINT, seq "
    "BIGINT, domain_id BIGINT, selector TEXT, result TEXT) ON COMMIT DELETE ROWS";

// Staged rows into the store. Keys are unique inside a batch (the client keeps the first), so
// the DKIM rows join their message by key.
constexpr const char* kMoveStaged = R"sql(
WITH ins AS (
    INSERT INTO messages(reporter_id, job_id, received, ip_id, helo, mail_from, env_domain_id,
        rcpt_to, header_from_domain_id, policy_domain_id, policy_record_id, discovery_method,
        spf_result, spf_domain_id, spf_scope, dkim_count, arc_result, arc_policy, dkim_aligned,
        spf_aligned, dmarc_result, policy_applied, disposition, override_reasons, action,
        is_report, origin)
    SELECT reporter_id, job_id, received, ip_id, helo, mail_from, env_domain_id, rcpt_to,
        header_from_domain_id, policy_domain_id, policy_record_id, discovery_method, spf_result,
        spf_domain_id, spf_scope, dkim_count, arc_result, arc_policy, dkim_aligned, spf_aligned,
        dmarc_result, policy_applied, disposition, override_reasons, action, is_report, origin
    FROM import_messages ORDER BY received, reporter_id, job_id
    ON CONFLICT (received, reporter_id, job_id) DO NOTHING
    RETURNING id, reporter_id, job_id, received, policy_record_id
), dk AS (
    INSERT INTO dkim_results(message_id, seq, domain_id, selector, result)
    SELECT ins.id, d.seq, d.domain_id, d.selector, d.result
    FROM ins JOIN import_dkim d ON d.reporter_id = ins.reporter_id AND d.job_id = ins.job_id
        AND d.received = ins.received
)
SELECT policy_record_id, min(received), max(received), count(*) FROM ins GROUP BY policy_record_id
)sql";

// name -> SQL of every prepared statement.
const std::array<std::pair<const char*, const char*>, 5> kStatements = {{
    {"record_ins",
     "INSERT INTO policy_records(domain_id, p, sp, np, adkim, aspf, pct, testing, fo, rua, ri, "
     "first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $12) ON "
     "CONFLICT "
     "(domain_id, p, sp, np, adkim, aspf, pct, testing, fo, rua, ri) DO NOTHING RETURNING id"},
    {"record_sel",
     "SELECT id FROM policy_records WHERE domain_id=$1 AND p=$2 AND sp=$3 AND np=$4 AND adkim=$5 "
     "AND aspf=$6 AND pct=$7 AND testing=$8 AND fo=$9 AND rua=$10 AND ri=$11"},
    {"wm_set",
     "INSERT INTO import_sources(source, watermark) VALUES ($1, $2) ON CONFLICT (source) DO "
     "UPDATE SET watermark = GREATEST(import_sources.watermark, excluded.watermark)"},
    {"wm_get", "SELECT watermark FROM import_sources WHERE source = $1"},
    {"version_get", "SELECT version FROM schema_version WHERE component = 'store'"},
}};

class PostgresStore final : public Store {
  public:
    explicit PostgresStore(ConnHandle conn) : conn_(std::move(conn)) {}

    Result<PgResult> exec(std::string_view sql) {
        PgResult r(PQexec(conn_.get(), std::string(sql).c_str()));
        return check(std::move(r), "query");
    }

    Result<PgResult> run(const char* name, const Params& params) {
        auto pointers = params.pointers();
        PgResult r(
            PQexecPrepared(conn_.get(), name, params.size(), pointers.data(), nullptr, nullptr, 0));
        return check(std::move(r), name);
    }

    Result<PgResult> check(PgResult r, std::string_view what) {
        auto status = r ? PQresultStatus(r.get()) : PGRES_FATAL_ERROR;
        if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) return r;
        const char* state = r ? PQresultErrorField(r.get(), PG_DIAG_SQLSTATE) : nullptr;
        std::string message = std::string(what) + ": " + PQerrorMessage(conn_.get());
        while (!message.empty() && message.back() == '\n') message.pop_back();
        // 40001 serialization failure, 40P01 deadlock, 08xxx connection: worth a retry.
        // A connection lost without a SQLSTATE (the server restarted: "server closed the
        // connection unexpectedly") is transient too; import() reconnects.
        bool transient =
            PQstatus(conn_.get()) == CONNECTION_BAD ||
            (state && (std::strncmp(state, "40", 2) == 0 || std::strncmp(state, "08", 2) == 0 ||
                       std::strncmp(state, "57P", 3) == 0 || std::strcmp(state, "55P03") == 0));
        return make_error(transient ? Errc::temporary : Errc::io, message);
    }

    Result<int> migrate() {
        const int known = [] {
            int newest = 0;
            for (const auto& m : schema::all_migrations()) {
                if (m.backend == "postgres" && m.component == "store") {
                    newest = std::max(newest, m.version);
                }
            }
            return newest;
        }();
        for (;;) {
            if (auto r = exec("BEGIN"); !r) return tl::unexpected(r.error());
            // Two collectors starting at once: one migrates, the other waits and sees the result.
            if (auto r = exec("SELECT pg_advisory_xact_lock(7489001)"); !r) {
                (void)exec("ROLLBACK");
                return tl::unexpected(r.error());
            }
            auto exists = exec("SELECT to_regclass('schema_version') IS NOT NULL");
            if (!exists) return rollback(exists.error());
            int current = 0;
            if (std::string_view(PQgetvalue(exists->get(), 0, 0)) == "t") {
                auto v = exec("SELECT version FROM schema_version WHERE component='store'");
                if (!v) return rollback(v.error());
                if (PQntuples(v->get()) > 0) current = std::atoi(PQgetvalue(v->get(), 0, 0));
            }
            if (current > known) {
                return rollback(Error{Errc::invalid_value,
                                      "the store schema is version " + std::to_string(current) +
                                          ", newer than version " + std::to_string(known) +
                                          " that this program knows; upgrade this program"});
            }
            const schema::Migration* next = nullptr;
            for (const auto& m : schema::all_migrations()) {
                if (m.backend == "postgres" && m.component == "store" && m.version == current + 1) {
                    next = &m;
                }
            }
            if (!next) {
                if (auto r = exec("COMMIT"); !r) return tl::unexpected(r.error());
                return current;
            }
            if (auto r = exec(next->sql); !r) return rollback(r.error());
            Params p;
            p.add(std::int64_t{next->version});
            auto pointers = p.pointers();
            PgResult set(PQexecParams(conn_.get(),
                                      "INSERT INTO schema_version(component, version) VALUES "
                                      "('store', $1) ON CONFLICT (component) DO UPDATE SET "
                                      "version = excluded.version",
                                      1, nullptr, pointers.data(), nullptr, nullptr, 0));
            if (auto r = check(std::move(set), "schema_version"); !r) return rollback(r.error());
            if (auto r = exec("COMMIT"); !r) return tl::unexpected(r.error());
        }
    }

    Result<void> prepare() {
        for (const auto& [name, sql] : kStatements) {
            PgResult r(PQprepare(conn_.get(), name, sql, 0, nullptr));
            if (auto c = check(std::move(r), name); !c) return tl::unexpected(c.error());
        }
        return {};
    }

    Result<ImportResult> import(std::span<const ImportItem> items,
                                const std::optional<Watermark>& watermark) override {
        // A deadlock between two collectors interning the same names is retried, not surfaced.
        for (int attempt = 0;; ++attempt) {
            auto result = import_once(items, watermark);
            if (result) return result;
            (void)exec("ROLLBACK");
            staging_ready_ = false;  // created in the rolled-back transaction, perhaps
            domains_.clear();
            reporters_.clear();
            ips_.clear();
            records_.clear();
            if (result.error().code != Errc::temporary || attempt >= 5) return result;
            if (PQstatus(conn_.get()) == CONNECTION_BAD && !reconnect()) return result;
        }
    }

    // The server went away (restart, failover): connect again with the same parameters for up
    // to kReconnectSeconds, then prepare the statements again (they died with the session). The
    // batch is retried whole: it was rolled back, and the watermark commits with it.
    bool reconnect() {
        constexpr int kReconnectSeconds = 30;
        for (int i = 0; i < kReconnectSeconds; ++i) {
            PQreset(conn_.get());
            if (PQstatus(conn_.get()) == CONNECTION_OK) {
                return exec("SET client_min_messages = warning").has_value() &&
                       prepare().has_value();
            }
            std::this_thread::sleep_for(std::chrono::seconds(1));
        }
        return false;
    }

    Result<std::optional<std::int64_t>> watermark(std::string_view source) override {
        auto r = run("wm_get", Params().add(source));
        if (!r) return tl::unexpected(r.error());
        if (PQntuples(r->get()) == 0) return std::optional<std::int64_t>{};
        return std::optional<std::int64_t>{std::atoll(PQgetvalue(r->get(), 0, 0))};
    }

    Result<ExpireResult> expire(std::int64_t before) override {
        if (auto r = exec("BEGIN"); !r) return tl::unexpected(r.error());
        constexpr std::string_view kNeeded =
            "m.report_id IS NULL AND m.is_report = 0 AND m.policy_record_id IS NOT NULL AND "
            "(SELECT rua FROM policy_records pr WHERE pr.id = m.policy_record_id) <> ''";
        ExpireResult out;
        auto param = [&](std::string_view sql) -> Result<PgResult> {
            Params p;
            p.add(before);
            auto pointers = p.pointers();
            PgResult r(PQexecParams(conn_.get(), std::string(sql).c_str(), 1, nullptr,
                                    pointers.data(), nullptr, nullptr, 0));
            return check(std::move(r), "expire");
        };
        auto kept = param("SELECT count(*) FROM messages m WHERE m.received < $1 AND " +
                          std::string(kNeeded));
        if (!kept) return rollback_expire(kept.error());
        out.messages_kept_unreported = std::atoll(PQgetvalue(kept->get(), 0, 0));
        auto del = param("DELETE FROM messages m WHERE m.received < $1 AND NOT (" +
                         std::string(kNeeded) + ")");
        if (!del) return rollback_expire(del.error());
        out.messages_deleted = std::atoll(PQcmdTuples(del->get()));
        auto reports = param(
            "DELETE FROM reports WHERE period_end < $1 AND NOT EXISTS (SELECT 1 FROM "
            "report_deliveries d WHERE d.report_id = reports.id AND d.status IN ('pending', "
            "'temp_failed')) AND NOT EXISTS (SELECT 1 FROM messages m WHERE m.report_id = "
            "reports.id)");
        if (!reports) return rollback_expire(reports.error());
        out.reports_deleted = std::atoll(PQcmdTuples(reports->get()));
        if (auto r = exec("COMMIT"); !r) return tl::unexpected(r.error());
        return out;
    }

    Result<StoreCounts> counts() override {
        StoreCounts c;
        std::pair<const char*, std::int64_t*> tables[] = {{"messages", &c.messages},
                                                          {"dkim_results", &c.dkim_results},
                                                          {"domains", &c.domains},
                                                          {"reporters", &c.reporters},
                                                          {"ip_addresses", &c.ip_addresses},
                                                          {"policy_records", &c.policy_records},
                                                          {"reports", &c.reports}};
        for (auto [table, into] : tables) {
            auto r = exec(std::string("SELECT count(*) FROM ") + table);
            if (!r) return tl::unexpected(r.error());
            *into = std::atoll(PQgetvalue(r->get(), 0, 0));
        }
        return c;
    }

    Result<std::string> content_digest() override {
        auto r = exec(kDigestQuery);
        if (!r) return tl::unexpected(r.error());
        std::uint64_t hash = 14695981039346656037ull;
        auto mix = [&](std::string_view bytes) {
            for (char c : bytes) {
                hash ^= static_cast<unsigned char>(c);
                hash *= 1099511628211ull;
            }
        };
        int rows = PQntuples(r->get()), cols = PQnfields(r->get());
        for (int i = 0; i < rows; ++i) {
            for (int j = 0; j < cols; ++j) {
                mix(PQgetisnull(r->get(), i, j)
                        ? std::string_view("\x01N")
                        : std::string_view(PQgetvalue(r->get(), i, j),
                                           static_cast<std::size_t>(PQgetlength(r->get(), i, j))));
                mix("\x1f");
            }
            mix("\x1e");
        }
        char out[17];
        constexpr char kHex[] = "0123456789abcdef";
        for (int i = 0; i < 16; ++i) out[i] = kHex[(hash >> (60 - 4 * i)) & 0xf];
        out[16] = 0;
        return std::string(out);
    }

  private:
    tl::unexpected<Error> rollback(Error e) {
        (void)exec("ROLLBACK");
        return tl::unexpected(std::move(e));
    }
    tl::unexpected<Error> rollback_expire(Error e) { return rollback(std::move(e)); }

    // Interns every raw name of `raws` missing from `by_raw` with two statements: one
    // INSERT ... ON CONFLICT DO NOTHING of the sorted new names, then one SELECT of their ids.
    // Sorted, so two collectors interning overlapping names take the row locks in the same order
    // and wait for each other instead of deadlocking.
    template <class Normalise>
    Result<void> intern_all(Cache& by_raw, std::string_view table, std::string_view column,
                            const std::vector<std::string_view>& raws, Normalise&& normalise) {
        std::unordered_map<std::string, std::vector<std::string_view>> wanted;  // name -> raws
        for (std::string_view raw : raws) {
            if (by_raw.find(raw) != by_raw.end()) continue;
            wanted[normalise(raw)].push_back(raw);
        }
        if (wanted.empty()) return {};
        std::vector<std::string_view> names;
        names.reserve(wanted.size());
        for (const auto& [name, unused] : wanted) names.push_back(name);
        std::sort(names.begin(), names.end());
        const std::string array = text_array(names);
        const std::string insert = "INSERT INTO " + std::string(table) + "(" + std::string(column) +
                                   ") SELECT n FROM unnest($1::text[]) AS n " +
                                   "ORDER BY n ON CONFLICT (" + std::string(column) +
                                   ") DO NOTHING";
        if (auto r = exec_params(insert, {array}); !r) return tl::unexpected(r.error());
        auto found =
            exec_params("SELECT " + std::string(column) + ", id FROM " + std::string(table) +
                            " WHERE " + std::string(column) + " = ANY($1::text[])",
                        {array});
        if (!found) return tl::unexpected(found.error());
        const int rows = PQntuples(found->get());
        for (int i = 0; i < rows; ++i) {
            auto it = wanted.find(PQgetvalue(found->get(), i, 0));
            if (it == wanted.end()) continue;
            const std::int64_t id = std::atoll(PQgetvalue(found->get(), i, 1));
            for (std::string_view raw : it->second) by_raw.emplace(std::string(raw), id);
        }
        for (std::string_view raw : raws) {
            if (by_raw.find(raw) == by_raw.end()) {
                return make_error(Errc::temporary, std::string(table) + ": interned row vanished");
            }
        }
        return {};
    }

    Result<PgResult> exec_params(const std::string& sql, const std::vector<std::string>& params) {
        std::vector<const char*> pointers;
        for (const auto& p : params) pointers.push_back(p.c_str());
        PgResult r(PQexecParams(conn_.get(), sql.c_str(), static_cast<int>(pointers.size()),
                                nullptr, pointers.data(), nullptr, nullptr, 0));
        return check(std::move(r), "import");
    }

    // A PostgreSQL array literal of text elements, every element quoted.
    static std::string text_array(const std::vector<std::string_view>& items) {
        std::string out = "{";
        for (std::size_t i = 0; i < items.size(); ++i) {
            if (i) out += ',';
            out += '"';
            for (char c : items[i]) {
                if (c == '\0') continue;  // PostgreSQL text cannot hold NUL
                if (c == '"' || c == '\\') out += '\\';
                out += c;
            }
            out += '"';
        }
        out += '}';
        return out;
    }

    std::int64_t cached(const Cache& cache, std::string_view raw) const {
        return cache.find(raw)->second;  // present: intern_all() ran over every raw name
    }
    std::optional<std::int64_t> cached_domain(std::string_view raw) const {
        if (raw.empty()) return std::nullopt;
        return cached(domains_, raw);
    }

    static std::string record_key(std::int64_t domain, const PublishedPolicy& r) {
        std::string key = std::to_string(domain);
        for (std::string_view part :
             {to_string(r.p), token_or_empty(r.sp), token_or_empty(r.np), to_string(r.adkim),
              to_string(r.aspf), std::string_view(r.testing ? "y" : "n"), std::string_view(r.fo)}) {
            key += '\x1f';
            key += part;
        }
        key += '\x1f';
        key += std::to_string(r.pct);
        key += '\x1f';
        key += std::to_string(r.ri);
        for (const auto& uri : r.rua) {
            key += '\x1f';
            key += uri;
        }
        return key;
    }

    // Records seen for the first time: one round trip each, in key order (lock order, as for
    // names). Few: a store sees each record once, then it comes from the cache.
    Result<void> intern_records(
        std::vector<std::tuple<std::string, std::int64_t, const SpoolRow*>>& missing) {
        std::sort(missing.begin(), missing.end(),
                  [](const auto& a, const auto& b) { return std::get<0>(a) < std::get<0>(b); });
        for (const auto& [key, domain, row] : missing) {
            if (records_.find(key) != records_.end()) continue;
            const auto& r = *row->record;
            std::string rua;
            for (const auto& uri : r.rua) {
                if (!rua.empty()) rua += ',';
                rua += uri;
            }
            Params p;
            p.add(domain)
                .add(to_string(r.p))
                .add(token_or_empty(r.sp))
                .add(token_or_empty(r.np))
                .add(to_string(r.adkim))
                .add(to_string(r.aspf))
                .add(std::int64_t{r.pct})
                .add(std::int64_t{r.testing})
                .add(std::string_view(r.fo))
                .add(std::string_view(rua))
                .add(std::int64_t{r.ri});
            Params with_time = p;
            with_time.add(row->time);
            auto inserted = run("record_ins", with_time);
            if (!inserted) return tl::unexpected(inserted.error());
            std::int64_t id = 0;
            if (PQntuples(inserted->get()) > 0) {
                id = std::atoll(PQgetvalue(inserted->get(), 0, 0));
            } else {
                auto found = run("record_sel", p);
                if (!found) return tl::unexpected(found.error());
                if (PQntuples(found->get()) == 0) {
                    return make_error(Errc::temporary, "record vanished");
                }
                id = std::atoll(PQgetvalue(found->get(), 0, 0));
            }
            records_.emplace(key, id);
        }
        return {};
    }

    // COPY text format (PostgreSQL docs, COPY "Text Format"): tab-separated, \N for NULL,
    // backslash escapes for backslash, tab, newline and carriage return.
    static void copy_field(std::string& out, std::string_view value) {
        for (char c : value) {
            switch (c) {
                case '\\':
                    out += "\\\\";
                    break;
                case '\t':
                    out += "\\t";
                    break;
                case '\n':
                    out += "\\n";
                    break;
                case '\r':
                    out += "\\r";
                    break;
                case '\0':
                    break;  // PostgreSQL text cannot hold NUL
                default:
                    out += c;
            }
        }
        out += '\t';
    }
    static void copy_field(std::string& out, const std::string& value) {
        copy_field(out, std::string_view(value));
    }
    static void copy_field(std::string& out, std::int64_t value) {
        out += std::to_string(value);
        out += '\t';
    }
    static void copy_field(std::string& out, const std::optional<std::int64_t>& value) {
        if (value) return copy_field(out, *value);
        out += "\\N\t";
    }
    static void copy_field(std::string& out, const std::optional<std::string_view>& value) {
        if (value) return copy_field(out, *value);
        out += "\\N\t";
    }
    static void end_row(std::string& out) { out.back() = '\n'; }

    Result<void> copy_in(std::string_view sql, const std::string& data) {
        PgResult start(PQexec(conn_.get(), std::string(sql).c_str()));
        if (!start || PQresultStatus(start.get()) != PGRES_COPY_IN) {
            return tl::unexpected(check(std::move(start), "copy").error());
        }
        constexpr std::size_t kPiece = 1 << 20;
        for (std::size_t at = 0; at < data.size(); at += kPiece) {
            const std::size_t n = std::min(kPiece, data.size() - at);
            if (PQputCopyData(conn_.get(), data.data() + at, static_cast<int>(n)) != 1) {
                return make_error(Errc::temporary,
                                  std::string("copy: ") + PQerrorMessage(conn_.get()));
            }
        }
        if (PQputCopyEnd(conn_.get(), nullptr) != 1) {
            return make_error(Errc::temporary, std::string("copy: ") + PQerrorMessage(conn_.get()));
        }
        PgResult end(PQgetResult(conn_.get()));
        auto r = check(std::move(end), "copy");
        while (PGresult* extra = PQgetResult(conn_.get())) PQclear(extra);
        if (!r) return tl::unexpected(r.error());
        return {};
    }

    // The batch: names interned first (sorted, two statements per table), the rows COPYed into
    // session-local staging tables, then one statement moves them into messages and
    // dkim_results (ON CONFLICT DO NOTHING on the deduplication key, in key order so two
    // collectors lock in the same order) and reports what it inserted; the policy records'
    // first/last seen and the watermark follow, all in one transaction.
    Result<ImportResult> import_once(std::span<const ImportItem> items,
                                     const std::optional<Watermark>& watermark) {
        if (auto r = exec("BEGIN"); !r) return tl::unexpected(r.error());
        // The batch's sorts (key order, DKIM join) fit in memory instead of spilling to disk.
        if (auto r = exec("SET LOCAL work_mem = '64MB'"); !r) return tl::unexpected(r.error());
        if (!staging_ready_) {
            // Scratch space of this connection only (temporary, emptied at every commit): not
            // part of the store's schema, which lives in schema/postgres/.
            if (auto r = exec(kStagingTables); !r) return tl::unexpected(r.error());
            staging_ready_ = true;
        }
        std::vector<std::string_view> reporters, ips, domains;
        for (const auto& item : items) {
            const SpoolRow& row = item.row;
            reporters.push_back(row.reporter_host);
            ips.push_back(row.client_ip);
            domains.push_back(row.rfc5322_from_domain);  // NOT NULL: interned even if empty
            for (std::string_view d :
                 {envelope_domain(row.rfc5321_mail_from), std::string_view(row.policy_domain),
                  std::string_view(row.spf_domain)}) {
                if (!d.empty()) domains.push_back(d);
            }
            for (const auto& sig : row.dkim) domains.push_back(sig.dkim_d);
        }
        if (auto r = intern_all(reporters_, "reporters", "name", reporters,
                                [](std::string_view s) { return text::lower(s); });
            !r) {
            return tl::unexpected(r.error());
        }
        if (auto r = intern_all(ips_, "ip_addresses", "addr", ips, normalise_ip); !r) {
            return tl::unexpected(r.error());
        }
        if (auto r = intern_all(domains_, "domains", "name", domains, normalise_domain); !r) {
            return tl::unexpected(r.error());
        }
        std::vector<std::string> keys(items.size());
        std::vector<std::tuple<std::string, std::int64_t, const SpoolRow*>> missing;
        for (std::size_t i = 0; i < items.size(); ++i) {
            const SpoolRow& row = items[i].row;
            if (!row.record) continue;
            std::int64_t domain = row.policy_domain.empty()
                                      ? cached(domains_, row.rfc5322_from_domain)
                                      : cached(domains_, row.policy_domain);
            keys[i] = record_key(domain, *row.record);
            if (records_.find(keys[i]) == records_.end())
                missing.emplace_back(keys[i], domain, &row);
        }
        if (auto r = intern_records(missing); !r) return tl::unexpected(r.error());

        ImportResult result;
        std::string messages, dkim, reasons;
        messages.reserve(items.size() * 320);
        // The first of several rows with one key wins, as in SQLite (and as a second import would).
        std::unordered_set<std::string> batch_keys;
        for (std::size_t i = 0; i < items.size(); ++i) {
            const ImportItem& item = items[i];
            const SpoolRow& row = item.row;
            const std::int64_t reporter = cached(reporters_, row.reporter_host);
            std::string dedup = std::to_string(row.time) + '\x1f' + std::to_string(reporter) +
                                '\x1f' + row.queue_id;
            if (!batch_keys.insert(std::move(dedup)).second) {
                ++result.duplicates;
                continue;
            }
            reasons.clear();
            for (auto reason : row.override_reasons) {
                if (!reasons.empty()) reasons += ',';
                reasons += to_string(reason);
            }
            std::optional<std::int64_t> record;
            if (row.record) record = records_.find(keys[i])->second;
            copy_field(messages, reporter);
            copy_field(messages, row.queue_id);
            copy_field(messages, row.time);
            copy_field(messages, cached(ips_, row.client_ip));
            copy_field(messages, row.helo);
            copy_field(messages, row.rfc5321_mail_from);
            copy_field(messages, cached_domain(envelope_domain(row.rfc5321_mail_from)));
            copy_field(messages, encode_list(row.rfc5321_rcpt_to));
            copy_field(messages, cached(domains_, row.rfc5322_from_domain));
            copy_field(messages, cached_domain(row.policy_domain));
            copy_field(messages, record);
            copy_field(messages, token(row.discovery_method));
            copy_field(messages, to_string(row.spf_result));
            copy_field(messages, cached_domain(row.spf_domain));
            copy_field(messages, to_string(row.spf_scope));
            copy_field(messages, static_cast<std::int64_t>(row.dkim.size()));
            copy_field(messages, to_string(row.arc));
            copy_field(messages, item.arc_policy);
            copy_field(messages, std::int64_t{row.dkim_aligned});
            copy_field(messages, std::int64_t{row.spf_aligned});
            copy_field(messages, to_string(row.dmarc_result));
            copy_field(messages, token(row.policy_applied));
            copy_field(messages, to_string(row.disposition));
            copy_field(messages, reasons);
            copy_field(messages, to_string(row.action));
            copy_field(messages, std::int64_t{row.is_report});
            copy_field(messages,
                       std::string_view(item.origin == MessageOrigin::spool ? "spool" : "history"));
            end_row(messages);
            std::int64_t seq = 0;
            for (const auto& sig : row.dkim) {
                copy_field(dkim, reporter);
                copy_field(dkim, row.queue_id);
                copy_field(dkim, row.time);
                copy_field(dkim, seq++);
                copy_field(dkim, cached(domains_, sig.dkim_d));
                copy_field(dkim, sig.dkim_s);
                copy_field(dkim, to_string(sig.result));
                end_row(dkim);
            }
        }
        if (!messages.empty()) {
            if (auto r = copy_in("COPY import_messages FROM STDIN", messages); !r) {
                return tl::unexpected(r.error());
            }
        }
        if (!dkim.empty()) {
            if (auto r = copy_in("COPY import_dkim FROM STDIN", dkim); !r) {
                return tl::unexpected(r.error());
            }
        }
        // Temporary tables get no statistics from autovacuum; without them the planner joins
        // the DKIM rows to their messages by nested loop, quadratic in the batch size.
        if (auto r = exec("ANALYZE import_messages, import_dkim"); !r) {
            return tl::unexpected(r.error());
        }
        auto moved = exec(kMoveStaged);
        if (!moved) return tl::unexpected(moved.error());
        // One row per policy record (NULL included) the inserted messages were evaluated under.
        std::vector<std::string> record_ids, firsts, lasts;
        std::vector<std::tuple<std::int64_t, std::int64_t, std::int64_t>> seen;
        for (int i = 0; i < PQntuples(moved->get()); ++i) {
            const std::uint64_t n = std::strtoull(PQgetvalue(moved->get(), i, 3), nullptr, 10);
            result.inserted += n;
            if (PQgetisnull(moved->get(), i, 0)) continue;
            seen.emplace_back(std::atoll(PQgetvalue(moved->get(), i, 0)),
                              std::atoll(PQgetvalue(moved->get(), i, 1)),
                              std::atoll(PQgetvalue(moved->get(), i, 2)));
        }
        result.duplicates += items.size() - result.duplicates - result.inserted;
        if (!seen.empty()) {
            std::sort(seen.begin(), seen.end());  // row locks in id order, as for names
            std::string ids = "{", lo = "{", hi = "{";
            for (std::size_t i = 0; i < seen.size(); ++i) {
                const char* sep = i ? "," : "";
                ids += sep + std::to_string(std::get<0>(seen[i]));
                lo += sep + std::to_string(std::get<1>(seen[i]));
                hi += sep + std::to_string(std::get<2>(seen[i]));
            }
            ids += '}', lo += '}', hi += '}';
            if (auto r = exec_params(
                    "SELECT id FROM policy_records WHERE id = ANY($1::bigint[]) ORDER BY id FOR "
                    "UPDATE",
                    {ids});
                !r) {
                return tl::unexpected(r.error());
            }
            if (auto r = exec_params(
                    "UPDATE policy_records p SET first_seen = LEAST(p.first_seen, s.lo), "
                    "last_seen = GREATEST(p.last_seen, s.hi) FROM unnest($1::bigint[], "
                    "$2::bigint[], $3::bigint[]) AS s(id, lo, hi) WHERE p.id = s.id",
                    {ids, lo, hi});
                !r) {
                return tl::unexpected(r.error());
            }
        }
        if (watermark) {
            auto r = run("wm_set",
                         Params().add(std::string_view(watermark->source)).add(watermark->value));
            if (!r) return tl::unexpected(r.error());
        }
        if (auto r = exec("COMMIT"); !r) return tl::unexpected(r.error());
        return result;
    }

    bool staging_ready_ = false;
    ConnHandle conn_;
    Cache domains_, reporters_, ips_, records_;
};

}  // namespace

Result<std::unique_ptr<Store>> open_postgres_store(const std::string& conninfo) {
    ConnHandle conn(PQconnectdb(conninfo.c_str()));
    if (!conn || PQstatus(conn.get()) != CONNECTION_OK) {
        std::string message = conn ? PQerrorMessage(conn.get()) : "out of memory";
        while (!message.empty() && message.back() == '\n') message.pop_back();
        return make_error(Errc::temporary, "cannot connect to PostgreSQL: " + message);
    }
    auto store = std::make_unique<PostgresStore>(std::move(conn));
    if (auto r = store->exec("SET client_min_messages = warning"); !r) {
        return tl::unexpected(r.error());
    }
    if (auto v = store->migrate(); !v) return tl::unexpected(v.error());
    if (auto r = store->prepare(); !r) return tl::unexpected(r.error());
    return std::unique_ptr<Store>(std::move(store));
}

}  // namespace dmarc::io
