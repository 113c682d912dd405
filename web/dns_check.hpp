// The DNS check page (issue 7 item 2): a domain's DMARC policy discovery as the milter would run
// it (RFC 9989 §4.10 DNS Tree Walk, with every _dmarc query made), the record as parsed
// (RFC 7489 §6.3 / RFC 9989 §4.7) and the domain's SPF record (RFC 7208 §4.5 selection, §4.6
// syntax). Bounded in time: past the budget, further queries answer temperror unsent.
#pragma once

#include <chrono>
#include <optional>
#include <string>
#include <vector>

#include "core/dns.hpp"
#include "core/org_domain.hpp"
#include "core/policy.hpp"
#include "core/spf_record.hpp"

namespace dmarc::web {

// Answers temperror ("time budget spent") once the deadline has passed; counts the queries.
class DeadlineResolver final : public DnsResolver {
  public:
    DeadlineResolver(DnsResolver& inner, std::chrono::steady_clock::time_point deadline)
        : inner_(inner), deadline_(deadline) {}
    DnsResponse lookup(std::string_view name, RrType type) override;
    bool expired() const noexcept { return expired_; }

  private:
    DnsResolver& inner_;
    std::chrono::steady_clock::time_point deadline_;
    bool expired_ = false;
};

struct SpfCheck {
    DnsStatus dns_status = DnsStatus::temperror;
    std::vector<std::string> records;  // every v=spf1 TXT at the name
    std::string error;                 // none / several / a syntax error (permerror, §4.5 §4.6)
    std::optional<SpfRecord> parsed;   // exactly one record that parses
};

struct DnsCheck {
    std::string domain;  // normalised
    PolicyDiscovery discovery;
    SpfCheck spf;
    bool budget_spent = false;
    double seconds = 0;
};

// domain must already be normalised (to_a_label_domain).
DnsCheck run_dns_check(DnsResolver& resolver, const std::string& domain,
                       std::chrono::milliseconds budget);

}  // namespace dmarc::web
