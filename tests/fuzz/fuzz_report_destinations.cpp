// Fuzz target: RFC 7489 §7.1 destination verification over hostile DNS answers and rua URIs
// never crashes, and only ever delivers to a mailto address on the URI's own host (or, with the
// same Organizational Domain, the URI's address itself). Input: first line the rua URI, the rest
// a MemoryResolver zone for the _report._dmarc names and the tree walk.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/memory_resolver.hpp"
#include "core/record.hpp"
#include "core/report_destinations.hpp"
#include "core/text.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    const auto nl = text.find('\n');
    const std::string_view uri = text.substr(0, nl);
    const std::string_view zone_text = nl == std::string_view::npos ? "" : text.substr(nl + 1);
    auto zone = dmarc::MemoryResolver::parse(zone_text);
    if (!zone) return 0;
    dmarc::DmarcRecordFetcher fetcher(*zone);
    dmarc::TreeWalkOrgDomainFinder finder(fetcher);
    const auto parsed = dmarc::parse_report_uri(uri);
    for (const auto& d : dmarc::verify_report_destination("blue.example.com", uri, finder, *zone)) {
        if (d.status != dmarc::DestinationStatus::deliver) {
            if (!d.address.empty()) std::abort();
            continue;
        }
        // Delivering needs a mailto URI, and the address must be on its host.
        if (!parsed || !parsed->is_mailto()) std::abort();
        const auto at = d.address.rfind('@');
        if (at == std::string::npos) std::abort();
        if (!dmarc::text::iequals(std::string_view(d.address).substr(at + 1), parsed->domain)) {
            std::abort();
        }
    }
    return 0;
}
