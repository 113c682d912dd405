// dmarc-collector end to end (issue 5 acceptance): importing twice changes nothing; malformed
// history (a truncated record, garbage lines, wrong types, a 1 MB line) is reported with line
// numbers while every good record is imported, non-zero exit with --strict; SIGKILL at 10 random
// points of a history import and of a spool import, then a rerun, give exactly the store of a
// clean import (row counts and content digest); a progress bar on a terminal only.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>
#include <thread>

#include "core/history_text.hpp"
#include "io/spool.hpp"
#include "io/sqlite.hpp"
#include "io/store.hpp"
#include "tests/integration/program_runner.hpp"
#include "tests/io/pg_server.hpp"
#include "tests/io/sample_rows.hpp"
#include "tests/io/sample_spool.hpp"
#include "tests/io/temp_dir.hpp"

namespace dmarc {
namespace {

namespace fs = std::filesystem;

constexpr const char* kCollector = "dmarc-collector";

class Collector : public ::testing::Test {
  protected:
    test::ProgramResult run(const std::vector<std::string>& args,
                            const std::string& in = "/dev/null") {
        return test::run_program_to(kCollector, args, dir_.file("out.txt"), dir_.file("err.txt"),
                                    in);
    }
    std::string db(const std::string& name) { return "sqlite://" + dir_.file(name); }

    std::pair<io::StoreCounts, std::string> snapshot(const std::string& uri) {
        return test::store_snapshot(uri);
    }

    // Index names and DDL, and SQLite's integrity check: an import killed while it had
    // secondary indexes deferred (Store::begin_bulk) must leave, after a rerun, the indexes of
    // an uninterrupted one, consistent with the table.
    std::vector<std::string> indexes(const std::string& name) {
        return test::sqlite_indexes(dir_.file(name));
    }

    std::string write_history(const std::string& name, int records) {
        std::string path = dir_.file(name);
        std::ofstream out(path, std::ios::binary);
        for (int i = 0; i < records; ++i) out << to_history_text(test::sample_history(i));
        return path;
    }

    std::string write_spool(const std::string& name, int rows) {
        return test::write_sample_spool(dir_.file(name), rows);
    }

    test::TempDir dir_;
};

TEST_F(Collector, HistoryImportedTwiceChangesNothing) {
    auto history = write_history("h.dat", 3000);
    auto first = run({"--database", db("s.db"), "--input", history});
    ASSERT_EQ(first.status, 0) << first.err;
    EXPECT_NE(first.out.find("3000 records, 3000 new, 0 already stored"), std::string::npos)
        << first.out;
    EXPECT_NE(first.out.find("rows/s"), std::string::npos);
    auto before = snapshot(db("s.db"));
    EXPECT_EQ(before.first.messages, 3000);

    auto second = run({"--database=" + db("s.db")}, history);  // stdin, --name=value
    ASSERT_EQ(second.status, 0) << second.err;
    EXPECT_NE(second.out.find("3000 records, 0 new, 3000 already stored"), std::string::npos)
        << second.out;
    auto after = snapshot(db("s.db"));
    EXPECT_EQ(after.first, before.first);
    EXPECT_EQ(after.second, before.second);
}

// Runs the collector with standard error on a new pseudo-terminal and returns what it showed
// there (standard output goes to `out`).
std::string run_on_terminal(const std::vector<std::string>& args, const std::string& out,
                            int& status) {
    int master = ::posix_openpt(O_RDWR | O_NOCTTY);
    if (master < 0 || ::grantpt(master) != 0 || ::unlockpt(master) != 0) return "no pty";
    std::string slave = ::ptsname(master);
    pid_t pid = test::spawn_program(kCollector, args, out, slave);
    std::string shown;
    char buffer[4096];
    for (;;) {  // EIO once the collector has exited and the terminal has no writer left
        ssize_t n = ::read(master, buffer, sizeof buffer);
        if (n <= 0) break;
        shown.append(buffer, static_cast<std::size_t>(n));
    }
    status = test::wait_status(pid);
    ::close(master);
    return shown;
}

TEST_F(Collector, ProgressBarOnATerminalOneSummaryLineOtherwise) {
    // Issue 5: a progress bar on a terminal (rows/s, ETA), one summary line otherwise.
    auto history = write_history("h.dat", 40000);
    int status = -1;
    std::string shown =
        run_on_terminal({"--database", db("tty.db"), "--input", history, "--batch", "500"},
                        dir_.file("tty.out"), status);
    ASSERT_EQ(status, 0) << shown;
    EXPECT_NE(shown.find("rows/s"), std::string::npos) << shown;
    EXPECT_NE(shown.find("ETA"), std::string::npos) << shown;
    EXPECT_NE(shown.find("] "), std::string::npos) << shown;  // the bar
    EXPECT_NE(shown.find('\r'), std::string::npos) << shown;  // redrawn in place

    auto spool = write_spool("spool.db", 20000);
    shown = run_on_terminal({"spool", "--database", db("tty.db"), "--batch", "500", spool},
                            dir_.file("tty.out"), status);
    ASSERT_EQ(status, 0) << shown;
    EXPECT_NE(shown.find("ETA"), std::string::npos) << shown;  // rows waiting were counted

    auto plain = run({"--database", db("plain.db"), "--input", history, "--batch", "500"});
    ASSERT_EQ(plain.status, 0) << plain.err;
    EXPECT_EQ(plain.err, "");
    EXPECT_EQ(std::count(plain.out.begin(), plain.out.end(), '\n'), 1) << plain.out;
    EXPECT_NE(plain.out.find("rows/s"), std::string::npos) << plain.out;
}

TEST_F(Collector, MalformedHistoryIsReportedWithLineNumbersAndGoodRecordsKept) {
    // Issue 5 acceptance: a truncated record, garbage lines, wrong types, a 1 MB line.
    std::string text;
    auto add = [&](const std::string& s) { text += s; };
    add(to_history_text(test::sample_history(1)));         // lines 1-
    add("job TRUNC\nreporter mx\nreceived 1700000000\n");  // no ipaddr/from/...
    add(to_history_text(test::sample_history(2)));
    add("\x01\x02 garbage garbage\nthis is not a key value line at all\n");
    add("job WRONG\nreporter mx\nreceived yesterday\nipaddr 192.0.2.1\nfrom a.example\n"
        "policy 15\naction 2\n");
    add(to_history_text(test::sample_history(3)));
    add("job LONG\nreporter mx\nreceived 1700000001\nipaddr 192.0.2.1\nfrom a.example\n");
    add("pdomain " + std::string(1 << 20, 'x') + "\npolicy 15\naction 2\n");
    add(to_history_text(test::sample_history(4)));
    std::ofstream(dir_.file("bad.dat"), std::ios::binary) << text;

    auto lenient = run({"--database", db("s.db"), "--input", dir_.file("bad.dat")});
    EXPECT_EQ(lenient.status, 0) << lenient.err;
    auto counts = snapshot(db("s.db")).first;
    EXPECT_EQ(counts.messages, 4);  // samples 1-4; TRUNC, WRONG and LONG dropped
    EXPECT_NE(lenient.err.find("bad.dat:"), std::string::npos) << lenient.err;
    EXPECT_NE(lenient.err.find("TRUNC"), std::string::npos) << lenient.err;
    EXPECT_NE(lenient.err.find("unknown key"), std::string::npos) << lenient.err;
    EXPECT_NE(lenient.err.find("yesterday"), std::string::npos) << lenient.err;
    EXPECT_NE(lenient.err.find("longer than"), std::string::npos) << lenient.err;
    // The 1 MB line is line 1 + (lines before it).
    std::size_t long_line =
        1 + static_cast<std::size_t>(std::count(
                text.begin(), text.begin() + static_cast<long>(text.find("pdomain xxx")), '\n'));
    EXPECT_NE(lenient.err.find(":" + std::to_string(long_line) + ": line longer than"),
              std::string::npos)
        << lenient.err.substr(0, 2000);
    EXPECT_LT(lenient.err.size(), 10000u);  // the long line is not echoed

    auto strict = run({"--database", db("t.db"), "--input", dir_.file("bad.dat"), "--strict"});
    EXPECT_EQ(strict.status, 65);
    EXPECT_EQ(snapshot(db("t.db")).first.messages, 4);
}

TEST_F(Collector, UsageErrors) {
    EXPECT_EQ(run({"--dbhost", "localhost"}).status, 64);
    EXPECT_EQ(run({"expire"}).status, 64);
    EXPECT_EQ(run({"spool"}).status, 64);
    EXPECT_EQ(run({"frobnicate"}).status, 64);
    auto pg = run({"--database", "postgresql://x@127.0.0.1:1/db"});  // nothing listens on port 1
    EXPECT_EQ(pg.status, 75);
    EXPECT_NE(pg.err.find("PostgreSQL"), std::string::npos);
    auto missing = run({"--database", db("s.db"), "--input", dir_.file("absent.dat")});
    EXPECT_EQ(missing.status, 66);
}

TEST_F(Collector, SpoolsImportResumeAndEmpty) {
    auto a = write_spool("a.db", 2000);
    auto reference = db("ref.db");
    {
        auto store = io::open_store(reference);
        ASSERT_TRUE(store);
        std::vector<io::ImportItem> items;
        for (int i = 0; i < 2000; ++i) items.push_back({test::sample_row(i), {}, {}});
        ASSERT_TRUE((*store)->import(items, std::nullopt));
    }
    auto r = run({"spool", "--database", db("s.db"), "--batch", "300", a});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("2000 rows, 2000 new"), std::string::npos) << r.out;
    EXPECT_EQ(snapshot(db("s.db")), snapshot(reference));
    auto reader = io::SpoolReader::open(a);
    ASSERT_TRUE(reader);
    EXPECT_EQ(*reader->count(), 0);
    // New rows after the watermark are picked up; old ones are not re-read.
    {
        io::SpoolWriterOptions options;
        options.path = a;
        auto writer = io::SpoolWriter::open(options);
        ASSERT_TRUE(writer);
        auto row = test::sample_row(5000);
        (*writer)->submit(row);
    }
    r = run({"spool", "--database", db("s.db"), a});
    ASSERT_EQ(r.status, 0) << r.err;
    EXPECT_NE(r.out.find("1 rows, 1 new"), std::string::npos) << r.out;
}

// Starts `args` and SIGKILLs it after a random delay in [0, max_delay] until `kills` runs were
// killed while still going (at most 4 * kills attempts). A run that finished first must have
// succeeded, and halves max_delay: reruns over imported data are faster than the clean run.
int kill_at_random_points(const std::vector<std::string>& args, int kills,
                          std::chrono::milliseconds max_delay) {
    std::random_device device;
    unsigned seed = device();
    std::mt19937 random(seed);
    int killed = 0;
    for (int attempt = 0; attempt < 4 * kills && killed < kills; ++attempt) {
        std::uniform_int_distribution<long> delay(0, std::max<long>(max_delay.count(), 1));
        pid_t pid = test::spawn_program(kCollector, args, "/dev/null", "/dev/null");
        EXPECT_GT(pid, 0);
        if (pid <= 0) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(delay(random)));
        ::kill(pid, SIGKILL);
        int status = test::wait_status(pid);
        if (status == 128 + SIGKILL) {
            ++killed;
        } else {
            EXPECT_EQ(status, 0) << "seed " << seed;
            max_delay /= 2;
        }
    }
    return killed;
}

TEST_F(Collector, HistoryImportKilledTenTimesEqualsCleanImport) {
    auto history = write_history("h.dat", 60000);
    auto start = std::chrono::steady_clock::now();
    auto clean = run({"--database", db("clean.db"), "--input", history, "--batch", "4000"});
    auto clean_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    ASSERT_EQ(clean.status, 0) << clean.err;

    int killed = kill_at_random_points(
        {"--database", db("killed.db"), "--input", history, "--batch", "4000"}, 10,
        clean_ms * 8 / 10);
    auto rerun = run({"--database", db("killed.db"), "--input", history, "--batch", "4000"});
    ASSERT_EQ(rerun.status, 0) << rerun.err;
    auto expected = snapshot(db("clean.db"));
    EXPECT_EQ(expected.first.messages, 60000);
    auto got = snapshot(db("killed.db"));
    EXPECT_EQ(got.first, expected.first);
    EXPECT_EQ(got.second, expected.second);
    EXPECT_EQ(indexes("killed.db"), indexes("clean.db"));
    EXPECT_EQ(indexes("clean.db").back(), "ok");
    EXPECT_EQ(killed, 10) << "clean run took " << clean_ms.count() << " ms";
}

TEST_F(Collector, SpoolImportKilledTenTimesEqualsCleanImport) {
    auto original = write_spool("orig.db", 60000);
    fs::copy_file(original, dir_.file("clean-spool.db"));
    fs::copy_file(original, dir_.file("killed-spool.db"));
    auto start = std::chrono::steady_clock::now();
    auto clean = run(
        {"spool", "--database", db("clean.db"), "--batch", "4000", dir_.file("clean-spool.db")});
    auto clean_ms = std::chrono::duration_cast<std::chrono::milliseconds>(
        std::chrono::steady_clock::now() - start);
    ASSERT_EQ(clean.status, 0) << clean.err;

    int killed = kill_at_random_points(
        {"spool", "--database", db("killed.db"), "--batch", "4000", dir_.file("killed-spool.db")},
        10, clean_ms / 12);
    auto rerun = run(
        {"spool", "--database", db("killed.db"), "--batch", "4000", dir_.file("killed-spool.db")});
    ASSERT_EQ(rerun.status, 0) << rerun.err;
    auto expected = snapshot(db("clean.db"));
    EXPECT_EQ(expected.first.messages, 60000);
    auto got = snapshot(db("killed.db"));
    EXPECT_EQ(got.first, expected.first);
    EXPECT_EQ(got.second, expected.second);
    auto reader = io::SpoolReader::open(dir_.file("killed-spool.db"));
    ASSERT_TRUE(reader);
    EXPECT_EQ(*reader->count(), 0);  // every row deleted, and only after it was stored
    EXPECT_EQ(indexes("killed.db"), indexes("clean.db"));
    EXPECT_EQ(indexes("clean.db").back(), "ok");
    EXPECT_EQ(killed, 10) << "clean run took " << clean_ms.count() << " ms";
}

TEST_F(Collector, TwoHostsSpoolsIntoOnePostgresStoreAtOnce) {
    // Issue 5 item 4: a fleet; two collectors, two hosts' spools, one PostgreSQL store.
    auto* server = test::PgServer::instance();
    if (!server) GTEST_SKIP() << test::PgServer::why();
    std::string uri = server->create_database();
    auto first = write_spool("mx1.db", 3000);
    std::string second = dir_.file("mx2.db");
    {
        io::SpoolWriterOptions options;
        options.path = second;
        options.queue_capacity = 4000;
        auto writer = io::SpoolWriter::open(options);
        ASSERT_TRUE(writer);
        for (int i = 3000; i < 6000; ++i) {
            auto row = test::sample_row(i);
            row.reporter_host = "mx3.example.net";  // another host, same domains and addresses
            (*writer)->submit(std::move(row));
        }
    }
    pid_t a = test::spawn_program(kCollector, {"spool", "--database", uri, "--batch", "200", first},
                                  dir_.file("a.out"), dir_.file("a.err"));
    pid_t b =
        test::spawn_program(kCollector, {"spool", "--database", uri, "--batch", "200", second},
                            dir_.file("b.out"), dir_.file("b.err"));
    ASSERT_GT(a, 0);
    ASSERT_GT(b, 0);
    EXPECT_EQ(test::wait_status(a), 0) << test::read_text(dir_.file("a.err"));
    EXPECT_EQ(test::wait_status(b), 0) << test::read_text(dir_.file("b.err"));
    EXPECT_EQ(test::read_text(dir_.file("a.err")), "");
    EXPECT_EQ(test::read_text(dir_.file("b.err")), "");
    auto stats = run({"stats", "--database", uri});
    ASSERT_EQ(stats.status, 0) << stats.err;
    EXPECT_NE(stats.out.find("messages 6000\n"), std::string::npos) << stats.out;
    // Rerunning both changes nothing.
    auto again = run({"spool", "--database", uri, first, second});
    EXPECT_EQ(again.status, 0) << again.err;
    EXPECT_EQ(run({"stats", "--database", uri}).out, stats.out);
}

}  // namespace
}  // namespace dmarc
