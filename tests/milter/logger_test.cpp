// dmarc-milter's syslog writer (milter/log.hpp): lines queued by many threads reach the socket
// whole, once each, in each thread's order, in syslog(3)'s RFC 3164 format with LOG_PID; a
// syslogd that stops reading costs lines (counted and said), never a blocked caller; a syslogd
// that restarts on a new socket is reconnected to.
#include <gtest/gtest.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <syslog.h>
#include <unistd.h>

#include <cctype>
#include <chrono>
#include <cstdio>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <thread>
#include <vector>

#include "milter/log.hpp"
#include "tests/io/temp_dir.hpp"

namespace dmarc::milter {
namespace {

using namespace std::chrono_literals;

// A syslogd stand-in: a datagram socket bound at `path`.
class FakeSyslogd {
  public:
    explicit FakeSyslogd(std::string path) : path_(std::move(path)) { bind(); }
    ~FakeSyslogd() {
        if (fd_ >= 0) ::close(fd_);
    }

    void bind() {
        if (fd_ >= 0) ::close(fd_);
        ::unlink(path_.c_str());
        fd_ = ::socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
        sockaddr_un addr{};
        addr.sun_family = AF_UNIX;
        path_.copy(addr.sun_path, sizeof(addr.sun_path) - 1);
        ok_ = fd_ >= 0 && ::bind(fd_, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) == 0;
    }
    bool ok() const { return ok_; }

    // One datagram, or nullopt after `wait` without one.
    std::optional<std::string> receive(std::chrono::milliseconds wait) {
        pollfd p{fd_, POLLIN, 0};
        if (::poll(&p, 1, static_cast<int>(wait.count())) != 1) return std::nullopt;
        std::string buffer(65536, '\0');
        ssize_t n = ::recv(fd_, buffer.data(), buffer.size(), 0);
        if (n < 0) return std::nullopt;
        buffer.resize(static_cast<std::size_t>(n));
        return buffer;
    }

  private:
    std::string path_;
    int fd_ = -1;
    bool ok_ = false;
};

// "<PRI>Mmm dd hh:mm:ss ident[pid]: " in front of `rest` (RFC 3164 §4.1, syslog(3) with
// LOG_PID); the text after it, or nullopt. (No std::regex: GCC 12 warns in it under ASan.)
std::optional<std::string> text_after_header(const std::string& datagram, std::string_view pri) {
    std::string_view d = datagram;
    if (!d.starts_with(pri)) return std::nullopt;
    d.remove_prefix(pri.size());
    // "Nov 30 05:04:47" or "Dec  1 05:04:47"
    if (d.size() < 16) return std::nullopt;
    const std::string_view stamp = d.substr(0, 15);
    auto digit = [](char c) { return c >= '0' && c <= '9'; };
    bool ok = std::isupper(static_cast<unsigned char>(stamp[0])) && stamp[3] == ' ' &&
              (stamp[4] == ' ' || digit(stamp[4])) && digit(stamp[5]) && stamp[6] == ' ' &&
              digit(stamp[7]) && digit(stamp[8]) && stamp[9] == ':' && digit(stamp[10]) &&
              digit(stamp[11]) && stamp[12] == ':' && digit(stamp[13]) && digit(stamp[14]);
    if (!ok || d[15] != ' ') return std::nullopt;
    d.remove_prefix(16);
    const std::string ident = "dmarc-milter[" + std::to_string(::getpid()) + "]: ";
    if (!d.starts_with(ident)) return std::nullopt;
    d.remove_prefix(ident.size());
    return std::string(d);
}

class LoggerTest : public ::testing::Test {
  protected:
    test::TempDir dir;
    FakeSyslogd syslogd{path()};
    std::string path() const { return (dir.path() / "log").string(); }
    // The logger writing to `syslogd` with `facility`.
    void start(Logger& logger, const char* facility = "mail") {
        ASSERT_TRUE(syslogd.ok());
        logger.use_syslog("dmarc-milter", facility, path());
    }
};

// RFC 3164 §4.1 as syslog(3) writes it with LOG_PID: "<PRI>Mmm dd hh:mm:ss ident[pid]: text",
// PRI = facility * 8 + severity (local3 = 19, info = 6: 158).
TEST_F(LoggerTest, LinesFromManyThreadsArriveOnceInOrderAndWhole) {
    Logger logger;
    start(logger, "local3");
    constexpr int kThreads = 4;
    constexpr int kLines = 300;  // per thread; 1,200 lines in all, several batches
    std::vector<std::thread> threads;
    // The reader keeps up while the threads write (a real syslogd's queue is 512 datagrams).
    std::map<int, int> next_of_thread;
    int received = 0;
    for (int t = 0; t < kThreads; ++t) {
        threads.emplace_back([&logger, t] {
            for (int i = 0; i < kLines; ++i) {
                logger.log(LogLevel::info,
                           "thread " + std::to_string(t) + " line " + std::to_string(i));
            }
        });
    }
    while (received < kThreads * kLines) {
        auto line = syslogd.receive(2s);
        ASSERT_TRUE(line) << "after " << received << " lines";
        auto text = text_after_header(*line, "<158>");
        ASSERT_TRUE(text) << *line;
        int thread = -1;
        int number = -1;
        ASSERT_EQ(std::sscanf(text->c_str(), "thread %d line %d", &thread, &number), 2) << *text;
        EXPECT_EQ(number, next_of_thread[thread]) << "thread " << thread;
        next_of_thread[thread] = number + 1;
        ++received;
    }
    for (auto& t : threads) t.join();
    EXPECT_FALSE(syslogd.receive(100ms)) << "a line arrived twice";
}

// A quiet milter: one line goes out within the flush interval, no flush() needed; after flush()
// (the writer stopped, process ending) lines are sent by the caller.
TEST_F(LoggerTest, ALoneLineIsSentSoonAndAfterFlushDirectly) {
    Logger logger;
    start(logger);
    const auto start = std::chrono::steady_clock::now();
    logger.log(LogLevel::warning, "alone");
    auto line = syslogd.receive(2s);
    ASSERT_TRUE(line);
    EXPECT_TRUE(line->ends_with("]: alone")) << *line;
    EXPECT_TRUE(line->starts_with("<20>")) << *line;  // mail (2) * 8 + warning (4)
    EXPECT_LT(std::chrono::steady_clock::now() - start, Logger::kFlushInterval + 500ms);
    logger.log(LogLevel::info, "queued");
    logger.flush();
    line = syslogd.receive(1s);
    ASSERT_TRUE(line);
    EXPECT_TRUE(line->ends_with("]: queued")) << *line;
    logger.log(LogLevel::info, "direct");
    line = syslogd.receive(1s);
    ASSERT_TRUE(line);
    EXPECT_TRUE(line->ends_with("]: direct")) << *line;
    logger.log(LogLevel::debug, "not without -v");
    EXPECT_FALSE(syslogd.receive(100ms));
}

// A syslogd that stops reading: the callers never wait (3,000 lines logged at once), the lines
// it could not take are counted, and the count is said once it reads again.
TEST_F(LoggerTest, AStuckSyslogdCostsLinesNotMailAndTheLossIsSaid) {
    Logger logger;
    start(logger);
    constexpr int kLines = 3000;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kLines; ++i) logger.log(LogLevel::info, "line " + std::to_string(i));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms) << "a caller waited on syslogd";
    // The writer fills the socket's queue, then gives up on the rest of that batch after its
    // 1 s send timeout.
    std::this_thread::sleep_for(2500ms);
    int lines = 0;
    std::uint64_t dropped = 0;
    logger.log(LogLevel::info, "after");
    bool after = false;
    while (auto line = syslogd.receive(1500ms)) {
        auto text = text_after_header(*line, line->starts_with("<20>") ? "<20>" : "<22>");
        ASSERT_TRUE(text) << *line;
        unsigned long long count = 0;
        if (text->ends_with(" log line(s) dropped: syslog did not take them")) {
            ASSERT_EQ(std::sscanf(text->c_str(), "%llu", &count), 1) << *text;
            dropped += count;
        } else if (*text == "after") {
            after = true;
        } else {
            ++lines;
        }
    }
    EXPECT_TRUE(after);
    EXPECT_GT(dropped, 0u);
    EXPECT_GT(lines, 0);
    EXPECT_EQ(static_cast<std::uint64_t>(lines) + dropped, static_cast<std::uint64_t>(kLines));
}

// syslogd restarted: its socket is a new one at the same path. The next batch reconnects.
TEST_F(LoggerTest, ARestartedSyslogdIsReconnected) {
    Logger logger;
    start(logger);
    logger.log(LogLevel::info, "before");
    ASSERT_TRUE(syslogd.receive(2s));
    syslogd.bind();
    ASSERT_TRUE(syslogd.ok());
    logger.log(LogLevel::info, "after restart");
    auto line = syslogd.receive(2s);
    ASSERT_TRUE(line);
    EXPECT_TRUE(line->ends_with("]: after restart")) << *line;
}

}  // namespace
}  // namespace dmarc::milter
