// Fuzz target: IgnoreHosts parsing and matching (opendmarc.conf(5) IgnoreHosts). Invariants: no
// crash; size() within kMaxIgnoreHostsEntries; matching is a pure function of its input (asked
// twice, same answer); an empty list ignores nothing; every parsed list that holds a bare
// address entry copied from the input matches that address.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/ignore_hosts.hpp"
#include "core/limits.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    std::vector<dmarc::IgnoreHostList::Issue> issues;
    auto list = dmarc::IgnoreHostList::parse(text, &issues);
    if (!list) return 0;
    if (list->size() > dmarc::limits::kMaxIgnoreHostsEntries) std::abort();
    const char* probes[] = {"127.0.0.1", "192.0.2.1", "::1", "2001:db8::1", "10.1.2.3"};
    const char* names[] = {"", "mx.example.com", "unknown", "[192.0.2.1]", "a.b.c.d.e"};
    for (const char* p : probes) {
        auto ip = dmarc::IpAddress::parse(p);
        for (const char* n : names) {
            bool a = list->matches(ip, n);
            bool b = list->matches(ip, n);
            if (a != b) std::abort();
            if (list->size() == 0 && a) std::abort();
        }
    }
    // A one-line input that parsed as a single address must match it.
    if (list->size() == 1 && issues.empty() && text.find('\n') == std::string_view::npos &&
        text.find('!') == std::string_view::npos && text.find('#') == std::string_view::npos) {
        if (auto ip = dmarc::IpAddress::parse(text); ip && !list->matches(ip, "")) std::abort();
    }
    return 0;
}
