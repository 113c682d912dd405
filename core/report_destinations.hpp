// Where an aggregate report may go (RFC 7489 §6.2, §7.1; RFC 9990 §3-§4): mailto URIs only,
// external destination verification through TXT <policy-domain>._report._dmarc.<host> with the
// replacement rua on the same host, a bound on destinations per report, suppressions (addresses
// or domains with an expiry) and the retry backoff of the report ledger. Pure: DNS comes in
// through DnsResolver, the Organizational Domain through OrgDomainFinder, the time as a value.
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/dns.hpp"
#include "core/org_domain.hpp"

namespace dmarc {

enum class DestinationStatus : std::uint8_t {
    deliver,       // send the report to address
    ignored,       // not a mailto URI, malformed, or over limits::kMaxReportDestinations
    unauthorised,  // external destination without a v=DMARC1 record authorising it (§7.1)
    temperror,     // the §7.1 check could not be made (DNS temperror): try again later
};
std::string_view to_string(DestinationStatus status) noexcept;

struct ReportDestination {
    std::string uri;      // as published, with its !size suffix
    std::string address;  // the mailbox (after a same-host replacement); empty when ignored
    std::optional<std::uint64_t> max_size;  // !size of the URI actually used
    DestinationStatus status = DestinationStatus::ignored;
    std::string detail;  // why, for the ledger's smtp_reply column and the logs
    friend bool operator==(const ReportDestination&, const ReportDestination&) = default;
};

// The TXT name of RFC 7489 §7.1 step 2 (RFC 9990 §4): "<policy_domain>._report._dmarc.<host>";
// nullopt when it is longer than a DNS name may be (RFC 9990 §4: then not authorised).
std::optional<std::string> report_authorisation_name(std::string_view policy_domain,
                                                     std::string_view host);

// Verifies one rua URI (as published, with an optional !size) for reports about policy_domain
// (a lower-case A-label, the domain where the record was found). Same Organizational Domain:
// deliver without a query. Otherwise TXT at report_authorisation_name: no record starting with
// v=DMARC1 -> unauthorised; one -> authorised, and when it carries its own rua, those URIs
// replace this one provided each names the same host (another host: send to neither, §7.1
// step 4); DNS temperror or an Organizational Domain that could not be found -> temperror.
// A replacement that lists several same-host mailto URIs gives several destinations.
std::vector<ReportDestination> verify_report_destination(std::string_view policy_domain,
                                                         std::string_view rua_uri,
                                                         OrgDomainFinder& org_domains,
                                                         DnsResolver& resolver);

// Every URI of a record's rua, verified, in order; the same address twice is kept once; past
// limits::kMaxReportDestinations deliverable addresses the rest are `ignored` with the reason.
std::vector<ReportDestination> resolve_report_destinations(std::string_view policy_domain,
                                                           std::span<const std::string> rua_uris,
                                                           OrgDomainFinder& org_domains,
                                                           DnsResolver& resolver);

// A suppression (dmarc-reporter suppress): "user@example.com" matches that address only
// (case-insensitively), "example.com" matches every address at that domain and its
// subdomains. Expired (expires <= now) suppressions match nothing.
struct Suppression {
    std::string pattern;
    std::string comment;
    std::int64_t added = 0;
    std::optional<std::int64_t> expires;
};
bool suppression_matches(const Suppression& suppression, std::string_view address,
                         std::int64_t now) noexcept;
// A pattern as stored: lower case, an addr-spec or a domain name; nullopt when it is neither.
std::optional<std::string> normalise_suppression_pattern(std::string_view pattern);

// Seconds until the next attempt after `attempts` temporary failures (1, 2, ...): 15 minutes,
// doubling, at most 12 hours. After kMaxDeliveryAttempts the delivery is given up (perm_failed):
// RFC 9990 §3 lets the receiver discard a report that cannot be delivered.
inline constexpr int kMaxDeliveryAttempts = 12;
std::int64_t retry_delay_seconds(int attempts) noexcept;

}  // namespace dmarc
