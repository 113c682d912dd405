// The reporter's side of the store (issue 6, design.md §7): the rows of one policy domain and
// period grouped in SQL for core/aggregate, the domains with unreported data after the end of
// their last reported period (the window comes from the ledger, never from "now"), the report
// ledger (reports + report_deliveries: a report, its archived compressed bytes, its deliveries
// and the messages it covers commit in one transaction; each delivery then moves pending ->
// sent / temp_failed / perm_failed / suppressed / unauthorised / ignored) and suppressions.
// One implementation of the logic over a thin SQL layer with a SQLite and a libpq backend.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/aggregate.hpp"
#include "core/report_destinations.hpp"
#include "core/report_mail.hpp"
#include "core/result.hpp"

namespace dmarc::io {

// A policy domain with messages not yet in a report, received after the end of its last
// reported period (if any) and at or before the `until` asked for.
struct DomainBacklog {
    std::string policy_domain;
    std::int64_t first_unreported = 0;            // earliest such message
    std::optional<std::int64_t> last_period_end;  // end of the last period reported, if any
};

// The earliest unreported message of a domain from some time on (under a record with rua).
struct UnreportedMessage {
    std::int64_t received = 0;
    std::uint32_t ri = 86400;  // its record's ri= (RFC 7489 §6.3), as published
};

struct PeriodRows {
    std::vector<AggregateInput> rows;  // grouped: count = identical messages
    // rua of the latest record in force in the period that had one, as published.
    std::vector<std::string> rua;
};

enum class DeliveryStatus : std::uint8_t {
    pending,
    sent,
    temp_failed,
    perm_failed,
    suppressed,
    unauthorised,
    ignored
};
std::string_view to_string(DeliveryStatus status) noexcept;
std::optional<DeliveryStatus> parse_delivery_status(std::string_view text) noexcept;

// What was (or is to be) sent to a destination (schema 0003 report_deliveries.kind).
enum class DeliveryKind : std::uint8_t { report, split, error_report };
std::string_view to_string(DeliveryKind kind) noexcept;

struct NewDelivery {
    std::string destination;  // the rua URI as published
    std::string address;      // mailbox; for ignored/unauthorised deliveries the URI itself
    DeliveryStatus status = DeliveryStatus::pending;
    std::string detail;  // kept in smtp_reply
    std::optional<std::int64_t> next_retry;
    std::optional<std::uint64_t> max_size;
    bool verified = true;  // false: the §7.1 check is repeated before sending
};

struct NewReport {
    std::string policy_domain;
    ReportPeriod period;
    std::string report_id;
    ReportFormat format = ReportFormat::rfc7489;
    std::int64_t created = 0;
    std::uint64_t message_count = 0;
    std::uint64_t record_count = 0;
    ReportCompression compression = ReportCompression::gzip;
    std::string archive;  // the compressed report
    std::vector<NewDelivery> deliveries;
};

struct StoredReport {
    std::int64_t id = 0;  // reports.id
    std::string report_id;
    std::string policy_domain;
    ReportPeriod period;
    ReportFormat format = ReportFormat::rfc7489;
    ReportCompression compression = ReportCompression::gzip;
    std::int64_t created = 0;
    std::uint64_t message_count = 0, record_count = 0;
};

struct Delivery {
    std::int64_t id = 0;
    StoredReport report;
    std::string archive;  // filled by due_deliveries only
    std::string destination, address;
    DeliveryStatus status = DeliveryStatus::pending;
    DeliveryKind kind = DeliveryKind::report;
    int attempts = 0;
    std::optional<std::int64_t> last_attempt, next_retry, sent_at;
    std::string smtp_reply;
    std::optional<std::uint64_t> max_size;
    bool verified = true;
    int parts_sent = 0;
};

// The outcome of ReportStore::acquire_run_lock.
struct RunLock {
    bool acquired = false;
    std::string holder;  // when not acquired: who holds it, as far as known ("" when unknown)
};

class ReportStore {
  public:
    virtual ~ReportStore() = default;

    // One reporting run per store at a time: two would build and send the same reports. Held
    // until this ReportStore is destroyed or the process ends, however it ends, so a killed run
    // leaves nothing stale behind. SQLite: flock(2) on "<database file>.reporter-lock" (created
    // next to the database, never deleted; it holds the holder's pid, host and start time);
    // PostgreSQL: a session advisory lock (pg_try_advisory_lock), freed when the connection
    // closes. Never waits.
    virtual Result<RunLock> acquire_run_lock(std::int64_t now) = 0;

    // Messages that belong in a report (not themselves reports, under a record with rua) and are
    // unreported, per policy domain: received <= until and after the domain's last reported
    // period end. only_domain: empty for all.
    virtual Result<std::vector<DomainBacklog>> domains_with_data(std::int64_t until,
                                                                 std::string_view only_domain) = 0;
    // The earliest message of the domain received in [from, until] that domains_with_data
    // would count (unreported, not a report, under a record with rua), with its record's ri.
    virtual Result<std::optional<UnreportedMessage>> next_unreported(std::string_view policy_domain,
                                                                     std::int64_t from,
                                                                     std::int64_t until) = 0;
    // Unreported messages of one policy domain in [period.begin, period.end], reports excluded,
    // grouped in SQL on every field a report record shows (DKIM: the evaluator's results, in
    // signature order; alignment as stored).
    virtual Result<PeriodRows> period_rows(std::string_view policy_domain,
                                           const ReportPeriod& period) = 0;

    // One transaction: the report row with its archive, its deliveries, and report_id on every
    // unreported message it covers. Errc::invalid_value when (domain, period begin, format) is
    // already in the ledger. Returns reports.id.
    virtual Result<std::int64_t> create_report(const NewReport& report) = 0;
    // pending, and temp_failed whose next_retry is due, oldest report first; only_report_id
    // (the Report-ID text) narrows to one report. With the archive.
    virtual Result<std::vector<Delivery>> due_deliveries(std::int64_t now,
                                                         std::string_view only_report_id) = 0;
    // Writes every mutable field of the delivery (status, kind, attempts, times, reply,
    // address, verified, parts_sent, max_size), in its own transaction.
    virtual Result<void> update_delivery(const Delivery& delivery) = 0;
    virtual Result<std::optional<StoredReport>> find_report(std::string_view report_id) = 0;
    virtual Result<std::vector<StoredReport>> reports() = 0;
    virtual Result<std::vector<Delivery>> deliveries_of(std::string_view report_id) = 0;
    // --resend: the report's sent, failed and retrying deliveries become pending again (the same
    // archive, hence the same Report-ID and filename). false: no such report.
    virtual Result<bool> reset_for_resend(std::string_view report_id) = 0;

    // Adds or replaces (same pattern) a suppression.
    virtual Result<void> add_suppression(const Suppression& suppression) = 0;
    virtual Result<bool> remove_suppression(std::string_view pattern) = 0;
    virtual Result<std::vector<Suppression>> suppressions() = 0;
};

// Same URIs as open_store (store.hpp); applies the store migrations first.
Result<std::unique_ptr<ReportStore>> open_report_store(std::string_view uri);

}  // namespace dmarc::io
