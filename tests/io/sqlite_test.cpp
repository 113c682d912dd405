// io/sqlite: connection settings, Transaction rollback, and the versioned schema/ migrations
// (issue 5: applied automatically; a store newer than the program is refused with a message).
#include "io/sqlite.hpp"

#include <gtest/gtest.h>

#include "io/schema.hpp"
#include "temp_dir.hpp"

namespace dmarc::io::sqlite {
namespace {

std::int64_t scalar(Db& db, std::string_view sql) {
    auto stmt = db.prepare(sql);
    EXPECT_TRUE(stmt) << stmt.error().message;
    auto row = stmt->step();
    EXPECT_TRUE(row && *row);
    std::int64_t value = stmt->column_int64(0);
    stmt->reset();
    return value;
}

TEST(Sqlite, OpenSetsWalForeignKeysAndBusyTimeout) {
    test::TempDir dir;
    auto db = Db::open(dir.file("a.db"));
    ASSERT_TRUE(db) << db.error().message;
    auto mode = db->prepare("PRAGMA journal_mode");
    ASSERT_TRUE(mode);
    ASSERT_TRUE(*mode->step());
    EXPECT_EQ(mode->column_text(0), "wal");
    mode->reset();
    EXPECT_EQ(scalar(*db, "PRAGMA foreign_keys"), 1);
    EXPECT_EQ(scalar(*db, "PRAGMA busy_timeout"), 5000);
}

TEST(Sqlite, TransactionRollsBackUnlessCommitted) {
    test::TempDir dir;
    auto db = Db::open(dir.file("a.db"));
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("CREATE TABLE t(x INTEGER)"));
    {
        auto tx = Transaction::begin(*db);
        ASSERT_TRUE(tx);
        ASSERT_TRUE(db->exec("INSERT INTO t VALUES (1)"));
    }
    EXPECT_EQ(scalar(*db, "SELECT count(*) FROM t"), 0);
    {
        auto tx = Transaction::begin(*db);
        ASSERT_TRUE(tx);
        ASSERT_TRUE(db->exec("INSERT INTO t VALUES (2)"));
        ASSERT_TRUE(tx->commit());
    }
    EXPECT_EQ(scalar(*db, "SELECT count(*) FROM t"), 1);
}

TEST(Sqlite, EmptyStringBindsAsEmptyNotNull) {
    test::TempDir dir;
    auto db = Db::open(dir.file("a.db"));
    ASSERT_TRUE(db);
    ASSERT_TRUE(db->exec("CREATE TABLE t(x TEXT)"));
    auto ins = db->prepare("INSERT INTO t VALUES (?1)");
    ASSERT_TRUE(ins);
    ins->bind(1, std::string_view{});
    ASSERT_TRUE(ins->run());
    EXPECT_EQ(scalar(*db, "SELECT count(*) FROM t WHERE x = ''"), 1);
}

TEST(Sqlite, EveryEmbeddedMigrationIsNumberedFromOne) {
    // schema/embed.cmake: <backend>/<component>_NNNN_<name>.sql, versions 1..n without gaps.
    for (auto [backend, component] : {std::pair{"sqlite", "spool"}, std::pair{"sqlite", "store"},
                                      std::pair{"postgres", "store"}}) {
        int n = known_version(backend, component);
        EXPECT_GE(n, 1) << backend << "/" << component;
        for (int v = 1; v <= n; ++v) {
            int found = 0;
            for (const auto& m : schema::all_migrations()) {
                if (m.backend == backend && m.component == component && m.version == v) ++found;
            }
            EXPECT_EQ(found, 1) << backend << "/" << component << " version " << v;
        }
    }
}

TEST(Sqlite, MigrateCreatesTheStoreAndIsIdempotent) {
    test::TempDir dir;
    auto db = Db::open(dir.file("store.db"));
    ASSERT_TRUE(db);
    auto v = migrate(*db, "store");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(*v, known_version("sqlite", "store"));
    for (const char* table :
         {"domains", "reporters", "ip_addresses", "policy_records", "messages", "dkim_results",
          "reports", "report_deliveries", "suppressions", "import_sources"}) {
        EXPECT_EQ(scalar(*db, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='" +
                                  std::string(table) + "'"),
                  1)
            << table;
    }
    auto again = migrate(*db, "store");
    ASSERT_TRUE(again);
    EXPECT_EQ(*again, *v);
}

TEST(Sqlite, NewerSchemaIsRefusedWithAClearMessage) {
    test::TempDir dir;
    auto db = Db::open(dir.file("store.db"));
    ASSERT_TRUE(db);
    ASSERT_TRUE(migrate(*db, "store"));
    int newer = known_version("sqlite", "store") + 1;
    ASSERT_TRUE(db->exec("UPDATE schema_version SET version=" + std::to_string(newer) +
                         " WHERE component='store'"));
    auto v = migrate(*db, "store");
    ASSERT_FALSE(v);
    EXPECT_EQ(v.error().code, Errc::invalid_value);
    EXPECT_NE(v.error().message.find("newer than version"), std::string::npos) << v.error().message;
    EXPECT_NE(v.error().message.find("upgrade this program"), std::string::npos);
}

// store_0005 rebuilds policy_records (ri joins its UNIQUE key, RFC 7489 §6.3): a store at
// version 4 with data keeps every record id and the messages pointing at them, gains ri = 86400,
// accepts a record differing only in ri, and still enforces foreign keys afterwards.
TEST(Sqlite, Store0005KeepsRecordIdsAndAddsRi) {
    test::TempDir dir;
    auto db = Db::open(dir.file("store.db"));
    ASSERT_TRUE(db);
    for (const auto& m : schema::all_migrations()) {
        if (m.backend == "sqlite" && m.component == "store" && m.version <= 4) {
            ASSERT_TRUE(db->exec(m.sql)) << m.name;
        }
    }
    ASSERT_TRUE(db->exec("INSERT OR REPLACE INTO schema_version VALUES ('store', 4)"));
    ASSERT_TRUE(db->exec(
        "INSERT INTO domains(id, name) VALUES (7, 'a.example');"
        "INSERT INTO reporters(id, name) VALUES (1, 'mx');"
        "INSERT INTO ip_addresses(id, addr) VALUES (1, '192.0.2.1');"
        "INSERT INTO policy_records(id, domain_id, p, sp, np, adkim, aspf, pct, testing, fo, rua, "
        "first_seen, last_seen) VALUES (42, 7, 'reject', '', '', 'relaxed', 'relaxed', 100, 0, "
        "'0', 'mailto:d@a.example', 1, 2);"
        "INSERT INTO messages(reporter_id, job_id, received, ip_id, header_from_domain_id, "
        "policy_domain_id, policy_record_id, spf_result, spf_scope, dkim_aligned, spf_aligned, "
        "dmarc_result, disposition, action, origin) VALUES (1, 'q1', 1, 1, 7, 7, 42, 'pass', "
        "'mfrom', 1, 1, 'pass', 'none', 'accept', 'spool')"));
    auto v = migrate(*db, "store");
    ASSERT_TRUE(v) << v.error().message;
    EXPECT_EQ(*v, known_version("sqlite", "store"));
    EXPECT_GE(*v, 5);
    EXPECT_EQ(scalar(*db, "SELECT ri FROM policy_records WHERE id = 42"), 86400);
    EXPECT_EQ(scalar(*db,
                     "SELECT count(*) FROM messages m JOIN policy_records pr ON pr.id = "
                     "m.policy_record_id"),
              1);
    EXPECT_TRUE(db->exec(
        "INSERT INTO policy_records(domain_id, p, sp, np, adkim, aspf, pct, testing, fo, rua, "
        "first_seen, last_seen, ri) VALUES (7, 'reject', '', '', 'relaxed', 'relaxed', 100, 0, "
        "'0', 'mailto:d@a.example', 3, 3, 3600)"));
    EXPECT_EQ(scalar(*db, "PRAGMA foreign_keys"), 1);
    EXPECT_FALSE(db->exec("UPDATE messages SET policy_record_id = 9999"));
}

TEST(Sqlite, ForeignKeysAreEnforcedInTheStore) {
    test::TempDir dir;
    auto db = Db::open(dir.file("store.db"));
    ASSERT_TRUE(db);
    ASSERT_TRUE(migrate(*db, "store"));
    auto r = db->exec(
        "INSERT INTO dkim_results(message_id, seq, domain_id, selector, result) "
        "VALUES (42, 0, 7, 's', 'pass')");
    EXPECT_FALSE(r);
}

}  // namespace
}  // namespace dmarc::io::sqlite
