// syslog or stderr logging (see log.hpp).
#include "milter/log.hpp"

#include <syslog.h>
#include <unistd.h>

#include <array>
#include <utility>

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
    ident_ = std::string(ident);  // openlog keeps the pointer
    ::openlog(ident_.c_str(), LOG_PID | LOG_NDELAY, facility_code(facility));
    syslog_ = true;
}

void Logger::use_stderr() {
    std::lock_guard lock(mutex_);
    if (syslog_) ::closelog();
    syslog_ = false;
}

void Logger::log(LogLevel level, std::string_view line) noexcept {
    if (level == LogLevel::debug && verbosity_ == 0) return;
    try {
        std::lock_guard lock(mutex_);
        if (syslog_) {
            ::syslog(priority(level), "%.*s", static_cast<int>(line.size()), line.data());
            return;
        }
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
