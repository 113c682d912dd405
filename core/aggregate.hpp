// The aggregate report model and its construction from per-message rows (RFC 7489 §7.2 and
// Appendix C; RFC 9990 §2-§3): reporting periods aligned to UTC days or to a divisor of a day,
// a report_id stable for (policy domain, period, reporting org), records grouped on every field
// the report shows, DKIM results ordered and capped (RFC 9990 §2.1). Pure: rows come in, a model
// goes out; report_xml.hpp writes it.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/types.hpp"

namespace dmarc {

enum class ReportFormat : std::uint8_t {
    rfc7489,  // Appendix C: no namespace, version 1.0, pct/sp/fo always present
    rfc9990,  // urn:ietf:params:xml:ns:dmarc-2.0
};
std::string_view to_string(ReportFormat format) noexcept;

// ---- Periods ------------------------------------------------------------------------------------

inline constexpr std::uint32_t kSecondsPerDay = 86400;

// One reporting period: [begin, end], both inclusive, UTC epoch seconds. A daily period is
// begin = 00:00:00Z, end = begin + 86399 (RFC 7489 §7.2 "begin at 00:00 UTC"; RFC 9990: periods
// SHOULD NOT overlap, so end is the last second inside, not the next period's begin).
struct ReportPeriod {
    std::int64_t begin = 0;
    std::int64_t end = 0;
    std::int64_t length() const noexcept { return end - begin + 1; }
    friend bool operator==(const ReportPeriod&, const ReportPeriod&) = default;
};

// The interval we report on for a requested ri= (RFC 7489 §6.3, default 86400): the divisor of
// 24 h that is a whole number of hours (1, 2, 3, 4, 6, 8, 12 or 24 h) nearest to ri, a tie going
// to the longer one (never more often than asked when in doubt), so that periods stay aligned to
// UTC days and to hour boundaries ("Generators SHOULD keep to hour boundaries", §7.2). ri below
// an hour gives hourly reports (we report at most hourly), above a day gives daily ones (§6.3:
// daily is the most a receiver must do). 5400 (1.5 h) -> 2 h; 5399 -> 1 h; 18000 (5 h) -> 6 h.
std::uint32_t report_interval_for(std::uint32_t ri) noexcept;

// The interval of a domain's report: its ri rounded as above, but never shorter than our own
// shortest interval (ReportInterval, rounded the same way): max of the two.
std::uint32_t effective_report_interval(std::uint32_t ri, std::uint32_t minimum) noexcept;

// The next period of a domain whose ledger is reported up to ledger_next - 1 (nullopt: nothing
// reported yet), when its first unreported message was received at `first_message` (>=
// ledger_next) and `interval` applies: it begins at the start of the interval-aligned period
// holding that message, but never before ledger_next, and ends at that aligned period's end.
// So periods never overlap and leave no unreported message behind; after a change of interval
// the first period runs from where the ledger ended to the next boundary of the new interval
// (shorter than the interval, never longer), and the ones after are aligned.
ReportPeriod next_report_period(std::optional<std::int64_t> ledger_next, std::int64_t first_message,
                                std::uint32_t interval) noexcept;

// The period of `interval` seconds (a divisor of 86400; anything else is taken as 86400) that
// contains `when`. Periods of every interval begin at a multiple of the interval since the
// epoch, hence at 00:00:00Z for daily ones.
ReportPeriod period_containing(std::int64_t when, std::uint32_t interval) noexcept;
// The period right after `period`, of the same length.
ReportPeriod next_period(const ReportPeriod& period) noexcept;

// A report_id stable for (reporting org, policy domain, period): the same inputs always give
// the same id, so a resend reuses it (RFC 9990 §2.1 "A re-sent report MUST use the same
// filename"). It is the begin timestamp followed by 16 hex digits of a hash of the three, so it
// is letters and digits only: that satisfies both the filename's unique-id
// (1*(ALPHA / DIGIT), RFC 7489 §7.2.1.1 / RFC 9990) and ridfmt (dot-atom-text), and lets the
// Subject, the filename and <report_id> carry the identical string as RFC 9990 requires.
std::string make_report_id(std::string_view org_domain, std::string_view policy_domain,
                           const ReportPeriod& period);

// ---- Input: one row per evaluated message (or per identical messages, with count) ---------------

// How a DKIM signature's d= relates to the RFC5322.From domain; only used to order the DKIM
// entries (RFC 9990 §2.1). unknown: derived from the names (equal: strict; one below the other:
// relaxed; otherwise none), which misses relaxed alignment between sibling names.
enum class DkimAlignment : std::uint8_t { unknown, strict, relaxed, none };

struct AggregateDkim {
    std::string dkim_d;
    std::string selector;
    DkimResult result = DkimResult::none;
    std::string human_result;
    DkimAlignment alignment = DkimAlignment::unknown;
    friend bool operator==(const AggregateDkim&, const AggregateDkim&) = default;
};

struct AggregateSpf {
    std::string domain;  // the MAIL FROM domain, or the HELO name for a null reverse-path
    SpfScope scope = SpfScope::mfrom;
    SpfResult result = SpfResult::none;
    friend bool operator==(const AggregateSpf&, const AggregateSpf&) = default;
};

struct ReportReason {
    OverrideReason type = OverrideReason::other;
    std::string comment;
    friend auto operator<=>(const ReportReason&, const ReportReason&) = default;
};

// The DMARC record in force when a message was evaluated (policy_published).
// (Named apart from core/spool_row.hpp's PublishedPolicy, the record as the milter stored it: two
// different types of one name in one program break the one-definition rule.)
struct ReportPolicy {
    std::string domain;  // where the record was found
    Policy p = Policy::none;
    std::optional<Policy> sp;
    std::optional<Policy> np;
    AlignMode adkim = AlignMode::relaxed;
    AlignMode aspf = AlignMode::relaxed;
    std::uint8_t pct = 100;
    std::string fo = "0";  // as published ("0", "1", "d", "s", "d:s", ...)
    bool testing = false;  // t=y
    DiscoveryMethod discovery_method = DiscoveryMethod::treewalk;
    friend bool operator==(const ReportPolicy&, const ReportPolicy&) = default;
};

struct AggregateInput {
    std::int64_t received = 0;  // UTC epoch seconds; must lie inside the report's period
    std::uint64_t count = 1;    // messages this row stands for (>= 1)
    std::string source_ip;      // text; parsed and rewritten canonically
    std::string rfc5322_from_domain;
    std::string rfc5321_mail_from_domain;         // empty for a null reverse-path
    std::string envelope_to_domain;               // empty when unknown (written only when set)
    Disposition disposition = Disposition::none;  // what was done
    bool dkim_aligned = false;                    // policy_evaluated/dkim (aligned pass)
    bool spf_aligned = false;                     // policy_evaluated/spf
    std::vector<ReportReason> reasons;
    std::vector<AggregateDkim> dkim;  // every signature checked
    std::optional<AggregateSpf> spf;
    ReportPolicy policy;
};

// envelope_to of a message (RFC 7489 Appendix C / RFC 9990 identifiers, optional): the domain
// of its RFC 5321 RCPT TO addresses (after the last '@'), as a lower-case A-label, when every
// recipient has the same one; empty when there are none, when they differ (one message, one
// record: no recipient domain is "the" one), or when one is not a host name (an address
// literal, garbage).
std::string envelope_to_domain(std::span<const std::string> rfc5321_rcpt_to);

// ---- Output: the report model
// ---------------------------------------------------------------------

struct ReportMetadata {
    std::string org_name;
    std::string email;
    std::string extra_contact_info;  // written when not empty
    std::string report_id;
    ReportPeriod period;
    std::vector<std::string> errors;
    std::string generator;  // RFC 9990 only
};

struct ReportRecord {
    std::string source_ip;  // canonical text (RFC 5952 / dotted quad)
    std::uint64_t count = 0;
    Disposition disposition = Disposition::none;
    bool dkim_aligned = false;
    bool spf_aligned = false;
    std::vector<ReportReason> reasons;  // sorted, distinct
    std::string header_from;
    std::string envelope_from;
    std::string envelope_to;
    std::vector<AggregateDkim> dkim;  // ordered (RFC 9990 §2.1) and capped
    std::optional<AggregateSpf> spf;
    friend bool operator==(const ReportRecord&, const ReportRecord&) = default;
};

struct AggregateReport {
    ReportFormat format = ReportFormat::rfc7489;
    ReportMetadata metadata;
    ReportPolicy policy_published;
    std::vector<ReportRecord> records;  // by count (largest first), then by content
    std::uint64_t message_count() const noexcept;
};

struct ReportIdentity {
    std::string org_name;    // <org_name>; also the receiver part of the filename
    std::string org_domain;  // ours, for the report_id
    std::string email;
    std::string extra_contact_info;
    std::string generator;
};

// At most this many DKIM entries per record (RFC 9990 §2.1 "SHOULD be <= 100").
inline constexpr std::size_t kMaxReportDkimEntries = 100;

// Values a format cannot carry, mapped to ones it can (the mapping is what the writer writes,
// so grouping sees the written values):
//  - rfc7489: disposition pass -> none; reason policy_test_mode -> other with comment
//    "policy_test_mode" (+ the original comment).
//  - rfc9990: reason forwarded -> trusted_forwarder, sampled_out -> other, each with the old
//    name at the head of the comment; disposition none for a DMARC pass under an enforcing
//    policy -> pass (RFC 9990 §2.1 ActionDispositionType "pass").
ReportReason reason_for_format(const ReportReason& reason, ReportFormat format);

// Builds the report for one policy domain and period. Every row must carry policy.domain equal
// to policy_domain (case-insensitively) and a received time inside the period: a row that does
// not is an Errc::invalid_value error (it belongs to another report; silently taking it would
// report it twice or nowhere). Rows are grouped on every field the format writes (source IP,
// identifiers, disposition, aligned results, reasons, DKIM and SPF results), never "first row
// wins"; counts add up. policy_published: RFC 9990 §2.1 allows one policy configuration per
// report ("send several reports or report the final configuration"); when the rows carry more
// than one, we report the last one in force (latest received; input order breaks ties) and say
// so in an <error> line; each record's disposition still shows what was applied at the time.
// Zero rows is Errc::not_found (no report is sent for an empty period).
Result<AggregateReport> build_aggregate_report(const ReportIdentity& identity,
                                               std::string_view policy_domain,
                                               const ReportPeriod& period,
                                               std::span<const AggregateInput> rows,
                                               ReportFormat format);

}  // namespace dmarc
