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
#include <thread>
#include <vector>

#include "core/config.hpp"
#include "io/spool.hpp"
#include "milter/failure_reports.hpp"
#include "milter/history_file.hpp"
#include "milter/log.hpp"
#include "milter/session.hpp"

namespace dmarc::milter {

// Where verdicts go besides the log: every evaluated message is offered to each sink, which
// keeps what its format holds. HistoryFileSink writes OpenDMARC's text (messages with a policy,
// or all with RecordAllMessages); SpoolSink queues every evaluated message for the SQLite spool
// (HistoryDatabase). record() must not block; flush() runs at SIGTERM.
class HistorySink {
  public:
    virtual ~HistorySink() = default;
    virtual Result<void> record(const MessageVerdict& verdict, const Envelope& envelope,
                                std::int64_t received) noexcept = 0;
    virtual void flush() noexcept {}
    virtual std::string describe() const = 0;
    // True when the sink counts written and lost records itself, when they reach the disk
    // (HistoryFileSink's writer); the caller then counts only what record() refused.
    virtual bool counts_itself() const noexcept { return false; }
};

// What a HistoryFileSink writer batch came to: records written, records lost and why, and a
// warning (a rotated file that could not be reopened).
struct HistoryFileOutcome {
    std::uint64_t written = 0;
    std::uint64_t lost = 0;
    std::string error;
    std::string warning;
};

// OpenDMARC's HistoryFile, appended by a writer thread: record() formats the text and queues it,
// so a lock held long by another process (flock) or a slow disk holds up the writer, never the
// milter's event thread. The queue is bounded (kMaxQueuedBytes); a record that does not fit is
// refused, and the caller counts it lost. After flush() records are appended by the caller.
class HistoryFileSink final : public HistorySink {
  public:
    static constexpr std::size_t kMaxQueuedBytes = 8u << 20;
    // flush() waits this long for a lock another process holds, then counts what is left lost.
    static constexpr std::chrono::milliseconds kFlushLockWait{2000};

    HistoryFileSink(std::unique_ptr<HistoryFile> file,
                    std::function<void(const HistoryFileOutcome&)> on_outcome);
    ~HistoryFileSink() override;
    Result<void> record(const MessageVerdict& verdict, const Envelope& envelope,
                        std::int64_t received) noexcept override;
    void flush() noexcept override;
    bool counts_itself() const noexcept override { return true; }
    std::string describe() const override { return "HistoryFile " + file_->path(); }
    HistoryFile& file() { return *file_; }
    // RecordAllMessages (re-read on reload).
    void set_record_all(bool on) noexcept { record_all_ = on; }

  private:
    void writer_loop();
    void write(const std::string& text, std::uint64_t records, bool may_wait) noexcept;

    std::unique_ptr<HistoryFile> file_;
    std::function<void(const HistoryFileOutcome&)> on_outcome_;
    std::atomic<bool> record_all_{false};
    std::mutex mutex_;
    std::condition_variable wake_;
    std::string queued_;  // whole records, in arrival order
    std::uint64_t queued_records_ = 0;
    bool stop_ = false;
    std::chrono::steady_clock::time_point give_up_at_{};  // set by flush()
    bool running_ = false;
    std::thread writer_;
};

// The SQLite spool: one row per evaluated message, handed to io::SpoolWriter's queue (never
// blocks; a full queue or a failing disk is counted and logged, never felt by mail).
class SpoolSink final : public HistorySink {
  public:
    SpoolSink(std::unique_ptr<io::SpoolWriter> writer, std::string path)
        : writer_(std::move(writer)), path_(std::move(path)) {}
    Result<void> record(const MessageVerdict& verdict, const Envelope& envelope,
                        std::int64_t received) noexcept override;
    void flush() noexcept override;
    std::string describe() const override { return "HistoryDatabase " + path_; }
    const std::string& path() const noexcept { return path_; }
    io::SpoolWriter& writer() { return *writer_; }

  private:
    std::unique_ptr<io::SpoolWriter> writer_;
    std::string path_;
};

// Reads the configuration file: the text's diagnostics, or an error if it cannot be read.
Result<config::LoadResult> load_config_file(const std::string& path);

struct Counters {
    std::atomic<std::uint64_t> messages{0};
    std::atomic<std::uint64_t> dns_waits{0};  // end-of-message decided on a worker thread
    std::atomic<std::uint64_t> history_written{0};
    std::atomic<std::uint64_t> history_failures{0};
    std::atomic<std::uint64_t> internal_errors{0};
    std::atomic<std::uint64_t> reloads{0};
    std::atomic<std::uint64_t> reload_failures{0};
};

class Runtime final : public Services {
  public:
    Runtime(Logger& logger, std::string config_path);
    // Stops the history writers first: their last batches still count into counters_.
    ~Runtime() override;

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
    // had started (MAIL FROM seen) is finished, or until timeout. The server keeps
    // accepting meanwhile (new connections get the 4xx), and is stopped after this returns.
    bool drain(std::chrono::milliseconds timeout);
    void flush_history() noexcept;
    // SIGTERM, after the drain: lets queued failure reports go out, up to timeout (the rest is
    // logged as not sent).
    void finish_failure_reports(std::chrono::milliseconds timeout) noexcept;
    std::string stats_line() const;
    const Counters& counters() const { return counters_; }

    // Services
    std::shared_ptr<const Snapshot> snapshot() override;
    void log(LogLevel level, std::string_view line) noexcept override;
    void record(const MessageVerdict& verdict, const Envelope& envelope,
                std::int64_t received) noexcept override;
    void report_failure(const MessageVerdict& verdict, const Envelope& envelope,
                        const std::vector<HeaderField>& headers,
                        std::int64_t received) noexcept override;
    std::int64_t now() noexcept override;
    std::uint64_t now_ms() noexcept override;
    std::uint8_t pct_sample() noexcept override;
    std::uint64_t message_started() noexcept override;
    void message_finished(std::uint64_t sequence) noexcept override;
    bool draining() noexcept override { return draining_.load(); }
    void count_internal_error() noexcept override { ++counters_.internal_errors; }
    void count_dns_wait() noexcept override { ++counters_.dns_waits; }

  private:
    void count_history_lost(const std::string& where, const std::string& why,
                            std::uint64_t records) noexcept;
    // A HistoryFileSink writer batch's result (on the writer's thread).
    void history_file_outcome(const std::string& path, const HistoryFileOutcome& outcome) noexcept;

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
    FailureReporter failure_reporter_;
};

}  // namespace dmarc::milter
