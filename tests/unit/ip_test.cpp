// IP parsing, RFC 5952 formatting, CIDR matching and the SPF/PTR names (RFC 7208 §5.6, §7.3).
#include "core/ip.hpp"

#include <gtest/gtest.h>

namespace dmarc {
namespace {

struct Case {
    const char* text;
    const char* canonical;  // nullptr: must not parse
};

TEST(Ip, ParseAndFormat) {
    const Case cases[] = {
        {"192.0.2.1", "192.0.2.1"},
        {"0.0.0.0", "0.0.0.0"},
        {"255.255.255.255", "255.255.255.255"},
        {"10.100.9.200", "10.100.9.200"},  // one, two and three digits, inner zeros
        {"203.0.113.99", "203.0.113.99"},
        {"256.1.1.1", nullptr},
        {"1.2.3", nullptr},
        {"1.2.3.4.5", nullptr},
        {"01.2.3.4", nullptr},  // leading zero: octal in inet_aton, ambiguous
        {"1.2.3.4 ", nullptr},
        {"", nullptr},
        {"2001:db8::1", "2001:db8::1"},
        {"2001:DB8:0:0:0:0:0:1", "2001:db8::1"},
        {"2620:137:6000:10:0:0:0:145", "2620:137:6000:10::145"},  // opendmarc test_spf.c
        {"::", "::"},
        {"::1", "::1"},
        {"1::", "1::"},
        {"2001:db8:0:1:1:1:1:1", "2001:db8:0:1:1:1:1:1"},  // RFC 5952 §4.2.2: no :: for one group
        {"2001:0:0:1:0:0:0:1", "2001:0:0:1::1"},           // longest run wins
        {"2001:db8:0:0:1:0:0:1", "2001:db8::1:0:0:1"},     // first of equal runs
        {"::ffff:192.0.2.1", "::ffff:192.0.2.1"},
        {"[2001:db8::2]", "2001:db8::2"},
        {"IPv6:2001:db8::3", "2001:db8::3"},
        {"2001:db8:::1", nullptr},
        {"2001:db8::1::2", nullptr},
        {"1:2:3:4:5:6:7:8:9", nullptr},
        {"1:2:3:4:5:6:7", nullptr},
        {":1:2:3:4:5:6:7", nullptr},
        {"1:2:3:4:5:6:7:", nullptr},
        {"12345::", nullptr},
        {"g::1", nullptr},
    };
    for (const auto& c : cases) {
        auto ip = IpAddress::parse(c.text);
        if (c.canonical == nullptr) {
            EXPECT_FALSE(ip.has_value()) << c.text;
        } else {
            ASSERT_TRUE(ip.has_value()) << c.text;
            EXPECT_EQ(ip->to_string(), c.canonical) << c.text;
        }
    }
}

TEST(Ip, CidrMatching) {
    auto ip = *IpAddress::parse("192.0.2.130");
    EXPECT_TRUE(IpNetwork::parse("192.0.2.0/24")->contains(ip));
    EXPECT_TRUE(IpNetwork::parse("192.0.2.128/25")->contains(ip));
    EXPECT_FALSE(IpNetwork::parse("192.0.2.0/25")->contains(ip));
    EXPECT_TRUE(IpNetwork::parse("0.0.0.0/0")->contains(ip));
    EXPECT_TRUE(IpNetwork::parse("192.0.2.130")->contains(ip));
    EXPECT_FALSE(IpNetwork::parse("2001:db8::/32")->contains(ip));  // families never match
    EXPECT_FALSE(IpNetwork::parse("192.0.2.0/33").has_value());
    EXPECT_FALSE(IpNetwork::parse("192.0.2.0/").has_value());
    EXPECT_FALSE(IpNetwork::parse("192.0.2.0/08").has_value());
    // opendmarc test_spf.c: 2001:a60:901e::2 is not in ::0/126, but is in ::/0.
    auto v6 = *IpAddress::parse("2001:a60:901e::2");
    EXPECT_FALSE(IpNetwork::parse("::0/126")->contains(v6));
    EXPECT_TRUE(IpNetwork::parse("::/0")->contains(v6));
    EXPECT_TRUE(IpNetwork::parse("2001:a60::/32")->contains(v6));
    EXPECT_FALSE(IpNetwork::parse("2001:a61::/32")->contains(v6));
    EXPECT_FALSE(IpNetwork::parse("::1/129").has_value());
}

TEST(Ip, UnmapsV4MappedAddresses) {
    EXPECT_EQ(IpAddress::parse("::ffff:198.51.100.7")->unmapped(),
              *IpAddress::parse("198.51.100.7"));
    EXPECT_EQ(IpAddress::parse("2001:db8::1")->unmapped(), *IpAddress::parse("2001:db8::1"));
}

// RFC 7208 §7.3: %{i} of an IPv6 address is its 32 nibbles, dot-separated.
TEST(Ip, SpfMacroAndReverseNames) {
    EXPECT_EQ(IpAddress::parse("192.0.2.3")->to_spf_macro(), "192.0.2.3");
    EXPECT_EQ(IpAddress::parse("192.0.2.3")->to_reverse_name(), "3.2.0.192.in-addr.arpa");
    EXPECT_EQ(IpAddress::parse("2001:db8::cb01")->to_spf_macro(),
              "2.0.0.1.0.d.b.8.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.c.b.0.1");
    EXPECT_EQ(IpAddress::parse("2001:db8::cb01")->to_reverse_name(),
              "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa");
}

}  // namespace
}  // namespace dmarc
