// Migrating from OpenDMARC (issue 9 acceptance): the classic tutorial's opendmarc.conf, used
// unchanged apart from its file paths, gives dmarc-milter the decisions OpenDMARC 1.4.2 makes on
// the same messages — except where OpenDMARC is wrong, each written with its reason in
// tests/data/migration/scenarios.txt — and a real OpenDMARC history file imported with
// `dmarc-collector history` shows up in the dashboard (dmarc-web over HTTP, messages API and page).
// Where Debian's opendmarc is installed, its decisions are also checked live against the record.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <thread>

#include "tests/integration/program_runner.hpp"
#include "tests/io/temp_dir.hpp"

namespace dmarc {
namespace {

const std::string kData = std::string(DMARC_TEST_DATA) + "/migration";
const std::string kMessages = std::string(DMARC_TEST_DATA) + "/../../demo/messages";

struct Scenario {
    std::string message, client_ip, mail_from, opendmarc, ours, reason;
};

std::vector<Scenario> scenarios() {
    std::istringstream in(test::read_text(kData + "/scenarios.txt"));
    std::vector<Scenario> out;
    std::string line;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        Scenario s;
        fields >> s.message >> s.client_ip >> s.mail_from >> s.opendmarc >> s.ours;
        std::getline(fields >> std::ws, s.reason);
        out.push_back(s);
    }
    return out;
}

// The tutorial's file with its paths moved into `dir` (they name /etc and /var/run files of a
// real installation) and the test's DNS; every other line as the tutorial has it.
std::string tutorial_config(const test::TempDir& dir, const std::string& history,
                            const std::string& dns, bool keep_authenticated_clients) {
    std::ofstream(dir.file("ignore.hosts")) << "127.0.0.1\n::1\n";
    std::istringstream in(test::read_text(kData + "/opendmarc.conf"));
    std::string out, line;
    while (std::getline(in, line)) {
        if (line.starts_with("HistoryFile ")) line = "HistoryFile " + history;
        if (line.starts_with("IgnoreHosts ")) line = "IgnoreHosts " + dir.file("ignore.hosts");
        if (line.starts_with("PidFile ")) line = "PidFile " + dir.file("pid");
        if (line.starts_with("PublicSuffixList ")) {
            line =
                "PublicSuffixList " + std::string(DMARC_TEST_DATA) + "/psl/public_suffix_list.dat";
        }
        // OpenDMARC's test mode reads every macro as set, {auth_authen} included (SOURCE.md).
        if (!keep_authenticated_clients && line.starts_with("IgnoreAuthenticatedClients")) continue;
        out += line + "\n";
    }
    return out + "TestDNSData " + dns + "\n";
}

// dns.txt is OpenDMARC's TestDNSData format (`name value`, TXT); the milter reads zone lines.
std::string zone_from_opendmarc_dns() {
    std::istringstream in(test::read_text(kData + "/dns.txt"));
    std::string out, line;
    while (std::getline(in, line)) {
        auto space = line.find(' ');
        if (line.empty() || space == std::string::npos) continue;
        out += line.substr(0, space) + " TXT \"" + line.substr(space + 1) + "\"\n";
    }
    return out;
}

TEST(Migration, TutorialConfigGivesOpenDmarcsDecisionsWhereOpenDmarcIsRight) {
    test::TempDir dir;
    std::ofstream(dir.file("zone.txt")) << zone_from_opendmarc_dns();
    std::ofstream(dir.file("milter.conf"))
        << tutorial_config(dir, dir.file("ours.dat"), dir.file("zone.txt"), true);
    auto checked =
        test::run_program("dmarc-milter", {"-n", "-c", dir.file("milter.conf")}, dir.path());
    ASSERT_EQ(checked.status, 0) << checked.out;
    // Every key the tutorial sets is implemented: no warning, no notice.
    EXPECT_EQ(checked.out, "configuration OK\n");

    int same = 0, excepted = 0;
    for (const auto& s : scenarios()) {
        auto r =
            test::run_program("dmarc-milter",
                              {"-c", dir.file("milter.conf"), "-t", kMessages + "/" + s.message,
                               "--client-ip", s.client_ip, "--mail-from", s.mail_from},
                              dir.path());
        ASSERT_EQ(r.status, 0) << s.message << ": " << r.err;
        EXPECT_NE(r.out.find("action: " + s.ours + "\n"), std::string::npos)
            << s.message << ": expected " << s.ours << "\n"
            << r.out;
        if (s.ours == s.opendmarc) {
            EXPECT_EQ(s.reason, "-") << s.message;
            ++same;
        } else {
            EXPECT_GT(s.reason.size(), 20u) << s.message << ": a difference needs its reason";
            ++excepted;
        }
    }
    EXPECT_EQ(same, 5);
    EXPECT_EQ(excepted, 2);  // forged Authentication-Results (#19), two-author From (#6)
    std::cout << "[ migration ] " << same << " decisions as OpenDMARC, " << excepted
              << " where OpenDMARC is wrong (reasons in scenarios.txt)\n";
}

// The recorded OpenDMARC column is what OpenDMARC does: checked live where it is installed.
TEST(Migration, RecordedOpenDmarcDecisionsMatchOpenDmarc) {
    const char* opendmarc = "/usr/sbin/opendmarc";
    if (::access(opendmarc, X_OK) != 0) GTEST_SKIP() << "opendmarc not installed (./run bench)";
    test::TempDir dir;
    std::ofstream(dir.file("opendmarc.conf"))
        << tutorial_config(dir, dir.file("theirs.dat"), kData + "/dns.txt", false);
    for (const auto& s : scenarios()) {
        std::string command = "OPENDMARC_TEST_CLIENTIP=" + s.client_ip +
                              " OPENDMARC_TEST_ENVFROM=" + s.mail_from + " timeout 20 " +
                              opendmarc + " -vv -t " + kMessages + "/" + s.message + " -c " +
                              dir.file("opendmarc.conf") + " 2>&1 </dev/null";
        FILE* p = ::popen(command.c_str(), "r");
        ASSERT_NE(p, nullptr);
        std::string out;
        char buf[4096];
        while (auto n = std::fread(buf, 1, sizeof buf, p)) out.append(buf, n);
        ::pclose(p);
        std::string action = out.find("SETREPLY: rcode='550'") != std::string::npos ? "reject"
                             : out.find("### QUARANTINE") != std::string::npos      ? "quarantine"
                                                                                    : "accept";
        EXPECT_EQ(action, s.opendmarc) << s.message << "\n" << out;
    }
}

// ---- the dashboard over HTTP

struct Http {
    int status = 0;
    std::string head, body;
    // The value of a Set-Cookie field for `name` (Beast writes the field name as Set-Cookie).
    std::string cookie(const std::string& name) const {
        const std::string field = "\r\nSet-Cookie: " + name + "=";
        auto at = head.find(field);
        if (at == std::string::npos) return "";
        at += field.size();
        return head.substr(at, head.find_first_of(";\r", at) - at);
    }
};

Http http(std::uint16_t port, const std::string& method, const std::string& target,
          const std::string& cookies = "", const std::string& form = "") {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    Http r;
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return r;
    }
    std::string request =
        method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
    if (!cookies.empty()) request += "Cookie: " + cookies + "\r\n";
    if (method == "POST") {
        request += "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: " +
                   std::to_string(form.size()) + "\r\n";
    }
    request += "\r\n" + form;
    (void)::send(fd, request.data(), request.size(), MSG_NOSIGNAL);
    std::string raw;
    char buf[8192];
    for (ssize_t n; (n = ::recv(fd, buf, sizeof buf, 0)) > 0;)
        raw.append(buf, static_cast<std::size_t>(n));
    ::close(fd);
    auto split = raw.find("\r\n\r\n");
    if (split == std::string::npos || raw.size() < 12) return r;
    r.status = std::stoi(raw.substr(9, 3));
    r.head = raw.substr(0, split);
    r.body = raw.substr(split + 4);
    if (r.head.find("Transfer-Encoding: chunked") != std::string::npos ||
        r.head.find("transfer-encoding: chunked") != std::string::npos) {
        std::string body;
        std::size_t at = 0;
        while (at < r.body.size()) {
            auto eol = r.body.find("\r\n", at);
            std::size_t size = std::stoul(r.body.substr(at, eol - at), nullptr, 16);
            if (size == 0) break;
            body += r.body.substr(eol + 2, size);
            at = eol + 2 + size + 2;
        }
        r.body = body;
    }
    return r;
}

std::string form_encode(const std::string& text) {
    std::string out;
    for (char c : text) {
        auto byte = static_cast<unsigned char>(c);
        if (std::isalnum(byte) || c == '-' || c == '_' || c == '.') {
            out += c;
        } else {
            char hex[4];
            std::snprintf(hex, sizeof hex, "%%%02X", static_cast<unsigned>(byte));
            out += hex;
        }
    }
    return out;
}

TEST(Migration, ImportedOpenDmarcHistoryAppearsInTheDashboard) {
    test::TempDir dir;
    const std::string history = kData + "/opendmarc-history.dat";
    const std::string store = dir.file("dmarc.db");
    // Job ids of the history file: what the dashboard must show.
    std::set<std::string> jobs;
    {
        std::istringstream in(test::read_text(history));
        for (std::string line; std::getline(in, line);) {
            if (line.starts_with("job ")) jobs.insert(line.substr(4));
        }
    }
    ASSERT_EQ(jobs.size(), 18u);

    auto imported = test::run_program(
        "dmarc-collector", {"history", "--input", history, "--database", "sqlite://" + store},
        dir.path());
    ASSERT_EQ(imported.status, 0) << imported.out << imported.err;
    // Importing twice changes nothing (a migration may be re-run).
    auto again = test::run_program(
        "dmarc-collector", {"history", "--input", history, "--database", "sqlite://" + store},
        dir.path());
    ASSERT_EQ(again.status, 0) << again.err;

    auto user = test::run_program(
        "dmarc-web",
        {"user", "add", "admin", "--role", "admin", "--store", store, "--generate-password"},
        dir.path());
    ASSERT_EQ(user.status, 0) << user.err;
    std::string password = user.out.substr(0, user.out.find('\n'));
    ASSERT_GE(password.size(), 12u);

    // The server on an ephemeral loopback port; it prints where it listens.
    const std::string out = dir.file("web.out");
    std::string path = test::program_path("dmarc-web");
    std::vector<std::string> args{path, "--store", store, "--listen", "127.0.0.1:0"};
    std::vector<char*> argv;
    for (auto& a : args) argv.push_back(a.data());
    argv.push_back(nullptr);
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_addopen(&actions, 1, out.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    posix_spawn_file_actions_addopen(&actions, 2, dir.file("web.err").c_str(),
                                     O_WRONLY | O_CREAT | O_TRUNC, 0600);
    pid_t pid = -1;
    ASSERT_EQ(posix_spawn(&pid, path.c_str(), &actions, nullptr, argv.data(), environ), 0);
    posix_spawn_file_actions_destroy(&actions);
    struct Stop {
        pid_t pid;
        ~Stop() {
            ::kill(pid, SIGTERM);
            int status = 0;
            ::waitpid(pid, &status, 0);
        }
    } stop{pid};
    std::uint16_t port = 0;
    for (int i = 0; i < 100 && port == 0; ++i) {
        const std::string text = test::read_text(out);
        const std::string prefix = "listening on http://127.0.0.1:";
        if (auto at = text.find(prefix); at != std::string::npos) {
            port = static_cast<std::uint16_t>(std::stoi(text.substr(at + prefix.size())));
        }
        if (port == 0) std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    ASSERT_NE(port, 0) << test::read_text(dir.file("web.err"));

    // Log in as a user would: the form's token is both cookie and hidden field.
    Http form = http(port, "GET", "/login");
    ASSERT_EQ(form.status, 200);
    std::string token = form.cookie("dmarc_login");
    ASSERT_EQ(token.size(), 64u);
    Http login = http(port, "POST", "/login", "dmarc_login=" + token,
                      "csrf=" + token + "&user=admin&password=" + form_encode(password));
    ASSERT_EQ(login.status, 303) << login.body;
    std::string session = "dmarc_session=" + login.cookie("dmarc_session");

    Http api = http(port, "GET", "/api/messages?period=all", session);
    ASSERT_EQ(api.status, 200) << api.body;
    auto json = nlohmann::json::parse(api.body);
    std::set<std::string> shown;
    for (const auto& m : json.at("messages")) shown.insert(m.at("queue_id").get<std::string>());
    EXPECT_EQ(shown, jobs) << api.body;
    // A record as OpenDMARC wrote it: the spoofed bank.example message it rejected (action 0).
    bool rejected_bank = false;
    for (const auto& m : json.at("messages")) {
        rejected_bank |= m.dump().find("bank.example") != std::string::npos &&
                         m.dump().find("reject") != std::string::npos;
    }
    EXPECT_TRUE(rejected_bank) << api.body;

    Http page = http(port, "GET", "/messages?period=all", session);
    ASSERT_EQ(page.status, 200);
    for (const auto& job : jobs) EXPECT_NE(page.body.find(job), std::string::npos) << job;
}

}  // namespace
}  // namespace dmarc
