// Test and benchmark support: a private unbound (Debian's /usr/sbin/unbound) on a free loopback
// port, serving zone files as auth zones, in its own temporary directory. It never reads the
// system's unbound configuration, never daemonises, and is killed by the destructor. Also: a
// free-port finder and a loopback "black hole" that takes DNS queries and never answers.
#pragma once

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

namespace dmarc::test_support {

inline constexpr const char* kUnboundBinary = "/usr/sbin/unbound";

class Fd {
  public:
    explicit Fd(int fd = -1) : fd_(fd) {}
    Fd(Fd&& other) noexcept : fd_(other.fd_) { other.fd_ = -1; }
    Fd& operator=(Fd&& other) noexcept {
        std::swap(fd_, other.fd_);
        return *this;
    }
    Fd(const Fd&) = delete;
    Fd& operator=(const Fd&) = delete;
    ~Fd() {
        if (fd_ >= 0) ::close(fd_);
    }
    int get() const { return fd_; }

  private:
    int fd_;
};

inline sockaddr_in loopback(std::uint16_t port, const std::string& address = "127.0.0.1") {
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    if (address.rfind("127.", 0) != 0 ||
        ::inet_pton(AF_INET, address.c_str(), &addr.sin_addr) != 1) {
        addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);  // never anything but loopback
    }
    return addr;
}

inline Fd bound_socket(int type, std::uint16_t port) {
    Fd fd(::socket(AF_INET, type | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return fd;
    const int one = 1;
    ::setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    sockaddr_in addr = loopback(port);
    if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) return Fd();
    return fd;
}

inline std::uint16_t port_of(int fd) {
    sockaddr_in addr{};
    socklen_t len = sizeof addr;
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return 0;
    return ntohs(addr.sin_port);
}

// A port free for both UDP and TCP on 127.0.0.1 right now (another process may still take it
// before the server binds; callers retry start-up on failure).
inline std::uint16_t free_loopback_port() {
    for (int attempt = 0; attempt < 50; ++attempt) {
        Fd udp = bound_socket(SOCK_DGRAM, 0);
        if (udp.get() < 0) continue;
        const std::uint16_t port = port_of(udp.get());
        Fd tcp = bound_socket(SOCK_STREAM, port);
        if (tcp.get() >= 0) return port;
    }
    return 0;
}

// Sends a DNS query for "." SOA over UDP to 127.0.0.1:port and waits for any reply.
inline bool answers_dns(std::uint16_t port, std::chrono::milliseconds wait,
                        const std::string& address = "127.0.0.1") {
    Fd fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
    if (fd.get() < 0) return false;
    timeval tv{};
    tv.tv_sec = 0;
    tv.tv_usec = static_cast<suseconds_t>(std::chrono::microseconds(wait).count());
    ::setsockopt(fd.get(), SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    // ID 0x1234, RD, one question: root, type SOA (6), class IN.
    const unsigned char query[] = {0x12, 0x34, 0x01, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00,
                                   0x00, 0x00, 0x00, 0x00, 0x00, 0x06, 0x00, 0x01};
    sockaddr_in addr = loopback(port, address);
    if (::sendto(fd.get(), query, sizeof query, 0, reinterpret_cast<sockaddr*>(&addr),
                 sizeof addr) < 0) {
        return false;
    }
    unsigned char reply[512];
    const auto n = ::recv(fd.get(), reply, sizeof reply, 0);
    return n >= 12 && reply[0] == 0x12 && reply[1] == 0x34;
}

struct LocalUnboundConfig {
    std::string interface = "127.0.0.1";            // a loopback address, always
    std::uint16_t port = 0;                         // 0: a free port
    std::map<std::string, std::string> auth_zones;  // zone name (with trailing dot) -> zone text
    std::vector<std::string> server_lines;          // extra lines for the server: clause
    std::string extra_clauses;                      // forward-zone: etc.
    // Auth zones answer clients directly (yes) or only feed the iterator (no: a root zone used
    // that way lets stub-zone and forward-zone clauses take the names below them).
    bool auth_for_downstream = true;
};

class LocalUnbound {
  public:
    // Starts the server and waits until it answers (up to 10 s). nullptr on failure, with
    // *error saying why (the log file's tail when unbound itself gave up).
    static std::unique_ptr<LocalUnbound> start(const LocalUnboundConfig& config,
                                               std::string* error) {
        std::unique_ptr<LocalUnbound> server(new LocalUnbound);
        std::string tmpl = (std::filesystem::temp_directory_path() / "dmarc-unbound-XXXXXX");
        if (::mkdtemp(tmpl.data()) == nullptr) {
            *error = "mkdtemp failed";
            return nullptr;
        }
        server->dir_ = tmpl;
        for (int attempt = 0; attempt < 5; ++attempt) {
            server->interface_ = config.interface;
            server->port_ = config.port != 0 ? config.port : free_loopback_port();
            if (server->port_ == 0) continue;
            server->write_config(config);
            if (server->spawn() && server->wait_ready(std::chrono::seconds(10))) return server;
            server->stop();
        }
        std::ifstream log(server->dir_ + "/unbound.log");
        std::ostringstream text;
        text << log.rdbuf();
        const std::string tail = text.str();
        *error =
            "unbound did not start: " + tail.substr(tail.size() > 2000 ? tail.size() - 2000 : 0);
        return nullptr;
    }

    ~LocalUnbound() {
        stop();
        std::error_code ec;
        if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    }

    std::uint16_t port() const { return port_; }
    // unbound's forwarder syntax, for DnsOptions::nameservers.
    std::string address() const { return interface_ + "@" + std::to_string(port_); }
    const std::string& directory() const { return dir_; }
    // The server process (fault tests stop it with SIGSTOP and resume it with SIGCONT).
    pid_t pid() const { return pid_; }

    void stop() {
        if (pid_ <= 0) return;
        ::kill(pid_, SIGTERM);
        for (int i = 0; i < 100; ++i) {
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                return;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        ::kill(pid_, SIGKILL);
        ::waitpid(pid_, nullptr, 0);
        pid_ = -1;
    }

  private:
    LocalUnbound() = default;

    void write_config(const LocalUnboundConfig& config) {
        std::ofstream conf(dir_ + "/unbound.conf", std::ios::trunc);
        conf << "server:\n"
             << "  interface: " << interface_ << "\n"
             << "  port: " << port_ << "\n"
             << "  do-ip6: no\n"
             << "  do-daemonize: no\n"
             << "  chroot: \"\"\n"
             << "  username: \"\"\n"
             << "  directory: \"" << dir_ << "\"\n"
             << "  pidfile: \"" << dir_ << "/unbound.pid\"\n"
             << "  logfile: \"" << dir_ << "/unbound.log\"\n"
             << "  use-syslog: no\n"
             << "  verbosity: 1\n"
             << "  num-threads: 1\n"
             << "  access-control: 127.0.0.0/8 allow\n"
             << "  module-config: \"iterator\"\n"
             << "  do-not-query-localhost: no\n"
             << "  auto-trust-anchor-file: \"\"\n"
             << "  root-hints: \"\"\n";
        for (const auto& line : config.server_lines) conf << "  " << line << "\n";
        conf << "remote-control:\n  control-enable: no\n";
        int n = 0;
        for (const auto& [name, text] : config.auth_zones) {
            const std::string file = dir_ + "/zone" + std::to_string(n++) + ".db";
            std::ofstream(file, std::ios::trunc) << text;
            conf << "auth-zone:\n"
                 << "  name: \"" << name << "\"\n"
                 << "  zonefile: \"" << file << "\"\n"
                 << "  for-downstream: " << (config.auth_for_downstream ? "yes" : "no") << "\n"
                 << "  for-upstream: yes\n"
                 << "  fallback-enabled: no\n";
        }
        conf << config.extra_clauses;
    }

    bool spawn() {
        const std::string conf = dir_ + "/unbound.conf";
        pid_ = ::fork();
        if (pid_ < 0) return false;
        if (pid_ == 0) {
            // -d: stay in the foreground (our child), -c: only our configuration.
            ::execl(kUnboundBinary, "unbound", "-d", "-c", conf.c_str(),
                    static_cast<char*>(nullptr));
            ::_exit(127);
        }
        return true;
    }

    bool wait_ready(std::chrono::seconds limit) {
        const auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (::waitpid(pid_, nullptr, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            if (answers_dns(port_, std::chrono::milliseconds(100), interface_)) return true;
        }
        return false;
    }

    std::string dir_;
    std::string interface_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

// A UDP and a listening TCP socket on one free loopback port, as a DNS server has; port() is 0
// when no port could be had.
class LoopbackDnsSockets {
  public:
    LoopbackDnsSockets() {
        for (int attempt = 0; attempt < 20 && port_ == 0; ++attempt) {
            Fd udp = bound_socket(SOCK_DGRAM, 0);
            if (udp.get() < 0) continue;
            const std::uint16_t port = port_of(udp.get());
            Fd tcp = bound_socket(SOCK_STREAM, port);
            if (tcp.get() < 0 || ::listen(tcp.get(), 64) != 0) continue;
            udp_ = std::move(udp);
            tcp_ = std::move(tcp);
            port_ = port;
        }
    }
    std::uint16_t port() const { return port_; }
    std::string address() const { return "127.0.0.1@" + std::to_string(port_); }

  protected:
    int udp() const { return udp_.get(); }
    int tcp() const { return tcp_.get(); }

  private:
    Fd udp_;
    Fd tcp_;
    std::uint16_t port_ = 0;
};

// Sockets that accept DNS queries and never answer: the unresponsive server. The kernel queues
// what arrives; nobody reads it.
class BlackHoleServer : public LoopbackDnsSockets {};

}  // namespace dmarc::test_support
