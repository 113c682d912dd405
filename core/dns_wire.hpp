// Decoding of DNS answer RDATA in uncompressed wire form (RFC 1035 §3.3: TXT, MX, PTR and names;
// §3.4.1 A; RFC 3596 §2.2 AAAA) and the mapping of a resolver's raw outcome (RCODE, data,
// DNSSEC state) to a DnsResponse. Pure byte parsing, kept in core so it is unit-tested and
// fuzzed without a server: every read is bounds-checked and malformed RDATA is an error value.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "core/dns.hpp"
#include "core/ip.hpp"
#include "core/result.hpp"

namespace dmarc::dns_wire {

// RR TYPE codes (RFC 1035 §3.2.2, RFC 3596 §2.1).
std::uint16_t rr_type_code(RrType type) noexcept;

// One uncompressed domain name starting at offset (advanced past it). Text form: lower case, no
// trailing dot, "" for the root. Bytes that cannot stand in a host name ('.', '\\', controls,
// space, non-ASCII) are written as \DDD (RFC 1035 §5.1), so they never match a real host name.
// Compression pointers and extended label types are errors: RDATA handed over by the resolver
// is already decompressed.
Result<std::string> decode_name(std::span<const std::uint8_t> rdata, std::size_t& offset);

// TXT (RFC 1035 §3.3.14): one or more <character-string>s, concatenated with no separator
// (RFC 7208 §3.3, RFC 7489 §6.1 read multi-string records that way).
Result<std::string> decode_txt(std::span<const std::uint8_t> rdata);
Result<IpAddress> decode_a(std::span<const std::uint8_t> rdata);     // exactly 4 bytes
Result<IpAddress> decode_aaaa(std::span<const std::uint8_t> rdata);  // exactly 16 bytes
// MX (RFC 1035 §3.3.9): PREFERENCE then EXCHANGE; exchange "" is the null MX (RFC 7505).
Result<MxRecord> decode_mx(std::span<const std::uint8_t> rdata);
Result<std::string> decode_ptr(std::span<const std::uint8_t> rdata);  // RFC 1035 §3.3.12

// What a resolver library reports for one query, before interpretation.
struct RawAnswer {
    int rcode = 0;          // RFC 1035 §4.1.1 RCODE (0 NOERROR, 2 SERVFAIL, 3 NXDOMAIN, 5 REFUSED)
    bool havedata = false;  // the answer holds records of the type asked for
    bool nxdomain = false;  // the library's own NXDOMAIN flag
    bool secure = false;    // DNSSEC-validated
    bool bogus = false;     // DNSSEC validation failed
    std::string why_bogus;
    long long ttl = 0;  // seconds; for negative answers the RFC 2308 §5 negative TTL
    std::vector<std::span<const std::uint8_t>> rdata;  // one entry per RR of the asked type
};

// NOERROR with data -> answer (decoded; any malformed RR makes the whole answer temperror, so a
// half-read RRset is never taken for the full one); NOERROR without data -> nodata; NXDOMAIN ->
// nxdomain; SERVFAIL, REFUSED, any other RCODE, and DNSSEC bogus -> temperror with `why`.
DnsResponse to_response(RrType type, const RawAnswer& raw);

}  // namespace dmarc::dns_wire
