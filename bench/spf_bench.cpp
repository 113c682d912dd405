// SPF check_host() throughput (RFC 7208) over an in-memory zone: evaluations per second for a
// realistic record set (include chains to ESP-style netblock lists, ip4/ip6 lists, a and mx),
// next to a baseline of a single ip4 match so the figures read as ratios. DNS cost is excluded
// (MemoryResolver answers from a map); what is measured is parsing, matching and bookkeeping.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <string>

#include "core/memory_resolver.hpp"
#include "core/spf.hpp"
#include "core/spf_record.hpp"

namespace {

using dmarc::IpAddress;
using dmarc::MemoryResolver;

MemoryResolver make_zone() {
    std::string z = R"(
baseline.example      TXT "v=spf1 ip4:192.0.2.1 -all"
example.com           TXT "v=spf1 ip4:192.0.2.0/25 ip4:198.51.100.17 ip4:198.51.100.18 ip6:2001:db8:10::/48 a mx include:_spf.esp.example include:spf.crm.example include:_spf.mail.example ~all"
example.com           A   192.0.2.200
example.com           MX  10 mx1.example.com
example.com           MX  20 mx2.example.com
mx1.example.com       A   203.0.113.10
mx2.example.com       A   203.0.113.11
spf.crm.example       TXT "v=spf1 ip4:100.64.0.0/20 ip4:100.64.16.0/20 ip4:100.64.32.0/20 -all"
_spf.esp.example      TXT "v=spf1 include:_netblocks1.esp.example include:_netblocks2.esp.example include:_netblocks3.esp.example ~all"
_spf.mail.example     TXT "v=spf1 exists:%{i}._spf.mail.example -all"
)";
    // Netblock lists like the large providers publish: a dozen ip4 and a few ip6 each.
    for (int n = 1; n <= 3; ++n) {
        std::string rec = "v=spf1";
        for (int i = 0; i < 12; ++i) {
            rec += " ip4:" + std::to_string(10 + n) + "." + std::to_string(16 * i) + ".0.0/12";
        }
        for (int i = 0; i < 4; ++i) {
            rec += " ip6:2001:db8:" + std::to_string(100 * n + i) + "::/48";
        }
        rec += " ~all";
        z += "_netblocks" + std::to_string(n) + ".esp.example TXT \"" + rec + "\"\n";
    }
    auto zone = MemoryResolver::parse(z);
    if (!zone) std::abort();
    return *zone;
}

void run(benchmark::State& state, std::string_view client, std::string_view mail_from,
         dmarc::SpfResult expected) {
    MemoryResolver dns = make_zone();
    auto ip = IpAddress::parse(client).value();
    dmarc::SpfOptions options;
    std::size_t n = 0;
    for (auto _ : state) {
        auto out = dmarc::check_mail_from(dns, ip, mail_from, "mail.example.org", options);
        if (out.result != expected) {
            state.SkipWithError("unexpected SPF result");
            break;
        }
        benchmark::DoNotOptimize(out);
        if (++n % 1024 == 0) dns.clear_queries();  // the resolver logs every query
    }
    state.SetItemsProcessed(state.iterations());
}

// Baseline: one TXT lookup, one ip4 term.
void BM_SpfBaselineSingleIp4(benchmark::State& state) {
    run(state, "192.0.2.1", "u@baseline.example", dmarc::SpfResult::pass);
}
BENCHMARK(BM_SpfBaselineSingleIp4);

// Early ip4 match in the realistic record.
void BM_SpfRealisticEarlyIp4(benchmark::State& state) {
    run(state, "192.0.2.7", "u@example.com", dmarc::SpfResult::pass);
}
BENCHMARK(BM_SpfRealisticEarlyIp4);

// Pass in the third netblock of the ESP include chain (a, mx, 2 levels of include).
void BM_SpfRealisticIncludeChain(benchmark::State& state) {
    run(state, "13.176.1.1", "u@example.com", dmarc::SpfResult::pass);
}
BENCHMARK(BM_SpfRealisticIncludeChain);

// No match anywhere: every term is evaluated (7 DNS terms), the result is ~all.
void BM_SpfRealisticNoMatch(benchmark::State& state) {
    run(state, "203.0.113.99", "u@example.com", dmarc::SpfResult::softfail);
}
BENCHMARK(BM_SpfRealisticNoMatch);

// IPv6 client through the same chain (AAAA lookups, ip6 terms).
void BM_SpfRealisticIpv6Include(benchmark::State& state) {
    run(state, "2001:db8:302::1", "u@example.com", dmarc::SpfResult::pass);
}
BENCHMARK(BM_SpfRealisticIpv6Include);

// Parsing alone, for the share of evaluation cost that is syntax.
void BM_SpfParseRecord(benchmark::State& state) {
    std::string rec =
        "v=spf1 ip4:192.0.2.0/25 ip4:198.51.100.17 ip6:2001:db8:10::/48 a mx/24//64 "
        "include:_spf.esp.example exists:%{ir}.%{l1r-}.%{d2}._spf.example ~all exp=why.%{d}";
    for (auto _ : state) benchmark::DoNotOptimize(dmarc::parse_spf_record(rec));
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_SpfParseRecord);

}  // namespace

BENCHMARK_MAIN();
