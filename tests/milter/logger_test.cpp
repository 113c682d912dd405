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

#include <chrono>
#include <map>
#include <optional>
#include <regex>
#include <string>
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

class LoggerTest : public ::testing::Test {
  protected:
    test::TempDir dir;
    std::string path() const { return (dir.path() / "log").string(); }
};

// RFC 3164 §4.1 as syslog(3) writes it with LOG_PID: "<PRI>Mmm dd hh:mm:ss ident[pid]: text",
// PRI = facility * 8 + severity (local3 = 19, info = 6: 158).
TEST_F(LoggerTest, LinesFromManyThreadsArriveOnceInOrderAndWhole) {
    FakeSyslogd syslogd(path());
    ASSERT_TRUE(syslogd.ok());
    Logger logger;
    logger.use_syslog("dmarc-milter", "local3", path());
    constexpr int kThreads = 4;
    constexpr int kLines = 300;  // per thread; 1,200 lines in all, several batches
    std::vector<std::thread> threads;
    // The reader keeps up while the threads write (a real syslogd's queue is 512 datagrams).
    std::map<int, int> next_of_thread;
    int received = 0;
    const std::regex shape(R"(<158>[A-Z][a-z]{2} [ 1-3][0-9] \d\d:\d\d:\d\d dmarc-milter\[)" +
                           std::to_string(::getpid()) + R"(\]: thread (\d) line (\d+))");
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
        std::smatch m;
        ASSERT_TRUE(std::regex_match(*line, m, shape)) << *line;
        const int thread = std::stoi(m[1]);
        const int number = std::stoi(m[2]);
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
    FakeSyslogd syslogd(path());
    ASSERT_TRUE(syslogd.ok());
    Logger logger;
    logger.use_syslog("dmarc-milter", "mail", path());
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
    FakeSyslogd syslogd(path());
    ASSERT_TRUE(syslogd.ok());
    Logger logger;
    logger.use_syslog("dmarc-milter", "mail", path());
    constexpr int kLines = 3000;
    const auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < kLines; ++i) logger.log(LogLevel::info, "line " + std::to_string(i));
    EXPECT_LT(std::chrono::steady_clock::now() - start, 500ms) << "a caller waited on syslogd";
    // The writer fills the socket's queue, then gives up on the rest of that batch after its
    // 1 s send timeout.
    std::this_thread::sleep_for(2500ms);
    int lines = 0;
    std::uint64_t dropped = 0;
    const std::regex notice(R"(.*\]: (\d+) log line\(s\) dropped: syslog did not take them)");
    logger.log(LogLevel::info, "after");
    bool after = false;
    while (auto line = syslogd.receive(1500ms)) {
        std::smatch m;
        if (std::regex_match(*line, m, notice)) {
            dropped += std::stoull(m[1]);
        } else if (line->ends_with("]: after")) {
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
    FakeSyslogd syslogd(path());
    ASSERT_TRUE(syslogd.ok());
    Logger logger;
    logger.use_syslog("dmarc-milter", "mail", path());
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
