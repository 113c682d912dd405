// Fuzz target: Authentication-Results parsing (RFC 8601 §2.2). Whatever parses must format and
// parse back to the same authserv-id and results; the DKIM domain helper must not crash.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/auth_results.hpp"
#include "core/limits.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = dmarc::parse_authentication_results(text);
    if (!parsed) return 0;
    for (const auto& result : parsed->results) (void)dmarc::dkim_signing_domain(result);
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
