// Read-only dashboard queries over the store (issue 7), one SQL text for SQLite and PostgreSQL
// (io/sql_connection.hpp). Every filter value is bound, never spliced into SQL; filters resolve
// names to interned ids through the UNIQUE indexes, so each query walks one of the
// (…, received) indexes of messages. Portable SQL: count(*) FILTER (WHERE …) instead of
// summing booleans, time buckets by integer arithmetic on epoch seconds, 0/1 integers for flags.
#include "io/store_queries.hpp"

#include "io/sqlite.hpp"
#include "io/store.hpp"

namespace dmarc::io {

std::string DomainScope::key() const {
    if (all) return "*";
    std::string out;
    for (const auto& d : domains) {
        if (!out.empty()) out += ',';
        out += d;
    }
    return out;
}

using sql::p;
using sql::Row;
using sql::to_int;
using sql::to_opt_int;
using sql::to_text;

namespace {

// A statement's parameters; bind() returns the placeholder to write in the SQL.
struct Params {
    std::vector<sql::Param> list;
    std::string bind(sql::Param param) {
        list.push_back(std::move(param));
        return "$" + std::to_string(list.size());
    }
};

// A user's scope in SQL. The domains table is small and interned, so the scope resolves to
// domain ids inside the statement (an uncorrelated subquery, run once per statement): always
// current (a subdomain first seen a minute ago is covered), with two parameters per listed domain
// however many subdomains match. A subdomain is a name that ends in "." + the domain, compared
// with substr, not LIKE: no wildcard to escape, and byte-exact on both backends (SQLite's LIKE
// ignores ASCII case, PostgreSQL's does not). For a name no longer than the domain, the start is
// 0 or less and what substr returns (SQLite counts a negative start from the right, PostgreSQL
// from before the first character) is too short to match either way.
struct ScopeSql {
    bool all = true;
    std::string ids;  // "SELECT id FROM domains WHERE ...", "" when the scope is empty
    // The condition on a messages row named `alias`, "" for everything.
    std::string messages(std::string_view alias) const {
        if (all) return "";
        if (ids.empty()) return "1 = 0";
        const std::string a(alias);
        return "(" + a + ".header_from_domain_id IN (" + ids + ") OR " + a +
               ".policy_domain_id IN (" + ids + "))";
    }
    std::string and_messages(std::string_view alias) const {
        return all ? "" : " AND " + messages(alias);
    }
    // The condition on a domain id column (a report's policy domain), "" for everything.
    std::string domain_id(std::string_view column) const {
        if (all) return "";
        if (ids.empty()) return "1 = 0";
        return std::string(column) + " IN (" + ids + ")";
    }
};

ScopeSql scope_sql(const DomainScope& scope, Params& params) {
    ScopeSql out;
    out.all = scope.all;
    if (scope.all || scope.domains.empty()) return out;
    out.ids = "SELECT id FROM domains WHERE";
    for (std::size_t i = 0; i < scope.domains.size(); ++i) {
        const std::string& d = scope.domains[i];
        const std::string name = params.bind(p(d));
        // CAST: libpq sends the parameters untyped, and length() has several overloads.
        out.ids += std::string(i == 0 ? " " : " OR ") + "name = " + name +
                   " OR substr(name, length(name) - length(CAST(" + name +
                   " AS TEXT))) = " + params.bind(p("." + d));
    }
    return out;
}

// " WHERE ..." or "" for a filter (its scope included), with the parameters it needs.
std::string where_clause(const MessageFilter& f, Params& params, const ScopeSql& scope,
                         const std::vector<std::string>& extra = {}) {
    std::vector<std::string> parts;
    if (!scope.all) parts.push_back(scope.messages("m"));
    if (f.from > 0) parts.push_back("m.received >= " + params.bind(p(f.from)));
    if (f.to > 0) parts.push_back("m.received < " + params.bind(p(f.to)));
    auto by_name = [&](const std::string& value, std::string_view column, std::string_view table,
                       std::string_view name) {
        if (value.empty()) return;
        parts.push_back(std::string(column) + " = (SELECT id FROM " + std::string(table) +
                        " WHERE " + std::string(name) + " = " + params.bind(p(value)) + ")");
    };
    by_name(f.header_from, "m.header_from_domain_id", "domains", "name");
    by_name(f.policy_domain, "m.policy_domain_id", "domains", "name");
    by_name(f.ip, "m.ip_id", "ip_addresses", "addr");
    auto equals = [&](const std::string& value, std::string_view column) {
        if (!value.empty()) parts.push_back(std::string(column) + " = " + params.bind(p(value)));
    };
    equals(f.dmarc_result, "m.dmarc_result");
    equals(f.disposition, "m.disposition");
    equals(f.queue_id, "m.job_id");
    parts.insert(parts.end(), extra.begin(), extra.end());
    std::string out;
    for (std::size_t i = 0; i < parts.size(); ++i) {
        out += i == 0 ? " WHERE " : " AND ";
        out += parts[i];
    }
    return out;
}

// 0/1 on both backends (a PostgreSQL boolean would come back as "t"/"f").
bool flag(const sql::Field& f) {
    return to_int(f) != 0;
}

// web_users (0002), the ledger columns a resend resets (0003), the dashboard indexes (0004),
// the users' domain scopes (0006).
constexpr int kWebUsersVersion = 6;

// The columns of MessageSummary, in its order; summary_from reads them back.
constexpr std::string_view kSummaryColumns =
    "m.id, m.received, m.job_id, r.name, a.addr, hf.name, coalesce(pd.name, ''),"
    " m.dmarc_result, m.disposition, m.action, m.spf_aligned, m.dkim_aligned";
constexpr std::size_t kSummaryCount = 12;

MessageSummary summary_from(const Row& row) {
    MessageSummary s;
    s.id = to_int(row[0]);
    s.received = to_int(row[1]);
    s.job_id = to_text(row[2]);
    s.reporter = to_text(row[3]);
    s.ip = to_text(row[4]);
    s.header_from = to_text(row[5]);
    s.policy_domain = to_text(row[6]);
    s.dmarc_result = to_text(row[7]);
    s.disposition = to_text(row[8]);
    s.action = to_text(row[9]);
    s.spf_aligned = flag(row[10]);
    s.dkim_aligned = flag(row[11]);
    return s;
}

// Rows of "name, count" (messages by result, deliveries by status).
Result<std::vector<ResultCount>> counts_by(sql::Connection& db, std::string_view column,
                                           std::string_view table) {
    const std::string c(column);
    auto rows = db.query("SELECT " + c + ", count(*) FROM " + std::string(table) + " GROUP BY " +
                             c + " ORDER BY " + c,
                         {});
    if (!rows) return tl::unexpected(rows.error());
    std::vector<ResultCount> out;
    for (const auto& row : *rows) out.push_back({to_text(row[0]), to_int(row[1])});
    return out;
}

// Grouped by `+m.ip_id`, an expression, not the column: SQLite (with no ANALYZE statistics in a
// store the dashboard opens read-only) otherwise walks the whole messages_ip index to save the
// GROUP BY sort and looks up every row of the store, matching or not (7 days of a 1 M store:
// 0.40 s against 0.08 s by the received range; 90 days: 2.8 s against 1.0 s). The unary plus is
// an identity on PostgreSQL too.
Result<std::vector<SourceStats>> query_sources(sql::Connection& db, const MessageFilter& filter,
                                               std::size_t limit, bool failing) {
    Params params;
    const ScopeSql scope = scope_sql(filter.scope, params);
    const std::string where = where_clause(filter, params, scope);
    const std::string order = failing ? "fails DESC" : "n DESC";
    // First seen: in the store, or for a scoped user in its scope (another customer's mail from
    // the same address is not the user's business).
    const std::string sql =
        "SELECT a.addr, x.n, x.pass, x.doms, x.first_seen, x.last_seen,"
        " (SELECT min(f.received) FROM messages f WHERE f.ip_id = x.iid" +
        scope.and_messages("f") +
        ") FROM"
        " (SELECT +m.ip_id AS iid, count(*) AS n,"
        " count(*) FILTER (WHERE m.dmarc_result = 'pass') AS pass,"
        " count(*) FILTER (WHERE m.dmarc_result <> 'pass') AS fails,"
        " count(DISTINCT m.header_from_domain_id) AS doms, min(m.received) AS first_seen,"
        " max(m.received) AS last_seen FROM messages m" +
        where + " GROUP BY +m.ip_id" +
        (failing ? " HAVING count(*) FILTER (WHERE m.dmarc_result <> 'pass') > 0" : "") +
        " ORDER BY " + order + ", iid LIMIT " + params.bind(p(static_cast<std::int64_t>(limit))) +
        ") x JOIN ip_addresses a ON a.id = x.iid ORDER BY x." + order + ", x.iid";
    auto rows = db.query(sql, params.list);
    if (!rows) return tl::unexpected(rows.error());
    std::vector<SourceStats> out;
    for (const auto& row : *rows) {
        SourceStats s;
        s.ip = to_text(row[0]);
        s.messages = to_int(row[1]);
        s.dmarc_pass = to_int(row[2]);
        s.domains = to_int(row[3]);
        s.first_seen = to_int(row[4]);
        s.last_seen = to_int(row[5]);
        s.is_new = filter.from > 0 && to_int(row[6]) >= filter.from;
        out.push_back(std::move(s));
    }
    return out;
}

Result<std::vector<DomainStats>> query_domains(sql::Connection& db, const MessageFilter& filter,
                                               std::size_t limit) {
    Params params;
    const ScopeSql scope = scope_sql(filter.scope, params);
    const std::string where = where_clause(filter, params, scope);
    const std::string sql =
        "SELECT d.name, x.n, x.pass, x.spf, x.dkim, x.src, x.last_seen,"
        " pr.p, pr.sp, pr.np, pr.adkim, pr.aspf, pr.pct, pr.testing FROM"
        " (SELECT m.header_from_domain_id AS did, count(*) AS n,"
        " count(*) FILTER (WHERE m.dmarc_result = 'pass') AS pass,"
        " count(*) FILTER (WHERE m.spf_aligned <> 0) AS spf,"
        " count(*) FILTER (WHERE m.dkim_aligned <> 0) AS dkim, count(DISTINCT m.ip_id) AS src,"
        " max(m.received) AS last_seen FROM messages m" +
        where + " GROUP BY m.header_from_domain_id ORDER BY n DESC, did LIMIT " +
        params.bind(p(static_cast<std::int64_t>(limit))) +
        ") x JOIN domains d ON d.id = x.did"
        " LEFT JOIN policy_records pr ON pr.id = (SELECT l.policy_record_id FROM messages l"
        " WHERE l.header_from_domain_id = x.did" +
        scope.and_messages("l") +
        " ORDER BY l.received DESC LIMIT 1)"
        " ORDER BY x.n DESC, x.did";
    auto rows = db.query(sql, params.list);
    if (!rows) return tl::unexpected(rows.error());
    std::vector<DomainStats> out;
    for (const auto& row : *rows) {
        DomainStats d;
        d.name = to_text(row[0]);
        d.messages = to_int(row[1]);
        d.dmarc_pass = to_int(row[2]);
        d.spf_aligned = to_int(row[3]);
        d.dkim_aligned = to_int(row[4]);
        d.sources = to_int(row[5]);
        d.last_seen = to_int(row[6]);
        if (row[7]) {
            d.policy = "p=" + to_text(row[7]);
            if (!to_text(row[8]).empty()) d.policy += " sp=" + to_text(row[8]);
            if (!to_text(row[9]).empty()) d.policy += " np=" + to_text(row[9]);
            d.policy += " adkim=" + to_text(row[10]).substr(0, 1);
            d.policy += " aspf=" + to_text(row[11]).substr(0, 1);
            d.policy += " pct=" + std::to_string(to_int(row[12]));
            if (flag(row[13])) d.policy += " t=y";
        }
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace

struct StoreReader::Lease {
    StoreReader& owner;
    sql::Connection* connection;
    ~Lease() { owner.release(connection); }
};

template <typename T, typename Work>
Result<T> StoreReader::with_connection(Work&& work) {
    auto connection = acquire();
    if (!connection) return tl::unexpected(connection.error());
    Lease lease{*this, *connection};
    return work(**connection);
}

Result<std::unique_ptr<StoreReader>> StoreReader::open(const std::string& uri, std::size_t pool) {
    auto reader = std::unique_ptr<StoreReader>(new StoreReader());
    reader->uri_ = uri;
    reader->postgres_ = sql::is_postgres_uri(uri);
    reader->pool_ = pool == 0 ? 1 : pool;
    auto version =
        reader->with_connection<std::int64_t>([](sql::Connection& db) -> Result<std::int64_t> {
            auto rows =
                db.query("SELECT version FROM schema_version WHERE component = 'store'", {});
            if (!rows) return tl::unexpected(rows.error());
            return rows->empty() ? 0 : to_int(rows->front()[0]);
        });
    if (!version) return tl::unexpected(version.error());
    const int known = sqlite::known_version(reader->postgres_ ? "postgres" : "sqlite", "store");
    if (*version > known) {
        return make_error(Errc::invalid_value,
                          sql::redacted(uri) + ": store schema is version " +
                              std::to_string(*version) + ", newer than version " +
                              std::to_string(known) +
                              " that this program knows; upgrade this program");
    }
    if (*version < kWebUsersVersion) {
        return make_error(Errc::invalid_value,
                          sql::redacted(uri) + ": store schema is version " +
                              std::to_string(*version) + ", the dashboard needs " +
                              std::to_string(kWebUsersVersion) +
                              ": run `dmarc-web user add` (or dmarc-collector) once to upgrade it");
    }
    return reader;
}

Result<sql::Connection*> StoreReader::acquire() {
    std::unique_lock lock(mutex_);
    for (;;) {
        if (!idle_.empty()) {
            sql::Connection* db = idle_.back();
            idle_.pop_back();
            return db;
        }
        if (all_.size() < pool_) {
            sql::ConnectOptions options;
            options.read_only = true;
            options.cache_kib = 64 * 1024;
            auto db = sql::connect(uri_, options);
            if (!db) return tl::unexpected(db.error());
            all_.push_back(std::move(*db));
            return all_.back().get();
        }
        available_.wait(lock);
    }
}

void StoreReader::release(sql::Connection* connection) {
    {
        std::lock_guard lock(mutex_);
        idle_.push_back(connection);
    }
    available_.notify_one();
}

Result<void> StoreReader::ping() {
    return with_connection<void>([](sql::Connection& db) { return db.exec("SELECT 1"); });
}

Result<Overview> StoreReader::overview(const MessageFilter& filter, std::size_t top_n) {
    return with_connection<Overview>([&](sql::Connection& db) -> Result<Overview> {
        Overview o;
        Params params;
        std::string where = where_clause(filter, params, scope_sql(filter.scope, params));
        // Hours for a period of two days or less, days otherwise: UTC-aligned buckets by integer
        // division of epoch seconds (the same on both backends, no date functions). The KPIs are
        // the buckets' sums: one pass over the period's rows instead of two.
        if (filter.from > 0 && filter.to > 0 && filter.to - filter.from <= 2 * 86400) {
            o.bucket_seconds = 3600;
        }
        const std::string bucket = params.bind(p(o.bucket_seconds));
        auto series =
            db.query("SELECT (m.received / " + bucket + ") * " + bucket +
                         " AS b, count(*), count(*) FILTER (WHERE m.dmarc_result = 'pass'),"
                         " count(*) FILTER (WHERE m.spf_aligned <> 0),"
                         " count(*) FILTER (WHERE m.dkim_aligned <> 0),"
                         " count(*) FILTER (WHERE m.disposition = 'none'),"
                         " count(*) FILTER (WHERE m.disposition = 'quarantine'),"
                         " count(*) FILTER (WHERE m.disposition = 'reject'),"
                         " count(*) FILTER (WHERE m.disposition = 'pass') FROM messages m" +
                         where + " GROUP BY b ORDER BY b",
                     params.list);
        if (!series) return tl::unexpected(series.error());
        for (const auto& row : *series) {
            o.series.push_back({to_int(row[0]), to_int(row[1]), to_int(row[2])});
            o.messages += to_int(row[1]);
            o.dmarc_pass += to_int(row[2]);
            o.spf_aligned += to_int(row[3]);
            o.dkim_aligned += to_int(row[4]);
            o.disposition_none += to_int(row[5]);
            o.disposition_quarantine += to_int(row[6]);
            o.disposition_reject += to_int(row[7]);
            o.disposition_pass += to_int(row[8]);
        }
        auto domains = query_domains(db, filter, top_n);
        if (!domains) return tl::unexpected(domains.error());
        o.domains = std::move(*domains);
        auto failing = query_sources(db, filter, top_n, true);
        if (!failing) return tl::unexpected(failing.error());
        o.failing_sources = std::move(*failing);
        return o;
    });
}

Result<std::vector<DomainStats>> StoreReader::domains(const MessageFilter& filter,
                                                      std::size_t limit) {
    return with_connection<std::vector<DomainStats>>(
        [&](sql::Connection& db) { return query_domains(db, filter, limit); });
}

Result<std::vector<SourceStats>> StoreReader::sources(const MessageFilter& filter,
                                                      std::size_t limit) {
    return with_connection<std::vector<SourceStats>>(
        [&](sql::Connection& db) { return query_sources(db, filter, limit, false); });
}

Result<MessagePage> StoreReader::messages(const MessageFilter& filter,
                                          const std::optional<MessageCursor>& after,
                                          std::size_t limit) {
    return with_connection<MessagePage>([&](sql::Connection& db) -> Result<MessagePage> {
        Params params;
        std::vector<std::string> extra;
        if (after) {
            const std::string received = params.bind(p(after->received));
            extra.push_back("(m.received < " + received + " OR (m.received = " + received +
                            " AND m.id < " + params.bind(p(after->id)) + "))");
        }
        const std::string where =
            where_clause(filter, params, scope_sql(filter.scope, params), extra);
        // SQLite: CROSS JOIN pins messages as the outer loop (SQLite does not reorder it): with
        // ANALYZE statistics the planner otherwise starts from the 3-row reporters table, walks
        // the whole period through the UNIQUE index and sorts it (seconds at 10 M rows) instead
        // of reading the newest 51 rows off messages_received or messages_ip. PostgreSQL has no
        // CROSS JOIN ... ON and plans this well by itself.
        const std::string join = db.postgres() ? " JOIN " : " CROSS JOIN ";
        auto rows = db.query("SELECT " + std::string(kSummaryColumns) + " FROM messages m" + join +
                                 "reporters r ON r.id = m.reporter_id" + join +
                                 "ip_addresses a ON a.id = m.ip_id" + join +
                                 "domains hf ON hf.id = m.header_from_domain_id"
                                 " LEFT JOIN domains pd ON pd.id = m.policy_domain_id" +
                                 where + " ORDER BY m.received DESC, m.id DESC LIMIT " +
                                 params.bind(p(static_cast<std::int64_t>(limit + 1))),
                             params.list);
        if (!rows) return tl::unexpected(rows.error());
        MessagePage page;
        for (const auto& row : *rows) page.rows.push_back(summary_from(row));
        if (page.rows.size() > limit) {
            page.rows.pop_back();
            page.next = MessageCursor{page.rows.back().received, page.rows.back().id};
        }
        return page;
    });
}

Result<std::optional<MessageDetail>> StoreReader::message(std::int64_t id,
                                                          const DomainScope& scope) {
    using Answer = std::optional<MessageDetail>;
    return with_connection<Answer>([&](sql::Connection& db) -> Result<Answer> {
        Params params;
        const ScopeSql in_scope = scope_sql(scope, params);
        const std::string where = "m.id = " + params.bind(p(id)) + in_scope.and_messages("m");
        // A message in scope by its From domain may have gone into the report of a policy domain
        // out of scope: that report is joined (and named) only when it is in scope itself, the
        // rule of report() — otherwise the message reads as in no report.
        const std::string report_in_scope =
            in_scope.all ? std::string() : " AND " + in_scope.domain_id("rp.policy_domain_id");
        auto rows =
            db.query("SELECT " + std::string(kSummaryColumns) +
                         ", m.helo, m.mail_from, coalesce(ed.name, ''), m.rcpt_to,"
                         " coalesce(m.discovery_method, ''), m.spf_result, coalesce(sd.name, ''),"
                         " m.spf_scope, m.arc_result, m.arc_policy, coalesce(m.policy_applied, ''),"
                         " m.override_reasons, m.origin, m.is_report,"
                         " CASE WHEN pr.id IS NULL THEN 0 ELSE 1 END, coalesce(pr.p, ''),"
                         " coalesce(pr.sp, ''), coalesce(pr.np, ''), coalesce(pr.adkim, ''),"
                         " coalesce(pr.aspf, ''), coalesce(pr.pct, 0), coalesce(pr.testing, 0),"
                         " coalesce(pr.fo, ''), coalesce(pr.rua, ''), rp.report_id"
                         " FROM messages m JOIN reporters r ON r.id = m.reporter_id"
                         " JOIN ip_addresses a ON a.id = m.ip_id"
                         " JOIN domains hf ON hf.id = m.header_from_domain_id"
                         " LEFT JOIN domains pd ON pd.id = m.policy_domain_id"
                         " LEFT JOIN domains ed ON ed.id = m.env_domain_id"
                         " LEFT JOIN domains sd ON sd.id = m.spf_domain_id"
                         " LEFT JOIN policy_records pr ON pr.id = m.policy_record_id"
                         " LEFT JOIN reports rp ON rp.id = m.report_id" +
                         report_in_scope + " WHERE " + where,
                     params.list);
        if (!rows) return tl::unexpected(rows.error());
        if (rows->empty()) return Answer{};
        const Row& row = rows->front();
        MessageDetail d;
        d.summary = summary_from(row);
        auto text = [&](std::size_t i) { return to_text(row[kSummaryCount + i]); };
        d.helo = text(0);
        d.mail_from = text(1);
        d.env_domain = text(2);
        d.rcpt_to = text(3);
        d.discovery_method = text(4);
        d.spf_result = text(5);
        d.spf_domain = text(6);
        d.spf_scope = text(7);
        d.arc_result = text(8);
        d.arc_policy = text(9);
        d.policy_applied = text(10);
        d.override_reasons = text(11);
        d.origin = text(12);
        d.is_report = flag(row[kSummaryCount + 13]);
        d.has_record = flag(row[kSummaryCount + 14]);
        d.record_p = text(15);
        d.record_sp = text(16);
        d.record_np = text(17);
        d.record_adkim = text(18);
        d.record_aspf = text(19);
        d.record_pct = to_int(row[kSummaryCount + 20]);
        d.record_testing = flag(row[kSummaryCount + 21]);
        d.record_fo = text(22);
        d.record_rua = text(23);
        if (row[kSummaryCount + 24]) d.report_id = text(24);

        auto dkim = db.query(
            "SELECT d.name, k.selector, k.result FROM dkim_results k JOIN domains d ON d.id ="
            " k.domain_id WHERE k.message_id = $1 ORDER BY k.seq",
            {p(id)});
        if (!dkim) return tl::unexpected(dkim.error());
        for (const auto& k : *dkim) d.dkim.push_back({to_text(k[0]), to_text(k[1]), to_text(k[2])});
        return Answer(std::move(d));
    });
}

Result<std::optional<WebUser>> StoreReader::find_user(const std::string& name) {
    using Answer = std::optional<WebUser>;
    return with_connection<Answer>([&](sql::Connection& db) -> Result<Answer> {
        auto rows = db.query(
            "SELECT id, name, role, password_hash, disabled, scoped FROM web_users"
            " WHERE name = $1",
            {p(name)});
        if (!rows) return tl::unexpected(rows.error());
        if (rows->empty()) return Answer{};
        const Row& r = rows->front();
        WebUser user{to_int(r[0]), to_text(r[1]), to_text(r[2]), to_text(r[3]), flag(r[4]), {}};
        user.scope.all = !flag(r[5]);
        if (!user.scope.all) {
            // Byte order on both backends, as the CLI stores and prints them.
            auto domains = db.query(std::string("SELECT domain FROM web_user_domains"
                                                " WHERE user_id = $1 ORDER BY domain") +
                                        (db.postgres() ? " COLLATE \"C\"" : ""),
                                    {p(user.id)});
            if (!domains) return tl::unexpected(domains.error());
            for (const auto& d : *domains) user.scope.domains.push_back(to_text(d[0]));
        }
        return Answer(std::move(user));
    });
}

Result<std::vector<ResultCount>> StoreReader::messages_by_result() {
    return with_connection<std::vector<ResultCount>>(
        [](sql::Connection& db) { return counts_by(db, "dmarc_result", "messages"); });
}

Result<std::vector<ResultCount>> StoreReader::deliveries_by_status() {
    return with_connection<std::vector<ResultCount>>(
        [](sql::Connection& db) { return counts_by(db, "status", "report_deliveries"); });
}

namespace {

constexpr std::string_view kReportColumns =
    "SELECT r.id, d.name, r.report_id, r.format, r.compression, r.period_begin, r.period_end,"
    " r.created, r.message_count, r.record_count, coalesce(length(r.archive), 0)";

ReportRow report_row(const Row& row) {
    ReportRow r;
    r.id = to_int(row[0]);
    r.policy_domain = to_text(row[1]);
    r.report_id = to_text(row[2]);
    r.format = to_text(row[3]);
    r.compression = to_text(row[4]);
    r.period_begin = to_int(row[5]);
    r.period_end = to_int(row[6]);
    r.created = to_int(row[7]);
    r.message_count = to_int(row[8]);
    r.record_count = to_int(row[9]);
    r.archive_bytes = to_int(row[10]);
    return r;
}

Result<void> load_deliveries(sql::Connection& db, ReportRow& report) {
    auto rows = db.query(
        "SELECT id, destination, address, status, smtp_reply, attempts, last_attempt, next_retry,"
        " sent_at FROM report_deliveries WHERE report_id = $1 ORDER BY id",
        {p(report.id)});
    if (!rows) return tl::unexpected(rows.error());
    for (const auto& row : *rows) {
        DeliveryRow d;
        d.id = to_int(row[0]);
        d.destination = to_text(row[1]);
        d.address = to_text(row[2]);
        d.status = to_text(row[3]);
        d.smtp_reply = to_text(row[4]);
        d.attempts = to_int(row[5]);
        d.last_attempt = to_opt_int(row[6]);
        d.next_retry = to_opt_int(row[7]);
        d.sent_at = to_opt_int(row[8]);
        report.deliveries.push_back(std::move(d));
    }
    return {};
}

}  // namespace

Result<std::vector<ReportRow>> StoreReader::reports(std::size_t limit, const DomainScope& scope) {
    return with_connection<std::vector<ReportRow>>(
        [&](sql::Connection& db) -> Result<std::vector<ReportRow>> {
            Params params;
            const std::string in_scope = scope_sql(scope, params).domain_id("r.policy_domain_id");
            auto rows = db.query(std::string(kReportColumns) +
                                     " FROM reports r JOIN domains d ON d.id = r.policy_domain_id" +
                                     (in_scope.empty() ? "" : " WHERE " + in_scope) +
                                     " ORDER BY r.created DESC, r.id DESC LIMIT " +
                                     params.bind(p(static_cast<std::int64_t>(limit))),
                                 params.list);
            if (!rows) return tl::unexpected(rows.error());
            std::vector<ReportRow> out;
            for (const auto& row : *rows) {
                out.push_back(report_row(row));
                if (auto d = load_deliveries(db, out.back()); !d) {
                    return tl::unexpected(d.error());
                }
            }
            return out;
        });
}

Result<std::optional<ReportArchive>> StoreReader::report(std::int64_t id,
                                                         const DomainScope& scope) {
    using Answer = std::optional<ReportArchive>;
    return with_connection<Answer>([&](sql::Connection& db) -> Result<Answer> {
        Params params;
        std::string where = "r.id = " + params.bind(p(id));
        if (auto in_scope = scope_sql(scope, params).domain_id("r.policy_domain_id");
            !in_scope.empty()) {
            where += " AND " + in_scope;
        }
        auto rows = db.query(std::string(kReportColumns) +
                                 ", r.archive FROM reports r JOIN domains d"
                                 " ON d.id = r.policy_domain_id WHERE " +
                                 where,
                             params.list);
        if (!rows) return tl::unexpected(rows.error());
        if (rows->empty()) return Answer{};
        ReportArchive a;
        a.report = report_row(rows->front());
        a.archive = to_text(rows->front()[11]);
        if (auto d = load_deliveries(db, a.report); !d) return tl::unexpected(d.error());
        return Answer(std::move(a));
    });
}

Result<std::vector<SuppressionRow>> StoreReader::suppressions() {
    return with_connection<std::vector<SuppressionRow>>(
        [](sql::Connection& db) -> Result<std::vector<SuppressionRow>> {
            // Byte order on both backends (PostgreSQL would sort by the database's locale).
            auto rows = db.query(std::string("SELECT id, pattern, comment, added, expires FROM"
                                             " suppressions ORDER BY pattern") +
                                     (db.postgres() ? " COLLATE \"C\"" : ""),
                                 {});
            if (!rows) return tl::unexpected(rows.error());
            std::vector<SuppressionRow> out;
            for (const auto& row : *rows) {
                out.push_back({to_int(row[0]), to_text(row[1]), to_text(row[2]), to_int(row[3]),
                               to_opt_int(row[4])});
            }
            return out;
        });
}

Result<std::unique_ptr<StoreWriter>> StoreWriter::open(const std::string& uri) {
    sql::ConnectOptions options;
    options.create = false;
    auto db = sql::connect(uri, options);
    if (!db) return tl::unexpected(db.error());
    return std::unique_ptr<StoreWriter>(new StoreWriter(std::move(*db)));
}

Result<std::int64_t> StoreWriter::resend_report(std::int64_t id, std::int64_t now) {
    std::lock_guard lock(mutex_);
    if (auto b = db_->begin(); !b) return tl::unexpected(b.error());
    auto changed = [&]() -> Result<std::int64_t> {
        auto exists = db_->query("SELECT id FROM reports WHERE id = $1", {p(id)});
        if (!exists) return tl::unexpected(exists.error());
        if (exists->empty()) return make_error(Errc::not_found, "no such report");
        auto rows = db_->query(
            "UPDATE report_deliveries SET status = 'pending', next_retry = $1, attempts = 0,"
            " parts_sent = 0 WHERE report_id = $2"
            " AND status IN ('pending', 'sent', 'temp_failed', 'perm_failed') RETURNING id",
            {p(now), p(id)});
        if (!rows) return tl::unexpected(rows.error());
        return static_cast<std::int64_t>(rows->size());
    }();
    if (!changed) {
        (void)db_->exec("ROLLBACK");
        return changed;
    }
    if (auto c = db_->exec("COMMIT"); !c) return tl::unexpected(c.error());
    return changed;
}

Result<void> StoreWriter::add_suppression(const std::string& pattern, const std::string& comment,
                                          std::optional<std::int64_t> expires, std::int64_t now) {
    std::lock_guard lock(mutex_);
    return db_->exec(
        "INSERT INTO suppressions (pattern, comment, added, expires) VALUES ($1, $2, $3, $4)"
        " ON CONFLICT (pattern) DO UPDATE SET comment = excluded.comment,"
        " added = excluded.added, expires = excluded.expires",
        {p(pattern), p(comment), p(now), p(expires)});
}

Result<bool> StoreWriter::remove_suppression(std::int64_t id) {
    std::lock_guard lock(mutex_);
    auto rows = db_->query("DELETE FROM suppressions WHERE id = $1 RETURNING id", {p(id)});
    if (!rows) return tl::unexpected(rows.error());
    return !rows->empty();
}

namespace {

// The user commands open the store read-write and apply pending migrations (open_store), then
// run on a connection of their own.
Result<std::unique_ptr<sql::Connection>> open_migrated(const std::string& store_uri) {
    auto store = open_store(store_uri);
    if (!store) return tl::unexpected(store.error());
    store->reset();
    return sql::connect(store_uri, {});
}

// Replaces the scope of user `id` inside the caller's transaction.
Result<void> write_scope(sql::Connection& db, std::int64_t id, const DomainScope& scope) {
    if (auto r = db.exec("UPDATE web_users SET scoped = $1 WHERE id = $2",
                         {p(std::int64_t{scope.all ? 0 : 1}), p(id)});
        !r) {
        return r;
    }
    if (auto r = db.exec("DELETE FROM web_user_domains WHERE user_id = $1", {p(id)}); !r) return r;
    if (scope.all) return {};
    for (const auto& domain : scope.domains) {
        if (auto r = db.exec("INSERT INTO web_user_domains (user_id, domain) VALUES ($1, $2)"
                             " ON CONFLICT DO NOTHING",
                             {p(id), p(domain)});
            !r) {
            return r;
        }
    }
    return {};
}

// Runs `work` in a transaction on `db`: committed when it succeeds, rolled back otherwise.
template <typename Work>
Result<void> in_transaction(sql::Connection& db, Work&& work) {
    if (auto b = db.begin(); !b) return b;
    Result<void> done = work();
    if (!done) {
        (void)db.exec("ROLLBACK");
        return done;
    }
    return db.exec("COMMIT");
}

}  // namespace

Result<void> add_web_user(const std::string& store_uri, const std::string& name,
                          const std::string& role, const std::string& password_hash,
                          std::int64_t now, const DomainScope& scope) {
    if (role == "admin" && !scope.all) {
        return make_error(Errc::invalid_value, "an admin sees every domain: no --domains");
    }
    auto db = open_migrated(store_uri);
    if (!db) return tl::unexpected(db.error());
    return in_transaction(**db, [&]() -> Result<void> {
        auto rows = (*db)->query(
            "INSERT INTO web_users (name, role, password_hash, created) VALUES ($1, $2, $3, $4)"
            " RETURNING id",
            {p(name), p(role), p(password_hash), p(now)});
        if (!rows) return tl::unexpected(rows.error());
        return write_scope(**db, to_int(rows->front()[0]), scope);
    });
}

Result<void> set_web_user_scope(const std::string& store_uri, const std::string& name,
                                const DomainScope& scope) {
    auto db = open_migrated(store_uri);
    if (!db) return tl::unexpected(db.error());
    return in_transaction(**db, [&]() -> Result<void> {
        auto rows = (*db)->query("SELECT id, role FROM web_users WHERE name = $1", {p(name)});
        if (!rows) return tl::unexpected(rows.error());
        if (rows->empty()) return make_error(Errc::not_found, "no such user: " + name);
        if (to_text(rows->front()[1]) == "admin" && !scope.all) {
            return make_error(Errc::invalid_value, name + " is an admin: admins see every domain");
        }
        return write_scope(**db, to_int(rows->front()[0]), scope);
    });
}

namespace {

// Ok when an enabled admin other than `user_id` remains; the error names `name` otherwise.
Result<void> keep_an_admin(sql::Connection& db, std::int64_t user_id, const std::string& name) {
    auto others = db.query(
        "SELECT COUNT(*) FROM web_users WHERE role = 'admin' AND disabled = 0 AND id <> $1",
        {p(user_id)});
    if (!others) return tl::unexpected(others.error());
    if (others->empty() || to_int(others->front()[0]) == 0) {
        return make_error(Errc::invalid_value,
                          name +
                              " is the last admin: make another user admin first "
                              "(user role OTHER admin, or user add OTHER --role admin)");
    }
    return {};
}

}  // namespace

Result<void> set_web_user_role(const std::string& store_uri, const std::string& name,
                               const std::string& role) {
    if (role != "admin" && role != "viewer") {
        return make_error(Errc::invalid_value, "a role is admin or viewer, not " + role);
    }
    auto db = open_migrated(store_uri);
    if (!db) return tl::unexpected(db.error());
    return in_transaction(**db, [&]() -> Result<void> {
        auto rows =
            (*db)->query("SELECT id, scoped, role FROM web_users WHERE name = $1", {p(name)});
        if (!rows) return tl::unexpected(rows.error());
        if (rows->empty()) return make_error(Errc::not_found, "no such user: " + name);
        // The dashboard keeps someone who may manage it: the last admin who can sign in is
        // not demoted (the store's owner would have to promote someone with the CLI again).
        if (role == "viewer" && to_text(rows->front()[2]) == "admin") {
            auto kept = keep_an_admin(**db, to_int(rows->front()[0]), name);
            if (!kept) return kept;
        }
        // Refused rather than widened silently: who may see every domain is decided on its own.
        if (role == "admin" && flag(rows->front()[1])) {
            return make_error(Errc::invalid_value, name +
                                                       " is scoped and admins see every domain: "
                                                       "lift the scope first (user domains " +
                                                       name + " --all)");
        }
        return (*db)->exec("UPDATE web_users SET role = $1 WHERE id = $2",
                           {p(role), p(to_int(rows->front()[0]))});
    });
}

Result<void> set_web_user_password(const std::string& store_uri, const std::string& name,
                                   const std::string& password_hash) {
    auto db = open_migrated(store_uri);
    if (!db) return tl::unexpected(db.error());
    auto rows = (*db)->query(
        "UPDATE web_users SET password_hash = $1, disabled = 0 WHERE name = $2 RETURNING id",
        {p(password_hash), p(name)});
    if (!rows) return tl::unexpected(rows.error());
    if (rows->empty()) return make_error(Errc::not_found, "no such user: " + name);
    return {};
}

Result<void> set_web_user_disabled(const std::string& store_uri, const std::string& name,
                                   bool disabled) {
    auto db = open_migrated(store_uri);
    if (!db) return tl::unexpected(db.error());
    return in_transaction(**db, [&]() -> Result<void> {
        auto rows =
            (*db)->query("SELECT id, role, disabled FROM web_users WHERE name = $1", {p(name)});
        if (!rows) return tl::unexpected(rows.error());
        if (rows->empty()) return make_error(Errc::not_found, "no such user: " + name);
        const std::int64_t id = to_int(rows->front()[0]);
        // Disabling an admin who can sign in must leave another one who can.
        if (disabled && to_text(rows->front()[1]) == "admin" && !flag(rows->front()[2])) {
            auto kept = keep_an_admin(**db, id, name);
            if (!kept) return kept;
        }
        return (*db)->exec("UPDATE web_users SET disabled = $1 WHERE id = $2",
                           {p(std::int64_t{disabled ? 1 : 0}), p(id)});
    });
}

Result<std::vector<WebUserListing>> list_web_users(const std::string& store_uri) {
    auto db = open_migrated(store_uri);
    if (!db) return tl::unexpected(db.error());
    // Byte order on both backends, as the CLI stores and prints names and domains.
    const std::string c = (*db)->postgres() ? " COLLATE \"C\"" : "";
    auto rows = (*db)->query(
        "SELECT id, name, role, disabled, scoped, created FROM web_users ORDER BY name" + c, {});
    if (!rows) return tl::unexpected(rows.error());
    auto domains = (*db)->query(
        "SELECT user_id, domain FROM web_user_domains ORDER BY user_id, domain" + c, {});
    if (!domains) return tl::unexpected(domains.error());
    std::vector<WebUserListing> out;
    for (const auto& r : *rows) {
        WebUserListing u;
        u.name = to_text(r[1]);
        u.role = to_text(r[2]);
        u.disabled = flag(r[3]);
        u.scope.all = !flag(r[4]);
        u.created = to_int(r[5]);
        if (!u.scope.all) {
            for (const auto& d : *domains) {
                if (to_int(d[0]) == to_int(r[0])) u.scope.domains.push_back(to_text(d[1]));
            }
        }
        out.push_back(std::move(u));
    }
    return out;
}

}  // namespace dmarc::io
