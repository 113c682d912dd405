// PostgreSQL Store over libpq (see store_postgres.hpp). Queries are prepared once per connection;
// parameters travel as text. SQL text for queries lives here; DDL only in schema/postgres/.
#include "io/store_postgres.hpp"

#include <libpq-fe.h>

#include <algorithm>
#include <array>
#include <chrono>
#include <cstring>
#include <thread>
#include <unordered_map>
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
       pd.name, pr.p, pr.sp, pr.np, pr.adkim, pr.aspf, pr.pct, pr.testing, pr.fo, pr.rua,
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

// name -> SQL of every prepared statement.
const std::array<std::pair<const char*, const char*>, 14> kStatements = {{
    {"domain_ins",
     "INSERT INTO domains(name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id"},
    {"domain_sel", "SELECT id FROM domains WHERE name = $1"},
    {"reporter_ins",
     "INSERT INTO reporters(name) VALUES ($1) ON CONFLICT (name) DO NOTHING RETURNING id"},
    {"reporter_sel", "SELECT id FROM reporters WHERE name = $1"},
    {"ip_ins",
     "INSERT INTO ip_addresses(addr) VALUES ($1) ON CONFLICT (addr) DO NOTHING RETURNING id"},
    {"ip_sel", "SELECT id FROM ip_addresses WHERE addr = $1"},
    {"record_ins",
     "INSERT INTO policy_records(domain_id, p, sp, np, adkim, aspf, pct, testing, fo, rua, "
     "first_seen, last_seen) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $11) ON "
     "CONFLICT "
     "(domain_id, p, sp, np, adkim, aspf, pct, testing, fo, rua) DO NOTHING RETURNING id"},
    {"record_sel",
     "SELECT id FROM policy_records WHERE domain_id=$1 AND p=$2 AND sp=$3 AND np=$4 AND adkim=$5 "
     "AND aspf=$6 AND pct=$7 AND testing=$8 AND fo=$9 AND rua=$10"},
    {"record_seen",
     "UPDATE policy_records SET first_seen=LEAST(first_seen, $2), last_seen=GREATEST(last_seen, "
     "$3) WHERE id=$1"},
    {"message_ins",
     "INSERT INTO messages(reporter_id, job_id, received, ip_id, helo, mail_from, env_domain_id, "
     "rcpt_to, header_from_domain_id, policy_domain_id, policy_record_id, discovery_method, "
     "spf_result, spf_domain_id, spf_scope, dkim_count, arc_result, arc_policy, dkim_aligned, "
     "spf_aligned, dmarc_result, policy_applied, disposition, override_reasons, action, is_report, "
     "origin) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, "
     "$18, $19, $20, $21, $22, $23, $24, $25, $26, $27) ON CONFLICT (reporter_id, job_id, "
     "received) DO NOTHING RETURNING id"},
    {"dkim_ins",
     "INSERT INTO dkim_results(message_id, seq, domain_id, selector, result) VALUES ($1, $2, $3, "
     "$4, $5)"},
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

    template <class Normalise>
    Result<std::int64_t> intern(Cache& by_raw, const char* ins, const char* sel,
                                std::string_view raw, Normalise&& normalise) {
        if (auto it = by_raw.find(raw); it != by_raw.end()) return it->second;
        std::string name = normalise(raw);
        auto inserted = run(ins, Params().add(std::string_view(name)));
        if (!inserted) return tl::unexpected(inserted.error());
        std::int64_t id = 0;
        if (PQntuples(inserted->get()) > 0) {
            id = std::atoll(PQgetvalue(inserted->get(), 0, 0));
        } else {
            auto found = run(sel, Params().add(std::string_view(name)));
            if (!found) return tl::unexpected(found.error());
            if (PQntuples(found->get()) == 0) {
                return make_error(Errc::temporary, std::string(sel) + ": row vanished");
            }
            id = std::atoll(PQgetvalue(found->get(), 0, 0));
        }
        by_raw.emplace(std::string(raw), id);
        return id;
    }

    Result<std::optional<std::int64_t>> domain_id(std::string_view raw) {
        if (raw.empty()) return std::optional<std::int64_t>{};
        auto id = intern(domains_, "domain_ins", "domain_sel", raw, normalise_domain);
        if (!id) return tl::unexpected(id.error());
        return std::optional<std::int64_t>{*id};
    }

    Result<std::int64_t> record_id(std::int64_t domain, const SpoolRow& row) {
        const auto& r = *row.record;
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
            .add(std::string_view(rua));
        std::string key = std::to_string(domain) + '\x1f' + std::string(to_string(r.p)) + '\x1f' +
                          std::string(token_or_empty(r.sp)) + '\x1f' +
                          std::string(token_or_empty(r.np)) + '\x1f' +
                          std::string(to_string(r.adkim)) + '\x1f' +
                          std::string(to_string(r.aspf)) + '\x1f' + std::to_string(r.pct) + '\x1f' +
                          (r.testing ? "y" : "n") + '\x1f' + r.fo + '\x1f' + rua;
        if (auto it = records_.find(key); it != records_.end()) return it->second;
        Params with_time = p;
        with_time.add(row.time);
        auto inserted = run("record_ins", with_time);
        if (!inserted) return tl::unexpected(inserted.error());
        std::int64_t id = 0;
        if (PQntuples(inserted->get()) > 0) {
            id = std::atoll(PQgetvalue(inserted->get(), 0, 0));
        } else {
            auto found = run("record_sel", p);
            if (!found) return tl::unexpected(found.error());
            if (PQntuples(found->get()) == 0) return make_error(Errc::temporary, "record vanished");
            id = std::atoll(PQgetvalue(found->get(), 0, 0));
        }
        records_.emplace(std::move(key), id);
        return id;
    }

    Result<ImportResult> import_once(std::span<const ImportItem> items,
                                     const std::optional<Watermark>& watermark) {
        if (auto r = exec("BEGIN"); !r) return tl::unexpected(r.error());
        ImportResult result;
        std::unordered_map<std::int64_t, std::pair<std::int64_t, std::int64_t>> seen;
        for (const auto& item : items) {
            const SpoolRow& row = item.row;
            auto reporter = intern(reporters_, "reporter_ins", "reporter_sel", row.reporter_host,
                                   [](std::string_view s) { return text::lower(s); });
            if (!reporter) return tl::unexpected(reporter.error());
            auto ip = intern(ips_, "ip_ins", "ip_sel", row.client_ip, normalise_ip);
            if (!ip) return tl::unexpected(ip.error());
            auto env = domain_id(envelope_domain(row.rfc5321_mail_from));
            if (!env) return tl::unexpected(env.error());
            auto header_from = intern(domains_, "domain_ins", "domain_sel", row.rfc5322_from_domain,
                                      normalise_domain);
            if (!header_from) return tl::unexpected(header_from.error());
            auto policy_domain = domain_id(row.policy_domain);
            if (!policy_domain) return tl::unexpected(policy_domain.error());
            std::optional<std::int64_t> record;
            if (row.record) {
                auto id = record_id(policy_domain->value_or(*header_from), row);
                if (!id) return tl::unexpected(id.error());
                record = *id;
            }
            auto spf_domain = domain_id(row.spf_domain);
            if (!spf_domain) return tl::unexpected(spf_domain.error());
            std::string reasons;
            for (auto reason : row.override_reasons) {
                if (!reasons.empty()) reasons += ',';
                reasons += to_string(reason);
            }
            Params p;
            p.add(*reporter)
                .add(std::string_view(row.queue_id))
                .add(row.time)
                .add(*ip)
                .add(std::string_view(row.helo))
                .add(std::string_view(row.rfc5321_mail_from))
                .add(*env)
                .add(std::string_view(encode_list(row.rfc5321_rcpt_to)))
                .add(*header_from)
                .add(*policy_domain)
                .add(record)
                .add(token(row.discovery_method))
                .add(to_string(row.spf_result))
                .add(*spf_domain)
                .add(to_string(row.spf_scope))
                .add(static_cast<std::int64_t>(row.dkim.size()))
                .add(to_string(row.arc))
                .add(std::string_view(item.arc_policy))
                .add(std::int64_t{row.dkim_aligned})
                .add(std::int64_t{row.spf_aligned})
                .add(to_string(row.dmarc_result))
                .add(token(row.policy_applied))
                .add(to_string(row.disposition))
                .add(std::string_view(reasons))
                .add(to_string(row.action))
                .add(std::int64_t{row.is_report})
                .add(std::string_view(item.origin == MessageOrigin::spool ? "spool" : "history"));
            auto inserted = run("message_ins", p);
            if (!inserted) return tl::unexpected(inserted.error());
            if (PQntuples(inserted->get()) == 0) {
                ++result.duplicates;
                continue;
            }
            ++result.inserted;
            std::int64_t message_id = std::atoll(PQgetvalue(inserted->get(), 0, 0));
            std::int64_t seq = 0;
            for (const auto& sig : row.dkim) {
                auto d = intern(domains_, "domain_ins", "domain_sel", sig.dkim_d, normalise_domain);
                if (!d) return tl::unexpected(d.error());
                auto r = run("dkim_ins", Params()
                                             .add(message_id)
                                             .add(seq++)
                                             .add(*d)
                                             .add(std::string_view(sig.dkim_s))
                                             .add(to_string(sig.result)));
                if (!r) return tl::unexpected(r.error());
            }
            if (record) {
                auto [it, fresh] = seen.try_emplace(*record, row.time, row.time);
                if (!fresh) {
                    it->second.first = std::min(it->second.first, row.time);
                    it->second.second = std::max(it->second.second, row.time);
                }
            }
        }
        for (const auto& [id, span] : seen) {
            auto r = run("record_seen", Params().add(id).add(span.first).add(span.second));
            if (!r) return tl::unexpected(r.error());
        }
        if (watermark) {
            auto r = run("wm_set",
                         Params().add(std::string_view(watermark->source)).add(watermark->value));
            if (!r) return tl::unexpected(r.error());
        }
        if (auto r = exec("COMMIT"); !r) return tl::unexpected(r.error());
        return result;
    }

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
