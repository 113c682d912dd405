// DNS check (see dns_check.hpp): discovery through core/discovery, SPF through core/spf_record.
#include "web/dns_check.hpp"

#include "core/discovery.hpp"

namespace dmarc::web {

DnsResponse DeadlineResolver::lookup(std::string_view name, RrType type) {
    if (std::chrono::steady_clock::now() >= deadline_) {
        expired_ = true;
        DnsResponse r = DnsResponse::make(DnsStatus::temperror);
        r.why = "time budget of the DNS check spent";
        return r;
    }
    return inner_.lookup(name, type);
}

DnsCheck run_dns_check(DnsResolver& resolver, const std::string& domain,
                       std::chrono::milliseconds budget) {
    const auto start = std::chrono::steady_clock::now();
    DeadlineResolver bounded(resolver, start + budget);
    DnsCheck check;
    check.domain = domain;
    DmarcRecordFetcher fetcher(bounded);
    check.discovery = discover_policy_treewalk(fetcher, domain);

    DnsResponse txt = bounded.lookup(domain, RrType::txt);
    check.spf.dns_status = txt.status;
    for (const auto& t : txt.txt) {
        if (is_spf_record(t)) check.spf.records.push_back(t);
    }
    if (txt.status == DnsStatus::temperror) {
        check.spf.error = "temperror: " + (txt.why.empty() ? std::string("DNS failure") : txt.why);
    } else if (check.spf.records.empty()) {
        check.spf.error = "no SPF record (RFC 7208 §4.5: result none)";
    } else if (check.spf.records.size() > 1) {
        check.spf.error = "several SPF records (RFC 7208 §4.5: permerror)";
    } else if (auto parsed = parse_spf_record(check.spf.records.front()); parsed) {
        check.spf.parsed = std::move(*parsed);
    } else {
        check.spf.error = "permerror: " + parsed.error().message;
    }
    check.budget_spent = bounded.expired();
    check.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return check;
}

}  // namespace dmarc::web
