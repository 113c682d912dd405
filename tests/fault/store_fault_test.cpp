// Fault injection, storage (issue 8 item 3): the milter's spool on a full and on a read-only disk
// (a small tmpfs mounted for the test), the collector's SQLite store locked by another writer and
// on a full disk, and PostgreSQL restarted during an import. What must be kept: the milter's
// verdicts never change and mail is never tempfailed for history trouble (OpenDMARC §8.2 #23),
// every spool row lost to the disk is counted in the log and writing resumes when the disk
// does; the collector fails with a clear message and exit status (75 busy, or an I/O error), never
// imports a row twice, and a rerun gives exactly the store of a clean import (counts and content
// digest) with the spool emptied.
#include <signal.h>
#include <sqlite3.h>
#include <sys/mount.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cstring>
#include <fstream>
#include <set>
#include <thread>

#include "core/history_text.hpp"
#include "io/spool.hpp"
#include "io/store.hpp"
#include "tests/fault/fault_support.hpp"
#include "tests/integration/program_runner.hpp"
#include "tests/io/pg_server.hpp"
#include "tests/io/sample_rows.hpp"
#include "tests/io/sample_spool.hpp"
#include "tests/io/temp_dir.hpp"

namespace dmarc::fault {
namespace {

using namespace std::chrono_literals;

// A tmpfs of `bytes` mounted on a fresh directory for one test (root only), unmounted after.
class Tmpfs {
  public:
    explicit Tmpfs(std::size_t bytes) {
        if (::geteuid() != 0) {
            why_ = "mounting a tmpfs needs root";
            return;
        }
        if (::mount("tmpfs", dir_.path().c_str(), "tmpfs", 0,
                    ("size=" + std::to_string(bytes)).c_str()) != 0) {
            why_ = std::string("mount tmpfs: ") + std::strerror(errno);
            return;
        }
        mounted_ = true;
    }
    ~Tmpfs() {
        if (mounted_ && ::umount2(dir_.path().c_str(), 0) != 0) {
            ::umount2(dir_.path().c_str(), MNT_DETACH);  // a child still holds a file
        }
    }
    Tmpfs(const Tmpfs&) = delete;
    Tmpfs& operator=(const Tmpfs&) = delete;

    bool mounted() const { return mounted_; }
    const std::string& why() const { return why_; }
    std::string file(const std::string& name) const { return dir_.file(name); }
    bool remount(const std::string& options) {
        return ::mount("tmpfs", dir_.path().c_str(), "tmpfs", MS_REMOUNT,
                       options.empty() ? nullptr : options.c_str()) == 0;
    }
    bool read_only(bool on) {
        return ::mount("tmpfs", dir_.path().c_str(), "tmpfs",
                       MS_REMOUNT | (on ? static_cast<unsigned long>(MS_RDONLY) : 0UL),
                       nullptr) == 0;
    }
    // Writes a filler file until the disk is full; returns its size.
    std::size_t fill() {
        std::ofstream out(file("filler"), std::ios::binary | std::ios::trunc);
        std::string block(4096, 'x');
        std::size_t written = 0;
        while (out.write(block.data(), static_cast<std::streamsize>(block.size()))) {
            out.flush();
            if (!out) break;
            written += block.size();
        }
        return written;
    }
    void unfill() { std::filesystem::remove(file("filler")); }

  private:
    test::TempDir dir_;
    bool mounted_ = false;
    std::string why_;
};

// Rows the log says were lost: "HistoryDatabase <path>: <why>; N row(s) lost". (Parsed by
// hand: std::regex trips GCC 12's -Wmaybe-uninitialized in the sanitizer build.)
std::uint64_t rows_lost_in_log(const std::string& log) {
    static const std::string kTail = " row(s) lost";
    std::uint64_t lost = 0;
    for (auto at = log.find(kTail); at != std::string::npos; at = log.find(kTail, at + 1)) {
        auto start = log.rfind("; ", at);
        if (start == std::string::npos) continue;
        lost += std::stoull(log.substr(start + 2, at - start - 2));
    }
    return lost;
}

// Spool disk full: mail flows with unchanged verdicts; every row lost to the disk is counted in
// the log; writing resumes when there is room again.
TEST(SpoolFault, DiskFullKeepsVerdictsAndCountsEveryLostRow) {
    Tmpfs disk(1024 * 1024);
    if (!disk.mounted()) GTEST_SKIP() << disk.why();
    test_support::MilterTempDir dir;
    const std::string spool = disk.file("spool.db");
    FaultMilter milter(dir.path(), demo_config(spool));
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    const std::string socket = milter.socket();

    std::vector<std::string> before, during, after;
    auto send = [&](std::vector<std::string>& ids, const std::string& prefix, int count) {
        for (int i = 0; i < count; ++i) {
            const std::string id = prefix + std::to_string(i);
            auto t = send_timed(socket, demo_spoof(id), 10s);
            ASSERT_TRUE(t.response) << t.response.error().message;
            // The verdict is the same whatever the disk does: never a tempfail.
            EXPECT_EQ(t.response->code, 'y') << id;
            EXPECT_TRUE(t.response->is_reject()) << t.response->reply;
            ids.push_back(id);
        }
    };
    send(before, "QB", 20);
    // Committed before the disk fills (the writer commits within 50 ms of a row; waited for,
    // not slept on, so that a loaded machine cannot move a "before" row into the fault).
    for (int i = 0; i < 500; ++i) {
        auto reader = io::SpoolReader::open(spool);
        auto n = reader ? reader->count() : Result<std::int64_t>(0);
        if (n && *n >= 20) break;
        std::this_thread::sleep_for(10ms);
    }
    disk.fill();
    send(during, "QD", 200);
    ASSERT_TRUE(milter.wait_for_log("row(s) lost")) << milter.log();
    disk.unfill();
    // The writer retries the file on the next batch: rows are written again.
    send(after, "QA", 20);
    EXPECT_EQ(milter.stop(), 0) << milter.log();
    const std::string log = milter.log();
    EXPECT_NE(log.find("stats: messages=240"), std::string::npos) << log;

    auto reader = io::SpoolReader::open(spool);
    ASSERT_TRUE(reader) << reader.error().message;
    auto batch = reader->read_after(0, 10000);
    ASSERT_TRUE(batch);
    EXPECT_TRUE(batch->bad_rows.empty());
    std::set<std::string> stored;
    for (const auto& e : batch->entries) {
        EXPECT_TRUE(stored.insert(e.row.queue_id).second) << "row twice: " << e.row.queue_id;
        EXPECT_EQ(e.row.dmarc_result, DmarcResult::fail);
        EXPECT_EQ(e.row.action, MilterAction::reject);
    }
    // Before and after the fault: every row is there. During it: each row is stored or counted
    // lost in the log, never both, never neither.
    for (const auto& id : before) EXPECT_TRUE(stored.count(id)) << id;
    for (const auto& id : after) EXPECT_TRUE(stored.count(id)) << id << "\n" << log;
    std::size_t during_stored = 0;
    for (const auto& id : during) during_stored += stored.count(id);
    EXPECT_EQ(during_stored + rows_lost_in_log(log), during.size()) << log;
    EXPECT_GT(rows_lost_in_log(log), 0u);
}

// The spool's disk is read-only (Linux refuses to remount a file system read-only while a file
// on it is open for writing, so the milter meets it read-only at start): mail flows with
// unchanged verdicts and the log says the spool is not written; once the disk is writable, a
// SIGHUP opens the spool and every later row is written.
TEST(SpoolFault, ReadOnlyDiskKeepsVerdictsAndResumesOnReload) {
    Tmpfs disk(1024 * 1024);
    if (!disk.mounted()) GTEST_SKIP() << disk.why();
    ASSERT_TRUE(disk.read_only(true)) << std::strerror(errno);
    test_support::MilterTempDir dir;
    const std::string spool = disk.file("spool.db");
    FaultMilter milter(dir.path(), demo_config(spool));
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    const std::string socket = milter.socket();
    EXPECT_NE(milter.log().find("spool is not written"), std::string::npos) << milter.log();
    for (int i = 0; i < 20; ++i) {
        auto t = send_timed(socket, demo_spoof("QR" + std::to_string(i)), 10s);
        ASSERT_TRUE(t.response) << t.response.error().message;
        EXPECT_TRUE(t.response->is_reject()) << t.response->code;
    }
    ASSERT_TRUE(disk.read_only(false)) << std::strerror(errno);
    milter.signal(SIGHUP);
    ASSERT_TRUE(milter.wait_for_log("configuration reloaded")) << milter.log();
    std::vector<std::string> after;
    for (int i = 0; i < 20; ++i) {
        after.push_back("QW" + std::to_string(i));
        auto t = send_timed(socket, demo_spoof(after.back()), 10s);
        ASSERT_TRUE(t.response) << t.response.error().message;
        EXPECT_TRUE(t.response->is_reject()) << t.response->code;
    }
    EXPECT_EQ(milter.stop(), 0) << milter.log();
    auto reader = io::SpoolReader::open(spool);
    ASSERT_TRUE(reader) << reader.error().message;
    auto batch = reader->read_after(0, 1000);
    ASSERT_TRUE(batch);
    std::set<std::string> stored;
    for (const auto& e : batch->entries) {
        stored.insert(e.row.queue_id);
        EXPECT_EQ(e.row.dmarc_result, DmarcResult::fail);
    }
    EXPECT_EQ(stored.size(), after.size());
    for (const auto& id : after) EXPECT_TRUE(stored.count(id)) << id;
}

// ---- the collector --------------------------------------------------------------------------

class CollectorFault : public ::testing::Test {
  protected:
    test::ProgramResult run(const std::vector<std::string>& args) {
        return test::run_program_to(collector_binary(), args, dir_.file("out"), dir_.file("err"));
    }
    pid_t start(const std::vector<std::string>& args) {
        return test::spawn_program(collector_binary(), args, dir_.file("out"), dir_.file("err"));
    }
    std::string spool(const std::string& path, int rows) {
        return test::write_sample_spool(path, rows);
    }
    std::pair<io::StoreCounts, std::string> snapshot(const std::string& uri) {
        return test::store_snapshot(uri);
    }
    // The store a clean import of sample rows [0, rows) gives.
    std::pair<io::StoreCounts, std::string> reference(int rows) {
        const std::string uri = "sqlite://" + dir_.file("reference.db");
        {
            auto store = io::open_store(uri);
            EXPECT_TRUE(store);
            std::vector<io::ImportItem> items;
            for (int i = 0; i < rows; ++i) items.push_back({test::sample_row(i), {}, {}});
            EXPECT_TRUE((*store)->import(items, std::nullopt));
        }
        return snapshot(uri);
    }
    std::int64_t spool_rows(const std::string& path) {
        auto reader = io::SpoolReader::open(path);
        EXPECT_TRUE(reader);
        return reader ? *reader->count() : -1;
    }
    test::TempDir dir_;
};

// Another writer holds the store (a second SQLite connection in BEGIN EXCLUSIVE) past the
// collector's busy timeout, in the middle of an import: the collector stops with exit 75 and a
// message naming the lock; rows it committed stay, no row is doubled; the rerun completes.
TEST_F(CollectorFault, StoreLockedByAnotherWriterDuringImport) {
    constexpr int kRows = 40000;
    const auto expected = reference(kRows);
    const std::string spool_path = spool(dir_.file("spool.db"), kRows);
    const std::string store_path = dir_.file("store.db");
    const std::string uri = "sqlite://" + store_path;
    ASSERT_TRUE(io::open_store(uri));  // created, so the lock below has a file to hold

    sqlite3* other = nullptr;
    ASSERT_EQ(sqlite3_open(store_path.c_str(), &other), SQLITE_OK);
    sqlite3_busy_timeout(other, 30000);
    pid_t pid = start({"spool", "--database", uri, "--batch", "500", spool_path});
    // Let it commit some batches, then take the write lock between two of them. The store is
    // watched, not the spool: the collector empties the spool behind its commits, in a reader
    // thread, so the spool lags the store.
    auto stored = [&] {
        sqlite3_stmt* st = nullptr;
        std::int64_t n = 0;
        if (sqlite3_prepare_v2(other, "SELECT count(*) FROM messages", -1, &st, nullptr) ==
                SQLITE_OK &&
            sqlite3_step(st) == SQLITE_ROW) {
            n = sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
        return n;
    };
    for (int i = 0; i < 2000 && stored() == 0; ++i) std::this_thread::sleep_for(1ms);
    // The collector's writer starts its next transaction as soon as one commits, so a waiting
    // BEGIN EXCLUSIVE can starve until the import ends. Catch it between two transactions:
    // stop it, try the lock without waiting, let it run a moment if it held the lock.
    sqlite3_busy_timeout(other, 0);
    bool locked = false;
    for (int i = 0; i < 5000 && !locked; ++i) {
        ::kill(pid, SIGSTOP);
        locked = sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr) == SQLITE_OK;
        ::kill(pid, SIGCONT);
        if (!locked) std::this_thread::sleep_for(200us);
    }
    ASSERT_TRUE(locked) << sqlite3_errmsg(other);
    const int status = test::wait_status(pid);
    ASSERT_EQ(sqlite3_exec(other, "ROLLBACK", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(other);
    const std::string err = test_support::read_text_file(dir_.file("err"));
    EXPECT_EQ(status, 75) << err;  // EX_TEMPFAIL: "store busy", try again
    EXPECT_NE(err.find("locked"), std::string::npos) << err;

    // Nothing lost: every row is stored or still in the spool (a row committed just before the
    // lock may be in both until the spool catches up; the rerun skips it, the UNIQUE key keeps it
    // single). Nothing doubled: the rerun below gives exactly the clean store.
    const auto partial = snapshot(uri);
    EXPECT_GT(partial.first.messages, 0);
    EXPECT_LT(partial.first.messages, kRows);
    EXPECT_GE(partial.first.messages + spool_rows(spool_path), kRows);

    auto rerun = run({"spool", "--database", uri, "--batch", "500", spool_path});
    ASSERT_EQ(rerun.status, 0) << rerun.err;
    EXPECT_EQ(snapshot(uri), expected);
    EXPECT_EQ(spool_rows(spool_path), 0);
}

// A lock released within the busy timeout is waited out: one run, every row, once.
TEST_F(CollectorFault, BriefLockIsWaitedOut) {
    constexpr int kRows = 3000;
    const auto expected = reference(kRows);
    const std::string spool_path = spool(dir_.file("spool.db"), kRows);
    const std::string store_path = dir_.file("store.db");
    const std::string uri = "sqlite://" + store_path;
    ASSERT_TRUE(io::open_store(uri));
    sqlite3* other = nullptr;
    ASSERT_EQ(sqlite3_open(store_path.c_str(), &other), SQLITE_OK);
    ASSERT_EQ(sqlite3_exec(other, "BEGIN EXCLUSIVE", nullptr, nullptr, nullptr), SQLITE_OK);
    pid_t pid = start({"spool", "--database", uri, spool_path});
    std::this_thread::sleep_for(1500ms);
    ASSERT_EQ(sqlite3_exec(other, "COMMIT", nullptr, nullptr, nullptr), SQLITE_OK);
    sqlite3_close(other);
    EXPECT_EQ(test::wait_status(pid), 0) << test_support::read_text_file(dir_.file("err"));
    EXPECT_EQ(snapshot(uri), expected);
    EXPECT_EQ(spool_rows(spool_path), 0);
}

// The store's disk fills during an import: a clear error, nothing doubled; with room again the
// rerun gives the clean store.
TEST_F(CollectorFault, StoreDiskFullThenRerun) {
    Tmpfs disk(3 * 1024 * 1024);
    if (!disk.mounted()) GTEST_SKIP() << disk.why();
    constexpr int kRows = 30000;
    const auto expected = reference(kRows);
    const std::string spool_path = spool(dir_.file("spool.db"), kRows);
    const std::string uri = "sqlite://" + disk.file("store.db");
    auto first = run({"spool", "--database", uri, "--batch", "2000", spool_path});
    EXPECT_NE(first.status, 0) << first.out;
    EXPECT_NE(first.err.find("full"), std::string::npos) << first.err;
    {
        const auto partial = snapshot(uri);
        EXPECT_LT(partial.first.messages, kRows);
        EXPECT_EQ(partial.first.messages + spool_rows(spool_path), kRows);
    }
    ASSERT_TRUE(disk.remount("size=256m")) << std::strerror(errno);
    auto rerun = run({"spool", "--database", uri, "--batch", "2000", spool_path});
    ASSERT_EQ(rerun.status, 0) << rerun.err;
    EXPECT_EQ(snapshot(uri), expected);
    EXPECT_EQ(spool_rows(spool_path), 0);
}

// The spool the collector reads sits on a read-only disk: it cannot delete what it imported, so
// it says so and stops; the store holds each row once; with the disk writable the rerun deletes
// the imported rows without importing them again.
TEST_F(CollectorFault, ReadOnlySpoolThenRerun) {
    Tmpfs disk(16 * 1024 * 1024);
    if (!disk.mounted()) GTEST_SKIP() << disk.why();
    constexpr int kRows = 5000;
    const auto expected = reference(kRows);
    const std::string spool_path = spool(disk.file("spool.db"), kRows);
    const std::string uri = "sqlite://" + dir_.file("store.db");
    ASSERT_TRUE(disk.read_only(true));
    auto first = run({"spool", "--database", uri, "--batch", "1000", spool_path});
    EXPECT_NE(first.status, 0) << first.out;
    EXPECT_NE(first.err.find(spool_path), std::string::npos) << first.err;
    const auto partial = snapshot(uri);
    EXPECT_LE(partial.first.messages, kRows);
    ASSERT_TRUE(disk.read_only(false));
    auto rerun = run({"spool", "--database", uri, "--batch", "1000", spool_path});
    ASSERT_EQ(rerun.status, 0) << rerun.err;
    EXPECT_EQ(snapshot(uri), expected);
    EXPECT_EQ(spool_rows(spool_path), 0);
}

// PostgreSQL is restarted (pg_ctl restart -m fast: every connection is terminated) in the middle
// of a history import: the collector reconnects, retries the rolled-back batch and finishes;
// the store equals a clean import's (the content digest is backend-independent); a rerun adds
// nothing.
TEST_F(CollectorFault, PostgresRestartDuringImport) {
    auto* server = test::PgServer::instance();
    if (!server) GTEST_SKIP() << test::PgServer::why();
    constexpr int kRecords = 5000;
    const std::string history = dir_.file("history.dat");
    {
        std::ofstream out(history, std::ios::binary);
        for (int i = 0; i < kRecords; ++i) out << to_history_text(test::sample_history(i));
    }
    const std::string clean_uri = "sqlite://" + dir_.file("clean.db");
    auto clean = run({"--database", clean_uri, "--input", history, "--batch", "250"});
    ASSERT_EQ(clean.status, 0) << clean.err;
    const auto expected = snapshot(clean_uri);
    ASSERT_EQ(expected.first.messages, kRecords);

    const std::string uri = server->create_database();
    pid_t pid = start({"--database", uri, "--input", history, "--batch", "250", "--verbose"});
    // Restart once the first batches are in.
    for (int i = 0; i < 500; ++i) {
        if (test_support::read_text_file(dir_.file("err")).find("committed") != std::string::npos) {
            break;
        }
        std::this_thread::sleep_for(10ms);
    }
    ASSERT_TRUE(server->restart()) << "pg_ctl restart failed";
    const int status = test::wait_status(pid);
    const std::string err = test_support::read_text_file(dir_.file("err"));
    // The collector reconnected and finished the import in the same run.
    EXPECT_EQ(status, 0) << err;
    EXPECT_EQ(snapshot(uri), expected);
    auto rerun = run({"--database", uri, "--input", history, "--batch", "250"});
    ASSERT_EQ(rerun.status, 0) << rerun.err;
    EXPECT_EQ(snapshot(uri), expected);
}

}  // namespace
}  // namespace dmarc::fault
