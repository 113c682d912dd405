// HistoryFile appends (OpenDMARC's HistoryFile, opendmarc.md §3): whole records, readable back,
// reopened after rotation; OpenDMARC §8.2 #23 (an unwritable file is an error value, not a
// tempfail). Also the command line (opendmarc(8) letters).
#include "milter/history_file.hpp"

#include <gtest/gtest.h>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>
#include <vector>

#include "core/history_text.hpp"
#include "milter/options.hpp"

namespace dmarc::milter {
namespace {

namespace fs = std::filesystem;

std::string slurp(const fs::path& p) {
    std::ifstream in(p);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

HistoryRecord record(const std::string& job) {
    HistoryRecord r;
    r.job = job;
    r.reporter = "mx.test";
    r.received = 1790000000;
    r.ipaddr = "192.0.2.1";
    r.from = "example.com";
    r.mfrom = "example.com";
    r.spf = {ares::kPass};
    r.pdomain = "example.com";
    r.policy = history_policy::kPass;
    r.action = history_action::kAccept;
    return r;
}

class HistoryFileTest : public ::testing::Test {
  protected:
    fs::path dir =
        fs::temp_directory_path() /
        ("dmarc-history-test-" + std::to_string(::testing::UnitTest::GetInstance()->random_seed()) +
         "-" + ::testing::UnitTest::GetInstance()->current_test_info()->name());
    void SetUp() override { fs::create_directories(dir); }
    void TearDown() override { fs::remove_all(dir); }
};

TEST_F(HistoryFileTest, AppendsWholeRecordsReadableBack) {
    auto file = HistoryFile::open((dir / "h.dat").string());
    ASSERT_TRUE(file) << file.error().message;
    ASSERT_TRUE((*file)->append(to_history_text(record("A1"))));
    ASSERT_TRUE((*file)->append(to_history_text(record("A2"))));
    auto parsed = parse_history_text(slurp(dir / "h.dat"));
    EXPECT_TRUE(parsed.issues.empty());
    ASSERT_EQ(parsed.records.size(), 2u);
    EXPECT_EQ(parsed.records[0].job, "A1");
    EXPECT_EQ(parsed.records[1].job, "A2");
}

// logrotate moves the file away: the next record goes to a new file under the old name.
TEST_F(HistoryFileTest, ReopensAfterRotation) {
    auto file = HistoryFile::open((dir / "h.dat").string());
    ASSERT_TRUE(file);
    ASSERT_TRUE((*file)->append(to_history_text(record("OLD"))));
    fs::rename(dir / "h.dat", dir / "h.dat.1");
    ASSERT_TRUE((*file)->append(to_history_text(record("NEW"))));
    EXPECT_EQ((*file)->take_warning(), "");
    auto old_records = parse_history_text(slurp(dir / "h.dat.1")).records;
    auto new_records = parse_history_text(slurp(dir / "h.dat")).records;
    ASSERT_EQ(old_records.size(), 1u);
    ASSERT_EQ(new_records.size(), 1u);
    EXPECT_EQ(old_records[0].job, "OLD");
    EXPECT_EQ(new_records[0].job, "NEW");
}

// Records from many threads never interleave (one write under flock per record).
TEST_F(HistoryFileTest, ConcurrentAppendsDoNotInterleave) {
    auto file = HistoryFile::open((dir / "h.dat").string());
    ASSERT_TRUE(file);
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 200; ++i) {
                (void)(*file)->append(to_history_text(record("T" + std::to_string(t))));
            }
        });
    }
    for (auto& th : threads) th.join();
    auto parsed = parse_history_text(slurp(dir / "h.dat"));
    EXPECT_TRUE(parsed.issues.empty());
    EXPECT_EQ(parsed.records.size(), 800u);
}

// OpenDMARC §8.2 #23: the failure is a value for the caller to log and count.
TEST_F(HistoryFileTest, Opendmarc_8_2_23_UnwritableIsAnErrorValue) {
    auto missing = HistoryFile::open((dir / "no-such-dir" / "h.dat").string());
    ASSERT_FALSE(missing);
    EXPECT_EQ(missing.error().code, Errc::io);
    auto full = HistoryFile::open("/dev/full");
    ASSERT_TRUE(full);
    auto r = (*full)->append(to_history_text(record("X")));
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("write /dev/full"), std::string::npos);
}

TEST(Options, OpenDmarcLettersAndTestModeOptions) {
    auto o = parse_options({"-c",
                            "/etc/opendmarc.conf",
                            "-f",
                            "-l",
                            "-n",
                            "-p",
                            "inet:8893@localhost",
                            "-P",
                            "/run/x.pid",
                            "-u",
                            "opendmarc:mail",
                            "-v",
                            "-t",
                            "a.eml,b.eml",
                            "--client-ip",
                            "192.0.2.1",
                            "--mail-from=x@example.com",
                            "--rcpt",
                            "r1@example.net",
                            "--rcpt",
                            "r2@example.net",
                            "--pct-sample",
                            "42"});
    ASSERT_TRUE(o) << o.error().message;
    EXPECT_EQ(o->config_path, "/etc/opendmarc.conf");
    EXPECT_TRUE(o->config_path_given && o->foreground && o->syslog && o->check_config);
    EXPECT_EQ(o->socket, "inet:8893@localhost");
    EXPECT_EQ(o->pid_file, "/run/x.pid");
    EXPECT_EQ(o->user, "opendmarc:mail");
    EXPECT_EQ(o->verbosity, 1);
    EXPECT_EQ(o->test_files, (std::vector<std::string>{"a.eml", "b.eml"}));
    EXPECT_EQ(o->test_client_ip, "192.0.2.1");
    EXPECT_EQ(o->test_mail_from, "x@example.com");
    EXPECT_EQ(o->test_rcpt_to.size(), 2u);
    EXPECT_EQ(o->test_pct_sample, 42u);

    config::MilterConfig c;
    apply_overrides(*o, c);
    EXPECT_EQ(c.socket, "inet:8893@localhost");
    EXPECT_FALSE(c.background);
    EXPECT_TRUE(c.syslog);
    EXPECT_EQ(c.user_id, "opendmarc:mail");
}

TEST(Options, DefaultsAndErrors) {
    auto o = parse_options({});
    ASSERT_TRUE(o);
    EXPECT_EQ(o->config_path, kDefaultConfigPath);
    EXPECT_FALSE(o->config_path_given);
    EXPECT_FALSE(parse_options({"-x"}));
    EXPECT_FALSE(parse_options({"-c"}));
    EXPECT_FALSE(parse_options({"--pct-sample", "100"}));
    auto joined = parse_options({"-c/etc/x.conf"});
    ASSERT_TRUE(joined);
    EXPECT_EQ(joined->config_path, "/etc/x.conf");
}

}  // namespace
}  // namespace dmarc::milter
