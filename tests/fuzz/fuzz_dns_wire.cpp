// Fuzz target: DNS RDATA decoding and outcome mapping (core/dns_wire). Input: one byte choosing
// the RR type and flags, then records as [length octet][RDATA]. Decoding must never read out of
// bounds; whatever decodes must be consistent with the status it reports.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <span>
#include <vector>

#include "core/dns_wire.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    using namespace dmarc;
    if (size == 0) return 0;
    const std::span<const std::uint8_t> input(data, size);
    {
        std::size_t offset = 0;
        auto name = dns_wire::decode_name(input.subspan(1), offset);
        if (name && offset > size - 1) std::abort();
    }
    static constexpr RrType kTypes[] = {RrType::a, RrType::aaaa, RrType::txt, RrType::mx,
                                        RrType::ptr};
    const RrType type = kTypes[(data[0] & 0x07) % 5];
    dns_wire::RawAnswer raw;
    raw.rcode = (data[0] & 0x08) != 0 ? 3 : 0;
    raw.nxdomain = raw.rcode == 3;
    raw.havedata = (data[0] & 0x10) == 0;
    raw.bogus = (data[0] & 0x20) != 0;
    raw.ttl = data[0];
    std::size_t pos = 1;
    while (pos < size) {
        const std::size_t len = data[pos++];
        const std::size_t take = len < size - pos ? len : size - pos;
        raw.rdata.push_back(input.subspan(pos, take));
        pos += take;
    }
    const DnsResponse r = dns_wire::to_response(type, raw);
    const std::size_t decoded = r.addresses.size() + r.txt.size() + r.mx.size() + r.names.size();
    if (r.status == DnsStatus::answer && decoded != raw.rdata.size()) std::abort();
    if (r.status != DnsStatus::answer && decoded != 0) std::abort();
    if (raw.bogus && r.status != DnsStatus::temperror) std::abort();
    return 0;
}
