// The loopback mail chain for the end-to-end tests and the Postfix benchmark (mail_chain.hpp).
// Facts it relies on are in ../shared/reference/e2e-notes.md: XCLIENT with TEST-NET data addresses
// (libspf2 and our SPF see loopback clients otherwise), OpenDKIM InternalHosts and the key
// directory rules, Postfix with a separate config directory, resolv.conf inside a mount namespace
// for opendmarc (it only speaks to port 53 through the libc resolver).
#include "tests/support/mail_chain.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <atomic>
#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <thread>

#include "tests/support/local_unbound.hpp"
#include "tests/support/smtp_sink.hpp"

namespace dmarc::test_support {
namespace {

namespace fs = std::filesystem;
using namespace std::chrono_literals;

const char* const kZone = R"(; root zone of the e2e tests (RFC 2606 names, RFC 5737 addresses)
aligned.example.          TXT "v=spf1 ip4:203.0.113.10 -all"
_dmarc.aligned.example.   TXT "v=DMARC1; p=reject"
bank.example.             TXT "v=spf1 ip4:192.0.2.10 -all"
_dmarc.bank.example.      TXT "v=DMARC1; p=reject; rua=mailto:dmarc@bank.example"
shop.example.             TXT "v=spf1 ip4:192.0.2.30 -all"
_dmarc.shop.example.      TXT "v=DMARC1; p=quarantine"
news.example.             TXT "v=spf1 ip4:192.0.2.40 -all"
_dmarc.news.example.      TXT "v=DMARC1; p=none"
norecord.example.         TXT "v=spf1 ip4:192.0.2.50 -all"
corp.example.             TXT "v=spf1 ip4:192.0.2.20 -all"
_dmarc.corp.example.      TXT "v=DMARC1; p=reject; sp=quarantine; np=reject"
sub.corp.example.         A   192.0.2.21
pct.example.              TXT "v=spf1 -all"
_dmarc.pct.example.       TXT "v=DMARC1; p=reject; pct=0"
trial.example.            TXT "v=spf1 -all"
_dmarc.trial.example.     TXT "v=DMARC1; p=quarantine; t=y"
signed.example.           TXT "v=spf1 ip4:198.51.100.250 -all"
_dmarc.signed.example.    TXT "v=DMARC1; p=reject"
attacker.example.         TXT "v=spf1 ip4:203.0.113.0/24 -all"
ruf.example.              TXT "v=spf1 ip4:192.0.2.60 -all"
_dmarc.ruf.example.       TXT "v=DMARC1; p=reject; fo=1; ruf=mailto:dmarc-failures@ruf.example"
)";

std::string read_text(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

void write_text(const fs::path& p, const std::string& text) {
    std::ofstream(p, std::ios::binary | std::ios::trunc) << text;
}

// Runs a command through the shell and returns stdout+stderr (setup steps and the postfix
// command line tools, never in a hot path).
std::string run(const std::string& command, int* status = nullptr) {
    std::string out;
    FILE* pipe = ::popen((command + " 2>&1").c_str(), "r");
    if (pipe == nullptr) return out;
    std::array<char, 4096> buffer{};
    std::size_t n = 0;
    while ((n = std::fread(buffer.data(), 1, buffer.size(), pipe)) > 0)
        out.append(buffer.data(), n);
    const int rc = ::pclose(pipe);
    if (status != nullptr) *status = WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
    return out;
}

bool accepts_tcp(std::uint16_t port) {
    Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
    sockaddr_in addr = loopback(port);
    return ::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
}

// A process that is gone or a zombie (daemons reparented to a slow init linger as zombies).
bool process_gone(pid_t pid) {
    if (pid <= 0) return true;
    ::waitpid(pid, nullptr, WNOHANG);
    const std::string stat = read_text("/proc/" + std::to_string(pid) + "/stat");
    if (stat.empty()) return true;
    const auto paren = stat.rfind(')');
    return paren != std::string::npos && paren + 2 < stat.size() && stat[paren + 2] == 'Z';
}

// fork + exec with stdout/stderr appended to log; the child's pid.
pid_t spawn(const std::vector<std::string>& args, const std::string& log) {
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    const int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_APPEND, 0644);
    if (fd >= 0) {
        ::dup2(fd, STDOUT_FILENO);
        ::dup2(fd, STDERR_FILENO);
    }
    std::vector<char*> argv;
    for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(argv[0], argv.data());
    ::_exit(127);
}

// A DNS server that answers every query with SERVFAIL (RCODE 2, RFC 1035 §4.1.1): the zone a
// stub-zone in unbound sends flaky.example to.
class ServfailServer {
  public:
    ServfailServer() {
        for (int attempt = 0; attempt < 20 && port_ == 0; ++attempt) {
            Fd udp = bound_socket(SOCK_DGRAM, 0);
            if (udp.get() < 0) continue;
            port_ = port_of(udp.get());
            fd_ = std::move(udp);
        }
        if (port_ != 0) thread_ = std::thread([this] { serve(); });
    }
    ~ServfailServer() {
        stop_ = true;
        if (thread_.joinable()) thread_.join();
    }
    std::uint16_t port() const { return port_; }

  private:
    void serve() {
        std::array<unsigned char, 512> q{};
        while (!stop_) {
            pollfd p{fd_.get(), POLLIN, 0};
            if (::poll(&p, 1, 100) <= 0) continue;
            sockaddr_in from{};
            socklen_t len = sizeof from;
            const auto n = ::recvfrom(fd_.get(), q.data(), q.size(), 0,
                                      reinterpret_cast<sockaddr*>(&from), &len);
            if (n < 17) continue;
            std::size_t end = 12;
            while (end < static_cast<std::size_t>(n) && q[end] != 0) end += q[end] + 1u;
            end += 5;  // root label, QTYPE, QCLASS
            if (end > static_cast<std::size_t>(n)) continue;
            // The reply is the query with QR set, RCODE 2 and no AN, NS or AR records.
            q[2] = static_cast<unsigned char>(0x80 | (q[2] & 0x79));
            q[3] = 0x02;
            for (std::size_t i = 6; i < 12; ++i) q[i] = 0;
            ::sendto(fd_.get(), q.data(), end, 0, reinterpret_cast<sockaddr*>(&from), len);
        }
    }
    Fd fd_;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::thread thread_;
};

// Blocking SMTP client with a deadline, just enough for Postfix: replies are read whole
// (multi-line "250-" continuation).
class SmtpClient {
  public:
    SmtpClient(std::uint16_t port, std::chrono::milliseconds timeout)
        : deadline_(std::chrono::steady_clock::now() + timeout) {
        fd_ = Fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
        sockaddr_in addr = loopback(port);
        connected_ = ::connect(fd_.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0;
    }
    bool connected() const { return connected_; }
    bool write(const std::string& data) {
        std::size_t done = 0;
        while (done < data.size()) {
            const auto n = ::send(fd_.get(), data.data() + done, data.size() - done, MSG_NOSIGNAL);
            if (n <= 0) return false;
            done += static_cast<std::size_t>(n);
        }
        return true;
    }
    // The next reply: code and text (lines joined by '\n'); code 0 on timeout or EOF.
    std::pair<int, std::string> reply() {
        std::string text;
        while (true) {
            std::string line;
            if (!read_line(line)) return {0, text};
            if (!text.empty()) text += '\n';
            text += line;
            if (line.size() < 4 || line[3] != '-') {
                return {line.size() >= 3 ? std::atoi(line.substr(0, 3).c_str()) : 0, text};
            }
        }
    }

  private:
    bool read_line(std::string& line) {
        while (true) {
            const auto eol = buffer_.find("\r\n");
            if (eol != std::string::npos) {
                line = buffer_.substr(0, eol);
                buffer_.erase(0, eol + 2);
                return true;
            }
            const auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline_ - std::chrono::steady_clock::now());
            if (left.count() <= 0) return false;
            pollfd p{fd_.get(), POLLIN, 0};
            if (::poll(&p, 1, static_cast<int>(left.count())) <= 0) return false;
            std::array<char, 4096> chunk{};
            const auto n = ::recv(fd_.get(), chunk.data(), chunk.size(), 0);
            if (n <= 0) return false;
            buffer_.append(chunk.data(), static_cast<std::size_t>(n));
        }
    }
    Fd fd_;
    bool connected_ = false;
    std::string buffer_;
    std::chrono::steady_clock::time_point deadline_;
};

std::string to_crlf(const std::string& text) {
    std::string out;
    out.reserve(text.size() + text.size() / 20);
    for (std::size_t i = 0; i < text.size(); ++i) {
        if (text[i] == '\n' && (i == 0 || text[i - 1] != '\r')) out += '\r';
        out += text[i];
    }
    if (!out.ends_with("\r\n")) out += "\r\n";
    return out;
}

// RFC 5321 §4.5.2 transparency.
std::string dot_stuff(const std::string& crlf) {
    std::string out;
    bool line_start = true;
    for (char c : crlf) {
        if (line_start && c == '.') out += '.';
        out += c;
        line_start = c == '\n';
    }
    return out;
}

// A smtp-sink dump without smtp-sink's own lines: its X-* envelope lines and the Received field
// it prepends ("by smtp-sink"). What remains is the message as Postfix delivered it.
std::string message_of_dump(const std::string& dump) {
    std::istringstream in(dump);
    std::string line, out;
    bool in_sink_received = false, header = true, sink_lines = true;
    while (std::getline(in, line)) {
        if (sink_lines && header) {
            if (line.starts_with("X-Client-") || line.starts_with("X-Helo-") ||
                line.starts_with("X-Mail-") || line.starts_with("X-Rcpt-")) {
                continue;
            }
            if (line.starts_with("Received: from ") && !in_sink_received) {
                in_sink_received = true;
                continue;
            }
            if (in_sink_received && (line.starts_with("\t") || line.starts_with(" "))) continue;
            sink_lines = false;
        }
        if (line.empty()) header = false;
        out += line + "\r\n";
    }
    return out;
}

}  // namespace

const char* mail_chain_zone() {
    return kZone;
}

struct MailChain::Impl {
    std::unique_ptr<LocalUnbound> unbound;
    std::unique_ptr<ServfailServer> servfail;
    std::unique_ptr<SmtpSink> sink;
    std::string dkim_txt;
};

std::unique_ptr<MailChain> MailChain::start(const MailChainOptions& options, std::string* error) {
    std::unique_ptr<MailChain> chain(new MailChain);
    chain->options_ = options;
    chain->impl_ = std::make_unique<Impl>();
    if (!chain->start_all(error)) return nullptr;
    return chain;
}

MailChain::~MailChain() {
    stop_all();
}

void MailChain::record_pid(const std::string& name, pid_t pid) const {
    write_text(dir_ + "/pids/" + name, std::to_string(pid) + "\n");
}

bool MailChain::start_all(std::string* error) {
    // OpenDKIM refuses keys below a world-writable directory (e2e-notes 10): not under /tmp
    // when we can write a root-owned place.
    std::string base = ::geteuid() == 0 && ::access("/var/lib", W_OK) == 0
                           ? std::string("/var/lib")
                           : fs::temp_directory_path().string();
    std::string pattern = base + "/dmarc-e2e-XXXXXX";
    if (::mkdtemp(pattern.data()) == nullptr) {
        *error = "mkdtemp " + pattern + " failed";
        return false;
    }
    dir_ = pattern;
    ::chmod(dir_.c_str(), 0755);
    for (const char* sub : {"pids", "dkim", "spool", "postfix", "queue", "data"}) {
        fs::create_directories(dir_ + "/" + sub);
    }
    // Watchdog: when this process dies without running the destructor, it stops what is listed
    // in pids/ and the Postfix instance, and removes the directory. Forked before any thread.
    int pipe_fds[2];
    if (::pipe(pipe_fds) == 0) {
        const pid_t pid = ::fork();
        if (pid == 0) {
            ::close(pipe_fds[1]);
            ::setsid();
            char c;
            while (::read(pipe_fds[0], &c, 1) != 0) {
                if (errno != EINTR) break;
            }
            std::error_code ec;
            if (!fs::exists(dir_, ec)) ::_exit(0);
            for (const auto& e : fs::directory_iterator(dir_ + "/pids", ec)) {
                const pid_t victim = std::atoi(read_text(e.path()).c_str());
                if (victim > 1) ::kill(victim, SIGKILL);
            }
            if (fs::exists(dir_ + "/postfix/started", ec)) {
                run("/usr/sbin/postfix -c " + dir_ + "/postfix abort");
            }
            ::umount2((dir_ + "/spool").c_str(), MNT_DETACH);
            std::istringstream others(read_text(dir_ + "/other-directories"));
            for (std::string other; std::getline(others, other);) {
                if (other.find("/dmarc-") != std::string::npos) fs::remove_all(other, ec);
            }
            fs::remove_all(dir_, ec);
            ::_exit(0);
        }
        ::close(pipe_fds[0]);
        watchdog_pid_ = pid;
        watchdog_fd_ = pipe_fds[1];
        ::fcntl(watchdog_fd_, F_SETFD, FD_CLOEXEC);
    }
    if (!start_unbound(error)) return false;
    impl_->sink = std::make_unique<SmtpSink>();
    record_pid("smtp-sink", impl_->sink->pid());
    std::ofstream(dir_ + "/pids/../other-directories", std::ios::app)
        << impl_->sink->directory() << "\n";
    if (options_.deliver_to_sink && !impl_->sink->running()) {
        *error = "smtp-sink did not start";
        return false;
    }
    if (options_.with_opendkim && !start_opendkim(error)) return false;
    if (!start_milter(error)) return false;
    return start_postfix(error);
}

bool MailChain::start_unbound(std::string* error) {
    // The DKIM key, generated here and published in the zone (RFC 6376 §3.6.1).
    int status = 0;
    const std::string out = run(
        "/usr/sbin/opendkim-genkey -b 1024 -D " + dir_ + "/dkim -d signed.example -s e2e", &status);
    if (status != 0) {
        *error = "opendkim-genkey: " + out;
        return false;
    }
    const std::string txt = read_text(dir_ + "/dkim/e2e.txt");
    std::string key;
    for (std::size_t at = txt.find('"'); at != std::string::npos; at = txt.find('"', at)) {
        const auto end = txt.find('"', at + 1);
        if (end == std::string::npos) break;
        key += txt.substr(at + 1, end - at - 1);
        at = end + 1;
    }
    impl_->servfail = std::make_unique<ServfailServer>();
    LocalUnboundConfig config;
    std::string zone =
        "$TTL 300\n"
        ". IN SOA ns.e2e.example. hostmaster.e2e.example. 1 3600 600 86400 300\n"
        ". IN NS ns.e2e.example.\n"
        "ns.e2e.example. IN A 127.0.0.1\n";
    zone += kZone;
    zone += "e2e._domainkey.signed.example. TXT \"" + key + "\"\n";
    zone += options_.zone_extra;
    config.auth_zones["."] = zone;
    // A root auth zone answered downstream would answer for flaky.example too; as upstream data
    // only, the stub zone below takes precedence for its names.
    config.auth_for_downstream = false;
    config.extra_clauses = "stub-zone:\n  name: \"flaky.example.\"\n  stub-addr: 127.0.0.1@" +
                           std::to_string(impl_->servfail->port()) + "\n";
    if (options_.filter == DmarcFilter::opendmarc) {
        // opendmarc (libresolv, libspf2) only asks port 53 of the servers in resolv.conf.
        config.server_lines.push_back("interface: 127.0.0.53@53");
    }
    impl_->unbound = LocalUnbound::start(config, error);
    if (!impl_->unbound) return false;
    record_pid("unbound", impl_->unbound->pid());
    std::ofstream(dir_ + "/pids/../other-directories", std::ios::app)
        << impl_->unbound->directory() << "\n";
    return true;
}

std::uint16_t MailChain::dns_port() const {
    return impl_->unbound ? impl_->unbound->port() : 0;
}

std::string MailChain::milter_socket() const {
    return "inet:" + std::to_string(milter_port_) + "@127.0.0.1";
}

bool MailChain::start_opendkim(std::string* error) {
    dkim_port_ = free_loopback_port();
    const std::string d = dir_ + "/dkim";
    write_text(d + "/resolver.conf",
               "server:\n  do-not-query-localhost: no\n  do-ip6: no\n  module-config: "
               "\"iterator\"\nforward-zone:\n  name: \".\"\n  forward-addr: " +
                   impl_->unbound->address() + "\n");
    // Mode sv: signs for signed.example when the client is an InternalHost (the signing client
    // address, presented by XCLIENT), verifies all other mail (e2e-notes 2: never 127.0.0.1).
    write_text(d + "/opendkim.conf",
               "Syslog no\nBackground no\nMode sv\nSocket inet:" + std::to_string(dkim_port_) +
                   "@127.0.0.1\nAuthservID " + kAuthservId +
                   "\nDomain signed.example\nSelector e2e\nKeyFile " + d +
                   "/e2e.private\nInternalHosts " + kSigningClient + "\n" +
                   // OpenDKIM 2.11 parses this file again while verifying, in several threads at
                   // once; libunbound's flex scanner is not reentrant, so under concurrent load
                   // OpenDKIM dies ("fatal flex scanner internal error") and Postfix tempfails.
                   // The benchmark's unsigned mail needs no DNS from OpenDKIM.
                   (options_.opendkim_resolver ? "ResolverConfiguration " + d + "/resolver.conf\n"
                                               : std::string()) +
                   options_.opendkim_extra_config);
    dkim_pid_ =
        spawn({"/usr/sbin/opendkim", "-f", "-x", d + "/opendkim.conf"}, dir_ + "/opendkim.log");
    record_pid("opendkim", dkim_pid_);
    for (int i = 0; i < 200; ++i) {
        if (accepts_tcp(dkim_port_)) return true;
        if (process_gone(dkim_pid_)) break;
        std::this_thread::sleep_for(25ms);
    }
    *error = "opendkim did not start: " + read_text(dir_ + "/opendkim.log");
    return false;
}

bool MailChain::start_milter(std::string* error) {
    if (milter_port_ == 0) milter_port_ = free_loopback_port();
    const std::string conf = dir_ + "/dmarc-filter.conf";
    if (!fs::exists(dir_ + "/ignore-hosts"))
        write_text(dir_ + "/ignore-hosts", options_.ignore_hosts);
    std::string text;
    std::vector<std::string> args;
    if (options_.filter == DmarcFilter::dmarc_milter) {
        text = std::string("AuthservID ") + kAuthservId + "\nSocket " + milter_socket() +
               "\nBackground false\nSyslog false\n"
               "RejectFailures true\nHoldQuarantinedMessages true\nSPFSelfValidate true\n"
               "Nameservers " +
               impl_->unbound->address() + "\nHistoryDatabase " + spool_path() + "\nIgnoreHosts " +
               dir_ + "/ignore-hosts\n" + options_.milter_extra_config;
        args = {options_.milter_binary, "-f", "-c", conf};
    } else {
        write_text(dir_ + "/resolv.conf", "nameserver 127.0.0.53\noptions timeout:2 attempts:1\n");
        text = std::string("AuthservID ") + kAuthservId + "\nSocket " + milter_socket() +
               "\nBackground false\nSyslog false\nRejectFailures true\n"
               "HoldQuarantinedMessages true\nSPFSelfValidate true\n"
               "PublicSuffixList /usr/share/publicsuffix/public_suffix_list.dat\n"
               "HistoryFile " +
               dir_ + "/spool/opendmarc.dat\nIgnoreHosts " + dir_ + "/ignore-hosts\n" +
               options_.milter_extra_config;
        // resolv.conf swapped only inside a private mount namespace (e2e-notes 7).
        args = {"/usr/bin/unshare", "-m", "/bin/sh", "-c",
                "mount --bind " + dir_ +
                    "/resolv.conf /etc/resolv.conf && exec "
                    "/usr/sbin/opendmarc -f -c " +
                    conf};
    }
    write_text(conf, text);
    milter_pid_ = spawn(args, dir_ + "/milter.log");
    record_pid("milter", milter_pid_);
    for (int i = 0; i < 400; ++i) {
        if (accepts_tcp(milter_port_)) return true;
        if (process_gone(milter_pid_)) break;
        std::this_thread::sleep_for(25ms);
    }
    *error = "DMARC filter did not start: " + milter_log();
    return false;
}

bool MailChain::reconfigure_milter(const std::string& extra_config, std::string* error) {
    auto reloads = [this] {
        const std::string log = milter_log();
        std::size_t n = 0;
        for (auto at = log.find("configuration reloaded"); at != std::string::npos;
             at = log.find("configuration reloaded", at + 1)) {
            ++n;
        }
        return n;
    };
    const std::string conf = dir_ + "/dmarc-filter.conf";
    std::string text = read_text(conf);
    text.replace(text.size() - options_.milter_extra_config.size(), std::string::npos,
                 extra_config);
    options_.milter_extra_config = extra_config;
    write_text(conf, text);
    const std::size_t before = reloads();
    kill_milter(SIGHUP);
    for (int i = 0; i < 250; ++i) {
        if (reloads() > before) return true;
        std::this_thread::sleep_for(20ms);
    }
    *error = "no reload: " + milter_log();
    return false;
}

bool MailChain::milter_alive() {
    return !process_gone(milter_pid_);
}

void MailChain::kill_milter(int signal) {
    if (milter_pid_ > 0) ::kill(milter_pid_, signal);
}

bool MailChain::stop_milter(std::chrono::milliseconds limit) {
    if (milter_pid_ <= 0) return true;
    ::kill(milter_pid_, SIGTERM);
    const auto deadline = std::chrono::steady_clock::now() + limit;
    while (std::chrono::steady_clock::now() < deadline) {
        if (process_gone(milter_pid_)) {
            milter_pid_ = -1;
            return true;
        }
        std::this_thread::sleep_for(20ms);
    }
    ::kill(milter_pid_, SIGKILL);
    ::waitpid(milter_pid_, nullptr, 0);
    milter_pid_ = -1;
    return false;
}

bool MailChain::start_postfix(std::string* error) {
    smtp_port_ = free_loopback_port();
    const std::string pf = dir_ + "/postfix";
    fs::create_directories(dir_ + "/queue");
    run("chown postfix " + dir_ + "/data");
    std::string main_cf =
        "compatibility_level = 3.6\n"
        "queue_directory = " +
        dir_ +
        "/queue\n"
        "data_directory = " +
        dir_ +
        "/data\n"
        "mail_owner = postfix\nsetgid_group = postdrop\n"
        "myhostname = " +
        kAuthservId +
        "\nmydomain = e2e.example\nmyorigin = e2e.example\n"
        "mydestination =\n"
        "inet_interfaces = 127.0.0.1\ninet_protocols = ipv4\n"
        // XCLIENT addresses are what mynetworks sees (e2e-notes 11).
        "mynetworks = 127.0.0.0/8 192.0.2.0/24 198.51.100.0/24 203.0.113.0/24\n"
        "smtpd_authorized_xclient_hosts = 127.0.0.0/8\n"
        "smtpd_relay_restrictions = permit_mynetworks, reject\n"
        "smtpd_peername_lookup = no\nsmtp_dns_support_level = disabled\n"
        "local_header_rewrite_clients =\n"
        "maillog_file = " +
        dir_ +
        "/postfix.log\n"
        "biff = no\nalias_maps =\nalias_database =\n"
        "smtpd_milters = " +
        (options_.with_opendkim ? "inet:127.0.0.1:" + std::to_string(dkim_port_) + ", " : "") +
        "inet:127.0.0.1:" + std::to_string(milter_port_) +
        "\n"
        "milter_default_action = " +
        options_.milter_default_action +
        "\n"
        "milter_protocol = 6\n"
        "milter_connect_timeout = 5s\nmilter_command_timeout = 10s\n"
        "milter_content_timeout = 20s\n"
        "smtpd_error_sleep_time = 0\nsmtpd_soft_error_limit = 1000\n"
        "smtpd_hard_error_limit = 1000\n"
        "smtpd_client_connection_count_limit = 0\nsmtpd_client_connection_rate_limit = 0\n"
        "default_process_limit = 100\n";
    if (options_.deliver_to_sink) {
        main_cf += "relayhost = [127.0.0.1]:" + std::to_string(impl_->sink->port()) + "\n";
    } else {
        main_cf += "default_transport = discard\nrelay_transport = discard\n";
    }
    main_cf += options_.postfix_extra_main_cf;
    write_text(pf + "/main.cf", main_cf);
    write_text(pf + "/master.cf", "127.0.0.1:" + std::to_string(smtp_port_) +
                                      " inet n - n - - smtpd\n"
                                      "pickup    unix  n - n 60 1 pickup\n"
                                      "cleanup   unix  n - n - 0 cleanup\n"
                                      "qmgr      unix  n - n 300 1 qmgr\n"
                                      "rewrite   unix  - - n - - trivial-rewrite\n"
                                      "bounce    unix  - - n - 0 bounce\n"
                                      "defer     unix  - - n - 0 bounce\n"
                                      "trace     unix  - - n - 0 bounce\n"
                                      "verify    unix  - - n - 1 verify\n"
                                      "flush     unix  n - n 1000? 0 flush\n"
                                      "proxymap  unix  - - n - - proxymap\n"
                                      "smtp      unix  - - n - - smtp\n"
                                      "relay     unix  - - n - - smtp\n"
                                      "showq     unix  n - n - - showq\n"
                                      "error     unix  - - n - - error\n"
                                      "retry     unix  - - n - - error\n"
                                      "discard   unix  - - n - - discard\n"
                                      "anvil     unix  - - n - 1 anvil\n"
                                      "scache    unix  - - n - 1 scache\n"
                                      "postlog   unix-dgram n - n - 1 postlogd\n");
    int status = 0;
    const std::string out = run("/usr/sbin/postfix -c " + pf + " start", &status);
    write_text(pf + "/started", "");
    postfix_started_ = true;
    for (int i = 0; i < 200 && status == 0; ++i) {
        if (accepts_tcp(smtp_port_)) return true;
        std::this_thread::sleep_for(25ms);
    }
    *error = "postfix did not start: " + out + postfix_log();
    return false;
}

bool MailChain::restart_postfix(std::string* error) {
    const std::string pf = dir_ + "/postfix";
    const pid_t master = std::atoi(read_text(dir_ + "/queue/pid/master.pid").c_str());
    run("/usr/sbin/postfix -c " + pf + " stop");
    for (int i = 0; i < 400 && !process_gone(master); ++i) std::this_thread::sleep_for(25ms);
    int status = 0;
    const std::string out = run("/usr/sbin/postfix -c " + pf + " start", &status);
    for (int i = 0; i < 200 && status == 0; ++i) {
        if (accepts_tcp(smtp_port_)) return true;
        std::this_thread::sleep_for(25ms);
    }
    *error = "postfix did not restart: " + out;
    return false;
}

std::string MailChain::postfix_command(const std::string& program, const std::string& args) const {
    return run("/usr/sbin/" + program + " -c " + dir_ + "/postfix " + args);
}

void MailChain::stop_all() noexcept {
    try {
        if (postfix_started_) {
            const pid_t master = std::atoi(read_text(dir_ + "/queue/pid/master.pid").c_str());
            run("/usr/sbin/postfix -c " + dir_ + "/postfix stop");
            for (int i = 0; i < 200 && !process_gone(master); ++i) {
                std::this_thread::sleep_for(25ms);
            }
            postfix_started_ = false;
        }
        stop_milter();
        // libmilter filters notice SIGTERM only at their next poll timeout (e2e-notes 13);
        // OpenDKIM holds nothing we need.
        if (dkim_pid_ > 0) {
            ::kill(dkim_pid_, SIGKILL);
            ::waitpid(dkim_pid_, nullptr, 0);
            dkim_pid_ = -1;
        }
        if (impl_) {
            impl_->sink.reset();
            impl_->unbound.reset();
            impl_->servfail.reset();
        }
        if (!dir_.empty()) {
            ::umount2((dir_ + "/spool").c_str(), MNT_DETACH);
            std::error_code ec;
            fs::remove_all(dir_, ec);
        }
        if (watchdog_fd_ >= 0) {
            ::close(watchdog_fd_);
            watchdog_fd_ = -1;
            ::waitpid(watchdog_pid_, nullptr, 0);
        }
    } catch (...) {
        // Teardown must not throw; the watchdog finishes what is left.
    }
}

SmtpOutcome MailChain::send(const Submission& s, std::chrono::milliseconds timeout) const {
    Transaction t;
    t.mail_from = s.mail_from;
    t.rcpt_to = {s.rcpt_to};
    t.message = s.message;
    return send_session(s.client_ip, s.helo, {t}, timeout).front();
}

std::vector<SmtpOutcome> MailChain::send_session(const std::string& client_ip,
                                                 const std::string& helo,
                                                 const std::vector<Transaction>& transactions,
                                                 std::chrono::milliseconds timeout) const {
    std::vector<SmtpOutcome> out(transactions.size());
    SmtpClient c(smtp_port_, timeout);
    if (!c.connected()) return out;
    auto step = [&](SmtpOutcome& o, const std::string& stage, const std::string& command,
                    int want) {
        o.stage = stage;
        if (!command.empty() && !c.write(command + "\r\n")) {
            o.code = 0;
            return false;
        }
        std::tie(o.code, o.reply) = c.reply();
        return o.code == want;
    };
    SmtpOutcome greeting;
    greeting.connected = true;
    if (!step(greeting, "connect", "", 220) ||
        !step(greeting, "ehlo", "EHLO e2e-client.localhost", 250) ||
        (!client_ip.empty() &&
         !step(greeting, "xclient",
               "XCLIENT ADDR=" + client_ip + " NAME=[UNAVAILABLE] HELO=" + helo, 220)) ||
        !step(greeting, "ehlo", "EHLO " + helo, 250)) {
        std::fill(out.begin(), out.end(), greeting);
        return out;
    }
    for (std::size_t i = 0; i < transactions.size(); ++i) {
        const Transaction& t = transactions[i];
        SmtpOutcome& o = out[i];
        o.connected = true;
        bool ok = step(o, "mail", "MAIL FROM:<" + t.mail_from + ">", 250);
        for (const auto& rcpt : t.rcpt_to) {
            if (ok) ok = step(o, "rcpt", "RCPT TO:<" + rcpt + ">", 250);
        }
        if (ok && !t.rset) {
            if (step(o, "data", "DATA", 354)) {
                step(o, "eod", dot_stuff(to_crlf(t.message)) + ".", 250);
                if (const auto at = o.reply.find("queued as ");
                    o.code == 250 && at != std::string::npos) {
                    o.queue_id = o.reply.substr(at + 10);
                    o.queue_id = o.queue_id.substr(0, o.queue_id.find_first_of(" \r\n"));
                }
                continue;  // the transaction ended with the reply to the data
            }
        }
        // RSET asked for, or a refused command: end the transaction, keep the session.
        SmtpOutcome reset;
        if (!step(reset, "rset", "RSET", 250)) {
            for (std::size_t j = i + 1; j < transactions.size(); ++j) out[j] = reset;
            break;
        }
        if (t.rset && ok) o.stage = "rset";
    }
    c.write("QUIT\r\n");
    return out;
}

std::vector<std::string> MailChain::delivered() const {
    std::vector<std::string> out;
    if (!impl_->sink) return out;
    for (const auto& dump : impl_->sink->messages()) out.push_back(message_of_dump(dump));
    return out;
}

std::string MailChain::wait_delivered(const std::string& needle,
                                      std::chrono::milliseconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    do {
        for (const auto& m : delivered()) {
            if (m.find(needle) != std::string::npos) return m;
        }
        std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return {};
}

std::vector<QueuedMessage> MailChain::queue() const {
    std::vector<QueuedMessage> out;
    std::istringstream in(postfix_command("postqueue", "-j"));
    // One JSON object per line; the three string members we need, without a JSON library.
    auto member = [](const std::string& line, const std::string& name) {
        const auto key = line.find("\"" + name + "\"");
        if (key == std::string::npos) return std::string();
        const auto open = line.find('"', line.find(':', key) + 1);
        const auto close = open == std::string::npos ? open : line.find('"', open + 1);
        return close == std::string::npos ? std::string() : line.substr(open + 1, close - open - 1);
    };
    std::string line;
    while (std::getline(in, line)) {
        QueuedMessage q;
        q.queue_name = member(line, "queue_name");
        q.queue_id = member(line, "queue_id");
        q.sender = member(line, "sender");
        if (!q.queue_id.empty()) out.push_back(q);
    }
    return out;
}

std::string MailChain::milter_log() const {
    return read_text(dir_ + "/milter.log");
}

std::string MailChain::postfix_log() const {
    return read_text(dir_ + "/postfix.log");
}

bool MailChain::wait_for_milter_log(const std::string& needle,
                                    std::chrono::milliseconds limit) const {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    do {
        if (milter_log().find(needle) != std::string::npos) return true;
        std::this_thread::sleep_for(20ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return false;
}

}  // namespace dmarc::test_support
