// Failure reports (RFC 6591 AFRF as updated by RFC 9991; OpenDMARC's FailureReports): the
// sessions hand a failed message's verdict and header block over at end-of-message; one
// background thread verifies each ruf destination (RFC 9991: external destinations MUST be
// verified), applies NoReportsList and the per-address rate limit (a MUST there), composes the
// report (core/failure_report) and pipes it to ReportCommand. Nothing here delays mail: a full
// queue or a failing command is logged and counted. A destination whose check met a DNS
// temperror is checked again later (after 1, 5 and 15 minutes), with the configuration of the
// time; after the last try it is given up and logged.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <vector>

#include "core/report_destinations.hpp"
#include "core/verdict.hpp"
#include "milter/session.hpp"

namespace dmarc::milter {

struct FailureReportJob {
    MessageVerdict verdict;
    Envelope envelope;
    std::vector<HeaderField> headers;
    std::int64_t arrival = 0;
    bool to_policy_domain = false;  // ruf destinations too, not only FailureReportsBcc
    std::shared_ptr<const Snapshot> snapshot;
    // A later try (DNS temperror): only these ruf URIs, as published, and no FailureReportsBcc
    // copy (that went with the first try).
    int attempt = 0;
    std::vector<std::string> retry_uris;
};

// Whether a verdict gets a report: ruf destinations when the record's fo= asks for one
// (core failure_report_trigger), a FailureReportsBcc copy for every DMARC failure under the
// same policy gate (OpenDMARC: reject or quarantine, none with FailureReportsOnNone).
struct FailureReportPlan {
    bool to_policy_domain = false;
    bool to_bcc = false;
    bool any() const noexcept { return to_policy_domain || to_bcc; }
};
FailureReportPlan plan_failure_report(const MessageVerdict& verdict,
                                      const config::MilterConfig& config);

// Runs `command` with /bin/sh -c, `input` on its standard input. Ok when it exits 0 within
// timeout; otherwise the error holds the exit status and the first line of its output.
Result<void> run_report_command(const std::string& command, std::string_view input,
                                std::chrono::milliseconds timeout);

// Addresses and domains never sent failure reports (NoReportsList): one per line, # comments.
// A line that is neither an address nor a domain is an error naming the line.
Result<std::vector<Suppression>> parse_no_reports_list(std::string_view text);

// At most `per_hour` reports per destination address in any hour (a sliding window).
class RateLimiter {
  public:
    // true (and the send counted) when `address` is under its limit at `now` (seconds).
    bool allow(const std::string& address, std::int64_t now, std::uint32_t per_hour);

  private:
    std::unordered_map<std::string, std::deque<std::int64_t>> sent_;
};

struct FailureReportCounts {
    std::uint64_t sent = 0;          // reports the command accepted
    std::uint64_t failed = 0;        // the command failed, or the report could not be composed
    std::uint64_t dropped = 0;       // the queue was full
    std::uint64_t rate_limited = 0;  // destinations left out by FailureReportsRate
    std::uint64_t refused = 0;       // destinations not authorised, ignored or in NoReportsList
    std::uint64_t deferred = 0;      // destinations whose check is tried again (DNS temperror)
};

class FailureReporter {
  public:
    using LogFn = std::function<void(LogLevel, std::string_view)>;
    using Clock = std::function<std::int64_t()>;
    // The snapshot of the moment (a later try follows a reload); null: the job's own.
    using SnapshotFn = std::function<std::shared_ptr<const Snapshot>()>;
    // The waits before each later try of a destination whose check met a DNS temperror.
    static std::vector<std::chrono::milliseconds> default_retry_delays();
    FailureReporter(LogFn log, Clock now, SnapshotFn current = nullptr,
                    std::vector<std::chrono::milliseconds> retry_delays = default_retry_delays());
    ~FailureReporter();
    FailureReporter(const FailureReporter&) = delete;
    FailureReporter& operator=(const FailureReporter&) = delete;

    // Queues a report (the thread starts with the first one, after any fork). false when the
    // queue is full: the report is counted as dropped.
    bool submit(FailureReportJob job) noexcept;
    // Waits until nothing is queued or being sent, up to timeout (SIGTERM, tests). Tries
    // waiting for their time are not waited for: they are given up when the reporter stops.
    bool drain(std::chrono::milliseconds timeout);
    FailureReportCounts counts() const;

    static constexpr std::size_t kQueueCapacity = 256;
    static constexpr std::size_t kRetryCapacity = 256;  // reports waiting for a later try
    static constexpr std::chrono::seconds kCommandTimeout{60};

  private:
    void run();
    void send(const FailureReportJob& job);
    // Keeps `job` for a later try of `uris` (their checks met a DNS temperror), or refuses them
    // when kRetryCapacity reports already wait; logs which and counts into `add`.
    void defer(const FailureReportJob& job, std::vector<std::string> uris, const std::string& qid,
               FailureReportCounts& add);
    // Under mutex_: moves the tries whose time has come to the queue.
    void promote_due(std::chrono::steady_clock::time_point now);

    struct Delayed {
        std::chrono::steady_clock::time_point due;
        FailureReportJob job;
    };

    LogFn log_;
    Clock now_;
    SnapshotFn current_;
    std::vector<std::chrono::milliseconds> retry_delays_;
    std::string redaction_key_;  // random per process: tokens correlate within one run only
    mutable std::mutex mutex_;
    std::condition_variable wake_, idle_;
    std::deque<FailureReportJob> queue_;
    std::vector<Delayed> delayed_;  // later tries, in no order (at most kRetryCapacity)
    bool busy_ = false, stopping_ = false;
    FailureReportCounts counts_;
    RateLimiter limiter_;  // the worker thread's only
    std::thread thread_;
};

}  // namespace dmarc::milter
