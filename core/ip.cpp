// IP address parsing and formatting (see ip.hpp). Written here rather than with inet_pton so
// that core/ stays free of socket headers and so the accepted forms are exactly the ones tested.
#include "core/ip.hpp"

#include <charconv>
#include <vector>

#include "core/text.hpp"

namespace dmarc {
namespace {

std::optional<std::array<std::uint8_t, 4>> parse_v4(std::string_view text) {
    std::array<std::uint8_t, 4> out{};
    for (int i = 0; i < 4; ++i) {
        if (i > 0) {
            if (text.empty() || text.front() != '.') return std::nullopt;
            text.remove_prefix(1);
        }
        std::size_t n = 0;
        while (n < text.size() && text::is_digit(text[n])) ++n;
        if (n == 0 || n > 3) return std::nullopt;
        if (n > 1 && text[0] == '0') return std::nullopt;
        unsigned value = 0;
        for (std::size_t k = 0; k < n; ++k) value = value * 10 + unsigned(text[k] - '0');
        if (value > 255) return std::nullopt;
        out[std::size_t(i)] = std::uint8_t(value);
        text.remove_prefix(n);
    }
    if (!text.empty()) return std::nullopt;
    return out;
}

int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

std::optional<std::array<std::uint8_t, 16>> parse_v6(std::string_view text) {
    // Split into the groups before and after "::".
    std::vector<std::uint16_t> head;
    std::vector<std::uint16_t> tail;
    bool seen_gap = false;
    std::optional<std::array<std::uint8_t, 4>> v4_tail;
    if (text.size() < 2) return std::nullopt;
    std::size_t pos = 0;
    if (text.substr(0, 2) == "::") {
        seen_gap = true;
        pos = 2;
        if (pos == text.size()) return std::array<std::uint8_t, 16>{};
    } else if (text[0] == ':') {
        return std::nullopt;
    }
    while (pos < text.size()) {
        std::size_t end = text.find(':', pos);
        std::string_view group = text.substr(pos, end == std::string_view::npos ? end : end - pos);
        if (group.find('.') != std::string_view::npos) {
            // Embedded IPv4 must be last.
            if (end != std::string_view::npos) return std::nullopt;
            v4_tail = parse_v4(group);
            if (!v4_tail) return std::nullopt;
            pos = text.size();
            break;
        }
        if (group.empty() || group.size() > 4) return std::nullopt;
        unsigned value = 0;
        for (char c : group) {
            int h = hex_value(c);
            if (h < 0) return std::nullopt;
            value = value * 16 + unsigned(h);
        }
        (seen_gap ? tail : head).push_back(std::uint16_t(value));
        if (end == std::string_view::npos) {
            pos = text.size();
            break;
        }
        pos = end + 1;
        if (pos < text.size() && text[pos] == ':') {
            if (seen_gap) return std::nullopt;
            seen_gap = true;
            ++pos;
        } else if (pos == text.size()) {
            return std::nullopt;  // trailing single ':'
        }
    }
    std::size_t groups = head.size() + tail.size() + (v4_tail ? 2 : 0);
    if (seen_gap ? groups > 7 : groups != 8) return std::nullopt;
    std::array<std::uint8_t, 16> out{};
    std::size_t i = 0;
    for (auto g : head) {
        out[i++] = std::uint8_t(g >> 8);
        out[i++] = std::uint8_t(g & 0xff);
    }
    std::size_t tail_bytes = tail.size() * 2 + (v4_tail ? 4 : 0);
    i = 16 - tail_bytes;
    for (auto g : tail) {
        out[i++] = std::uint8_t(g >> 8);
        out[i++] = std::uint8_t(g & 0xff);
    }
    if (v4_tail) {
        for (auto b : *v4_tail) out[i++] = b;
    }
    return out;
}

constexpr char kHex[] = "0123456789abcdef";

}  // namespace

IpAddress IpAddress::v4(std::uint32_t host_order) {
    IpAddress ip;
    ip.family_ = Family::v4;
    ip.bytes_[0] = std::uint8_t(host_order >> 24);
    ip.bytes_[1] = std::uint8_t(host_order >> 16);
    ip.bytes_[2] = std::uint8_t(host_order >> 8);
    ip.bytes_[3] = std::uint8_t(host_order);
    return ip;
}

IpAddress IpAddress::v6(const std::array<std::uint8_t, 16>& bytes) {
    IpAddress ip;
    ip.family_ = Family::v6;
    ip.bytes_ = bytes;
    return ip;
}

std::optional<IpAddress> IpAddress::parse(std::string_view text) {
    if (text.size() >= 2 && text.front() == '[' && text.back() == ']') {
        text = text.substr(1, text.size() - 2);
    }
    if (text::istarts_with(text, "ipv6:")) text.remove_prefix(5);
    if (text.size() > 64) return std::nullopt;
    if (text.find(':') != std::string_view::npos) {
        auto bytes = parse_v6(text);
        if (!bytes) return std::nullopt;
        return v6(*bytes);
    }
    auto quad = parse_v4(text);
    if (!quad) return std::nullopt;
    IpAddress ip;
    ip.family_ = Family::v4;
    for (std::size_t i = 0; i < 4; ++i) ip.bytes_[i] = (*quad)[i];
    return ip;
}

IpAddress IpAddress::unmapped() const {
    if (is_v4()) return *this;
    for (std::size_t i = 0; i < 10; ++i) {
        if (bytes_[i] != 0) return *this;
    }
    if (bytes_[10] != 0xff || bytes_[11] != 0xff) return *this;
    IpAddress ip;
    ip.family_ = Family::v4;
    for (std::size_t i = 0; i < 4; ++i) ip.bytes_[i] = bytes_[12 + i];
    return ip;
}

std::string IpAddress::to_string() const {
    std::string out;
    if (is_v4()) {
        // At most 15 characters: written in place, no temporaries (once or twice a message).
        char text[16];
        char* p = text;
        for (std::size_t i = 0; i < 4; ++i) {
            if (i) *p++ = '.';
            const unsigned b = bytes_[i];
            if (b >= 100) *p++ = static_cast<char>('0' + b / 100);
            if (b >= 10) *p++ = static_cast<char>('0' + (b / 10) % 10);
            *p++ = static_cast<char>('0' + b % 10);
        }
        out.assign(text, static_cast<std::size_t>(p - text));
        return out;
    }
    std::array<unsigned, 8> g{};
    for (std::size_t i = 0; i < 8; ++i) g[i] = unsigned(bytes_[2 * i] << 8 | bytes_[2 * i + 1]);
    // RFC 5952 §4.2: compress the longest run (first if tied) of two or more zero groups.
    int best = -1, best_len = 0;
    for (int i = 0; i < 8;) {
        if (g[std::size_t(i)] != 0) {
            ++i;
            continue;
        }
        int j = i;
        while (j < 8 && g[std::size_t(j)] == 0) ++j;
        if (j - i > best_len && j - i >= 2) {
            best = i;
            best_len = j - i;
        }
        i = j;
    }
    // IPv4-mapped addresses keep the dotted tail (RFC 5952 §5).
    bool mapped = best == 0 && best_len == 5 && g[5] == 0xffff;
    for (int i = 0; i < 8; ++i) {
        if (i == best) {
            out += "::";
            i += best_len - 1;
            continue;
        }
        if (mapped && i == 6) {
            out += ':';
            out += std::to_string(bytes_[12]) + "." + std::to_string(bytes_[13]) + "." +
                   std::to_string(bytes_[14]) + "." + std::to_string(bytes_[15]);
            break;
        }
        if (!out.empty() && out.back() != ':') out += ':';
        char buf[8];
        auto res = std::to_chars(buf, buf + sizeof buf, g[std::size_t(i)], 16);
        out.append(buf, res.ptr);
    }
    return out;
}

std::string IpAddress::to_spf_macro() const {
    if (is_v4()) return to_string();
    std::string out;
    for (std::size_t i = 0; i < 16; ++i) {
        if (i) out += '.';
        out += kHex[bytes_[i] >> 4];
        out += '.';
        out += kHex[bytes_[i] & 0xf];
    }
    return out;
}

std::string IpAddress::to_reverse_name() const {
    std::string out;
    if (is_v4()) {
        for (std::size_t i = 4; i-- > 0;) out += std::to_string(bytes_[i]) + ".";
        return out + "in-addr.arpa";
    }
    for (std::size_t i = 16; i-- > 0;) {
        out += kHex[bytes_[i] & 0xf];
        out += '.';
        out += kHex[bytes_[i] >> 4];
        out += '.';
    }
    return out + "ip6.arpa";
}

bool IpAddress::in_network(const IpAddress& network, unsigned prefix_len) const noexcept {
    if (family_ != network.family_) return false;
    unsigned max_bits = is_v4() ? 32u : 128u;
    if (prefix_len > max_bits) return false;
    std::size_t full = prefix_len / 8;
    for (std::size_t i = 0; i < full; ++i) {
        if (bytes_[i] != network.bytes_[i]) return false;
    }
    unsigned rest = prefix_len % 8;
    if (rest == 0) return true;
    auto mask = std::uint8_t(0xff << (8 - rest));
    return (bytes_[full] & mask) == (network.bytes_[full] & mask);
}

std::optional<IpNetwork> IpNetwork::parse(std::string_view text) {
    auto slash = text.find('/');
    auto ip = IpAddress::parse(text.substr(0, slash));
    if (!ip) return std::nullopt;
    unsigned max_bits = ip->is_v4() ? 32u : 128u;
    unsigned len = max_bits;
    if (slash != std::string_view::npos) {
        std::string_view digits = text.substr(slash + 1);
        if (digits.empty() || digits.size() > 3) return std::nullopt;
        if (digits.size() > 1 && digits[0] == '0') return std::nullopt;
        auto res = std::from_chars(digits.data(), digits.data() + digits.size(), len);
        if (res.ec != std::errc{} || res.ptr != digits.data() + digits.size()) return std::nullopt;
        if (len > max_bits) return std::nullopt;
    }
    return IpNetwork{*ip, len};
}

std::string IpNetwork::to_string() const {
    return address.to_string() + "/" + std::to_string(prefix_len);
}

}  // namespace dmarc
