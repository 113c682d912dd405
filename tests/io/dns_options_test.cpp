// The `Nameservers` option (host[@port] literals, unbound's forwarder syntax) and resolver
// behaviour that needs no server: set-up, teardown with queries outstanding, bad query names.
#include <gtest/gtest.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/limits.hpp"
#include "io/dns.hpp"

namespace dmarc::io {
namespace {

struct NsCase {
    const char* text;
    std::vector<std::string> expected;  // empty: error
    const char* error_mentions;
};

TEST(Nameservers, Parse) {
    const NsCase cases[] = {
        {"127.0.0.1", {"127.0.0.1"}, ""},
        {"192.0.2.53@5353", {"192.0.2.53@5353"}, ""},
        {"2001:DB8::53", {"2001:db8::53"}, ""},  // RFC 5952 canonical text
        {"2001:db8::53@53", {"2001:db8::53@53"}, ""},
        {"[2001:db8::53]@5300", {"2001:db8::53@5300"}, ""},
        {"192.0.2.1, 192.0.2.2@54", {"192.0.2.1", "192.0.2.2@54"}, ""},
        {" 192.0.2.1 ,, 192.0.2.2 ", {"192.0.2.1", "192.0.2.2"}, ""},
        {"192.0.2.1 192.0.2.2", {"192.0.2.1", "192.0.2.2"}, ""},
        {"ns.example.com", {}, "ns.example.com"},
        {"192.0.2.1@", {}, "192.0.2.1@"},
        {"192.0.2.1@0", {}, "192.0.2.1@0"},
        {"192.0.2.1@65536", {}, "192.0.2.1@65536"},
        {"192.0.2.1@53x", {}, "192.0.2.1@53x"},
        {"192.0.2.1:53", {}, "192.0.2.1:53"},
        {"192.0.2.1, bad", {}, "'bad'"},
        {"IPv6:2001:db8::1", {}, "IPv6:2001:db8::1"},
        {"", {}, "no server"},
        {" , ", {}, "no server"},
    };
    for (const auto& c : cases) {
        auto r = parse_nameservers(c.text);
        if (c.expected.empty()) {
            ASSERT_FALSE(r.has_value()) << c.text;
            EXPECT_NE(r.error().message.find(c.error_mentions), std::string::npos)
                << c.text << ": " << r.error().message;
        } else {
            ASSERT_TRUE(r.has_value()) << c.text << ": " << r.error().message;
            EXPECT_EQ(*r, c.expected) << c.text;
        }
    }
}

TEST(Nameservers, CountIsBounded) {
    std::string text;
    for (std::size_t i = 0; i <= limits::kMaxNameservers; ++i) {
        text += "192.0.2." + std::to_string(i + 1) + ",";
    }
    auto r = parse_nameservers(text);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::limit);
}

// Creating and destroying resolvers must not leak or hang (ASan preset runs this).
TEST(UnboundResolver, CreateAndDestroyWithoutQueries) {
    for (int i = 0; i < 3; ++i) {
        DnsOptions o;
        o.nameservers = {"127.0.0.1@9"};
        auto r = make_unbound_resolver(o);
        ASSERT_TRUE(r) << r.error().message;
    }
}

TEST(UnboundResolver, BadQueryNamesNeverReachTheNetwork) {
    DnsOptions o;
    o.nameservers = {"127.0.0.1@9"};
    o.timeout = std::chrono::milliseconds(200);
    auto r = make_unbound_resolver(o);
    ASSERT_TRUE(r);
    auto& dns = **r;
    const std::string names[] = {"", ".", "a..example", std::string(64, 'a') + ".example",
                                 std::string(254, 'a')};
    for (const auto& name : names) {
        auto response = dns.lookup(name, RrType::txt);
        EXPECT_EQ(response.status, DnsStatus::temperror) << name;
        EXPECT_NE(response.why.find("invalid query name"), std::string::npos) << response.why;
    }
    EXPECT_EQ(dns.stats().upstream, 0u);
    EXPECT_EQ(dns.stats().lookups, 5u);
}

// Port 9 (discard) on loopback has no DNS server: each query ends in temperror within its
// deadline (the timeout or an early SERVFAIL), and the resolver can be destroyed right after
// with libunbound possibly still retrying in the background.
TEST(UnboundResolver, DestroyAfterTimedOutQueries) {
    DnsOptions o;
    o.nameservers = {"127.0.0.1@9"};
    o.timeout = std::chrono::milliseconds(300);
    auto r = make_unbound_resolver(o);
    ASSERT_TRUE(r);
    std::vector<std::thread> threads;
    for (int i = 0; i < 4; ++i) {
        threads.emplace_back([&, i] {
            const auto start = std::chrono::steady_clock::now();
            auto response = (*r)->lookup("q" + std::to_string(i) + ".example", RrType::a);
            EXPECT_EQ(response.status, DnsStatus::temperror);
            EXPECT_LE(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(1300));
        });
    }
    for (auto& t : threads) t.join();
    r->reset();
}

}  // namespace
}  // namespace dmarc::io
