// io/report_store on both backends (issue 6 item 5): rows of one policy domain and period grouped
// in SQL with reports about reports left out (RFC 7489 §7.2 counts), the window from the ledger,
// a report + archive + deliveries + covered messages committed together, delivery state
// transitions and due retries, resend, and suppressions. Same suite for SQLite and PostgreSQL.
#include "io/report_store.hpp"

#include <gtest/gtest.h>

#include <map>

#include "io/store.hpp"
#include "pg_server.hpp"
#include "temp_dir.hpp"

namespace dmarc::io {
namespace {

constexpr std::int64_t kDay = 86400;
constexpr std::int64_t kDay1 = 1700006400;  // 2023-11-15T00:00:00Z

SpoolRow row_for(const std::string& domain, std::int64_t time, int i, bool dkim_aligned = true,
                 bool is_report = false) {
    SpoolRow row;
    row.time = time;
    row.queue_id = domain + std::to_string(time) + "-" + std::to_string(i);
    row.reporter_host = "mx.receiver.example";
    row.client_ip = "192.0.2.7";
    row.rfc5321_mail_from = "b@" + domain;
    row.rfc5322_from_domain = domain;
    row.policy_domain = domain;
    row.discovery_method = DiscoveryMethod::psl;
    PublishedPolicy record;
    record.p = Policy::quarantine;
    record.pct = 50;
    record.rua = {"mailto:dmarc@" + domain + "!10m", "mailto:x@other.example"};
    row.record = record;
    row.spf_result = SpfResult::pass;
    row.spf_domain = domain;
    row.dkim = {SpoolDkim{"z.example", "s2", DkimResult::fail},
                SpoolDkim{domain, "s1", DkimResult::pass}};
    row.dkim_aligned = dkim_aligned;
    row.spf_aligned = true;
    row.dmarc_result = DmarcResult::pass;
    row.disposition = Disposition::none;
    row.override_reasons = {OverrideReason::local_policy};
    row.is_report = is_report;
    return row;
}

class ReportStoreTest : public ::testing::TestWithParam<std::string> {
  protected:
    void SetUp() override {
        if (GetParam() == "postgres") {
            auto* server = test::PgServer::instance();
            if (!server) GTEST_SKIP() << test::PgServer::why();
            uri_ = server->create_database();
        } else {
            uri_ = "sqlite://" + dir_.file("store.db");
        }
    }
    void seed(const std::vector<SpoolRow>& rows) {
        auto store = open_store(uri_);
        ASSERT_TRUE(store) << store.error().message;
        std::vector<ImportItem> items;
        for (const auto& r : rows) items.push_back({r, MessageOrigin::spool, {}});
        ASSERT_TRUE((*store)->import(items, std::nullopt));
    }
    std::unique_ptr<ReportStore> open() {
        auto store = open_report_store(uri_);
        EXPECT_TRUE(store) << store.error().message;
        return store ? std::move(*store) : nullptr;
    }
    NewReport report_for(const std::string& domain, const ReportPeriod& period) {
        NewReport r;
        r.policy_domain = domain;
        r.period = period;
        r.report_id = make_report_id("receiver.example", domain, period);
        r.created = period.end + 100;
        r.message_count = 3;
        r.record_count = 1;
        r.archive = std::string("\x1f\x8b\x00\xff binary\x00 bytes", 18);
        r.deliveries = {{"mailto:dmarc@" + domain, "dmarc@" + domain, DeliveryStatus::pending, "",
                         std::nullopt, 10485760, true},
                        {"https://x.example/", "https://x.example/", DeliveryStatus::ignored,
                         "https: not a mailto URI", std::nullopt, std::nullopt, true}};
        return r;
    }
    test::TempDir dir_;
    std::string uri_;
};

// RFC 7489 §7.2 / RFC 9990 §2.1: one record per distinct tuple with its count; messages that are
// reports are never counted (issue 6 item 4).
TEST_P(ReportStoreTest, PeriodRowsAreGroupedAndLeaveOutReports) {
    seed({row_for("a.example", kDay1 + 10, 1), row_for("a.example", kDay1 + 20, 2),
          row_for("a.example", kDay1 + 30, 3, false),
          row_for("a.example", kDay1 + 40, 4, true, true),
          row_for("a.example", kDay1 + kDay + 5, 5), row_for("b.example", kDay1 + 50, 6)});
    auto store = open();
    ASSERT_TRUE(store);
    auto rows = store->period_rows("a.example", {kDay1, kDay1 + kDay - 1});
    ASSERT_TRUE(rows) << rows.error().message;
    ASSERT_EQ(rows->rows.size(), 2u);  // aligned x2, unaligned x1; the report and day 2 left out
    std::map<bool, const AggregateInput*> by_alignment;
    for (const auto& r : rows->rows) by_alignment[r.dkim_aligned] = &r;
    ASSERT_TRUE(by_alignment[true] && by_alignment[false]);
    EXPECT_EQ(by_alignment[true]->count, 2u);
    EXPECT_EQ(by_alignment[true]->received, kDay1 + 20);
    EXPECT_EQ(by_alignment[false]->count, 1u);
    const AggregateInput& in = *by_alignment[true];
    EXPECT_EQ(in.source_ip, "192.0.2.7");
    EXPECT_EQ(in.rfc5322_from_domain, "a.example");
    EXPECT_EQ(in.rfc5321_mail_from_domain, "a.example");
    ASSERT_EQ(in.dkim.size(), 2u);  // signature order kept
    EXPECT_EQ(in.dkim[0].dkim_d, "z.example");
    EXPECT_EQ(in.dkim[1].selector, "s1");
    EXPECT_EQ(in.dkim[1].result, DkimResult::pass);
    // The evaluator found no aligned DKIM pass: no signature is aligned, whatever the names say.
    for (const auto& sig : by_alignment[false]->dkim) {
        EXPECT_EQ(sig.alignment, DkimAlignment::none);
    }
    ASSERT_TRUE(in.spf);
    EXPECT_EQ(in.spf->result, SpfResult::pass);
    ASSERT_EQ(in.reasons.size(), 1u);
    EXPECT_EQ(in.reasons[0].type, OverrideReason::local_policy);
    EXPECT_EQ(in.policy.p, Policy::quarantine);
    EXPECT_EQ(in.policy.pct, 50);
    EXPECT_EQ(in.policy.discovery_method, DiscoveryMethod::psl);
    EXPECT_EQ(rows->rua,
              (std::vector<std::string>{"mailto:dmarc@a.example!10m", "mailto:x@other.example"}));
}

// opendmarc.md §5.2: the window is the ledger's (after the last reported period), never "now".
TEST_P(ReportStoreTest, WindowFollowsTheLedgerAndCreateIsAtomic) {
    seed({row_for("a.example", kDay1 + 10, 1), row_for("a.example", kDay1 + kDay + 10, 2),
          row_for("b.example", kDay1 + 10, 3)});
    auto store = open();
    ASSERT_TRUE(store);
    auto backlog = store->domains_with_data(kDay1 + 2 * kDay - 1, "");
    ASSERT_TRUE(backlog) << backlog.error().message;
    ASSERT_EQ(backlog->size(), 2u);
    EXPECT_EQ((*backlog)[0].policy_domain, "a.example");
    EXPECT_EQ((*backlog)[0].first_unreported, kDay1 + 10);
    EXPECT_FALSE((*backlog)[0].last_period_end);

    const ReportPeriod day1{kDay1, kDay1 + kDay - 1};
    auto id = store->create_report(report_for("a.example", day1));
    ASSERT_TRUE(id) << id.error().message;
    auto again = store->create_report(report_for("a.example", day1));
    EXPECT_FALSE(again);  // the same period twice: refused, nothing half-written
    auto reports = store->reports();
    ASSERT_TRUE(reports);
    ASSERT_EQ(reports->size(), 1u);
    EXPECT_EQ((*reports)[0].message_count, 3u);
    EXPECT_EQ(store->deliveries_of((*reports)[0].report_id)->size(), 2u);

    backlog = store->domains_with_data(kDay1 + 2 * kDay - 1, "a.example");
    ASSERT_TRUE(backlog);
    ASSERT_EQ(backlog->size(), 1u);
    EXPECT_EQ((*backlog)[0].first_unreported, kDay1 + kDay + 10);
    EXPECT_EQ((*backlog)[0].last_period_end, kDay1 + kDay - 1);
    // The covered messages are marked: the period reads empty now.
    EXPECT_TRUE(store->period_rows("a.example", day1)->rows.empty());
    EXPECT_EQ(store->period_rows("b.example", day1)->rows.size(), 1u);
}

// Issue 6 item 5: pending -> temp_failed (due at next_retry) -> sent; the archive round-trips.
TEST_P(ReportStoreTest, DeliveryTransitionsAndDueRetries) {
    seed({row_for("a.example", kDay1 + 10, 1)});
    auto store = open();
    ASSERT_TRUE(store);
    const NewReport report = report_for("a.example", {kDay1, kDay1 + kDay - 1});
    ASSERT_TRUE(store->create_report(report));
    auto due = store->due_deliveries(kDay1 + kDay, "");
    ASSERT_TRUE(due) << due.error().message;
    ASSERT_EQ(due->size(), 1u);  // the ignored one is never due
    Delivery d = (*due)[0];
    EXPECT_EQ(d.archive, report.archive);
    EXPECT_EQ(d.report.report_id, report.report_id);
    EXPECT_EQ(d.max_size, 10485760u);
    d.status = DeliveryStatus::temp_failed;
    d.attempts = 1;
    d.next_retry = kDay1 + kDay + 900;
    d.smtp_reply = "451 4.3.0 later";
    ASSERT_TRUE(store->update_delivery(d));
    EXPECT_TRUE(store->due_deliveries(kDay1 + kDay + 899, "")->empty());
    due = store->due_deliveries(kDay1 + kDay + 900, "");
    ASSERT_EQ(due->size(), 1u);
    EXPECT_EQ((*due)[0].smtp_reply, "451 4.3.0 later");
    d.status = DeliveryStatus::sent;
    d.kind = DeliveryKind::split;
    d.parts_sent = 3;
    d.sent_at = kDay1 + kDay + 901;
    d.smtp_reply = "250 2.0.0 Ok";
    ASSERT_TRUE(store->update_delivery(d));
    EXPECT_TRUE(store->due_deliveries(kDay1 + 10 * kDay, "")->empty());
    auto all = store->deliveries_of(report.report_id);
    ASSERT_TRUE(all);
    EXPECT_EQ((*all)[0].status, DeliveryStatus::sent);
    EXPECT_EQ((*all)[0].kind, DeliveryKind::split);
    EXPECT_EQ((*all)[0].parts_sent, 3);
    EXPECT_EQ((*all)[0].sent_at, kDay1 + kDay + 901);
    EXPECT_EQ((*all)[1].status, DeliveryStatus::ignored);
    EXPECT_EQ((*all)[1].smtp_reply, "https: not a mailto URI");

    // --resend: sent deliveries become pending again; ignored ones stay ignored.
    EXPECT_TRUE(*store->reset_for_resend(report.report_id));
    EXPECT_FALSE(*store->reset_for_resend("nosuchid"));
    due = store->due_deliveries(kDay1 + 10 * kDay, report.report_id);
    ASSERT_EQ(due->size(), 1u);
    EXPECT_EQ((*due)[0].attempts, 0);
    EXPECT_EQ((*due)[0].kind, DeliveryKind::report);
}

TEST_P(ReportStoreTest, SuppressionsAddReplaceListRemove) {
    auto store = open();
    ASSERT_TRUE(store);
    ASSERT_TRUE(store->add_suppression({"dead.example", "bounces", 100, std::nullopt}));
    ASSERT_TRUE(store->add_suppression({"a@b.example", "asked", 100, 5000}));
    ASSERT_TRUE(store->add_suppression({"dead.example", "still bounces", 200, 9000}));
    auto list = store->suppressions();
    ASSERT_TRUE(list);
    ASSERT_EQ(list->size(), 2u);
    EXPECT_EQ((*list)[0].pattern, "a@b.example");
    EXPECT_EQ((*list)[0].expires, 5000);
    EXPECT_EQ((*list)[1].comment, "still bounces");
    EXPECT_EQ((*list)[1].added, 100);  // replaced in place: first added time kept
    EXPECT_TRUE(*store->remove_suppression("a@b.example"));
    EXPECT_FALSE(*store->remove_suppression("a@b.example"));
    EXPECT_EQ(store->suppressions()->size(), 1u);
}

// RFC 7489 §6.3 ri: the record's ri travels from the spool row to the store (store_0005: a
// record differing only in ri is a record of its own) and back with the next unreported message.
TEST_P(ReportStoreTest, NextUnreportedCarriesItsRecordsRi) {
    SpoolRow hourly = row_for("ri.example", kDay1 + 100, 1);
    hourly.record->ri = 3600;
    SpoolRow reported = row_for("ri.example", kDay1 + 150, 2, true, true);  // a report: skipped
    SpoolRow daily = row_for("ri.example", kDay1 + 200, 3);
    seed({hourly, reported, daily});
    auto store = open();
    ASSERT_TRUE(store);
    auto first = store->next_unreported("ri.example", kDay1, kDay1 + kDay);
    ASSERT_TRUE(first) << first.error().message;
    ASSERT_TRUE(*first);
    EXPECT_EQ((*first)->received, kDay1 + 100);
    EXPECT_EQ((*first)->ri, 3600u);
    auto second = store->next_unreported("ri.example", kDay1 + 101, kDay1 + kDay);
    ASSERT_TRUE(second && *second);
    EXPECT_EQ((*second)->received, kDay1 + 200);
    EXPECT_EQ((*second)->ri, 86400u);  // not published: the default
    auto none = store->next_unreported("ri.example", kDay1 + 201, kDay1 + kDay);
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);
    auto until = store->next_unreported("ri.example", kDay1 + 101, kDay1 + 199);
    ASSERT_TRUE(until);
    EXPECT_FALSE(*until);
}

// RFC 7489 Appendix C identifiers/envelope_to: the recipients' domain when the message has one,
// grouped on like every reported field; nothing when unknown or mixed.
TEST_P(ReportStoreTest, PeriodRowsCarryEnvelopeTo) {
    std::vector<SpoolRow> rows;
    const std::vector<std::vector<std::string>> recipients = {{"u@Rcpt.Example"},
                                                              {"v@rcpt.example"},
                                                              {"w@rcpt.example", "x@RCPT.example"},
                                                              {"a@one.example", "b@two.example"},
                                                              {},
                                                              {"postmaster"}};
    for (std::size_t i = 0; i < recipients.size(); ++i) {
        rows.push_back(
            row_for("to.example", kDay1 + 10 + static_cast<std::int64_t>(i), static_cast<int>(i)));
        rows.back().rfc5321_rcpt_to = recipients[i];
    }
    seed(rows);
    auto store = open();
    ASSERT_TRUE(store);
    auto period = store->period_rows("to.example", {kDay1, kDay1 + kDay - 1});
    ASSERT_TRUE(period) << period.error().message;
    std::map<std::string, std::uint64_t> by_envelope_to;
    for (const auto& r : period->rows) by_envelope_to[r.envelope_to_domain] += r.count;
    EXPECT_EQ(by_envelope_to, (std::map<std::string, std::uint64_t>{{"rcpt.example", 3}, {"", 3}}));
}

// Issue 6: one reporting run per store. The lock is refused to a second holder while the first
// has it and is free again once the first is gone (as when its process dies).
TEST_P(ReportStoreTest, RunLockIsExclusiveAndGoesWithItsHolder) {
    auto first = open();
    auto second = open();
    ASSERT_TRUE(first && second);
    auto a = first->acquire_run_lock(kDay1);
    ASSERT_TRUE(a) << a.error().message;
    EXPECT_TRUE(a->acquired);
    EXPECT_NE(a->holder.find("pid "), std::string::npos) << a->holder;
    auto b = second->acquire_run_lock(kDay1 + 1);
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_FALSE(b->acquired);
    if (GetParam() == "sqlite") {
        EXPECT_EQ(b->holder, a->holder);  // read from the lock file
    }
    first.reset();
    auto c = second->acquire_run_lock(kDay1 + 2);
    ASSERT_TRUE(c) << c.error().message;
    EXPECT_TRUE(c->acquired);
}

INSTANTIATE_TEST_SUITE_P(Backends, ReportStoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& test_param) { return test_param.param; });

}  // namespace
}  // namespace dmarc::io
