// Received-SPF parser (RFC 7208 §9.1), table-driven, plus regressions for OpenDMARC's
// Received-SPF bugs (opendmarc.md §2.3, §8.1 CVE-2019-20790, §8.2 #2 and #22).
#include "core/received_spf.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/auth_results.hpp"
#include "core/limits.hpp"

namespace dmarc {
namespace {

ReceivedSpf parse_ok(const std::string& field) {
    auto spf = parse_received_spf(field);
    EXPECT_TRUE(spf.has_value()) << field << " -> " << (spf ? "" : spf.error().message);
    return spf ? *spf : ReceivedSpf{};
}

// RFC 7208 §9.1 examples, and pypolicyd-spf's shape.
TEST(ReceivedSpf, Rfc7208Examples) {
    auto pass = parse_ok(
        "Received-SPF: pass (mybox.example.org: domain of myname@example.com designates "
        "192.0.2.1 as permitted sender)\r\n receiver=mybox.example.org; client-ip=192.0.2.1;\r\n "
        "envelope-from=\"myname@example.com\"; helo=foo.example.com;");
    EXPECT_EQ(pass.result, SpfResult::pass);
    EXPECT_EQ(pass.comment,
              "mybox.example.org: domain of myname@example.com designates 192.0.2.1 as "
              "permitted sender");
    EXPECT_EQ(pass.receiver(), "mybox.example.org");
    EXPECT_EQ(pass.client_ip(), "192.0.2.1");
    EXPECT_EQ(pass.envelope_from(), "myname@example.com");
    EXPECT_EQ(pass.helo(), "foo.example.com");
    EXPECT_EQ(pass.identity(), std::nullopt);
    EXPECT_EQ(pass.envelope_from_domain().value_or(""), "example.com");
    EXPECT_TRUE(pass.skipped.empty());

    auto fail = parse_ok(
        "fail (mybox.example.org: domain of myname@example.com does not designate 192.0.2.1 as "
        "permitted sender) identity=mailfrom; client-ip=192.0.2.1; "
        "envelope-from=\"myname@example.com\"");
    EXPECT_EQ(fail.result, SpfResult::fail);
    EXPECT_EQ(fail.identity_scope(), SpfScope::mfrom);
    EXPECT_EQ(fail.pairs.size(), 3u);

    auto bare = parse_ok("softfail (mybox.example.com: transitioning)");
    EXPECT_EQ(bare.result, SpfResult::softfail);
    EXPECT_TRUE(bare.pairs.empty());

    auto policyd = parse_ok(
        "Pass (mailfrom) identity=mailfrom; client-ip=209.85.218.48; "
        "helo=mail-ej1-f48.google.com; envelope-from=x@gmail.com; receiver=<UNKNOWN> ");
    EXPECT_EQ(policyd.result, SpfResult::pass);
    EXPECT_EQ(policyd.comment, "mailfrom");
    EXPECT_EQ(policyd.receiver(), "<UNKNOWN>");
    EXPECT_EQ(policyd.envelope_from_domain().value_or(""), "gmail.com");
}

// RFC 7208 §9.1 result = the §2.6 results; the word is case-insensitive (RFC 7208 §9.1 uses
// "Pass" in its examples of other checkers; pypolicyd-spf writes "Pass").
TEST(ReceivedSpf, ResultWord) {
    const std::pair<const char*, SpfResult> ok[] = {
        {"pass", SpfResult::pass},           {"Pass", SpfResult::pass},
        {"FAIL", SpfResult::fail},           {"SoftFail", SpfResult::softfail},
        {"neutral", SpfResult::neutral},     {"None", SpfResult::none},
        {"TempError", SpfResult::temperror}, {"permerror", SpfResult::permerror},
        {"hardfail", SpfResult::fail},       {"pass(comment)", SpfResult::pass},
        {"  pass", SpfResult::pass},         {"(first) pass", SpfResult::pass},
    };
    for (const auto& [field, result] : ok) {
        EXPECT_EQ(parse_ok(field).result, result) << field;
    }
    const std::pair<const char*, Errc> bad[] = {
        {"", Errc::syntax},
        {"   ", Errc::syntax},
        {"(only a comment)", Errc::syntax},
        {"pass;", Errc::syntax},
        {"pass2 client-ip=1.2.3.4", Errc::syntax},
        {"unknown (x)", Errc::invalid_value},
        {"passed", Errc::invalid_value},
        {"error client-ip=1.2.3.4", Errc::invalid_value},
    };
    for (const auto& [field, code] : bad) {
        auto spf = parse_received_spf(field);
        ASSERT_FALSE(spf.has_value()) << field;
        EXPECT_EQ(spf.error().code, code) << field;
    }
}

// Values: dot-atom, quoted-string (RFC 7208 §9.1), and real-world runs.
TEST(ReceivedSpf, Values) {
    const std::pair<const char*, const char*> cases[] = {
        {"envelope-from=user@example.com", "user@example.com"},
        {"envelope-from=\"user@example.com\"", "user@example.com"},
        {"envelope-from=<user@example.com>", "<user@example.com>"},
        {"envelope-from=\"a \\\"b\\\"\"", "a \"b\""},
        {"envelope-from=\"odd user\"@example.com", "\"odd user\"@example.com"},
        {"envelope-from = user@example.com", "user@example.com"},  // key [CFWS] "=" [CFWS]
        {"envelope-from=", ""},
        {"envelope-from=a=b==c===@example.com", "a=b==c===@example.com"},
    };
    for (const auto& [pair, value] : cases) {
        std::string field = std::string("pass ") + pair + "; helo=h.example";
        auto spf = parse_ok(field);
        EXPECT_EQ(spf.envelope_from(), value) << field;
        EXPECT_EQ(spf.helo(), "h.example") << field;
        EXPECT_TRUE(spf.skipped.empty()) << field;
    }
}

// Comments (CFWS) may hold ';' and '='; they never split pairs. Unknown keys are kept; pairs
// separated only by spaces are read; ';' may be doubled, trailing or missing at the end.
TEST(ReceivedSpf, CommentsSeparatorsAndUnknownKeys) {
    auto spf = parse_ok(
        "pass (a; b=c (nested; d=e)) client-ip=192.0.2.1 (x; y=z);; helo=h.example "
        "x-Extra=\"v; w\" mechanism=ip4:192.0.2.0/24;");
    EXPECT_EQ(spf.comment, "a; b=c (nested; d=e)");
    ASSERT_EQ(spf.pairs.size(), 4u);
    EXPECT_EQ(spf.client_ip(), "192.0.2.1");
    EXPECT_EQ(spf.helo(), "h.example");
    EXPECT_EQ(spf.find("X-EXTRA"), "v; w");
    EXPECT_EQ(spf.pairs[2].key, "x-extra");
    EXPECT_EQ(spf.mechanism(), "ip4:192.0.2.0/24");
    EXPECT_EQ(spf.problem(), std::nullopt);
}

// What cannot be read is skipped to the next ';' and recorded.
TEST(ReceivedSpf, SkipsUnreadablePairs) {
    struct Case {
        const char* field;
        std::vector<std::string> keys;
        std::vector<std::string> skipped;
    };
    const Case cases[] = {
        {"pass client-ip=1.2.3.4; =bad; helo=h", {"client-ip", "helo"}, {"=bad"}},
        {"pass 1key=x; helo=h", {"helo"}, {"1key=x"}},
        {"pass helo h; client-ip=1.2.3.4", {"client-ip"}, {"helo h"}},
        {"pass helo=a(b); client-ip=1.2.3.4", {"client-ip"}, {"helo=a(b)"}},  // glued '('
        {"pass helo=\"unterminated; client-ip=1.2.3.4",
         {},
         {"helo=\"unterminated; client-ip=1.2.3.4"}},
        {"pass client-ip=1.2.3.4 (unterminated; helo=h", {"client-ip"}, {"(unterminated; helo=h"}},
    };
    for (const auto& c : cases) {
        auto spf = parse_ok(c.field);
        std::vector<std::string> keys;
        for (const auto& p : spf.pairs) keys.push_back(p.key);
        EXPECT_EQ(keys, c.keys) << c.field;
        EXPECT_EQ(spf.skipped, c.skipped) << c.field;
    }
}

// A defined key given twice is ambiguous (which identity did the checker mean?): the field
// is refused. Unknown keys may repeat.
TEST(ReceivedSpf, DuplicateDefinedKeyIsAnError) {
    auto dup = parse_received_spf("pass identity=mailfrom; identity=helo");
    ASSERT_FALSE(dup.has_value());
    EXPECT_EQ(dup.error().code, Errc::syntax);
    EXPECT_FALSE(parse_received_spf("pass envelope-from=a@x; Envelope-From=b@y").has_value());
    EXPECT_EQ(parse_ok("pass x-a=1; x-a=2").pairs.size(), 2u);
}

TEST(ReceivedSpf, Limits) {
    auto with_pairs = [](std::size_t n) {
        std::string field = "pass";
        for (std::size_t i = 0; i < n; ++i) field += " x" + std::to_string(i) + "=1;";
        return field;
    };
    EXPECT_TRUE(parse_received_spf(with_pairs(limits::kMaxReceivedSpfPairs)).has_value());
    auto over = parse_received_spf(with_pairs(limits::kMaxReceivedSpfPairs + 1));
    ASSERT_FALSE(over.has_value());
    EXPECT_EQ(over.error().code, Errc::limit);
    // Unreadable pairs count too: 31 pairs + 1 skipped is at the bound, one more is over it.
    const std::string almost = with_pairs(limits::kMaxReceivedSpfPairs - 1);
    EXPECT_TRUE(parse_received_spf(almost + " ===").has_value());
    auto junk = parse_received_spf(almost + " ===; ===");
    ASSERT_FALSE(junk.has_value());
    EXPECT_EQ(junk.error().code, Errc::limit);
    // ... including an unterminated comment that swallows the rest (found by the fuzzer).
    auto tail = parse_received_spf(with_pairs(limits::kMaxReceivedSpfPairs) + " (open");
    ASSERT_FALSE(tail.has_value());
    EXPECT_EQ(tail.error().code, Errc::limit);

    auto big = parse_received_spf("pass (" + std::string(limits::kMaxHeaderFieldBytes, 'x') + ")");
    ASSERT_FALSE(big.has_value());
    EXPECT_EQ(big.error().code, Errc::limit);

    const std::string deep = std::string(limits::kMaxCommentDepth + 1, '(') +
                             std::string(limits::kMaxCommentDepth + 1, ')');
    for (const std::string& field :
         {"pass " + deep, deep + " pass", "pass helo=h " + deep, "pass helo=h(" + deep}) {
        auto spf = parse_received_spf(field);
        ASSERT_FALSE(spf.has_value()) << field;
        EXPECT_EQ(spf.error().code, Errc::limit) << field;
    }
}

TEST(ReceivedSpf, EnvelopeFromDomain) {
    const std::pair<const char*, const char*> ok[] = {
        {"envelope-from=User@Example.COM", "example.com"},
        {"envelope-from=<user@example.com>", "example.com"},
        {"envelope-from=example.com", "example.com"},
        {"envelope-from=\"a@b\"@example.com", "example.com"},
    };
    for (const auto& [pair, domain] : ok) {
        EXPECT_EQ(parse_ok(std::string("pass ") + pair).envelope_from_domain().value_or(""), domain)
            << pair;
    }
    const std::pair<const char*, Errc> bad[] = {
        {"helo=h", Errc::not_found},
        {"envelope-from=<>", Errc::not_found},
        {"envelope-from=\"\"", Errc::not_found},
        {"envelope-from=user@exa_mple.com", Errc::syntax},  // to_a_label_domain refuses '_'
    };
    for (const auto& [pair, code] : bad) {
        auto d = parse_ok(std::string("pass ") + pair).envelope_from_domain();
        ASSERT_FALSE(d.has_value()) << pair;
        EXPECT_EQ(d.error().code, code) << pair;
    }
}

// ---- Regressions -------------------------------------------------------------------------------

// CVE-2019-20790: a HELO-identity pass was credited to the MAIL FROM domain. The parser gives
// the identity, so the caller can see this pass is about HELO, not about victim.example.
TEST(ReceivedSpfRegression, Cve_2019_20790_HeloIdentity) {
    auto spf = parse_ok(
        "Received-SPF: Pass (helo) identity=helo; envelope-from=<x@victim.example>; "
        "helo=attacker.example");
    EXPECT_EQ(spf.result, SpfResult::pass);
    EXPECT_EQ(spf.identity_scope(), SpfScope::helo);
    EXPECT_NE(spf.identity_scope(), SpfScope::mfrom);
    EXPECT_EQ(spf.envelope_from_domain().value_or(""), "victim.example");  // the trap
    // Unknown identities are not mistaken for either.
    EXPECT_EQ(parse_ok("pass identity=mfrom").identity_scope(), std::nullopt);
    EXPECT_EQ(parse_ok("pass identity=MailFrom").identity_scope(), SpfScope::mfrom);
    // The A-R form of the same attack: spf=pass with smtp.helo only has no smtp.mailfrom.
    auto ar = parse_authentication_results("mx.example.org; spf=pass smtp.helo=attacker.example");
    ASSERT_TRUE(ar.has_value());
    ASSERT_EQ(ar->results.size(), 1u);
    EXPECT_EQ(ar->results[0].find("smtp", "mailfrom"), nullptr);
    EXPECT_EQ(ar->results[0].find("smtp", "helo")->value, "attacker.example");
}

// OpenDMARC #206 / §8.2 #2: every '=' in envelope-from restarted the value, garbling VERP
// domains and turning pass into neutral.
TEST(ReceivedSpfRegression, OpenDmarcBug2_VerpEnvelopeFrom) {
    const char* fields[] = {
        "Pass (mailfrom) identity=mailfrom; client-ip=192.0.2.7; helo=mta.example; "
        "envelope-from=\"bounces+2309175-1e1a-antonioxh.morgents=open.com@emails."
        "livestorminvites.com\"; receiver=mx.example",
        "Pass (mailfrom) identity=mailfrom; envelope-from=bounces+2309175-1e1a-antonioxh."
        "morgents=open.com@emails.livestorminvites.com; receiver=mx.example",
        "Pass identity=mailfrom; envelope-from=a==b@emails.livestorminvites.com",
        "Pass identity=mailfrom; envelope-from=a===b=@emails.livestorminvites.com",
        "Pass identity=mailfrom; envelope-from=<SRS0=AbCd=XY=example.org=u@emails."
        "livestorminvites.com>",
    };
    for (const char* field : fields) {
        auto spf = parse_ok(field);
        EXPECT_EQ(spf.result, SpfResult::pass) << field;
        EXPECT_EQ(spf.identity_scope(), SpfScope::mfrom) << field;
        EXPECT_EQ(spf.envelope_from_domain().value_or(""), "emails.livestorminvites.com") << field;
    }
    EXPECT_EQ(parse_ok(fields[0]).envelope_from(),
              "bounces+2309175-1e1a-antonioxh.morgents=open.com@emails.livestorminvites.com");
}

// OpenDMARC §8.2 #22: with a null sender the HELO identity is the one checked (RFC 7208 §2.4);
// the parser must give both facts so the caller may accept it.
TEST(ReceivedSpfRegression, OpenDmarcBug22_NullSenderHelo) {
    auto spf = parse_ok("Pass (helo) identity=helo; envelope-from=<>; helo=mta.example.com");
    EXPECT_EQ(spf.identity_scope(), SpfScope::helo);
    EXPECT_EQ(spf.envelope_from_domain().error().code, Errc::not_found);
    EXPECT_EQ(spf.helo(), "mta.example.com");
}

}  // namespace
}  // namespace dmarc
