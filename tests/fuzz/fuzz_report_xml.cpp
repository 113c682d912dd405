// Fuzz target: the lenient aggregate report reader never crashes on any bytes, and whatever it
// reads, the strict writer either refuses (a source_ip that is not an address) or writes a
// document that XML 1.0 can carry and that reads back with the same records and counts.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/report_xml.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    const std::string_view text(reinterpret_cast<const char*>(data), size);
    auto parsed = dmarc::parse_report_xml(text);
    if (!parsed) return 0;
    auto written = dmarc::write_report_xml(parsed->report);
    if (!written) return 0;
    if (dmarc::xml_safe_text(*written) != *written) std::abort();
    auto again = dmarc::parse_report_xml(*written);
    if (!again) std::abort();
    if (again->report.records.size() != parsed->report.records.size()) std::abort();
    if (again->report.message_count() != parsed->report.message_count()) std::abort();
    return 0;
}
