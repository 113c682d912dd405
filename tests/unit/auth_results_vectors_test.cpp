// Runs every case of tests/data/auth-results/ar-headers.jsonl (peer parsers' vectors, see
// SOURCE.md there) through parse_authentication_results (RFC 8601 §2.2). Where the peer's
// expectation differs from RFC 8601 the case is an exception, written here with the RFC text,
// and our RFC behaviour is asserted instead. Counts are printed and checked at the end.
#include <fstream>
#include <iostream>
#include <map>
#include <set>
#include <string>
#include <vector>

#include <gtest/gtest.h>
#include <nlohmann/json.hpp>

#include "core/auth_results.hpp"

namespace dmarc {
namespace {

using nlohmann::json;

struct Tally {
    int passed = 0;
    int excepted = 0;
    std::vector<std::string> exceptions;
};

// The RFC text behind each exception (quotations of RFC 8601 §2.2 ABNF are verbatim; the
// §7.9 sentence is paraphrased from memory of the RFC, which the reference notes also say).
const std::string kResinfoSkipped =
    "RFC 8601 §2.2: methodspec = [CFWS] method [CFWS] \"=\" [CFWS] result; method = Keyword "
    "[[CFWS] \"/\" [CFWS] method-version]; method-version = 1*DIGIT; propspec = ptype [CFWS] "
    "\".\" [CFWS] property [CFWS] \"=\" pvalue. The resinfo is malformed, but it is delimited by "
    "';' and the authserv-id is unambiguous, and §7.9 asks consumers to be robust against "
    "malformed fields: we skip that resinfo (recorded in `skipped`) and keep the field instead "
    "of failing it (our rule: never abort a whole field for one resinfo).";
const std::string kQuotedKeyword =
    "RFC 8601 §2.2: method, result, ptype and property are Keywords (RFC 5321 Ldh-str); only "
    "authserv-id (value), reasonspec's value and pvalue may be quoted-strings. A quoted "
    "method is not a methodspec, so the resinfo is skipped, not normalised.";
const std::string kEmptyField =
    "RFC 8601 §2.2: authres-payload = [CFWS] authserv-id ...; the authserv-id is required, "
    "and §5 makes it the basis of trust, so an empty field is a syntax error, not an empty "
    "identifier.";
const std::string kNoPtype =
    "RFC 8601 §2.2: propspec = ptype [CFWS] \".\" [CFWS] property ...; \"address=...\" has no "
    "ptype, so it is not a property: it is skipped and recorded with its value in `skipped`.";

class ArVectors : public ::testing::Test {
  protected:
    static std::vector<json> load() {
        std::ifstream in(std::string(DMARC_TEST_DATA) + "/auth-results/ar-headers.jsonl");
        EXPECT_TRUE(in.good());
        std::vector<json> cases;
        std::string line;
        while (std::getline(in, line)) {
            if (!line.empty()) cases.push_back(json::parse(line));
        }
        return cases;
    }
};

// Results of registered (non "x-") methods, in order, must equal the expected list; expected
// properties must be present with those values (the peers list only some of them).
void check_expect(const json& expect, const AuthenticationResults& ar, const std::string& id) {
    if (expect.contains("authserv_id")) {
        EXPECT_EQ(ar.authserv_id, expect["authserv_id"].get<std::string>()) << id;
    }
    if (expect.contains("version")) {
        ASSERT_TRUE(ar.version.has_value()) << id;
        EXPECT_EQ(*ar.version, expect["version"].get<unsigned>()) << id;
    }
    if (expect.contains("method_version")) {
        ASSERT_FALSE(ar.results.empty()) << id;
        ASSERT_TRUE(ar.results[0].method_version.has_value()) << id;
        EXPECT_EQ(*ar.results[0].method_version, expect["method_version"].get<unsigned>()) << id;
    }
    if (!expect.contains("results") || expect["results"].is_null()) return;
    std::vector<const AuthResult*> registered;
    for (const auto& r : ar.results) {
        if (r.method.rfind("x-", 0) != 0) registered.push_back(&r);
    }
    const auto& want = expect["results"];
    ASSERT_EQ(registered.size(), want.size()) << id;
    for (std::size_t i = 0; i < want.size(); ++i) {
        const AuthResult& got = *registered[i];
        EXPECT_EQ(got.method, want[i][0].get<std::string>()) << id << " #" << i;
        EXPECT_EQ(got.result, want[i][1].get<std::string>()) << id << " #" << i;
        for (const auto& [key, value] : want[i][2].items()) {
            if (key == "reason") {
                ASSERT_TRUE(got.reason.has_value()) << id;
                EXPECT_EQ(*got.reason, value.get<std::string>()) << id;
                continue;
            }
            auto dot = key.find('.');
            ASSERT_NE(dot, std::string::npos) << id << " " << key;
            const auto* p = got.find(key.substr(0, dot), key.substr(dot + 1));
            ASSERT_NE(p, nullptr) << id << " #" << i << " " << key;
            EXPECT_EQ(p->value, value.get<std::string>()) << id << " " << key;
        }
    }
}

const AuthResult* find_method(const AuthenticationResults& ar, std::string_view method) {
    for (const auto& r : ar.results) {
        if (r.method == method) return &r;
    }
    return nullptr;
}

bool skipped_has(const AuthenticationResults& ar, std::string_view text) {
    for (const auto& s : ar.skipped) {
        if (s.text == text) return true;
    }
    return false;
}

// Extra assertions for cases whose "expect" is only a note: what the note says must hold.
void check_note_case(const std::string& id, const AuthenticationResults& ar) {
    if (id == "mar-outlook") {  // the repeated "outlook.com;" and "action=none" are skipped
        EXPECT_TRUE(skipped_has(ar, "outlook.com")) << id;
        EXPECT_TRUE(skipped_has(ar, "action=none")) << id;
    } else if (id == "mar-yahoo") {  // legacy "from=x" text is skipped, the rest parses
        EXPECT_TRUE(skipped_has(ar, "from=fastmail.com")) << id;
        EXPECT_TRUE(skipped_has(ar, "from=messagingengine.com")) << id;
        ASSERT_EQ(ar.results.size(), 2u) << id;
        EXPECT_EQ(ar.results[0].method, "domainkeys");
        EXPECT_EQ(ar.results[0].result, "neutral");
        EXPECT_EQ(ar.results[1].method, "dkim");
        EXPECT_EQ(ar.results[1].comments, std::vector<std::string>{"ok"});
    } else if (id == "mar-yandex") {  // smtp.mail is a syntactically fine property: kept
        const auto* spf = find_method(ar, "spf");
        ASSERT_NE(spf, nullptr);
        ASSERT_NE(spf->find("smtp", "mail"), nullptr);
        EXPECT_EQ(spf->find("smtp", "mail")->value, "deliverability@fastmail.com");
        EXPECT_EQ(spf->find("smtp", "mailfrom"), nullptr);
        ASSERT_EQ(spf->comments.size(), 1u);  // the ',' and '[ip4:...]' stay in the comment
        const auto* dkim = find_method(ar, "dkim");
        ASSERT_NE(dkim, nullptr);
        EXPECT_EQ(dkim_signing_domain(*dkim).value_or(""), "fastmail.com");
    } else if (id == "mar-mailru") {  // header.from holds a full address, kept as written
        const auto* dmarc = find_method(ar, "dmarc");
        ASSERT_NE(dmarc, nullptr);
        EXPECT_EQ(dmarc->find("header", "from")->value, "deliverability@fastmail.com");
        EXPECT_EQ(ar.results.size(), 4u);
    } else if (id == "mar-fastmail") {
        EXPECT_TRUE(skipped_has(ar, "x-bits=1024")) << id;
        EXPECT_TRUE(skipped_has(ar, "smtp_is_org_domain=yes")) << id;
        EXPECT_TRUE(skipped_has(ar, "bits=128/128")) << id;
        EXPECT_EQ(ar.results.size(), 9u) << id;
    } else if (id == "authmilter-dmarc-reject" || id == "authmilter-dmarc-multi") {
        const auto* dmarc = find_method(ar, "dmarc");
        ASSERT_NE(dmarc, nullptr);
        EXPECT_EQ(dmarc->result, "fail");
        EXPECT_EQ(dmarc->find("policy", "published-domain-policy")->value, "reject");
        EXPECT_EQ(dmarc->find("policy", "applied-disposition")->value, "quarantine");
        EXPECT_EQ(dmarc->find("policy", "override-reason")->value, "local_policy");
        EXPECT_EQ(dmarc->find("header", "from")->value, "goestheweasel.com");
        const auto* ptr = find_method(ar, "x-ptr");
        ASSERT_NE(ptr, nullptr);
        EXPECT_EQ(ptr->find("policy", "ptr")->value, "");  // policy.ptr="" (empty quoted)
        EXPECT_TRUE(ar.skipped.empty()) << id;
        EXPECT_EQ(ar.results.size(), id == "authmilter-dmarc-reject" ? 6u : 9u);
    } else if (id == "rfc9991-example-ar-1") {
        ASSERT_EQ(ar.results.size(), 4u);
        EXPECT_EQ(ar.results[0].find("header", "b")->value, "EjCbN/c3");
        EXPECT_EQ(ar.results[1].result, "temperror");
        EXPECT_EQ(ar.results[3].find("header", "b")->value, "C2nsAp3A");
    } else if (id == "rfc9991-example-ar-2") {  // ';' inside a comment does not split
        ASSERT_EQ(ar.results.size(), 2u);
        EXPECT_EQ(ar.results[0].comments, std::vector<std::string>{"512-bit key; secure"});
        EXPECT_EQ(ar.results[0].find("header", "a")->value, "ed25519-sha256");
        EXPECT_EQ(ar.results[1].find("header", "s")->value, "delta");
        EXPECT_TRUE(ar.skipped.empty());
    }
}

TEST_F(ArVectors, EveryCase) {
    auto cases = load();
    ASSERT_EQ(cases.size(), 35u);
    Tally tally;
    std::set<std::string> seen;

    auto must_parse = [&](const std::string& id, const std::string& field) {
        auto ar = parse_authentication_results(field);
        EXPECT_TRUE(ar.has_value())
            << id << ": " << field << " -> " << (ar ? "" : ar.error().message);
        if (ar) ++tally.passed;
        return ar;
    };
    auto must_fail = [&](const std::string& id, const std::string& field) {
        auto ar = parse_authentication_results(field);
        EXPECT_FALSE(ar.has_value()) << id << ": " << field;
        if (!ar) {
            EXPECT_EQ(ar.error().code, Errc::syntax) << id;
            ++tally.passed;
        }
    };
    auto except = [&](const std::string& what, const std::string& why) {
        ++tally.excepted;
        tally.exceptions.push_back(what + " -- " + why);
    };

    for (const auto& c : cases) {
        const std::string id = c["id"].get<std::string>();
        seen.insert(id);
        if (id == "mar-bogus") {
            for (const auto& f : c["must_parse"]) must_parse(id, f.get<std::string>());
            for (const auto& f : c["must_fail"]) {
                std::string field = f.get<std::string>();
                // Text before the first ';' is where the authserv-id ends: ambiguity there is
                // fatal (our rule, RFC 8601 §5 trust), so those peer expectations hold.
                if (field.rfind("test.example.com;", 0) != 0) {
                    must_fail(id, field);
                    continue;
                }
                // EXCEPTION (resinfo-level): RFC 8601 §2.2 grammar + §7.9 robustness.
                auto ar = parse_authentication_results(field);
                ASSERT_TRUE(ar.has_value()) << field;
                EXPECT_TRUE(ar->results.empty()) << field;
                ASSERT_EQ(ar->skipped.size(), 1u) << field;
                except(id + " must_fail '" + field + "'", kResinfoSkipped);
            }
        } else if (id == "mar-none") {
            for (const auto& [field, why] : c["must_parse"].items()) {
                auto ar = must_parse(id, field);
                if (!ar) continue;
                EXPECT_TRUE(ar->results.empty()) << field << " (" << why << ")";
                EXPECT_EQ(ar->authserv_id, "example.com");
                // RFC 8601 §2.2 no-result: only the fields that say "none" set no_result.
                EXPECT_EQ(ar->no_result, field.find("none") != std::string::npos) << field;
            }
            for (const auto& f : c["must_fail"]) must_fail(id, f.get<std::string>());
        } else if (id == "mar-loose") {
            for (const auto& sub : c["cases"]) {
                std::string field = sub["field"].get<std::string>();
                if (sub.contains("expect_value")) {
                    // EXCEPTION: "address=" has no ptype (RFC 8601 §2.2 propspec).
                    auto ar = parse_authentication_results(field);
                    ASSERT_TRUE(ar.has_value()) << field;
                    ASSERT_EQ(ar->results.size(), 1u);
                    EXPECT_EQ(ar->results[0].method, "dkim");
                    EXPECT_TRUE(ar->results[0].properties.empty());
                    EXPECT_TRUE(
                        skipped_has(*ar, "address=" + sub["expect_value"].get<std::string>()))
                        << field;
                    except(id + " '" + field + "'", kNoPtype);
                    continue;
                }
                auto ar = must_parse(id, field);
                if (!ar) continue;
                if (sub.contains("expect")) check_expect(sub["expect"], *ar, id);
                if (field.find("foo=bar") != std::string::npos) {  // empty values, bare methods
                    ASSERT_EQ(ar->results.size(), 3u);
                    EXPECT_EQ(ar->results[0].method, "foo");
                    EXPECT_EQ(ar->results[0].result, "bar");
                    EXPECT_EQ(ar->results[1].result, "fail");
                    EXPECT_EQ(ar->results[2].method, "dmarc");
                    EXPECT_TRUE(skipped_has(*ar, "one="));
                    EXPECT_TRUE(skipped_has(*ar, "two"));
                    EXPECT_TRUE(skipped_has(*ar, "three"));
                }
            }
        } else if (id == "mar-quoted") {
            auto quoted_id = c["authserv_id_quoted"].get<std::string>() + "; none";
            auto ar = must_parse(id, quoted_id);
            if (ar) {
                EXPECT_EQ(ar->authserv_id, "test.example.com");
            }
            const auto& in = c["results_in"];
            const auto& normalised = c["results_normalised"];
            ASSERT_EQ(in.size(), normalised.size());
            for (std::size_t i = 0; i < in.size(); ++i) {
                auto norm = must_parse(id, "test.example.com; " + normalised[i].get<std::string>());
                ASSERT_TRUE(norm.has_value());
                ASSERT_EQ(norm->results.size(), 1u) << normalised[i];
                // EXCEPTION: quoted keywords (RFC 8601 §2.2) -> the resinfo is skipped.
                std::string field = "test.example.com; " + in[i].get<std::string>();
                auto quoted = parse_authentication_results(field);
                ASSERT_TRUE(quoted.has_value()) << field;
                EXPECT_TRUE(quoted->results.empty()) << field;
                EXPECT_EQ(quoted->skipped.size(), 1u) << field;
                except(id + " '" + in[i].get<std::string>() + "'", kQuotedKeyword);
            }
            auto spf = parse_authentication_results("test.example.com; " +
                                                    normalised[2].get<std::string>());
            ASSERT_TRUE(spf.has_value());
            EXPECT_EQ(spf->results[0].find("smtp", "helo")->value, "bad.name.google.com");
        } else if (id == "mar-begin-dot") {
            auto ar = must_parse(id, c["field"].get<std::string>());
            if (!ar) continue;
            const auto& want = c["expect_values"];
            ASSERT_EQ(ar->results.size(), want.size());
            for (std::size_t i = 0; i < want.size(); ++i) {
                EXPECT_EQ(ar->results[i].find("header", "from")->value, want[i].get<std::string>());
            }
        } else if (id == "gomsgauth-7") {
            // EXCEPTION: the peer returns an empty identifier for an empty field.
            auto ar = parse_authentication_results(c["field"].get<std::string>());
            ASSERT_FALSE(ar.has_value());
            EXPECT_EQ(ar.error().code, Errc::syntax);
            except(id + " (empty field)", kEmptyField);
        } else if (c.contains("fields")) {
            for (const auto& f : c["fields"]) {
                auto ar = must_parse(id, f.get<std::string>());
                if (!ar) continue;
                EXPECT_TRUE(ar->authserv_id.rfind("mr21p00im-", 0) == 0) << ar->authserv_id;
                ASSERT_FALSE(ar->results.empty());
                EXPECT_EQ(ar->results[0].result, "pass");
                EXPECT_TRUE(ar->skipped.empty());
            }
        } else {
            auto ar = must_parse(id, c["field"].get<std::string>());
            if (!ar) continue;
            if (c.contains("expect")) check_expect(c["expect"], *ar, id);
            check_note_case(id, *ar);
        }
    }
    EXPECT_EQ(seen.size(), 35u);
    std::cout << "[ ar-headers.jsonl ] checks passed: " << tally.passed
              << ", excepted: " << tally.excepted << "\n";
    for (const auto& e : tally.exceptions) std::cout << "  exception: " << e.substr(0, 140) << "\n";
    // Fixed numbers so that a change in behaviour on any vector shows up here.
    EXPECT_EQ(tally.passed, 59);
    EXPECT_EQ(tally.excepted, 14);
}

}  // namespace
}  // namespace dmarc
