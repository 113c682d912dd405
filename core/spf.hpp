// SPF evaluation: RFC 7208 check_host() (§4) over the injected DnsResolver, with the initial
// processing of §4.3, record selection (§4.4-4.5), mechanisms (§5), redirect= / exp= (§6),
// macros (§7, see spf_record.hpp) and the processing limits of §4.6.4 (10 DNS-querying terms,
// 10 MX / PTR names, 2 void lookups, an overall time budget). Identities: MAIL FROM, with
// postmaster@<HELO> for the null reverse-path (§2.4), and HELO (§2.3).
#pragma once

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>
#include <string_view>

#include "core/dns.hpp"
#include "core/ip.hpp"
#include "core/limits.hpp"
#include "core/types.hpp"

namespace dmarc {

class RecordParseCache;

struct SpfOptions {
    // A monotonic clock in milliseconds; empty means no time budget. core reads no clock itself.
    std::function<std::uint64_t()> now_ms;
    // §4.6.4: the whole evaluation SHOULD be limited in time; over it the result is temperror.
    std::uint32_t budget_ms = limits::kSpfDefaultBudgetMs;
    std::string receiver_domain;  // %{r} in explanations; "unknown" when empty (§7.3)
    std::uint64_t now_epoch = 0;  // %{t} in explanations (seconds since 1970)
    // Explanation for a fail when the record has no usable exp= (§6.2, "locally-defined").
    std::string default_explanation;
    bool fetch_explanation = true;  // exp= costs one extra TXT query on fail
    // Where record parses may come from (record_cache.hpp); null: each record is parsed.
    RecordParseCache* records = nullptr;
};

struct SpfOutcome {
    SpfResult result = SpfResult::none;
    std::string domain;  // the <domain> checked (A-label, lower case), for DMARC alignment
    SpfScope scope = SpfScope::mfrom;
    std::string sender;       // the <sender> used (postmaster@HELO for a null reverse-path)
    std::string explanation;  // only for fail
    std::string mechanism;    // the directive that matched ("-all", "include:x"), if any
    std::string problem;      // why permerror / temperror / none, for logs and Received-SPF
    std::size_t dns_terms = 0;
    std::size_t void_lookups = 0;
};

// check_host(<ip>, <domain>, <sender>) of §4. sender may lack a local-part ("@example.com" or
// just "example.com"): "postmaster" is used (§4.3). helo feeds %{h}.
SpfOutcome check_host(DnsResolver& dns, const IpAddress& ip, std::string_view domain,
                      std::string_view sender, std::string_view helo, const SpfOptions& options);

// The MAIL FROM identity (§2.4): the domain of mail_from, or postmaster@<helo> when mail_from
// is the null reverse-path ("" or "<>"). Reports scope mfrom either way, as DMARC does.
SpfOutcome check_mail_from(DnsResolver& dns, const IpAddress& ip, std::string_view mail_from,
                           std::string_view helo, const SpfOptions& options);

// The HELO identity (§2.3): check_host(ip, helo, postmaster@helo), scope helo.
SpfOutcome check_helo(DnsResolver& dns, const IpAddress& ip, std::string_view helo,
                      const SpfOptions& options);

}  // namespace dmarc
