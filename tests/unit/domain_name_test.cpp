// Domain normalisation: lower-case A-labels (RFC 7489 §6.6.1, RFC 5890), RFC 1035 lengths.
#include "core/domain_name.hpp"

#include <gtest/gtest.h>

namespace dmarc {
namespace {

TEST(DomainName, NormalisesToLowerCaseALabels) {
    EXPECT_EQ(*to_a_label_domain("Example.COM."), "example.com");
    EXPECT_EQ(*to_a_label_domain("bücher.example"), "xn--bcher-kva.example");
    EXPECT_EQ(*to_a_label_domain("XN--BCHER-KVA.example"), "xn--bcher-kva.example");
    EXPECT_EQ(*to_a_label_domain("localhost"), "localhost");
}

TEST(DomainName, RejectsWhatIsNotAHostname) {
    for (const char* bad :
         {"", ".", "a..b", ".example.com", "exa mple.com", "example.com>",
          "d=example.net(.example.com", "-a.example", "a-.example", "under_score.example"}) {
        EXPECT_FALSE(to_a_label_domain(bad).has_value()) << bad;
    }
    EXPECT_EQ(*to_a_label_domain("_dmarc.example.com", LabelRule::dns), "_dmarc.example.com");
    // A NUL after a U-label must not cut the name short inside libidn2.
    using namespace std::string_literals;
    EXPECT_FALSE(to_a_label_domain("bücher.example\0.attacker.example"s).has_value());
    std::string long_label(64, 'a');
    EXPECT_EQ(to_a_label_domain(long_label + ".example").error().code, Errc::limit);
    std::string long_name;
    for (int i = 0; i < 64; ++i) long_name += "abc.";
    long_name += "com";
    EXPECT_EQ(to_a_label_domain(long_name).error().code, Errc::limit);
}

TEST(DomainName, LabelsAndSubdomains) {
    auto labels = split_labels("a.b.example");
    ASSERT_EQ(labels.size(), 3u);
    EXPECT_EQ(labels[2], "example");
    EXPECT_TRUE(is_same_or_subdomain("mail.example.com", "example.com"));
    EXPECT_TRUE(is_same_or_subdomain("example.com", "EXAMPLE.com"));
    EXPECT_FALSE(is_same_or_subdomain("badexample.com", "example.com"));
    EXPECT_FALSE(is_same_or_subdomain("com", "example.com"));
}

}  // namespace
}  // namespace dmarc
