// From field parsing: RFC 5322 §3.2-3.4, §3.6.2 and the obsolete syntax of §4, RFC 6854 groups,
// RFC 2047 §5 encoded-words, RFC 6532 UTF-8; the shared from-header vectors; regressions for
// OpenDMARC's From bugs (reference opendmarc.md §8.1 CVE-2019-16378, CVE-2021-34555, §8.2 3-6)
// and the "Composition Kills" ambiguities.
#include "core/from_header.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <iostream>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "core/domain_name.hpp"
#include "core/limits.hpp"

namespace dmarc {
namespace {

using Domains = std::vector<std::string>;

// Author domains of a body, or nullopt for a parse error.
std::optional<Domains> domains_of(std::string_view body) {
    auto from = parse_from_field(body);
    if (!from) return std::nullopt;
    return author_domains(*from);
}

std::string errors_of(std::string_view body) {
    auto from = parse_from_field(body);
    return from ? std::string("(parsed)") : from.error().message;
}

// ---- The shared vectors (tests/data/dmarc-eval/from-header.jsonl) --------------------------

// Some peers' tests hold the whole field ("From: x"), others only the body. A leading field
// name that is_from_field_name accepts is taken off; anything else is a body.
std::string body_of(const std::string& value) {
    auto colon = value.find(':');
    if (colon != std::string::npos && is_from_field_name(value.substr(0, colon))) {
        return value.substr(colon + 1);
    }
    return value;
}

struct VectorExpectation {
    std::optional<Domains> ours;      // nullopt: we refuse the field (a parse error)
    const char* exception = nullptr;  // why we differ from the peer: the RFC text
};

constexpr const char* kNoBareAddressAfterDisplayName =
    "RFC 5322 §3.4: name-addr = [display-name] angle-addr. A display name is only allowed "
    "before <angle brackets>; '\"...\" joe@joe.com' is neither a name-addr nor an addr-spec "
    "(§4.4 obs-local-part = word *(\".\" word) needs '.' between words). OpenDMARC skips the "
    "quoted string and takes what follows; we do not guess.";
constexpr const char* kEveryMailboxIsAnAuthor =
    "RFC 5322 §3.6.2: the From field holds 'the mailbox(es) of the author(s)', so every "
    "mailbox counts; RFC 7489 §6.6.1 / RFC 9989 §5.3.1 leave multi-author evaluation to the "
    "evaluator. OpenDMARC's helper returns only the first domain (the CVE-2019-16378 weakness); "
    "we return both.";

const std::map<std::string, VectorExpectation>& vector_expectations() {
    static const std::map<std::string, VectorExpectation> table = {
        {"opendmarc-finddomain-1", {Domains{"joe.com"}}},
        {"opendmarc-finddomain-2", {std::nullopt, kNoBareAddressAfterDisplayName}},
        {"opendmarc-finddomain-3", {Domains{"joe.com"}}},
        {"opendmarc-finddomain-4", {Domains{"joe.com"}}},
        {"opendmarc-finddomain-5", {Domains{"joe.com"}}},
        {"opendmarc-finddomain-6",
         {std::nullopt,
          "RFC 5322 §3.4: angle-addr = [CFWS] \"<\" addr-spec \">\" [CFWS]. Angle brackets do "
          "not nest, and '<>' holds no addr-spec; '<<<><joe@joe.com>>>' is not a mailbox."}},
        {"opendmarc-finddomain-7", {Domains{"joe.com", "ace.com"}, kEveryMailboxIsAnAuthor}},
        {"opendmarc-finddomain-8", {Domains{"joe.com", "ace.com"}, kEveryMailboxIsAnAuthor}},
        {"opendmarc-finddomain-9",
         {std::nullopt,
          "RFC 5322 §3.6.8: field-name = 1*ftext has no space, so 'Mail From' is not the From "
          "field name and the whole text is a body: a group 'Mail From' (§3.4 group = "
          "display-name \":\" [group-list] \";\" [CFWS]) that is never ended by ';'."}},
        {"opendmarc-finddomain-10", {Domains{"joe.com"}}},
        {"opendmarc-finddomain-11", {Domains{"joe.com"}}},
        {"opendmarc-finddomain-12", {std::nullopt, kNoBareAddressAfterDisplayName}},
        {"opendmarc-finddomain-13", {Domains{"blah.com"}}},
        {"maildmarc-from-1", {Domains{"example.com"}}},
        {"maildmarc-from-2", {Domains{"example.com"}}},
        {"maildmarc-from-3", {Domains{"example.com"}}},
        {"maildmarc-from-4", {Domains{"example.com"}}},
        {"maildmarc-from-5", {Domains{"example.com"}}},
        {"maildmarc-from-6", {Domains{"example.com"}}},
        {"maildmarc-from-7", {Domains{"example.com"}}},
        // Valid, not merely tolerated: §3.4.1 domain = dot-atom = [CFWS] dot-atom-text [CFWS].
        {"maildmarc-from-8", {Domains{"example.com"}}},
        // The peer's null is "no single author domain"; we agree and name both (RFC 5322 §3.6.2).
        {"maildmarc-from-9", {Domains{"example.com", "example2.com"}}},
        {"maildmarc-from-10", {std::nullopt}},
        {"authmilter-multi-from",
         {Domains{"goestheweasel.com", "marcbradshaw.net", "example.com"}}},
        {"spec-from-1", {Domains{"attacker.example"}}},
        {"spec-from-2", {std::nullopt}},
        {"spec-from-3", {Domains{"attacker.example"}}},
        {"spec-from-4", {Domains{"bank.example"}}},
        {"spec-from-5", {Domains{"attacker.example"}}},
        {"spec-from-6", {Domains{}}},
        {"spec-from-7", {Domains{"one.example", "two.example"}}},
        {"spec-from-8", {Domains{"example.com"}}},
        {"spec-from-9", {Domains{}}},  // parsed; the domain literal has no DMARC domain
        {"spec-from-10", {Domains{"example.com"}}},
        {"spec-from-11", {Domains{"xn--bcher-kva.example"}}},
        {"spec-from-12", {Domains{"example.com"}}},
        {"spec-from-13", {Domains{"example.com"}}},
        {"spec-from-14", {std::nullopt}},
    };
    return table;
}

// The peer's single author domain as a DMARC evaluator would use it: nullopt when there is none
// or more than one.
std::optional<std::string> single_domain(const std::optional<Domains>& domains) {
    if (!domains || domains->size() != 1) return std::nullopt;
    return domains->front();
}

TEST(FromHeader, Vectors) {
    std::ifstream in(std::string(DMARC_TEST_DATA) + "/dmarc-eval/from-header.jsonl");
    ASSERT_TRUE(in) << "missing tests/data/dmarc-eval/from-header.jsonl";
    std::size_t passed = 0, excepted = 0, total = 0;
    std::map<std::string, bool> seen;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        ++total;
        auto v = nlohmann::json::parse(line);
        std::string id = v.at("id");
        SCOPED_TRACE(id);
        auto it = vector_expectations().find(id);
        ASSERT_NE(it, vector_expectations().end()) << "vector without an expectation";
        seen[id] = true;
        const VectorExpectation& want = it->second;

        std::optional<Domains> ours;
        bool agrees = false;
        if (v.contains("headers")) {
            // Several header fields: every From field (including "From :") is parsed and the
            // author domains of all of them are gathered, as authentication_milter does.
            Domains all;
            bool ok = true;
            for (const std::string header : v.at("headers")) {
                auto colon = header.find(':');
                ASSERT_NE(colon, std::string::npos);
                ASSERT_TRUE(is_from_field_name(header.substr(0, colon))) << header;
                auto got = domains_of(header.substr(colon + 1));
                if (!got) ok = false;
                for (auto& d : got.value_or(Domains{})) {
                    if (std::find(all.begin(), all.end(), d) == all.end()) all.push_back(d);
                }
            }
            if (ok) ours = all;
            Domains peer;
            for (const std::string result : v.at("peer_result")) {
                auto at = result.find("header.from=");
                ASSERT_NE(at, std::string::npos);
                auto d = result.substr(at + 12);
                peer.push_back(d.substr(0, d.find(' ')));
            }
            agrees = ours == peer;
        } else {
            std::string body = body_of(v.at("from_value"));
            ours = domains_of(body);
            if (v.contains("peer_domain")) {
                std::optional<std::string> peer;
                if (!v.at("peer_domain").is_null()) peer = v.at("peer_domain").get<std::string>();
                agrees = single_domain(ours) == peer;
            } else {
                const auto& expected = v.at("author_domains");
                if (expected.is_null()) {
                    agrees = !ours || ours->empty();
                } else {
                    agrees = ours && *ours == expected.get<Domains>();
                }
            }
        }
        EXPECT_EQ(ours, want.ours) << errors_of(body_of(v.value("from_value", std::string())));
        if (agrees) {
            EXPECT_EQ(want.exception, nullptr) << "an exception is listed but we agree";
            ++passed;
        } else {
            EXPECT_NE(want.exception, nullptr) << "we differ from the peer without a reason";
            ++excepted;
        }
    }
    EXPECT_EQ(total, 38u);
    EXPECT_EQ(seen.size(), vector_expectations().size()) << "an expectation has no vector";
    EXPECT_EQ(passed + excepted, total);
    EXPECT_EQ(excepted, 6u);
    std::cout << "[ vectors  ] from-header.jsonl: " << passed << " passed, " << excepted
              << " excepted, of " << total << "\n";
}

// ---- Grammar features, one table row each ---------------------------------------------------

struct Good {
    const char* rfc;
    std::string body;
    Domains domains;
    std::string display_name = "";  // of the first mailbox
    std::string local_part = "";    // of the first mailbox
};

TEST(FromHeader, WellFormedFields) {
    const Good cases[] = {
        {"RFC 5322 §3.4 addr-spec", "user@example.com", {"example.com"}, "", "user"},
        {"RFC 5322 §3.4 angle-addr without display name",
         "<user@example.com>",
         {"example.com"},
         "",
         "user"},
        {"RFC 5322 §3.4 name-addr; §4.1 obs-phrase with '.' (Appendix A.1.2)",
         "Joe Q. Public <john.q.public@example.com>",
         {"example.com"},
         "Joe Q. Public",
         "john.q.public"},
        {"RFC 5322 §3.2.4 quoted-string display name with specials and quoted-pairs",
         "\"Giant; \\\"Big\\\" Box\" <sysservices@example.net>",
         {"example.net"},
         "Giant; \"Big\" Box",
         "sysservices"},
        {"RFC 5322 §3.2.2 nested comment with a quoted-pair, comments in the addr-spec (A.5)",
         "Pete(A nice \\) chap) <pete(his account)@silly.test(his host)>",
         {"silly.test"},
         "Pete",
         "pete"},
        {"RFC 5322 §3.2.2 nested comments",
         "(a (b (c) d) e) user@example.com",
         {"example.com"},
         "",
         "user"},
        {"RFC 5322 §3.2.2 FWS: folded CRLF WSP between tokens",
         "Joe\r\n <joe@example.com>",
         {"example.com"},
         "Joe",
         "joe"},
        {"RFC 5322 §3.4.1 dot-atom = [CFWS] dot-atom-text [CFWS]: folding inside the brackets",
         "Joe <joe@\r\n\texample.com\r\n >",
         {"example.com"},
         "Joe",
         "joe"},
        {"RFC 5322 §4.2 obs-FWS: several folds in a row",
         "Joe\r\n \r\n <joe@example.com>",
         {"example.com"},
         "Joe",
         "joe"},
        {"RFC 5322 §2.2.3 unfolding: a bare-LF fold as MTAs hand it over",
         "Joe\n\t<j@example.com>",
         {"example.com"},
         "Joe",
         "j"},
        {"RFC 5322 §3.6.2 from = \"From:\" mailbox-list CRLF: the terminating CRLF",
         "user@example.com\r\n",
         {"example.com"},
         "",
         "user"},
        {"RFC 5322 §3.4.1 WSP inside angle brackets",
         " < user@example.com > ",
         {"example.com"},
         "",
         "user"},
        {"RFC 6854 §2.1 empty group in From", "Undisclosed recipients:;", {}},
        {"RFC 5322 §3.4 group with members (Appendix A.1.3)",
         "A Group:Ed Jones <c@a.test>,joe@where.test,John <jdoe@one.test>;",
         {"a.test", "where.test", "one.test"},
         "Ed Jones",
         "c"},
        {"RFC 5322 §3.4 group-list = CFWS", "Group: (nobody) ;", {}},
        {"RFC 5322 §4.4 obs-group-list = 1*([CFWS] \",\") [CFWS]", "Group:, ,;", {}},
        {"RFC 6854 address-list: a group then a mailbox",
         "G:;, joe@example.com",
         {"example.com"},
         "",
         "joe"},
        {"RFC 5322 §4.4 obs-mbox-list: empty elements",
         ",a@example.com,, (x) ,b@example.org,",
         {"example.com", "example.org"},
         "",
         "a"},
        {"RFC 5322 §4.4 obs-angle-addr with a source route",
         "<@r1.example,@r2.example:user@example.com>",
         {"example.com"},
         "",
         "user"},
        {"RFC 5322 §4.4 obs-domain-list = *(CFWS / \",\") \"@\" domain *(\",\" [CFWS] [\"@\" "
         "domain])",
         "Joe <,@r1.example,,@[192.0.2.1]:user@example.com>",
         {"example.com"},
         "Joe",
         "user"},
        {"RFC 5322 §4.4 obs-local-part = word *(\".\" word) with a quoted word",
         "\"john\".doe@example.com",
         {"example.com"},
         "",
         "john.doe"},
        {"RFC 5322 §4.4 obs-local-part with CFWS around '.'",
         "john (c) . doe@example.com",
         {"example.com"},
         "",
         "john.doe"},
        {"RFC 5322 §3.4.1 quoted-string local part with a space",
         "\"john doe\"@example.com",
         {"example.com"},
         "",
         "john doe"},
        {"RFC 5322 §3.2.4 quoted-string = DQUOTE *([FWS] qcontent) [FWS] DQUOTE may be empty",
         "\"\"@example.com",
         {"example.com"},
         "",
         ""},
        {"RFC 5322 §3.4.1 quoted local part holding '@': the domain follows the last unquoted '@'",
         "\"evil@attacker.example\"@bank.example",
         {"bank.example"},
         "",
         "evil@attacker.example"},
        {"RFC 5322 §4.4 obs-domain = atom *(\".\" atom) with CFWS",
         "user@example (c) . com",
         {"example.com"},
         "",
         "user"},
        {"RFC 5322 §3.4.1 domain-literal: no DNS domain", "user@[192.0.2.1]", {}, "", "user"},
        {"RFC 5322 §3.4.1 domain-literal, IPv6 (RFC 5321 §4.1.3 form)",
         "Joe <user@[IPv6:2001:db8::1]>",
         {},
         "Joe",
         "user"},
        {"RFC 2047 §5 (3) encoded-word in a display name, left encoded",
         "=?utf-8?Q?J=C3=B6rg?= <j@example.com>",
         {"example.com"},
         "=?utf-8?Q?J=C3=B6rg?=",
         "j"},
        {"RFC 2047 §5: an encoded-word inside a quoted display name is plain text",
         "\"=?utf-8?B?YWRtaW5AYmFuay5leGFtcGxl?=\" <j@example.com>",
         {"example.com"},
         "=?utf-8?B?YWRtaW5AYmFuay5leGFtcGxl?=",
         "j"},
        {"RFC 6532 §3.2 UTF-8 in display name, local part and domain; RFC 7489 §6.6.1 A-label",
         "Jörg <jörg@Bücher.example>",
         {"xn--bcher-kva.example"},
         "Jörg",
         "jörg"},
        {"RFC 7489 §6.6.1 A-label given as such",
         "u@XN--BCHER-KVA.example",
         {"xn--bcher-kva.example"},
         "",
         "u"},
        {"RFC 4343 case-insensitive; one trailing root dot dropped",
         "user@Example.COM.",
         {"example.com"},
         "",
         "user"},
        {"RFC 5322 §3.2.3 atext includes the apostrophe",
         "Davide D'Marco <o'neil@example.com>",
         {"example.com"},
         "Davide D'Marco",
         "o'neil"},
        {"RFC 5322 §3.2.2 comment after the address is not an address",
         "evil@attacker.example (admin@bank.example)",
         {"attacker.example"},
         "",
         "evil"},
        {"RFC 5322 §3.2.4 quoted display name holding an address",
         "\"a@bank.example\" <e@x.example>",
         {"x.example"},
         "a@bank.example",
         "e"},
        {"RFC 5322 §3.2.2 WSP is SP or HTAB",
         "Joe\t<\tjoe@example.com\t>",
         {"example.com"},
         "Joe",
         "joe"},
        {"RFC 5322 §4.1 obs-qtext: a control byte in a quoted display name",
         "\"a\x01"
         "b\" <j@example.com>",
         {"example.com"},
         "a\x01"
         "b",
         "j"},
        {"RFC 5322 §3.2.1 quoted-pair of a UTF-8 character (RFC 6532 §3.2 VCHAR)",
         "\"\\ö\" <j@example.com>",
         {"example.com"},
         "ö",
         "j"},
    };
    for (const Good& c : cases) {
        SCOPED_TRACE(std::string(c.rfc) + " | " + c.body);
        auto from = parse_from_field(c.body);
        ASSERT_TRUE(from.has_value()) << from.error().message;
        EXPECT_EQ(author_domains(*from), c.domains);
        if (!from->mailboxes.empty()) {
            EXPECT_EQ(from->mailboxes.front().display_name, c.display_name);
            EXPECT_EQ(from->mailboxes.front().local_part, c.local_part);
        }
    }
}

struct Bad {
    const char* rfc;
    std::string body;
    Errc code = Errc::syntax;
};

TEST(FromHeader, MalformedFieldsAreErrors) {
    const Bad cases[] = {
        {"RFC 5322 §3.6.2: a mailbox-list needs a mailbox", ""},
        {"RFC 5322 §3.6.2: white space is not a mailbox", " \t "},
        {"RFC 5322 §4.4 obs-mbox-list still needs one mailbox", ",,"},
        {"RFC 5322 §3.2.2: a comment is not a mailbox", "(joe@example.com)"},
        {"RFC 5322 §3.4 addr-spec needs \"@\" domain", "joe"},
        {"RFC 5322 §3.4 addr-spec needs a domain", "joe@"},
        {"RFC 5322 §3.4.1 local-part is not empty", "@example.com"},
        {"RFC 5322 §3.4: a display name alone is not a mailbox", "\"Test 1.1.5\""},
        {"RFC 5322 §3.4: '<>' holds no addr-spec", "<>"},
        {"RFC 5322 §3.4: '<' must be closed", "<user@example.com"},
        {"RFC 5322 §3.4: '<' must be closed (display name)", "Joe <user@example.com"},
        {"RFC 5322 §3.4: unbalanced '>'", "user@example.com>"},
        {"RFC 5322 §3.4: angle brackets do not nest", "<<user@example.com>>"},
        {"RFC 5322 §3.4: angle-addr without '@'", "Joe <user>"},
        {"RFC 5322 §3.4: garbage after a name-addr", "Joe <user@example.com> extra"},
        {"RFC 5322 §3.4: a ';' outside a group (RFC 9991's example report From)",
         "DMARC Filter <DMARC@gen.example>;"},
        {"RFC 5322 §3.4: two addresses need a ','", "<a@example.com> <b@example.org>"},
        {"RFC 5322 §3.4: two addresses need a ',' (bare)", "<a@example.com>b@example.org"},
        {"RFC 5322 §3.2.4: unterminated quoted string", "\"Joe <j@example.com>"},
        {"RFC 5322 §3.2.2: unterminated comment", "(Joe <j@example.com>"},
        {"RFC 5322 §3.2.2: unbalanced ')'", "Joe) <j@example.com>"},
        {"RFC 5322 §3.4.1: unterminated domain literal", "user@[192.0.2.1"},
        {"RFC 5322 §3.4.1: dtext excludes '['", "user@[1[2]"},
        {"RFC 5322 §3.4.1: ']' outside a domain literal", "user@example.com]"},
        {"RFC 5322 §3.4.1 dot-atom-text: no doubled '.'", "a..b@example.com"},
        {"RFC 5322 §3.4.1 dot-atom-text: no leading '.'", ".a@example.com"},
        {"RFC 5322 §3.4.1 dot-atom-text: no trailing '.' in a local part", "a.@example.com"},
        {"RFC 5322 §3.4.1 domain: no empty label", "user@example..com"},
        {"RFC 5322 §3.4.1 domain: no leading '.'", "user@.example.com"},
        {"RFC 5322 §3.4.1 domain: only one trailing root dot is dropped", "user@example.com.."},
        {"RFC 5322 §3.4: words not joined by '.' are no local part", "a b@example.com"},
        {"RFC 5322 §3.4: a display name needs angle brackets", "Joe Smith joe@example.com"},
        {"RFC 5322 §3.2.5: a phrase cannot start with '.'", ".Joe <j@example.com>"},
        {"RFC 5322 §3.4: one unquoted '@' per addr-spec", "a@attacker.example@bank.example"},
        {"RFC 5322 §3.4.1: domain is not a quoted string", "user@\"example.com\""},
        {"RFC 5322 §3.2.1: '\\' only quotes inside quoted strings and comments",
         "a\\b@example.com"},
        {"RFC 5322 §3.2.3: a control byte is not atext",
         "a\x01"
         "b@example.com"},
        {"RFC 5322 §3.2.1 quoted-pair: not before NUL",
         std::string("\"a\\\0\" <j@example.com>", 21)},
        {"RFC 5322 §3.2.4: NUL in a quoted string", std::string("\"a\0\" <j@example.com>", 20)},
        {"RFC 5322 §3.2.2: NUL in a comment", std::string("(\0) j@example.com", 17)},
        {"RFC 5322 §3.2.3: NUL between an address and another",
         std::string("admin@bank.example\0@attacker.example", 36)},
        {"RFC 5322 §2.2: CR only as part of CRLF", "Joe\r<j@example.com>"},
        {"RFC 5322 §3.2.2 FWS: a line break must be followed by WSP", "Joe\n<j@example.com>"},
        {"RFC 5322 §2.2: a line break ends the field (header injection)",
         "a@example.com\r\nBcc: x@example.org"},
        {"RFC 6532 §3.1: UTF-8 must be well-formed (truncated)", "J\xC3 <j@example.com>"},
        {"RFC 6532 §3.1: UTF-8 must be well-formed (overlong '/')",
         "j@a\xC0\xAF"
         "b.example"},
        {"RFC 6532 §3.1: UTF-8 must be well-formed (surrogate)", "\"\xED\xA0\x80\" <j@x.example>"},
        {"RFC 6532 §3.1: UTF-8 must be well-formed (stray byte in a comment)",
         "(\xFF) j@example.com"},
        {"RFC 2047 §5 (3): no encoded-word in an addr-spec (local part)",
         "=?utf-8?B?YWRtaW4=?=@example.com"},
        {"RFC 2047 §5 (3): no encoded-word in an addr-spec (quoted local part)",
         "\"=?utf-8?Q?a?=\"@example.com"},
        {"RFC 2047 §5 (3): no encoded-word in an addr-spec (in angle brackets)",
         "Joe <=?utf-8?Q?x?=@example.com>"},
        {"RFC 5322 §3.4: a group is ended by ';'", "G: a@example.com"},
        {"RFC 5322 §3.4: a group is ended by ';' (empty)", "Undisclosed:"},
        {"RFC 5322 §3.4: group-list holds mailboxes, not groups", "G1: G2: a@example.com;;"},
        {"RFC 5322 §3.4: a group has a display name", ":;"},
        {"RFC 5322 §3.4: garbage after a group", "G:; junk"},
        {"RFC 5322 §3.4: garbage inside a group", "G: a@example.com b@example.com;"},
        {"RFC 5322 §4.4 obs-route ends with ':'", "<@r1.example user@example.com>"},
        {"RFC 5322 §4.4 obs-route: '@' needs a domain", "<@:user@example.com>"},
        {"RFC 1123 §2.1: a host name is letters, digits, hyphen", "user@exa_mple.com",
         Errc::invalid_value},
        {"RFC 1123 §2.1: a label does not start with '-'", "user@-bad.example",
         Errc::invalid_value},
        {"RFC 1035 §2.3.4: label of at most 63 bytes", "user@" + std::string(64, 'a') + ".example",
         Errc::invalid_value},
        {"RFC 5890 §2.3.2.1: a domain must be a valid IDN (U+2603 is DISALLOWED)",
         "user@\xE2\x98\x83.example", Errc::invalid_value},
    };
    for (const Bad& c : cases) {
        SCOPED_TRACE(std::string(c.rfc) + " | " + c.body);
        auto from = parse_from_field(c.body);
        ASSERT_FALSE(from.has_value())
            << "domains: " << testing::PrintToString(author_domains(*from));
        EXPECT_EQ(from.error().code, c.code) << from.error().message;
        EXPECT_FALSE(from.error().message.empty());
    }
}

TEST(FromHeader, MailboxFields) {
    // RFC 6854 §2.1: group members are mailboxes of the field; the group is counted.
    auto from = parse_from_field("Team: a@one.example, B <b@two.example>;, c@[192.0.2.1]");
    ASSERT_TRUE(from.has_value()) << from.error().message;
    ASSERT_EQ(from->mailboxes.size(), 3u);
    EXPECT_EQ(from->groups, 1u);
    EXPECT_EQ(from->mailboxes[0].group, "Team");
    EXPECT_EQ(from->mailboxes[1].group, "Team");
    EXPECT_EQ(from->mailboxes[1].display_name, "B");
    EXPECT_EQ(from->mailboxes[2].group, "");
    EXPECT_TRUE(from->mailboxes[2].domain_literal);
    EXPECT_EQ(from->mailboxes[2].domain, "");
    EXPECT_FALSE(from->mailboxes[0].domain_literal);
    EXPECT_TRUE(has_domain_literal(*from));
    EXPECT_EQ(author_domains(*from), (Domains{"one.example", "two.example"}));
    EXPECT_FALSE(has_domain_literal(*parse_from_field("a@example.com")));
}

TEST(FromHeader, AuthorDomainsAreDistinctInOrder) {
    // RFC 4343: domain names compare case-insensitively; one author domain for both.
    EXPECT_EQ(domains_of("a@example.com, b@EXAMPLE.com"), (Domains{"example.com"}));
    EXPECT_EQ(domains_of("a@b.example, c@a.example, d@B.example., e@a.example"),
              (Domains{"b.example", "a.example"}));
    // Same domain in U-label and A-label form (RFC 5890 §2.3.2.1) is one domain.
    EXPECT_EQ(domains_of("a@bücher.example, b@xn--bcher-kva.example"),
              (Domains{"xn--bcher-kva.example"}));
}

// ---- Header field name (obs-from) -----------------------------------------------------------

TEST(FromHeader, HeaderNameObsFrom) {
    // RFC 5322 §3.6.8: field names are case-insensitive; §4.5.2 obs-from = "From" *WSP ":".
    for (const char* name : {"From", "from", "FROM", "fRoM", "From ", "From\t", "From \t "}) {
        EXPECT_TRUE(is_from_field_name(name)) << name;
    }
    for (const char* name : {"", "Fro", "Froms", "From:", " From", "Mail From", "Resent-From",
                             "X-From", "Sender", "From-", "From\r\n"}) {
        EXPECT_FALSE(is_from_field_name(name)) << name;
    }
}

// ---- Regressions (reference opendmarc.md §8) ------------------------------------------------

TEST(FromHeader, Cve_2019_16378_MultiDomainFrom) {
    // OpenDMARC evaluated only example.com while DKIM passed for thedomain.com -> dmarc=pass.
    // Both author domains must reach the evaluator.
    auto from = parse_from_field("Support <support@example.com>, Support <support@thedomain.com>");
    ASSERT_TRUE(from.has_value()) << from.error().message;
    EXPECT_EQ(from->mailboxes.size(), 2u);
    EXPECT_EQ(author_domains(*from), (Domains{"example.com", "thedomain.com"}));
    // §8.2 item 6: the same for a bare list; a third mailbox in a group still counts.
    EXPECT_EQ(domains_of("a@x.com, b@y.com, G: c@z.com;"), (Domains{"x.com", "y.com", "z.com"}));
}

TEST(FromHeader, Cve_2021_34555_DomainlessMailbox) {
    // OpenDMARC 1.4.1 dereferenced NULL here. RFC 5322 §3.4: addr-spec = local-part "@" domain.
    for (const char* body :
         {"user1@blackops.org, user2, user3@blackops.org", "user2", "user1@blackops.org, user2",
          "user2, user3@blackops.org", "G: user1@blackops.org, user2;"}) {
        auto from = parse_from_field(body);
        ASSERT_FALSE(from.has_value()) << body;
        EXPECT_EQ(from.error().code, Errc::syntax);
        EXPECT_NE(from.error().message.find("'user2'"), std::string::npos) << from.error().message;
        EXPECT_NE(from.error().message.find("no '@domain'"), std::string::npos)
            << from.error().message;
    }
}

TEST(FromHeader, OpenDmarcBug3_TrailingAngle) {
    // OpenDMARC took "victim>" as the domain, found no record and passed the spoof (#113/#174).
    for (const char* body : {"user@victim>", "user@paypal.example>", "G: user@paypal.example>;",
                             "<user@paypal.example>>"}) {
        auto from = parse_from_field(body);
        ASSERT_FALSE(from.has_value()) << body;
        EXPECT_EQ(from.error().code, Errc::syntax) << body;
        EXPECT_NE(from.error().message.find("'>'"), std::string::npos) << from.error().message;
    }
}

TEST(FromHeader, OpenDmarcBug4_EmptyFromBody) {
    // §8.2 item 4 at the parser: "From:" with nothing after it names no author, and says so.
    for (const char* body : {"", "\r\n", " (no one) "}) {
        auto from = parse_from_field(body);
        ASSERT_FALSE(from.has_value());
        EXPECT_NE(from.error().message.find("no mailbox"), std::string::npos)
            << from.error().message;
    }
}

// "Composition Kills" (Chen et al., USENIX Security 2020): From fields that parsers read
// differently. Each must give exactly the RFC 5322 reading or an error, never a pick.
TEST(FromHeader, CompositionKills) {
    struct Case {
        const char* what;
        std::string body;
        std::optional<Domains> domains;  // nullopt: error
    };
    const Case cases[] = {
        {"unquoted '@' in a display name (RFC 5322 §3.2.5 phrase has no '@')",
         "admin@bank.example <evil@attacker.example>", std::nullopt},
        {"same, folded between the parts", "admin@bank.example\r\n <evil@attacker.example>",
         std::nullopt},
        {"a display name is never an address", "\"admin@bank.example\" <evil@attacker.example>",
         Domains{"attacker.example"}},
        {"a comment is never an address", "evil@attacker.example (admin@bank.example)",
         Domains{"attacker.example"}},
        {"a leading comment is never an address", "(admin@bank.example) <evil@attacker.example>",
         Domains{"attacker.example"}},
        {"encoded-word display name is not decoded (RFC 2047 §6.1 is for display only)",
         "=?utf-8?B?YWRtaW5AYmFuay5leGFtcGxl?= <evil@attacker.example>",
         Domains{"attacker.example"}},
        {"encoded-word as a local part (RFC 2047 §5 (3))",
         "=?utf-8?B?YWRtaW5AYmFuay5leGFtcGxl?=@attacker.example", std::nullopt},
        {"two unquoted '@'", "evil@attacker.example@bank.example", std::nullopt},
        {"quoted local part with '@': the last unquoted '@' decides",
         "\"admin@bank.example\"@attacker.example", Domains{"attacker.example"}},
        {"source route is not the domain (RFC 5322 §4.4)", "<@bank.example:evil@attacker.example>",
         Domains{"attacker.example"}},
        {"two mailboxes: both are authors", "<evil@attacker.example>, <admin@bank.example>",
         Domains{"attacker.example", "bank.example"}},
        {"two angle-addrs without ','", "<admin@bank.example><evil@attacker.example>",
         std::nullopt},
        {"NUL truncation", std::string("admin@bank.example\0<evil@attacker.example>", 42),
         std::nullopt},
        {"';' as a separator", "admin@bank.example;evil@attacker.example", std::nullopt},
        {"backslash-escaped '@' outside quotes", "admin\\@bank.example@attacker.example",
         std::nullopt},
        {"quoted-pair '>' inside a quoted display name",
         "\"admin@bank.example\\>\" <evil@attacker.example>", Domains{"attacker.example"}},
        {"display name with '<' unquoted", "admin<bank.example> <evil@attacker.example>",
         std::nullopt},
        {"a new header line smuggled into the field",
         "evil@attacker.example\r\nFrom: admin@bank.example", std::nullopt},
        {"a domain with a comment in the middle is still one domain (§4.4 obs-domain)",
         "evil@attacker(bank.example).example", Domains{"attacker.example"}},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(std::string(c.what) + " | " + c.body);
        EXPECT_EQ(domains_of(c.body), c.domains) << errors_of(c.body);
    }
}

// ---- Bounds and running time ----------------------------------------------------------------

TEST(FromHeader, MailboxLimit) {
    std::string body;
    for (std::size_t i = 0; i < limits::kMaxFromMailboxes; ++i) {
        body += "u" + std::to_string(i) + "@d" + std::to_string(i) + ".example,";
    }
    auto from = parse_from_field(body);
    ASSERT_TRUE(from.has_value()) << from.error().message;
    EXPECT_EQ(from->mailboxes.size(), limits::kMaxFromMailboxes);
    EXPECT_EQ(author_domains(*from).size(), limits::kMaxFromMailboxes);
    auto over = parse_from_field(body + "one@more.example");
    ASSERT_FALSE(over.has_value());
    EXPECT_EQ(over.error().code, Errc::limit) << over.error().message;
    // Group members count too.
    auto in_group = parse_from_field("G: " + body + "one@more.example;");
    ASSERT_FALSE(in_group.has_value());
    EXPECT_EQ(in_group.error().code, Errc::limit);
}

TEST(FromHeader, CommentDepthLimit) {
    auto nested = [](std::size_t depth) {
        return std::string(depth, '(') + "x" + std::string(depth, ')') + " u@example.com";
    };
    EXPECT_EQ(domains_of(nested(limits::kMaxCommentDepth)), (Domains{"example.com"}));
    auto deep = parse_from_field(nested(limits::kMaxCommentDepth + 1));
    ASSERT_FALSE(deep.has_value());
    EXPECT_EQ(deep.error().code, Errc::limit) << deep.error().message;
}

TEST(FromHeader, FieldSizeLimit) {
    // Exactly at the bound is fine: a valid address padded with a long comment.
    std::string address = "u@example.com ";
    std::string at_limit =
        address + "(" + std::string(limits::kMaxHeaderFieldBytes - address.size() - 2, 'c') + ")";
    ASSERT_EQ(at_limit.size(), limits::kMaxHeaderFieldBytes);
    EXPECT_EQ(domains_of(at_limit), (Domains{"example.com"}));
    auto over = parse_from_field(at_limit + " ");
    ASSERT_FALSE(over.has_value());
    EXPECT_EQ(over.error().code, Errc::limit);
}

TEST(FromHeader, HostileSizesFailQuickly) {
    using Clock = std::chrono::steady_clock;
    const std::size_t n = limits::kMaxHeaderFieldBytes;
    auto repeat = [](std::string_view unit, std::size_t bytes) {
        std::string s;
        while (s.size() + unit.size() <= bytes) s += unit;
        return s;
    };
    const std::string one_mb = "u@example.com, " + std::string(1 << 20, 'a');
    const std::string inputs[] = {
        one_mb,                                 // limit, before any parsing
        std::string(1 << 20, '('),              // limit
        repeat("a ", n),                        // a long phrase with no address
        repeat("a.", n - 1) + "a@example.com",  // a long local part, then a domain
        "u@" + repeat("a.", n - 3) + "a",       // a long domain (over 253 bytes)
        repeat(",", n),                         // only empty list elements
        repeat("<", n),                         // nested angle brackets
        repeat("\"", n),                        // alternating quoted strings
        repeat("=?", n / 2) + "@example.com",   // encoded-word probe over a long local part
        repeat("(a)", n),                       // many comments
        repeat("G:", n),                        // groups in groups
        repeat("a@b.example,", n),              // many mailboxes (limit)
        "\"" + std::string(n - 20, 'q') + "\" <u@example.com>",  // a long display name
    };
    for (const std::string& body : inputs) {
        auto start = Clock::now();
        auto from = parse_from_field(body);
        auto elapsed = std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - start);
        EXPECT_LT(elapsed.count(), 1000) << body.substr(0, 40);
        if (!from) {
            EXPECT_LT(from.error().message.size(), 400u) << "error messages stay short";
        }
    }
    auto huge = parse_from_field(one_mb);
    ASSERT_FALSE(huge.has_value());
    EXPECT_EQ(huge.error().code, Errc::limit);
    EXPECT_NE(huge.error().message.find("over the limit"), std::string::npos);
}

TEST(FromHeader, EveryDomainIsNormalised) {
    // The invariant the fuzz target checks, on the table inputs: a returned domain is its own
    // A-label normal form (RFC 7489 §6.6.1).
    for (const char* body : {"u@EXAMPLE.com.", "u@Bücher.example", "a@x.example, b@X.EXAMPLE",
                             "<@r.example:u@MiXeD.Example>"}) {
        auto from = parse_from_field(body);
        ASSERT_TRUE(from.has_value()) << body;
        for (const auto& d : author_domains(*from)) EXPECT_EQ(*to_a_label_domain(d), d);
    }
}

}  // namespace
}  // namespace dmarc
