// The DNS as core sees it: an injected, synchronous resolver interface. io/dns implements it on
// libunbound; tests use an in-memory zone. The four outcomes are kept apart because DMARC and
// SPF decide on them: NXDOMAIN vs NODATA for np (RFC 9989 §4.7, App. A.4) and SPF void lookups
// (RFC 7208 §4.6.4); temperror (SERVFAIL, timeout) must never read as "no record".
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip.hpp"

namespace dmarc {

enum class DnsStatus : std::uint8_t {
    answer,     // NOERROR with at least one record of the type asked for
    nodata,     // NOERROR, the name exists, no record of that type
    nxdomain,   // the name does not exist (RFC 8020: nor anything below it)
    temperror,  // SERVFAIL, REFUSED, timeout, malformed reply: try again later
};

std::string_view to_string(DnsStatus status) noexcept;

enum class RrType : std::uint8_t { a, aaaa, txt, mx, ptr };

std::string_view to_string(RrType type) noexcept;

struct MxRecord {
    std::uint16_t preference = 0;
    std::string exchange;  // lower case, no trailing dot
};

struct DnsResponse {
    DnsStatus status = DnsStatus::temperror;
    // TXT: one entry per RR, its character-strings concatenated with no separator
    // (RFC 7489 §6.1, RFC 7208 §3.3).
    std::vector<std::string> txt;
    std::vector<IpAddress> addresses;  // A / AAAA
    std::vector<MxRecord> mx;          // MX
    std::vector<std::string> names;    // PTR targets, lower case, no trailing dot
    bool secure = false;               // DNSSEC-validated (io/dns with a trust anchor)
    std::uint32_t ttl = 0;             // seconds the answer may be cached
    std::string why;                   // for temperror: what went wrong, for logs

    static DnsResponse make(DnsStatus s) {
        DnsResponse r;
        r.status = s;
        return r;
    }
};

// Thread-safe implementations only: the milter calls it from many threads at once.
class DnsResolver {
  public:
    virtual ~DnsResolver() = default;
    // name: a domain name without trailing dot, in A-label form. A PTR query takes the
    // in-addr.arpa / ip6.arpa name (IpAddress::to_reverse_name).
    virtual DnsResponse lookup(std::string_view name, RrType type) = 0;
    // The answer if it is at hand without waiting on the network (a cached answer, a refusal
    // of a bad name), else nullopt. The milter's event threads decide with this and hand a
    // message that needs the network to a thread that may wait (milter/ring_server.hpp).
    // The default promises nothing: a resolver that never waits says so by overriding it.
    virtual std::optional<DnsResponse> lookup_now(std::string_view /*name*/, RrType /*type*/) {
        return std::nullopt;
    }
    // lookup_now counts nothing in a resolver's statistics: a message dropped at a missing
    // answer is decided again with lookup(), which counts its own. The caller that keeps a
    // decision made with lookup_now counts its `answers` here, as lookups answered without a
    // query (milter/message_resolver.hpp).
    virtual void count_answered_now(std::uint64_t /*answers*/) {}
};

}  // namespace dmarc
