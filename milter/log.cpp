// syslog or stderr logging (see log.hpp). glibc's syslog(3) formats through stdio and holds
// one process-wide lock across its send(2); under milter_load 83% of the milter's futex calls
// were workers queued there. Here a line is formatted in a thread-local buffer and appended to a
// queue; the writer thread sends the queue in batches with sendmmsg(2) on one connected datagram
// socket (one datagram is one line). Two lines per message had cost two sendto(2) calls and two
// wake-ups of syslogd per message in the worker.
#include "milter/log.hpp"

#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <ctime>
#include <thread>
#include <utility>
#include <vector>

#include <fmt/format.h>

#include "io/thread_name.hpp"

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

Logger::~Logger() {
    flush();
    if (syslog_fd_ >= 0) ::close(syslog_fd_);
}

void Logger::use_syslog(std::string_view ident, std::string_view facility,
                        std::string socket_path) {
    std::lock_guard lock(mutex_);
    facility_ = facility_code(facility);
    ident_pid_ = fmt::format("{}[{}]: ", ident, static_cast<long>(::getpid()));
    socket_path_ = socket_path.empty() ? std::string(_PATH_LOG) : std::move(socket_path);
    if (syslog_fd_ < 0) {
        syslog_fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        // A syslogd that stops reading holds the writer at most this long per batch; the lines
        // it could not take are counted as dropped.
        timeval timeout{1, 0};
        if (syslog_fd_ >= 0) {
            (void)::setsockopt(syslog_fd_, SOL_SOCKET, SO_SNDTIMEO, &timeout, sizeof(timeout));
        }
    }
    (void)connect_syslog();  // as openlog(LOG_NDELAY); a missing /dev/log is retried per batch
    syslog_ = true;
    if (!writer_running_ && syslog_fd_ >= 0) {
        {
            std::lock_guard queue_lock(queue_mutex_);
            stop_ = false;
        }
        try {
            writer_ = std::thread([this] {
                io::name_this_thread("dmarc-log");
                writer_loop();
            });
            writer_running_ = true;
        } catch (...) {
            // No thread: every line is sent by its caller (log()).
        }
    }
}

void Logger::use_stderr() {
    std::lock_guard lock(mutex_);
    syslog_ = false;
}

bool Logger::connect_syslog() noexcept {
    if (syslog_fd_ < 0 || socket_path_.size() >= sizeof(sockaddr_un::sun_path)) return false;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, socket_path_.c_str(), socket_path_.size() + 1);
    return ::connect(syslog_fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
}

const std::string& Logger::format_syslog(int priority_code, std::string_view line) {
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
    // Assembled by hand: fmt's parsing of the format was a third of the logger's cost.
    buffer.clear();
    const int pri = facility_ | priority_code;
    std::array<char, 8> digits{};
    std::size_t n = digits.size();
    int rest = pri;
    do {
        digits[--n] = static_cast<char>('0' + rest % 10);
        rest /= 10;
    } while (rest > 0 && n > 0);
    buffer.push_back('<');
    buffer.append(digits.data() + n, digits.size() - n);
    buffer.push_back('>');
    buffer.append(stamp.data(), stamp_size);
    buffer.push_back(' ');
    buffer.append(ident_pid_);
    buffer.append(line);
    return buffer;
}

std::size_t Logger::send_batch(const std::string& bytes, const std::vector<std::uint32_t>& ends) {
    constexpr std::size_t kPerCall = 64;
    std::array<mmsghdr, kPerCall> messages{};
    std::array<iovec, kPerCall> parts{};
    std::size_t next = 0;  // first datagram not yet sent
    bool reconnected = false;
    // syslogd's queue full: a blocking send would sleep until one datagram is read and wake
    // for each one after it (the kernel's default queue is 10 datagrams, net.unix.max_dgram_qlen),
    // a sleep and a wake-up per line. Pausing briefly lets syslogd empty it first. A syslogd
    // that takes nothing for a second (SO_SNDTIMEO's figure) is taken as stuck.
    constexpr auto kFullPause = std::chrono::microseconds(100);
    constexpr auto kStuck = std::chrono::seconds(1);
    std::chrono::steady_clock::time_point full_since{};
    while (next < ends.size()) {
        const std::size_t count = std::min(kPerCall, ends.size() - next);
        for (std::size_t i = 0; i < count; ++i) {
            const std::uint32_t begin = next + i == 0 ? 0 : ends[next + i - 1];
            parts[i].iov_base = const_cast<char*>(bytes.data() + begin);
            parts[i].iov_len = ends[next + i] - begin;
            messages[i] = mmsghdr{};
            messages[i].msg_hdr.msg_iov = &parts[i];
            messages[i].msg_hdr.msg_iovlen = 1;
        }
        int sent = ::sendmmsg(syslog_fd_, messages.data(), static_cast<unsigned>(count),
                              MSG_NOSIGNAL | MSG_DONTWAIT);
        if (sent > 0) {
            next += static_cast<std::size_t>(sent);
            full_since = {};
            continue;
        }
        if (sent < 0 && errno == EINTR) continue;
        if (sent < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            const auto now = std::chrono::steady_clock::now();
            if (full_since == std::chrono::steady_clock::time_point{}) full_since = now;
            if (now - full_since >= kStuck) break;  // syslogd stuck
            std::this_thread::sleep_for(kFullPause);
            continue;
        }
        // syslogd restarted (a new /dev/log) or was not there at start: connect again, once.
        if (reconnected) break;
        reconnected = true;
        std::lock_guard lock(mutex_);
        if (!connect_syslog()) break;
    }
    return ends.size() - next;
}

void Logger::writer_loop() {
    std::string bytes;
    std::vector<std::uint32_t> ends;
    std::uint64_t unreported = 0;  // lines lost (queue full, syslogd stuck or gone), not yet said
    std::unique_lock lock(queue_mutex_);
    while (true) {
        writer_idle_ = true;
        queue_cv_.wait(lock, [&] { return stop_ || !queued_ends_.empty(); });
        writer_idle_ = false;
        // Let a batch gather (a burst of kWakeLines ends the wait early).
        queue_cv_.wait_for(lock, kFlushInterval,
                           [&] { return stop_ || queued_ends_.size() >= kWakeLines; });
        bytes.swap(queued_);
        ends.swap(queued_ends_);
        queued_.clear();
        queued_ends_.clear();
        unreported += std::exchange(dropped_, 0);
        const bool stopping = stop_;
        lock.unlock();
        const std::size_t failed = ends.empty() ? 0 : send_batch(bytes, ends);
        unreported += failed;
        if (unreported > 0 && failed == 0) {
            // syslog takes lines again: say how many it missed.
            try {
                std::string notice = format_syslog(
                    LOG_WARNING,
                    fmt::format("{} log line(s) dropped: syslog did not take them", unreported));
                std::vector<std::uint32_t> one{static_cast<std::uint32_t>(notice.size())};
                if (send_batch(notice, one) == 0) unreported = 0;
            } catch (...) {
            }
        }
        lock.lock();
        if (stopping && queued_ends_.empty()) break;
    }
}

void Logger::flush() noexcept {
    if (!writer_running_) return;
    {
        std::lock_guard lock(queue_mutex_);
        stop_ = true;
    }
    queue_cv_.notify_all();
    if (writer_.joinable()) writer_.join();
    writer_running_ = false;
}

void Logger::log(LogLevel level, std::string_view line) noexcept {
    if (level == LogLevel::debug && verbosity_ == 0) return;
    try {
        if (syslog_) {
            const std::string& datagram = format_syslog(priority(level), line);
            if (datagram.size() > UINT32_MAX / 4) return;
            if (writer_running_) {
                // Always through the queue, even when syslogd's is empty: a send(2) per line
                // wakes syslogd per line, where one sendmmsg(2) per batch wakes it once.
                bool queued = false;
                bool wake = false;
                {
                    std::lock_guard lock(queue_mutex_);
                    if (!stop_) {
                        queued = true;
                        if (queued_ends_.size() >= kMaxQueuedLines ||
                            queued_.size() + datagram.size() > UINT32_MAX / 2) {
                            ++dropped_;
                        } else {
                            queued_.append(datagram);
                            queued_ends_.push_back(static_cast<std::uint32_t>(queued_.size()));
                            wake = writer_idle_ || queued_ends_.size() == kWakeLines;
                            writer_idle_ = false;
                        }
                    }
                }
                if (wake) queue_cv_.notify_one();
                if (queued) return;
            }
            // No writer (before use_syslog's thread, after flush()): sent by the caller.
            std::vector<std::uint32_t> one{static_cast<std::uint32_t>(datagram.size())};
            (void)send_batch(datagram, one);
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
