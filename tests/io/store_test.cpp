// io/store: idempotent, transactional import of history rows (issue 5: "importing the same input
// twice changes nothing", "domains lower-cased A-labels", expiry that keeps what unsent reports
// need). Parameterised by backend so the PostgreSQL implementation runs the same suite.
#include "io/store.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <map>
#include <thread>

#include "io/sqlite.hpp"
#include "pg_server.hpp"
#include "sample_rows.hpp"
#include "temp_dir.hpp"
#include "tests/io/sample_spool.hpp"

namespace dmarc::io {
namespace {

std::vector<ImportItem> sample_items(int from, int to) {
    std::vector<ImportItem> items;
    for (int i = from; i < to; ++i) items.push_back(ImportItem{test::sample_row(i), {}, {}});
    return items;
}

class StoreTest : public ::testing::TestWithParam<std::string> {
  protected:
    // Each name is one store; the same name opens the same store again.
    std::unique_ptr<Store> open(const std::string& name = "store.db") {
        std::string uri;
        if (GetParam() == "postgres") {
            auto* server = test::PgServer::instance();
            if (!server) return nullptr;
            auto& db = databases_[name];
            if (db.empty()) db = server->create_database();
            uri = db;
        } else {
            uri = "sqlite://" + dir_.file(name);
        }
        auto store = open_store(uri);
        EXPECT_TRUE(store) << store.error().message;
        return store ? std::move(*store) : nullptr;
    }
    void SetUp() override {
        if (GetParam() == "postgres" && !test::PgServer::instance()) {
            GTEST_SKIP() << test::PgServer::why();
        }
    }
    test::TempDir dir_;
    std::map<std::string, std::string> databases_;
};

TEST_P(StoreTest, ImportingTwiceChangesNothing) {
    auto store = open();
    ASSERT_TRUE(store);
    auto items = sample_items(0, 300);
    auto first = store->import(items, std::nullopt);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(first->inserted, 300u);
    EXPECT_EQ(first->duplicates, 0u);
    auto counts = store->counts();
    auto digest = store->content_digest();
    ASSERT_TRUE(counts && digest);
    EXPECT_EQ(counts->messages, 300);
    EXPECT_EQ(counts->dkim_results, 300);  // sample_row(i) has i % 3 signatures
    EXPECT_EQ(counts->reporters, 2);

    auto second = store->import(items, std::nullopt);
    ASSERT_TRUE(second);
    EXPECT_EQ(second->inserted, 0u);
    EXPECT_EQ(second->duplicates, 300u);
    EXPECT_EQ(*store->counts(), *counts);
    EXPECT_EQ(*store->content_digest(), *digest);
}

TEST_P(StoreTest, DigestIsIndependentOfOrderAndBatching) {
    auto a = open("a.db");
    auto b = open("b.db");
    ASSERT_TRUE(a && b);
    auto items = sample_items(0, 200);
    ASSERT_TRUE(a->import(items, std::nullopt));
    std::reverse(items.begin(), items.end());
    for (std::size_t i = 0; i < items.size(); i += 17) {
        auto n = std::min<std::size_t>(17, items.size() - i);
        ASSERT_TRUE(b->import(std::span(items).subspan(i, n), std::nullopt));
    }
    EXPECT_EQ(*a->counts(), *b->counts());
    EXPECT_EQ(*a->content_digest(), *b->content_digest());
    // And the digest sees content: one changed field changes it.
    auto c = open("c.db");
    auto changed = sample_items(0, 200);
    changed[57].row.spf_aligned = !changed[57].row.spf_aligned;
    ASSERT_TRUE(c->import(changed, std::nullopt));
    EXPECT_NE(*a->content_digest(), *c->content_digest());
}

TEST_P(StoreTest, DuplicateInsideOneBatchIsStoredOnce) {
    auto store = open();
    ASSERT_TRUE(store);
    auto items = sample_items(5, 6);
    items.push_back(items.front());
    auto r = store->import(items, std::nullopt);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->inserted, 1u);
    EXPECT_EQ(r->duplicates, 1u);
}

TEST_P(StoreTest, DomainsAreStoredAsLowerCaseALabels) {
    // design.md §7: "domains are stored lower-case A-labels"; RFC 5890 §2.3.2.1 A-labels.
    auto a = open("a.db");
    auto b = open("b.db");
    auto upper = sample_items(1, 2);
    upper[0].row.rfc5322_from_domain =
        "B\xc3\xbc"
        "cher.EXAMPLE";
    upper[0].row.dkim = {SpoolDkim{"MAIL.Example.COM", "s1", DkimResult::pass}};
    auto lower = upper;
    lower[0].row.rfc5322_from_domain = "xn--bcher-kva.example";
    lower[0].row.dkim = {SpoolDkim{"mail.example.com", "s1", DkimResult::pass}};
    ASSERT_TRUE(a->import(upper, std::nullopt));
    ASSERT_TRUE(b->import(lower, std::nullopt));
    EXPECT_EQ(*a->content_digest(), *b->content_digest());
    EXPECT_EQ(a->counts()->domains, b->counts()->domains);
}

TEST_P(StoreTest, WatermarkCommitsWithTheRowsAndOnlyMovesForward) {
    auto store = open();
    ASSERT_TRUE(store);
    auto none = store->watermark("spool:abc");
    ASSERT_TRUE(none);
    EXPECT_FALSE(*none);
    ASSERT_TRUE(store->import(sample_items(0, 10), Watermark{"spool:abc", 10}));
    EXPECT_EQ(store->watermark("spool:abc")->value_or(-1), 10);
    ASSERT_TRUE(store->import(sample_items(0, 5), Watermark{"spool:abc", 5}));
    EXPECT_EQ(store->watermark("spool:abc")->value_or(-1), 10);
    ASSERT_TRUE(store->import({}, Watermark{"spool:def", 3}));
    EXPECT_EQ(store->watermark("spool:def")->value_or(-1), 3);
}

// Watermark::sync false (io/import's spool batches): committed when import() returns, so another
// connection sees rows and watermark; Store::sync() then puts it on disk.
TEST_P(StoreTest, UnsyncedWatermarkBatchIsCommittedAndSyncs) {
    auto store = open();
    ASSERT_TRUE(store);
    auto r = store->import(sample_items(0, 20), Watermark{"spool:abc", 20, false});
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->inserted, 20u);
    auto synced = store->sync();
    ASSERT_TRUE(synced) << synced.error().message;
    auto other = open();
    ASSERT_TRUE(other);
    EXPECT_EQ(other->watermark("spool:abc")->value_or(-1), 20);
    EXPECT_EQ(other->counts()->messages, 20);
    EXPECT_TRUE(other->sync());
}

TEST_P(StoreTest, ExpireKeepsWhatUnsentReportsNeed) {
    auto store = open();
    ASSERT_TRUE(store);
    auto items = sample_items(0, 120);
    ASSERT_TRUE(store->import(items, std::nullopt));
    const std::int64_t cutoff = 1700000000 + 60;
    std::int64_t old_needed = 0, old_other = 0;
    for (int i = 0; i < 60; ++i) {
        const auto& row = items[static_cast<std::size_t>(i)].row;
        bool needed = !row.is_report && row.record && !row.record->rua.empty();
        (needed ? old_needed : old_other) += 1;
    }
    auto r = store->expire(cutoff);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->messages_deleted, old_other);
    EXPECT_EQ(r->messages_kept_unreported, old_needed);
    EXPECT_EQ(store->counts()->messages, 120 - old_other);
    // DKIM results of deleted messages go with them.
    std::int64_t dkim_left = 0;
    for (int i = 0; i < 120; ++i) {
        const auto& row = items[static_cast<std::size_t>(i)].row;
        bool needed = !row.is_report && row.record && !row.record->rua.empty();
        if (i >= 60 || needed) dkim_left += static_cast<std::int64_t>(row.dkim.size());
    }
    EXPECT_EQ(store->counts()->dkim_results, dkim_left);
}

INSTANTIATE_TEST_SUITE_P(Backends, StoreTest, ::testing::Values("sqlite", "postgres"),
                         [](const auto& param_info) { return param_info.param; });

TEST(StoreBackends, SameRowsGiveTheSameDigestInSqliteAndPostgres) {
    auto* server = test::PgServer::instance();
    if (!server) GTEST_SKIP() << test::PgServer::why();
    test::TempDir dir;
    auto lite = open_store("sqlite://" + dir.file("s.db"));
    auto pg = open_store(server->create_database());
    ASSERT_TRUE(lite && pg) << (pg ? "" : pg.error().message);
    auto items = sample_items(0, 500);
    ASSERT_TRUE((*lite)->import(items, std::nullopt));
    ASSERT_TRUE((*pg)->import(items, std::nullopt));
    EXPECT_EQ(*(*lite)->counts(), *(*pg)->counts());
    EXPECT_EQ(*(*lite)->content_digest(), *(*pg)->content_digest());
}

TEST(StorePostgres, NewerStoreIsRefused) {
    auto* server = test::PgServer::instance();
    if (!server) GTEST_SKIP() << test::PgServer::why();
    std::string uri = server->create_database();
    ASSERT_TRUE(open_store(uri));
    PGconn* conn = PQconnectdb(uri.c_str());
    PQclear(PQexec(conn, "UPDATE schema_version SET version = version + 1"));
    PQfinish(conn);
    auto store = open_store(uri);
    ASSERT_FALSE(store);
    EXPECT_EQ(store.error().code, Errc::invalid_value);
    EXPECT_NE(store.error().message.find("upgrade this program"), std::string::npos);
}

TEST(StorePostgres, TwoCollectorsAtOnceGiveNoDuplicatesAndNoErrors) {
    // Issue 5 item 4: two importers into one PostgreSQL store at the same time, overlapping rows.
    auto* server = test::PgServer::instance();
    if (!server) GTEST_SKIP() << test::PgServer::why();
    std::string uri = server->create_database();
    ASSERT_TRUE(open_store(uri));
    auto a = open_store(uri);
    auto b = open_store(uri);
    ASSERT_TRUE(a && b);
    std::vector<ImportItem> first = sample_items(0, 3000), second = sample_items(1500, 4500);
    Result<ImportResult> ra, rb;
    std::thread ta([&] {
        for (std::size_t i = 0; i < first.size(); i += 250) {
            ra = (*a)->import(std::span(first).subspan(i, 250), std::nullopt);
            if (!ra) return;
        }
    });
    std::thread tb([&] {
        for (std::size_t i = 0; i < second.size(); i += 250) {
            rb = (*b)->import(std::span(second).subspan(i, 250), std::nullopt);
            if (!rb) return;
        }
    });
    ta.join();
    tb.join();
    ASSERT_TRUE(ra) << ra.error().message;
    ASSERT_TRUE(rb) << rb.error().message;
    EXPECT_EQ((*a)->counts()->messages, 4500);
    test::TempDir dir;
    auto lite = open_store("sqlite://" + dir.file("s.db"));
    ASSERT_TRUE((*lite)->import(sample_items(0, 4500), std::nullopt));
    EXPECT_EQ(*(*lite)->content_digest(), *(*a)->content_digest());
}

TEST(StoreSqlite, PolicyRecordsSeenSpanEveryImport) {
    test::TempDir dir;
    auto store = open_store("sqlite://" + dir.file("s.db"));
    ASSERT_TRUE(store);
    auto a = sample_items(3, 4);
    auto b = a;
    b[0].row.queue_id = "other";
    b[0].row.time += 1000;
    auto c = a;
    c[0].row.queue_id = "earlier";
    c[0].row.time -= 500;
    ASSERT_TRUE((*store)->import(a, std::nullopt));
    ASSERT_TRUE((*store)->import(b, std::nullopt));
    ASSERT_TRUE((*store)->import(c, std::nullopt));
    EXPECT_EQ((*store)->counts()->policy_records, 1);
    store->reset();
    auto db = sqlite::Db::open(dir.file("s.db"));
    ASSERT_TRUE(db);
    auto q = db->prepare("SELECT first_seen, last_seen FROM policy_records");
    ASSERT_TRUE(q);
    ASSERT_TRUE(*q->step());
    EXPECT_EQ(q->column_int64(0), a[0].row.time - 500);
    EXPECT_EQ(q->column_int64(1), a[0].row.time + 1000);
    q->reset();
}

std::pair<std::int64_t, std::int64_t> record_span(const std::string& path) {
    auto db = sqlite::Db::open(path);
    EXPECT_TRUE(db);
    if (!db) return {};
    auto q = db->prepare("SELECT first_seen, last_seen FROM policy_records");
    EXPECT_TRUE(q);
    auto row = q->step();
    EXPECT_TRUE(row && *row);
    std::pair<std::int64_t, std::int64_t> span{q->column_int64(0), q->column_int64(1)};
    q->reset();
    return span;
}

// The importer remembers the span it wrote and skips updates inside it: a record new in a batch
// that meets it again earlier in that batch, and a span another connection widened meanwhile
// (its own insert meeting the existing record), must still come out right.
TEST(StoreSqlite, PolicyRecordSpanWithinABatchAndAcrossConnections) {
    test::TempDir dir;
    const std::string path = dir.file("s.db");
    auto a = open_store("sqlite://" + path);
    auto b = open_store("sqlite://" + path);
    ASSERT_TRUE(a && b);
    auto item = sample_items(3, 4)[0];
    const std::int64_t t = item.row.time;
    auto at = [&](std::int64_t time, std::string queue_id) {
        auto copy = item;
        copy.row.time = time;
        copy.row.queue_id = std::move(queue_id);
        return copy;
    };
    // New in this batch at t+10, then met again at t-10 in the same batch.
    ASSERT_TRUE((*a)->import(std::vector{at(t + 10, "q1"), at(t - 10, "q2")}, std::nullopt));
    EXPECT_EQ(record_span(path), std::make_pair(t - 10, t + 10));
    // Another connection finds the record (its insert conflicts) and widens the span.
    ASSERT_TRUE((*b)->import(std::vector{at(t - 100, "q3"), at(t + 1000, "q4")}, std::nullopt));
    EXPECT_EQ(record_span(path), std::make_pair(t - 100, t + 1000));
    // The first connection's remembered span is stale but narrower: inside it, nothing to do;
    // beyond it, min/max keep what the other connection wrote.
    ASSERT_TRUE((*a)->import(std::vector{at(t, "q5")}, std::nullopt));
    ASSERT_TRUE((*a)->import(std::vector{at(t + 500, "q6")}, std::nullopt));
    EXPECT_EQ(record_span(path), std::make_pair(t - 100, t + 1000));
    ASSERT_TRUE((*a)->import(std::vector{at(t + 2000, "q7")}, std::nullopt));
    EXPECT_EQ(record_span(path), std::make_pair(t - 100, t + 2000));
    EXPECT_EQ((*a)->counts()->policy_records, 1);
    EXPECT_EQ((*a)->counts()->messages, 7);
}

bool has_index(const std::vector<std::string>& indexes, std::string_view name) {
    return std::any_of(indexes.begin(), indexes.end(), [&](const std::string& s) {
        return s.starts_with(std::string(name) + ":");
    });
}

TEST(StoreSqlite, BulkImportDefersSecondaryIndexesAndRebuildsThem) {
    test::TempDir dir;
    const std::string path = dir.file("bulk.db");
    auto store = open_store("sqlite://" + path);
    ASSERT_TRUE(store);
    const auto before = test::sqlite_indexes(path);
    ASSERT_TRUE(has_index(before, "messages_ip"));
    ASSERT_TRUE(has_index(before, "messages_policy_domain"));
    EXPECT_EQ(before.back(), "ok");

    // Below the threshold nothing changes.
    ASSERT_TRUE((*store)->begin_bulk(1000));
    EXPECT_EQ(test::sqlite_indexes(path), before);
    ASSERT_TRUE((*store)->end_bulk());

    // An import at least as large as the (empty) table: the plain secondary indexes go, the
    // deduplication key and the partial report index stay, and end_bulk() puts back the same
    // indexes, consistent with every row imported meanwhile.
    ASSERT_TRUE((*store)->begin_bulk(1000000));
    const auto during = test::sqlite_indexes(path);
    EXPECT_FALSE(has_index(during, "messages_ip"));
    EXPECT_FALSE(has_index(during, "messages_policy_domain"));
    EXPECT_TRUE(has_index(during, "messages_report"));
    EXPECT_TRUE(has_index(during, "sqlite_autoindex_messages_1"));
    auto items = sample_items(0, 3000);
    auto first = (*store)->import(items, std::nullopt);
    ASSERT_TRUE(first) << first.error().message;
    EXPECT_EQ(first->inserted, 3000u);
    ASSERT_TRUE((*store)->import(items, std::nullopt));  // duplicates still found
    ASSERT_TRUE((*store)->end_bulk());
    EXPECT_EQ(test::sqlite_indexes(path), before);

    // Same content as an import that kept its indexes throughout.
    auto plain = open_store("sqlite://" + dir.file("plain.db"));
    ASSERT_TRUE(plain);
    ASSERT_TRUE((*plain)->import(items, std::nullopt));
    EXPECT_EQ(*(*store)->counts(), *(*plain)->counts());
    EXPECT_EQ(*(*store)->content_digest(), *(*plain)->content_digest());
}

TEST(StoreSqlite, BulkImportKilledBeforeItsEndIsRepairedOnTheNextOpen) {
    test::TempDir dir;
    const std::string path = dir.file("killed.db");
    const auto before = [&] {
        auto store = open_store("sqlite://" + path);
        EXPECT_TRUE(store);
        return test::sqlite_indexes(path);
    }();
    {
        auto store = open_store("sqlite://" + path);
        ASSERT_TRUE(store);
        ASSERT_TRUE((*store)->begin_bulk(1000000));
        ASSERT_TRUE((*store)->import(sample_items(0, 2000), std::nullopt));
        // Gone without end_bulk(), as after a kill -9.
    }
    EXPECT_FALSE(has_index(test::sqlite_indexes(path), "messages_ip"));
    auto reopened = open_store("sqlite://" + path);
    ASSERT_TRUE(reopened) << reopened.error().message;
    EXPECT_EQ(test::sqlite_indexes(path), before);
    EXPECT_EQ((*reopened)->counts()->messages, 2000);
}

TEST(StoreSqlite, DatabaseUris) {
    test::TempDir dir;
    EXPECT_TRUE(open_store("sqlite://" + dir.file("a.db")));
    EXPECT_TRUE(open_store(dir.file("b.db")));
    auto relative = open_store("sqlite://relative.db");
    ASSERT_FALSE(relative);
    EXPECT_NE(relative.error().message.find("sqlite:///absolute/path"), std::string::npos);
    auto pg = open_store("postgresql://dmarc@127.0.0.1:1/dmarc");  // nothing listens on port 1
    ASSERT_FALSE(pg);
    EXPECT_EQ(pg.error().code, Errc::temporary);
    EXPECT_NE(pg.error().message.find("PostgreSQL"), std::string::npos);
    EXPECT_FALSE(open_store("mysql://x/y"));
}

TEST(StoreSqlite, NewerStoreIsRefused) {
    test::TempDir dir;
    ASSERT_TRUE(open_store(dir.file("a.db")));
    {
        auto db = sqlite::Db::open(dir.file("a.db"));
        ASSERT_TRUE(db);
        ASSERT_TRUE(db->exec("UPDATE schema_version SET version = version + 1"));
    }
    auto store = open_store(dir.file("a.db"));
    ASSERT_FALSE(store);
    EXPECT_NE(store.error().message.find("upgrade this program"), std::string::npos);
}

}  // namespace
}  // namespace dmarc::io
