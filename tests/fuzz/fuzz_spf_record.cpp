// Fuzz target: SPF record parsing and macro expansion (RFC 7208 §4.6, §7) on the raw input,
// then check_host() against a small zone whose fuzz.example.com record is the input. Checks
// the invariants: §7.3 expansion of a domain is <= 253 bytes, the
// §4.6.4 limits hold (terms, void lookups, a bounded number of DNS queries), explanations
// appear only on fail.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/memory_resolver.hpp"
#include "core/spf.hpp"
#include "core/spf_record.hpp"

namespace {

// Serves the fuzz input as the TXT record of fuzz.example.com over a fixed zone.
class FuzzResolver final : public dmarc::DnsResolver {
  public:
    FuzzResolver(dmarc::MemoryResolver& base, std::string record)
        : base_(base), record_(std::move(record)) {}

    dmarc::DnsResponse lookup(std::string_view name, dmarc::RrType type) override {
        ++queries_;
        if (name == "fuzz.example.com" && type == dmarc::RrType::txt) {
            auto r = dmarc::DnsResponse::make(dmarc::DnsStatus::answer);
            r.txt.push_back(record_);
            return r;
        }
        return base_.lookup(name, type);
    }
    std::size_t queries() const { return queries_; }

  private:
    dmarc::MemoryResolver& base_;
    std::string record_;
    std::size_t queries_ = 0;
};

dmarc::MemoryResolver& base_zone() {
    static dmarc::MemoryResolver zone = [] {
        auto z = dmarc::MemoryResolver::parse(R"(
example.com          TXT "v=spf1 a mx ip4:192.0.2.0/24 include:fuzz.example.com -all"
example.com          A   192.0.2.10
example.com          AAAA 2001:db8::10
example.com          MX  10 mx.example.com
example.com          MX  20 mx2.example.com
mx.example.com       A   192.0.2.20
mx2.example.com      AAAA 2001:db8::20
loop.example.com     TXT "v=spf1 include:fuzz.example.com redirect=loop.example.com"
explain.example.com  TXT "%{i} (%{c}) not allowed by %{d} for %{s} via %{h} at %{t}/%{r}/%{p}"
1.0.2.192.in-addr.arpa PTR mx.example.com
1.0.2.192.in-addr.arpa PTR fuzz.example.com
fuzz.example.com     A   192.0.2.1
broken.example.com   SERVFAIL
*.wild.example.com   A   127.0.0.2
)");
        if (!z) std::abort();
        return *z;
    }();
    return zone;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string input(reinterpret_cast<const char*>(data), size);

    if (auto record = dmarc::parse_spf_record(input)) {
        for (const auto& m : record->mechanisms) {
            if (!m.domain_spec.empty() && !dmarc::check_spf_domain_spec(m.domain_spec)) {
                std::abort();  // the parser accepted a domain-spec the checker rejects
            }
            if (m.cidr4 > 32 || m.cidr6 > 128) std::abort();
        }
    }

    auto client = dmarc::IpAddress::parse("192.0.2.1").value();
    dmarc::SpfMacroValues values;
    values.sender = "Strong-Bad@email.example.com";
    values.local_part = "Strong-Bad";
    values.sender_domain = "email.example.com";
    values.domain = "email.example.com";
    values.ip = &client;
    values.helo = "mx.example.org";
    values.validated_name = [] { return std::string("mx.example.com"); };
    if (auto name = dmarc::expand_spf_macros(input, values, dmarc::SpfMacroMode::domain)) {
        if (name->size() > dmarc::limits::kSpfMaxMacroExpansion) std::abort();
    }
    (void)dmarc::expand_spf_macros(input, values, dmarc::SpfMacroMode::explanation);

    // The input as a record (with the version prepended when it lacks one).
    std::string record = dmarc::is_spf_record(input) ? input : "v=spf1 " + input;
    base_zone().clear_queries();  // the resolver logs every query
    FuzzResolver dns(base_zone(), record);
    dmarc::SpfOptions options;
    options.default_explanation = "default";
    options.receiver_domain = "receiver.example";
    const char* clients[] = {"192.0.2.1", "2001:db8::1"};
    for (const char* c : clients) {
        auto ip = dmarc::IpAddress::parse(c).value();
        auto out =
            dmarc::check_mail_from(dns, ip, "user@fuzz.example.com", "helo.example.com", options);
        if (out.dns_terms > dmarc::limits::kSpfMaxDnsTerms + 1) std::abort();
        if (out.void_lookups > dmarc::limits::kSpfMaxVoidLookups + 1) std::abort();
        if (!out.explanation.empty() && out.result != dmarc::SpfResult::fail) std::abort();
        if (out.explanation.size() > dmarc::limits::kSpfMaxExplanationBytes) std::abort();
    }
    // 11 terms x (1 + 10 MX/PTR names) + %{p} per domain + exp: a few hundred at most.
    if (dns.queries() > 2 * 400) std::abort();
    return 0;
}
