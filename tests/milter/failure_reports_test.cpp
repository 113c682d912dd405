// Failure reports (RFC 6591 / RFC 9991; OpenDMARC's FailureReports) through the real binary:
// the destinations of ruf= verified (RFC 9991: external ones MUST be authorised), the rate
// limit (a MUST there), NoReportsList, FailureReportsBcc, redaction, ReportCommand failures
// that never touch mail; and the pieces (ReportCommand runner, rate limiter, NoReportsList).
#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <filesystem>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <utility>
#include <vector>

#include "core/memory_resolver.hpp"
#include "core/record.hpp"
#include "milter/failure_reports.hpp"
#include "tests/support/milter_client.hpp"
#include "tests/support/milter_process.hpp"

namespace dmarc::milter {
namespace {

namespace fs = std::filesystem;
namespace mc = milter_client;
using namespace std::chrono_literals;

// ---- ReportCommand runner ----------------------------------------------------------------------

TEST(ReportCommand, PipesTheReportAndChecksTheExitStatus) {
    test_support::MilterTempDir dir;
    auto out = dir.path() / "out.txt";
    auto ok = run_report_command("cat > '" + out.string() + "'", "line 1\nline 2\n", 5s);
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(test_support::read_text_file(out), "line 1\nline 2\n");

    auto failed = run_report_command("cat >/dev/null; echo 'no such user' >&2; exit 67", "x", 5s);
    ASSERT_FALSE(failed);
    EXPECT_NE(failed.error().message.find("exit status 67"), std::string::npos);
    EXPECT_NE(failed.error().message.find("no such user"), std::string::npos);

    auto missing = run_report_command("/nonexistent/sendmail -t", "x", 5s);
    ASSERT_FALSE(missing);
    EXPECT_NE(missing.error().message.find("exit status 127"), std::string::npos);
}

TEST(ReportCommand, ACommandThatClosesItsOutputFirstStillGetsEverything) {
    test_support::MilterTempDir dir;
    auto out = dir.path() / "out.txt";
    const std::string big(300000, 'r');  // more than a pipe holds
    auto ok = run_report_command("exec >/dev/null 2>&1; sleep 0.2; cat > '" + out.string() + "'",
                                 big, 5s);
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(test_support::read_text_file(out).size(), big.size());
}

TEST(ReportCommand, AHungCommandIsKilledAtTheTimeout) {
    auto start = std::chrono::steady_clock::now();
    auto r = run_report_command("sleep 30", "report", 300ms);
    auto took = std::chrono::steady_clock::now() - start;
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("killed"), std::string::npos) << r.error().message;
    EXPECT_LT(took, 10s);
}

TEST(ReportCommand, ACommandThatDoesNotReadItsInputFails) {
    // 1 MiB into a command that exits at once: the write gets EPIPE (SIGPIPE is not fatal
    // here either way) and the report counts as not sent.
    auto r = run_report_command("exit 0", std::string(1 << 20, 'x'), 5s);
    ASSERT_FALSE(r);
    EXPECT_NE(r.error().message.find("did not read the whole report"), std::string::npos)
        << r.error().message;
}

// ---- rate limit, NoReportsList --------------------------------------------------------------

TEST(FailureReportRate, SlidingHourPerAddress) {  // RFC 9991: rate limiting is a MUST
    RateLimiter limiter;
    EXPECT_TRUE(limiter.allow("a@x.example", 1000, 2));
    EXPECT_TRUE(limiter.allow("a@x.example", 1001, 2));
    EXPECT_FALSE(limiter.allow("a@x.example", 1002, 2));
    EXPECT_TRUE(limiter.allow("b@x.example", 1002, 2));  // per address
    EXPECT_FALSE(limiter.allow("a@x.example", 4599, 2));
    EXPECT_TRUE(limiter.allow("a@x.example", 4600, 2));  // the first one is an hour old
    EXPECT_FALSE(limiter.allow("a@x.example", 4600, 2));
}

TEST(NoReportsList, AddressesAndDomainsWithComments) {
    auto list = parse_no_reports_list(
        "# never report to these\nUser@Example.COM\n\n"
        "reports.example  # and its subdomains\n");
    ASSERT_TRUE(list) << list.error().message;
    ASSERT_EQ(list->size(), 2u);
    auto matches = [&](std::string_view address) {
        for (const auto& s : *list) {
            if (suppression_matches(s, address, 0)) return true;
        }
        return false;
    };
    EXPECT_TRUE(matches("user@example.com"));
    EXPECT_FALSE(matches("other@example.com"));
    EXPECT_TRUE(matches("ruf@mx.reports.example"));
    auto bad = parse_no_reports_list("ok.example\nnot an address\n");
    ASSERT_FALSE(bad);
    EXPECT_NE(bad.error().message.find("line 2"), std::string::npos);
}

// ---- which messages get a report --------------------------------------------------------------

TEST(FailureReportPlan, BccCopiesFollowOpenDmarcsGateButNeverForAReport) {
    config::MilterConfig config;
    config.failure_reports = true;
    config.failure_reports_bcc = {"postmaster@mx.example.net"};
    MessageVerdict v;
    v.evaluated = true;
    v.evaluation.result = DmarcResult::fail;
    v.evaluation.published = std::make_shared<const DmarcRecord>();  // p=none, no ruf
    v.evaluation.applied_policy = Policy::reject;
    auto plan = plan_failure_report(v, config);
    EXPECT_TRUE(plan.to_bcc);
    EXPECT_FALSE(plan.to_policy_domain);  // no ruf=
    v.is_dmarc_report = true;             // RFC 9991: reports about reports can loop
    EXPECT_FALSE(plan_failure_report(v, config).any());
    v.is_dmarc_report = false;
    v.evaluation.applied_policy = Policy::none;  // OpenDMARC: p=none only with OnNone
    EXPECT_FALSE(plan_failure_report(v, config).any());
    config.failure_reports_on_none = true;
    EXPECT_TRUE(plan_failure_report(v, config).to_bcc);
    v.evaluation.result = DmarcResult::pass;
    EXPECT_FALSE(plan_failure_report(v, config).any());
    v.evaluation.result = DmarcResult::fail;
    config.failure_reports = false;
    EXPECT_FALSE(plan_failure_report(v, config).any());
}

// ---- a destination check that met a DNS temperror is tried again --------------------------------

// Answers from a zone, except that the authorisation record of reports.example for
// spoofed.example (RFC 7489 §7.1) fails with a temperror the first `failures` times.
class FlakyAuthorisation final : public DnsResolver {
  public:
    FlakyAuthorisation(MemoryResolver zone, int failures)
        : zone_(std::move(zone)), failures_left_(failures) {}
    DnsResponse lookup(std::string_view name, RrType type) override {
        if (name == "spoofed.example._report._dmarc.reports.example" &&
            failures_left_.fetch_sub(1) > 0) {
            auto r = DnsResponse::make(DnsStatus::temperror);
            r.why = "SERVFAIL (test)";
            return r;
        }
        return zone_.lookup(name, type);
    }

  private:
    MemoryResolver zone_;
    std::atomic<int> failures_left_;
};

class FailureReportRetry : public ::testing::Test {
  protected:
    std::shared_ptr<Snapshot> snapshot(int failures) const {
        auto zone = MemoryResolver::parse(
            "spoofed.example._report._dmarc.reports.example TXT \"v=DMARC1\"\n");
        EXPECT_TRUE(zone) << zone.error().message;
        auto snap = std::make_shared<Snapshot>();
        snap->config.failure_reports = true;
        snap->config.failure_reports_bcc = {"copies@mx.example.net"};
        snap->config.report_command =
            "cat >> '" + reports().string() + "'; echo ===== >> '" + reports().string() + "'";
        snap->dns = std::make_shared<FlakyAuthorisation>(*zone, failures);
        return snap;
    }
    FailureReportJob job(std::shared_ptr<const Snapshot> snap) const {
        FailureReportJob j;
        MessageVerdict& v = j.verdict;
        v.evaluated = true;
        v.action = MilterAction::reject;
        v.authserv_id = "mx.example.net";
        Evaluation& e = v.evaluation;
        e.result = DmarcResult::fail;
        e.rfc5322_from_domain = "spoofed.example";
        e.policy_domain = "spoofed.example";
        e.policy_source = PolicySource::author;
        e.published = std::make_shared<const DmarcRecord>(
            *parse_dmarc_record("v=DMARC1; p=reject; ruf=mailto:ruf@reports.example"));
        e.applied_policy = Policy::reject;
        v.spf = SpfAuthResult{"spoofed.example", SpfScope::mfrom, SpfResult::fail, false, ""};
        j.envelope.client_ip = IpAddress::parse("203.0.113.99");
        j.envelope.mail_from = "alice@spoofed.example";
        j.envelope.rcpt_to = {"victim@mx.example.net"};
        j.envelope.queue_id = "RETRY1";
        j.envelope.mta_hostname = "mx.example.net";
        j.headers = {{"From", "Alice <alice@spoofed.example>"}, {"Subject", "Your account"}};
        j.arrival = 1700000000;
        j.to_policy_domain = true;
        j.snapshot = std::move(snap);
        return j;
    }
    fs::path reports() const { return dir.path() / "reports.txt"; }
    std::string read_reports() const {
        return fs::exists(reports()) ? test_support::read_text_file(reports()) : std::string();
    }
    FailureReporter::LogFn logger() {
        return [this](LogLevel, std::string_view line) {
            std::lock_guard lock(log_mutex);
            log += std::string(line) + "\n";
        };
    }
    std::string logged() {
        std::lock_guard lock(log_mutex);
        return log;
    }
    bool has_logged(const std::string& line) { return logged().find(line) != std::string::npos; }
    // Polls until `done` holds or five seconds pass.
    template <typename F>
    static bool eventually(F done) {
        for (int i = 0; i < 200; ++i) {
            if (done()) return true;
            std::this_thread::sleep_for(25ms);
        }
        return done();
    }
    test_support::MilterTempDir dir;
    std::mutex log_mutex;
    std::string log;
};

TEST_F(FailureReportRetry, ATemperrorDestinationIsTriedAgainWithoutTheCopy) {
    FailureReporter reporter(logger(), [] { return std::int64_t{1700000001}; }, nullptr,
                             {50ms, 50ms, 50ms});
    ASSERT_TRUE(reporter.submit(job(snapshot(1))));
    // The first try sends the FailureReportsBcc copy at once (in To: no ruf is left) and keeps
    // the report for reports.example; the second try finds it authorised.
    ASSERT_TRUE(eventually([&] { return reporter.counts().sent == 2; })) << logged();
    const std::string all = read_reports();
    const auto split = all.find("=====\n");
    ASSERT_NE(split, std::string::npos) << all;
    const std::string first = all.substr(0, split), second = all.substr(split + 6);
    EXPECT_NE(first.find("To: copies@mx.example.net"), std::string::npos) << first;
    EXPECT_EQ(first.find("ruf@reports.example"), std::string::npos) << first;
    EXPECT_NE(second.find("To: ruf@reports.example"), std::string::npos) << second;
    EXPECT_EQ(second.find("copies@mx.example.net"), std::string::npos) << second;
    const auto counts = reporter.counts();
    EXPECT_EQ(counts.deferred, 1U);
    EXPECT_EQ(counts.refused, 0U);
    EXPECT_TRUE(
        has_logged("RETRY1: failure report to mailto:ruf@reports.example delayed: its "
                   "destination check met a DNS temperror; trying again in 0.05 s (try 2 "
                   "of 4)"))
        << logged();
}

TEST_F(FailureReportRetry, AfterTheLastTryTheDestinationIsGivenUp) {
    FailureReporter reporter(logger(), [] { return std::int64_t{1700000001}; }, nullptr,
                             {20ms, 20ms});
    ASSERT_TRUE(reporter.submit(job(snapshot(1000))));
    ASSERT_TRUE(eventually([&] { return reporter.counts().refused == 1; })) << logged();
    ASSERT_TRUE(reporter.drain(5s));
    const auto counts = reporter.counts();
    EXPECT_EQ(counts.deferred, 2U);  // tries 2 and 3
    EXPECT_EQ(counts.sent, 1U);      // the copy, with the first try
    EXPECT_TRUE(
        has_logged("RETRY1: failure report not sent to mailto:ruf@reports.example: "
                   "temperror (TXT spoofed.example._report._dmarc.reports.example: DNS "
                   "temperror SERVFAIL (test)), try 3"))
        << logged();
}

TEST_F(FailureReportRetry, ALaterTryReadsTheConfigurationOfItsTime) {
    auto off = snapshot(0);
    off->config.failure_reports = false;  // switched off by a reload after the first try
    FailureReporter reporter(
        logger(), [] { return std::int64_t{1700000001}; }, [off] { return off; }, {20ms});
    ASSERT_TRUE(reporter.submit(job(snapshot(1))));
    ASSERT_TRUE(eventually([&] {
        return has_logged("RETRY1: failure report not sent: FailureReports is off now");
    })) << logged();
    EXPECT_EQ(reporter.counts().sent, 1U);  // the copy only
    EXPECT_EQ(read_reports().find("To: ruf@reports.example"), std::string::npos);
}

TEST_F(FailureReportRetry, TriesStillWaitingAtStopAreCountedAndDoNotHoldTheStop) {
    const auto started = std::chrono::steady_clock::now();
    {
        FailureReporter reporter(logger(), [] { return std::int64_t{1700000001}; }, nullptr,
                                 {std::chrono::hours(1)});
        ASSERT_TRUE(reporter.submit(job(snapshot(1000))));
        ASSERT_TRUE(eventually([&] { return reporter.counts().deferred == 1; })) << logged();
        ASSERT_TRUE(reporter.drain(5s));  // a waiting try is not waited for
    }
    EXPECT_LT(std::chrono::steady_clock::now() - started, 10s);
    EXPECT_TRUE(
        has_logged("1 failure report(s) waiting to check a destination again not sent: "
                   "stopping"))
        << logged();
}

// ---- the daemon -----------------------------------------------------------------------------

// spoofed.example asks for failure reports at three places: its own domain, an authorised
// external host, and an external host that never authorised it (RFC 7489 §7.1 / RFC 9991).
constexpr const char* kZone =
    R"(_dmarc.spoofed.example TXT "v=DMARC1; p=reject; fo=1; ruf=mailto:ruf@spoofed.example,mailto:ruf@reports.example,mailto:ruf@unauthorised.example"
spoofed.example._report._dmarc.reports.example TXT "v=DMARC1"
spoofed.example TXT "v=spf1 ip4:192.0.2.10 -all"
_dmarc.quiet.example TXT "v=DMARC1; p=reject"
quiet.example TXT "v=spf1 ip4:192.0.2.10 -all"
_dmarc.none.example TXT "v=DMARC1; p=none; ruf=mailto:ruf@none.example"
none.example TXT "v=spf1 ip4:192.0.2.10 -all"
_dmarc.small.example TXT "v=DMARC1; p=reject; ruf=mailto:tiny@small.example!1k,mailto:big@small.example"
small.example TXT "v=spf1 ip4:192.0.2.10 -all"
_dmarc.smaller.example TXT "v=DMARC1; p=reject; ruf=mailto:tiny@smaller.example!1k"
smaller.example TXT "v=spf1 ip4:192.0.2.10 -all"
)";

mc::Message spoof(const std::string& domain, const std::string& queue_id) {
    mc::Message m;
    m.client_host = "unknown";
    m.client_ip = "203.0.113.99";
    m.helo = "spoofer.example";
    m.mail_from = "alice@" + domain;
    m.rcpt_to = {"victim@mx.example.net"};
    m.headers = {{"From", "Alice Example <alice@" + domain + ">"},
                 {"To", "victim@mx.example.net"},
                 {"Subject", "Your account"},
                 {"Message-ID", "<" + queue_id + "@spoofer.example>"}};
    m.connect_macros = {{"j", "mx.example.net"}};
    m.eom_macros = {{"i", queue_id}};
    return m;
}

class FailureReportDaemon : public ::testing::Test {
  protected:
    void SetUp() override { test_support::write_text_file(dir.path() / "zone.txt", kZone); }
    fs::path config() const { return dir.path() / "dmarc-milter.conf"; }
    fs::path reports() const { return dir.path() / "reports.txt"; }
    std::string socket() const { return "local:" + (dir.path() / "milter.sock").string(); }
    std::string base() const {
        return "AuthservID mx.example.net\nTestDNSData " + (dir.path() / "zone.txt").string() +
               "\nRejectFailures true\nSPFSelfValidate true\nFailureReports true\n"
               "ReportCommand cat >> '" +
               reports().string() + "'; echo '=====' >> '" + reports().string() + "'\n";
    }
    // Sends each message on its own connection; every one is rejected (p=reject, SPF fail).
    void send(const std::vector<mc::Message>& messages) {
        for (const auto& m : messages) {
            auto client = mc::Client::open(socket());
            ASSERT_TRUE(client) << client.error().message;
            ASSERT_TRUE(client->negotiate());
            auto r = client->send_message(m);
            ASSERT_TRUE(r) << r.error().message;
            EXPECT_TRUE(r->is_reject()) << r->reply;
        }
    }
    // The reports written so far, once `count` are there (the sender is a background thread).
    std::vector<std::string> wait_reports(std::size_t count) {
        std::vector<std::string> out;
        for (int i = 0; i < 200; ++i) {
            out.clear();
            std::string all =
                fs::exists(reports()) ? test_support::read_text_file(reports()) : std::string();
            std::size_t start = 0, end = 0;
            while ((end = all.find("=====\n", start)) != std::string::npos) {
                out.push_back(all.substr(start, end - start));
                start = end + 6;
            }
            if (out.size() >= count) break;
            std::this_thread::sleep_for(25ms);
        }
        return out;
    }
    test_support::MilterTempDir dir;
};

// A header field of the report, unfolded (RFC 5322 §2.2.3); empty when absent.
std::string field(const std::string& mail, const std::string& name) {
    auto at = mail.find("\n" + name + ": ");
    if (at == std::string::npos) return {};
    at += name.size() + 3;
    std::string value;
    while (true) {
        auto eol = mail.find('\n', at);
        value += mail.substr(at, eol - at);
        if (eol == std::string::npos || eol + 1 >= mail.size() ||
            (mail[eol + 1] != ' ' && mail[eol + 1] != '\t')) {
            break;
        }
        at = eol + 1;
    }
    return value;
}

TEST_F(FailureReportDaemon, VerifiedDestinationsRedactedHeadersAndTheRateLimit) {
    test_support::write_text_file(config(), base() + "FailureReportsRate 2\n");
    test_support::MilterProcess milter(DMARC_MILTER_BIN, config(), socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    send({spoof("spoofed.example", "QA1"), spoof("spoofed.example", "QA2"),
          spoof("spoofed.example", "QA3"), spoof("quiet.example", "QB1")});
    auto got = wait_reports(2);
    EXPECT_EQ(milter.stop(), 0);
    std::string log = milter.log();
    ASSERT_EQ(got.size(), 2u) << log;
    for (const auto& mail : got) {
        // Own domain and the authorised external host; never the unauthorised one.
        EXPECT_EQ(field("\n" + mail, "To"), "ruf@spoofed.example, ruf@reports.example") << mail;
        EXPECT_EQ(mail.find("unauthorised.example"), std::string::npos);
        EXPECT_NE(mail.find("Feedback-Type: auth-failure"), std::string::npos) << mail;
        EXPECT_NE(mail.find("Auth-Failure: dmarc"), std::string::npos);
        EXPECT_NE(mail.find("Source-IP: 203.0.113.99"), std::string::npos);
        // From the connect packet (milter_client's default client port).
        EXPECT_NE(mail.find("Source-Port: 25000\n"), std::string::npos) << mail;
        EXPECT_NE(mail.find("Reported-Domain: spoofed.example"), std::string::npos);
        // The SPF record as the DNS has it (RFC 6591 §3.2; RFC 9991: required when SPF failed).
        EXPECT_NE(mail.find("SPF-DNS: txt : spoofed.example : \"v=spf1 ip4:192.0.2.10 -all\""),
                  std::string::npos)
            << mail;
        EXPECT_NE(mail.find("text/rfc822-headers"), std::string::npos);
        // FailureReportsRedact (default true): the domain stays, the local-part does not.
        EXPECT_EQ(mail.find("alice@"), std::string::npos) << mail;
        EXPECT_EQ(mail.find("victim@"), std::string::npos) << mail;
        EXPECT_NE(mail.find("@spoofed.example>"), std::string::npos) << mail;
        EXPECT_EQ(mail.find('\r'), std::string::npos);  // LF for sendmail -t
    }
    // The third report exceeds 2 an hour for both addresses: nothing is sent for it.
    EXPECT_NE(log.find("QA3: failure report not sent to ruf@spoofed.example: over 2 an hour"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("QA1: failure report not sent to mailto:ruf@unauthorised.example: "
                       "unauthorised"),
              std::string::npos)
        << log;
    EXPECT_EQ(log.find("QB1: failure report"), std::string::npos) << log;  // no ruf=
    EXPECT_NE(log.find("failure_reports_sent=2 "), std::string::npos) << log;
    EXPECT_NE(log.find("failure_reports_rate_limited=2 "), std::string::npos) << log;
}

TEST_F(FailureReportDaemon, BccNoReportsListUnredactedAndPolicyNone) {
    test_support::write_text_file(dir.path() / "no-reports", "# ours only\nreports.example\n");
    test_support::write_text_file(
        config(), base() +
                      "FailureReportsBcc postmaster@mx.example.net\nFailureReportsRedact "
                      "false\nNoReportsList " +
                      (dir.path() / "no-reports").string() + "\n");
    test_support::MilterProcess milter(DMARC_MILTER_BIN, config(), socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    send({spoof("spoofed.example", "QC1"), spoof("quiet.example", "QC2")});
    {  // p=none: no report without FailureReportsOnNone (OpenDMARC's gate)
        auto client = mc::Client::open(socket());
        ASSERT_TRUE(client && client->negotiate());
        auto r = client->send_message(spoof("none.example", "QC3"));
        ASSERT_TRUE(r);
        EXPECT_FALSE(r->is_reject());
    }
    auto got = wait_reports(2);
    EXPECT_EQ(milter.stop(), 0);
    std::string log = milter.log();
    ASSERT_EQ(got.size(), 2u) << log;
    // QC1: the record's own domain in To, the copy in Bcc; reports.example is on the list.
    const std::string& first = got[0].find("QC1") != std::string::npos ? got[0] : got[1];
    const std::string& second = &first == &got[0] ? got[1] : got[0];
    EXPECT_EQ(field("\n" + first, "To"), "ruf@spoofed.example") << first;
    EXPECT_EQ(field("\n" + first, "Bcc"), "postmaster@mx.example.net") << first;
    EXPECT_NE(first.find("alice@spoofed.example"), std::string::npos);  // not redacted
    EXPECT_NE(log.find("QC1: failure report not sent to ruf@reports.example: NoReportsList"),
              std::string::npos)
        << log;
    // QC2: no ruf, but a DMARC failure under p=reject: the copy alone, in To.
    EXPECT_NE(second.find("QC2"), std::string::npos) << second;
    EXPECT_EQ(field("\n" + second, "To"), "postmaster@mx.example.net") << second;
    EXPECT_EQ(log.find("QC3: failure report"), std::string::npos) << log;
}

// RFC 7489 §6.2 "!size": a report (about 2 KiB here) over a destination's limit is not sent
// there; the other destinations still get it, and with none left nothing is sent.
TEST_F(FailureReportDaemon, SizeLimitsOfDestinations) {
    test_support::write_text_file(config(), base());
    test_support::MilterProcess milter(DMARC_MILTER_BIN, config(), socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    send({spoof("small.example", "QE1"), spoof("smaller.example", "QE2")});
    auto got = wait_reports(1);
    std::string log;
    for (int i = 0; i < 200; ++i) {
        log = milter.log();
        if (log.find("QE2: failure report not sent to tiny@") != std::string::npos) break;
        std::this_thread::sleep_for(25ms);
    }
    EXPECT_EQ(milter.stop(), 0);
    log = milter.log();
    ASSERT_EQ(got.size(), 1u) << log;
    EXPECT_EQ(field("\n" + got[0], "To"), "big@small.example") << got[0];
    EXPECT_NE(log.find("QE1: failure report not sent to tiny@small.example: "), std::string::npos)
        << log;
    EXPECT_NE(log.find("QE2: failure report not sent to tiny@smaller.example: "), std::string::npos)
        << log;
    EXPECT_NE(log.find("over its size limit"), std::string::npos) << log;
    EXPECT_EQ(log.find("QE2: failure report about"), std::string::npos) << log;
    EXPECT_NE(log.find("failure_reports_sent=1 "), std::string::npos) << log;
    EXPECT_NE(log.find("failure_report_destinations_refused=2"), std::string::npos) << log;
}

TEST_F(FailureReportDaemon, AFailingCommandIsLoggedAndMailIsUntouched) {
    test_support::write_text_file(
        config(), "AuthservID mx.example.net\nTestDNSData " + (dir.path() / "zone.txt").string() +
                      "\nRejectFailures true\nSPFSelfValidate true\nFailureReports true\n"
                      "ReportCommand cat >/dev/null; echo 'queue file write error' >&2; exit 75\n");
    test_support::MilterProcess milter(DMARC_MILTER_BIN, config(), socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    send({spoof("spoofed.example", "QD1")});
    std::string log;
    for (int i = 0; i < 200; ++i) {
        log = milter.log();
        if (log.find("QD1: failure report: ReportCommand") != std::string::npos) break;
        std::this_thread::sleep_for(25ms);
    }
    EXPECT_NE(log.find("exit status 75: queue file write error"), std::string::npos) << log;
    EXPECT_EQ(milter.stop(), 0);
    EXPECT_NE(milter.log().find("failure_reports_failed=1 "), std::string::npos) << milter.log();
}

}  // namespace
}  // namespace dmarc::milter
