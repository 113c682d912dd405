// Fuzz target: OpenDMARC history text. Never crashes; every record read writes back to text that
// reads as the same record.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/history_text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = dmarc::parse_history_text(text);
    for (const auto& record : parsed.records) {
        auto again = dmarc::parse_history_text(dmarc::to_history_text(record));
        if (again.records.size() != 1) std::abort();
        auto expected = record;
        expected.first_line = 1;
        if (!(again.records[0] == expected)) std::abort();
    }
    return 0;
}
