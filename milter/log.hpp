// dmarc-milter's log: syslog(3) with the configured facility, or stderr (foreground, tests).
// One call is one line, written whole, from any thread.
#pragma once

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
    std::mutex mutex_;
    bool syslog_ = false;
    std::string ident_;
    int verbosity_ = 0;  // debug lines only with -v
};

}  // namespace dmarc::milter
