// OpenDMARC history records as SpoolRows (opendmarc.md §3: ARES, policy and action codes).
#include "core/history_row.hpp"

#include <gtest/gtest.h>

namespace dmarc {
namespace {

TEST(HistoryRow, MapsTheOpenDmarcSampleRecord) {
    // opendmarc.md §3 "Full sample [verified]".
    auto parsed = parse_history_text(
        "job 61DAA3EA44\nreporter mx.example.net\nreceived 1700000000\nipaddr 198.51.100.7\n"
        "from paypal.example\nmfrom lists.example\ndkim paypal.example sel2024 0\n"
        "dkim esp.example k1 7\nspf 0\npdomain paypal.example\npolicy 15\n"
        "rua mailto:dmarc@paypal.example\nrua mailto:agg@thirdparty.example!10m\npct 100\n"
        "adkim 114\naspf 115\np 114\nsp 0\nalign_dkim 4\nalign_spf 5\narc 0\n"
        "arc_policy 2 json:[{ \"i\": 1, \"d\":\"lists.example\", \"s\":\"arc1\", \"ip\":\"\" }]\n"
        "action 2\n");
    ASSERT_EQ(parsed.records.size(), 1u);
    SpoolRow row = to_spool_row(parsed.records[0]);
    EXPECT_EQ(row.time, 1700000000);
    EXPECT_EQ(row.queue_id, "61DAA3EA44");
    EXPECT_EQ(row.reporter_host, "mx.example.net");
    EXPECT_EQ(row.client_ip, "198.51.100.7");
    EXPECT_EQ(row.rfc5322_from_domain, "paypal.example");
    EXPECT_EQ(row.rfc5321_mail_from, "lists.example");
    EXPECT_EQ(row.policy_domain, "paypal.example");
    ASSERT_TRUE(row.record);
    EXPECT_EQ(row.record->p, Policy::reject);
    EXPECT_FALSE(row.record->sp);  // sp 0 = unspecified
    EXPECT_EQ(row.record->adkim, AlignMode::relaxed);
    EXPECT_EQ(row.record->aspf, AlignMode::strict);
    EXPECT_EQ(row.record->pct, 100);
    EXPECT_EQ(row.record->rua, (std::vector<std::string>{"mailto:dmarc@paypal.example",
                                                         "mailto:agg@thirdparty.example!10m"}));
    EXPECT_EQ(row.spf_result, SpfResult::pass);
    EXPECT_EQ(row.spf_domain, "lists.example");
    ASSERT_EQ(row.dkim.size(), 2u);
    EXPECT_EQ(row.dkim[0], (SpoolDkim{"paypal.example", "sel2024", DkimResult::pass}));
    EXPECT_EQ(row.dkim[1], (SpoolDkim{"esp.example", "k1", DkimResult::fail}));
    EXPECT_EQ(row.arc, ArcResult::pass);
    EXPECT_TRUE(row.dkim_aligned);
    EXPECT_FALSE(row.spf_aligned);
    EXPECT_EQ(row.dmarc_result, DmarcResult::pass);
    EXPECT_EQ(row.action, MilterAction::accept);
    EXPECT_EQ(row.disposition, Disposition::none);
}

TEST(HistoryRow, PolicyAndActionCodes) {
    // opendmarc.md §3: policy 14 absent, 15 pass, 16 reject, 17 quarantine, 18 none;
    // action 0 reject, 1 discard, 2 accept, 3 tempfail, 4 quarantine.
    struct Case {
        int policy, action;
        DmarcResult result;
        std::optional<Policy> applied;
        MilterAction milter_action;
        Disposition disposition;
        bool has_record;
    };
    const Case cases[] = {
        {14, 2, DmarcResult::none, std::nullopt, MilterAction::accept, Disposition::none, false},
        {16, 0, DmarcResult::fail, Policy::reject, MilterAction::reject, Disposition::reject, true},
        {17, 4, DmarcResult::fail, Policy::quarantine, MilterAction::quarantine,
         Disposition::quarantine, true},
        {18, 2, DmarcResult::fail, Policy::none, MilterAction::accept, Disposition::none, true},
        {16, 3, DmarcResult::fail, Policy::reject, MilterAction::tempfail, Disposition::none, true},
        {16, 1, DmarcResult::fail, Policy::reject, MilterAction::discard, Disposition::reject,
         true},
    };
    for (const auto& c : cases) {
        HistoryRecord h;
        h.job = "J";
        h.policy = c.policy;
        h.action = c.action;
        h.p = 'r';
        SpoolRow row = to_spool_row(h);
        EXPECT_EQ(row.dmarc_result, c.result) << c.policy;
        EXPECT_EQ(row.policy_applied, c.applied) << c.policy;
        EXPECT_EQ(row.action, c.milter_action) << c.action;
        EXPECT_EQ(row.disposition, c.disposition) << c.action;
        EXPECT_EQ(row.record.has_value(), c.has_record) << c.policy;
    }
}

TEST(HistoryRow, AresCodes) {
    // opendmarc-ar.h ARES codes -> RFC 8601 §2.7.1 / RFC 7208 §2.6 results.
    EXPECT_EQ(dkim_result_from_ares(0), DkimResult::pass);
    EXPECT_EQ(dkim_result_from_ares(7), DkimResult::fail);
    EXPECT_EQ(dkim_result_from_ares(2), DkimResult::fail);
    EXPECT_EQ(dkim_result_from_ares(8), DkimResult::policy);
    EXPECT_EQ(dkim_result_from_ares(9), DkimResult::permerror);
    EXPECT_EQ(dkim_result_from_ares(4), DkimResult::temperror);
    EXPECT_EQ(dkim_result_from_ares(-1), DkimResult::none);
    EXPECT_EQ(dkim_result_from_ares(10), DkimResult::none);
    EXPECT_EQ(spf_result_from_ares(2), SpfResult::softfail);
    EXPECT_EQ(spf_result_from_ares(3), SpfResult::neutral);
    EXPECT_EQ(spf_result_from_ares(6), SpfResult::none);
    EXPECT_EQ(spf_result_from_ares(5), SpfResult::permerror);
}

TEST(HistoryRow, FoBitsSpfScopeAndSeveralSpfLines) {
    HistoryRecord h;
    h.policy = 18;
    h.fo = 1 | 4 | 8;
    h.spf = {7, 0};
    h.spf_scope = 2;
    h.mfrom = "env.example";
    SpoolRow row = to_spool_row(h);
    ASSERT_TRUE(row.record);
    EXPECT_EQ(row.record->fo, "0:d:s");
    EXPECT_EQ(row.spf_result, SpfResult::pass);
    EXPECT_EQ(row.spf_scope, SpfScope::helo);
    EXPECT_EQ(row.spf_domain, "");
}

}  // namespace
}  // namespace dmarc
