// Fuzz target: IP address and network parsing; whatever parses must format and re-parse to the
// same value.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/ip.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    std::string_view text(reinterpret_cast<const char*>(data), size);
    if (auto ip = dmarc::IpAddress::parse(text)) {
        auto again = dmarc::IpAddress::parse(ip->to_string());
        if (!again || !(*again == *ip)) std::abort();
        (void)ip->to_reverse_name();
        (void)ip->to_spf_macro();
    }
    if (auto net = dmarc::IpNetwork::parse(text)) (void)net->to_string();
    return 0;
}
