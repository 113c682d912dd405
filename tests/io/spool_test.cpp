// io/spool: the milter's history spool (design.md §7; issue 4 item 4 and its acceptance: "with
// the spool made read-only mid-run, mail keeps flowing ... and the lost rows are counted").
#include "io/spool.hpp"

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <filesystem>
#include <thread>

#include "core/spool_row.hpp"
#include "sample_rows.hpp"
#include "temp_dir.hpp"

namespace dmarc::io {
namespace {

using std::chrono::steady_clock;

template <class F>
SpoolWriterOptions make_options(F&& set) {
    SpoolWriterOptions options;
    set(options);
    return options;
}

// A writer that commits only when flushed or destroyed (the batch and the interval never come).
Result<std::unique_ptr<SpoolWriter>> open_holding_writer(const std::string& path) {
    return SpoolWriter::open(make_options([&](SpoolWriterOptions& o) {
        o.path = path;
        o.batch_rows = 100000;
        o.flush_interval = std::chrono::seconds(30);
    }));
}

std::vector<SpoolEntry> read_all(const std::string& path) {
    auto reader = SpoolReader::open(path);
    EXPECT_TRUE(reader) << reader.error().message;
    auto rows = reader->read_after(0, 1000000);
    EXPECT_TRUE(rows) << rows.error().message;
    if (!rows) return {};
    EXPECT_TRUE(rows->bad_rows.empty());
    return std::move(rows->entries);
}

TEST(SpoolList, EncodingRoundTripsAndKeepsEmptyItems) {
    const std::vector<std::vector<std::string>> cases = {
        {}, {""}, {"", ""}, {"a"}, {"a\nb", "c\\d", "\\n"}, {"\xff\x00z", "x"}};
    for (const auto& items : cases) {
        auto decoded = decode_list(encode_list(items));
        ASSERT_TRUE(decoded);
        EXPECT_EQ(*decoded, items);
    }
    EXPECT_NE(encode_list({}), encode_list({""}));
    // The text itself (what the spool's columns hold): escapes mid-item, at its ends, in a row.
    EXPECT_EQ(encode_list({"a\nb", "c\\d", "\\\n", "plain"}), "a\\nb\nc\\\\d\n\\\\\\n\nplain\n");
    EXPECT_FALSE(decode_list("a"));       // unterminated item
    EXPECT_FALSE(decode_list("a\\x\n"));  // unknown escape
    EXPECT_FALSE(decode_list("a\\"));
}

TEST(SpoolWriter, RowsAreWrittenAndReadBackExactly) {
    test::TempDir dir;
    const std::string path = dir.file("spool.db");
    {
        auto writer = SpoolWriter::open(make_options([&](SpoolWriterOptions& o) {
            o.path = path;
            o.batch_rows = 7;
        }));
        ASSERT_TRUE(writer) << writer.error().message;
        for (int i = 0; i < 500; ++i) EXPECT_TRUE((*writer)->submit(test::sample_row(i)));
        (*writer)->flush();
        auto c = (*writer)->counters();
        EXPECT_EQ(c.submitted, 500u);
        EXPECT_EQ(c.written, 500u);
        EXPECT_EQ(c.dropped_full + c.lost_failed, 0u);
    }
    auto rows = read_all(path);
    ASSERT_EQ(rows.size(), 500u);
    for (int i = 0; i < 500; ++i) {
        EXPECT_EQ(rows[static_cast<std::size_t>(i)].row, test::sample_row(i)) << "row " << i;
    }
}

// One batch of 501 rows: 31 sixteen-row INSERT statements and 5 single-row ones (spool.cpp
// kRowsPerInsert), every row back exactly and in order, ids consecutive.
TEST(SpoolWriter, OneLargeBatchGoesInManyRowStatementsInOrder) {
    test::TempDir dir;
    const std::string path = dir.file("spool.db");
    {
        auto writer = open_holding_writer(path);
        ASSERT_TRUE(writer) << writer.error().message;
        for (int i = 0; i < 501; ++i) EXPECT_TRUE((*writer)->submit(test::sample_row(i)));
        (*writer)->flush();
        EXPECT_EQ((*writer)->counters().written, 501u);
    }
    auto rows = read_all(path);
    ASSERT_EQ(rows.size(), 501u);
    for (std::size_t i = 0; i < rows.size(); ++i) {
        EXPECT_EQ(rows[i].row, test::sample_row(static_cast<int>(i))) << "row " << i;
        if (i > 0) {
            EXPECT_EQ(rows[i].id, rows[i - 1].id + 1) << "row " << i;
        }
    }
}

// Without flush(): every row is committed about flush_interval after it is submitted, whatever
// the writer was doing when it came (idle, gathering, committing). The demo once found the last
// message of a quiet stretch still queued seconds later.
TEST(SpoolWriter, EveryRowIsCommittedSoonWithoutAFlush) {
    test::TempDir dir;
    auto writer = SpoolWriter::open(make_options([&](SpoolWriterOptions& o) {
        o.path = dir.file("spool.db");
        o.flush_interval = std::chrono::milliseconds(5);
    }));
    ASSERT_TRUE(writer) << writer.error().message;
    std::uint64_t seed = 12345;
    for (int i = 0; i < 300; ++i) {
        ASSERT_TRUE((*writer)->submit(test::sample_row(i)));
        seed = seed * 6364136223846793005u + 1442695040888963407u;
        std::this_thread::sleep_for(std::chrono::microseconds((seed >> 33) % 9000));
        if (i % 10 != 9) continue;
        auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
        while ((*writer)->counters().written < static_cast<std::uint64_t>(i + 1) &&
               std::chrono::steady_clock::now() < deadline) {
            std::this_thread::sleep_for(std::chrono::milliseconds(1));
        }
        ASSERT_EQ((*writer)->counters().written, static_cast<std::uint64_t>(i + 1)) << "row " << i;
    }
}

TEST(SpoolWriter, DestructorCommitsWhatIsQueued) {
    test::TempDir dir;
    const std::string path = dir.file("spool.db");
    {
        auto writer = open_holding_writer(path);
        ASSERT_TRUE(writer);
        for (int i = 0; i < 50; ++i) (*writer)->submit(test::sample_row(i));
    }
    EXPECT_EQ(read_all(path).size(), 50u);
}

TEST(SpoolWriter, QueueFullDropsAreCountedAndNeverBlock) {
    // design.md §7: "when the queue is full, rows are counted as dropped".
    test::TempDir dir;
    const std::string path = dir.file("spool.db");
    auto writer = SpoolWriter::open(make_options([&](SpoolWriterOptions& o) {
        o.path = path;
        o.queue_capacity = 10;
        o.batch_rows = 1000;
        o.flush_interval = std::chrono::seconds(30);
    }));
    ASSERT_TRUE(writer);
    int accepted = 0;
    for (int i = 0; i < 25; ++i) accepted += (*writer)->submit(test::sample_row(i)) ? 1 : 0;
    EXPECT_EQ(accepted, 10);
    auto c = (*writer)->counters();
    EXPECT_EQ(c.submitted, 10u);
    EXPECT_EQ(c.dropped_full, 15u);
    (*writer)->flush();
    EXPECT_EQ((*writer)->counters().written, 10u);
    EXPECT_EQ(read_all(path).size(), 10u);
}

TEST(SpoolWriter, LockedSpoolLosesBatchesButNeverBlocksTheCaller) {
    test::TempDir dir;
    const std::string path = dir.file("spool.db");
    std::atomic<std::uint64_t> reported_lost{0};
    std::atomic<int> temporary_errors{0};
    auto writer = SpoolWriter::open(make_options([&](SpoolWriterOptions& o) {
        o.path = path;
        o.batch_rows = 16;
        o.flush_interval = std::chrono::milliseconds(2);
        o.busy_timeout = std::chrono::milliseconds(50);
        o.on_error = [&](const Error& e, std::uint64_t lost) {
            reported_lost += lost;
            if (e.code == Errc::temporary) ++temporary_errors;
        };
    }));
    ASSERT_TRUE(writer);
    for (int i = 0; i < 100; ++i) (*writer)->submit(test::sample_row(i));
    (*writer)->flush();

    auto other = sqlite::Db::open(path);
    ASSERT_TRUE(other);
    ASSERT_TRUE(other->exec("BEGIN EXCLUSIVE"));
    auto slowest = steady_clock::duration::zero();
    for (int i = 100; i < 400; ++i) {
        auto start = steady_clock::now();
        (*writer)->submit(test::sample_row(i));
        slowest = std::max(slowest, steady_clock::now() - start);
        if (i % 50 == 0) std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
    (*writer)->flush();
    ASSERT_TRUE(other->exec("ROLLBACK"));
    // While locked (busy_timeout 50 ms per batch), no submit waited on the lock.
    EXPECT_LT(slowest, std::chrono::milliseconds(20));
    auto c = (*writer)->counters();
    EXPECT_EQ(c.lost_failed, 300u);
    EXPECT_EQ(reported_lost.load(), 300u);
    EXPECT_GT(temporary_errors.load(), 0);

    // Released: writes resume.
    for (int i = 400; i < 450; ++i) (*writer)->submit(test::sample_row(i));
    (*writer)->flush();
    c = (*writer)->counters();
    EXPECT_EQ(c.written, 150u);
    EXPECT_EQ(c.written + c.lost_failed + c.dropped_full, 450u);
    EXPECT_EQ(read_all(path).size(), 150u);
}

TEST(SpoolWriter, FullSpoolCountsLostRows) {
    // A capped spool (max_bytes) fails with SQLITE_FULL exactly as a full disk does.
    test::TempDir dir;
    const std::string path = dir.file("spool.db");
    std::atomic<int> errors{0};
    auto writer = SpoolWriter::open(make_options([&](SpoolWriterOptions& o) {
        o.path = path;
        o.batch_rows = 50;
        o.max_bytes = 128 * 1024;
        o.on_error = [&](const Error&, std::uint64_t) { ++errors; };
    }));
    ASSERT_TRUE(writer) << writer.error().message;
    for (int round = 0; round < 40; ++round) {
        for (int i = 0; i < 50; ++i) (*writer)->submit(test::sample_row(round * 50 + i));
        (*writer)->flush();
    }
    auto c = (*writer)->counters();
    EXPECT_EQ(c.submitted, 2000u);
    EXPECT_GT(c.written, 0u);
    EXPECT_GT(c.lost_failed, 0u);
    EXPECT_EQ(c.written + c.lost_failed, 2000u);
    EXPECT_GT(errors.load(), 0);
    EXPECT_EQ(read_all(path).size(), c.written);
}

// Runs in a child that is not root (root ignores file modes): the spool file and its directory
// become read-only mid-run and the writer reopens it (as on SIGHUP).
int read_only_scenario(const std::string& dir, const std::string& path) {
    int failures = 0;
    auto check = [&](bool ok, const char* what) {
        if (!ok) {
            std::fprintf(stderr, "read-only scenario: %s\n", what);
            ++failures;
        }
    };
    auto writer = SpoolWriter::open(make_options([&](SpoolWriterOptions& o) {
        o.path = path;
        o.batch_rows = 10;
    }));
    if (!writer) {
        std::fprintf(stderr, "open: %s\n", writer.error().message.c_str());
        return 1;
    }
    for (int i = 0; i < 100; ++i) (*writer)->submit(test::sample_row(i));
    (*writer)->flush();
    check((*writer)->counters().written == 100, "first 100 rows written");

    (*writer)->reopen();
    for (const char* suffix : {"", "-wal", "-shm"}) ::chmod((path + suffix).c_str(), 0444);
    ::chmod(dir.c_str(), 0555);
    auto slowest = steady_clock::duration::zero();
    for (int i = 100; i < 300; ++i) {
        auto start = steady_clock::now();
        (*writer)->submit(test::sample_row(i));
        slowest = std::max(slowest, steady_clock::now() - start);
    }
    (*writer)->flush();
    auto c = (*writer)->counters();
    check(c.written == 100, "nothing written while read-only");
    check(c.lost_failed == 200, "200 rows counted lost");
    check(slowest < std::chrono::milliseconds(20), "submit never blocked");
    return failures;
}

TEST(SpoolWriter, ReadOnlySpoolMidRunCountsLostRows) {
    test::TempDir dir;
    const std::string path = dir.file("spool.db");
    const bool root = ::geteuid() == 0;
    if (root) {
        ASSERT_EQ(::chown(dir.path().c_str(), 65534, 65534), 0);
    }
    pid_t child = ::fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
        if (root && (::setgid(65534) != 0 || ::setuid(65534) != 0)) ::_exit(90);
        ::_exit(read_only_scenario(dir.path().string(), path));
    }
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    ASSERT_TRUE(WIFEXITED(status));
    EXPECT_EQ(WEXITSTATUS(status), 0);
    ::chmod(dir.path().c_str(), 0700);
}

TEST(SpoolReader, WatermarkAndDeleteThrough) {
    test::TempDir dir;
    const std::string path = dir.file("spool.db");
    {
        auto writer =
            SpoolWriter::open(make_options([&](SpoolWriterOptions& o) { o.path = path; }));
        ASSERT_TRUE(writer);
        for (int i = 0; i < 30; ++i) (*writer)->submit(test::sample_row(i));
    }
    auto reader = SpoolReader::open(path);
    ASSERT_TRUE(reader) << reader.error().message;
    EXPECT_EQ(reader->spool_id().size(), 32u);
    auto first = reader->read_after(0, 10);
    ASSERT_TRUE(first);
    ASSERT_EQ(first->entries.size(), 10u);
    auto rest = reader->read_after(first->entries.back().id, 100);
    ASSERT_TRUE(rest);
    ASSERT_EQ(rest->entries.size(), 20u);
    EXPECT_EQ(rest->entries.front().row, test::sample_row(10));
    auto deleted = reader->delete_through(first->entries.back().id);
    ASSERT_TRUE(deleted);
    EXPECT_EQ(*deleted, 10);
    EXPECT_EQ(*reader->count(), 20);
    // Ids are never reused once deleted, so a watermark stays meaningful.
    ASSERT_TRUE(reader->delete_through(rest->entries.back().id));
    {
        auto writer =
            SpoolWriter::open(make_options([&](SpoolWriterOptions& o) { o.path = path; }));
        ASSERT_TRUE(writer);
        (*writer)->submit(test::sample_row(99));
    }
    auto again = reader->read_after(rest->entries.back().id, 10);
    ASSERT_TRUE(again);
    ASSERT_EQ(again->entries.size(), 1u);
    EXPECT_GT(again->entries.front().id, rest->entries.back().id);

    auto same = SpoolReader::open(path);
    ASSERT_TRUE(same);
    EXPECT_EQ(same->spool_id(), reader->spool_id());
    {
        auto other = SpoolWriter::open(
            make_options([&](SpoolWriterOptions& o) { o.path = dir.file("other.db"); }));
        ASSERT_TRUE(other);
    }
    auto other_reader = SpoolReader::open(dir.file("other.db"));
    ASSERT_TRUE(other_reader);
    EXPECT_NE(other_reader->spool_id(), reader->spool_id());
}

TEST(SpoolReader, MissingSpoolIsAnError) {
    test::TempDir dir;
    auto reader = SpoolReader::open(dir.file("absent.db"));
    EXPECT_FALSE(reader);
}

TEST(SpoolReader, CorruptRowIsReportedWithItsIdAndSkipped) {
    test::TempDir dir;
    const std::string path = dir.file("spool.db");
    {
        auto writer =
            SpoolWriter::open(make_options([&](SpoolWriterOptions& o) { o.path = path; }));
        ASSERT_TRUE(writer);
        for (int i = 1; i <= 3; ++i) (*writer)->submit(test::sample_row(i));
    }
    {
        auto db = sqlite::Db::open(path);
        ASSERT_TRUE(db);
        ASSERT_TRUE(db->exec("UPDATE spool_rows SET dmarc_result='maybe' WHERE id=2"));
    }
    auto reader = SpoolReader::open(path);
    ASSERT_TRUE(reader);
    auto rows = reader->read_after(0, 10);
    ASSERT_TRUE(rows);
    ASSERT_EQ(rows->entries.size(), 2u);
    EXPECT_EQ(rows->entries[1].row, test::sample_row(3));
    EXPECT_EQ(rows->last_id, 3);
    ASSERT_EQ(rows->bad_rows.size(), 1u);
    EXPECT_NE(rows->bad_rows[0].message.find("spool row 2"), std::string::npos)
        << rows->bad_rows[0].message;
    EXPECT_NE(rows->bad_rows[0].message.find("dmarc_result"), std::string::npos);
}

}  // namespace
}  // namespace dmarc::io
