// Names of DNS outcomes and record types, for logs and history.
#include "core/dns.hpp"

namespace dmarc {

std::string_view to_string(DnsStatus status) noexcept {
    switch (status) {
        case DnsStatus::answer:
            return "answer";
        case DnsStatus::nodata:
            return "nodata";
        case DnsStatus::nxdomain:
            return "nxdomain";
        case DnsStatus::temperror:
            return "temperror";
    }
    return "unknown";
}

std::string_view to_string(RrType type) noexcept {
    switch (type) {
        case RrType::a:
            return "A";
        case RrType::aaaa:
            return "AAAA";
        case RrType::txt:
            return "TXT";
        case RrType::mx:
            return "MX";
        case RrType::ptr:
            return "PTR";
    }
    return "unknown";
}

}  // namespace dmarc
