// Aggregate report construction (RFC 7489 §7.2, RFC 9990 §2.1): periods, report_id, grouping on
// every written field, DKIM ordering and cap. See aggregate.hpp for the decisions.
#include "core/aggregate.hpp"

#include <algorithm>
#include <array>
#include <unordered_map>

#include <fmt/format.h>

#include "core/domain_name.hpp"
#include "core/ip.hpp"
#include "core/text.hpp"

namespace dmarc {

std::string_view to_string(ReportFormat format) noexcept {
    return format == ReportFormat::rfc9990 ? "rfc9990" : "rfc7489";
}

std::uint32_t report_interval_for(std::uint32_t ri) noexcept {
    // Divisors of a day that are whole hours, shortest first.
    static constexpr std::array<std::uint32_t, 8> kIntervals = {3600,  7200,  10800, 14400,
                                                                21600, 28800, 43200, 86400};
    std::uint32_t best = kIntervals.front();
    for (std::uint32_t interval : kIntervals) {
        const std::uint32_t distance = interval > ri ? interval - ri : ri - interval;
        const std::uint32_t best_distance = best > ri ? best - ri : ri - best;
        // <=: a tie goes to the longer interval (the later one in this list).
        if (distance <= best_distance) best = interval;
    }
    return best;
}

std::uint32_t effective_report_interval(std::uint32_t ri, std::uint32_t minimum) noexcept {
    return std::max(report_interval_for(ri), report_interval_for(minimum));
}

namespace {

bool is_day_divisor(std::uint32_t interval) noexcept {
    return interval > 0 && kSecondsPerDay % interval == 0;
}

std::int64_t floor_div(std::int64_t a, std::int64_t b) noexcept {
    std::int64_t q = a / b;
    if ((a % b != 0) && ((a < 0) != (b < 0))) --q;
    return q;
}

// FNV-1a, 64 bits: a deterministic hash (not a secret; the id only has to be stable and
// distinct per domain and period, which begin already makes it).
std::uint64_t fnv1a(std::string_view data, std::uint64_t hash = 0xcbf29ce484222325ULL) noexcept {
    for (char c : data) {
        hash ^= static_cast<unsigned char>(c);
        hash *= 0x100000001b3ULL;
    }
    return hash;
}

}  // namespace

ReportPeriod period_containing(std::int64_t when, std::uint32_t interval) noexcept {
    const std::int64_t length = is_day_divisor(interval) ? interval : kSecondsPerDay;
    const std::int64_t begin = floor_div(when, length) * length;
    return ReportPeriod{begin, begin + length - 1};
}

ReportPeriod next_report_period(std::optional<std::int64_t> ledger_next, std::int64_t first_message,
                                std::uint32_t interval) noexcept {
    ReportPeriod period = period_containing(first_message, interval);
    if (ledger_next && *ledger_next > period.begin) period.begin = *ledger_next;
    return period;
}

ReportPeriod next_period(const ReportPeriod& period) noexcept {
    return ReportPeriod{period.end + 1, period.end + period.length()};
}

std::string make_report_id(std::string_view org_domain, std::string_view policy_domain,
                           const ReportPeriod& period) {
    const std::string lower_org = text::lower(org_domain);
    const std::string lower_policy = text::lower(policy_domain);
    // Lengths are hashed in so that ("ab","c") and ("a","bc") differ.
    const std::string material =
        fmt::format("{}:{}|{}:{}|{}|{}", lower_org.size(), lower_org, lower_policy.size(),
                    lower_policy, period.begin, period.end);
    const std::string digits = fmt::format("{}", period.begin);
    return fmt::format("{}{}{:016x}", period.begin < 0 ? "n" : "",
                       period.begin < 0 ? digits.substr(1) : digits, fnv1a(material));
}

std::string envelope_to_domain(std::span<const std::string> rfc5321_rcpt_to) {
    std::string common;
    for (const std::string& address : rfc5321_rcpt_to) {
        const auto at = address.rfind('@');
        if (at == std::string::npos) return {};
        auto domain = to_a_label_domain(address.substr(at + 1));
        if (!domain || (!common.empty() && *domain != common)) return {};
        common = std::move(*domain);
    }
    return common;
}

std::uint64_t AggregateReport::message_count() const noexcept {
    std::uint64_t total = 0;
    for (const auto& record : records) total += record.count;
    return total;
}

ReportReason reason_for_format(const ReportReason& reason, ReportFormat format) {
    auto renamed = [&](OverrideReason type, std::string_view old_name) {
        ReportReason out{type, std::string(old_name)};
        if (!reason.comment.empty()) {
            out.comment += ": ";
            out.comment += reason.comment;
        }
        return out;
    };
    if (format == ReportFormat::rfc7489) {
        if (reason.type == OverrideReason::policy_test_mode) {
            return renamed(OverrideReason::other, "policy_test_mode");
        }
        return reason;
    }
    switch (reason.type) {
        case OverrideReason::forwarded:
            return renamed(OverrideReason::trusted_forwarder, "forwarded");
        case OverrideReason::sampled_out:
            return renamed(OverrideReason::other, "sampled_out");
        default:
            return reason;
    }
}

namespace {

int dkim_rank(const AggregateDkim& dkim) noexcept {
    if (dkim.result != DkimResult::pass) return 3;
    switch (dkim.alignment) {
        case DkimAlignment::strict:
            return 0;
        case DkimAlignment::relaxed:
            return 1;
        default:
            return 2;
    }
}

DkimAlignment derive_alignment(std::string_view dkim_d, std::string_view header_from) {
    if (dkim_d == header_from) return DkimAlignment::strict;
    if (is_same_or_subdomain(dkim_d, header_from) || is_same_or_subdomain(header_from, dkim_d)) {
        return DkimAlignment::relaxed;
    }
    return DkimAlignment::none;
}

void append_field(std::string& key, std::string_view value) {
    // Length-prefixed so that no value can imitate a separator.
    key += std::to_string(value.size());
    key += ':';
    key += value;
}

std::string record_key(const ReportRecord& r) {
    std::string key;
    key.reserve(128);
    append_field(key, r.source_ip);
    append_field(key, r.header_from);
    append_field(key, r.envelope_from);
    append_field(key, r.envelope_to);
    key += static_cast<char>('0' + static_cast<int>(r.disposition));
    key += r.dkim_aligned ? 'D' : 'd';
    key += r.spf_aligned ? 'S' : 's';
    key += std::to_string(r.reasons.size());
    for (const auto& reason : r.reasons) {
        key += static_cast<char>('a' + static_cast<int>(reason.type));
        append_field(key, reason.comment);
    }
    key += std::to_string(r.dkim.size());
    for (const auto& d : r.dkim) {
        append_field(key, d.dkim_d);
        append_field(key, d.selector);
        key += static_cast<char>('a' + static_cast<int>(d.result));
        append_field(key, d.human_result);
    }
    if (r.spf) {
        key += 'P';
        append_field(key, r.spf->domain);
        key += static_cast<char>('a' + static_cast<int>(r.spf->scope));
        key += static_cast<char>('a' + static_cast<int>(r.spf->result));
    }
    return key;
}

Disposition disposition_for_format(const AggregateInput& row, const std::string& header_from,
                                   const std::string& policy_domain, ReportFormat format) {
    if (format == ReportFormat::rfc7489) {
        return row.disposition == Disposition::pass ? Disposition::none : row.disposition;
    }
    if (row.disposition != Disposition::none || !(row.dkim_aligned || row.spf_aligned)) {
        return row.disposition;
    }
    const Policy requested =
        header_from == policy_domain ? row.policy.p : row.policy.sp.value_or(row.policy.p);
    return requested == Policy::none ? Disposition::none : Disposition::pass;
}

Result<ReportRecord> make_record(const AggregateInput& row, const std::string& policy_domain,
                                 ReportFormat format) {
    ReportRecord record;
    const auto ip = IpAddress::parse(text::trim(row.source_ip));
    if (!ip) {
        return make_error(Errc::invalid_value,
                          fmt::format("source IP '{}' is not an IP address", row.source_ip));
    }
    record.source_ip = ip->unmapped().to_string();
    record.count = row.count;
    record.header_from = text::lower(row.rfc5322_from_domain);
    record.envelope_from = text::lower(row.rfc5321_mail_from_domain);
    record.envelope_to = text::lower(row.envelope_to_domain);
    record.dkim_aligned = row.dkim_aligned;
    record.spf_aligned = row.spf_aligned;
    record.disposition = disposition_for_format(row, record.header_from, policy_domain, format);

    record.reasons.reserve(row.reasons.size());
    for (const auto& reason : row.reasons)
        record.reasons.push_back(reason_for_format(reason, format));
    std::sort(record.reasons.begin(), record.reasons.end());
    record.reasons.erase(std::unique(record.reasons.begin(), record.reasons.end()),
                         record.reasons.end());

    record.dkim.reserve(row.dkim.size());
    for (const auto& dkim : row.dkim) {
        AggregateDkim entry = dkim;
        entry.dkim_d = text::lower(dkim.dkim_d);
        if (entry.alignment == DkimAlignment::unknown) {
            entry.alignment = derive_alignment(entry.dkim_d, record.header_from);
        }
        record.dkim.push_back(std::move(entry));
    }
    std::sort(record.dkim.begin(), record.dkim.end(),
              [](const AggregateDkim& a, const AggregateDkim& b) {
                  const int ra = dkim_rank(a), rb = dkim_rank(b);
                  if (ra != rb) return ra < rb;
                  if (a.dkim_d != b.dkim_d) return a.dkim_d < b.dkim_d;
                  if (a.selector != b.selector) return a.selector < b.selector;
                  if (a.result != b.result) return a.result < b.result;
                  return a.human_result < b.human_result;
              });
    // The same signature result twice (two identical signatures) is one entry.
    record.dkim.erase(std::unique(record.dkim.begin(), record.dkim.end(),
                                  [](const AggregateDkim& a, const AggregateDkim& b) {
                                      return a.dkim_d == b.dkim_d && a.selector == b.selector &&
                                             a.result == b.result &&
                                             a.human_result == b.human_result;
                                  }),
                      record.dkim.end());
    if (record.dkim.size() > kMaxReportDkimEntries) record.dkim.resize(kMaxReportDkimEntries);

    if (row.spf) {
        record.spf = *row.spf;
        record.spf->domain = text::lower(row.spf->domain);
    }
    return record;
}

}  // namespace

Result<AggregateReport> build_aggregate_report(const ReportIdentity& identity,
                                               std::string_view policy_domain,
                                               const ReportPeriod& period,
                                               std::span<const AggregateInput> rows,
                                               ReportFormat format) {
    if (period.end < period.begin) {
        return make_error(Errc::invalid_value, fmt::format("period ends ({}) before it begins ({})",
                                                           period.end, period.begin));
    }
    if (rows.empty()) {
        return make_error(Errc::not_found, fmt::format("no messages for {} in {}..{}",
                                                       policy_domain, period.begin, period.end));
    }
    const std::string domain = text::lower(policy_domain);

    AggregateReport report;
    report.format = format;
    report.metadata.org_name = identity.org_name;
    report.metadata.email = identity.email;
    report.metadata.extra_contact_info = identity.extra_contact_info;
    report.metadata.generator = identity.generator;
    report.metadata.period = period;
    report.metadata.report_id = make_report_id(identity.org_domain, domain, period);

    std::unordered_map<std::string, std::size_t> index;
    index.reserve(rows.size() / 4 + 16);
    std::vector<std::string> keys;
    std::vector<ReportPolicy> policies_seen;  // distinct, small
    std::size_t last_policy_row = 0;

    for (std::size_t i = 0; i < rows.size(); ++i) {
        const AggregateInput& row = rows[i];
        if (!text::iequals(row.policy.domain, domain)) {
            return make_error(Errc::invalid_value,
                              fmt::format("row {}: policy domain '{}' is not the report's '{}'", i,
                                          row.policy.domain, domain));
        }
        if (row.received < period.begin || row.received > period.end) {
            return make_error(Errc::invalid_value,
                              fmt::format("row {}: received {} is outside the period {}..{}", i,
                                          row.received, period.begin, period.end));
        }
        if (row.count == 0) {
            return make_error(Errc::invalid_value, fmt::format("row {}: count is 0", i));
        }
        if (row.received >= rows[last_policy_row].received) last_policy_row = i;
        if (std::find(policies_seen.begin(), policies_seen.end(), row.policy) ==
            policies_seen.end()) {
            policies_seen.push_back(row.policy);
        }

        auto record = make_record(row, domain, format);
        if (!record) {
            return make_error(record.error().code,
                              fmt::format("row {}: {}", i, record.error().message));
        }
        std::string key = record_key(*record);
        auto [it, inserted] = index.try_emplace(std::move(key), report.records.size());
        if (inserted) {
            keys.push_back(it->first);
            report.records.push_back(std::move(*record));
        } else {
            report.records[it->second].count += row.count;
        }
    }

    report.policy_published = rows[last_policy_row].policy;
    report.policy_published.domain = domain;
    if (policies_seen.size() > 1) {
        report.metadata.errors.push_back(fmt::format(
            "the DMARC record of {} changed during the period ({} configurations seen); "
            "policy_published is the last one in force",
            domain, policies_seen.size()));
    }

    // Deterministic order: largest first, then by content (a resend writes the same bytes).
    std::vector<std::size_t> order(report.records.size());
    for (std::size_t i = 0; i < order.size(); ++i) order[i] = i;
    std::sort(order.begin(), order.end(), [&](std::size_t a, std::size_t b) {
        if (report.records[a].count != report.records[b].count) {
            return report.records[a].count > report.records[b].count;
        }
        return keys[a] < keys[b];
    });
    std::vector<ReportRecord> sorted;
    sorted.reserve(order.size());
    for (std::size_t i : order) sorted.push_back(std::move(report.records[i]));
    report.records = std::move(sorted);
    return report;
}

}  // namespace dmarc
