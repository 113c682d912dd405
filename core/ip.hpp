// IP addresses without the socket API: parsing (RFC 4291 §2.2 text forms for IPv6, dotted quad
// for IPv4), canonical text (RFC 5952), CIDR matching (RFC 4632 / RFC 4291 prefixes, used by SPF
// ip4/ip6/a/mx and by IgnoreHosts), and the reverse-lookup names used by SPF's %{i} and ptr.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace dmarc {

class IpAddress {
  public:
    enum class Family : std::uint8_t { v4, v6 };

    IpAddress() = default;
    static IpAddress v4(std::uint32_t host_order);
    static IpAddress v6(const std::array<std::uint8_t, 16>& bytes);

    // Accepts "192.0.2.1", "2001:db8::1", "::ffff:192.0.2.1", "[2001:db8::1]", and an "IPv6:"
    // prefix (RFC 5321 address literal). Rejects leading zeros in IPv4 octets (ambiguous octal).
    static std::optional<IpAddress> parse(std::string_view text);

    Family family() const noexcept { return family_; }
    bool is_v4() const noexcept { return family_ == Family::v4; }
    // IPv4 uses the first 4 bytes.
    const std::array<std::uint8_t, 16>& bytes() const noexcept { return bytes_; }
    std::size_t size() const noexcept { return is_v4() ? 4 : 16; }

    // An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as IPv4; otherwise itself.
    IpAddress unmapped() const;

    // RFC 5952 text for IPv6, dotted quad for IPv4.
    std::string to_string() const;
    // SPF %{i} (RFC 7208 §7.3): dotted quad, or 32 dot-separated nibbles for IPv6.
    std::string to_spf_macro() const;
    // The in-addr.arpa / ip6.arpa name for a PTR query.
    std::string to_reverse_name() const;

    // True when the first prefix_len bits equal those of network (same family only).
    bool in_network(const IpAddress& network, unsigned prefix_len) const noexcept;

    friend bool operator==(const IpAddress&, const IpAddress&) = default;

  private:
    Family family_ = Family::v4;
    std::array<std::uint8_t, 16> bytes_{};
};

// A network in CIDR notation: "192.0.2.0/24", "2001:db8::/32", or a bare address (full length).
struct IpNetwork {
    IpAddress address;
    unsigned prefix_len = 0;

    static std::optional<IpNetwork> parse(std::string_view text);
    bool contains(const IpAddress& ip) const noexcept { return ip.in_network(address, prefix_len); }
    std::string to_string() const;
};

}  // namespace dmarc
