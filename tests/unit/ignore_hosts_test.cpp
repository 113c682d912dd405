// IgnoreHosts (opendmarc.conf(5); reference opendmarc.md §1.2 and §2.1): addresses, CIDR
// networks (RFC 4632 §3.1, RFC 4291 §2.3), netmask form, host names, ".suffix", "!" exclusion,
// most specific entry wins, defaults 127.0.0.1 and ::1.
#include "core/ignore_hosts.hpp"

#include <gtest/gtest.h>

#include <optional>
#include <string>

#include "core/limits.hpp"

namespace dmarc {
namespace {

std::optional<IpAddress> ip(std::string_view text) {
    auto parsed = IpAddress::parse(text);
    EXPECT_TRUE(parsed) << text;
    return parsed;
}

IgnoreHostList list_of(std::string_view text) {
    std::vector<IgnoreHostList::Issue> issues;
    auto list = IgnoreHostList::parse(text, &issues);
    EXPECT_TRUE(list) << list.error().message;
    EXPECT_TRUE(issues.empty()) << issues.front().message;
    return list ? *list : IgnoreHostList{};
}

TEST(IgnoreHosts, DefaultsAreBothLoopbacks_OpenDmarc_8_2_28) {
    auto list = IgnoreHostList::defaults();
    EXPECT_TRUE(list.matches(ip("127.0.0.1"), "localhost"));
    EXPECT_TRUE(list.matches(ip("::1"), "localhost"));
    EXPECT_TRUE(list.matches(ip("::ffff:127.0.0.1"), ""));  // IPv4-mapped (RFC 4291 §2.5.5.2)
    EXPECT_FALSE(list.matches(ip("127.0.0.2"), "localhost"));
    EXPECT_FALSE(list.matches(ip("192.0.2.1"), "mx.example"));
    // No network client (local submission) counts as 127.0.0.1, as in OpenDMARC (§2.1).
    EXPECT_TRUE(list.matches(std::nullopt, ""));
}

struct MatchCase {
    const char* what;
    const char* list;
    const char* client_ip;
    const char* host;
    bool ignored;
};

TEST(IgnoreHosts, MatchTable) {
    const MatchCase cases[] = {
        {"single IPv4", "192.0.2.1\n", "192.0.2.1", "unknown", true},
        {"single IPv4, other client", "192.0.2.1\n", "192.0.2.2", "unknown", false},
        {"RFC 4632 CIDR", "192.0.2.0/24\n", "192.0.2.200", "x", true},
        {"RFC 4632 CIDR, outside", "192.0.2.0/24\n", "192.0.3.1", "x", false},
        {"OpenDMARC netmask form", "198.51.100.0/255.255.255.128\n", "198.51.100.127", "x", true},
        {"netmask form, outside", "198.51.100.0/255.255.255.128\n", "198.51.100.128", "x", false},
        {"RFC 4291 prefix", "2001:db8::/32\n", "2001:db8:1::5", "x", true},
        {"RFC 4291 prefix, outside", "2001:db8::/32\n", "2001:db9::5", "x", false},
        {"bracketed IPv6", "[2001:db8::1]\n", "2001:db8::1", "x", true},
        {"IPv4 entry vs IPv6 client", "192.0.2.0/24\n", "2001:db8::1", "x", false},
        {"RFC 4291 §2.5.5.2 mapped entry", "::ffff:192.0.2.0/120\n", "192.0.2.9", "x", true},
        {"mapped entry, mapped client", "::ffff:192.0.2.1\n", "::ffff:192.0.2.1", "x", true},
        {"more specific exclusion wins", "192.0.2.0/24\n!192.0.2.7\n", "192.0.2.7", "x", false},
        {"exclusion elsewhere", "192.0.2.0/24\n!192.0.2.7\n", "192.0.2.8", "x", true},
        {"more specific inclusion wins", "!10.0.0.0/8\n10.1.0.0/16\n", "10.1.2.3", "x", true},
        {"same prefix: exclusion wins", "10.0.0.0/8\n!10.0.0.0/8\n", "10.1.2.3", "x", false},
        {"host name exact", "relay.example.com\n", "203.0.113.9", "relay.example.com", true},
        {"host name case-insensitive", "Relay.Example.COM\n", "203.0.113.9", "RELAY.example.com",
         true},
        {"host name with root dot", "relay.example.com.\n", "203.0.113.9", "relay.example.com.",
         true},
        {"exact name does not cover subdomains", "example.com\n", "203.0.113.9", "mx.example.com",
         false},
        {"suffix entry", ".example.com\n", "203.0.113.9", "mx.a.example.com", true},
        {"suffix entry is strictly below", ".example.com\n", "203.0.113.9", "example.com", false},
        {"suffix needs a label boundary", ".example.com\n", "203.0.113.9", "badexample.com", false},
        {"exact exclusion under suffix", ".example.com\n!mx.example.com\n", "203.0.113.9",
         "mx.example.com", false},
        {"deeper suffix exclusion", ".example.com\n!.lab.example.com\n", "203.0.113.9",
         "h.lab.example.com", false},
        {"unverified client name is not a host name", ".example.com\n", "203.0.113.9",
         "[203.0.113.9]", false},
        {"comments and blank lines", "# local\n\n  192.0.2.1  # the relay\n", "192.0.2.1", "",
         true},
        {"empty list ignores nothing (not even loopback)", "", "127.0.0.1", "localhost", false},
    };
    for (const auto& c : cases) {
        auto list = list_of(c.list);
        EXPECT_EQ(list.matches(ip(c.client_ip), c.host), c.ignored) << c.what;
    }
}

TEST(IgnoreHosts, BadLinesAreReportedWithTheirLine) {
    std::vector<IgnoreHostList::Issue> issues;
    auto list = IgnoreHostList::parse(
        "192.0.2.1\n300.1.1.1\n192.0.2.0/33\n10.0.0.0/255.0.255.0\n!\nbad_host!name\n::1\n",
        &issues);
    ASSERT_TRUE(list);
    EXPECT_EQ(list->size(), 2u);
    ASSERT_EQ(issues.size(), 5u);
    EXPECT_EQ(issues[0].line, 2u);
    EXPECT_EQ(issues[1].line, 3u);
    EXPECT_EQ(issues[2].line, 4u);  // non-contiguous netmask
    EXPECT_EQ(issues[3].line, 5u);
    EXPECT_EQ(issues[4].line, 6u);
    EXPECT_TRUE(list->matches(ip("::1"), ""));
}

TEST(IgnoreHosts, OverTheEntryLimitIsAnError) {
    std::string text;
    for (std::size_t i = 0; i <= limits::kMaxIgnoreHostsEntries; ++i) text += "10.0.0.1\n";
    auto list = IgnoreHostList::parse(text);
    ASSERT_FALSE(list);
    EXPECT_EQ(list.error().code, Errc::limit);
}

TEST(IgnoreHosts, OverlongLineIsAnError) {
    auto list = IgnoreHostList::parse(std::string(limits::kMaxConfigLineBytes + 1, 'a'));
    ASSERT_FALSE(list);
    EXPECT_EQ(list.error().code, Errc::limit);
}

}  // namespace
}  // namespace dmarc
