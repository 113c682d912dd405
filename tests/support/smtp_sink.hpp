// Test support: Postfix's smtp-sink (Debian package postfix; a standalone test server, NOT the
// system Postfix, which is never started or touched) on a free loopback port, dumping each
// accepted message into its own temporary directory, optionally refusing commands with 4xx
// (-r) or 5xx (-f) replies. Killed by the destructor.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/local_unbound.hpp"

namespace dmarc::test_support {

inline constexpr const char* kSmtpSinkBinary = "/usr/sbin/smtp-sink";

class SmtpSink {
  public:
    // extra: smtp-sink options, e.g. {"-r", "rcpt", "-b", "451 4.3.0 try later"}.
    explicit SmtpSink(std::vector<std::string> extra = {}) {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "dmarc-smtp-sink-XXXXXX").string();
        if (::mkdtemp(pattern.data()) == nullptr) return;
        dir_ = pattern;
        // smtp-sink run as root must drop to another user (-u), who must be able to write here.
        ::chmod(dir_.c_str(), 0777);
        for (int attempt = 0; attempt < 5 && pid_ <= 0; ++attempt) {
            port_ = free_loopback_port();
            std::vector<std::string> args = {kSmtpSinkBinary};
            if (::geteuid() == 0) {
                args.push_back("-u");
                args.push_back("nobody");
            }
            args.push_back("-d");
            args.push_back(dir_ + "/%Y%m%d%H%M%S.");
            for (auto& e : extra) args.push_back(e);
            args.push_back("127.0.0.1:" + std::to_string(port_));
            args.push_back("10");
            const pid_t pid = ::fork();
            if (pid == 0) {
                std::vector<char*> argv;
                for (auto& a : args) argv.push_back(a.data());
                argv.push_back(nullptr);
                const int null = ::open("/dev/null", O_WRONLY);
                if (null >= 0) {
                    ::dup2(null, 1);
                    ::dup2(null, 2);
                }
                ::execv(argv[0], argv.data());
                ::_exit(127);
            }
            pid_ = pid;
            if (!wait_listening()) stop();
        }
    }
    ~SmtpSink() {
        stop();
        std::error_code ec;
        if (!dir_.empty()) std::filesystem::remove_all(dir_, ec);
    }
    SmtpSink(const SmtpSink&) = delete;
    SmtpSink& operator=(const SmtpSink&) = delete;

    bool running() const { return pid_ > 0; }
    pid_t pid() const { return pid_; }
    const std::string& directory() const { return dir_; }
    std::uint16_t port() const { return port_; }

    // The dumped transactions (envelope lines "X-Mail-Args: ..." then the message), LF lines.
    std::vector<std::string> messages() const {
        std::vector<std::string> out;
        std::error_code ec;
        for (const auto& entry : std::filesystem::directory_iterator(dir_, ec)) {
            std::ifstream in(entry.path(), std::ios::binary);
            std::stringstream ss;
            ss << in.rdbuf();
            out.push_back(ss.str());
        }
        return out;
    }

    // Dumps that hold a message (smtp-sink also dumps a transaction refused at RCPT).
    std::size_t delivered() const {
        std::size_t n = 0;
        for (const auto& dump : messages()) n += dump.find("\nFrom: ") != std::string::npos;
        return n;
    }

  private:
    bool wait_listening() {
        for (int i = 0; i < 100; ++i) {
            Fd fd(::socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0));
            sockaddr_in addr = loopback(port_);
            if (::connect(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
                return true;
            }
            int status = 0;
            if (::waitpid(pid_, &status, WNOHANG) == pid_) {
                pid_ = -1;
                return false;
            }
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        return false;
    }
    void stop() {
        if (pid_ > 0) {
            ::kill(pid_, SIGTERM);
            int status = 0;
            ::waitpid(pid_, &status, 0);
            pid_ = -1;
        }
    }

    std::string dir_;
    std::uint16_t port_ = 0;
    pid_t pid_ = -1;
};

// The message inside a smtp-sink dump, with CRLF line ends: smtp-sink writes its own X-* lines
// and a Received: field first; the message begins at its first "From:" field.
inline std::string message_from_dump(const std::string& dump) {
    const auto at = dump.find("\nFrom: ");
    std::string body = at == std::string::npos ? dump : dump.substr(at + 1);
    std::string crlf;
    for (char c : body) {
        if (c == '\n') crlf += '\r';
        crlf += c;
    }
    return crlf;
}

}  // namespace dmarc::test_support
