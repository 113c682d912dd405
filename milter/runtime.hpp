// The process side of dmarc-milter: builds immutable Snapshots (configuration, IgnoreHosts, PSL,
// DNS resolver) from files, swaps them in atomically on reload, and implements Services for the
// sessions: logging, history, clock, sampling, counters.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "milter/history_file.hpp"
#include "milter/log.hpp"
#include "milter/session.hpp"

namespace dmarc::milter {

// Where verdicts go besides the log. HistoryFileSink writes OpenDMARC's text; the SQLite spool
// (HistoryDatabase: io/spool's SpoolWriter, being built on branch `store`) is to be added as a
// second sink in Runtime::open_history() — record() must not block, flush() runs at SIGTERM.
class HistorySink {
  public:
    virtual ~HistorySink() = default;
    virtual Result<void> record(const MessageVerdict& verdict, const Envelope& envelope,
                                std::int64_t received) noexcept = 0;
    virtual void flush() noexcept {}
    virtual std::string describe() const = 0;
};

class HistoryFileSink final : public HistorySink {
  public:
    explicit HistoryFileSink(std::unique_ptr<HistoryFile> file) : file_(std::move(file)) {}
    Result<void> record(const MessageVerdict& verdict, const Envelope& envelope,
                        std::int64_t received) noexcept override;
    std::string describe() const override { return "HistoryFile " + file_->path(); }
    HistoryFile& file() { return *file_; }

  private:
    std::unique_ptr<HistoryFile> file_;
};

// Reads the configuration file: the text's diagnostics, or an error if it cannot be read.
Result<config::LoadResult> load_config_file(const std::string& path);

struct Counters {
    std::atomic<std::uint64_t> messages{0};
    std::atomic<std::uint64_t> history_written{0};
    std::atomic<std::uint64_t> history_failures{0};
    std::atomic<std::uint64_t> internal_errors{0};
    std::atomic<std::uint64_t> reloads{0};
    std::atomic<std::uint64_t> reload_failures{0};
};

class Runtime final : public Services {
  public:
    Runtime(Logger& logger, std::string config_path);

    // Builds a snapshot from config: reads IgnoreHosts, DomainWhitelistFile, the PSL, and sets up
    // DNS (TestDNSData: an in-memory zone; otherwise libunbound). previous: reuse its resolver
    // when the DNS settings did not change (keeps the cache warm across reloads).
    Result<std::shared_ptr<const Snapshot>> build_snapshot(const config::MilterConfig& config,
                                                           const Snapshot* previous);
    void install(std::shared_ptr<const Snapshot> snapshot);
    // Opens the history sinks for config (start-up and reload; a path that did not change keeps
    // its open file).
    void open_history(const config::MilterConfig& config);

    // SIGHUP/SIGUSR1: re-read the file given at start; all or nothing.
    bool reload();
    // Applied to every configuration read from the file (command-line -p, -P, -u, -f, -l).
    std::function<void(config::MilterConfig&)> overrides;

    // SIGTERM: from now on new connections are deferred; then waits until every message that
    // had started (MAIL FROM seen) is finished, or until timeout. libmilter cannot be stopped
    // first: its worker pool stops serving idle sessions once smfi_stop() is called.
    bool drain(std::chrono::milliseconds timeout);
    void flush_history() noexcept;
    std::string stats_line() const;
    const Counters& counters() const { return counters_; }

    // Services
    std::shared_ptr<const Snapshot> snapshot() override;
    void log(LogLevel level, std::string_view line) noexcept override;
    void record(const MessageVerdict& verdict, const Envelope& envelope,
                std::int64_t received) noexcept override;
    std::int64_t now() noexcept override;
    std::uint64_t now_ms() noexcept override;
    std::uint8_t pct_sample() noexcept override;
    std::uint64_t message_started() noexcept override;
    void message_finished(std::uint64_t sequence) noexcept override;
    bool draining() noexcept override { return draining_.load(); }
    void count_internal_error() noexcept override { ++counters_.internal_errors; }

  private:
    Logger& logger_;
    std::string config_path_;
    std::atomic<std::shared_ptr<const Snapshot>> current_;
    std::atomic<std::uint64_t> generation_{0};
    std::mutex history_mutex_;
    std::vector<std::shared_ptr<HistorySink>> sinks_;
    Counters counters_;
    std::mutex idle_mutex_;
    std::condition_variable idle_cv_;
    std::set<std::uint64_t> in_flight_;  // sequence numbers of messages in progress
    std::uint64_t last_sequence_ = 0;
    std::atomic<bool> draining_{false};
};

}  // namespace dmarc::milter
