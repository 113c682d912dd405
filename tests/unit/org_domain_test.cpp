// Public suffix list (RFC 7489 §3.2; publicsuffix.org algorithm): the 78 official checks of
// tests.txt and test_psl.txt against the 2026 snapshot and Debian's list, plus the rule kinds,
// the ICANN/PRIVATE sections, U-label rules, and parse limits.
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <sstream>
#include <thread>

#include "core/domain_name.hpp"
#include "core/limits.hpp"
#include "core/org_domain.hpp"
#include "tests/support/psl_snapshot.hpp"

namespace dmarc {
namespace {

const std::string kDebian = "/usr/share/publicsuffix/public_suffix_list.dat";

struct PslCase {
    std::string domain;  // "" = the null input
    std::optional<std::string> registrable;
    int line = 0;
};

// tests.txt: "domain registrable" per line, "null" = none, "//" comments.
std::vector<PslCase> load_tests_txt() {
    std::vector<PslCase> cases;
    std::istringstream in(test::read_text(std::string(DMARC_TEST_DATA) + "/psl/tests.txt"));
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        ++n;
        if (line.empty() || line.rfind("//", 0) == 0) continue;
        std::istringstream fields(line);
        std::string domain, expected;
        fields >> domain >> expected;
        cases.push_back({domain == "null" ? "" : domain,
                         expected == "null" ? std::nullopt : std::optional<std::string>(expected),
                         n});
    }
    return cases;
}

// test_psl.txt: checkPublicSuffix('domain', 'registrable'); or null; lines with "//" are off.
std::vector<PslCase> load_test_psl_txt() {
    std::vector<PslCase> cases;
    std::istringstream in(test::read_text(std::string(DMARC_TEST_DATA) + "/psl/test_psl.txt"));
    std::string line;
    int n = 0;
    auto arg = [](std::string_view s) -> std::optional<std::string> {
        s = s.substr(s.find_first_not_of(' '));
        if (s.rfind("null", 0) == 0) return std::nullopt;
        auto q1 = s.find('\'');
        auto q2 = s.find('\'', q1 + 1);
        return std::string(s.substr(q1 + 1, q2 - q1 - 1));
    };
    while (std::getline(in, line)) {
        ++n;
        if (line.rfind("checkPublicSuffix(", 0) != 0) continue;
        std::string_view body(line);
        body.remove_prefix(std::string_view("checkPublicSuffix(").size());
        // The first argument never contains a comma.
        auto comma = body.find(',');
        cases.push_back({arg(body.substr(0, comma)).value_or(""), arg(body.substr(comma + 1)), n});
    }
    return cases;
}

// The expected value may be written with U-labels; the list answers in A-labels.
std::optional<std::string> as_a_label(const std::optional<std::string>& name) {
    if (!name) return std::nullopt;
    auto a = to_a_label_domain(*name, LabelRule::dns);
    return a ? std::optional<std::string>(*a) : std::nullopt;
}

int run_cases(const PublicSuffixList& list, const std::vector<PslCase>& cases,
              const std::string& what) {
    int passed = 0;
    for (const auto& c : cases) {
        auto got = list.organizational_domain(c.domain);
        EXPECT_EQ(got, as_a_label(c.registrable))
            << what << " line " << c.line << ": '" << c.domain << "'";
        if (got == as_a_label(c.registrable)) ++passed;
    }
    return passed;
}

// The official PSL checks (publicsuffix/list tests/), 78 each, against the 2026 snapshot.
TEST(PublicSuffixList, OfficialTestsAgainstSnapshot) {
    auto tests = load_tests_txt();
    auto psl_tests = load_test_psl_txt();
    ASSERT_EQ(tests.size(), 78u);
    ASSERT_EQ(psl_tests.size(), 78u);
    EXPECT_EQ(run_cases(test::psl_snapshot(), tests, "tests.txt"), 78);
    EXPECT_EQ(run_cases(test::psl_snapshot(), psl_tests, "test_psl.txt"), 78);
    RecordProperty("psl_vectors_passed", 156);
}

// The same 78 + 78 against the list the milter really loads on Debian (package publicsuffix).
TEST(PublicSuffixList, OfficialTestsAgainstDebianList) {
    std::string text = test::read_text(kDebian);
    if (text.empty()) GTEST_SKIP() << kDebian << " not installed (apt-get install publicsuffix)";
    auto list = PublicSuffixList::parse(text);
    ASSERT_TRUE(list.has_value()) << list.error().message;
    EXPECT_EQ(run_cases(*list, load_tests_txt(), "tests.txt/debian"), 78);
    EXPECT_EQ(run_cases(*list, load_test_psl_txt(), "test_psl.txt/debian"), 78);
}

// Both sections are loaded (org_domain.hpp): PRIVATE rules are public suffixes too.
TEST(PublicSuffixList, IcannAndPrivateSectionsBothUsed) {
    const auto& psl = test::psl_snapshot();
    EXPECT_GT(psl.icann_rule_count(), 5000u);
    EXPECT_GT(psl.private_rule_count(), 1000u);
    EXPECT_TRUE(psl.warnings().empty()) << psl.warnings().front();
    // PRIVATE section: github.io, blogspot.com.
    EXPECT_EQ(psl.organizational_domain("x.github.io"), "x.github.io");
    EXPECT_EQ(psl.organizational_domain("github.io"), std::nullopt);
    EXPECT_EQ(psl.organizational_domain("a.b.blogspot.com"), "b.blogspot.com");
    // ICANN section.
    EXPECT_EQ(psl.organizational_domain("www.bbc.co.uk"), "bbc.co.uk");
    EXPECT_EQ(psl.public_suffix("www.bbc.co.uk"), "co.uk");
}

// RFC 7489 §3.2 example: "a.b.c.d.example.com" -> "example.com"; trailing dot, case.
TEST(PublicSuffixList, Rfc7489Example) {
    EXPECT_EQ(test::psl_snapshot().organizational_domain("a.b.c.d.example.com"), "example.com");
    EXPECT_EQ(test::psl_snapshot().organizational_domain("A.B.Example.COM."), "example.com");
    EXPECT_EQ(test::psl_snapshot().organizational_domain(""), std::nullopt);
    EXPECT_EQ(test::psl_snapshot().organizational_domain("a..example.com"), std::nullopt);
}

// Rule kinds on a hand-written list: plain, "*." wildcard, "!" exception, implicit "*".
TEST(PublicSuffixList, WildcardExceptionAndDefaultRule) {
    auto list = PublicSuffixList::parse(
        "// ===BEGIN ICANN DOMAINS===\n"
        "com\n"
        "*.ck\n"
        "!www.ck\n"
        "*.kawasaki.jp\n"
        "!city.kawasaki.jp\n"
        "uk  trailing words are ignored\n"
        "co.uk\n"
        "// ===END ICANN DOMAINS===\n"
        "// ===BEGIN PRIVATE DOMAINS===\n"
        "github.io\n"
        "// ===END PRIVATE DOMAINS===\n");
    ASSERT_TRUE(list.has_value());
    EXPECT_EQ(list->icann_rule_count(), 7u);
    EXPECT_EQ(list->private_rule_count(), 1u);
    struct {
        const char* domain;
        std::optional<std::string> org;
        std::optional<std::string> suffix;
    } cases[] = {
        {"example.com", "example.com", "com"},
        {"ck", std::nullopt, "ck"},
        {"test.ck", std::nullopt, "test.ck"},
        {"b.test.ck", "b.test.ck", "test.ck"},
        {"www.ck", "www.ck", "ck"},    // exception beats wildcard
        {"a.www.ck", "www.ck", "ck"},  //
        {"x.city.kawasaki.jp", "city.kawasaki.jp", "kawasaki.jp"},
        {"x.y.kawasaki.jp", "x.y.kawasaki.jp", "y.kawasaki.jp"},
        {"a.bbc.co.uk", "bbc.co.uk", "co.uk"},
        {"example.example", "example.example", "example"},  // implicit "*"
        {"example", std::nullopt, "example"},
        {"io", std::nullopt, "io"},
        {"x.github.io", "x.github.io", "github.io"},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(list->organizational_domain(c.domain), c.org) << c.domain;
        EXPECT_EQ(list->public_suffix(c.domain), c.suffix) << c.domain;
    }
}

// U-label rules are stored as A-labels; lookups accept either form.
TEST(PublicSuffixList, ULabelRulesBecomeALabels) {
    auto list = PublicSuffixList::parse("公司.cn\ncn\n");
    ASSERT_TRUE(list.has_value());
    EXPECT_EQ(list->public_suffix("a.xn--55qx5d.cn"), "xn--55qx5d.cn");
    EXPECT_EQ(list->organizational_domain("www.食狮.公司.cn"), "xn--85x722f.xn--55qx5d.cn");
}

TEST(PublicSuffixList, BadRulesAreSkippedAndNamed) {
    auto list = PublicSuffixList::parse("com\na..b\nfoo.*.bar\n");
    ASSERT_TRUE(list.has_value());
    EXPECT_EQ(list->rule_count(), 1u);
    ASSERT_EQ(list->warnings().size(), 2u);
    EXPECT_NE(list->warnings()[0].find("line 2"), std::string::npos);
}

// limits.hpp: over the bound is an explicit error; an empty list is refused.
TEST(PublicSuffixList, ParseErrors) {
    auto empty = PublicSuffixList::parse("// only comments\n\n");
    ASSERT_FALSE(empty.has_value());
    EXPECT_EQ(empty.error().code, Errc::invalid_value);
    std::string huge(limits::kMaxPublicSuffixListBytes + 1, 'a');
    auto big = PublicSuffixList::parse(huge);
    ASSERT_FALSE(big.has_value());
    EXPECT_EQ(big.error().code, Errc::limit);
}

// Read-only after parse: concurrent lookups see the same answers.
TEST(PublicSuffixList, ConcurrentLookups) {
    const auto& psl = test::psl_snapshot();
    std::vector<std::thread> threads;
    std::atomic<int> wrong{0};
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&] {
            for (int i = 0; i < 2000; ++i) {
                if (psl.organizational_domain("a.b.example.co.uk") != "example.co.uk") ++wrong;
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0);
}

}  // namespace
}  // namespace dmarc
