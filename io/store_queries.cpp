// Read-only dashboard queries over the SQLite store (issue 7). Every filter value is bound, never
// spliced into SQL; filters resolve names to interned ids through the UNIQUE indexes, so each
// query walks one of the (…, received) indexes of messages.
#include "io/store_queries.hpp"

#include <variant>

namespace dmarc::io {

namespace {

using Bind = std::variant<std::int64_t, std::string>;

struct Where {
    std::string sql;  // " WHERE ..." or ""
    std::vector<Bind> binds;
};

Where build_where(const MessageFilter& f) {
    Where w;
    std::vector<std::string> parts;
    if (f.from > 0) {
        parts.push_back("m.received >= ?");
        w.binds.emplace_back(f.from);
    }
    if (f.to > 0) {
        parts.push_back("m.received < ?");
        w.binds.emplace_back(f.to);
    }
    if (!f.header_from.empty()) {
        parts.push_back("m.header_from_domain_id = (SELECT id FROM domains WHERE name = ?)");
        w.binds.emplace_back(f.header_from);
    }
    if (!f.policy_domain.empty()) {
        parts.push_back("m.policy_domain_id = (SELECT id FROM domains WHERE name = ?)");
        w.binds.emplace_back(f.policy_domain);
    }
    if (!f.ip.empty()) {
        parts.push_back("m.ip_id = (SELECT id FROM ip_addresses WHERE addr = ?)");
        w.binds.emplace_back(f.ip);
    }
    if (!f.dmarc_result.empty()) {
        parts.push_back("m.dmarc_result = ?");
        w.binds.emplace_back(f.dmarc_result);
    }
    if (!f.disposition.empty()) {
        parts.push_back("m.disposition = ?");
        w.binds.emplace_back(f.disposition);
    }
    if (!f.queue_id.empty()) {
        parts.push_back("m.job_id = ?");
        w.binds.emplace_back(f.queue_id);
    }
    for (std::size_t i = 0; i < parts.size(); ++i) {
        w.sql += i == 0 ? " WHERE " : " AND ";
        w.sql += parts[i];
    }
    return w;
}

// Appends a condition to a Where (keeps WHERE/AND right).
void add_condition(Where& w, std::string_view condition) {
    w.sql += w.sql.empty() ? " WHERE " : " AND ";
    w.sql += condition;
}

int bind_all(sqlite::Statement& st, const std::vector<Bind>& binds, int first = 1) {
    int i = first;
    for (const auto& b : binds) {
        if (const auto* n = std::get_if<std::int64_t>(&b)) {
            st.bind(i++, *n);
        } else {
            st.bind(i++, std::get<std::string>(b));
        }
    }
    return i;
}

std::string text(const sqlite::Statement& st, int col) {
    return std::string(st.column_text(col));
}

template <typename T>
tl::unexpected<Error> fail(const Result<T>& r) {
    return tl::unexpected(r.error());
}

// web_users (0002), the ledger columns a resend resets (0003), the dashboard indexes (0004).
constexpr int kWebUsersVersion = 4;

}  // namespace

struct StoreReader::Lease {
    StoreReader& owner;
    sqlite::Db* db;
    ~Lease() { owner.release(db); }
};

Result<std::unique_ptr<StoreReader>> StoreReader::open(const std::string& path, std::size_t pool) {
    auto reader = std::unique_ptr<StoreReader>(new StoreReader());
    reader->path_ = path;
    reader->pool_ = pool == 0 ? 1 : pool;
    auto db = reader->acquire();
    if (!db) return fail(db);
    Lease lease{*reader, *db};
    auto st = (*db)->prepare("SELECT version FROM schema_version WHERE component = 'store'");
    if (!st) return fail(st);
    auto row = st->step();
    if (!row) return fail(row);
    std::int64_t version = *row ? st->column_int64(0) : 0;
    st->reset();
    const int known = sqlite::known_version("sqlite", "store");
    if (version > known) {
        return make_error(Errc::invalid_value,
                          path + ": store schema is version " + std::to_string(version) +
                              ", newer than version " + std::to_string(known) +
                              " that this program knows; upgrade this program");
    }
    if (version < kWebUsersVersion) {
        return make_error(Errc::invalid_value,
                          path + ": store schema is version " + std::to_string(version) +
                              ", the dashboard needs " + std::to_string(kWebUsersVersion) +
                              ": run `dmarc-web user add` (or dmarc-collector) once to upgrade it");
    }
    return reader;
}

Result<sqlite::Db*> StoreReader::acquire() {
    std::unique_lock lock(mutex_);
    for (;;) {
        if (!idle_.empty()) {
            sqlite::Db* db = idle_.back();
            idle_.pop_back();
            return db;
        }
        if (all_.size() < pool_) {
            sqlite::OpenOptions options;
            options.read_only = true;
            options.create = false;
            options.wal = false;  // a read-only connection cannot change the journal mode
            options.cache_kib = 64 * 1024;
            auto db = sqlite::Db::open(path_, options);
            if (!db) return fail(db);
            all_.push_back(std::make_unique<sqlite::Db>(std::move(*db)));
            return all_.back().get();
        }
        available_.wait(lock);
    }
}

void StoreReader::release(sqlite::Db* db) {
    {
        std::lock_guard lock(mutex_);
        idle_.push_back(db);
    }
    available_.notify_one();
}

Result<void> StoreReader::ping() {
    auto db = acquire();
    if (!db) return fail(db);
    Lease lease{*this, *db};
    auto st = (*db)->prepare("SELECT 1");
    if (!st) return fail(st);
    auto row = st->step();
    if (!row) return fail(row);
    st->reset();
    return {};
}

namespace {

Result<std::vector<SourceStats>> query_sources(sqlite::Db& db, const MessageFilter& filter,
                                               std::size_t limit, bool failing) {
    Where w = build_where(filter);
    std::string sql =
        "SELECT a.addr, x.n, x.pass, x.doms, x.first, x.last,"
        " (SELECT min(received) FROM messages WHERE ip_id = x.iid) FROM"
        " (SELECT m.ip_id AS iid, count(*) AS n, sum(m.dmarc_result = 'pass') AS pass,"
        " count(DISTINCT m.header_from_domain_id) AS doms, min(m.received) AS first,"
        " max(m.received) AS last FROM messages m" +
        w.sql + " GROUP BY m.ip_id" +
        (failing ? " HAVING n - pass > 0 ORDER BY n - pass DESC" : " ORDER BY n DESC") +
        ", iid LIMIT ?) x JOIN ip_addresses a ON a.id = x.iid" +
        (failing ? " ORDER BY x.n - x.pass DESC, x.iid" : " ORDER BY x.n DESC, x.iid");
    auto st = db.prepare(sql);
    if (!st) return fail(st);
    int next = bind_all(*st, w.binds);
    st->bind(next, static_cast<std::int64_t>(limit));
    std::vector<SourceStats> out;
    for (;;) {
        auto row = st->step();
        if (!row) return fail(row);
        if (!*row) break;
        SourceStats s;
        s.ip = text(*st, 0);
        s.messages = st->column_int64(1);
        s.dmarc_pass = st->column_int64(2);
        s.domains = st->column_int64(3);
        s.first_seen = st->column_int64(4);
        s.last_seen = st->column_int64(5);
        s.is_new = filter.from > 0 && st->column_int64(6) >= filter.from;
        out.push_back(std::move(s));
    }
    return out;
}

Result<std::vector<DomainStats>> query_domains(sqlite::Db& db, const MessageFilter& filter,
                                               std::size_t limit) {
    Where w = build_where(filter);
    std::string sql =
        "SELECT d.name, x.n, x.pass, x.spf, x.dkim, x.src, x.last,"
        " pr.p, pr.sp, pr.np, pr.adkim, pr.aspf, pr.pct, pr.testing FROM"
        " (SELECT m.header_from_domain_id AS did, count(*) AS n,"
        " sum(m.dmarc_result = 'pass') AS pass, sum(m.spf_aligned) AS spf,"
        " sum(m.dkim_aligned) AS dkim, count(DISTINCT m.ip_id) AS src, max(m.received) AS last"
        " FROM messages m" +
        w.sql +
        " GROUP BY m.header_from_domain_id ORDER BY n DESC, did LIMIT ?) x"
        " JOIN domains d ON d.id = x.did"
        " LEFT JOIN policy_records pr ON pr.id = (SELECT policy_record_id FROM messages"
        " WHERE header_from_domain_id = x.did ORDER BY received DESC LIMIT 1)"
        " ORDER BY x.n DESC, x.did";
    auto st = db.prepare(sql);
    if (!st) return fail(st);
    int next = bind_all(*st, w.binds);
    st->bind(next, static_cast<std::int64_t>(limit));
    std::vector<DomainStats> out;
    for (;;) {
        auto row = st->step();
        if (!row) return fail(row);
        if (!*row) break;
        DomainStats d;
        d.name = text(*st, 0);
        d.messages = st->column_int64(1);
        d.dmarc_pass = st->column_int64(2);
        d.spf_aligned = st->column_int64(3);
        d.dkim_aligned = st->column_int64(4);
        d.sources = st->column_int64(5);
        d.last_seen = st->column_int64(6);
        if (!st->is_null(7)) {
            d.policy = "p=" + text(*st, 7);
            if (!st->column_text(8).empty()) d.policy += " sp=" + text(*st, 8);
            if (!st->column_text(9).empty()) d.policy += " np=" + text(*st, 9);
            d.policy += " adkim=" + std::string(st->column_text(10).substr(0, 1));
            d.policy += " aspf=" + std::string(st->column_text(11).substr(0, 1));
            d.policy += " pct=" + std::to_string(st->column_int64(12));
            if (st->column_int64(13) != 0) d.policy += " t=y";
        }
        out.push_back(std::move(d));
    }
    return out;
}

}  // namespace

Result<Overview> StoreReader::overview(const MessageFilter& filter, std::size_t top_n) {
    auto db = acquire();
    if (!db) return fail(db);
    Lease lease{*this, *db};
    Overview o;
    Where w = build_where(filter);
    {
        auto st = (*db)->prepare(
            "SELECT count(*), total(m.dmarc_result = 'pass'), total(m.spf_aligned),"
            " total(m.dkim_aligned), total(m.disposition = 'none'),"
            " total(m.disposition = 'quarantine'), total(m.disposition = 'reject'),"
            " total(m.disposition = 'pass') FROM messages m" +
            w.sql);
        if (!st) return fail(st);
        bind_all(*st, w.binds);
        auto row = st->step();
        if (!row) return fail(row);
        if (*row) {
            o.messages = st->column_int64(0);
            o.dmarc_pass = st->column_int64(1);
            o.spf_aligned = st->column_int64(2);
            o.dkim_aligned = st->column_int64(3);
            o.disposition_none = st->column_int64(4);
            o.disposition_quarantine = st->column_int64(5);
            o.disposition_reject = st->column_int64(6);
            o.disposition_pass = st->column_int64(7);
            st->reset();
        }
    }
    // Hours for a period of two days or less, days otherwise (UTC-aligned buckets).
    if (filter.from > 0 && filter.to > 0 && filter.to - filter.from <= 2 * 86400) {
        o.bucket_seconds = 3600;
    }
    {
        auto st = (*db)->prepare(
            "SELECT (m.received / ?1) * ?1 AS b, count(*), total(m.dmarc_result = 'pass')"
            " FROM messages m" +
            (w.sql.empty() ? std::string() : " WHERE " + w.sql.substr(7)) +
            " GROUP BY b ORDER BY b");
        if (!st) return fail(st);
        st->bind(1, o.bucket_seconds);
        bind_all(*st, w.binds, 2);
        for (;;) {
            auto row = st->step();
            if (!row) return fail(row);
            if (!*row) break;
            o.series.push_back({st->column_int64(0), st->column_int64(1), st->column_int64(2)});
        }
    }
    auto domains = query_domains(**db, filter, top_n);
    if (!domains) return fail(domains);
    o.domains = std::move(*domains);
    auto failing = query_sources(**db, filter, top_n, true);
    if (!failing) return fail(failing);
    o.failing_sources = std::move(*failing);
    return o;
}

Result<std::vector<DomainStats>> StoreReader::domains(const MessageFilter& filter,
                                                      std::size_t limit) {
    auto db = acquire();
    if (!db) return fail(db);
    Lease lease{*this, *db};
    return query_domains(**db, filter, limit);
}

Result<std::vector<SourceStats>> StoreReader::sources(const MessageFilter& filter,
                                                      std::size_t limit) {
    auto db = acquire();
    if (!db) return fail(db);
    Lease lease{*this, *db};
    return query_sources(**db, filter, limit, false);
}

Result<MessagePage> StoreReader::messages(const MessageFilter& filter,
                                          const std::optional<MessageCursor>& after,
                                          std::size_t limit) {
    auto db = acquire();
    if (!db) return fail(db);
    Lease lease{*this, *db};
    Where w = build_where(filter);
    if (after) {
        add_condition(w, "(m.received < ? OR (m.received = ? AND m.id < ?))");
        w.binds.emplace_back(after->received);
        w.binds.emplace_back(after->received);
        w.binds.emplace_back(after->id);
    }
    auto st = (*db)->prepare(
        "SELECT m.id, m.received, m.job_id, r.name, a.addr, hf.name, coalesce(pd.name, ''),"
        " m.dmarc_result, m.disposition, m.action, m.spf_aligned, m.dkim_aligned"
        // CROSS JOIN pins messages as the outer loop (SQLite does not reorder it): with
        // ANALYZE statistics the planner otherwise starts from the 3-row reporters table,
        // walks the whole period through the UNIQUE index and sorts it (seconds at 10 M rows)
        // instead of reading the newest 51 rows off messages_received or messages_ip.
        " FROM messages m CROSS JOIN reporters r ON r.id = m.reporter_id"
        " CROSS JOIN ip_addresses a ON a.id = m.ip_id"
        " CROSS JOIN domains hf ON hf.id = m.header_from_domain_id"
        " LEFT JOIN domains pd ON pd.id = m.policy_domain_id" +
        w.sql + " ORDER BY m.received DESC, m.id DESC LIMIT ?");
    if (!st) return fail(st);
    int next = bind_all(*st, w.binds);
    st->bind(next, static_cast<std::int64_t>(limit + 1));
    MessagePage page;
    for (;;) {
        auto row = st->step();
        if (!row) return fail(row);
        if (!*row) break;
        MessageSummary s;
        s.id = st->column_int64(0);
        s.received = st->column_int64(1);
        s.job_id = text(*st, 2);
        s.reporter = text(*st, 3);
        s.ip = text(*st, 4);
        s.header_from = text(*st, 5);
        s.policy_domain = text(*st, 6);
        s.dmarc_result = text(*st, 7);
        s.disposition = text(*st, 8);
        s.action = text(*st, 9);
        s.spf_aligned = st->column_int64(10) != 0;
        s.dkim_aligned = st->column_int64(11) != 0;
        page.rows.push_back(std::move(s));
    }
    if (page.rows.size() > limit) {
        page.rows.pop_back();
        page.next = MessageCursor{page.rows.back().received, page.rows.back().id};
    }
    return page;
}

Result<std::optional<MessageDetail>> StoreReader::message(std::int64_t id) {
    auto db = acquire();
    if (!db) return fail(db);
    Lease lease{*this, *db};
    auto st = (*db)->prepare(
        "SELECT m.id, m.received, m.job_id, r.name, a.addr, hf.name, coalesce(pd.name, ''),"
        " m.dmarc_result, m.disposition, m.action, m.spf_aligned, m.dkim_aligned,"
        " m.helo, m.mail_from, coalesce(ed.name, ''), m.rcpt_to, coalesce(m.discovery_method, ''),"
        " m.spf_result, coalesce(sd.name, ''), m.spf_scope, m.arc_result, m.arc_policy,"
        " coalesce(m.policy_applied, ''), m.override_reasons, m.origin, m.is_report,"
        " pr.id IS NOT NULL, coalesce(pr.p, ''), coalesce(pr.sp, ''), coalesce(pr.np, ''),"
        " coalesce(pr.adkim, ''), coalesce(pr.aspf, ''), coalesce(pr.pct, 0),"
        " coalesce(pr.testing, 0), coalesce(pr.fo, ''), coalesce(pr.rua, ''), rp.report_id"
        " FROM messages m JOIN reporters r ON r.id = m.reporter_id"
        " JOIN ip_addresses a ON a.id = m.ip_id JOIN domains hf ON hf.id = m.header_from_domain_id"
        " LEFT JOIN domains pd ON pd.id = m.policy_domain_id"
        " LEFT JOIN domains ed ON ed.id = m.env_domain_id"
        " LEFT JOIN domains sd ON sd.id = m.spf_domain_id"
        " LEFT JOIN policy_records pr ON pr.id = m.policy_record_id"
        " LEFT JOIN reports rp ON rp.id = m.report_id WHERE m.id = ?");
    if (!st) return fail(st);
    st->bind(1, id);
    auto row = st->step();
    if (!row) return fail(row);
    if (!*row) return std::optional<MessageDetail>{};
    MessageDetail d;
    auto& s = d.summary;
    s.id = st->column_int64(0);
    s.received = st->column_int64(1);
    s.job_id = text(*st, 2);
    s.reporter = text(*st, 3);
    s.ip = text(*st, 4);
    s.header_from = text(*st, 5);
    s.policy_domain = text(*st, 6);
    s.dmarc_result = text(*st, 7);
    s.disposition = text(*st, 8);
    s.action = text(*st, 9);
    s.spf_aligned = st->column_int64(10) != 0;
    s.dkim_aligned = st->column_int64(11) != 0;
    d.helo = text(*st, 12);
    d.mail_from = text(*st, 13);
    d.env_domain = text(*st, 14);
    d.rcpt_to = text(*st, 15);
    d.discovery_method = text(*st, 16);
    d.spf_result = text(*st, 17);
    d.spf_domain = text(*st, 18);
    d.spf_scope = text(*st, 19);
    d.arc_result = text(*st, 20);
    d.arc_policy = text(*st, 21);
    d.policy_applied = text(*st, 22);
    d.override_reasons = text(*st, 23);
    d.origin = text(*st, 24);
    d.is_report = st->column_int64(25) != 0;
    d.has_record = st->column_int64(26) != 0;
    d.record_p = text(*st, 27);
    d.record_sp = text(*st, 28);
    d.record_np = text(*st, 29);
    d.record_adkim = text(*st, 30);
    d.record_aspf = text(*st, 31);
    d.record_pct = st->column_int64(32);
    d.record_testing = st->column_int64(33) != 0;
    d.record_fo = text(*st, 34);
    d.record_rua = text(*st, 35);
    if (!st->is_null(36)) d.report_id = text(*st, 36);
    st->reset();

    auto dk = (*db)->prepare(
        "SELECT d.name, k.selector, k.result FROM dkim_results k JOIN domains d ON d.id ="
        " k.domain_id WHERE k.message_id = ? ORDER BY k.seq");
    if (!dk) return fail(dk);
    dk->bind(1, id);
    for (;;) {
        auto r = dk->step();
        if (!r) return fail(r);
        if (!*r) break;
        d.dkim.push_back({text(*dk, 0), text(*dk, 1), text(*dk, 2)});
    }
    return std::optional<MessageDetail>(std::move(d));
}

Result<std::optional<WebUser>> StoreReader::find_user(const std::string& name) {
    auto db = acquire();
    if (!db) return fail(db);
    Lease lease{*this, *db};
    auto st = (*db)->prepare(
        "SELECT id, name, role, password_hash, disabled FROM web_users WHERE name = ?");
    if (!st) return fail(st);
    st->bind(1, name);
    auto row = st->step();
    if (!row) return fail(row);
    if (!*row) return std::optional<WebUser>{};
    WebUser u{st->column_int64(0), text(*st, 1), text(*st, 2), text(*st, 3),
              st->column_int64(4) != 0};
    st->reset();
    return std::optional<WebUser>(std::move(u));
}

Result<std::vector<ResultCount>> StoreReader::messages_by_result() {
    auto db = acquire();
    if (!db) return fail(db);
    Lease lease{*this, *db};
    auto st = (*db)->prepare(
        "SELECT dmarc_result, count(*) FROM messages GROUP BY dmarc_result ORDER BY dmarc_result");
    if (!st) return fail(st);
    std::vector<ResultCount> out;
    for (;;) {
        auto row = st->step();
        if (!row) return fail(row);
        if (!*row) break;
        out.push_back({text(*st, 0), st->column_int64(1)});
    }
    return out;
}

namespace {

std::optional<std::int64_t> opt_int(const sqlite::Statement& st, int col) {
    if (st.is_null(col)) return std::nullopt;
    return st.column_int64(col);
}

constexpr const char* kReportColumns =
    "SELECT r.id, d.name, r.report_id, r.format, r.compression, r.period_begin, r.period_end,"
    " r.created, r.message_count, r.record_count, coalesce(length(r.archive), 0)";

ReportRow report_row(const sqlite::Statement& st) {
    ReportRow r;
    r.id = st.column_int64(0);
    r.policy_domain = text(st, 1);
    r.report_id = text(st, 2);
    r.format = text(st, 3);
    r.compression = text(st, 4);
    r.period_begin = st.column_int64(5);
    r.period_end = st.column_int64(6);
    r.created = st.column_int64(7);
    r.message_count = st.column_int64(8);
    r.record_count = st.column_int64(9);
    r.archive_bytes = st.column_int64(10);
    return r;
}

Result<void> load_deliveries(sqlite::Db& db, ReportRow& report) {
    auto st = db.prepare(
        "SELECT id, destination, address, status, smtp_reply, attempts, last_attempt, next_retry,"
        " sent_at FROM report_deliveries WHERE report_id = ? ORDER BY id");
    if (!st) return fail(st);
    st->bind(1, report.id);
    for (;;) {
        auto row = st->step();
        if (!row) return fail(row);
        if (!*row) break;
        DeliveryRow d;
        d.id = st->column_int64(0);
        d.destination = text(*st, 1);
        d.address = text(*st, 2);
        d.status = text(*st, 3);
        d.smtp_reply = text(*st, 4);
        d.attempts = st->column_int64(5);
        d.last_attempt = opt_int(*st, 6);
        d.next_retry = opt_int(*st, 7);
        d.sent_at = opt_int(*st, 8);
        report.deliveries.push_back(std::move(d));
    }
    return {};
}

}  // namespace

Result<std::vector<ReportRow>> StoreReader::reports(std::size_t limit) {
    auto db = acquire();
    if (!db) return fail(db);
    Lease lease{*this, *db};
    auto st = (*db)->prepare(std::string(kReportColumns) +
                             " FROM reports r JOIN domains d ON d.id = r.policy_domain_id"
                             " ORDER BY r.created DESC, r.id DESC LIMIT ?");
    if (!st) return fail(st);
    st->bind(1, static_cast<std::int64_t>(limit));
    std::vector<ReportRow> out;
    for (;;) {
        auto row = st->step();
        if (!row) return fail(row);
        if (!*row) break;
        out.push_back(report_row(*st));
    }
    for (auto& r : out) {
        if (auto d = load_deliveries(**db, r); !d) return fail(d);
    }
    return out;
}

Result<std::optional<ReportArchive>> StoreReader::report(std::int64_t id) {
    auto db = acquire();
    if (!db) return fail(db);
    Lease lease{*this, *db};
    auto st = (*db)->prepare(std::string(kReportColumns) +
                             ", coalesce(r.archive, x'') FROM reports r JOIN domains d"
                             " ON d.id = r.policy_domain_id WHERE r.id = ?");
    if (!st) return fail(st);
    st->bind(1, id);
    auto row = st->step();
    if (!row) return fail(row);
    if (!*row) return std::optional<ReportArchive>{};
    ReportArchive a;
    a.report = report_row(*st);
    a.archive = text(*st, 11);
    st->reset();
    if (auto d = load_deliveries(**db, a.report); !d) return fail(d);
    return std::optional<ReportArchive>(std::move(a));
}

Result<std::vector<ResultCount>> StoreReader::deliveries_by_status() {
    auto db = acquire();
    if (!db) return fail(db);
    Lease lease{*this, *db};
    auto st = (*db)->prepare(
        "SELECT status, count(*) FROM report_deliveries GROUP BY status ORDER BY status");
    if (!st) return fail(st);
    std::vector<ResultCount> out;
    for (;;) {
        auto row = st->step();
        if (!row) return fail(row);
        if (!*row) break;
        out.push_back({text(*st, 0), st->column_int64(1)});
    }
    return out;
}

Result<std::vector<SuppressionRow>> StoreReader::suppressions() {
    auto db = acquire();
    if (!db) return fail(db);
    Lease lease{*this, *db};
    auto st = (*db)->prepare(
        "SELECT id, pattern, comment, added, expires FROM suppressions ORDER BY pattern");
    if (!st) return fail(st);
    std::vector<SuppressionRow> out;
    for (;;) {
        auto row = st->step();
        if (!row) return fail(row);
        if (!*row) break;
        out.push_back({st->column_int64(0), text(*st, 1), text(*st, 2), st->column_int64(3),
                       opt_int(*st, 4)});
    }
    return out;
}

Result<std::unique_ptr<StoreWriter>> StoreWriter::open(const std::string& path) {
    sqlite::OpenOptions options;
    options.create = false;
    auto db = sqlite::Db::open(path, options);
    if (!db) return fail(db);
    return std::unique_ptr<StoreWriter>(new StoreWriter(std::move(*db)));
}

Result<std::int64_t> StoreWriter::resend_report(std::int64_t id, std::int64_t now) {
    std::lock_guard lock(mutex_);
    auto tx = sqlite::Transaction::begin(db_);
    if (!tx) return fail(tx);
    auto exists = db_.prepare("SELECT count(*) FROM reports WHERE id = ?");
    if (!exists) return fail(exists);
    exists->bind(1, id);
    auto row = exists->step();
    if (!row) return fail(row);
    const bool found = *row && exists->column_int64(0) > 0;
    exists->reset();
    if (!found) return make_error(Errc::not_found, "no such report");
    auto st = db_.prepare(
        "UPDATE report_deliveries SET status = 'pending', next_retry = ?, attempts = 0,"
        " parts_sent = 0 WHERE report_id = ?"
        " AND status IN ('pending', 'sent', 'temp_failed', 'perm_failed')");
    if (!st) return fail(st);
    st->bind(1, now).bind(2, id);
    if (auto r = st->run(); !r) return fail(r);
    const std::int64_t changed = db_.changes();
    if (auto c = tx->commit(); !c) return fail(c);
    return changed;
}

Result<void> StoreWriter::add_suppression(const std::string& pattern, const std::string& comment,
                                          std::optional<std::int64_t> expires, std::int64_t now) {
    std::lock_guard lock(mutex_);
    auto st = db_.prepare(
        "INSERT INTO suppressions (pattern, comment, added, expires) VALUES (?, ?, ?, ?)"
        " ON CONFLICT (pattern) DO UPDATE SET comment = excluded.comment,"
        " added = excluded.added, expires = excluded.expires");
    if (!st) return fail(st);
    st->bind(1, pattern).bind(2, comment).bind(3, now).bind(4, expires);
    return st->run();
}

Result<bool> StoreWriter::remove_suppression(std::int64_t id) {
    std::lock_guard lock(mutex_);
    auto st = db_.prepare("DELETE FROM suppressions WHERE id = ?");
    if (!st) return fail(st);
    st->bind(1, id);
    if (auto r = st->run(); !r) return fail(r);
    return db_.changes() > 0;
}

namespace {

Result<sqlite::Db> open_migrated(const std::string& store_path) {
    auto db = sqlite::Db::open(store_path);
    if (!db) return db;
    if (auto v = sqlite::migrate(*db, "store"); !v) return tl::unexpected(v.error());
    return db;
}

}  // namespace

Result<void> add_web_user(const std::string& store_path, const std::string& name,
                          const std::string& role, const std::string& password_hash,
                          std::int64_t now) {
    auto db = open_migrated(store_path);
    if (!db) return fail(db);
    auto st = db->prepare(
        "INSERT INTO web_users (name, role, password_hash, created) VALUES (?, ?, ?, ?)");
    if (!st) return fail(st);
    st->bind(1, name).bind(2, role).bind(3, password_hash).bind(4, now);
    if (auto r = st->run(); !r) return r;
    return {};
}

Result<void> set_web_user_password(const std::string& store_path, const std::string& name,
                                   const std::string& password_hash) {
    auto db = open_migrated(store_path);
    if (!db) return fail(db);
    auto st = db->prepare("UPDATE web_users SET password_hash = ?, disabled = 0 WHERE name = ?");
    if (!st) return fail(st);
    st->bind(1, password_hash).bind(2, name);
    if (auto r = st->run(); !r) return r;
    if (db->changes() == 0) return make_error(Errc::not_found, "no such user: " + name);
    return {};
}

}  // namespace dmarc::io
