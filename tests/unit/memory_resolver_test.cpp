// The test resolver keeps the DNS distinctions DMARC and SPF depend on: NXDOMAIN vs NODATA
// (RFC 8020, RFC 9989 App. A.4), empty non-terminals, CNAME chains, wildcards, temperror.
#include "core/memory_resolver.hpp"

#include <gtest/gtest.h>

namespace dmarc {
namespace {

MemoryResolver zone() {
    auto z = MemoryResolver::parse(R"(
# comment
example.com.          TXT   "v=spf1 " "-all"
example.com           A     192.0.2.1
example.com           AAAA  2001:db8::1
example.com           MX    10 Mail.Example.com.
a.b.deep.example      TXT   v=DMARC1; p=reject    # unquoted: rest of line up to the comment
www.example.com       CNAME example.com
loop1.example         CNAME loop2.example
loop2.example         CNAME loop1.example
*.wild.example        TXT   "v=DMARC1"
wild.example          EXISTS
broken.example        SERVFAIL
slow.example          TIMEOUT TXT
slow.example          A     192.0.2.9
1.2.0.192.in-addr.arpa PTR  host.example.com
)");
    EXPECT_TRUE(z.has_value()) << z.error().message;
    return *z;
}

TEST(MemoryResolver, AnswersByType) {
    auto z = zone();
    auto txt = z.lookup("EXAMPLE.com.", RrType::txt);
    ASSERT_EQ(txt.status, DnsStatus::answer);
    ASSERT_EQ(txt.txt.size(), 1u);
    EXPECT_EQ(txt.txt[0], "v=spf1 -all");  // strings concatenated (RFC 7208 §3.3)
    EXPECT_EQ(z.lookup("example.com", RrType::a).addresses.at(0).to_string(), "192.0.2.1");
    EXPECT_EQ(z.lookup("example.com", RrType::aaaa).addresses.at(0).to_string(), "2001:db8::1");
    auto mx = z.lookup("example.com", RrType::mx);
    ASSERT_EQ(mx.mx.size(), 1u);
    EXPECT_EQ(mx.mx[0].exchange, "mail.example.com");
    EXPECT_EQ(z.lookup("1.2.0.192.in-addr.arpa", RrType::ptr).names.at(0), "host.example.com");
}

TEST(MemoryResolver, NxdomainVersusNodata) {
    auto z = zone();
    EXPECT_EQ(z.lookup("example.com", RrType::ptr).status, DnsStatus::nodata);
    EXPECT_EQ(z.lookup("nothing.example.com", RrType::txt).status, DnsStatus::nxdomain);
    // b.deep.example has a descendant: an empty non-terminal, so it exists (RFC 8020).
    EXPECT_EQ(z.lookup("b.deep.example", RrType::txt).status, DnsStatus::nodata);
    EXPECT_EQ(z.lookup("a.b.deep.example", RrType::txt).txt.at(0), "v=DMARC1; p=reject");
}

TEST(MemoryResolver, CnameWildcardAndFailures) {
    auto z = zone();
    EXPECT_EQ(z.lookup("www.example.com", RrType::a).addresses.at(0).to_string(), "192.0.2.1");
    EXPECT_EQ(z.lookup("loop1.example", RrType::txt).status, DnsStatus::temperror);
    EXPECT_EQ(z.lookup("x.wild.example", RrType::txt).txt.at(0), "v=DMARC1");
    EXPECT_EQ(z.lookup("wild.example", RrType::txt).status, DnsStatus::nodata);
    EXPECT_EQ(z.lookup("broken.example", RrType::a).status, DnsStatus::temperror);
    EXPECT_EQ(z.lookup("slow.example", RrType::txt).status, DnsStatus::temperror);
    EXPECT_EQ(z.lookup("slow.example", RrType::a).status, DnsStatus::answer);
    EXPECT_EQ(z.query_count(), 7u);
    EXPECT_EQ(z.queries().front(), "A www.example.com");
}

TEST(MemoryResolver, RejectsBadZoneLines) {
    EXPECT_FALSE(MemoryResolver::parse("example.com A 999.1.1.1").has_value());
    EXPECT_FALSE(MemoryResolver::parse("example.com A 2001:db8::1").has_value());
    EXPECT_FALSE(MemoryResolver::parse("example.com TXT \"open").has_value());
    EXPECT_FALSE(MemoryResolver::parse("example.com BOGUS x").has_value());
    auto err = MemoryResolver::parse("ok.example A 192.0.2.1\nexample.com MX x y");
    ASSERT_FALSE(err.has_value());
    EXPECT_NE(err.error().message.find("line 2"), std::string::npos);
}

}  // namespace
}  // namespace dmarc
