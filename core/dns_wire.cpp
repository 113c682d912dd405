// RDATA decoding and outcome mapping for io/dns (RFC 1035 §3.3, §4.1.1; RFC 3596 §2.2;
// RFC 2308 §5 negative TTL; RFC 4035 §5.5 bogus answers are not answers).
#include "core/dns_wire.hpp"

#include <algorithm>
#include <array>
#include <limits>

#include "core/limits.hpp"
#include "core/text.hpp"

namespace dmarc::dns_wire {

std::uint16_t rr_type_code(RrType type) noexcept {
    switch (type) {
        case RrType::a:
            return 1;
        case RrType::aaaa:
            return 28;
        case RrType::txt:
            return 16;
        case RrType::mx:
            return 15;
        case RrType::ptr:
            return 12;
    }
    return 0;
}

namespace {

void append_label_byte(std::string& out, std::uint8_t byte) {
    const char c = static_cast<char>(byte);
    if (byte > 0x20 && byte < 0x7f && c != '.' && c != '\\') {
        out.push_back(text::to_lower(c));
        return;
    }
    out.push_back('\\');
    out.push_back(static_cast<char>('0' + byte / 100));
    out.push_back(static_cast<char>('0' + (byte / 10) % 10));
    out.push_back(static_cast<char>('0' + byte % 10));
}

// The whole of rdata must be one name (PTR) or the tail after a fixed part (MX).
Result<std::string> decode_exact_name(std::span<const std::uint8_t> rdata, std::size_t offset,
                                      const char* what) {
    auto name = decode_name(rdata, offset);
    if (!name) return name;
    if (offset != rdata.size()) {
        return make_error(Errc::syntax, std::string(what) + ": bytes after the name");
    }
    return name;
}

}  // namespace

Result<std::string> decode_name(std::span<const std::uint8_t> rdata, std::size_t& offset) {
    std::string out;
    std::size_t wire_bytes = 0;
    std::size_t pos = offset;
    for (;;) {
        if (pos >= rdata.size()) return make_error(Errc::syntax, "name runs past the RDATA");
        const std::uint8_t len = rdata[pos];
        if ((len & 0xc0) != 0) {
            return make_error(Errc::syntax, "compressed or extended label in RDATA name");
        }
        wire_bytes += 1u + len;
        if (wire_bytes > limits::kMaxDnsWireNameBytes) {
            return make_error(Errc::limit, "name over 255 bytes in wire form");
        }
        ++pos;
        if (len == 0) break;
        if (len > rdata.size() - pos) return make_error(Errc::syntax, "label runs past the RDATA");
        if (!out.empty()) out.push_back('.');
        for (std::size_t i = 0; i < len; ++i) append_label_byte(out, rdata[pos + i]);
        pos += len;
    }
    offset = pos;
    return out;
}

Result<std::string> decode_txt(std::span<const std::uint8_t> rdata) {
    if (rdata.empty()) return make_error(Errc::syntax, "TXT RDATA holds no character-string");
    std::string out;
    out.reserve(rdata.size());
    std::size_t pos = 0;
    while (pos < rdata.size()) {
        const std::size_t len = rdata[pos++];
        if (len > rdata.size() - pos) {
            return make_error(Errc::syntax, "TXT character-string runs past the RDATA");
        }
        out.append(reinterpret_cast<const char*>(rdata.data() + pos), len);
        pos += len;
    }
    return out;
}

Result<IpAddress> decode_a(std::span<const std::uint8_t> rdata) {
    if (rdata.size() != 4) return make_error(Errc::syntax, "A RDATA is not 4 bytes");
    const std::uint32_t host_order = (std::uint32_t{rdata[0]} << 24) |
                                     (std::uint32_t{rdata[1]} << 16) |
                                     (std::uint32_t{rdata[2]} << 8) | std::uint32_t{rdata[3]};
    return IpAddress::v4(host_order);
}

Result<IpAddress> decode_aaaa(std::span<const std::uint8_t> rdata) {
    if (rdata.size() != 16) return make_error(Errc::syntax, "AAAA RDATA is not 16 bytes");
    std::array<std::uint8_t, 16> bytes{};
    std::copy(rdata.begin(), rdata.end(), bytes.begin());
    return IpAddress::v6(bytes);
}

Result<MxRecord> decode_mx(std::span<const std::uint8_t> rdata) {
    if (rdata.size() < 3) return make_error(Errc::syntax, "MX RDATA shorter than 3 bytes");
    MxRecord mx;
    mx.preference = static_cast<std::uint16_t>((rdata[0] << 8) | rdata[1]);
    auto exchange = decode_exact_name(rdata, 2, "MX");
    if (!exchange) return tl::unexpected(exchange.error());
    mx.exchange = std::move(*exchange);
    return mx;
}

Result<std::string> decode_ptr(std::span<const std::uint8_t> rdata) {
    return decode_exact_name(rdata, 0, "PTR");
}

DnsResponse to_response(RrType type, const RawAnswer& raw) {
    auto temperror = [](std::string why) {
        DnsResponse r = DnsResponse::make(DnsStatus::temperror);
        r.why = std::move(why);
        return r;
    };
    if (raw.bogus) {
        return temperror("DNSSEC validation failed" +
                         (raw.why_bogus.empty() ? std::string() : ": " + raw.why_bogus));
    }
    DnsResponse r;
    r.secure = raw.secure;
    r.ttl = static_cast<std::uint32_t>(
        std::clamp<long long>(raw.ttl, 0, std::numeric_limits<std::int32_t>::max()));
    switch (raw.rcode) {
        case 0:
            break;
        case 3:
            r.status = DnsStatus::nxdomain;
            return r;
        case 2:
            return temperror("SERVFAIL");
        case 5:
            return temperror("REFUSED");
        default:
            return temperror("RCODE " + std::to_string(raw.rcode));
    }
    if (raw.nxdomain) {  // NOERROR with the NXDOMAIN flag: the library contradicts itself
        return temperror("inconsistent answer (NOERROR and NXDOMAIN)");
    }
    if (!raw.havedata || raw.rdata.empty()) {
        r.status = DnsStatus::nodata;
        return r;
    }
    if (raw.rdata.size() > limits::kMaxDnsAnswerRecords) {
        return temperror("answer holds " + std::to_string(raw.rdata.size()) +
                         " records, over the limit of " +
                         std::to_string(limits::kMaxDnsAnswerRecords));
    }
    const std::string type_name(to_string(type));
    for (const auto& rr : raw.rdata) {
        Error error;
        bool ok = true;
        switch (type) {
            case RrType::a:
            case RrType::aaaa: {
                auto ip = type == RrType::a ? decode_a(rr) : decode_aaaa(rr);
                if (ip) {
                    r.addresses.push_back(*ip);
                } else {
                    ok = false;
                    error = ip.error();
                }
                break;
            }
            case RrType::txt: {
                auto txt = decode_txt(rr);
                if (txt) {
                    r.txt.push_back(std::move(*txt));
                } else {
                    ok = false;
                    error = txt.error();
                }
                break;
            }
            case RrType::mx: {
                auto mx = decode_mx(rr);
                if (mx) {
                    r.mx.push_back(std::move(*mx));
                } else {
                    ok = false;
                    error = mx.error();
                }
                break;
            }
            case RrType::ptr: {
                auto name = decode_ptr(rr);
                if (name) {
                    r.names.push_back(std::move(*name));
                } else {
                    ok = false;
                    error = name.error();
                }
                break;
            }
        }
        if (!ok) return temperror("malformed " + type_name + " RDATA: " + error.message);
    }
    r.status = DnsStatus::answer;
    return r;
}

}  // namespace dmarc::dns_wire
