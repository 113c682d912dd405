// Fuzz target: opendmarc.conf parsing never crashes and every diagnostic names a line that
// exists in the input.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/config.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto result = dmarc::config::parse_milter_config(text);
    std::size_t lines = 1;
    for (char c : text) lines += c == '\n';
    for (const auto& d : result.diagnostics) {
        if (d.line > lines) std::abort();
        (void)dmarc::config::to_string(d);
    }
    return 0;
}
