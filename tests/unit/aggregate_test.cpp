// Aggregate report construction: periods (RFC 7489 §7.2, RFC 9990 §2.1), report_id stability
// (RFC 9990 §2.1 resends), grouping on every reported field (peers.md §8: never first-row-wins;
// opendmarc.md §8.3 #212 one record per message), DKIM order and cap (RFC 9990 §2.1).
#include "core/aggregate.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <optional>

namespace dmarc {
namespace {

constexpr std::int64_t kDay = 1700006400;  // 2023-11-15T00:00:00Z

AggregateDkim dk(std::string d, std::string s, DkimResult r,
                 DkimAlignment a = DkimAlignment::unknown) {
    return AggregateDkim{std::move(d), std::move(s), r, "", a};
}

ReportIdentity identity() {
    return ReportIdentity{"mx.receiver.example", "receiver.example", "dmarc@receiver.example", "",
                          "dmarc-reporter 0.1"};
}

AggregateInput base_row() {
    AggregateInput row;
    row.received = kDay + 100;
    row.source_ip = "192.0.2.1";
    row.rfc5322_from_domain = "example.com";
    row.rfc5321_mail_from_domain = "example.com";
    row.envelope_to_domain = "receiver.example";
    row.disposition = Disposition::none;
    row.dkim_aligned = true;
    row.spf_aligned = true;
    row.dkim = {{"example.com", "s1", DkimResult::pass, "", DkimAlignment::unknown}};
    row.spf = AggregateSpf{"example.com", SpfScope::mfrom, SpfResult::pass};
    row.policy.domain = "example.com";
    row.policy.p = Policy::reject;
    return row;
}

Result<AggregateReport> build(const std::vector<AggregateInput>& rows,
                              ReportFormat format = ReportFormat::rfc7489) {
    return build_aggregate_report(identity(), "example.com", period_containing(kDay, 86400), rows,
                                  format);
}

// RFC 7489 §7.2: daily periods begin at 00:00 UTC; end = begin + 86399 (RFC 9990: no overlap).
TEST(AggregatePeriod, UtcDayAligned) {
    struct Case {
        std::int64_t when;
        std::uint32_t interval;
        ReportPeriod expected;
    };
    const Case cases[] = {
        {kDay, 86400, {kDay, kDay + 86399}},
        {kDay + 86399, 86400, {kDay, kDay + 86399}},
        {kDay + 86400, 86400, {kDay + 86400, kDay + 2 * 86400 - 1}},
        {kDay + 3 * 3600 + 5, 3600, {kDay + 3 * 3600, kDay + 4 * 3600 - 1}},
        {kDay + 13 * 3600, 21600, {kDay + 12 * 3600, kDay + 18 * 3600 - 1}},
        {0, 86400, {0, 86399}},
        {-1, 86400, {-86400, -1}},               // before the epoch: floor, not truncation
        {kDay + 5, 1000, {kDay, kDay + 86399}},  // not a divisor of a day: daily
    };
    for (const auto& c : cases) {
        EXPECT_EQ(period_containing(c.when, c.interval), c.expected) << c.when << " " << c.interval;
    }
    EXPECT_EQ(next_period({kDay, kDay + 86399}), (ReportPeriod{kDay + 86400, kDay + 172799}));
    EXPECT_EQ(next_period({kDay, kDay + 3599}), (ReportPeriod{kDay + 3600, kDay + 7199}));
}

// RFC 7489 §6.3 ri: a request; we honour it as the nearest whole-hour divisor of 24 h (a tie
// goes to the longer interval), hourly at least, daily at most.
TEST(AggregatePeriod, RiToInterval) {
    const std::pair<std::uint32_t, std::uint32_t> cases[] = {
        {86400, 86400}, {604800, 86400}, {43200, 43200},       {50000, 43200}, {3600, 3600},
        {60, 3600},     {0, 3600},       {7200, 7200},         {18000, 21600},  // 5 h: 4 h or 6 h
        {28800, 28800}, {5399, 3600},    {5400, 7200},         {36000, 43200},  // 10 h: 8 h or 12 h
        {64800, 86400}, {64799, 43200},  {4294967295u, 86400},
    };
    for (const auto& [ri, interval] : cases) {
        EXPECT_EQ(report_interval_for(ri), interval) << ri;
        EXPECT_EQ(86400u % report_interval_for(ri), 0u);
    }
}

// Our ReportInterval is the shortest period we report: a domain's ri is honoured down to it.
TEST(AggregatePeriod, EffectiveIntervalIsTheLongerOfRiAndOurs) {
    struct Case {
        std::uint32_t ri, minimum, expected;
    };
    const Case cases[] = {
        {3600, 3600, 3600},    // hourly asked, hourly allowed
        {3600, 86400, 86400},  // hourly asked, we report daily
        {86400, 3600, 86400},  // ri absent (default 86400): daily
        {14400, 7200, 14400}, {7200, 14400, 14400}, {18000, 3600, 21600},
    };
    for (const auto& c : cases) {
        EXPECT_EQ(effective_report_interval(c.ri, c.minimum), c.expected)
            << c.ri << " " << c.minimum;
    }
}

// Issue 6: the next period starts where the ledger ended and ends on a boundary of the interval
// in force; after a change of ri the first period is cut at the new boundary (never an overlap,
// never a gap with unreported mail in it).
TEST(AggregatePeriod, NextPeriodFollowsTheLedgerAcrossIntervalChanges) {
    constexpr std::int64_t h = 3600;
    struct Case {
        const char* what;
        std::optional<std::int64_t> ledger_next;
        std::int64_t first_message;
        std::uint32_t interval;
        ReportPeriod expected;
    };
    const Case cases[] = {
        {"no ledger, daily", std::nullopt, kDay + 5 * h, 86400, {kDay, kDay + 86399}},
        {"no ledger, hourly",
         std::nullopt,
         kDay + 5 * h + 7,
         3600,
         {kDay + 5 * h, kDay + 6 * h - 1}},
        {"ledger aligned",
         kDay + 86400,
         kDay + 86400 + 60,
         86400,
         {kDay + 86400, kDay + 2 * 86400 - 1}},
        {"gap of empty days",
         kDay,
         kDay + 3 * 86400 + 1,
         86400,
         {kDay + 3 * 86400, kDay + 4 * 86400 - 1}},
        {"hourly to 4 h after 05:00",
         kDay + 5 * h,
         kDay + 5 * h + 1,
         14400,
         {kDay + 5 * h, kDay + 8 * h - 1}},
        {"hourly to daily after 13:00",
         kDay + 13 * h,
         kDay + 13 * h + 30,
         86400,
         {kDay + 13 * h, kDay + 86399}},
        {"hourly to daily, first mail next day",
         kDay + 13 * h,
         kDay + 86400 + 30,
         86400,
         {kDay + 86400, kDay + 2 * 86400 - 1}},
        {"daily to hourly",
         kDay + 86400,
         kDay + 86400 + 2 * h + 5,
         3600,
         {kDay + 86400 + 2 * h, kDay + 86400 + 3 * h - 1}},
        {"6 h to 4 h after 06:00",
         kDay + 6 * h,
         kDay + 6 * h + 1,
         14400,
         {kDay + 6 * h, kDay + 8 * h - 1}},
    };
    for (const auto& c : cases) {
        const ReportPeriod period = next_report_period(c.ledger_next, c.first_message, c.interval);
        EXPECT_EQ(period, c.expected) << c.what;
        EXPECT_LE(period.begin, c.first_message) << c.what;
        EXPECT_GE(period.end, c.first_message) << c.what;
        if (c.ledger_next) {
            EXPECT_GE(period.begin, *c.ledger_next) << c.what;
        }
        EXPECT_EQ((period.end + 1) % c.interval, 0) << c.what;  // ends on a boundary
    }
}

// RFC 7489 Appendix C envelope_to: the recipients' one domain, or nothing.
TEST(AggregateEnvelopeTo, OneDomainForAllRecipientsOrNone) {
    struct Case {
        std::vector<std::string> rcpt;
        std::string expected;
    };
    const Case cases[] = {
        {{}, ""},
        {{"a@Receiver.Example"}, "receiver.example"},
        {{"a@receiver.example", "b@RECEIVER.example"}, "receiver.example"},
        {{"a@receiver.example", "b@other.example"}, ""},
        {{"\"x@y\"@receiver.example"}, "receiver.example"},  // the last '@' counts
        {{"postmaster"}, ""},                                // no domain
        {{"a@[192.0.2.1]"}, ""},                             // address literal
        {{"a@b\xC3\xA4"
          "cker.example"},
         "xn--bcker-gra.example"},  // A-label
    };
    for (const auto& c : cases) {
        EXPECT_EQ(envelope_to_domain(c.rcpt), c.expected) << (c.rcpt.empty() ? "" : c.rcpt[0]);
    }
}

bool is_alnum(const std::string& s) {
    for (char c : s) {
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'))) return false;
    }
    return !s.empty();
}

// RFC 9990 §2.1: report_id unique per domain and reused by a resend; alphanumeric so that it is
// both ridfmt and the filename's unique-id.
TEST(AggregateReportId, StableAndDistinct) {
    const ReportPeriod day{kDay, kDay + 86399};
    const std::string id = make_report_id("receiver.example", "example.com", day);
    EXPECT_EQ(id, make_report_id("RECEIVER.example", "Example.COM", day));
    EXPECT_TRUE(is_alnum(id)) << id;
    EXPECT_EQ(id.rfind(std::to_string(kDay), 0), 0u) << id;
    EXPECT_NE(id, make_report_id("receiver.example", "example.org", day));
    EXPECT_NE(id, make_report_id("other.example", "example.com", day));
    EXPECT_NE(id, make_report_id("receiver.example", "example.com", next_period(day)));
    EXPECT_NE(id, make_report_id("receiver.example", "example.com", {kDay, kDay + 3599}));
    EXPECT_NE(make_report_id("ab", "c", day), make_report_id("a", "bc", day));
}

// A change of any one written field must give a separate record (no first-row-wins); identical
// rows add up (opendmarc #212 wrote one record per message).
TEST(AggregateGrouping, EveryReportedFieldSplitsARecord) {
    using Mutation = std::function<void(AggregateInput&)>;
    const std::pair<const char*, Mutation> mutations[] = {
        {"source_ip", [](AggregateInput& r) { r.source_ip = "192.0.2.2"; }},
        {"header_from", [](AggregateInput& r) { r.rfc5322_from_domain = "a.example.com"; }},
        {"envelope_from", [](AggregateInput& r) { r.rfc5321_mail_from_domain = "b.example"; }},
        {"envelope_from empty", [](AggregateInput& r) { r.rfc5321_mail_from_domain = ""; }},
        {"envelope_to", [](AggregateInput& r) { r.envelope_to_domain = "other.example"; }},
        {"disposition", [](AggregateInput& r) { r.disposition = Disposition::quarantine; }},
        {"dkim aligned", [](AggregateInput& r) { r.dkim_aligned = false; }},
        {"spf aligned", [](AggregateInput& r) { r.spf_aligned = false; }},
        {"reason",
         [](AggregateInput& r) {
             r.reasons = {{OverrideReason::mailing_list, ""}};
         }},
        {"reason comment",
         [](AggregateInput& r) {
             r.reasons = {{OverrideReason::mailing_list, "list"}};
         }},
        {"dkim domain", [](AggregateInput& r) { r.dkim[0].dkim_d = "esp.example"; }},
        {"dkim selector", [](AggregateInput& r) { r.dkim[0].selector = "s2"; }},
        {"dkim result", [](AggregateInput& r) { r.dkim[0].result = DkimResult::fail; }},
        {"dkim human", [](AggregateInput& r) { r.dkim[0].human_result = "bad body hash"; }},
        {"second dkim",
         [](AggregateInput& r) { r.dkim.push_back(dk("esp.example", "k", DkimResult::pass)); }},
        {"no dkim", [](AggregateInput& r) { r.dkim.clear(); }},
        {"spf domain", [](AggregateInput& r) { r.spf->domain = "helo.example"; }},
        {"spf scope", [](AggregateInput& r) { r.spf->scope = SpfScope::helo; }},
        {"spf result", [](AggregateInput& r) { r.spf->result = SpfResult::softfail; }},
        {"no spf", [](AggregateInput& r) { r.spf.reset(); }},
    };
    for (const auto& [name, mutate] : mutations) {
        std::vector<AggregateInput> rows = {base_row(), base_row(), base_row()};
        mutate(rows[1]);
        auto report = build(rows);
        ASSERT_TRUE(report) << name << ": " << report.error().message;
        ASSERT_EQ(report->records.size(), 2u) << name;
        EXPECT_EQ(report->records[0].count, 2u) << name;  // largest first
        EXPECT_EQ(report->records[1].count, 1u) << name;
        EXPECT_EQ(report->message_count(), 3u) << name;
    }
}

TEST(AggregateGrouping, EquivalentSpellingsGroupTogether) {
    std::vector<AggregateInput> rows(4, base_row());
    rows[1].rfc5322_from_domain = "EXAMPLE.com";
    rows[2].source_ip = "::ffff:192.0.2.1";   // IPv4-mapped is the IPv4 source
    rows[3].dkim.push_back(rows[3].dkim[0]);  // the same signature result twice
    rows[3].count = 5;
    auto report = build(rows);
    ASSERT_TRUE(report) << report.error().message;
    ASSERT_EQ(report->records.size(), 1u);
    EXPECT_EQ(report->records[0].count, 8u);
    EXPECT_EQ(report->records[0].source_ip, "192.0.2.1");
    EXPECT_EQ(report->records[0].dkim.size(), 1u);
}

TEST(AggregateGrouping, ReasonsAreASet) {
    std::vector<AggregateInput> rows(2, base_row());
    rows[0].reasons = {{OverrideReason::mailing_list, ""}, {OverrideReason::local_policy, "x"}};
    rows[1].reasons = {{OverrideReason::local_policy, "x"}, {OverrideReason::mailing_list, ""}};
    auto report = build(rows);
    ASSERT_TRUE(report);
    ASSERT_EQ(report->records.size(), 1u);
    EXPECT_EQ(report->records[0].reasons.size(), 2u);
}

TEST(AggregateGrouping, ManyRowsCountExactly) {
    std::vector<AggregateInput> rows;
    for (int i = 0; i < 1000; ++i) {
        AggregateInput row = base_row();
        row.source_ip = "198.51.100." + std::to_string(i % 7);
        row.disposition = i % 3 == 0 ? Disposition::reject : Disposition::none;
        row.received = kDay + i;
        rows.push_back(row);
    }
    auto report = build(rows);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->records.size(), 14u);
    EXPECT_EQ(report->message_count(), 1000u);
    for (std::size_t i = 1; i < report->records.size(); ++i) {
        EXPECT_GE(report->records[i - 1].count, report->records[i].count);
    }
}

// RFC 9990 §2.1: strict-aligned pass > relaxed-aligned pass > other passes > failures; <= 100.
TEST(AggregateDkim, OrderedAndCapped) {
    AggregateInput row = base_row();
    row.rfc5322_from_domain = "news.example.com";
    row.dkim = {
        dk("zz.example", "a", DkimResult::fail),
        dk("esp.example", "a", DkimResult::pass),
        dk("example.com", "r", DkimResult::pass),       // parent: relaxed
        dk("news.example.com", "s", DkimResult::pass),  // equal: strict
        dk("sibling.example.com", "x", DkimResult::pass, DkimAlignment::relaxed),  // told
        dk("news.example.com", "t", DkimResult::temperror),
    };
    auto report = build({row});
    ASSERT_TRUE(report);
    const auto& dkim = report->records[0].dkim;
    ASSERT_EQ(dkim.size(), 6u);
    EXPECT_EQ(dkim[0].dkim_d, "news.example.com");
    EXPECT_EQ(dkim[0].result, DkimResult::pass);
    EXPECT_EQ(dkim[1].dkim_d, "example.com");
    EXPECT_EQ(dkim[2].dkim_d, "sibling.example.com");
    EXPECT_EQ(dkim[3].dkim_d, "esp.example");
    EXPECT_NE(dkim[4].result, DkimResult::pass);
    EXPECT_NE(dkim[5].result, DkimResult::pass);

    AggregateInput many = base_row();
    many.dkim.clear();
    for (int i = 0; i < 150; ++i) {
        many.dkim.push_back(dk("d" + std::to_string(i) + ".example", "s",
                               i == 149 ? DkimResult::pass : DkimResult::fail));
    }
    report = build({many});
    ASSERT_TRUE(report);
    ASSERT_EQ(report->records[0].dkim.size(), kMaxReportDkimEntries);
    EXPECT_EQ(report->records[0].dkim[0].dkim_d, "d149.example");  // the pass survives the cap
}

// RFC 9990 §2.1: one policy configuration per report; we report the last one and say so.
TEST(AggregatePolicy, ChangeWithinThePeriodReportsTheLast) {
    std::vector<AggregateInput> rows(3, base_row());
    rows[0].received = kDay + 10;
    rows[1].received = kDay + 5000;
    rows[1].policy.p = Policy::quarantine;
    rows[1].policy.pct = 50;
    rows[2].received = kDay + 20;
    auto report = build(rows);
    ASSERT_TRUE(report);
    EXPECT_EQ(report->policy_published.p, Policy::quarantine);
    EXPECT_EQ(report->policy_published.pct, 50);
    ASSERT_EQ(report->metadata.errors.size(), 1u);
    EXPECT_NE(report->metadata.errors[0].find("2 configurations"), std::string::npos);

    rows[1].policy = rows[0].policy;
    report = build(rows);
    ASSERT_TRUE(report);
    EXPECT_TRUE(report->metadata.errors.empty());
}

TEST(AggregateInputCheck, RowsOfAnotherReportAreRefused) {
    auto other_domain = base_row();
    other_domain.policy.domain = "example.org";
    EXPECT_EQ(build({other_domain}).error().code, Errc::invalid_value);
    auto late = base_row();
    late.received = kDay + 86400;  // the next period
    EXPECT_EQ(build({late}).error().code, Errc::invalid_value);
    auto bad_ip = base_row();
    bad_ip.source_ip = "not-an-ip";
    EXPECT_EQ(build({bad_ip}).error().code, Errc::invalid_value);
    auto zero = base_row();
    zero.count = 0;
    EXPECT_EQ(build({zero}).error().code, Errc::invalid_value);
    EXPECT_EQ(build({}).error().code, Errc::not_found);
}

// RFC 9990 §2.1 types: 7489-only reasons are mapped, "pass" disposition used under enforcement.
TEST(AggregateFormat, ValuesMappedPerFormat) {
    std::vector<AggregateInput> rows(3, base_row());
    rows[0].reasons = {{OverrideReason::forwarded, "via list"}};
    rows[1].reasons = {{OverrideReason::sampled_out, ""}};
    rows[1].disposition = Disposition::quarantine;
    rows[2].reasons = {{OverrideReason::policy_test_mode, ""}};
    rows[2].dkim_aligned = rows[2].spf_aligned = false;

    auto v2 = build(rows, ReportFormat::rfc9990);
    ASSERT_TRUE(v2);
    bool saw_pass = false;
    for (const auto& record : v2->records) {
        for (const auto& reason : record.reasons) {
            EXPECT_NE(reason.type, OverrideReason::forwarded);
            EXPECT_NE(reason.type, OverrideReason::sampled_out);
            if (reason.type == OverrideReason::trusted_forwarder) {
                EXPECT_EQ(reason.comment, "forwarded: via list");
                EXPECT_EQ(record.disposition, Disposition::pass);  // p=reject, aligned pass
                saw_pass = true;
            }
        }
    }
    EXPECT_TRUE(saw_pass);

    auto v1 = build(rows, ReportFormat::rfc7489);
    ASSERT_TRUE(v1);
    for (const auto& record : v1->records) {
        EXPECT_NE(record.disposition, Disposition::pass);
        for (const auto& reason : record.reasons) {
            EXPECT_NE(reason.type, OverrideReason::policy_test_mode);
        }
    }
    // p=none: a pass is "none", not "pass" (nothing was enforced).
    auto none_policy = base_row();
    none_policy.policy.p = Policy::none;
    auto v2none = build({none_policy}, ReportFormat::rfc9990);
    ASSERT_TRUE(v2none);
    EXPECT_EQ(v2none->records[0].disposition, Disposition::none);
}

TEST(AggregateMetadata, FilledFromIdentityAndPeriod) {
    auto report = build({base_row()});
    ASSERT_TRUE(report);
    EXPECT_EQ(report->metadata.org_name, "mx.receiver.example");
    EXPECT_EQ(report->metadata.email, "dmarc@receiver.example");
    EXPECT_EQ(report->metadata.period, (ReportPeriod{kDay, kDay + 86399}));
    EXPECT_EQ(report->metadata.report_id,
              make_report_id("receiver.example", "example.com", {kDay, kDay + 86399}));
    EXPECT_EQ(report->policy_published.domain, "example.com");
}

}  // namespace
}  // namespace dmarc
