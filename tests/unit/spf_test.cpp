// SPF unit tests beyond the OpenSPF suite: the record parser (RFC 7208 §4.5, §4.6.1, §5, §6),
// macro expansion with the §7.4 examples, the §4.6.4 limits (DNS terms, MX names, PTR names,
// void lookups), the time budget, identities (§2.3, §2.4) and the OpenDMARC §8 regressions.
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/memory_resolver.hpp"
#include "core/spf.hpp"
#include "core/spf_record.hpp"

namespace dmarc {
namespace {

IpAddress ip(std::string_view text) {
    auto a = IpAddress::parse(text);
    EXPECT_TRUE(a.has_value()) << text;
    return a.value_or(IpAddress());
}

MemoryResolver zone(std::string_view text) {
    auto z = MemoryResolver::parse(text);
    EXPECT_TRUE(z.has_value()) << (z ? "" : z.error().message);
    return z ? *z : MemoryResolver();
}

SpfOutcome mail_from(MemoryResolver& dns, std::string_view client, std::string_view sender,
                     std::string_view helo = "mail.example.org", SpfOptions options = {}) {
    return check_mail_from(dns, ip(client), sender, helo, options);
}

// ---- Record selection and parsing --------------------------------------------------------

struct VersionCase {
    const char* txt;
    bool is_spf;
    const char* rfc;
};

TEST(SpfRecord, VersionSelection) {
    const VersionCase cases[] = {
        {"v=spf1", true, "§4.5 version terminated by end of record"},
        {"v=spf1 -all", true, "§4.5 version terminated by SP"},
        {"V=SPF1 -all", true, "§4.6.1 ABNF literals are case-insensitive (RFC 5234 §2.3)"},
        {"v=spf10 -all", false, "§4.5 v=spf10 is not v=spf1"},
        {"v=spf1-all", false, "§4.5 must be followed by SP"},
        {" v=spf1 -all", false, "§4.5 must begin the record"},
        {"spf2.0/pra -all", false, "§4.5 Sender ID records are not SPF"},
        {"", false, "§4.5 empty TXT"},
    };
    for (const auto& c : cases) EXPECT_EQ(is_spf_record(c.txt), c.is_spf) << c.txt << " " << c.rfc;
}

struct ParseCase {
    const char* record;
    bool ok;
    const char* rfc;
};

TEST(SpfRecord, Syntax) {
    const ParseCase cases[] = {
        {"v=spf1", true, "§4.6.1 no terms"},
        {"v=spf1 -all", true, "§5.1"},
        {"v=spf1   ip4:192.0.2.0/24    ~all  ", true, "§4.6.1 1*SP between terms"},
        {"v=spf1 +a -mx ~ptr ?exists:%{i}.x.example.com", true, "§4.6.2 qualifiers"},
        {"v=spf1 a:example.com/24//64", true, "§5.6 dual-cidr-length"},
        {"v=spf1 a//64 mx/24", true, "§5.6 cidr on the default domain"},
        {"v=spf1 ip6:2001:db8::/32 ip6:::ffff:192.0.2.1", true, "§5.6 ip6-network"},
        {"v=spf1 include:_spf.example.com. -all", true, "§7.1 domain-end may end in '.'"},
        {"v=spf1 exists:%{ir}.%{v}._spf.%{d2}", true, "§7.1 domain-spec ending in a macro"},
        {"v=spf1 foo=bar -all", true, "§6 unknown modifiers are ignored"},
        {"v=spf1 foo-bar.x_y=%{d} -all", true, "§4.6.1 modifier name charset"},
        {"v=spf1 redirect=_spf.example.com", true, "§6.1"},
        {"v=spf1 -all exp=explain.%{d}", true, "§6.2"},
        {"v=spf1 redirect=a.example.com redirect=b.example.com", false, "§6 redirect twice"},
        {"v=spf1 exp=a.example.com exp=b.example.com", false, "§6 exp twice"},
        {"v=spf1 exp=", false, "§6.2 exp needs a domain-spec"},
        {"v=spf1 foo:bar", false, "§4.6.1 unknown mechanism"},
        {"v=spf1 -all foo:bar", false, "§4.6 errors anywhere are permerror"},
        {"v=spf1 1up=foo", false, "§4.6.1 modifier name starts with ALPHA"},
        {"v=spf1 =foo", false, "§4.6.1 empty modifier name"},
        {"v=spf1 -all foo=%abc", false, "§7.1 bad macro in an unknown modifier"},
        {"v=spf1 all:x", false, "§5.1 all takes no argument"},
        {"v=spf1 all/8", false, "§5.1 all takes no argument"},
        {"v=spf1 include", false, "§5.2 include needs a domain"},
        {"v=spf1 include:", false, "§5.2 empty domain-spec"},
        {"v=spf1 exists", false, "§5.7 exists needs a domain"},
        {"v=spf1 ptr/24", false, "§5.5 ptr has no cidr"},
        {"v=spf1 a:example.com/33", false, "§5.6 ip4-cidr-length <= 32"},
        {"v=spf1 a//129", false, "§5.6 ip6-cidr-length <= 128"},
        {"v=spf1 ip4:192.0.2.0/032", false, "§5.6 no leading zero in cidr"},
        {"v=spf1 ip4:192.0.2.256", false, "§5.6 ip4-network"},
        {"v=spf1 ip4:2001:db8::1", false, "§5.6 ip4 with an IPv6 address"},
        {"v=spf1 ip6:192.0.2.1", false, "§5.6 ip6 with an IPv4 address"},
        {"v=spf1 ip4:[192.0.2.1]", false, "§5.6 no address literal brackets"},
        {"v=spf1 ip4", false, "§5.6 ip4 needs a network"},
        {"v=spf1 a:111.222.33.44", false, "§7.1 toplabel is not all-numeric"},
        {"v=spf1 a:example.-com", false, "§7.1 toplabel does not start with '-'"},
        {"v=spf1 a:example", false, "§7.1 domain-end needs '.' toplabel"},
        {"v=spf1 a:%{d}com", false, "§7.1 literal end needs '.'"},
        {"v=spf1 a:foo.example.com\r-all", false, "§4.6.1 only SP separates terms"},
        {"v=spf1 a:\xc3\xa9.example.com", false, "§7.1 macro-literal is ASCII"},
        {"v=spf1 exists:%{c}.example.com", false, "§7.1 c is for exp text only"},
        {"v=spf1 exists:%{x}.example.com", false, "§7.1 unknown macro letter"},
        {"v=spf1 exists:%{d0}.example.com", false, "§7.1 DIGIT must be nonzero"},
        {"v=spf1 exists:%(d).example.com", false, "§7.1 '%' must be followed by '{'"},
        {"v=spf1 exists:x%", false, "§7.1 trailing '%'"},
    };
    for (const auto& c : cases) {
        auto r = parse_spf_record(c.record);
        EXPECT_EQ(r.has_value(), c.ok)
            << c.record << " (" << c.rfc << ")" << (r ? "" : ": " + r.error().message);
    }
}

TEST(SpfRecord, ParsedTerms) {
    auto r = parse_spf_record("v=spf1 -a:mail.%{d2}/24//64 ~mx ip4:192.0.2.0/24 redirect=x.org");
    ASSERT_TRUE(r.has_value());
    ASSERT_EQ(r->mechanisms.size(), 3u);
    EXPECT_EQ(r->mechanisms[0].qualifier, SpfQualifier::fail);
    EXPECT_EQ(r->mechanisms[0].kind, SpfMechanismKind::a);
    EXPECT_EQ(r->mechanisms[0].domain_spec, "mail.%{d2}");
    EXPECT_EQ(r->mechanisms[0].cidr4, 24u);
    EXPECT_EQ(r->mechanisms[0].cidr6, 64u);
    EXPECT_EQ(r->mechanisms[1].qualifier, SpfQualifier::softfail);
    EXPECT_TRUE(r->mechanisms[1].domain_spec.empty());
    EXPECT_EQ(r->mechanisms[1].cidr4, 32u);
    EXPECT_EQ(r->mechanisms[2].network.to_string(), "192.0.2.0/24");
    EXPECT_EQ(r->redirect, "x.org");
    EXPECT_FALSE(r->exp.has_value());
}

// ---- Macros (§7.4 examples) -----------------------------------------------------------------

struct MacroCase {
    const char* in;
    const char* out;
};

TEST(SpfMacro, Rfc7208Section74Examples) {
    IpAddress v4 = ip("192.0.2.3");
    SpfMacroValues v;
    v.sender = "strong-bad@email.example.com";
    v.local_part = "strong-bad";
    v.sender_domain = "email.example.com";
    v.domain = "email.example.com";
    v.ip = &v4;
    v.helo = "mx.example.org";
    const MacroCase cases[] = {
        {"%{s}", "strong-bad@email.example.com"},
        {"%{o}", "email.example.com"},
        {"%{d}", "email.example.com"},
        {"%{d4}", "email.example.com"},
        {"%{d3}", "email.example.com"},
        {"%{d2}", "example.com"},
        {"%{d1}", "com"},
        {"%{dr}", "com.example.email"},
        {"%{d2r}", "example.email"},
        {"%{l}", "strong-bad"},
        {"%{l-}", "strong.bad"},
        {"%{lr}", "strong-bad"},
        {"%{lr-}", "bad.strong"},
        {"%{l1r-}", "strong"},
        {"%{ir}.%{v}._spf.%{d2}", "3.2.0.192.in-addr._spf.example.com"},
        {"%{lr-}.lp._spf.%{d2}", "bad.strong.lp._spf.example.com"},
        {"%{lr-}.lp.%{ir}.%{v}._spf.%{d2}", "bad.strong.lp.3.2.0.192.in-addr._spf.example.com"},
        {"%{ir}.%{v}.%{l1r-}.lp._spf.%{d2}", "3.2.0.192.in-addr.strong.lp._spf.example.com"},
        {"%{d2}.trusted-domains.example.net", "example.com.trusted-domains.example.net"},
        {"%{h}", "mx.example.org"},
        {"%%%_%-", "% %20"},                         // §7.1 escapes
        {"%{S}", "strong-bad%40email.example.com"},  // §7.3 upper case: URL-escaped
        {"%{L}", "strong-bad"},                      // '-' is unreserved (RFC 3986 §2.3)
        {"%{d2}.", "example.com"},                   // §7.3 trailing dot removed for domains
    };
    for (const auto& c : cases) {
        auto r = expand_spf_macros(c.in, v, SpfMacroMode::domain);
        ASSERT_TRUE(r.has_value()) << c.in << ": " << r.error().message;
        EXPECT_EQ(*r, c.out) << c.in;
    }
    IpAddress v6 = ip("2001:db8::cb01");
    v.ip = &v6;
    auto r = expand_spf_macros("%{ir}.%{v}._spf.%{d2}", v, SpfMacroMode::domain);
    ASSERT_TRUE(r.has_value());
    EXPECT_EQ(
        *r, "1.0.b.c.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.0.8.b.d.0.1.0.0.2.ip6._spf.example.com");
}

TEST(SpfMacro, ExplanationOnlyLetters) {
    IpAddress v4 = ip("192.0.2.3");
    SpfMacroValues v;
    v.ip = &v4;
    v.receiver = "mx.receiver.example";
    v.now_epoch = 1700000000;
    v.domain = "example.com";
    auto r =
        expand_spf_macros("%{c} rejected by %{r} at %{t} for %{d}.", v, SpfMacroMode::explanation);
    ASSERT_TRUE(r.has_value());
    // §7.3: explanation text keeps its trailing dot and may contain SP.
    EXPECT_EQ(*r, "192.0.2.3 rejected by mx.receiver.example at 1700000000 for example.com.");
    EXPECT_FALSE(expand_spf_macros("%{r}.x.com", v, SpfMacroMode::domain).has_value());
    v.receiver = "";
    EXPECT_EQ(expand_spf_macros("%{r}", v, SpfMacroMode::explanation).value(), "unknown");
}

TEST(SpfMacro, TruncatesLongNamesFromTheLeft) {
    // §7.3: "the left side is truncated to fit, by removing successive domain labels".
    std::string long_local(60, 'a');
    std::string sender = long_local + "@example.com";
    SpfMacroValues v;
    v.sender = sender;
    v.domain = "example.com";
    auto r = expand_spf_macros("%{s}.%{s}.%{s}.%{s}.%{s}.example.com", v, SpfMacroMode::domain);
    ASSERT_TRUE(r.has_value());
    EXPECT_LE(r->size(), 253u);
    EXPECT_EQ(r->substr(r->size() - 12), ".example.com");
    EXPECT_NE(r->front(), '.');
}

TEST(SpfMacro, ExpansionBound) {
    // limits::kSpfMaxMacroOutputBytes: a record full of %{s} over a long MAIL FROM.
    std::string sender(1000, 'x');
    SpfMacroValues v;
    v.sender = sender;
    std::string spec;
    for (int i = 0; i < 20; ++i) spec += "%{s}.";
    spec += "example.com";
    auto r = expand_spf_macros(spec, v, SpfMacroMode::domain);
    ASSERT_FALSE(r.has_value());
    EXPECT_EQ(r.error().code, Errc::limit);
}

// ---- Evaluation -----------------------------------------------------------------------------

struct EvalCase {
    const char* name;
    const char* client;
    const char* sender;
    SpfResult want;
    const char* rfc;
};

TEST(SpfCheckHost, Mechanisms) {
    auto dns = zone(R"(
example.com          TXT "v=spf1 ip4:192.0.2.0/24 ip6:2001:db8::/32 a/30 mx include:inc.example.net -all"
example.com          A   198.51.100.1
example.com          MX  10 mx1.example.com
mx1.example.com      A   203.0.113.7
inc.example.net      TXT "v=spf1 ip4:198.18.0.1 ?ip4:198.18.0.2 -all"
neutral.example.com  TXT "v=spf1 ip4:192.0.2.1"
redir.example.com    TXT "v=spf1 redirect=example.com"
nored.example.com    TXT "v=spf1 redirect=nothing.example.com"
incnone.example.com  TXT "v=spf1 include:nothing.example.com -all"
inctemp.example.com  TXT "v=spf1 include:broken.example.com -all"
broken.example.com   SERVFAIL
two.example.com      TXT "v=spf1 -all"
two.example.com      TXT "v=spf1 +all"
mixed.example.com    TXT "v=spf10 +all"
mixed.example.com    TXT "v=spf1 ~all"
mixed.example.com    TXT "google-site-verification=x"
exists.example.com   TXT "v=spf1 exists:%{l}.allow.example.com -all"
alice.allow.example.com A 127.0.0.2
ptr.example.com      TXT "v=spf1 ptr -all"
3.2.0.192.in-addr.arpa PTR host.ptr.example.com
host.ptr.example.com A 192.0.2.3
)");
    const EvalCase cases[] = {
        {"ip4", "192.0.2.77", "u@example.com", SpfResult::pass, "§5.6"},
        {"ip6", "2001:db8:1::1", "u@example.com", SpfResult::pass, "§5.6"},
        {"a/30", "198.51.100.2", "u@example.com", SpfResult::pass, "§5.3 with §5.6 cidr"},
        {"mx", "203.0.113.7", "u@example.com", SpfResult::pass, "§5.4"},
        {"include pass", "198.18.0.1", "u@example.com", SpfResult::pass, "§5.2 pass -> match"},
        {"include neutral", "198.18.0.2", "u@example.com", SpfResult::fail,
         "§5.2 neutral -> not match"},
        {"no match -all", "203.0.113.8", "u@example.com", SpfResult::fail, "§5.1"},
        {"mapped v4", "::ffff:192.0.2.9", "u@example.com", SpfResult::pass,
         "§5.6 IPv4-mapped client is IPv4"},
        {"no match, no redirect", "198.51.100.9", "u@neutral.example.com", SpfResult::neutral,
         "§4.7"},
        {"redirect", "192.0.2.1", "u@redir.example.com", SpfResult::pass, "§6.1"},
        {"redirect to nothing", "192.0.2.1", "u@nored.example.com", SpfResult::permerror,
         "§6.1 no record at the target"},
        {"include none", "192.0.2.1", "u@incnone.example.com", SpfResult::permerror,
         "§5.2 none -> permerror"},
        {"include temperror", "192.0.2.1", "u@inctemp.example.com", SpfResult::temperror,
         "§5.2 temperror -> temperror"},
        {"two records", "192.0.2.1", "u@two.example.com", SpfResult::permerror, "§4.5"},
        {"one of three TXT", "192.0.2.1", "u@mixed.example.com", SpfResult::softfail, "§4.5"},
        {"no record", "192.0.2.1", "u@nothing.example.com", SpfResult::none, "§4.5"},
        {"servfail", "192.0.2.1", "u@broken.example.com", SpfResult::temperror, "§4.4"},
        {"exists %{l}", "192.0.2.1", "alice@exists.example.com", SpfResult::pass, "§5.7"},
        {"exists miss", "192.0.2.1", "bob@exists.example.com", SpfResult::fail, "§5.7"},
        {"ptr validated", "192.0.2.3", "u@ptr.example.com", SpfResult::pass, "§5.5"},
        {"ptr no name", "192.0.2.4", "u@ptr.example.com", SpfResult::fail, "§5.5"},
        {"single label", "192.0.2.1", "u@localhost", SpfResult::none, "§4.3"},
        {"empty label", "192.0.2.1", "u@a..example.com", SpfResult::none, "§4.3"},
        {"domain literal", "192.0.2.1", "u@[192.0.2.1]", SpfResult::none, "§4.3"},
    };
    for (const auto& c : cases) {
        dns.clear_queries();
        auto out = mail_from(dns, c.client, c.sender);
        EXPECT_EQ(out.result, c.want) << c.name << " (RFC 7208 " << c.rfc << "): got "
                                      << to_string(out.result) << " " << out.problem;
    }
}

TEST(SpfCheckHost, OutcomeReportsWhatMatched) {
    auto dns = zone(R"(
example.com  TXT "v=spf1 a:mail.example.com ip4:192.0.2.0/24 -all exp=why.%{d}"
why.example.com TXT "%{i} is not one of %{d}'s senders"
)");
    SpfOptions options;
    auto out = mail_from(dns, "192.0.2.5", "Bob@Example.COM", "helo.example.org", options);
    EXPECT_EQ(out.result, SpfResult::pass);
    EXPECT_EQ(out.domain, "example.com");
    EXPECT_EQ(out.scope, SpfScope::mfrom);
    EXPECT_EQ(out.mechanism, "ip4:192.0.2.0/24");
    EXPECT_EQ(out.dns_terms, 1u);     // the a: term
    EXPECT_EQ(out.void_lookups, 1u);  // mail.example.com has no A
    EXPECT_TRUE(out.explanation.empty());
    out = mail_from(dns, "198.51.100.1", "bob@example.com", "helo.example.org", options);
    EXPECT_EQ(out.result, SpfResult::fail);
    EXPECT_EQ(out.mechanism, "-all");
    // §6.2: the explanation is fetched only on fail and macro-expanded.
    EXPECT_EQ(out.explanation, "198.51.100.1 is not one of example.com's senders");
    options.fetch_explanation = false;
    options.default_explanation = "local default";
    out = mail_from(dns, "198.51.100.1", "bob@example.com", "helo.example.org", options);
    EXPECT_EQ(out.explanation, "local default");
}

TEST(SpfCheckHost, MacroOutputIsNeverAnUnsafeNameOrReply) {
    auto dns = zone(R"(
example.com      TXT "v=spf1 exists:%{l}.allow.example.com -all exp=why.example.com"
why.example.com  TXT "blocked %{l}"
)");
    SpfOptions options;
    options.default_explanation = "default";
    // §6.2: the explanation is US-ASCII for an SMTP reply: CR LF from a local-part drops it.
    auto out = check_host(dns, ip("192.0.2.1"), "example.com", "x\r\n250 ok@example.com",
                          "h.example.org", options);
    EXPECT_EQ(out.result, SpfResult::fail);
    EXPECT_EQ(out.explanation, "default");
    out = check_host(dns, ip("192.0.2.1"), "example.com", "bob@example.com", "h", options);
    EXPECT_EQ(out.explanation, "blocked bob");
    // A name with a control byte or NUL is not sent to the resolver: it cannot exist.
    dns.clear_queries();
    out = check_host(dns, ip("192.0.2.1"), "example.com", std::string("a\0b@example.com", 15), "h",
                     options);
    EXPECT_EQ(out.result, SpfResult::fail);
    for (const auto& q : dns.queries()) EXPECT_EQ(q.find("allow"), std::string::npos) << q;
}

TEST(SpfCheckHost, NullSenderUsesPostmasterAtHelo) {
    // §2.4: "When the reverse-path is null, this document defines the "MAIL FROM" identity to
    // be the mailbox composed of the local-part "postmaster" and the "HELO" identity".
    auto dns = zone(R"(
helo.example.org  TXT "v=spf1 exists:%{l}.%{o}.x.example.net -all"
postmaster.helo.example.org.x.example.net A 127.0.0.2
)");
    for (const char* null_path : {"", "<>"}) {
        auto out = mail_from(dns, "192.0.2.1", null_path, "helo.example.org");
        EXPECT_EQ(out.result, SpfResult::pass) << out.problem;
        EXPECT_EQ(out.domain, "helo.example.org");
        EXPECT_EQ(out.sender, "postmaster@helo.example.org");
        EXPECT_EQ(out.scope, SpfScope::mfrom);
    }
    auto helo = check_helo(dns, ip("192.0.2.1"), "helo.example.org", {});
    EXPECT_EQ(helo.result, SpfResult::pass);
    EXPECT_EQ(helo.scope, SpfScope::helo);
}

// ---- Limits (§4.6.4) ------------------------------------------------------------------------

TEST(SpfLimits, TenDnsTermsThenPermerror) {
    std::string zone_text;
    // A chain of includes: level N includes level N+1; each include is one DNS term.
    for (int i = 0; i < 12; ++i) {
        zone_text += "l" + std::to_string(i) + ".example.com TXT \"v=spf1 include:l" +
                     std::to_string(i + 1) + ".example.com -all\"\n";
    }
    zone_text += "l12.example.com TXT \"v=spf1 +all\"\n";
    zone_text += "l2.example.org TXT \"v=spf1 include:l4.example.com -all\"\n";
    auto dns = zone(zone_text);
    auto out = mail_from(dns, "192.0.2.1", "u@l0.example.com");
    EXPECT_EQ(out.result, SpfResult::permerror);            // 12 includes needed
    EXPECT_EQ(out.dns_terms, 11u);                          // the 11th is the one refused
    out = mail_from(dns, "192.0.2.1", "u@l2.example.org");  // 9 includes: l4..l12
    EXPECT_EQ(out.result, SpfResult::pass) << out.problem;
    EXPECT_EQ(out.dns_terms, 9u);
}

TEST(SpfLimits, MoreThanTenMxNamesIsPermerror) {
    std::string z =
        "ten.example.com TXT \"v=spf1 mx -all\"\neleven.example.com TXT \"v=spf1 mx -all\"\n";
    for (int i = 0; i < 11; ++i) {
        std::string host = "mx" + std::to_string(i) + ".example.com";
        if (i < 10) z += "ten.example.com MX 10 " + host + "\n";
        z += "eleven.example.com MX 10 " + host + "\n";
        z += host + " A 192.0.2." + std::to_string(i + 1) + "\n";
    }
    auto dns = zone(z);
    EXPECT_EQ(mail_from(dns, "192.0.2.10", "u@ten.example.com").result, SpfResult::pass);
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "u@eleven.example.com").result, SpfResult::permerror);
}

TEST(SpfLimits, PtrNamesBeyondTenAreIgnored) {
    std::string z = "p.example.com TXT \"v=spf1 ptr:good.example.com -all\"\n";
    for (int i = 0; i < 11; ++i) {
        std::string host =
            "h" + std::to_string(i) + (i == 10 ? ".good.example.com" : ".other.test");
        z += "1.2.0.192.in-addr.arpa PTR " + host + "\n";
        z += host + " A 192.0.2.1\n";
    }
    auto dns = zone(z);
    // The only name under good.example.com is the 11th: §4.6.4 says to ignore it.
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "u@p.example.com").result, SpfResult::fail);
}

TEST(SpfLimits, ThirdVoidLookupIsPermerror) {
    auto dns = zone(R"(
two.example.com   TXT "v=spf1 a:n1.example.com exists:n2.example.com +all"
three.example.com TXT "v=spf1 a:n1.example.com exists:n2.example.com mx:n3.example.com +all"
nodata.example.com TXT "v=spf1 a:e1.example.com a:e2.example.com a:e3.example.com +all"
e1.example.com EXISTS
e2.example.com EXISTS
e3.example.com EXISTS
)");
    auto out = mail_from(dns, "192.0.2.1", "u@two.example.com");
    EXPECT_EQ(out.result, SpfResult::pass);
    EXPECT_EQ(out.void_lookups, 2u);
    out = mail_from(dns, "192.0.2.1", "u@three.example.com");
    EXPECT_EQ(out.result, SpfResult::permerror);
    // NODATA counts as void as well as NXDOMAIN.
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "u@nodata.example.com").result, SpfResult::permerror);
}

TEST(SpfLimits, MxExchangeAddressLookupsAreNotVoidTerms) {
    // §4.6.4 limits "terms" whose DNS queries return no answer. An IPv6 client against a
    // domain whose A and MX hosts are IPv4-only: the a term is one void lookup, the mx term's
    // own MX query answered, so its exchanges' empty AAAA answers are not further void terms.
    auto dns = zone(R"(
example.com     TXT "v=spf1 a mx -all"
example.com     A   192.0.2.1
example.com     MX  10 mx1.example.com
example.com     MX  20 mx2.example.com
example.com     MX  30 mx3.example.com
mx1.example.com A   192.0.2.2
mx2.example.com A   192.0.2.3
mx3.example.com A   192.0.2.4
)");
    auto out = mail_from(dns, "2001:db8::1", "u@example.com");
    EXPECT_EQ(out.result, SpfResult::fail) << out.problem;
    EXPECT_EQ(out.void_lookups, 1u);
    EXPECT_EQ(mail_from(dns, "192.0.2.4", "u@example.com").result, SpfResult::pass);
}

TEST(SpfLimits, TimeBudgetGivesTemperror) {
    auto dns = zone(R"(
example.com      TXT "v=spf1 include:a.example.com include:b.example.com -all"
a.example.com    TXT "v=spf1 ip4:198.51.100.1 -all"
b.example.com    TXT "v=spf1 ip4:192.0.2.0/24 -all"
)");
    std::uint64_t clock = 1000;
    SpfOptions options;
    options.budget_ms = 2500;
    // Every read of the clock advances it by one second: the fourth DNS query is over budget.
    options.now_ms = [&clock] { return clock += 1000; };
    auto out = mail_from(dns, "192.0.2.1", "u@example.com", "h.example.org", options);
    EXPECT_EQ(out.result, SpfResult::temperror);
    EXPECT_NE(out.problem.find("budget"), std::string::npos);
    options.budget_ms = 10000;
    clock = 0;
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "u@example.com", "h.example.org", options).result,
              SpfResult::pass);
    clock = 1'000'000;
    options.now_ms = [&clock] { return clock -= 1000; };  // a clock stepping backwards
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "u@example.com", "h.example.org", options).result,
              SpfResult::pass);
    options.now_ms = nullptr;  // no clock: no budget
    EXPECT_EQ(mail_from(dns, "192.0.2.1", "u@example.com", "h.example.org", options).result,
              SpfResult::pass);
}

// ---- OpenDMARC regressions (opendmarc.md §8) ------------------------------------------------

TEST(SpfRegression, Issue443_ShortDomainRecordLookup) {
    // OpenDMARC #443: opendmarc_spf_dns_get_record copied 256 bytes from a short domain.
    MemoryResolver dns;
    const std::string_view domains[] = {"", "a", ".", "x", std::string_view("a\0b.c", 5)};
    for (std::string_view domain : domains) {
        auto out = check_host(dns, ip("192.0.2.1"), domain, "u@x.y", "h", {});
        EXPECT_TRUE(out.result == SpfResult::none) << "domain '" << domain << "'";
    }
}

TEST(SpfRegression, Bug29_Ip6MechanismFromLoopback) {
    // opendmarc.md §8.2 #29 (#274): ip6:2001:db8::/32 with a ::1 client crashed.
    auto dns = zone("example.com TXT \"v=spf1 ip6:2001:db8::/32 ip4:127.0.0.0/8 -all\"\n");
    EXPECT_EQ(mail_from(dns, "::1", "u@example.com").result, SpfResult::fail);
    EXPECT_EQ(mail_from(dns, "::ffff:127.0.0.1", "u@example.com").result, SpfResult::pass);
}

TEST(SpfRegression, Bug22_NullSenderHeloIdentity) {
    // opendmarc.md §8.2 #22: with a null sender the HELO identity is the MAIL FROM identity.
    auto dns = zone("mx.example.net TXT \"v=spf1 ip4:192.0.2.1 -all\"\n");
    auto out = mail_from(dns, "192.0.2.1", "<>", "mx.example.net");
    EXPECT_EQ(out.result, SpfResult::pass);
    EXPECT_EQ(out.domain, "mx.example.net");
}

}  // namespace
}  // namespace dmarc
