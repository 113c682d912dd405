// Fuzz target: Authentication-Results parsing (RFC 8601 §2.2). Whatever parses must format and
// parse back to the same authserv-id and results; the DKIM domain helper must not crash, and
// what dkim_identity keeps (RFC 6376 §3.5 AUID, for failure reports) is one token under d=.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string>
#include <string_view>

#include "core/auth_results.hpp"
#include "core/domain_name.hpp"
#include "core/limits.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = dmarc::parse_authentication_results(text);
    if (!parsed) return 0;
    for (const auto& result : parsed->results) {
        auto d = dmarc::dkim_signing_domain(result);
        const auto* i = result.find("header", "i");
        if (!d || i == nullptr) continue;
        const std::string kept = dmarc::dkim_identity(i->value, *d);
        if (kept.empty()) continue;
        const auto at = kept.rfind('@');
        if (at == std::string::npos || at > 64 || kept.size() > 256 ||
            !dmarc::is_same_or_subdomain(kept.substr(at + 1), *d)) {
            std::abort();
        }
        for (char c : kept) {
            const auto u = static_cast<unsigned char>(c);
            if (u <= 0x20 || u >= 0x7f) std::abort();
        }
    }
    auto formatted = dmarc::format_authentication_results(parsed->authserv_id, parsed->results);
    if (!formatted) std::abort();  // everything the parser returns must be writable
    if (formatted->size() > dmarc::limits::kMaxHeaderFieldBytes) return 0;  // quoting grew it
    auto again = dmarc::parse_authentication_results(*formatted);
    if (!again) std::abort();
    if (again->authserv_id != parsed->authserv_id || again->results != parsed->results ||
        !again->skipped.empty() || again->no_result != parsed->results.empty()) {
        std::abort();
    }
    return 0;
}
