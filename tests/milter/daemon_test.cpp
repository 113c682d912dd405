// The real dmarc-milter binary on a unix socket and on loopback TCP, driven over the milter
// protocol by tests/support/milter_client: the demo scenarios (demo/scenarios.txt with the demo
// zone as TestDNSData) give the SMTP outcome of each RFC 7489 §6.6 case; reload on SIGHUP
// (atomic: a broken file keeps the old configuration), SIGTERM, -n, history on a full disk
// (OpenDMARC §8.2 #23), IgnoreAuthenticatedClients via {auth_authen}, and no Nagle stall.
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "core/history_text.hpp"
#include "io/spool.hpp"
#include "tests/support/milter_client.hpp"
#include "tests/support/milter_process.hpp"

namespace dmarc::milter {
namespace {

namespace fs = std::filesystem;
namespace mc = milter_client;
using namespace std::chrono_literals;

std::string read_file(const fs::path& p) {
    return test_support::read_text_file(p);
}
void write_file(const fs::path& p, const std::string& text) {
    test_support::write_text_file(p, text);
}

struct RunResult {
    int exit_code = -1;
    std::string output;
};

// Runs the binary to completion (for -n), stdout and stderr together.
RunResult run_binary(const std::vector<std::string>& args) {
    std::string command = DMARC_MILTER_BIN;
    for (const auto& a : args) command += " '" + a + "'";
    command += " 2>&1";
    RunResult r;
    FILE* pipe = ::popen(command.c_str(), "r");
    if (pipe == nullptr) return r;
    char buffer[4096];
    std::size_t n = 0;
    while ((n = std::fread(buffer, 1, sizeof(buffer), pipe)) > 0) r.output.append(buffer, n);
    int status = ::pclose(pipe);
    r.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : -1;
    return r;
}

using TempDir = test_support::MilterTempDir;

// dmarc-milter -f in a child process (tests/support/milter_process.hpp).
class MilterProcess : public test_support::MilterProcess {
  public:
    MilterProcess(const fs::path& config, const std::string& socket, const fs::path& log)
        : test_support::MilterProcess(DMARC_MILTER_BIN, config, socket, log) {}
};

struct Scenario {
    std::string file, client_ip, helo, mail_from;
};

std::vector<Scenario> demo_scenarios() {
    std::vector<Scenario> out;
    std::istringstream in(read_file(fs::path(DMARC_SOURCE_DIR) / "demo/scenarios.txt"));
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        Scenario s;
        std::istringstream fields(line);
        fields >> s.file >> s.client_ip >> s.helo >> s.mail_from;
        out.push_back(s);
    }
    return out;
}

mc::Message demo_message(const Scenario& s) {
    mc::Message m;
    auto [headers, body] =
        mc::split_message(read_file(fs::path(DMARC_SOURCE_DIR) / "demo/messages" / s.file));
    m.headers = std::move(headers);
    m.body = std::move(body);
    m.client_host = s.helo;
    m.client_ip = s.client_ip;
    m.helo = s.helo;
    m.mail_from = s.mail_from;
    m.rcpt_to = {"ana@demo.example"};
    m.connect_macros = {{"j", "mx.demo.example"}};
    m.eom_macros = {{"i", "Q" + s.file.substr(0, 2)}};
    return m;
}

// What the demo expects: the SMTP outcome, and for accepted mail the dmarc= result in our A-R.
struct Expected {
    char outcome;        // 'a' accepted, 'r' rejected, 'q' held (quarantine)
    std::string detail;  // reject: reply text; otherwise "dmarc=..." in our header
};

const std::map<std::string, Expected>& demo_expectations() {
    static const std::map<std::string, Expected> kExpected{
        {"01", {'a', "dmarc=pass"}},
        {"02", {'r', "550 5.7.1 rejected by DMARC policy for bank.example"}},
        {"03", {'r', "550 5.7.1 rejected by DMARC policy for bank.example"}},  // forged A-R
        {"04", {'a', "dmarc=pass"}},  // SPF pass through the ESP's include
        {"05", {'q', "dmarc=fail (p=quarantine dis=quarantine)"}},  // d= not strictly aligned
        {"06", {'a', "dmarc=fail (p=none dis=none)"}},
        {"07", {'r', "550 5.7.1 rejected by DMARC policy for corp.example"}},  // np=reject
        {"08", {'q', "dmarc=fail (p=quarantine dis=quarantine)"}},             // sp=quarantine
        {"09", {'q', "dmarc=fail (p=reject dis=quarantine)"}},  // t=y: one level down
        {"10", {'r', "550 5.7.1 rejected by DMARC policy for bank.example"}},  // CVE-2019-16378
        {"11", {'a', "dmarc=temperror"}},  // SERVFAIL is not "no policy"
        {"12", {'a', "dmarc=fail (p=none dis=none)"}},
    };
    return kExpected;
}

std::string base_config(const fs::path& dir) {
    return "AuthservID mx.demo.example\n"
           "TestDNSData " +
           (fs::path(DMARC_SOURCE_DIR) / "demo/zone.txt").string() +
           "\n"
           "RejectFailures true\n"
           "HoldQuarantinedMessages true\n"
           "SPFSelfValidate true\n"
           "HistoryFile " +
           (dir / "history.txt").string() + "\n" + "HistoryDatabase " +
           (dir / "spool.db").string() + "\n";
}

void check_demo_response(const Scenario& s, const mc::Response& r) {
    const Expected& e = demo_expectations().at(s.file.substr(0, 2));
    SCOPED_TRACE(s.file);
    switch (e.outcome) {
        case 'r':
            EXPECT_EQ(r.code, 'y');
            EXPECT_EQ(r.reply, e.detail);
            EXPECT_TRUE(r.headers_inserted().empty());
            break;
        case 'q':
        case 'a': {
            EXPECT_EQ(r.code, 'a');
            EXPECT_EQ(r.quarantine_reason().has_value(), e.outcome == 'q');
            auto inserted = r.headers_inserted();
            ASSERT_EQ(inserted.size(), 1u);
            EXPECT_EQ(inserted[0]->code, 'i');
            EXPECT_EQ(inserted[0]->index, 0u);  // our field goes first
            EXPECT_EQ(inserted[0]->name, "Authentication-Results");
            EXPECT_TRUE(inserted[0]->value.starts_with("mx.demo.example;")) << inserted[0]->value;
            EXPECT_NE(inserted[0]->value.find(e.detail), std::string::npos) << inserted[0]->value;
            break;
        }
    }
}

// One message on a connection of its own: the reply code ('y' reject, 'a' accept), 0 on failure.
char send_on_new_connection(const std::string& socket, const mc::Message& message) {
    auto client = mc::Client::open(socket);
    EXPECT_TRUE(client && client->negotiate());
    if (!client) return 0;
    auto r = client->send_message(message);
    EXPECT_TRUE(r);
    return r ? r->code : 0;
}

class DaemonTest : public ::testing::Test {
  protected:
    TempDir dir;
    fs::path config() const { return dir.path() / "dmarc-milter.conf"; }
    std::string unix_socket() const { return "local:" + (dir.path() / "milter.sock").string(); }
    // inet:PORT@127.0.0.1 on a port free a moment ago.
    static std::string free_tcp_socket() {
        int probe = ::socket(AF_INET, SOCK_STREAM, 0);
        sockaddr_in addr{};
        addr.sin_family = AF_INET;
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
        socklen_t len = sizeof(addr);
        (void)::bind(probe, reinterpret_cast<sockaddr*>(&addr), sizeof(addr));
        ::getsockname(probe, reinterpret_cast<sockaddr*>(&addr), &len);
        ::close(probe);
        return "inet:" + std::to_string(ntohs(addr.sin_port)) + "@127.0.0.1";
    }
};

TEST_F(DaemonTest, DemoScenariosOverUnixSocket) {
    write_file(config(), base_config(dir.path()));
    MilterProcess milter(config(), unix_socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    // The engine is named at start-up: io_uring where the kernel allows it, else threads. (The
    // socket takes connections from listen(2) on, before the line is written: wait for it.)
    EXPECT_TRUE(milter.wait_for_log("serving with ")) << milter.log();
    const std::string started = milter.log();
    EXPECT_TRUE(started.find("serving with io_uring (1 event thread)") != std::string::npos ||
                started.find("io_uring not available (") != std::string::npos)
        << started;
    auto scenarios = demo_scenarios();
    ASSERT_EQ(scenarios.size(), 12u);
    for (const auto& s : scenarios) {
        auto client = mc::Client::open(unix_socket());
        ASSERT_TRUE(client) << client.error().message;
        auto n = client->negotiate();
        ASSERT_TRUE(n) << n.error().message;
        auto r = client->send_message(demo_message(s));
        ASSERT_TRUE(r) << s.file << ": " << r.error().message << "\n" << milter.log();
        check_demo_response(s, *r);
    }
    EXPECT_EQ(milter.stop(), 0) << milter.log();
    std::string log = milter.log();
    // One OpenDMARC-shaped line per message: "<queue-id>: <from-domain> <result>".
    EXPECT_NE(log.find("Q02: bank.example fail\n"), std::string::npos) << log;
    EXPECT_NE(log.find("Q01: bank.example pass\n"), std::string::npos);
    EXPECT_NE(log.find("Q11: flaky.example temperror\n"), std::string::npos);
    EXPECT_NE(log.find("stats: messages=12"), std::string::npos) << log;
    // History: one OpenDMARC record per evaluated message with a policy (not 11: no record).
    auto history = parse_history_text(read_file(dir.path() / "history.txt"));
    EXPECT_TRUE(history.issues.empty());
    std::vector<std::string> jobs;
    for (const auto& rec : history.records) jobs.push_back(rec.job);
    EXPECT_EQ(std::count(jobs.begin(), jobs.end(), "Q02"), 1);
    EXPECT_EQ(std::count(jobs.begin(), jobs.end(), "Q05"), 1);
    EXPECT_EQ(std::count(jobs.begin(), jobs.end(), "Q11"), 0);
    EXPECT_EQ(history.records.size(), 11u);
    for (const auto& rec : history.records) {
        if (rec.job == "Q02") {
            EXPECT_EQ(rec.action, history_action::kReject);
            EXPECT_EQ(rec.ipaddr, "203.0.113.99");
            EXPECT_EQ(rec.from, "bank.example");
            EXPECT_EQ(rec.policy, history_policy::kReject);
        }
    }
    // Spool (issue 4 item 4): one row per evaluated message, with or without a policy, flushed
    // at SIGTERM.
    auto spool = io::SpoolReader::open((dir.path() / "spool.db").string());
    ASSERT_TRUE(spool) << spool.error().message;
    auto batch = spool->read_after(0, 100);
    ASSERT_TRUE(batch) << batch.error().message;
    EXPECT_TRUE(batch->bad_rows.empty());
    ASSERT_EQ(batch->entries.size(), 12u);
    for (const auto& e : batch->entries) {
        if (e.row.queue_id == "Q02") {
            EXPECT_EQ(e.row.action, MilterAction::reject);
            EXPECT_EQ(e.row.client_ip, "203.0.113.99");
            EXPECT_EQ(e.row.rfc5322_from_domain, "bank.example");
            EXPECT_EQ(e.row.dmarc_result, DmarcResult::fail);
            EXPECT_EQ(e.row.disposition, Disposition::reject);
        }
        if (e.row.queue_id == "Q11") {
            EXPECT_EQ(e.row.dmarc_result, DmarcResult::temperror);
        }
    }
}

// top -H and perf tell the milter's threads apart by name: the spool writer, the HistoryFile
// writer and the engine's threads (io_uring event thread, or a thread per connection).
TEST_F(DaemonTest, ThreadsAreNamedForTopAndPerf) {
    write_file(config(), base_config(dir.path()));
    MilterProcess milter(config(), unix_socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    ASSERT_TRUE(milter.wait_for_log("serving with ")) << milter.log();
    // A message makes sure a thread per connection exists on the fallback engine too.
    auto scenarios = demo_scenarios();
    ASSERT_FALSE(scenarios.empty());
    EXPECT_NE(send_on_new_connection(unix_socket(), demo_message(scenarios.front())), 0);
    std::multiset<std::string> names;
    for (const auto& task :
         fs::directory_iterator("/proc/" + std::to_string(milter.pid()) + "/task")) {
        std::string comm = read_file(task.path() / "comm");
        if (!comm.empty() && comm.back() == '\n') comm.pop_back();
        names.insert(comm);
    }
    std::string all;
    for (const auto& n : names) all += n + " ";
    EXPECT_EQ(names.count("dmarc-spool"), 1u) << all;
    EXPECT_EQ(names.count("dmarc-histfile"), 1u) << all;
    EXPECT_GE(names.count("dmarc-ring") + names.count("dmarc-conn"), 1u) << all;
    EXPECT_EQ(milter.stop(), 0) << milter.log();
}

// RFC 8601 §5, OpenDMARC §8.2 #19: the A-R with our id that came with message 03 (below our
// MTA's Received field) is removed by occurrence before ours goes to the top. With
// RejectFailures off the message is accepted, so the header changes are visible.
TEST_F(DaemonTest, ForgedResultsAreRemovedOverTheProtocol) {
    write_file(config(), base_config(dir.path()) + "RejectFailures false\n");
    MilterProcess milter(config(), unix_socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    auto client = mc::Client::open(unix_socket());
    ASSERT_TRUE(client && client->negotiate());
    auto r = client->send_message(demo_message(demo_scenarios().at(2)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->code, 'a');
    ASSERT_EQ(r->modifications.size(), 2u);
    EXPECT_EQ(r->modifications[0].code, 'm');
    EXPECT_EQ(r->modifications[0].index, 1u);
    EXPECT_EQ(r->modifications[0].name, "Authentication-Results");
    EXPECT_EQ(r->modifications[0].value, "");  // empty value: delete
    EXPECT_EQ(r->modifications[1].code, 'i');
    EXPECT_EQ(r->modifications[1].index, 0u);
    EXPECT_NE(r->modifications[1].value.find("dmarc=fail (p=reject dis=none)"), std::string::npos)
        << r->modifications[1].value;
}

// Several messages on one connection (Postfix reuses a milter connection per SMTP session).
TEST_F(DaemonTest, ManyMessagesOnOneConnection) {
    write_file(config(), base_config(dir.path()));
    MilterProcess milter(config(), unix_socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    auto client = mc::Client::open(unix_socket());
    ASSERT_TRUE(client && client->negotiate());
    bool first = true;
    for (const auto& s : demo_scenarios()) {
        auto m = demo_message(s);
        auto r = client->send_message(m, first);
        first = false;
        ASSERT_TRUE(r) << s.file << ": " << r.error().message;
        // The connect step already ran; the client (as the MTA) keeps the first message's
        // connection data, so only compare outcomes that do not depend on the client address.
        if (s.file.starts_with("02") || s.file.starts_with("10")) {
            EXPECT_EQ(r->code, 'y') << s.file;
        }
    }
}

// Negotiation as Postfix sees it: only the steps we use, no replies where we say nothing.
TEST_F(DaemonTest, NegotiatesNoReplyFlagsAndSymbolLists) {
    write_file(config(), base_config(dir.path()));
    MilterProcess milter(config(), unix_socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    auto client = mc::Client::open(unix_socket());
    ASSERT_TRUE(client);
    auto n = client->negotiate();
    ASSERT_TRUE(n);
    EXPECT_EQ(n->version, 6u);
    EXPECT_EQ(n->actions & mc::proto::kAddHeaders, mc::proto::kAddHeaders);
    EXPECT_EQ(n->actions & mc::proto::kChangeBody, 0u);
    for (std::uint32_t f :
         {mc::proto::kNoBody, mc::proto::kNoEoh, mc::proto::kNoReplyHelo, mc::proto::kNoReplyRcpt,
          mc::proto::kNoReplyHeader, mc::proto::kNoReplyMail, mc::proto::kNoReplyConnect}) {
        EXPECT_TRUE(n->no_reply(f)) << std::hex << f;
    }
    EXPECT_EQ(n->symbol_lists.size(), 3u);
}

// IgnoreAuthenticatedClients: {auth_authen} at MAIL FROM -> accepted there.
TEST_F(DaemonTest, AuthenticatedClientAcceptedAtMailFrom) {
    write_file(config(), base_config(dir.path()) + "IgnoreAuthenticatedClients true\n");
    MilterProcess milter(config(), unix_socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    auto s = demo_scenarios().at(1);  // the bank spoof
    auto m = demo_message(s);
    m.mail_macros = {{"{auth_authen}", "ana"}};
    auto client = mc::Client::open(unix_socket());
    ASSERT_TRUE(client && client->negotiate());
    EXPECT_FALSE(client->negotiated().no_reply(mc::proto::kNoReplyMail));
    auto r = client->send_message(m);
    ASSERT_TRUE(r);
    EXPECT_EQ(r->code, 'a');
    EXPECT_TRUE(r->modifications.empty());
    // Without {auth_authen} the same message is rejected.
    auto client2 = mc::Client::open(unix_socket());
    ASSERT_TRUE(client2 && client2->negotiate());
    m.mail_macros.clear();
    auto r2 = client2->send_message(m);
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->code, 'y');
}

// SIGHUP reloads atomically; a broken file keeps the old configuration; SIGUSR1 too.
TEST_F(DaemonTest, ReloadOnSighupIsAtomic) {
    write_file(config(), base_config(dir.path()));
    MilterProcess milter(config(), unix_socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    auto spoof = demo_message(demo_scenarios().at(1));
    auto send = [&] { return send_on_new_connection(unix_socket(), spoof); };
    EXPECT_EQ(send(), 'y');

    // A broken file: reload refused, still rejecting.
    write_file(config(), base_config(dir.path()) + "RejectFailures perhaps\n");
    milter.signal(SIGHUP);
    ASSERT_TRUE(milter.wait_for_log("keeping the old configuration")) << milter.log();
    EXPECT_EQ(send(), 'y');

    // A good file: now only the header.
    write_file(config(), base_config(dir.path()) + "RejectFailures false\n");
    milter.signal(SIGUSR1);
    ASSERT_TRUE(milter.wait_for_log("configuration reloaded")) << milter.log();
    EXPECT_EQ(send(), 'a');

    // IgnoreHosts is re-read too: the spoofing client is now ignored.
    write_file(dir.path() / "ignore", "203.0.113.0/24\n");
    write_file(config(),
               base_config(dir.path()) + "IgnoreHosts " + (dir.path() / "ignore").string() + "\n");
    milter.signal(SIGHUP);
    ASSERT_TRUE(milter.wait_for_log("(generation 3)")) << milter.log();
    {
        // No reply at connect: the accept comes at end-of-message, nothing added.
        auto client = mc::Client::open(unix_socket());
        ASSERT_TRUE(client && client->negotiate());
        auto r = client->send_message(spoof);
        ASSERT_TRUE(r);
        EXPECT_EQ(r->code, 'a');
        EXPECT_TRUE(r->modifications.empty());
    }
    EXPECT_EQ(milter.stop(), 0);
}

// SIGTERM: no new connections, but a message in flight is finished and answered first.
TEST_F(DaemonTest, SigtermFinishesMessagesInFlight) {
    write_file(config(), base_config(dir.path()));
    MilterProcess milter(config(), unix_socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    auto m = demo_message(demo_scenarios().at(1));  // the bank spoof: rejected
    auto client = mc::Client::open(unix_socket());
    ASSERT_TRUE(client && client->negotiate());
    ASSERT_TRUE(client->macros('C', m.connect_macros));
    ASSERT_TRUE(client->connect(m.client_host, m.client_ip, 25));
    ASSERT_TRUE(client->helo(m.helo));
    ASSERT_TRUE(client->mail(m.mail_from));
    ASSERT_TRUE(client->rcpt(m.rcpt_to.front()));  // libmilter aborts headers without a RCPT
    for (const auto& [n, v] : m.headers) ASSERT_TRUE(client->header(n, v));
    ASSERT_TRUE(client->flush());  // no-reply commands wait in the buffer, as in Postfix
    std::this_thread::sleep_for(100ms);
    milter.signal(SIGTERM);
    ASSERT_TRUE(milter.wait_for_log("shutting down")) << milter.log();
    std::this_thread::sleep_for(100ms);
    EXPECT_TRUE(milter.alive());  // waiting for this message
    {
        // A new connection meanwhile is deferred (4xx), not evaluated or cut.
        // No reply at connect: the 4xx comes at end-of-message.
        auto late = mc::Client::open(unix_socket(), 2s);
        ASSERT_TRUE(late && late->negotiate());
        auto c = late->send_message(m);
        ASSERT_TRUE(c);
        EXPECT_EQ(c->code, 'y');
        EXPECT_TRUE(c->reply.starts_with("451 4.7.1")) << c->reply;
    }
    ASSERT_TRUE(client->macros('E', m.eom_macros));
    auto r = client->end_of_message();
    ASSERT_TRUE(r) << r.error().message << "\n" << milter.log();
    EXPECT_EQ(r->code, 'y');
    EXPECT_EQ(milter.stop(), 0) << milter.log();
    EXPECT_NE(read_file(dir.path() / "history.txt").find("job Q02"), std::string::npos);
}

// libmilter's own signal thread stops the milter on SIGHUP; ours must take every SIGHUP.
TEST_F(DaemonTest, SurvivesASighupStorm) {
    write_file(config(), base_config(dir.path()));
    MilterProcess milter(config(), unix_socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    for (int i = 0; i < 50; ++i) {
        milter.signal(i % 2 ? SIGHUP : SIGUSR1);
        std::this_thread::sleep_for(2ms);
    }
    std::this_thread::sleep_for(300ms);
    ASSERT_TRUE(milter.alive()) << milter.log();
    auto client = mc::Client::open(unix_socket());
    ASSERT_TRUE(client && client->negotiate());
    auto r = client->send_message(demo_message(demo_scenarios().at(1)));
    ASSERT_TRUE(r);
    EXPECT_EQ(r->code, 'y');
    EXPECT_EQ(milter.stop(), 0);
}

// OpenDMARC §8.2 #23: a HistoryFile that cannot be written never tempfails mail; the loss is
// logged and counted. /dev/full fails every write with ENOSPC (a full disk).
TEST_F(DaemonTest, Opendmarc_8_2_23_HistoryFailureNeverTempfails) {
    write_file(config(), "AuthservID mx.demo.example\nTestDNSData " +
                             (fs::path(DMARC_SOURCE_DIR) / "demo/zone.txt").string() +
                             "\nRejectFailures true\nHistoryFile /dev/full\n");
    MilterProcess milter(config(), unix_socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    auto scenarios = demo_scenarios();
    for (std::size_t i : {0u, 1u, 5u}) {
        auto client = mc::Client::open(unix_socket());
        ASSERT_TRUE(client && client->negotiate());
        auto r = client->send_message(demo_message(scenarios[i]));
        ASSERT_TRUE(r);
        EXPECT_NE(r->code, 't');
        EXPECT_EQ(r->code, i == 1 ? 'y' : 'a');
    }
    EXPECT_EQ(milter.stop(), 0);
    EXPECT_NE(milter.log().find("HistoryFile /dev/full: write /dev/full: "), std::string::npos)
        << milter.log();
    EXPECT_NE(milter.log().find("history records lost so far: "), std::string::npos)
        << milter.log();
    EXPECT_NE(milter.log().find("history_failures=3"), std::string::npos) << milter.log();
}

// flock(LOCK_EX) held on a file through a descriptor of its own, as another process holds it.
class ForeignLock {
  public:
    explicit ForeignLock(const fs::path& path) : fd_(::open(path.c_str(), O_RDONLY | O_CLOEXEC)) {
        held_ = fd_ >= 0 && ::flock(fd_, LOCK_EX) == 0;
    }
    ~ForeignLock() { release(); }
    ForeignLock(const ForeignLock&) = delete;
    ForeignLock& operator=(const ForeignLock&) = delete;
    bool held() const { return held_; }
    void release() {
        if (fd_ >= 0) ::close(fd_);  // closing the last descriptor drops the lock
        fd_ = -1;
        held_ = false;
    }

  private:
    int fd_;
    bool held_ = false;
};

// One demo scenario on a new connection, its verdict checked; returns how long it took.
std::chrono::steady_clock::duration send_and_check(const std::string& socket, const Scenario& s) {
    const auto start = std::chrono::steady_clock::now();
    auto client = mc::Client::open(socket);
    EXPECT_TRUE(client && client->negotiate()) << s.file;
    if (!client) return std::chrono::steady_clock::now() - start;
    auto r = client->send_message(demo_message(s));
    EXPECT_TRUE(r) << s.file;
    if (r) check_demo_response(s, *r);
    return std::chrono::steady_clock::now() - start;
}

// A HistoryFile locked by another process (flock, as OpenDMARC and its tools take it) holds up
// the history writer only: messages are answered at once meanwhile, and their records are
// appended when the lock goes. Before the writer thread, the milter's event thread waited in
// flock(2) and every connection with it.
// The fixture writes the demo configuration and an empty HistoryFile, and locks it.
class LockedHistoryTest : public DaemonTest {
  protected:
    void SetUp() override {
        write_file(config(), base_config(dir.path()));
        write_file(history, "");
        lock.emplace(history);
        ASSERT_TRUE(lock->held());
    }
    const fs::path history = dir.path() / "history.txt";
    std::optional<ForeignLock> lock;
    const std::vector<Scenario> scenarios = demo_scenarios();
};

TEST_F(LockedHistoryTest, TheLockDelaysNoMail) {
    MilterProcess milter(config(), unix_socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    for (std::size_t i : {0u, 1u, 5u}) {
        EXPECT_LT(send_and_check(unix_socket(), scenarios[i]), std::chrono::seconds(1))
            << scenarios[i].file;
    }
    EXPECT_EQ(read_file(history), "");  // still locked: nothing written yet
    lock->release();
    EXPECT_EQ(milter.stop(), 0);
    auto records = parse_history_text(read_file(history));
    EXPECT_EQ(records.records.size(), 3u);
    EXPECT_NE(milter.log().find("history_failures=0"), std::string::npos) << milter.log();
}

// SIGTERM while the HistoryFile stays locked: the writer waits kFlushLockWait (2 s), then the
// records it holds are counted lost and the milter exits; it does not wait on the lock forever.
TEST_F(LockedHistoryTest, StillLockedAtShutdownIsCountedLostAndDoesNotHang) {
    MilterProcess milter(config(), unix_socket(), dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    for (std::size_t i : {0u, 1u}) send_and_check(unix_socket(), scenarios[i]);
    const auto start = std::chrono::steady_clock::now();
    EXPECT_EQ(milter.stop(), 0);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(8));
    lock->release();
    EXPECT_EQ(read_file(history), "");
    const std::string log = milter.log();
    EXPECT_NE(log.find(": locked by another process (history records lost so far: "),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("history_failures=2"), std::string::npos) << log;
}

// TCP on loopback, with the client not acknowledging early (as Postfix): the end-of-message
// header insert and the final reply must not wait on a delayed ACK (e2e-notes item 6).
// IoUring false: the thread-per-connection server (and the fallback where the kernel refuses
// io_uring) gives every demo verdict, over a unix socket and TCP, several connections at once.
TEST_F(DaemonTest, ThreadPerConnectionServerGivesTheSameVerdicts) {
    write_file(config(), base_config(dir.path()) + "IoUring false\n");
    for (const std::string& socket : {unix_socket(), free_tcp_socket()}) {
        SCOPED_TRACE(socket);
        MilterProcess milter(config(), socket, dir.path() / "log");
        ASSERT_TRUE(milter.wait_ready()) << milter.log();
        EXPECT_TRUE(milter.wait_for_log("serving with a thread per connection (IoUring false)"))
            << milter.log();
        auto scenarios = demo_scenarios();
        std::vector<std::thread> clients;
        std::vector<std::optional<mc::Response>> responses(scenarios.size());
        for (std::size_t i = 0; i < scenarios.size(); ++i) {
            clients.emplace_back([&, i] {
                auto client = mc::Client::open(socket);
                if (!client || !client->negotiate()) return;
                if (auto r = client->send_message(demo_message(scenarios[i]))) responses[i] = *r;
            });
        }
        for (auto& t : clients) t.join();
        for (std::size_t i = 0; i < scenarios.size(); ++i) {
            ASSERT_TRUE(responses[i]) << scenarios[i].file << "\n" << milter.log();
            check_demo_response(scenarios[i], *responses[i]);
        }
        EXPECT_EQ(milter.stop(), 0) << milter.log();
    }
}

// A message whose decision waits on DNS holds up no other connection: on the io_uring server it
// is handed to a worker thread (ring_server.cpp) while the event thread answers the rest; on the
// threaded server each connection has its thread. The DNS server here takes queries and never
// answers, so the first message waits DNSTimeout and ends as dmarc=temperror.
TEST_F(DaemonTest, MessageWaitingOnDnsHoldsUpNoOtherConnection) {
    int silent = ::socket(AF_INET, SOCK_DGRAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    socklen_t len = sizeof(addr);
    ASSERT_EQ(::bind(silent, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)), 0);
    ::getsockname(silent, reinterpret_cast<sockaddr*>(&addr), &len);
    const std::string dns = "127.0.0.1@" + std::to_string(ntohs(addr.sin_port));
    for (const char* io_uring : {"true", "false"}) {
        SCOPED_TRACE(std::string("IoUring ") + io_uring);
        write_file(config(), "AuthservID mx.demo.example\nRejectFailures true\nNameservers " + dns +
                                 "\nDNSTimeout 2\nIgnoreMailFrom quiet.example\nIoUring " +
                                 io_uring + "\n");
        MilterProcess milter(config(), unix_socket(), dir.path() / "log");
        ASSERT_TRUE(milter.wait_ready()) << milter.log();
        mc::Message waits = demo_message(demo_scenarios().at(0));  // bank.example: needs DNS
        std::atomic<bool> answered{false};
        std::optional<mc::Response> first;
        std::thread slow([&] {
            auto client = mc::Client::open(unix_socket(), std::chrono::seconds(10));
            if (client && client->negotiate()) {
                if (auto r = client->send_message(waits)) first = *r;
            }
            answered = true;
        });
        std::this_thread::sleep_for(300ms);  // its end-of-message is waiting on DNS now
        mc::Message quiet = waits;
        for (auto& [name, value] : quiet.headers) {
            if (name == "From") value = " Quiet <news@quiet.example>";
        }
        quiet.eom_macros = {{"i", "QQUIET"}};
        const auto start = std::chrono::steady_clock::now();
        auto client = mc::Client::open(unix_socket());
        ASSERT_TRUE(client && client->negotiate());
        auto r = client->send_message(quiet);
        const auto took = std::chrono::steady_clock::now() - start;
        ASSERT_TRUE(r) << milter.log();
        EXPECT_EQ(r->code, 'a');
        EXPECT_LT(took, 1s) << milter.log();
        EXPECT_FALSE(answered.load()) << "the first message did not wait on DNS";
        // An MTA that gives up on a waiting message (its milter timeout) and closes: the worker
        // still decides it, the reply finds the connection gone, and nothing else is disturbed.
        {
            auto impatient = mc::Client::open(unix_socket(), 300ms);
            ASSERT_TRUE(impatient && impatient->negotiate());
            mc::Message gone = waits;
            gone.eom_macros = {{"i", "QGONE"}};
            EXPECT_FALSE(impatient->send_message(gone));
        }
        slow.join();
        ASSERT_TRUE(first) << milter.log();
        EXPECT_EQ(first->code, 'a');
        auto inserted = first->headers_inserted();
        ASSERT_EQ(inserted.size(), 1u);
        EXPECT_NE(inserted[0]->value.find("dmarc=temperror"), std::string::npos)
            << inserted[0]->value;
        EXPECT_TRUE(milter.wait_for_log("QGONE: bank.example temperror")) << milter.log();
        const bool ring = milter.log().find("serving with io_uring") != std::string::npos;
        auto again = mc::Client::open(unix_socket());
        ASSERT_TRUE(again && again->negotiate());
        auto after = again->send_message(quiet);
        ASSERT_TRUE(after) << milter.log();
        EXPECT_EQ(after->code, 'a');
        EXPECT_EQ(milter.stop(), 0) << milter.log();
        // The stats line counts the end-of-messages handed to a worker (the two that needed
        // bank.example's record; the quiet ones needed no DNS).
        EXPECT_NE(milter.log().find(ring ? "waited_on_dns=2" : "waited_on_dns=0"),
                  std::string::npos)
            << milter.log();
        // And the resolver's own counts: queries sent to the silent server, cut off at
        // DNSTimeout.
        const std::string log = milter.log();
        const auto field = [&](const std::string& name) -> std::optional<std::uint64_t> {
            const auto at = log.rfind(" " + name + "=");
            if (at == std::string::npos) return std::nullopt;
            return std::strtoull(log.c_str() + at + name.size() + 2, nullptr, 10);
        };
        ASSERT_TRUE(field("dns_lookups") && field("dns_cache_hits") && field("dns_upstream") &&
                    field("dns_timeouts"))
            << log;
        EXPECT_GE(*field("dns_upstream"), 1u) << log;
        EXPECT_GE(*field("dns_timeouts"), 1u) << log;
        EXPECT_GE(*field("dns_lookups"), *field("dns_upstream")) << log;
    }
    ::close(silent);
}

TEST_F(DaemonTest, TcpEndOfMessageHasNoNagleStall) {
    write_file(config(), base_config(dir.path()));
    std::string spec = free_tcp_socket();
    MilterProcess milter(config(), spec, dir.path() / "log");
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    EXPECT_NE(milter.log().find("(TCP_NODELAY)"), std::string::npos) << milter.log();
    auto client = mc::Client::open(spec);
    ASSERT_TRUE(client && client->negotiate());
    auto m = demo_message(demo_scenarios().at(5));  // news: accepted with our header
    std::vector<double> ms;
    bool first = true;
    for (int i = 0; i < 30; ++i) {
        auto start = std::chrono::steady_clock::now();
        auto r = client->send_message(m, first);
        first = false;
        ASSERT_TRUE(r);
        ASSERT_EQ(r->code, 'a');
        ms.push_back(
            std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start)
                .count());
    }
    std::sort(ms.begin(), ms.end());
    EXPECT_LT(ms[ms.size() / 2], 20.0) << "median " << ms[ms.size() / 2] << " ms";
}

TEST_F(DaemonTest, CheckConfigPrintsOkOrDiagnosticsWithLines) {
    write_file(config(), base_config(dir.path()));
    auto ok = run_binary({"-n", "-c", config().string()});
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_NE(ok.output.find("configuration OK"), std::string::npos) << ok.output;

    write_file(config(), "AuthservID mx.test\nRejectFailures perhaps\n");
    auto bad = run_binary({"-n", "-c", config().string()});
    EXPECT_EQ(bad.exit_code, 78) << bad.output;
    EXPECT_NE(bad.output.find("line 2"), std::string::npos) << bad.output;
    EXPECT_EQ(bad.output.find("configuration OK"), std::string::npos);

    // A file the configuration names is checked too.
    write_file(config(), "IgnoreHosts " + (dir.path() / "missing").string() + "\n");
    auto missing = run_binary({"-n", "-c", config().string()});
    EXPECT_EQ(missing.exit_code, 78) << missing.output;

    auto usage = run_binary({"--help"});
    EXPECT_EQ(usage.exit_code, 0);
    EXPECT_NE(usage.output.find("SYNOPSIS"), std::string::npos);
    EXPECT_EQ(run_binary({"-Z"}).exit_code, 64);
}

// BaseDirectory (OpenDMARC: chdir(2) before anything else): relative paths in the file are taken
// from it, and a relative -c still names the same file at SIGHUP after the chdir.
TEST_F(DaemonTest, BaseDirectoryTakesRelativePathsFromIt) {
    const fs::path base = dir.path() / "base";
    fs::create_directories(base);
    struct Cwd {
        fs::path old = fs::current_path();
        ~Cwd() { fs::current_path(old); }
    } restore;
    fs::current_path(dir.path());  // -c dmarc-milter.conf is relative to this
    const std::string relative_config = "dmarc-milter.conf";
    const std::string file = "AuthservID mx.demo.example\nBaseDirectory " + base.string() +
                             "\nTestDNSData " +
                             (fs::path(DMARC_SOURCE_DIR) / "demo/zone.txt").string() +
                             "\nRejectFailures true\nHistoryDatabase spool.db\n"
                             "HistoryFile history.txt\nPidFile milter.pid\n";
    write_file(config(), file);
    auto ok = run_binary({"-n", "-c", relative_config});
    EXPECT_EQ(ok.exit_code, 0) << ok.output;
    EXPECT_NE(ok.output.find("configuration OK"), std::string::npos) << ok.output;
    {
        MilterProcess milter(relative_config, unix_socket(), dir.path() / "log");
        ASSERT_TRUE(milter.wait_ready()) << milter.log();
        auto spoof = demo_message(demo_scenarios().at(1));
        auto send = [&] { return send_on_new_connection(unix_socket(), spoof); };
        EXPECT_EQ(send(), 'y');
        EXPECT_TRUE(fs::exists(base / "milter.pid"));
        EXPECT_TRUE(fs::exists(base / "spool.db"));
        EXPECT_FALSE(fs::exists(dir.path() / "spool.db"));
        write_file(config(), file + "RejectFailures false\n");
        milter.signal(SIGHUP);
        ASSERT_TRUE(milter.wait_for_log("configuration reloaded")) << milter.log();
        EXPECT_EQ(send(), 'a');
        EXPECT_EQ(milter.stop(), 0);
    }
    EXPECT_NE(read_file(base / "history.txt").find("bank.example"), std::string::npos);

    write_file(config(), "BaseDirectory " + (dir.path() / "missing").string() + "\n");
    auto missing = run_binary({"-n", "-c", relative_config});
    EXPECT_EQ(missing.exit_code, 78) << missing.output;
    EXPECT_NE(missing.output.find("BaseDirectory"), std::string::npos) << missing.output;
}

// Issue 4 acceptance: the tutorial's opendmarc.conf (every key marked ★ in opendmarc.md §1, in
// the tutorial's order and values) starts the milter unchanged: `-n` says configuration OK.
// Only the HistoryFile path points into the test directory (the check opens named files).
// FailureReports is implemented (milter/failure_reports.hpp): no warning about it.
TEST_F(DaemonTest, TutorialOpendmarcConfStartsUnchanged) {
    const std::string tutorial =
        "AuthservID mx.example.com\n"
        "TrustedAuthservIDs mx.example.com\n"
        "FailureReports true\n"
        "HistoryFile " +
        (dir.path() / "opendmarc.dat").string() +
        "\n"
        "IgnoreAuthenticatedClients true\n"
        "RejectFailures true\n"
        "RequiredHeaders true\n"
        "SPFIgnoreResults false\n"
        "SPFSelfValidate true\n"
        "Socket inet:8893@localhost\n";
    write_file(config(), tutorial);
    auto r = run_binary({"-n", "-c", config().string()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("configuration OK"), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("not implemented"), std::string::npos) << r.output;
}

// -t: the offline test mode prints the same decision the daemon makes.
TEST_F(DaemonTest, TestModePrintsTheVerdict) {
    write_file(config(), base_config(dir.path()));
    auto r = run_binary(
        {"-c", config().string(), "-t",
         (fs::path(DMARC_SOURCE_DIR) / "demo/messages/02-bank-spoofed.eml").string(), "--client-ip",
         "203.0.113.99", "--mail-from", "bounce@attacker.example", "--queue-id", "T1"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("action: reject"), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("setreply 550 5.7.1 rejected by DMARC policy for bank.example"),
              std::string::npos);
    EXPECT_NE(r.output.find("log: T1: bank.example fail"), std::string::npos);
    // The evaluation trace: why, step by step (the daemon writes it only at MilterDebug 2).
    EXPECT_NE(r.output.find("\ntrace: bank.example: policy at bank.example (author domain); "),
              std::string::npos)
        << r.output;
    EXPECT_EQ(r.output.find("failure report:"), std::string::npos);  // FailureReports off
}

// -t with FailureReports: says whether the daemon would send a failure report, and where; it
// sends nothing (ReportCommand would fail the test if it ran).
TEST_F(DaemonTest, TestModeSaysWhetherAFailureReportWouldGo) {
    write_file(dir.path() / "zone.txt",
               "_dmarc.bank.example TXT \"v=DMARC1; p=reject; fo=1; "
               "ruf=mailto:ruf@bank.example\"\nbank.example TXT \"v=spf1 -all\"\n"
               "_dmarc.quiet.example TXT \"v=DMARC1; p=reject\"\n");
    write_file(config(), "TestDNSData " + (dir.path() / "zone.txt").string() +
                             "\nRejectFailures true\nSPFSelfValidate true\nFailureReports true\n"
                             "FailureReportsBcc postmaster@mx.example.net\n"
                             "ReportCommand touch " +
                             (dir.path() / "ran").string() + "\n");
    write_file(dir.path() / "spoof.eml", "From: Bank <alerts@bank.example>\nSubject: hi\n\nbody\n");
    write_file(dir.path() / "quiet.eml", "From: Quiet <x@quiet.example>\nSubject: hi\n\nbody\n");
    write_file(dir.path() / "none.eml", "From: Nobody <x@norecord.example>\nSubject: hi\n\nb\n");
    auto r =
        run_binary({"-c", config().string(), "-t", (dir.path() / "spoof.eml").string(), "-t",
                    (dir.path() / "quiet.eml").string(), "-t", (dir.path() / "none.eml").string(),
                    "--client-ip", "203.0.113.99", "--mail-from", "bounce@bank.example"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_NE(r.output.find("failure report: would be sent (ReportCommand): to ruf@bank.example "
                            "(fo=1; external destinations verified and rate-limited when sent); "
                            "copy to postmaster@mx.example.net\n"),
              std::string::npos)
        << r.output;
    // quiet.example fails too (p=reject) but has no ruf: the copy alone.
    EXPECT_NE(r.output.find("failure report: would be sent (ReportCommand): copy to "
                            "postmaster@mx.example.net\n"),
              std::string::npos)
        << r.output;
    // No record: not evaluated for a report at all.
    EXPECT_NE(r.output.find("failure report: none for this message"), std::string::npos)
        << r.output;
    EXPECT_FALSE(fs::exists(dir.path() / "ran"));
}

}  // namespace
}  // namespace dmarc::milter
