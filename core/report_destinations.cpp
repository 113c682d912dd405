// Report destinations (RFC 7489 §6.2, §7.1; RFC 9990 §4): see report_destinations.hpp.
#include "core/report_destinations.hpp"

#include <algorithm>

#include <fmt/format.h>

#include "core/domain_name.hpp"
#include "core/limits.hpp"
#include "core/record.hpp"
#include "core/text.hpp"

namespace dmarc {

std::string_view to_string(DestinationStatus status) noexcept {
    switch (status) {
        case DestinationStatus::deliver:
            return "deliver";
        case DestinationStatus::ignored:
            return "ignored";
        case DestinationStatus::unauthorised:
            return "unauthorised";
        case DestinationStatus::temperror:
            return "temperror";
    }
    return "ignored";
}

std::optional<std::string> report_authorisation_name(std::string_view policy_domain,
                                                     std::string_view host) {
    std::string name = fmt::format("{}._report._dmarc.{}", policy_domain, host);
    if (name.size() > limits::kMaxDomainBytes) return std::nullopt;
    return name;
}

namespace {

ReportDestination with_status(std::string_view uri, DestinationStatus status, std::string detail) {
    ReportDestination d;
    d.uri = std::string(uri);
    d.status = status;
    d.detail = std::move(detail);
    return d;
}

}  // namespace

std::vector<ReportDestination> verify_report_destination(std::string_view policy_domain,
                                                         std::string_view rua_uri,
                                                         OrgDomainFinder& org_domains,
                                                         DnsResolver& resolver) {
    const auto parsed = parse_report_uri(rua_uri);
    if (!parsed) {
        return {with_status(rua_uri, DestinationStatus::ignored, "malformed URI")};
    }
    if (!parsed->is_mailto()) {
        // RFC 7489 §6.3 / RFC 9990 §3: reports travel by mail only; other schemes are ignored.
        return {with_status(rua_uri, DestinationStatus::ignored,
                            fmt::format("{}: not a mailto URI", parsed->scheme))};
    }
    if (parsed->address.empty() || parsed->domain.empty()) {
        return {with_status(rua_uri, DestinationStatus::ignored, "mailto URI without an address")};
    }
    ReportDestination deliver = with_status(rua_uri, DestinationStatus::deliver, "");
    deliver.address = text::lower(parsed->address);
    deliver.max_size = parsed->max_size;
    const std::string& host = parsed->domain;

    const OrgDomainAnswer ours = org_domains.find(policy_domain);
    const OrgDomainAnswer theirs = org_domains.find(host);
    if (ours.status == OrgDomainAnswer::Status::temperror ||
        theirs.status == OrgDomainAnswer::Status::temperror) {
        return {with_status(rua_uri, DestinationStatus::temperror,
                            "organizational domain lookup failed (DNS temperror)")};
    }
    const auto org_of = [](const OrgDomainAnswer& answer, std::string_view name) {
        return answer.status == OrgDomainAnswer::Status::found ? answer.domain : std::string(name);
    };
    if (org_of(ours, policy_domain) == org_of(theirs, host)) {
        deliver.detail = "same organizational domain";
        return {deliver};
    }

    // RFC 7489 §7.1 step 2.
    const auto name = report_authorisation_name(policy_domain, host);
    if (!name) {
        return {with_status(rua_uri, DestinationStatus::unauthorised,
                            "authorisation name longer than a DNS name (RFC 9990 §4)")};
    }
    const DnsResponse answer = resolver.lookup(*name, RrType::txt);
    if (answer.status == DnsStatus::temperror) {
        return {with_status(rua_uri, DestinationStatus::temperror,
                            fmt::format("TXT {}: DNS temperror {}", *name, answer.why))};
    }
    std::optional<DmarcRecord> authorising;
    if (answer.status == DnsStatus::answer) {
        if (answer.txt.size() > limits::kMaxReportAuthorisationRecords) {
            return {with_status(rua_uri, DestinationStatus::unauthorised,
                                fmt::format("TXT {}: more than {} records", *name,
                                            limits::kMaxReportAuthorisationRecords))};
        }
        // Step 3: records whose first tag is v=DMARC1 count, usable as a policy or not.
        for (const auto& txt : answer.txt) {
            auto record = parse_dmarc_record(txt);
            if (record) {
                authorising = std::move(*record);
            } else if (record.error().kind == RecordRejection::Kind::invalid &&
                       record.error().partial) {
                authorising = std::move(*record.error().partial);
            }
            if (authorising) break;
        }
    }
    if (!authorising) {
        return {with_status(rua_uri, DestinationStatus::unauthorised,
                            fmt::format("no v=DMARC1 record at {}", *name))};
    }
    if (authorising->rua.empty()) {
        deliver.detail = fmt::format("authorised by {}", *name);
        return {deliver};
    }
    // Step 4: the override replaces the URI, on the same host only; another host anywhere in it
    // means neither the original nor the override is used.
    std::vector<ReportDestination> out;
    for (const auto& replacement : authorising->rua) {
        if (!replacement.is_mailto()) continue;
        if (!text::iequals(replacement.domain, host)) {
            return {with_status(
                rua_uri, DestinationStatus::unauthorised,
                fmt::format("{} names another host ({}) in its rua", *name, replacement.domain))};
        }
        ReportDestination d =
            with_status(rua_uri, DestinationStatus::deliver,
                        fmt::format("replaced by {} at {}", replacement.uri, *name));
        d.address = text::lower(replacement.address);
        d.max_size = replacement.max_size;
        out.push_back(std::move(d));
    }
    if (out.empty()) {
        return {with_status(rua_uri, DestinationStatus::unauthorised,
                            fmt::format("{} lists no mailto URI in its rua", *name))};
    }
    return out;
}

std::vector<ReportDestination> resolve_report_destinations(std::string_view policy_domain,
                                                           std::span<const std::string> rua_uris,
                                                           OrgDomainFinder& org_domains,
                                                           DnsResolver& resolver) {
    std::vector<ReportDestination> out;
    std::size_t deliverable = 0;
    for (const auto& uri : rua_uris) {
        for (auto& d : verify_report_destination(policy_domain, uri, org_domains, resolver)) {
            const bool has_address = !d.address.empty();
            if (has_address &&
                std::any_of(out.begin(), out.end(), [&](const ReportDestination& seen) {
                    return seen.address == d.address;
                })) {
                continue;  // one message per address, whichever URI named it first
            }
            if (d.status == DestinationStatus::deliver ||
                d.status == DestinationStatus::temperror) {
                if (deliverable >= limits::kMaxReportDestinations) {
                    d.status = DestinationStatus::ignored;
                    d.detail = fmt::format("over the bound of {} destinations per report",
                                           limits::kMaxReportDestinations);
                } else {
                    ++deliverable;
                }
            }
            out.push_back(std::move(d));
        }
    }
    return out;
}

bool suppression_matches(const Suppression& suppression, std::string_view address,
                         std::int64_t now) noexcept {
    if (suppression.expires && *suppression.expires <= now) return false;
    const std::string_view pattern = suppression.pattern;
    if (pattern.find('@') != std::string_view::npos) return text::iequals(pattern, address);
    const auto at = address.rfind('@');
    if (at == std::string_view::npos) return false;
    const std::string domain = text::lower(address.substr(at + 1));
    const std::string lowered = text::lower(pattern);
    return is_same_or_subdomain(domain, lowered);
}

std::optional<std::string> normalise_suppression_pattern(std::string_view pattern) {
    pattern = text::trim(pattern);
    const auto at = pattern.rfind('@');
    const std::string_view domain = at == std::string_view::npos ? pattern : pattern.substr(at + 1);
    auto a_label = to_a_label_domain(domain);
    if (!a_label) return std::nullopt;
    if (at == std::string_view::npos) return *a_label;
    const std::string_view local = pattern.substr(0, at);
    if (local.empty() || std::any_of(local.begin(), local.end(), [](char c) {
            return static_cast<unsigned char>(c) <= 0x20 || c == '<' || c == '>' || c == ',';
        })) {
        return std::nullopt;
    }
    return text::lower(local) + "@" + *a_label;
}

std::int64_t retry_delay_seconds(int attempts) noexcept {
    constexpr std::int64_t kFirst = 15 * 60, kMax = 12 * 3600;
    std::int64_t delay = kFirst;
    for (int i = 1; i < attempts && delay < kMax; ++i) delay *= 2;
    return std::min(delay, kMax);
}

}  // namespace dmarc
