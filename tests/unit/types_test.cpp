// Round trips of the shared enums' tokens (RFC 7489 §11.2, RFC 7208 §2.6, RFC 8601 §2.7.1).
#include "core/types.hpp"

#include <gtest/gtest.h>

namespace dmarc {
namespace {

template <class E, class Parse>
void expect_round_trip(std::initializer_list<E> values, Parse parse) {
    for (E v : values) {
        auto text = to_string(v);
        EXPECT_NE(text, "unknown");
        auto back = parse(text);
        ASSERT_TRUE(back.has_value()) << text;
        EXPECT_EQ(*back, v) << text;
    }
}

TEST(Types, EveryTokenRoundTrips) {
    expect_round_trip({Policy::none, Policy::quarantine, Policy::reject}, parse_policy);
    expect_round_trip({AlignMode::relaxed, AlignMode::strict}, parse_align_mode);
    expect_round_trip({DmarcResult::none, DmarcResult::pass, DmarcResult::fail,
                       DmarcResult::temperror, DmarcResult::permerror},
                      parse_dmarc_result);
    expect_round_trip({SpfResult::none, SpfResult::neutral, SpfResult::pass, SpfResult::fail,
                       SpfResult::softfail, SpfResult::temperror, SpfResult::permerror},
                      parse_spf_result);
    expect_round_trip({DkimResult::none, DkimResult::pass, DkimResult::fail, DkimResult::policy,
                       DkimResult::neutral, DkimResult::temperror, DkimResult::permerror},
                      parse_dkim_result);
    expect_round_trip(
        {Disposition::none, Disposition::quarantine, Disposition::reject, Disposition::pass},
        parse_disposition);
    expect_round_trip(
        {OverrideReason::forwarded, OverrideReason::sampled_out, OverrideReason::trusted_forwarder,
         OverrideReason::mailing_list, OverrideReason::local_policy,
         OverrideReason::policy_test_mode, OverrideReason::other},
        parse_override_reason);
    expect_round_trip({MilterAction::accept, MilterAction::reject, MilterAction::quarantine,
                       MilterAction::tempfail, MilterAction::discard},
                      parse_milter_action);
}

// RFC 8601 §2.7 result keywords are case-insensitive; RFC 5451 wrote "hardfail".
TEST(Types, ParsingIsCaseInsensitiveAndKnowsHardfail) {
    EXPECT_EQ(parse_spf_result("PASS"), SpfResult::pass);
    EXPECT_EQ(parse_spf_result("HardFail"), SpfResult::fail);
    EXPECT_EQ(parse_policy("Reject"), Policy::reject);
    EXPECT_FALSE(parse_policy("r").has_value());  // no prefix matching (opendmarc.md §2.4)
    EXPECT_FALSE(parse_dkim_result("").has_value());
}

}  // namespace
}  // namespace dmarc
