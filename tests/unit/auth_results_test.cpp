// Authentication-Results parser and formatter, one table per grammar feature of RFC 8601 §2.2
// (CFWS from RFC 5322 §3.2.2), plus regressions named after OpenDMARC's bugs and CVEs
// (reference opendmarc.md §8).
#include "core/auth_results.hpp"

#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "core/limits.hpp"

namespace dmarc {
namespace {

AuthenticationResults parse_ok(const std::string& field) {
    auto ar = parse_authentication_results(field);
    EXPECT_TRUE(ar.has_value()) << field << " -> " << (ar ? "" : ar.error().message);
    return ar ? *ar : AuthenticationResults{};
}

// ---- §2.2 methodspec / propspec with CFWS anywhere (RFC 5322 §3.2.2) ------------------------

struct CfwsCase {
    const char* field;
    const char* method;
    std::optional<unsigned> method_version;
    const char* result;
    const char* ptype;
    const char* property;
    const char* value;
};

TEST(AuthResultsGrammar, CfwsAnywhere) {
    const CfwsCase cases[] = {
        // §2.2: "dkim/1" method-version; CFWS between every token (RFC 8601 Appendix B.6 style).
        {"a.example; dkim (c) / (c) 1 (c) = (c) fail (c) header (c) . (c) d (c) = (c) x.example",
         "dkim", 1u, "fail", "header", "d", "x.example"},
        // RFC 5322 §3.2.2: comments may hold ';', '=', '@' and quoted pairs.
        {"a.example; dkim=pass (key; a=b c@d \\) still) header.d=x.example",
         "dkim",
         {},
         "pass",
         "header",
         "d",
         "x.example"},
        // Nested comments.
        {"a.example; dkim=pass ((nested) comment (deeper (still))) header.d=x.example",
         "dkim",
         {},
         "pass",
         "header",
         "d",
         "x.example"},
        // Folding (RFC 5322 §2.2.3) and tabs.
        {"a.example;\r\n\tdkim=pass\r\n header.d=x.example\r\n",
         "dkim",
         {},
         "pass",
         "header",
         "d",
         "x.example"},
        // §2.2 keywords are case-insensitive and returned lower-case; values keep their case.
        {"a.example; DKIM=PASS Header.D=X.Example", "dkim", {}, "pass", "header", "d", "X.Example"},
        // The dot of a propspec between CFWS (the RFC 8601 comment-heavy example).
        {"a.example; dkim=fail policy (A dot) . (here) expired (x) = (y) 1362471462",
         "dkim",
         {},
         "fail",
         "policy",
         "expired",
         "1362471462"},
        // A comment directly after the result keyword is not ambiguous.
        {"a.example; spf=pass(ok) smtp.mailfrom=x.example",
         "spf",
         {},
         "pass",
         "smtp",
         "mailfrom",
         "x.example"},
    };
    for (const auto& c : cases) {
        auto ar = parse_ok(c.field);
        ASSERT_EQ(ar.results.size(), 1u) << c.field;
        const auto& r = ar.results[0];
        EXPECT_EQ(r.method, c.method) << c.field;
        EXPECT_EQ(r.method_version, c.method_version) << c.field;
        EXPECT_EQ(r.result, c.result) << c.field;
        ASSERT_EQ(r.properties.size(), 1u) << c.field;
        EXPECT_EQ(r.properties[0].ptype, c.ptype) << c.field;
        EXPECT_EQ(r.properties[0].property, c.property) << c.field;
        EXPECT_EQ(r.properties[0].value, c.value) << c.field;
        EXPECT_TRUE(ar.skipped.empty()) << c.field;
    }
}

TEST(AuthResultsGrammar, CommentTextIsDecoded) {
    // RFC 5322 §3.2.2: quoted-pair resolves; nested parentheses stay as text; folding goes.
    auto ar = parse_ok("a.example; dkim=pass (a \\) (b) c) (2048-bit\r\n key) header.d=x.example");
    ASSERT_EQ(ar.results.size(), 1u);
    EXPECT_EQ(ar.results[0].comments, (std::vector<std::string>{"a ) (b) c", "2048-bit key"}));
}

// ---- §2.2 pvalue = [CFWS] ( value / [ [ local-part ] "@" ] domain-name ) [CFWS] ------------

TEST(AuthResultsGrammar, PropertyValues) {
    const std::pair<const char*, const char*> cases[] = {
        {R"(header.b="EjCbN/c3")", "EjCbN/c3"},                  // quoted-string (RFC 9991 example)
        {R"(header.b="a\"b\\c")", "a\"b\\c"},                    // quoted-pairs
        {"header.b=\"x;y (z)\"", "x;y (z)"},                     // ';' and '(' inside quotes
        {R"(header.b="")", ""},                                  // empty quoted-string
        {"header.b=oF80QtY/", "oF80QtY/"},                       // real-world run with '/'
        {"policy.bits=128/128", "128/128"},                      // ditto
        {"policy.address=a=b@c", "a=b@c"},                       // '=' inside an unquoted value
        {"smtp.mailfrom=user@example.com", "user@example.com"},  // local-part "@" domain
        {"header.i=@example.com", "@example.com"},               // "@" domain
        {"header.s=", ""},                                       // empty value, tolerated
        {"header.from=.net", ".net"},                            // odd but a run
        {"header.b=\"caf\xc3\xa9\"", "caf\xc3\xa9"},             // UTF-8 (RFC 6532)
    };
    for (const auto& [prop, value] : cases) {
        std::string field = std::string("a.example; dkim=pass ") + prop + " header.s=sel";
        auto ar = parse_ok(field);
        ASSERT_EQ(ar.results.size(), 1u) << field;
        ASSERT_EQ(ar.results[0].properties.size(), 2u) << field;
        EXPECT_EQ(ar.results[0].properties[0].value, value) << field;
        EXPECT_EQ(ar.results[0].properties[1].value, "sel") << field;
    }
}

// ---- §2.2 reasonspec = "reason" [CFWS] "=" [CFWS] value -------------------------------------

TEST(AuthResultsGrammar, Reason) {
    auto ar = parse_ok(R"(a.example; spf=fail reason="bad thing" smtp.mailfrom=x.example)");
    ASSERT_EQ(ar.results.size(), 1u);
    EXPECT_EQ(ar.results[0].reason, "bad thing");
    EXPECT_EQ(ar.results[0].find("smtp", "mailfrom")->value, "x.example");
    auto token = parse_ok("a.example; spf=fail reason = bad");
    EXPECT_EQ(token.results[0].reason, "bad");
}

// ---- §2.2 authserv-id [CFWS authres-version] and no-result ----------------------------------

struct HeadCase {
    const char* field;
    const char* authserv_id;
    std::optional<unsigned> version;
    bool no_result;
    std::size_t results;
};

TEST(AuthResultsGrammar, AuthservIdVersionAndNone) {
    const HeadCase cases[] = {
        {"example.com; none", "example.com", {}, true, 0},
        {"example.com;none", "example.com", {}, true, 0},
        {"example.com; NONE", "example.com", {}, true, 0},
        {"example.com; none;", "example.com", {}, true, 0},  // trailing ';' tolerated
        {"\"quoted id\"; none", "quoted id", {}, true, 0},   // value = quoted-string
        {"(c) example.com (c) 1 (c); none", "example.com", 1u, true, 0},
        {"example.com 1; dkim=pass", "example.com", 1u, false, 1},
        {"Authentication-Results: example.com; none", "example.com", {}, true, 0},
        {"authentication-results : example.com; none", "example.com", {}, true, 0},
        {"example.com", "example.com", {}, false, 0},   // no ';' at all: tolerated
        {"example.com;", "example.com", {}, false, 0},  // missing "none": tolerated
        {"example.com; ; ;", "example.com", {}, false, 0},
        {"example.com; none=pass", "example.com", {}, false, 1},  // a method called none
        {"Example.COM; none", "Example.COM", {}, true, 0},        // case kept for the caller
        // OpenDMARC's AuthservIDWithJobID form, `host/jobid` unquoted: "/" is an RFC 2045
        // tspecial, so not an RFC 8601 §2.2 token; accepted in this position only, as one id.
        {"mx.example/4XyZ1; dkim=pass header.d=a.example", "mx.example/4XyZ1", {}, false, 1},
        {"mx.example/Q01 1; none", "mx.example/Q01", 1u, true, 0},
        {"\"mx.example/Q01\"; none", "mx.example/Q01", {}, true, 0},  // the quoted (RFC) form
    };
    for (const auto& c : cases) {
        auto ar = parse_ok(c.field);
        EXPECT_EQ(ar.authserv_id, c.authserv_id) << c.field;
        EXPECT_EQ(ar.version, c.version) << c.field;
        EXPECT_EQ(ar.no_result, c.no_result) << c.field;
        EXPECT_EQ(ar.results.size(), c.results) << c.field;
    }
}

// ---- Errors that make the whole field unusable -----------------------------------------------

TEST(AuthResultsGrammar, FieldErrors) {
    const std::pair<std::string, Errc> cases[] = {
        {"", Errc::syntax},                             // §2.2: authserv-id required
        {";none", Errc::syntax},                        // ditto
        {"  (only a comment) ", Errc::syntax},          // ditto
        {"\"\"; none", Errc::syntax},                   // empty authserv-id
        {"example.com; none dkim=pass", Errc::syntax},  // §2.2: no-result excludes resinfo
        {"example.com; none; dkim=pass", Errc::syntax},
        {"example.com; none none", Errc::syntax},
        {"example.com (unterminated; none", Errc::syntax},
        {"example.com(glued); none", Errc::syntax},  // where does the id end? (§5 trust)
        {"example.com/; none", Errc::syntax},        // `host/jobid` needs a job id
        {"/jobid; none", Errc::syntax},              // ... and a host
        {"example.com/a/b; none", Errc::syntax},     // one '/' only (RFC 2045 tspecial)
        {"example.com/(c)a; none", Errc::syntax},    // nothing but token characters around it
        {"example.com foo bar = x; none", Errc::syntax},
        {"example.com\x01; none", Errc::syntax},
    };
    for (const auto& [field, code] : cases) {
        auto ar = parse_authentication_results(field);
        ASSERT_FALSE(ar.has_value()) << field;
        EXPECT_EQ(ar.error().code, code) << field << ": " << ar.error().message;
    }
}

TEST(AuthResultsLimits, EachBoundIsAnExplicitLimitError) {
    auto expect_limit = [](const std::string& field, const char* what) {
        auto ar = parse_authentication_results(field);
        ASSERT_FALSE(ar.has_value()) << what;
        EXPECT_EQ(ar.error().code, Errc::limit) << what << ": " << ar.error().message;
    };
    // kMaxHeaderFieldBytes
    expect_limit("a.example; dkim=pass (" + std::string(limits::kMaxHeaderFieldBytes, 'x') + ")",
                 "field size");
    // kMaxCommentDepth, in the authserv part, in a resinfo and in a skipped resinfo
    const std::string deep = std::string(limits::kMaxCommentDepth + 1, '(') + "x" +
                             std::string(limits::kMaxCommentDepth + 1, ')');
    expect_limit(deep + " a.example; none", "comment depth before the id");
    expect_limit("a.example; dkim=pass " + deep, "comment depth in a resinfo");
    expect_limit("a.example; dkim=pass == " + deep, "comment depth in a skipped resinfo");
    const std::string ok_depth = std::string(limits::kMaxCommentDepth, '(') + "x" +
                                 std::string(limits::kMaxCommentDepth, ')');
    EXPECT_TRUE(parse_authentication_results("a.example; dkim=pass " + ok_depth).has_value());
    // kMaxAuthResProperties
    std::string props = "a.example; dkim=pass";
    for (std::size_t i = 0; i <= limits::kMaxAuthResProperties; ++i) props += " header.x=1";
    expect_limit(props, "properties");
    // kMaxAuthResVersionDigits, for authres-version and method-version
    expect_limit("a.example 1234567890; none", "authres-version digits");
    expect_limit("a.example; dkim/1234567890=pass", "method-version digits");
    EXPECT_EQ(parse_authentication_results("a.example 123456789; none")->version, 123456789u);
    // kMaxAuthResSkipped
    std::string junk = "a.example";
    for (std::size_t i = 0; i <= limits::kMaxAuthResSkipped; ++i) junk += "; junk";
    expect_limit(junk, "skipped items");
}

// ---- Tolerance: skip per resinfo, never the field (standards.md §4) --------------------------

struct SkipCase {
    const char* field;
    std::vector<std::string> methods;  // results kept, in order
    std::vector<std::string> skipped;  // texts recorded as skipped, in order
};

TEST(AuthResultsTolerance, SkipsWhatItDoesNotUnderstand) {
    const SkipCase cases[] = {
        // Outlook: repeated authserv-id and a property without a ptype.
        {"outlook.com; spf=pass smtp.mailfrom=a.example; outlook.com; dkim=pass header.d=a.example;"
         " dmarc=pass action=none header.from=a.example;",
         {"spf", "dkim", "dmarc"},
         {"outlook.com", "action=none"}},
        // Yahoo legacy: "from=" pairs before and between resinfos.
        {"mta.yahoo.com  from=a.example; domainkeys=neutral (no sig);  from=b.example; dkim=pass",
         {"domainkeys", "dkim"},
         {"from=a.example", "from=b.example"}},
        // Malformed methodspecs (RFC 8601 §2.2 method-version is 1*DIGIT).
        {"a.example; foo / bar = test; dkim/x=pass; spf=pass",
         {"spf"},
         {"foo / bar = test", "dkim/x=pass"}},
        // A value glued to an unterminated comment swallows the rest of the field.
        {"a.example; spf=pass; dkim=pass header.d=x(.y; dmarc=pass",
         {"spf"},
         {"dkim=pass header.d=x(.y; dmarc=pass"}},
        // An unterminated quoted-string likewise.
        {"a.example; spf=pass; dkim=pass header.b=\"abc; dmarc=pass",
         {"spf"},
         {"dkim=pass header.b=\"abc; dmarc=pass"}},
        // Junk after a value; a control character; a comment holding one.
        {"a.example; dkim=pass header.d=a.example .b; spf=pass x.y=\x01; arc=pass (\x02); "
         "iprev=pass",
         {"iprev"},
         {"dkim=pass header.d=a.example .b", "spf=pass x.y=\x01", "arc=pass (\x02)"}},
        // A second reason, and a reason after a property, are not reasonspecs (§2.2 order).
        {"a.example; spf=fail reason=a reason=b smtp.helo=h reason=c",
         {"spf"},
         {"reason=b", "reason=c"}},
    };
    for (const auto& c : cases) {
        auto ar = parse_ok(c.field);
        std::vector<std::string> methods;
        for (const auto& r : ar.results) methods.push_back(r.method);
        EXPECT_EQ(methods, c.methods) << c.field;
        std::vector<std::string> skipped;
        for (const auto& s : ar.skipped) {
            skipped.push_back(s.text);
            EXPECT_FALSE(s.why.empty());
        }
        EXPECT_EQ(skipped, c.skipped) << c.field;
    }
}

// ---- DKIM signing domain (RFC 6376 §3.5, OpenDMARC #21) -------------------------------------

TEST(AuthResultsDkimDomain, FromHeaderDElseHeaderI) {
    const std::pair<const char*, const char*> ok[] = {
        {"header.d=Example.COM", "example.com"},
        {"header.i=@sub.example.com", "sub.example.com"},
        {"header.i=user@example.com", "example.com"},
        {"header.i=\"odd@user\"@example.com", "example.com"},
        {"header.i=@other.example header.d=example.com", "example.com"},  // d wins
    };
    for (const auto& [props, want] : ok) {
        auto ar = parse_ok(std::string("a.example; dkim=pass ") + props);
        ASSERT_EQ(ar.results.size(), 1u) << props;
        auto d = dkim_signing_domain(ar.results[0]);
        ASSERT_TRUE(d.has_value()) << props;
        EXPECT_EQ(*d, want) << props;
    }
    const std::pair<const char*, Errc> bad[] = {
        {"header.s=sel", Errc::not_found},
        {"header.d=\"bad(chars\"", Errc::invalid_value},
        {"header.d=a_b.example", Errc::invalid_value},
        {"header.i=nodomain", Errc::invalid_value},
        {"header.d=", Errc::invalid_value},
    };
    for (const auto& [props, code] : bad) {
        auto ar = parse_ok(std::string("a.example; dkim=pass ") + props);
        ASSERT_EQ(ar.results.size(), 1u) << props;
        auto d = dkim_signing_domain(ar.results[0]);
        ASSERT_FALSE(d.has_value()) << props;
        EXPECT_EQ(d.error().code, code) << props;
    }
}

// ---- Regressions (opendmarc.md §8) -----------------------------------------------------------

// CVE-2020-12272: the verifier wrote header.d=example.net(.example.com for a signature whose key
// lives under the attacker's example.com; OpenDMARC read "(" as a comment and credited
// example.net. RFC 5322 §3.2.2: the comment never closes, so the resinfo is malformed; and a
// value glued to '(' is ambiguous anyway. We skip the resinfo: nothing is credited.
TEST(AuthResultsRegression, Cve_2020_12272_CommentInHeaderD) {
    for (const char* field : {
             "mx.example.org; dkim=pass header.d=example.net(.example.com",
             "mx.example.org; dkim=pass header.d=example.net(.x).example.com header.s=s",
             "mx.example.org; dkim=pass header.d=example.net(.x) header.s=s",
             "mx.example.org; dkim=pass header.d=example.net(.example.com; spf=pass",
         }) {
        auto ar = parse_ok(field);
        for (const auto& r : ar.results) {
            EXPECT_NE(r.method, "dkim") << field;
            for (const auto& p : r.properties) {
                EXPECT_NE(p.value, "example.net(.example.com") << field;
                EXPECT_NE(p.value, "example.net") << field;
            }
        }
        ASSERT_EQ(ar.skipped.size(), 1u) << field;
        EXPECT_NE(ar.skipped[0].why.find("CVE-2020-12272"), std::string::npos)
            << field << ": " << ar.skipped[0].why;
    }
    // Quoted, the same text is one value; the signing-domain helper refuses it.
    auto quoted = parse_ok("mx.example.org; dkim=pass header.d=\"example.net(.example.com\"");
    ASSERT_EQ(quoted.results.size(), 1u);
    EXPECT_EQ(quoted.results[0].find("header", "d")->value, "example.net(.example.com");
    EXPECT_EQ(dkim_signing_domain(quoted.results[0]).error().code, Errc::invalid_value);
}

// OpenDMARC #441: more than 16 (crash at >= 28) results overflowed a stack array.
TEST(AuthResultsRegression, Issue441_ManyResults) {
    auto field_with = [](std::size_t n) {
        std::string field = "x";
        for (std::size_t i = 1; i <= n; ++i) field += "; x" + std::to_string(i) + "=pass";
        return field;
    };
    auto forty = parse_ok(field_with(40));
    ASSERT_EQ(forty.results.size(), 40u);
    EXPECT_EQ(forty.results[39].method, "x40");
    EXPECT_TRUE(parse_authentication_results(field_with(limits::kMaxAuthResResults)).has_value());
    auto over = parse_authentication_results(field_with(limits::kMaxAuthResResults + 1));
    ASSERT_FALSE(over.has_value());
    EXPECT_EQ(over.error().code, Errc::limit);
}

// OpenDMARC §8.2 #20: values over ~1 KB were truncated, losing the DKIM pass at the end.
TEST(AuthResultsRegression, OpenDmarcBug20_LongField) {
    std::string field = "mx.test; spf=none (" + std::string(1100, 'x') +
                        ") smtp.mailfrom=e.example; dkim=pass header.d=victim.example "
                        "header.s=s1 header.b=\"" +
                        std::string(2000, 'B') + "\"";
    ASSERT_GT(field.size(), 3000u);
    auto ar = parse_ok(field);
    ASSERT_EQ(ar.results.size(), 2u);
    EXPECT_EQ(ar.results[0].comments[0].size(), 1100u);
    EXPECT_EQ(ar.results[1].result, "pass");
    EXPECT_EQ(dkim_signing_domain(ar.results[1]).value_or(""), "victim.example");
    EXPECT_EQ(ar.results[1].find("header", "b")->value.size(), 2000u);
}

// OpenDMARC §8.2 #21: a DKIM result with only header.i=@d was ignored.
TEST(AuthResultsRegression, OpenDmarcBug21_HeaderIOnly) {
    auto ar = parse_ok("mx.google.com; dkim=pass header.i=@fastmail.com header.s=fm1");
    ASSERT_EQ(ar.results.size(), 1u);
    EXPECT_EQ(dkim_signing_domain(ar.results[0]).value_or(""), "fastmail.com");
}

// OpenDMARC §8.2 #18: header.d=bad(chars made the whole message TEMPFAIL. Only that result
// is ignored; the field stays usable. When the '(' never closes, RFC 5322 §3.2.2 makes the rest
// of the field a (broken) comment, so nothing after it is credited either.
TEST(AuthResultsRegression, OpenDmarcBug18) {
    auto closed = parse_ok(
        "mx.example.org; dkim=pass header.d=bad(chars) header.s=x; spf=pass "
        "smtp.mailfrom=ok.example");
    ASSERT_EQ(closed.results.size(), 1u);
    EXPECT_EQ(closed.results[0].method, "spf");
    EXPECT_EQ(closed.skipped.size(), 1u);
    auto open =
        parse_ok("mx.example.org; dkim=pass header.d=bad(chars; spf=pass smtp.mailfrom=ok.example");
    EXPECT_TRUE(open.results.empty());
    EXPECT_EQ(open.skipped.size(), 1u);
}

// OpenDMARC §8.2 #1: smtp.mailfrom may be a whole address; the value is kept whole, so the
// caller takes the domain after the '@' (not the string starting at it).
TEST(AuthResultsRegression, OpenDmarcBug1_MailfromAddress) {
    auto ar = parse_ok("mx.example.org; spf=pass smtp.mailfrom=bounce@paypal.example");
    ASSERT_EQ(ar.results.size(), 1u);
    EXPECT_EQ(ar.results[0].find("smtp", "mailfrom")->value, "bounce@paypal.example");
}

// OpenDMARC §8.2 #19: a forged field carrying our authserv-id. The parser hands back the id
// exactly (the trust decision is the caller's); it must not be hidden behind a glued comment.
TEST(AuthResultsRegression, OpenDmarcBug19_ForgedOwnIdIsVisible) {
    EXPECT_EQ(parse_ok("(x) MX.Ours.Example; dkim=pass header.d=victim.example").authserv_id,
              "MX.Ours.Example");
    EXPECT_FALSE(parse_authentication_results("mx.ours.example(x); dkim=pass").has_value());
}

// OpenDMARC #267: "id; none" failed to parse.
TEST(AuthResultsRegression, Issue267_IdNone) {
    auto ar = parse_ok("id; none");
    EXPECT_EQ(ar.authserv_id, "id");
    EXPECT_TRUE(ar.no_result);
    EXPECT_TRUE(ar.results.empty());
}

// ---- Formatter (our own field) ----------------------------------------------------------------

AuthResult make(std::string method, std::string result, std::vector<AuthResProperty> props,
                std::vector<std::string> comments = {}) {
    AuthResult r;
    r.method = std::move(method);
    r.result = std::move(result);
    r.properties = std::move(props);
    r.comments = std::move(comments);
    return r;
}

// RFC 6376 §3.5: the AUID's domain is d= or a subdomain of it; anything else, or a value that
// cannot stay one token in a report field, is not kept.
TEST(DkimIdentity, KeptOnlyWhenUnderD) {
    struct Case {
        const char* header_i;
        const char* d;
        const char* kept;
    };
    const std::string long_local(65, 'a');
    const Case cases[] = {
        {"user@example.com", "example.com", "user@example.com"},
        {"@example.com", "example.com", "@example.com"},
        {"User@Mail.EXAMPLE.com", "example.com", "User@mail.example.com"},
        {"user@example.com", "mail.example.com", ""},  // above d
        {"user@badexample.com", "example.com", ""},    // a label boundary, not a suffix
        {"user@other.example", "example.com", ""},
        {"example.com", "example.com", ""},  // no '@'
        {"us er@example.com", "example.com", ""},
        {"us\ner@example.com", "example.com", ""},
        {"user@exa mple.com", "example.com", ""},
        {"user@", "example.com", ""},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(dkim_identity(c.header_i, c.d), c.kept) << c.header_i << " d=" << c.d;
    }
    EXPECT_EQ(dkim_identity(long_local + "@example.com", "example.com"), "");
    EXPECT_EQ(dkim_identity(std::string(64, 'a') + "@example.com", "example.com"),
              std::string(64, 'a') + "@example.com");
}

TEST(AuthResultsFormat, OurHeader) {
    // RFC 7489 §11 / RFC 9989 §9.1 dmarc= with the OpenDMARC-style comment (standards.md §1.15).
    std::vector<AuthResult> dmarc = {
        make("dmarc", "pass", {{"header", "from", "example.com"}, {"policy", "dmarc", "reject"}},
             {"p=reject dis=none"})};
    EXPECT_EQ(format_authentication_results("mx.example.net", dmarc).value(),
              "mx.example.net; dmarc=pass (p=reject dis=none) header.from=example.com "
              "policy.dmarc=reject");
    EXPECT_EQ(format_authentication_results("mx.example.net", {}).value(), "mx.example.net; none");

    std::vector<AuthResult> several = {
        make("spf", "pass", {{"smtp", "mailfrom", "user@example.com"}, {"smtp", "helo", "h"}}),
        make("dkim", "pass", {{"header", "d", "example.com"}, {"header", "b", "oF80QtY/"}}),
    };
    several[1].method_version = 1;
    several[0].reason = "all good";
    EXPECT_EQ(format_authentication_results("mx/1", several).value(),
              "\"mx/1\"; spf=pass reason=\"all good\" smtp.mailfrom=user@example.com "
              "smtp.helo=h; dkim/1=pass header.d=example.com header.b=\"oF80QtY/\"");
}

TEST(AuthResultsFormat, QuotesAndEscapes) {
    const std::pair<std::string, std::string> cases[] = {
        {"token", "token"},
        {"", "\"\""},
        {"a b", "\"a b\""},
        {"a\"b\\c", "\"a\\\"b\\\\c\""},
        {"x;y", "\"x;y\""},
        {"@example.com", "@example.com"},
        {"a=b@example.com", "a=b@example.com"},  // atext allows '=' (RFC 5322 §3.2.3)
        {"a..b@example.com", "\"a..b@example.com\""},
        {"a@b@example.com", "\"a@b@example.com\""},
        {"a@(x)", "\"a@(x)\""},
    };
    for (const auto& [value, written] : cases) {
        std::vector<AuthResult> r = {make("dkim", "pass", {{"header", "i", value}})};
        auto text = format_authentication_results("id", r);
        ASSERT_TRUE(text.has_value()) << value;
        EXPECT_EQ(*text, "id; dkim=pass header.i=" + written) << value;
    }
    std::vector<AuthResult> c = {make("dkim", "pass", {}, {"a (b) \\ c"})};
    EXPECT_EQ(format_authentication_results("id", c).value(), "id; dkim=pass (a \\(b\\) \\\\ c)");
}

// RFC 8601 §2.2 value = token / quoted-string, token as RFC 2045 §5.1: printable US-ASCII but
// SPACE and the tspecials. Every printable character, inside a reason: written bare unless it
// is a tspecial. Method, result, ptype and property are keywords, written in lower case.
TEST(AuthResultsFormat, EveryTspecialAndOnlyThoseAreQuoted) {
    const std::string tspecials = "()<>@,;:\\\"/[]?=";
    for (int i = 0x21; i < 0x7f; ++i) {
        const char c = static_cast<char>(i);
        std::vector<AuthResult> r = {make("SPF", "Pass", {{"SMTP", "MailFrom", "x"}})};
        r[0].reason = std::string("a") + c + "b";
        std::string written = *r[0].reason;
        if (tspecials.find(c) != std::string::npos) {
            written = std::string("\"a") + (c == '"' || c == '\\' ? "\\" : "") + c + "b\"";
        }
        EXPECT_EQ(format_authentication_results("id", r).value(),
                  "id; spf=pass reason=" + written + " smtp.mailfrom=x")
            << c;
    }
}

TEST(AuthResultsFormat, RefusesHeaderInjectionAndNonKeywords) {
    const std::vector<std::vector<AuthResult>> bad = {
        {make("dkim", "pass", {{"header", "d", "a\r\nX-Evil: 1"}})},
        {make("dkim", "pass", {}, {"c\nd"})},
        {make("dk im", "pass", {})},
        {make("dkim", "", {})},
        {make("dkim", "pass", {{"head.er", "d", "x"}})},
        {make("dkim", "pass", {{"header", "", "x"}})},
    };
    for (const auto& r : bad) {
        auto text = format_authentication_results("id", r);
        ASSERT_FALSE(text.has_value());
        EXPECT_EQ(text.error().code, Errc::invalid_value);
    }
    EXPECT_FALSE(format_authentication_results("", {}).has_value());
    EXPECT_FALSE(format_authentication_results("a\rb", {}).has_value());
}

// parse(format(x)) == x for values that need every kind of writing.
TEST(AuthResultsFormat, RoundTrip) {
    std::vector<AuthResult> results = {
        make("dmarc", "fail", {{"header", "from", "example.com"}, {"policy", "dmarc", "reject"}},
             {"p=reject dis=quarantine", "nested (x) \\ y", ""}),
        make("dkim", "pass",
             {{"header", "d", "example.com"},
              {"header", "i", "@example.com"},
              {"header", "b", "a/b+c="},
              {"header", "s", ""},
              {"header", "x", "say \"hi\"; (now)\t\xc3\xa9"}}),
        make("spf", "softfail", {{"smtp", "mailfrom", "first.last+tag=x@example.com"}}),
        make("none", "pass", {}),
    };
    results[1].method_version = 1;
    results[2].reason = "a \"quoted\" reason";
    for (const std::string id : {"mx.example.net", "quoted id", "mx/42", "1"}) {
        auto text = format_authentication_results(id, results);
        ASSERT_TRUE(text.has_value());
        auto back = parse_authentication_results(*text);
        ASSERT_TRUE(back.has_value()) << *text;
        EXPECT_EQ(back->authserv_id, id) << *text;
        EXPECT_EQ(back->results, results) << *text;
        EXPECT_TRUE(back->skipped.empty()) << *text;
        EXPECT_FALSE(back->no_result);
    }
    auto none = parse_authentication_results(format_authentication_results("id", {}).value());
    ASSERT_TRUE(none.has_value());
    EXPECT_TRUE(none->no_result);
}

}  // namespace
}  // namespace dmarc
