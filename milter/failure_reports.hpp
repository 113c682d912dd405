// Failure reports (RFC 6591 AFRF as updated by RFC 9991; OpenDMARC's FailureReports): the
// sessions hand a failed message's verdict and header block over at end-of-message; one
// background thread verifies each ruf destination (RFC 9991: external destinations MUST be
// verified), applies NoReportsList and the per-address rate limit (a MUST there), composes the
// report (core/failure_report) and pipes it to ReportCommand. Nothing here delays mail: a full
// queue or a failing command is logged and counted.
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
};

class FailureReporter {
  public:
    using LogFn = std::function<void(LogLevel, std::string_view)>;
    using Clock = std::function<std::int64_t()>;
    FailureReporter(LogFn log, Clock now);
    ~FailureReporter();
    FailureReporter(const FailureReporter&) = delete;
    FailureReporter& operator=(const FailureReporter&) = delete;

    // Queues a report (the thread starts with the first one, after any fork). false when the
    // queue is full: the report is counted as dropped.
    bool submit(FailureReportJob job) noexcept;
    // Waits until nothing is queued or being sent, up to timeout (SIGTERM, tests).
    bool drain(std::chrono::milliseconds timeout);
    FailureReportCounts counts() const;

    static constexpr std::size_t kQueueCapacity = 256;
    static constexpr std::chrono::seconds kCommandTimeout{60};

  private:
    void run();
    void send(const FailureReportJob& job);

    LogFn log_;
    Clock now_;
    std::string redaction_key_;  // random per process: tokens correlate within one run only
    mutable std::mutex mutex_;
    std::condition_variable wake_, idle_;
    std::deque<FailureReportJob> queue_;
    bool busy_ = false, stopping_ = false;
    FailureReportCounts counts_;
    RateLimiter limiter_;  // the worker thread's only
    std::thread thread_;
};

}  // namespace dmarc::milter
