// dmarc-milter's log: syslog with the configured facility, or stderr (foreground, tests).
// One call is one line, written whole, from any thread. Syslog lines are sent by us in
// syslog(3)'s format (RFC 3164 with LOG_PID) on a datagram socket to /dev/log, without a lock.
#pragma once

#include <atomic>
#include <mutex>
#include <string>
#include <string_view>

#include "milter/session.hpp"

namespace dmarc::milter {

class Logger {
  public:
    // facility: a SyslogFacility name ("mail", "daemon", "local0"...); unknown names mean mail.
    void use_syslog(std::string_view ident, std::string_view facility);
    void use_stderr();
    void set_verbosity(int verbosity) { verbosity_ = verbosity; }
    void log(LogLevel level, std::string_view line) noexcept;

  private:
    bool send_syslog(int priority, std::string_view line) noexcept;
    bool connect_syslog() noexcept;

    std::mutex mutex_;  // stderr lines and (re)connecting the syslog socket
    std::atomic<bool> syslog_{false};
    int syslog_fd_ = -1;  // one datagram socket for the process; reconnected, never replaced
    int facility_ = 0;
    long pid_ = 0;
    std::string ident_;
    int verbosity_ = 0;  // debug lines only with -v
};

}  // namespace dmarc::milter
