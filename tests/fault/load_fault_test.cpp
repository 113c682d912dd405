// Fault injection, connection flood (issue 8 item 3): 10,000 milter connections opened at once
// against the real dmarc-milter, which runs once with the common 1,024-descriptor soft limit
// and once with room for all of them. What must be kept: the milter survives (same process),
// its resident memory stays bounded while the connections are held (measured from
// /proc/<pid>/status), connections it cannot take are refused or queued (never a crash, never a
// stopped listener), and once the flood is gone it serves mail with the same verdicts.
// Measured, so registered in unsanitized builds only (label fault-measured; ~20 s).
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <algorithm>
#include <atomic>
#include <thread>
#include <vector>

#include "tests/fault/fault_support.hpp"

namespace dmarc::fault {
namespace {

using namespace std::chrono_literals;

constexpr int kConnections = 10000;
// Memory the flood may add to the milter while it lasts: each queued connection costs a socket
// and libmilter's per-connection context (a few kB); 10,000 of them must stay far below a
// thread-per-connection milter's stacks. 200 MB allows 20 kB per connection.
constexpr long kMaxFloodGrowthKb = 200 * 1024;
// After the flood: what is left must be a small fraction of that (allocator caches).
constexpr long kMaxGrowthAfterKb = 64 * 1024;

int connect_unix(const std::string& path) {
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (fd < 0) return -1;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    std::snprintf(addr.sun_path, sizeof addr.sun_path, "%s", path.c_str());
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

// The milter's option negotiation packet (SMFIC_OPTNEG, version 6), as an MTA opens with.
std::string optneg_packet() {
    std::string p;
    auto u32 = [&](std::uint32_t v) {
        for (int s = 24; s >= 0; s -= 8) p.push_back(static_cast<char>((v >> s) & 0xff));
    };
    u32(13);
    p.push_back('O');
    u32(6);
    u32(mc::proto::kAllActions);
    u32(mc::proto::kPostfixSteps);
    return p;
}

void flood(rlim_t milter_nofile) {
    rlimit original{};
    ASSERT_EQ(::getrlimit(RLIMIT_NOFILE, &original), 0);
    if (original.rlim_max < kConnections + 500) {
        GTEST_SKIP() << "RLIMIT_NOFILE hard limit " << original.rlim_max << " < " << kConnections;
    }
    test_support::MilterTempDir dir;
    // The milter inherits the limit it is started with.
    rlimit for_milter{std::min(milter_nofile, original.rlim_max), original.rlim_max};
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &for_milter), 0);
    FaultMilter milter(dir.path(), demo_config((dir.path() / "spool.db").string()));
    rlimit for_test{original.rlim_max, original.rlim_max};
    ASSERT_EQ(::setrlimit(RLIMIT_NOFILE, &for_test), 0);
    ASSERT_TRUE(milter.wait_ready()) << milter.log();
    const std::string path = milter.socket_path();
    const std::string socket = milter.socket();

    // Warm up, then the baseline.
    for (int i = 0; i < 50; ++i) {
        auto t = send_timed(socket, demo_spoof("QW" + std::to_string(i)), 10s);
        ASSERT_TRUE(t.response && t.response->is_reject());
    }
    const long baseline_kb = milter.rss_kb();
    ASSERT_GT(baseline_kb, 0);

    // The flood: connect and negotiate as fast as possible, holding every connection.
    const std::string optneg = optneg_packet();
    std::vector<int> fds;
    fds.reserve(kConnections);
    int refused = 0;
    long peak_kb = baseline_kb, peak_threads = milter.threads();
    std::atomic<bool> sampling{true};
    std::thread sampler([&] {
        while (sampling) {
            peak_kb = std::max(peak_kb, milter.rss_kb());
            peak_threads = std::max(peak_threads, milter.threads());
            std::this_thread::sleep_for(20ms);
        }
    });
    const auto start = Clock::now();
    for (int i = 0; i < kConnections; ++i) {
        int fd = connect_unix(path);
        if (fd < 0) {
            ++refused;  // backlog full (EAGAIN): the kernel refuses, the milter never sees it
            continue;
        }
        (void)::send(fd, optneg.data(), optneg.size(), MSG_NOSIGNAL);
        fds.push_back(fd);
    }
    const double flood_ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    // While the flood is held: one real message; it is answered (queued behind the flood, or
    // served by a free worker) or refused, within the MTA's command timeout (Postfix: 30 s).
    auto during = send_timed(socket, demo_spoof("QDURING"), 10s);
    std::this_thread::sleep_for(2s);
    const bool alive_during = milter.alive();
    for (int fd : fds) ::close(fd);
    const std::size_t held = fds.size();
    fds.clear();
    std::this_thread::sleep_for(3s);
    sampling = false;
    sampler.join();

    ::testing::Test::RecordProperty("connections_held", static_cast<int>(held));
    ::testing::Test::RecordProperty("connections_refused", refused);
    ::testing::Test::RecordProperty("flood_ms", static_cast<int>(flood_ms));
    ::testing::Test::RecordProperty("rss_baseline_kb", static_cast<int>(baseline_kb));
    ::testing::Test::RecordProperty("rss_peak_kb", static_cast<int>(peak_kb));
    ::testing::Test::RecordProperty("threads_peak", static_cast<int>(peak_threads));
    std::printf(
        "flood: %zu held, %d refused in %.0f ms; RSS %ld kB -> peak %ld kB; threads "
        "peak %ld; message during flood: %s in %.0f ms\n",
        held, refused, flood_ms, baseline_kb, peak_kb, peak_threads,
        during.response ? std::string(1, during.response->code).c_str()
                        : during.response.error().message.c_str(),
        during.ms);

    ASSERT_TRUE(alive_during) << milter.log();
    ASSERT_TRUE(milter.alive()) << milter.log();
    EXPECT_EQ(held + static_cast<std::size_t>(refused), static_cast<std::size_t>(kConnections));
    EXPECT_LT(peak_kb - baseline_kb, kMaxFloodGrowthKb);
    if (during.response) {
        EXPECT_TRUE(during.response->is_reject()) << during.response->code;
    }

    // Afterwards: the same verdicts, promptly, and the memory given back.
    for (int i = 0; i < 50; ++i) {
        auto t = send_timed(socket, demo_spoof("QA" + std::to_string(i)), 10s);
        ASSERT_TRUE(t.response) << t.response.error().message << "\n" << milter.log();
        EXPECT_TRUE(t.response->is_reject());
        EXPECT_LT(t.ms, 2000.0);
    }
    const long after_kb = milter.rss_kb();
    ::testing::Test::RecordProperty("rss_after_kb", static_cast<int>(after_kb));
    EXPECT_LT(after_kb - baseline_kb, kMaxGrowthAfterKb) << "baseline " << baseline_kb;
    EXPECT_EQ(milter.stop(), 0) << milter.log();
}

TEST(FaultMeasured, TenThousandConnectionsAtOnceWithDefaultDescriptorLimit) {
    flood(1024);
}

TEST(FaultMeasured, TenThousandConnectionsAtOnceWithRoomForAll) {
    flood(kConnections + 1000);
}

}  // namespace
}  // namespace dmarc::fault
