// ReportStore (report_store.hpp): the reporter's queries and ledger, written once over a thin SQL
// layer (parameters and results as text, `$N` placeholders) with a SQLite and a libpq backend.
// SQL text for queries lives here; DDL only in schema/.
#include "io/report_store.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <limits>
#include <map>

#include <fmt/format.h>

#include "core/domain_name.hpp"
#include "core/spool_row.hpp"
#include "core/text.hpp"
#include "io/sql_connection.hpp"
#include "io/store.hpp"

namespace dmarc::io {

std::string_view to_string(DeliveryStatus status) noexcept {
    static constexpr std::string_view kNames[] = {
        "pending", "sent", "temp_failed", "perm_failed", "suppressed", "unauthorised", "ignored"};
    return kNames[static_cast<std::size_t>(status)];
}

std::optional<DeliveryStatus> parse_delivery_status(std::string_view text) noexcept {
    for (int i = 0; i <= static_cast<int>(DeliveryStatus::ignored); ++i) {
        if (to_string(static_cast<DeliveryStatus>(i)) == text) {
            return static_cast<DeliveryStatus>(i);
        }
    }
    return std::nullopt;
}

std::string_view to_string(DeliveryKind kind) noexcept {
    switch (kind) {
        case DeliveryKind::split:
            return "split";
        case DeliveryKind::error_report:
            return "error_report";
        default:
            return "report";
    }
}

namespace {

// The SQL layer: io/sql_connection.hpp.
using Sql = sql::Connection;
using sql::blob;
using sql::Field;
using sql::p;
using sql::Row;
using sql::to_int;
using sql::to_opt_int;
using sql::to_text;

// ---- The run lock (one dmarc-reporter per store) -------------------------------------------

// "pid N on HOST since EPOCH": who holds the run lock.
std::string lock_holder(std::int64_t now) {
    char host[256] = {};
    if (::gethostname(host, sizeof host - 1) != 0) host[0] = '\0';
    return fmt::format("pid {} on {} since {}", ::getpid(), host, now);
}

// SQLite: flock(2) on a file beside the database, not a row in the store: the kernel drops it
// when the process ends, however it ends, so a SIGKILLed run never leaves a lock to expire; and
// taking it writes nothing to the database. The file stays (removing a lock file races with the
// next taker).
class FileRunLock {
  public:
    explicit FileRunLock(std::string path) : path_(std::move(path)) {}
    ~FileRunLock() {
        if (fd_ >= 0) ::close(fd_);
    }
    FileRunLock(const FileRunLock&) = delete;
    FileRunLock& operator=(const FileRunLock&) = delete;

    Result<RunLock> acquire(std::int64_t now) {
        if (fd_ < 0) {
            fd_ = ::open(path_.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0640);
            if (fd_ < 0) return make_error(Errc::io, path_ + ": " + std::strerror(errno));
        }
        if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
            if (errno != EWOULDBLOCK) {
                return make_error(Errc::io, path_ + ": " + std::strerror(errno));
            }
            char buffer[256] = {};
            const ssize_t n = ::pread(fd_, buffer, sizeof buffer - 1, 0);
            std::string holder(buffer, n > 0 ? static_cast<std::size_t>(n) : 0);
            while (!holder.empty() && (holder.back() == '\n' || holder.back() == '\0')) {
                holder.pop_back();
            }
            return RunLock{false, holder};
        }
        const std::string holder = lock_holder(now);
        const std::string line = holder + "\n";
        if (::ftruncate(fd_, 0) != 0 ||
            ::pwrite(fd_, line.data(), line.size(), 0) != static_cast<ssize_t>(line.size())) {
            return make_error(Errc::io, path_ + ": " + std::strerror(errno));
        }
        return RunLock{true, holder};
    }

  private:
    std::string path_;
    int fd_ = -1;
};

// PostgreSQL: a session-level advisory lock, freed when this connection ends (the process exits
// or is killed and its socket closes). The holder is named in application_name so that a
// refused run can say who has it (pg_stat_activity; "" when not visible to us).
Result<RunLock> acquire_postgres_run_lock(Sql& sql, std::int64_t now) {
    constexpr std::string_view kKey = "7489006";  // issue 6; migrations use 7489001
    const std::string holder = "dmarc-reporter " + lock_holder(now);
    if (auto r = sql.query("SELECT set_config('application_name', $1, false)",
                           {p(std::string_view(holder).substr(0, 63))});
        !r) {
        return tl::unexpected(r.error());
    }
    auto taken = sql.query(fmt::format("SELECT pg_try_advisory_lock({})", kKey), {});
    if (!taken) return tl::unexpected(taken.error());
    if (!taken->empty() && taken->front()[0] == std::optional<std::string>("t")) {
        return RunLock{true, holder};
    }
    // A bigint key appears in pg_locks as classid (high 32 bits), objid (low), objsubid 1.
    auto who = sql.query(fmt::format("SELECT a.application_name, a.pid FROM pg_locks l JOIN "
                                     "pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = "
                                     "'advisory' AND l.classid = 0 AND l.objid = {} AND "
                                     "l.objsubid = 1 AND l.granted",
                                     kKey),
                         {});
    RunLock refused;
    if (who && !who->empty()) {
        refused.holder = fmt::format("{} (PostgreSQL backend pid {})", who->front()[0].value_or(""),
                                     who->front()[1].value_or("?"));
    }
    return refused;
}

// ---- Queries --------------------------------------------------------------------------------

// {DKIM}: the message's DKIM results as "d TAB s TAB result" lines in signature order.
// {RCPT}: the recipient list (an escaped list, core/spool_row.hpp) from just after its first
// '@', lower-cased; '' without one. For the usual single recipient that is "domain\n", so
// messages group per recipient domain, not per mailbox; C++ finishes envelope_to from it.
constexpr std::string_view kPeriodRows = R"sql(
SELECT addr, header_from, env_from, disposition, dkim_aligned, spf_aligned, override_reasons,
       spf_domain, spf_scope, spf_result, record_id, discovery_method, dkim, count(*),
       max(received), env_to
FROM (SELECT ip.addr AS addr, hf.name AS header_from, COALESCE(ed.name, '') AS env_from,
             {RCPT} AS env_to,
             m.disposition AS disposition, m.dkim_aligned AS dkim_aligned,
             m.spf_aligned AS spf_aligned, m.override_reasons AS override_reasons,
             COALESCE(sd.name, '') AS spf_domain, m.spf_scope AS spf_scope,
             m.spf_result AS spf_result, COALESCE(m.policy_record_id, 0) AS record_id,
             COALESCE(m.discovery_method, '') AS discovery_method,
             CASE WHEN m.dkim_count = 0 THEN '' ELSE {DKIM} END AS dkim, m.received AS received
      FROM messages m
      JOIN ip_addresses ip ON ip.id = m.ip_id
      JOIN domains hf ON hf.id = m.header_from_domain_id
      LEFT JOIN domains ed ON ed.id = m.env_domain_id
      LEFT JOIN domains sd ON sd.id = m.spf_domain_id
      WHERE m.policy_domain_id = (SELECT id FROM domains WHERE name = $1)
        AND m.received >= $2 AND m.received <= $3 AND m.is_report = 0
        AND m.report_id IS NULL) t
GROUP BY addr, header_from, env_from, env_to, disposition, dkim_aligned, spf_aligned,
         override_reasons, spf_domain, spf_scope, spf_result, record_id, discovery_method, dkim
)sql";

constexpr std::string_view kSqliteRcpt =
    "CASE WHEN instr(m.rcpt_to, '@') = 0 THEN '' ELSE lower(substr(m.rcpt_to, instr(m.rcpt_to, "
    "'@') + 1)) END";
constexpr std::string_view kPostgresRcpt =
    "CASE WHEN strpos(m.rcpt_to, '@') = 0 THEN '' ELSE lower(substr(m.rcpt_to, strpos(m.rcpt_to, "
    "'@') + 1)) END";

// The first unreported message of a domain from a time on, under a record that asks for
// reports, with that record's ri: it decides where the next period begins and how long it is.
constexpr std::string_view kNextUnreported = R"sql(
SELECT m.received, pr.ri FROM messages m JOIN policy_records pr ON pr.id = m.policy_record_id
WHERE m.policy_domain_id = (SELECT id FROM domains WHERE name = $1)
  AND m.received >= $2 AND m.received <= $3 AND m.report_id IS NULL AND m.is_report = 0
  AND pr.rua <> ''
ORDER BY m.received LIMIT 1
)sql";

constexpr std::string_view kSqliteDkim =
    "(SELECT group_concat(x, char(10)) FROM (SELECT d.name || char(9) || k.selector || char(9) "
    "|| k.result AS x FROM dkim_results k JOIN domains d ON d.id = k.domain_id "
    "WHERE k.message_id = m.id ORDER BY k.seq))";
constexpr std::string_view kPostgresDkim =
    "(SELECT string_agg(d.name || chr(9) || k.selector || chr(9) || k.result, chr(10) ORDER BY "
    "k.seq) FROM dkim_results k JOIN domains d ON d.id = k.domain_id WHERE k.message_id = m.id)";

// Per domain whose records ask for reports: its earliest unreported message after its last
// reported period, found through (policy_domain_id, received) and stopping at the first hit
// (a scan of every message takes seconds on a large store; this takes milliseconds).
constexpr std::string_view kDomainsWithData = R"sql(
WITH last AS (SELECT policy_domain_id, max(period_end) AS done FROM reports
              GROUP BY policy_domain_id),
     wanted AS (SELECT DISTINCT domain_id FROM policy_records WHERE rua <> '')
SELECT name, first, done FROM (
    SELECT d.name AS name, l.done AS done,
           (SELECT m.received FROM messages m
            WHERE m.policy_domain_id = d.id AND m.received <= $1
              AND m.received > COALESCE(l.done, -9223372036854775807)
              AND m.report_id IS NULL AND m.is_report = 0
              AND m.policy_record_id IN (SELECT pr.id FROM policy_records pr
                                         WHERE pr.domain_id = d.id AND pr.rua <> '')
            ORDER BY m.received LIMIT 1) AS first
    FROM wanted w JOIN domains d ON d.id = w.domain_id
    LEFT JOIN last l ON l.policy_domain_id = d.id
    WHERE $2 = '' OR d.name = $2) t
WHERE first IS NOT NULL
ORDER BY name
)sql";

constexpr std::string_view kReportColumns =
    "r.id, r.report_id, d.name, r.period_begin, r.period_end, r.format, r.compression, "
    "r.created, r.message_count, r.record_count";

constexpr std::string_view kDeliveryColumns =
    "dl.id, dl.destination, dl.address, dl.status, dl.kind, dl.attempts, dl.last_attempt, "
    "dl.next_retry, dl.sent_at, dl.smtp_reply, dl.max_size, dl.verified, dl.parts_sent";

StoredReport report_from(const Row& row, std::size_t at) {
    StoredReport r;
    r.id = to_int(row[at]);
    r.report_id = to_text(row[at + 1]);
    r.policy_domain = to_text(row[at + 2]);
    r.period = {to_int(row[at + 3]), to_int(row[at + 4])};
    r.format = to_text(row[at + 5]) == "rfc9990" ? ReportFormat::rfc9990 : ReportFormat::rfc7489;
    r.compression =
        to_text(row[at + 6]) == "zip" ? ReportCompression::zip : ReportCompression::gzip;
    r.created = to_int(row[at + 7]);
    r.message_count = static_cast<std::uint64_t>(to_int(row[at + 8]));
    r.record_count = static_cast<std::uint64_t>(to_int(row[at + 9]));
    return r;
}

Delivery delivery_from(const Row& row) {
    Delivery d;
    d.id = to_int(row[0]);
    d.destination = to_text(row[1]);
    d.address = to_text(row[2]);
    d.status = parse_delivery_status(to_text(row[3])).value_or(DeliveryStatus::pending);
    const std::string kind = to_text(row[4]);
    d.kind = kind == "split"          ? DeliveryKind::split
             : kind == "error_report" ? DeliveryKind::error_report
                                      : DeliveryKind::report;
    d.attempts = static_cast<int>(to_int(row[5]));
    d.last_attempt = to_opt_int(row[6]);
    d.next_retry = to_opt_int(row[7]);
    d.sent_at = to_opt_int(row[8]);
    d.smtp_reply = to_text(row[9]);
    if (row[10]) d.max_size = static_cast<std::uint64_t>(to_int(row[10]));
    d.verified = to_int(row[11]) != 0;
    d.parts_sent = static_cast<int>(to_int(row[12]));
    d.report = report_from(row, 13);
    return d;
}

std::vector<std::string> split_rua(std::string_view rua) {
    // Stored comma-joined as published; a URI never holds a raw comma (it is %2C).
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start < rua.size()) {
        const std::size_t end = std::min(rua.find(',', start), rua.size());
        auto item = text::trim(rua.substr(start, end - start));
        if (!item.empty()) out.emplace_back(item);
        start = end + 1;
    }
    return out;
}

class SqlReportStore final : public ReportStore {
  public:
    SqlReportStore(std::unique_ptr<Sql> sql, std::string sqlite_lock_path)
        : sql_(std::move(sql)), file_lock_(std::move(sqlite_lock_path)) {
        period_rows_sql_ = std::string(kPeriodRows);
        const auto at = period_rows_sql_.find("{DKIM}");
        period_rows_sql_.replace(at, 6, sql_->postgres() ? kPostgresDkim : kSqliteDkim);
        const auto rcpt = period_rows_sql_.find("{RCPT}");
        period_rows_sql_.replace(rcpt, 6, sql_->postgres() ? kPostgresRcpt : kSqliteRcpt);
    }

    Result<RunLock> acquire_run_lock(std::int64_t now) override {
        return sql_->postgres() ? acquire_postgres_run_lock(*sql_, now) : file_lock_.acquire(now);
    }

    Result<std::vector<DomainBacklog>> domains_with_data(std::int64_t until,
                                                         std::string_view only_domain) override {
        auto rows = sql_->query(kDomainsWithData, {p(until), p(only_domain)});
        if (!rows) return tl::unexpected(rows.error());
        std::vector<DomainBacklog> out;
        for (const auto& row : *rows) {
            out.push_back({to_text(row[0]), to_int(row[1]), to_opt_int(row[2])});
        }
        return out;
    }

    Result<std::optional<UnreportedMessage>> next_unreported(std::string_view policy_domain,
                                                             std::int64_t from,
                                                             std::int64_t until) override {
        auto rows = sql_->query(kNextUnreported, {p(policy_domain), p(from), p(until)});
        if (!rows) return tl::unexpected(rows.error());
        if (rows->empty()) return std::optional<UnreportedMessage>{};
        const Row& row = rows->front();
        const std::int64_t ri = to_int(row[1]);
        return std::optional<UnreportedMessage>{UnreportedMessage{
            to_int(row[0]), static_cast<std::uint32_t>(std::clamp<std::int64_t>(
                                ri, 0, std::numeric_limits<std::uint32_t>::max()))}};
    }

    Result<PeriodRows> period_rows(std::string_view policy_domain,
                                   const ReportPeriod& period) override {
        auto rows =
            sql_->query(period_rows_sql_, {p(policy_domain), p(period.begin), p(period.end)});
        if (!rows) return tl::unexpected(rows.error());
        PeriodRows out;
        out.rows.reserve(rows->size());
        std::int64_t rua_time = 0;
        for (const auto& row : *rows) {
            AggregateInput in;
            in.source_ip = to_text(row[0]);
            in.rfc5322_from_domain = to_text(row[1]);
            in.rfc5321_mail_from_domain = to_text(row[2]);
            in.disposition = parse_disposition(to_text(row[3])).value_or(Disposition::none);
            in.dkim_aligned = to_int(row[4]) != 0;
            in.spf_aligned = to_int(row[5]) != 0;
            for (const auto& token : split_rua(to_text(row[6]))) {
                if (auto reason = parse_override_reason(token)) in.reasons.push_back({*reason, ""});
            }
            const auto scope = parse_spf_scope(to_text(row[8])).value_or(SpfScope::mfrom);
            const auto spf_result = parse_spf_result(to_text(row[9])).value_or(SpfResult::none);
            if (!to_text(row[7]).empty()) in.spf = AggregateSpf{to_text(row[7]), scope, spf_result};
            const std::int64_t record_id = to_int(row[10]);
            const std::string dkim = to_text(row[12]);
            std::size_t start = 0;
            while (start < dkim.size()) {
                const std::size_t end = std::min(dkim.find('\n', start), dkim.size());
                const std::string_view line = std::string_view(dkim).substr(start, end - start);
                start = end + 1;
                const auto t1 = line.find('\t'), t2 = line.rfind('\t');
                if (t1 == std::string_view::npos || t1 == t2) continue;
                AggregateDkim sig;
                sig.dkim_d = std::string(line.substr(0, t1));
                sig.selector = std::string(line.substr(t1 + 1, t2 - t1 - 1));
                sig.result = parse_dkim_result(line.substr(t2 + 1)).value_or(DkimResult::none);
                // The evaluator found no aligned DKIM pass: no signature is aligned, whatever
                // the names suggest. With one, core/aggregate orders by the names.
                if (!in.dkim_aligned) sig.alignment = DkimAlignment::none;
                in.dkim.push_back(std::move(sig));
            }
            in.count = static_cast<std::uint64_t>(to_int(row[13]));
            in.received = to_int(row[14]);
            // "x@" stands in for the first local part the query cut off (with it the '@'), so
            // the rest decodes as the escaped list it was; the cut never falls inside an escape.
            if (const std::string tail = to_text(row[15]); !tail.empty()) {
                if (auto rcpt = decode_list("x@" + tail)) {
                    in.envelope_to_domain = envelope_to_domain(*rcpt);
                }
            }
            auto record = policy_record(record_id);
            if (!record) return tl::unexpected(record.error());
            in.policy = record->first;
            in.policy.domain = std::string(policy_domain);
            if (auto method = parse_discovery_method(to_text(row[11]))) {
                in.policy.discovery_method = *method;
            }
            if (!record->second.empty() && in.received >= rua_time) {
                rua_time = in.received;
                out.rua = split_rua(record->second);
            }
            out.rows.push_back(std::move(in));
        }
        return out;
    }

    Result<std::int64_t> create_report(const NewReport& report) override {
        if (auto r = sql_->begin(); !r) return tl::unexpected(r.error());
        auto result = create_report_in_transaction(report);
        if (!result) {
            (void)sql_->exec("ROLLBACK");
            return result;
        }
        if (auto r = sql_->exec("COMMIT"); !r) return tl::unexpected(r.error());
        return result;
    }

    Result<std::vector<Delivery>> due_deliveries(std::int64_t now,
                                                 std::string_view only_report_id) override {
        const std::string sql = fmt::format(
            "SELECT {}, {}, r.archive FROM report_deliveries dl JOIN reports r ON r.id = "
            "dl.report_id JOIN domains d ON d.id = r.policy_domain_id WHERE (dl.status = "
            "'pending' OR (dl.status = 'temp_failed' AND dl.next_retry <= $1)) AND ($2 = '' OR "
            "r.report_id = $2) ORDER BY r.id, dl.id",
            kDeliveryColumns, kReportColumns);
        auto rows = sql_->query(sql, {p(now), p(only_report_id)});
        if (!rows) return tl::unexpected(rows.error());
        std::vector<Delivery> out;
        for (const auto& row : *rows) {
            out.push_back(delivery_from(row));
            out.back().archive = to_text(row[23]);
        }
        return out;
    }

    Result<void> update_delivery(const Delivery& d) override {
        std::optional<std::int64_t> max_size;
        if (d.max_size) max_size = static_cast<std::int64_t>(*d.max_size);
        return sql_->exec(
            "UPDATE report_deliveries SET status = $2, kind = $3, attempts = $4, last_attempt = "
            "$5, next_retry = $6, sent_at = $7, smtp_reply = $8, address = $9, verified = $10, "
            "parts_sent = $11, max_size = $12 WHERE id = $1",
            {p(d.id), p(to_string(d.status)), p(to_string(d.kind)), p(std::int64_t{d.attempts}),
             p(d.last_attempt), p(d.next_retry), p(d.sent_at), p(d.smtp_reply), p(d.address),
             p(std::int64_t{d.verified}), p(std::int64_t{d.parts_sent}), p(max_size)});
    }

    Result<std::optional<StoredReport>> find_report(std::string_view report_id) override {
        auto rows = sql_->query(fmt::format("SELECT {} FROM reports r JOIN domains d ON d.id = "
                                            "r.policy_domain_id WHERE r.report_id = $1",
                                            kReportColumns),
                                {p(report_id)});
        if (!rows) return tl::unexpected(rows.error());
        if (rows->empty()) return std::optional<StoredReport>{};
        return std::optional<StoredReport>{report_from(rows->front(), 0)};
    }

    Result<std::vector<StoredReport>> reports() override {
        auto rows = sql_->query(fmt::format("SELECT {} FROM reports r JOIN domains d ON d.id = "
                                            "r.policy_domain_id ORDER BY r.id",
                                            kReportColumns),
                                {});
        if (!rows) return tl::unexpected(rows.error());
        std::vector<StoredReport> out;
        for (const auto& row : *rows) out.push_back(report_from(row, 0));
        return out;
    }

    Result<std::vector<Delivery>> deliveries_of(std::string_view report_id) override {
        auto rows = sql_->query(
            fmt::format("SELECT {}, {} FROM report_deliveries dl JOIN reports r ON r.id = "
                        "dl.report_id JOIN domains d ON d.id = r.policy_domain_id WHERE "
                        "r.report_id = $1 ORDER BY dl.id",
                        kDeliveryColumns, kReportColumns),
            {p(report_id)});
        if (!rows) return tl::unexpected(rows.error());
        std::vector<Delivery> out;
        for (const auto& row : *rows) out.push_back(delivery_from(row));
        return out;
    }

    Result<bool> reset_for_resend(std::string_view report_id) override {
        auto found = find_report(report_id);
        if (!found) return tl::unexpected(found.error());
        if (!*found) return false;
        if (auto r = sql_->exec(
                "UPDATE report_deliveries SET status = 'pending', attempts = 0, next_retry = NULL, "
                "parts_sent = 0, kind = 'report' WHERE report_id = $1 AND status IN ('sent', "
                "'perm_failed', 'temp_failed')",
                {p((*found)->id)});
            !r) {
            return tl::unexpected(r.error());
        }
        return true;
    }

    Result<void> add_suppression(const Suppression& s) override {
        return sql_->exec(
            "INSERT INTO suppressions(pattern, comment, added, expires) VALUES ($1, $2, $3, $4) "
            "ON CONFLICT (pattern) DO UPDATE SET comment = excluded.comment, expires = "
            "excluded.expires",
            {p(s.pattern), p(s.comment), p(s.added), p(s.expires)});
    }

    Result<bool> remove_suppression(std::string_view pattern) override {
        auto rows =
            sql_->query("DELETE FROM suppressions WHERE pattern = $1 RETURNING id", {p(pattern)});
        if (!rows) return tl::unexpected(rows.error());
        return !rows->empty();
    }

    Result<std::vector<Suppression>> suppressions() override {
        auto rows = sql_->query(
            "SELECT pattern, comment, added, expires FROM suppressions ORDER BY pattern", {});
        if (!rows) return tl::unexpected(rows.error());
        std::vector<Suppression> out;
        for (const auto& row : *rows) {
            out.push_back({to_text(row[0]), to_text(row[1]), to_int(row[2]), to_opt_int(row[3])});
        }
        return out;
    }

  private:
    // (record, rua) of a policy_records row; id 0: no record (defaults).
    Result<std::pair<ReportPolicy, std::string>> policy_record(std::int64_t id) {
        if (auto it = records_.find(id); it != records_.end()) return it->second;
        std::pair<ReportPolicy, std::string> out;
        if (id != 0) {
            auto rows = sql_->query(
                "SELECT p, sp, np, adkim, aspf, pct, testing, fo, rua FROM policy_records WHERE "
                "id = $1",
                {p(id)});
            if (!rows) return tl::unexpected(rows.error());
            if (!rows->empty()) {
                const Row& r = rows->front();
                ReportPolicy& pp = out.first;
                pp.p = parse_policy(to_text(r[0])).value_or(Policy::none);
                pp.sp = parse_policy(to_text(r[1]));
                pp.np = parse_policy(to_text(r[2]));
                pp.adkim = parse_align_mode(to_text(r[3])).value_or(AlignMode::relaxed);
                pp.aspf = parse_align_mode(to_text(r[4])).value_or(AlignMode::relaxed);
                pp.pct = static_cast<std::uint8_t>(std::clamp<std::int64_t>(to_int(r[5]), 0, 100));
                pp.testing = to_int(r[6]) != 0;
                pp.fo = to_text(r[7]).empty() ? "0" : to_text(r[7]);
                out.second = to_text(r[8]);
            }
        }
        records_.emplace(id, out);
        return out;
    }

    Result<std::int64_t> create_report_in_transaction(const NewReport& report) {
        auto domain =
            sql_->query("SELECT id FROM domains WHERE name = $1", {p(report.policy_domain)});
        if (!domain) return tl::unexpected(domain.error());
        if (domain->empty()) {
            return make_error(Errc::not_found, "unknown policy domain " + report.policy_domain);
        }
        const std::int64_t domain_id = to_int(domain->front()[0]);
        auto existing = sql_->query(
            "SELECT report_id FROM reports WHERE policy_domain_id = $1 AND period_begin = $2 AND "
            "format = $3",
            {p(domain_id), p(report.period.begin), p(to_string(report.format))});
        if (!existing) return tl::unexpected(existing.error());
        if (!existing->empty()) {
            return make_error(
                Errc::invalid_value,
                fmt::format("{} {}..{} is already in the ledger as {}", report.policy_domain,
                            report.period.begin, report.period.end, to_text(existing->front()[0])));
        }
        auto inserted = sql_->query(
            "INSERT INTO reports(policy_domain_id, period_begin, period_end, report_id, format, "
            "created, message_count, record_count, compression, archive) VALUES ($1, $2, $3, $4, "
            "$5, $6, $7, $8, $9, $10) RETURNING id",
            {p(domain_id), p(report.period.begin), p(report.period.end), p(report.report_id),
             p(to_string(report.format)), p(report.created),
             p(static_cast<std::int64_t>(report.message_count)),
             p(static_cast<std::int64_t>(report.record_count)),
             p(report.compression == ReportCompression::zip ? "zip" : "gzip"),
             blob(report.archive)});
        if (!inserted) return tl::unexpected(inserted.error());
        const std::int64_t id = to_int(inserted->front()[0]);
        for (const auto& d : report.deliveries) {
            std::optional<std::int64_t> max_size;
            if (d.max_size) max_size = static_cast<std::int64_t>(*d.max_size);
            if (auto r = sql_->exec(
                    "INSERT INTO report_deliveries(report_id, destination, address, status, "
                    "next_retry, smtp_reply, max_size, verified, attempts) VALUES ($1, $2, $3, $4, "
                    "$5, $6, $7, $8, $9)",
                    {p(id), p(d.destination), p(d.address), p(to_string(d.status)), p(d.next_retry),
                     p(d.detail), p(max_size), p(std::int64_t{d.verified}),
                     p(std::int64_t{d.status == DeliveryStatus::temp_failed ? 1 : 0})});
                !r) {
                return tl::unexpected(r.error());
            }
        }
        if (auto r = sql_->exec(
                "UPDATE messages SET report_id = $1 WHERE policy_domain_id = $2 AND received >= $3 "
                "AND received <= $4 AND report_id IS NULL AND is_report = 0",
                {p(id), p(domain_id), p(report.period.begin), p(report.period.end)});
            !r) {
            return tl::unexpected(r.error());
        }
        return id;
    }

    std::unique_ptr<Sql> sql_;
    FileRunLock file_lock_;  // SQLite only
    std::string period_rows_sql_;
    std::map<std::int64_t, std::pair<ReportPolicy, std::string>> records_;
};

}  // namespace

Result<std::unique_ptr<ReportStore>> open_report_store(std::string_view uri) {
    // open_store validates the URI and applies the migrations; then a connection of our own.
    auto store = open_store(uri);
    if (!store) return tl::unexpected(store.error());
    store->reset();
    // SQLite's default page cache (unlike the importing Store's 256 MiB and mmap): each
    // period query touches few pages, and the reporter's peak memory stays ~20 MiB.
    auto connection = sql::connect(uri, {});
    if (!connection) return tl::unexpected(connection.error());
    if (!(*connection)->postgres()) {
        if (auto r = (*connection)->exec("PRAGMA foreign_keys=ON"); !r) {
            return tl::unexpected(r.error());
        }
    }
    std::string lock_path =
        (*connection)->postgres() ? std::string() : sql::sqlite_path(uri) + ".reporter-lock";
    return std::unique_ptr<ReportStore>(
        std::make_unique<SqlReportStore>(std::move(*connection), std::move(lock_path)));
}

}  // namespace dmarc::io
