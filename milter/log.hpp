// dmarc-milter's log: syslog with the configured facility, or stderr (foreground, tests).
// One call is one line, written whole, from any thread. Syslog lines are formatted by the caller
// in syslog(3)'s format (RFC 3164 with LOG_PID) and queued; a writer thread sends them to /dev/log
// in batches (sendmmsg), so a worker never waits on syslogd and a message costs no system call
// for its log lines.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "milter/session.hpp"

namespace dmarc::milter {

class Logger {
  public:
    Logger() = default;
    Logger(const Logger&) = delete;
    Logger& operator=(const Logger&) = delete;
    ~Logger();

    // facility: a SyslogFacility name ("mail", "daemon", "local0"...); unknown names mean mail.
    // Starts the writer thread: call it after fork(). socket_path: /dev/log unless a test says.
    void use_syslog(std::string_view ident, std::string_view facility,
                    std::string socket_path = std::string());
    void use_stderr();
    void set_verbosity(int verbosity) { verbosity_ = verbosity; }
    void log(LogLevel level, std::string_view line) noexcept;
    // Sends every queued line and stops the writer (before exit); later lines go out directly.
    void flush() noexcept;

    // A line waits at most this long in the queue; a burst of kWakeLines wakes the writer early.
    static constexpr std::chrono::milliseconds kFlushInterval{20};
    static constexpr std::size_t kWakeLines = 256;
    // Past this many waiting lines (syslogd stuck), new lines are dropped and counted, never
    // waited for: logging must not hold up mail. The count is logged once lines flow again.
    static constexpr std::size_t kMaxQueuedLines = 100000;

  private:
    // The datagram for `line`, in a buffer of the calling thread (valid until its next call).
    const std::string& format_syslog(int priority, std::string_view line);
    void writer_loop();
    // Sends the datagrams of `bytes` (each ending at its `ends` offset); returns how many could
    // not be sent (syslogd not reading for SO_SNDTIMEO, or gone and not back).
    std::size_t send_batch(const std::string& bytes, const std::vector<std::uint32_t>& ends);
    bool connect_syslog() noexcept;

    std::mutex mutex_;  // stderr lines and (re)connecting the syslog socket
    std::atomic<bool> syslog_{false};
    int syslog_fd_ = -1;  // one datagram socket for the process; reconnected, never replaced
    std::string socket_path_;
    int facility_ = 0;
    std::string ident_pid_;  // "ident[pid]: ", the constant part of every syslog line
    int verbosity_ = 0;      // debug lines only with -v

    // The queue: datagrams back to back in `queued_`, each ending at its `queued_ends_` offset.
    std::mutex queue_mutex_;
    std::condition_variable queue_cv_;
    std::string queued_;
    std::vector<std::uint32_t> queued_ends_;
    std::uint64_t dropped_ = 0;  // lines refused while the queue was full
    bool stop_ = false;
    bool writer_idle_ = false;  // the writer waits for a first line: the next line wakes it
    std::atomic<bool> writer_running_{false};
    std::thread writer_;
};

}  // namespace dmarc::milter
