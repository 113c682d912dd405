// syslog or stderr logging (see log.hpp). glibc's syslog(3) formats through stdio and holds
// one process-wide lock across its send(2); under milter_load 83% of the milter's futex calls
// were workers queued there. Here a line is formatted in a thread-local buffer and sent on a
// shared connected datagram socket (one datagram is one line, however many threads send).
#include "milter/log.hpp"

#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <ctime>
#include <utility>

#include <fmt/format.h>

namespace dmarc::milter {
namespace {

int facility_code(std::string_view name) {
    static constexpr std::array<std::pair<std::string_view, int>, 15> kFacilities{{
        {"mail", LOG_MAIL},
        {"daemon", LOG_DAEMON},
        {"user", LOG_USER},
        {"auth", LOG_AUTH},
        {"authpriv", LOG_AUTHPRIV},
        {"local0", LOG_LOCAL0},
        {"local1", LOG_LOCAL1},
        {"local2", LOG_LOCAL2},
        {"local3", LOG_LOCAL3},
        {"local4", LOG_LOCAL4},
        {"local5", LOG_LOCAL5},
        {"local6", LOG_LOCAL6},
        {"local7", LOG_LOCAL7},
        {"news", LOG_NEWS},
        {"uucp", LOG_UUCP},
    }};
    for (const auto& [n, code] : kFacilities) {
        if (n == name) return code;
    }
    return LOG_MAIL;
}

int priority(LogLevel level) {
    switch (level) {
        case LogLevel::error:
            return LOG_ERR;
        case LogLevel::warning:
            return LOG_WARNING;
        case LogLevel::notice:
            return LOG_NOTICE;
        case LogLevel::info:
            return LOG_INFO;
        case LogLevel::debug:
            return LOG_DEBUG;
    }
    return LOG_INFO;
}

}  // namespace

void Logger::use_syslog(std::string_view ident, std::string_view facility) {
    std::lock_guard lock(mutex_);
    ident_ = std::string(ident);
    facility_ = facility_code(facility);
    pid_ = static_cast<long>(::getpid());
    if (syslog_fd_ < 0) syslog_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    (void)connect_syslog();  // as openlog(LOG_NDELAY); a missing /dev/log is retried per line
    syslog_ = true;
}

void Logger::use_stderr() {
    std::lock_guard lock(mutex_);
    syslog_ = false;
}

bool Logger::connect_syslog() noexcept {
    if (syslog_fd_ < 0) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, _PATH_LOG, sizeof(_PATH_LOG));
    return ::connect(syslog_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

bool Logger::send_syslog(int priority_code, std::string_view line) noexcept {
    // syslog(3)'s format with LOG_PID: "<pri>Mmm dd hh:mm:ss ident[pid]: line". The time
    // text is kept per thread and redone once a second.
    thread_local std::string buffer;
    thread_local std::time_t stamped = -1;
    thread_local std::array<char, 32> stamp{};
    thread_local std::size_t stamp_size = 0;
    std::time_t now = std::time(nullptr);
    if (now != stamped) {
        std::tm local{};
        ::localtime_r(&now, &local);
        stamp_size = std::strftime(stamp.data(), stamp.size(), "%h %e %T", &local);
        stamped = now;
    }
    buffer.clear();
    fmt::format_to(std::back_inserter(buffer), "<{}>{} {}[{}]: ", facility_ | priority_code,
                   std::string_view(stamp.data(), stamp_size), ident_, pid_);
    buffer.append(line);
    for (int attempt = 0; attempt < 2; ++attempt) {
        ssize_t n;
        do {
            n = ::send(syslog_fd_, buffer.data(), buffer.size(), MSG_NOSIGNAL | MSG_DONTWAIT);
        } while (n < 0 && errno == EINTR);
        if (n < 0 && errno == EAGAIN) {
            // The reader's queue is full (net.unix.max_dgram_qlen). Wait for room as syslog(3)
            // does, but one thread at a time: every thread waiting in send(2) is woken each
            // time one datagram is read, where the mutex wakes one.
            std::lock_guard lock(mutex_);
            do {
                n = ::send(syslog_fd_, buffer.data(), buffer.size(), MSG_NOSIGNAL);
            } while (n < 0 && errno == EINTR);
        }
        if (n >= 0) return true;
        // syslogd restarted (a new /dev/log) or was not there at start: connect again, once.
        std::lock_guard lock(mutex_);
        if (!connect_syslog()) return false;
    }
    return false;
}

void Logger::log(LogLevel level, std::string_view line) noexcept {
    if (level == LogLevel::debug && verbosity_ == 0) return;
    try {
        if (syslog_) {
            (void)send_syslog(priority(level), line);
            return;
        }
        std::lock_guard lock(mutex_);
        std::string out(line);
        out.push_back('\n');
        std::string_view rest = out;
        while (!rest.empty()) {
            ssize_t n = ::write(STDERR_FILENO, rest.data(), rest.size());
            if (n <= 0) break;
            rest.remove_prefix(static_cast<std::size_t>(n));
        }
    } catch (...) {
        // Logging must never take the milter down.
    }
}

}  // namespace dmarc::milter
