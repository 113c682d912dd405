// OpenDMARC HistoryFile text (reference opendmarc.md §3): every key read, problems reported with
// line numbers while good records are kept, and the writer's output read back unchanged.
#include "core/history_text.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace dmarc {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

TEST(HistoryText, ReadsOpenDmarcRecords) {
    auto parsed = parse_history_text(slurp(DMARC_TEST_DATA "/history/opendmarc-sample.dat"));
    EXPECT_TRUE(parsed.issues.empty());
    ASSERT_EQ(parsed.records.size(), 2u);
    const auto& r = parsed.records[0];
    EXPECT_EQ(r.job, "61DAA3EA44");
    EXPECT_EQ(r.reporter, "mx.example.net");
    EXPECT_EQ(r.received, 1700000000);
    EXPECT_EQ(r.ipaddr, "198.51.100.7");
    EXPECT_EQ(r.from, "paypal.example");
    EXPECT_EQ(r.mfrom, "lists.example");
    ASSERT_EQ(r.dkim.size(), 2u);
    EXPECT_EQ(r.dkim[1], (HistoryDkim{"esp.example", "k1", ares::kFail}));
    EXPECT_EQ(r.spf, std::vector<int>{ares::kPass});
    EXPECT_EQ(r.policy, history_policy::kPass);
    ASSERT_EQ(r.rua.size(), 2u);
    EXPECT_EQ(r.rua[1], "mailto:agg@thirdparty.example!10m");
    EXPECT_EQ(r.adkim, 'r');
    EXPECT_EQ(r.sp, 0);
    EXPECT_EQ(r.align_dkim, 4);
    EXPECT_EQ(r.arc_policy, 2);
    EXPECT_EQ(r.arc_policy_json, R"(json:[{ "i": 1, "d":"lists.example", "s":"arc1", "ip":"" }])");
    EXPECT_EQ(r.action, history_action::kAccept);
    EXPECT_EQ(parsed.records[1].ipaddr, "2001:db8::25");
    EXPECT_EQ(parsed.records[1].action, history_action::kReject);
    EXPECT_EQ(parsed.records[1].first_line, 24u);
}

TEST(HistoryText, WriterRoundTrips) {
    auto parsed = parse_history_text(slurp(DMARC_TEST_DATA "/history/opendmarc-sample.dat"));
    for (const auto& r : parsed.records) {
        auto again = parse_history_text(to_history_text(r));
        ASSERT_EQ(again.records.size(), 1u);
        auto expected = r;
        expected.first_line = 1;
        EXPECT_EQ(again.records[0], expected);
        EXPECT_TRUE(again.issues.empty());
    }
    // OpenDMARC writes "-" for a missing selector and for no rua.
    HistoryRecord r;
    r.job = "A1";
    r.received = 1;
    r.ipaddr = "192.0.2.1";
    r.from = "example.com";
    r.dkim.push_back({"example.com", "", ares::kPass});
    auto text = to_history_text(r);
    EXPECT_NE(text.find("dkim example.com - 0\n"), std::string::npos);
    EXPECT_NE(text.find("rua -\n"), std::string::npos);
}

// A value can never inject a line into the file (a From domain with a newline is hostile).
TEST(HistoryText, WriterCannotBeMadeToInjectLines) {
    HistoryRecord r;
    r.job = "A1\njob FORGED";
    r.received = 1;
    r.ipaddr = "192.0.2.1";
    r.from = "example.com";
    auto again = parse_history_text(to_history_text(r));
    ASSERT_EQ(again.records.size(), 1u);
    EXPECT_EQ(again.records[0].job, "A1?job FORGED");
}

// Issue 5 acceptance: a truncated record, garbage lines, wrong types and a 1 MB line give
// messages with line numbers while every good record is imported.
TEST(HistoryText, MalformedInputKeepsEveryGoodRecord) {
    std::string good = slurp(DMARC_TEST_DATA "/history/opendmarc-sample.dat");
    std::string text = "garbage before any job\n" + good +
                       "job TRUNCATED\nreporter mx\nreceived 1700000200\nipaddr 192.0.2.9\n" +
                       "job BADTYPE\nreceived yesterday\nipaddr 192.0.2.1\nfrom a.example\n"
                       "policy 15\naction 2\n" +
                       "job LONGLINE\nreceived 1\nipaddr 192.0.2.1\nfrom a.example\npolicy 15\n" +
                       "arc_policy 2 json:" + std::string(1 << 20, 'x') + "\naction 2\n" + good +
                       "job OPTIONALBAD\nreceived 5\nipaddr 192.0.2.1\nfrom b.example\n"
                       "pct lots\nnewkey value\npolicy 14\naction 2\n";
    auto parsed = parse_history_text(text);
    ASSERT_EQ(parsed.records.size(), 5u);
    EXPECT_EQ(parsed.records[4].job, "OPTIONALBAD");
    EXPECT_EQ(parsed.records[4].pct, 0);
    // before-first-job, truncated record (reported at its job line), bad received, long line
    // (+ its record), pct, unknown key.
    ASSERT_GE(parsed.issues.size(), 6u);
    EXPECT_EQ(parsed.issues[0].line, 1u);
    EXPECT_NE(parsed.issues[1].message.find("TRUNCATED"), std::string::npos);
    EXPECT_EQ(parsed.issues[1].line, 45u);  // 1 garbage line + 43 lines of sample
    EXPECT_NE(parsed.issues.back().message.find("newkey"), std::string::npos);
}

TEST(HistoryText, RejectsValuesOutOfRange) {
    auto parsed = parse_history_text(
        "job X\nreceived 1\nipaddr 999.1.1.1\nfrom a.example\npolicy 15\naction 2\n"
        "job Y\nreceived 1\nipaddr 192.0.2.1\nfrom a.example\npolicy 99\naction 2\n"
        "job Z\nreceived 1\nipaddr 192.0.2.1\nfrom a.example\npolicy 15\naction 7\n"
        "job W\nreceived 1\nreceived 2\nipaddr 192.0.2.1\nfrom a.example\npolicy 15\naction 2\n");
    EXPECT_TRUE(parsed.records.empty());
    EXPECT_EQ(parsed.issues.size(), 4u);
}

}  // namespace
}  // namespace dmarc
