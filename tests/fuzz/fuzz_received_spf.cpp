// Fuzz target: Received-SPF parsing (RFC 7208 §9.1). No crash, no unbounded work; the
// accessors used by the milter must hold on whatever parses.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/limits.hpp"
#include "core/received_spf.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = dmarc::parse_received_spf(text);
    if (!parsed) return 0;
    if (parsed->pairs.size() + parsed->skipped.size() > dmarc::limits::kMaxReceivedSpfPairs) {
        std::abort();
    }
    for (const auto& pair : parsed->pairs) {
        // Keys are lower-case and found again; values never carry CR or LF (unfolded).
        if (pair.key.empty() || !parsed->find(pair.key)) std::abort();
        if (pair.value.find_first_of("\r\n") != std::string_view::npos) std::abort();
    }
    (void)parsed->identity_scope();
    (void)parsed->envelope_from_domain();
    return 0;
}
