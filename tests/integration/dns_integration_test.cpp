// io/dns against a real DNS server: a private unbound on loopback serving a fake root zone (so
// nothing ever leaves the machine) with the test data. Covers the four outcomes DMARC and SPF
// tell apart (RFC 9989 §4.7 np, RFC 7208 §4.6.4 void lookups), RDATA decoding through a real
// server (RFC 1035 §3.3), CNAME chains (RFC 1034 §3.6.2), TTL and negative caching (RFC 1035
// §7.3, RFC 2308 §5), the DNSTimeout deadline, DNSSEC bogus answers and thread safety.
#include <gtest/gtest.h>

#include <unistd.h>
#include <algorithm>
#include <atomic>
#include <chrono>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/dns.hpp"
#include "core/ip.hpp"
#include "io/dns.hpp"
#include "tests/support/local_unbound.hpp"

namespace dmarc::io {
namespace {

using namespace std::chrono_literals;
using test_support::LocalUnbound;

// Negative TTL = min(SOA TTL, SOA MINIMUM) = 60 s (RFC 2308 §5).
constexpr const char* kRootZone = R"($TTL 300
; Every TTL is explicit: unbound's zone reader carries the previous TTL over, not $TTL.
.                          3600 IN SOA ns.dmarc-test.example. hostmaster.dmarc-test.example. 1 3600 600 86400 60
.                          3600 IN NS  ns.dmarc-test.example.
ns.dmarc-test.example.      300 IN A   127.0.0.1
dmarc-test.example.         300 IN A   192.0.2.1
dmarc-test.example.         300 IN A   192.0.2.2
dmarc-test.example.         300 IN AAAA 2001:db8::25
dmarc-test.example.         300 IN MX  10 mail.dmarc-test.example.
dmarc-test.example.         300 IN MX  20 Backup.DMARC-test.example.
dmarc-test.example.         300 IN TXT "v=spf1 " "ip4:192.0.2.0/24 " "-all"
dmarc-test.example.         300 IN TXT "unrelated"
_dmarc.dmarc-test.example.  300 IN TXT "v=DMARC1; p=reject; rua=mailto:d@dmarc-test.example"
nullmx.dmarc-test.example.  300 IN MX  0 .
a.chain.dmarc-test.example. 300 IN CNAME b.chain.dmarc-test.example.
b.chain.dmarc-test.example. 300 IN CNAME c.chain.dmarc-test.example.
c.chain.dmarc-test.example. 300 IN TXT "v=DMARC1; p=none"
c.chain.dmarc-test.example. 300 IN A   192.0.2.3
dangling.dmarc-test.example. 300 IN CNAME missing.dmarc-test.example.
short.dmarc-test.example.     1 IN A   192.0.2.4
zero.dmarc-test.example.      0 IN A   192.0.2.5
1.2.0.192.in-addr.arpa.     300 IN PTR host.dmarc-test.example.
5.2.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6.arpa. 300 IN PTR host6.dmarc-test.example.
)";

// The RFC 6303 zones our test addresses live in (RFC 5737, RFC 3849) are answered locally by
// both unbound and libunbound unless switched off ("nodefault" in unbound's configuration file;
// libunbound ignores that through ub_ctx_set_option, a "transparent" zone works in both).
const std::vector<std::string> kNoDefaultZones = {"2.0.192.in-addr.arpa.",
                                                  "8.b.d.0.1.0.0.2.ip6.arpa."};

class DnsIntegration : public ::testing::Test {
  protected:
    static void SetUpTestSuite() {
        test_support::LocalUnboundConfig config;
        config.auth_zones["."] = kRootZone;
        for (const auto& zone : kNoDefaultZones) {
            config.server_lines.push_back("local-zone: \"" + zone + "\" transparent");
        }
        // REFUSED from the only forwarder: libunbound gives up at once with SERVFAIL.
        config.server_lines.push_back("local-zone: \"refused.dmarc-test.example.\" always_refuse");
        std::string error;
        server_ = LocalUnbound::start(config, &error).release();
        ASSERT_NE(server_, nullptr) << error;
    }
    static void TearDownTestSuite() {
        delete server_;
        server_ = nullptr;
    }

    void SetUp() override { ASSERT_NE(server_, nullptr); }

    static DnsOptions options() {
        DnsOptions o;
        o.nameservers = {server_->address()};
        o.timeout = 3s;
        for (const auto& zone : kNoDefaultZones) {
            o.unbound_options.emplace_back("local-zone:", zone + " transparent");
        }
        return o;
    }

    static std::unique_ptr<UnboundResolver> resolver(const DnsOptions& o = options()) {
        auto r = make_unbound_resolver(o);
        EXPECT_TRUE(r.has_value()) << (r ? "" : r.error().message);
        return r ? std::move(*r) : nullptr;
    }

    static LocalUnbound* server_;
};

LocalUnbound* DnsIntegration::server_ = nullptr;

std::set<std::string> address_texts(const DnsResponse& r) {
    std::set<std::string> out;
    for (const auto& a : r.addresses) out.insert(a.to_string());
    return out;
}

// RFC 1035 §3.4.1 / RFC 3596 §2.2: every A / AAAA record of the RRset.
TEST_F(DnsIntegration, AddressAnswers) {
    auto dns = resolver();
    ASSERT_TRUE(dns);
    auto a = dns->lookup("dmarc-test.example", RrType::a);
    ASSERT_EQ(a.status, DnsStatus::answer) << a.why;
    EXPECT_EQ(address_texts(a), (std::set<std::string>{"192.0.2.1", "192.0.2.2"}));
    EXPECT_GT(a.ttl, 0u);
    EXPECT_LE(a.ttl, 300u);
    EXPECT_FALSE(a.secure);  // no trust anchor: nothing is validated
    auto aaaa = dns->lookup("dmarc-test.example.", RrType::aaaa);  // trailing dot accepted
    ASSERT_EQ(aaaa.status, DnsStatus::answer) << aaaa.why;
    EXPECT_EQ(address_texts(aaaa), (std::set<std::string>{"2001:db8::25"}));
}

// RFC 1035 §3.3.9: MX preference and exchange, names lower-cased; RFC 7505 null MX.
TEST_F(DnsIntegration, MxAnswers) {
    auto dns = resolver();
    ASSERT_TRUE(dns);
    auto mx = dns->lookup("dmarc-test.example", RrType::mx);
    ASSERT_EQ(mx.status, DnsStatus::answer) << mx.why;
    std::vector<std::pair<int, std::string>> got;
    for (const auto& m : mx.mx) got.emplace_back(m.preference, m.exchange);
    std::sort(got.begin(), got.end());
    EXPECT_EQ(got, (std::vector<std::pair<int, std::string>>{{10, "mail.dmarc-test.example"},
                                                             {20, "backup.dmarc-test.example"}}));
    auto null_mx = dns->lookup("nullmx.dmarc-test.example", RrType::mx);
    ASSERT_EQ(null_mx.status, DnsStatus::answer) << null_mx.why;
    ASSERT_EQ(null_mx.mx.size(), 1u);
    EXPECT_EQ(null_mx.mx[0].preference, 0);
    EXPECT_EQ(null_mx.mx[0].exchange, "");
}

// RFC 1035 §3.3.12 PTR, for IPv4 and IPv6 reverse names built by IpAddress (RFC 7208 §5.5).
TEST_F(DnsIntegration, PtrAnswers) {
    auto dns = resolver();
    ASSERT_TRUE(dns);
    auto v4 = dns->lookup(IpAddress::parse("192.0.2.1")->to_reverse_name(), RrType::ptr);
    ASSERT_EQ(v4.status, DnsStatus::answer) << v4.why << " " << v4.ttl;
    EXPECT_EQ(v4.names, (std::vector<std::string>{"host.dmarc-test.example"}));
    auto v6 = dns->lookup(IpAddress::parse("2001:db8::25")->to_reverse_name(), RrType::ptr);
    ASSERT_EQ(v6.status, DnsStatus::answer) << v6.why;
    EXPECT_EQ(v6.names, (std::vector<std::string>{"host6.dmarc-test.example"}));
}

// RFC 7208 §3.3 / RFC 7489 §6.1: a multi-string TXT record is one record, its strings joined
// with nothing between them; other TXT records at the name stay separate.
TEST_F(DnsIntegration, MultiStringTxtIsConcatenated) {
    auto dns = resolver();
    ASSERT_TRUE(dns);
    auto txt = dns->lookup("dmarc-test.example", RrType::txt);
    ASSERT_EQ(txt.status, DnsStatus::answer) << txt.why;
    std::multiset<std::string> got(txt.txt.begin(), txt.txt.end());
    EXPECT_EQ(got, (std::multiset<std::string>{"v=spf1 ip4:192.0.2.0/24 -all", "unrelated"}));
    auto dmarc = dns->lookup("_dmarc.dmarc-test.example", RrType::txt);
    ASSERT_EQ(dmarc.status, DnsStatus::answer) << dmarc.why;
    EXPECT_EQ(dmarc.txt,
              (std::vector<std::string>{"v=DMARC1; p=reject; rua=mailto:d@dmarc-test.example"}));
}

// RFC 9989 §4.7 (np) and RFC 7208 §4.6.4 (void lookups) need NXDOMAIN and NODATA apart.
TEST_F(DnsIntegration, NxdomainAndNodataAreDistinct) {
    auto dns = resolver();
    ASSERT_TRUE(dns);
    auto nx = dns->lookup("no-such-name.dmarc-test.example", RrType::txt);
    EXPECT_EQ(nx.status, DnsStatus::nxdomain) << nx.why;
    auto nodata = dns->lookup("_dmarc.dmarc-test.example", RrType::a);  // TXT only there
    EXPECT_EQ(nodata.status, DnsStatus::nodata) << nodata.why;
    auto nodata_mx = dns->lookup("c.chain.dmarc-test.example", RrType::mx);
    EXPECT_EQ(nodata_mx.status, DnsStatus::nodata) << nodata_mx.why;
    // RFC 8020: an empty non-terminal exists: NODATA, not NXDOMAIN.
    auto ent = dns->lookup("chain.dmarc-test.example", RrType::txt);
    EXPECT_EQ(ent.status, DnsStatus::nodata) << ent.why;
}

// RFC 1034 §3.6.2: a CNAME chain is followed to the data; a chain that ends nowhere is NXDOMAIN
// (RFC 6604 §2: the RCODE belongs to the last name in the chain).
TEST_F(DnsIntegration, CnameChains) {
    auto dns = resolver();
    ASSERT_TRUE(dns);
    auto txt = dns->lookup("a.chain.dmarc-test.example", RrType::txt);
    ASSERT_EQ(txt.status, DnsStatus::answer) << txt.why;
    EXPECT_EQ(txt.txt, (std::vector<std::string>{"v=DMARC1; p=none"}));
    auto a = dns->lookup("b.chain.dmarc-test.example", RrType::a);
    ASSERT_EQ(a.status, DnsStatus::answer) << a.why;
    EXPECT_EQ(address_texts(a), (std::set<std::string>{"192.0.2.3"}));
    auto dangling = dns->lookup("dangling.dmarc-test.example", RrType::txt);
    EXPECT_EQ(dangling.status, DnsStatus::nxdomain) << dangling.why;
    auto chain_nodata = dns->lookup("a.chain.dmarc-test.example", RrType::aaaa);
    EXPECT_EQ(chain_nodata.status, DnsStatus::nodata) << chain_nodata.why;
}

// A failing server is temperror (never "no record"). RFC 2308 §7.1 lets a resolver keep a server
// failure for at most five minutes: it is kept for server_failure_ttl (5 s by default), so a
// broken zone costs one query per name in that time, not one per message; 0 asks every time.
TEST_F(DnsIntegration, ServfailIsTemperrorAndKeptBriefly) {
    DnsOptions o = options();
    o.server_failure_ttl = 1s;
    auto dns = resolver(o);
    ASSERT_TRUE(dns);
    const auto start = std::chrono::steady_clock::now();
    auto r = dns->lookup("x.refused.dmarc-test.example", RrType::txt);
    EXPECT_EQ(r.status, DnsStatus::temperror);
    EXPECT_FALSE(r.why.empty());
    EXPECT_LT(std::chrono::steady_clock::now() - start, 3s);
    const auto before = dns->stats().upstream;
    auto again = dns->lookup("X.Refused.dmarc-test.example", RrType::txt);
    EXPECT_EQ(again.status, DnsStatus::temperror);
    EXPECT_EQ(again.why, r.why);
    EXPECT_EQ(dns->stats().upstream, before);
    EXPECT_EQ(dns->stats().cache_hits, 1u);
    // Past the time it is asked again.
    std::this_thread::sleep_for(1100ms);
    auto later = dns->lookup("x.refused.dmarc-test.example", RrType::txt);
    EXPECT_EQ(later.status, DnsStatus::temperror);
    EXPECT_EQ(dns->stats().upstream, before + 1);

    o.server_failure_ttl = 0s;
    auto uncached = resolver(o);
    ASSERT_TRUE(uncached);
    (void)uncached->lookup("x.refused.dmarc-test.example", RrType::txt);
    (void)uncached->lookup("x.refused.dmarc-test.example", RrType::txt);
    EXPECT_EQ(uncached->stats().upstream, 2u);
    EXPECT_EQ(uncached->stats().cache_hits, 0u);
}

// DNSTimeout holds against a server that takes queries and never answers: temperror "timeout"
// no earlier than the timeout and within timeout + 1 s, for several threads at once.
TEST_F(DnsIntegration, UnresponsiveServerTimesOut) {
    test_support::BlackHoleServer hole;
    ASSERT_NE(hole.port(), 0);
    DnsOptions o;
    o.nameservers = {hole.address()};
    o.timeout = 1s;
    auto dns = resolver(o);
    ASSERT_TRUE(dns);
    constexpr int kThreads = 4;
    std::vector<std::chrono::steady_clock::duration> elapsed(kThreads);
    std::vector<DnsResponse> responses(kThreads);
    std::vector<std::thread> threads;
    for (int i = 0; i < kThreads; ++i) {
        threads.emplace_back([&, i] {
            const auto start = std::chrono::steady_clock::now();
            responses[static_cast<std::size_t>(i)] =
                dns->lookup("t" + std::to_string(i) + ".dmarc-test.example", RrType::txt);
            elapsed[static_cast<std::size_t>(i)] = std::chrono::steady_clock::now() - start;
        });
    }
    for (auto& t : threads) t.join();
    for (std::size_t i = 0; i < kThreads; ++i) {
        EXPECT_EQ(responses[i].status, DnsStatus::temperror);
        EXPECT_EQ(responses[i].why, "timeout");
        EXPECT_GE(elapsed[i], 1s - 10ms);
        EXPECT_LE(elapsed[i], 2s);
        std::printf("timeout 1000 ms, returned after %lld ms\n",
                    static_cast<long long>(
                        std::chrono::duration_cast<std::chrono::milliseconds>(elapsed[i]).count()));
    }
    EXPECT_EQ(dns->stats().timeouts, static_cast<std::uint64_t>(kThreads));
    // The same names again: the timeout is kept (RFC 2308 §7.2), answered at once without a
    // query; a new name is still bounded (unbound may now fail fast on a server it has marked
    // down, which is also temperror).
    const auto upstream = dns->stats().upstream;
    auto start = std::chrono::steady_clock::now();
    auto r = dns->lookup("t0.dmarc-test.example", RrType::txt);
    EXPECT_EQ(r.status, DnsStatus::temperror);
    EXPECT_EQ(r.why, "timeout");
    EXPECT_LE(std::chrono::steady_clock::now() - start, 100ms);
    EXPECT_EQ(dns->stats().upstream, upstream);
    start = std::chrono::steady_clock::now();
    r = dns->lookup("t9.dmarc-test.example", RrType::txt);
    EXPECT_EQ(r.status, DnsStatus::temperror);
    EXPECT_LE(std::chrono::steady_clock::now() - start, 2s);
}

// RFC 1035 §7.3: answers are reused for their TTL. The cached answer survives the server going
// away; names compare case-insensitively (RFC 4343).
TEST_F(DnsIntegration, CachedAnswerNeedsNoServer) {
    test_support::LocalUnboundConfig config;
    config.auth_zones["."] = kRootZone;
    std::string error;
    auto own = LocalUnbound::start(config, &error);
    ASSERT_TRUE(own) << error;
    DnsOptions o = options();
    o.nameservers = {own->address()};
    o.timeout = 1s;
    auto dns = resolver(o);
    ASSERT_TRUE(dns);
    auto first = dns->lookup("_dmarc.dmarc-test.example", RrType::txt);
    ASSERT_EQ(first.status, DnsStatus::answer) << first.why;
    auto nx = dns->lookup("gone.dmarc-test.example", RrType::txt);
    ASSERT_EQ(nx.status, DnsStatus::nxdomain);
    own->stop();
    EXPECT_FALSE(test_support::answers_dns(own->port(), 200ms));
    const auto upstream = dns->stats().upstream;
    auto second = dns->lookup("_DMARC.Dmarc-Test.Example", RrType::txt);
    ASSERT_EQ(second.status, DnsStatus::answer) << second.why;
    EXPECT_EQ(second.txt, first.txt);
    EXPECT_LE(second.ttl, first.ttl);
    auto nx_again = dns->lookup("gone.dmarc-test.example", RrType::txt);
    EXPECT_EQ(nx_again.status, DnsStatus::nxdomain);
    EXPECT_EQ(dns->stats().upstream, upstream);
    EXPECT_EQ(dns->stats().cache_hits, 2u);
    // Something never asked for now fails (the server is gone): temperror, not cached data.
    auto other = dns->lookup("dmarc-test.example", RrType::aaaa);
    EXPECT_EQ(other.status, DnsStatus::temperror);
}

// lookup_now (the milter's event thread): only what is at hand, never a query. Nothing before
// the first lookup; afterwards the cached answer, positive or negative, in any letter case; a bad
// name's refusal at once; and nothing at all with the cache switched off. Counted only when kept.
TEST_F(DnsIntegration, LookupNowAnswersFromTheCacheOnly) {
    auto dns = resolver();
    ASSERT_TRUE(dns);
    EXPECT_FALSE(dns->lookup_now("_dmarc.dmarc-test.example", RrType::txt));
    EXPECT_FALSE(dns->lookup_now("gone.dmarc-test.example", RrType::txt));
    EXPECT_EQ(dns->stats().upstream, 0u);
    auto first = dns->lookup("_dmarc.dmarc-test.example", RrType::txt);
    ASSERT_EQ(first.status, DnsStatus::answer) << first.why;
    ASSERT_EQ(dns->lookup("gone.dmarc-test.example", RrType::txt).status, DnsStatus::nxdomain);
    const auto upstream = dns->stats().upstream;
    const auto before = dns->stats();
    auto now = dns->lookup_now("_DMARC.dmarc-test.EXAMPLE", RrType::txt);
    ASSERT_TRUE(now);
    EXPECT_EQ(now->status, DnsStatus::answer);
    EXPECT_EQ(now->txt, first.txt);
    auto nx = dns->lookup_now("gone.dmarc-test.example", RrType::txt);
    ASSERT_TRUE(nx);
    EXPECT_EQ(nx->status, DnsStatus::nxdomain);
    EXPECT_FALSE(dns->lookup_now("_dmarc.dmarc-test.example", RrType::a));  // another type
    auto bad = dns->lookup_now("a..b", RrType::txt);
    ASSERT_TRUE(bad);
    EXPECT_EQ(bad->status, DnsStatus::temperror);
    EXPECT_EQ(dns->stats().upstream, upstream);
    // lookup_now counts nothing until the caller keeps its answers (a message decided again
    // after a miss would count them twice): then they are lookups answered without a query.
    EXPECT_EQ(dns->stats().lookups, before.lookups);
    EXPECT_EQ(dns->stats().cache_hits, before.cache_hits);
    dns->count_answered_now(3);
    EXPECT_EQ(dns->stats().lookups, before.lookups + 3);
    EXPECT_EQ(dns->stats().cache_hits, before.cache_hits + 3);

    DnsOptions o = options();
    o.cache = false;
    auto uncached = resolver(o);
    ASSERT_TRUE(uncached);
    ASSERT_EQ(uncached->lookup("dmarc-test.example", RrType::a).status, DnsStatus::answer);
    EXPECT_FALSE(uncached->lookup_now("dmarc-test.example", RrType::a));
}

// RFC 2308 §5: NXDOMAIN and NODATA are cached for min(SOA TTL, SOA MINIMUM) = 60 s here.
TEST_F(DnsIntegration, NegativeAnswersAreCachedForTheSoaMinimum) {
    auto dns = resolver();
    ASSERT_TRUE(dns);
    auto nx = dns->lookup("negative.dmarc-test.example", RrType::txt);
    ASSERT_EQ(nx.status, DnsStatus::nxdomain);
    EXPECT_GT(nx.ttl, 0u);
    EXPECT_LE(nx.ttl, 60u);
    auto nodata = dns->lookup("_dmarc.dmarc-test.example", RrType::mx);
    ASSERT_EQ(nodata.status, DnsStatus::nodata);
    EXPECT_LE(nodata.ttl, 60u);
    const auto upstream = dns->stats().upstream;
    EXPECT_EQ(dns->lookup("negative.dmarc-test.example", RrType::txt).status, DnsStatus::nxdomain);
    EXPECT_EQ(dns->lookup("_dmarc.dmarc-test.example", RrType::mx).status, DnsStatus::nodata);
    EXPECT_EQ(dns->stats().upstream, upstream);
    EXPECT_EQ(dns->stats().cache_hits, 2u);
    // The type is part of the key: TXT at the NODATA name is a different question.
    EXPECT_EQ(dns->lookup("_dmarc.dmarc-test.example", RrType::txt).status, DnsStatus::answer);
    EXPECT_EQ(dns->stats().upstream, upstream + 1);
}

// An entry is used only for its TTL; TTL 0 is never cached (RFC 1035 §3.2.1); max_ttl caps.
TEST_F(DnsIntegration, TtlExpiryAndCap) {
    DnsOptions o = options();
    o.max_ttl = 100s;
    auto dns = resolver(o);
    ASSERT_TRUE(dns);
    auto capped = dns->lookup("dmarc-test.example", RrType::a);
    ASSERT_EQ(capped.status, DnsStatus::answer);
    EXPECT_LE(capped.ttl, 100u);
    EXPECT_GT(capped.ttl, 90u);

    auto zero = dns->lookup("zero.dmarc-test.example", RrType::a);
    ASSERT_EQ(zero.status, DnsStatus::answer) << zero.why;
    auto upstream = dns->stats().upstream;
    EXPECT_EQ(dns->lookup("zero.dmarc-test.example", RrType::a).status, DnsStatus::answer);
    EXPECT_EQ(dns->stats().upstream, upstream + 1);

    auto short_ttl = dns->lookup("short.dmarc-test.example", RrType::a);
    ASSERT_EQ(short_ttl.status, DnsStatus::answer);
    EXPECT_LE(short_ttl.ttl, 1u);
    std::this_thread::sleep_for(1100ms);
    upstream = dns->stats().upstream;
    EXPECT_EQ(dns->lookup("short.dmarc-test.example", RrType::a).status, DnsStatus::answer);
    EXPECT_EQ(dns->stats().upstream, upstream + 1);
}

// The cache is bounded: old entries are evicted (least recently used first) and never exceed
// the configured size, whatever the traffic.
TEST_F(DnsIntegration, CacheIsBounded) {
    DnsOptions o = options();
    o.cache_entries = 64;
    auto dns = resolver(o);
    ASSERT_TRUE(dns);
    for (int i = 0; i < 400; ++i) {
        ASSERT_EQ(dns->lookup("b" + std::to_string(i) + ".dmarc-test.example", RrType::txt).status,
                  DnsStatus::nxdomain);
        ASSERT_LE(dns->cache_size(), 64u);
    }
    EXPECT_GT(dns->cache_size(), 32u);
    // The most recent name is still there; the first one was evicted long ago.
    const auto upstream = dns->stats().upstream;
    EXPECT_EQ(dns->lookup("b399.dmarc-test.example", RrType::txt).status, DnsStatus::nxdomain);
    EXPECT_EQ(dns->stats().upstream, upstream);
    EXPECT_EQ(dns->lookup("b0.dmarc-test.example", RrType::txt).status, DnsStatus::nxdomain);
    EXPECT_EQ(dns->stats().upstream, upstream + 1);
    dns->clear_cache();
    EXPECT_EQ(dns->cache_size(), 0u);
}

// With the cache off every lookup goes to libunbound.
TEST_F(DnsIntegration, CacheCanBeSwitchedOff) {
    DnsOptions o = options();
    o.cache = false;
    auto dns = resolver(o);
    ASSERT_TRUE(dns);
    for (int i = 0; i < 3; ++i) {
        EXPECT_EQ(dns->lookup("dmarc-test.example", RrType::a).status, DnsStatus::answer);
    }
    EXPECT_EQ(dns->stats().upstream, 3u);
    EXPECT_EQ(dns->stats().cache_hits, 0u);
}

// The milter calls one resolver from many threads: every thread sees the same answers, with
// and without the cache.
TEST_F(DnsIntegration, SixteenThreadsGetConsistentAnswers) {
    for (const bool cache : {true, false}) {
        DnsOptions o = options();
        o.cache = cache;
        o.cache_entries = 64;  // small: eviction runs while threads read
        auto dns = resolver(o);
        ASSERT_TRUE(dns);
        std::atomic<int> wrong{0};
        std::vector<std::thread> threads;
        for (int t = 0; t < 16; ++t) {
            threads.emplace_back([&, t] {
                for (int i = 0; i < 60; ++i) {
                    switch ((i + t) % 4) {
                        case 0: {
                            auto r = dns->lookup("a.chain.dmarc-test.example", RrType::txt);
                            if (r.status != DnsStatus::answer ||
                                r.txt != std::vector<std::string>{"v=DMARC1; p=none"}) {
                                ++wrong;
                            }
                            break;
                        }
                        case 1: {
                            auto r = dns->lookup("dmarc-test.example", RrType::a);
                            if (address_texts(r) !=
                                std::set<std::string>{"192.0.2.1", "192.0.2.2"}) {
                                ++wrong;
                            }
                            break;
                        }
                        case 2: {
                            auto r = dns->lookup("n" + std::to_string(i) + ".dmarc-test.example",
                                                 RrType::txt);
                            if (r.status != DnsStatus::nxdomain) ++wrong;
                            break;
                        }
                        default: {
                            auto r = dns->lookup("_dmarc.dmarc-test.example", RrType::a);
                            if (r.status != DnsStatus::nodata) ++wrong;
                            break;
                        }
                    }
                }
            });
        }
        for (auto& t : threads) t.join();
        EXPECT_EQ(wrong.load(), 0) << "cache " << cache;
        EXPECT_EQ(dns->stats().lookups, 16u * 60u);
    }
}

// Upstream from a resolv.conf file (the default is /etc/resolv.conf). resolv.conf has no port
// syntax, so this server listens on port 53 of a loopback address of its own (needs root).
TEST_F(DnsIntegration, ResolvConfServers) {
    test_support::LocalUnboundConfig config;
    config.auth_zones["."] = kRootZone;
    config.interface = "127.53.0." + std::to_string(2 + ::getpid() % 250);
    config.port = 53;
    std::string error;
    auto own = LocalUnbound::start(config, &error);
    if (!own && ::geteuid() != 0) GTEST_SKIP() << "port 53 needs root: " << error;
    ASSERT_TRUE(own) << error;
    const std::string path = own->directory() + "/resolv.conf";
    std::ofstream(path) << "# test\nsearch example\nnameserver " << config.interface << "\n";
    DnsOptions o = options();
    o.nameservers.clear();
    o.resolv_conf_path = path;
    auto dns = resolver(o);
    ASSERT_TRUE(dns);
    auto r = dns->lookup("_dmarc.dmarc-test.example", RrType::txt);
    EXPECT_EQ(r.status, DnsStatus::answer) << r.why;
}

// RFC 4035 §5.5: with a trust anchor for a zone that is not signed, answers are bogus and must
// not be used: temperror naming DNSSEC, never an answer, never secure.
TEST_F(DnsIntegration, DnssecBogusIsTemperror) {
    const std::string path = server_->directory() + "/root.anchor";
    // A DS for "." that matches no key the (unsigned) test root has.
    std::ofstream(path) << ". IN DS 20326 8 2 "
                           "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683457104237C7F8EC8D\n";
    DnsOptions o = options();
    o.trust_anchor_file = path;
    auto dns = resolver(o);
    ASSERT_TRUE(dns);
    auto r = dns->lookup("_dmarc.dmarc-test.example", RrType::txt);
    EXPECT_EQ(r.status, DnsStatus::temperror);
    EXPECT_NE(r.why.find("DNSSEC"), std::string::npos) << r.why;
    EXPECT_FALSE(r.secure);
}

// RFC 4035 §5: answers that validate up to the trust anchor are secure (recorded in history);
// an unsigned RRset in a signed zone is bogus. The zone is signed with ECDSA P-256 (RFC 6605)
// by tests/data/dns/make_signed_zone.py; the anchor is its DNSKEY.
TEST(DnsDnssec, SecureAnswersAndBogusOnes) {
    std::ifstream zone_file(std::string(DMARC_TEST_DATA) + "/dns/signed-root.zone");
    std::ostringstream zone;
    zone << zone_file.rdbuf();
    ASSERT_FALSE(zone.str().empty());
    test_support::LocalUnboundConfig config;
    config.auth_zones["."] = zone.str();
    std::string error;
    auto server = LocalUnbound::start(config, &error);
    ASSERT_TRUE(server) << error;
    DnsOptions o;
    o.nameservers = {server->address()};
    o.timeout = 3s;
    o.trust_anchor_file = std::string(DMARC_TEST_DATA) + "/dns/root-anchor.key";
    auto made = make_unbound_resolver(o);
    ASSERT_TRUE(made) << made.error().message;
    auto& dns = **made;
    auto secure = dns.lookup("_dmarc.secure.dmarc-test.example", RrType::txt);
    ASSERT_EQ(secure.status, DnsStatus::answer) << secure.why;
    EXPECT_TRUE(secure.secure);
    EXPECT_EQ(secure.txt, (std::vector<std::string>{"v=DMARC1; p=reject"}));
    auto cached = dns.lookup("_dmarc.secure.dmarc-test.example", RrType::txt);
    EXPECT_TRUE(cached.secure);
    EXPECT_EQ(dns.stats().cache_hits, 1u);
    auto address = dns.lookup("secure.dmarc-test.example", RrType::a);
    ASSERT_EQ(address.status, DnsStatus::answer) << address.why;
    EXPECT_TRUE(address.secure);
    auto unsigned_rrset = dns.lookup("_dmarc.unsigned.dmarc-test.example", RrType::txt);
    EXPECT_EQ(unsigned_rrset.status, DnsStatus::temperror);
    EXPECT_NE(unsigned_rrset.why.find("DNSSEC"), std::string::npos) << unsigned_rrset.why;

    // The same zone without a trust anchor: answers, but not secure.
    o.trust_anchor_file.clear();
    auto plain = make_unbound_resolver(o);
    ASSERT_TRUE(plain);
    auto insecure = (*plain)->lookup("_dmarc.secure.dmarc-test.example", RrType::txt);
    ASSERT_EQ(insecure.status, DnsStatus::answer) << insecure.why;
    EXPECT_FALSE(insecure.secure);
}

TEST_F(DnsIntegration, InvalidQueryNamesAreTemperrorWithoutAQuery) {
    auto dns = resolver();
    ASSERT_TRUE(dns);
    // "a b..example": the empty label comes after a byte to escape (the escaping path).
    for (const std::string& name :
         {std::string(), std::string("a..b"), std::string(64, 'x') + ".example", std::string("."),
          std::string("a b..example"), "a b." + std::string(64, 'x') + ".example"}) {
        auto r = dns->lookup(name, RrType::txt);
        EXPECT_EQ(r.status, DnsStatus::temperror) << name;
    }
    EXPECT_EQ(dns->stats().upstream, 0u);
    // Odd bytes (SPF macros can put a local-part into a name) are asked for literally.
    auto odd = dns->lookup(std::string("a b\\c\0d.dmarc-test.example", 26), RrType::txt);
    EXPECT_EQ(odd.status, DnsStatus::nxdomain) << odd.why;
}

TEST(DnsFactory, RejectsBadOptions) {
    DnsOptions o;
    o.nameservers = {"127.0.0.1@53"};
    o.timeout = 0ms;
    EXPECT_FALSE(make_unbound_resolver(o).has_value());
    o.timeout = 1s;
    o.trust_anchor_file = "/nonexistent/root.key";
    EXPECT_FALSE(make_unbound_resolver(o).has_value());
    o.trust_anchor_file.clear();
    o.nameservers = {"not-an-address"};
    EXPECT_FALSE(make_unbound_resolver(o).has_value());
    o.nameservers.clear();
    o.resolv_conf_path = "/nonexistent/resolv.conf";
    EXPECT_FALSE(make_unbound_resolver(o).has_value());
    o.resolv_conf_path.clear();
    o.nameservers = {"127.0.0.1@53"};
    o.unbound_options = {{"no-such-option:", "1"}};
    EXPECT_FALSE(make_unbound_resolver(o).has_value());
}

}  // namespace
}  // namespace dmarc::io
