// Failure reports from a background thread (see failure_reports.hpp).
#include "milter/failure_reports.hpp"

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <random>

#include <fmt/format.h>
#include <fmt/ranges.h>

#include "core/failure_report.hpp"
#include "core/org_domain.hpp"
#include "core/text.hpp"
#include "io/thread_name.hpp"

extern char** environ;

namespace dmarc::milter {
namespace {

std::string random_key() {
    std::random_device device;
    std::string key;
    for (int i = 0; i < 8; ++i) key += fmt::format("{:08x}", device());
    return key;
}

std::string local_host_name() {
    std::array<char, 256> name{};
    if (::gethostname(name.data(), name.size() - 1) != 0) return "localhost";
    return std::string(name.data());
}

// The URI as published (RFC 7489 §6.2 dmarc-uri), with its size limit, for the §7.1 check.
std::string published_uri(const ReportUri& uri) {
    return uri.max_size ? uri.uri + "!" + std::to_string(*uri.max_size) : uri.uri;
}

std::string first_line(std::string_view text) {
    auto line = text::trim(text.substr(0, text.find('\n')));
    return std::string(line.substr(0, 200));
}

}  // namespace

FailureReportPlan plan_failure_report(const MessageVerdict& verdict,
                                      const config::MilterConfig& config) {
    FailureReportPlan plan;
    if (!config.failure_reports || !verdict.evaluated || !verdict.evaluation.published) {
        return plan;
    }
    plan.to_policy_domain = failure_report_trigger(verdict, config.failure_reports_on_none).wanted;
    const auto& policy = verdict.evaluation.applied_policy;
    // A report about a DMARC report could loop (RFC 9991): not even a copy.
    plan.to_bcc = !config.failure_reports_bcc.empty() && !verdict.is_dmarc_report &&
                  verdict.evaluation.result == DmarcResult::fail && policy &&
                  (*policy != Policy::none || config.failure_reports_on_none);
    return plan;
}

Result<void> run_report_command(const std::string& command, std::string_view input,
                                std::chrono::milliseconds timeout) {
    int in[2] = {-1, -1}, out[2] = {-1, -1};
    if (::pipe2(in, O_CLOEXEC) != 0) {
        return make_error(Errc::io, std::string("pipe: ") + std::strerror(errno));
    }
    if (::pipe2(out, O_CLOEXEC) != 0) {
        std::string why = std::strerror(errno);
        ::close(in[0]);
        ::close(in[1]);
        return make_error(Errc::io, "pipe: " + why);
    }
    posix_spawn_file_actions_t actions;
    posix_spawn_file_actions_init(&actions);
    posix_spawn_file_actions_adddup2(&actions, in[0], 0);
    posix_spawn_file_actions_adddup2(&actions, out[1], 1);
    posix_spawn_file_actions_adddup2(&actions, out[1], 2);
    // The milter blocks its signals in every thread (sigwait) and ignores SIGPIPE: the
    // command gets a clean signal state.
    posix_spawnattr_t attr;
    posix_spawnattr_init(&attr);
    sigset_t none, defaults;
    sigemptyset(&none);
    sigemptyset(&defaults);
    for (int sig : {SIGPIPE, SIGHUP, SIGTERM, SIGINT, SIGUSR1, SIGCHLD}) sigaddset(&defaults, sig);
    posix_spawnattr_setsigmask(&attr, &none);
    posix_spawnattr_setsigdefault(&attr, &defaults);
    posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);
    std::string shell = "/bin/sh", dash_c = "-c", text = command;
    char* argv[] = {shell.data(), dash_c.data(), text.data(), nullptr};
    pid_t pid = -1;
    int rc = ::posix_spawn(&pid, "/bin/sh", &actions, &attr, argv, environ);
    posix_spawn_file_actions_destroy(&actions);
    posix_spawnattr_destroy(&attr);
    ::close(in[0]);
    ::close(out[1]);
    if (rc != 0) {
        ::close(in[1]);
        ::close(out[0]);
        return make_error(Errc::io, "cannot run /bin/sh: " + std::string(std::strerror(rc)));
    }
    ::fcntl(in[1], F_SETFL, O_NONBLOCK);
    ::fcntl(out[0], F_SETFL, O_NONBLOCK);
    // A command that exits without reading everything makes write() raise SIGPIPE (fatal
    // unless ignored, as dmarc-milter does): blocked in this thread for the writes, and a
    // SIGPIPE they left pending is taken before the old mask comes back.
    sigset_t pipe_only, old_mask;
    sigemptyset(&pipe_only);
    sigaddset(&pipe_only, SIGPIPE);
    ::pthread_sigmask(SIG_BLOCK, &pipe_only, &old_mask);
    bool got_epipe = false;

    auto deadline = std::chrono::steady_clock::now() + timeout;
    auto left_ms = [&] {
        return static_cast<int>(
            std::max<std::int64_t>(0, std::chrono::duration_cast<std::chrono::milliseconds>(
                                          deadline - std::chrono::steady_clock::now())
                                          .count()));
    };
    std::string output;
    std::size_t written = 0;
    bool input_open = true, output_open = true, timed_out = false, short_write = false;
    if (input.empty()) {
        ::close(in[1]);
        input_open = false;
    }
    // Until the whole report is written (or refused) and the command's output is at its end:
    // a command may close its output early and still read, or exit without reading.
    while (input_open || output_open) {
        int wait = left_ms();
        if (wait == 0) {
            timed_out = true;
            break;
        }
        std::array<pollfd, 2> fds{};
        nfds_t count = 0;
        int out_at = -1, in_at = -1;
        if (output_open) {
            out_at = static_cast<int>(count);
            fds[count++] = pollfd{out[0], POLLIN, 0};
        }
        if (input_open) {
            in_at = static_cast<int>(count);
            fds[count++] = pollfd{in[1], POLLOUT, 0};
        }
        if (::poll(fds.data(), count, wait) < 0 && errno != EINTR) break;
        if (in_at >= 0 && fds[static_cast<std::size_t>(in_at)].revents != 0) {
            ssize_t n = ::write(in[1], input.data() + written, input.size() - written);
            if (n > 0) written += static_cast<std::size_t>(n);
            if (n < 0 && errno == EPIPE) got_epipe = true;
            if ((n < 0 && errno != EAGAIN && errno != EINTR) || written == input.size()) {
                short_write = written < input.size();
                ::close(in[1]);
                input_open = false;
            }
        }
        if (out_at >= 0 && fds[static_cast<std::size_t>(out_at)].revents != 0) {
            std::array<char, 4096> buffer;
            ssize_t n = ::read(out[0], buffer.data(), buffer.size());
            if (n > 0) {
                if (output.size() < 4096) output.append(buffer.data(), static_cast<std::size_t>(n));
            } else if (n == 0 || (errno != EAGAIN && errno != EINTR)) {
                output_open = false;
            }
        }
    }
    if (input_open) ::close(in[1]);
    ::close(out[0]);
    if (got_epipe && !sigismember(&old_mask, SIGPIPE)) {
        timespec now{0, 0};
        (void)::sigtimedwait(&pipe_only, nullptr, &now);
    }
    ::pthread_sigmask(SIG_SETMASK, &old_mask, nullptr);
    int status = 0;
    while (true) {
        pid_t done = ::waitpid(pid, &status, WNOHANG);
        if (done == pid || (done < 0 && errno != EINTR)) break;
        if (timed_out || left_ms() == 0) {
            timed_out = true;
            ::kill(pid, SIGKILL);
            ::waitpid(pid, &status, 0);
            break;
        }
        ::poll(nullptr, 0, 10);
    }
    if (timed_out) {
        return make_error(Errc::temporary, fmt::format("did not finish within {} s; killed",
                                                       timeout.count() / 1000));
    }
    if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && !short_write) return {};
    std::string why = WIFEXITED(status) ? fmt::format("exit status {}", WEXITSTATUS(status))
                                        : fmt::format("killed by signal {}",
                                                      WIFSIGNALED(status) ? WTERMSIG(status) : 0);
    if (short_write) why += ", did not read the whole report";
    if (auto line = first_line(output); !line.empty()) why += ": " + line;
    return make_error(Errc::io, why);
}

Result<std::vector<Suppression>> parse_no_reports_list(std::string_view text) {
    std::vector<Suppression> out;
    std::size_t number = 0;
    while (!text.empty()) {
        ++number;
        auto eol = text.find('\n');
        auto line = text::trim(text.substr(0, eol));
        text = eol == std::string_view::npos ? std::string_view() : text.substr(eol + 1);
        if (auto hash = line.find('#'); hash != std::string_view::npos) {
            line = text::trim(line.substr(0, hash));
        }
        if (line.empty()) continue;
        auto pattern = normalise_suppression_pattern(line);
        if (!pattern) {
            return make_error(Errc::invalid_value,
                              fmt::format("line {}: not an address or a domain", number));
        }
        out.push_back(Suppression{std::move(*pattern), {}, 0, std::nullopt});
    }
    return out;
}

bool RateLimiter::allow(const std::string& address, std::int64_t now, std::uint32_t per_hour) {
    // Forget addresses with nothing in the last hour before the map could grow without bound.
    if (sent_.size() > 10000) {
        std::erase_if(sent_, [now](const auto& entry) {
            return entry.second.empty() || entry.second.back() <= now - 3600;
        });
    }
    auto& times = sent_[address];
    while (!times.empty() && times.front() <= now - 3600) times.pop_front();
    if (times.size() >= per_hour) return false;
    times.push_back(now);
    return true;
}

std::vector<std::chrono::milliseconds> FailureReporter::default_retry_delays() {
    using std::chrono::minutes;
    return {minutes(1), minutes(5), minutes(15)};
}

FailureReporter::FailureReporter(LogFn log, Clock now, SnapshotFn current,
                                 std::vector<std::chrono::milliseconds> retry_delays)
    : log_(std::move(log)),
      now_(std::move(now)),
      current_(std::move(current)),
      retry_delays_(std::move(retry_delays)),
      redaction_key_(random_key()) {}

FailureReporter::~FailureReporter() {
    {
        std::lock_guard lock(mutex_);
        stopping_ = true;
    }
    wake_.notify_all();
    if (thread_.joinable()) thread_.join();
}

bool FailureReporter::submit(FailureReportJob job) noexcept {
    try {
        {
            std::lock_guard lock(mutex_);
            if (queue_.size() >= kQueueCapacity) {
                auto n = ++counts_.dropped;
                if (n == 1 || n % 100 == 0) {
                    log_(LogLevel::warning,
                         fmt::format("failure report queue full; {} report(s) dropped so far", n));
                }
                return false;
            }
            queue_.push_back(std::move(job));
            if (!thread_.joinable()) {
                thread_ = std::thread([this] {
                    io::name_this_thread("dmarc-ruf");
                    run();
                });
            }
        }
        wake_.notify_one();
        return true;
    } catch (...) {
        std::lock_guard lock(mutex_);
        ++counts_.dropped;
        return false;
    }
}

bool FailureReporter::drain(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, timeout, [this] { return queue_.empty() && !busy_; });
}

FailureReportCounts FailureReporter::counts() const {
    std::lock_guard lock(mutex_);
    return counts_;
}

void FailureReporter::promote_due(std::chrono::steady_clock::time_point now) {
    for (auto it = delayed_.begin(); it != delayed_.end();) {
        if (it->due <= now) {
            queue_.push_back(std::move(it->job));
            it = delayed_.erase(it);
        } else {
            ++it;
        }
    }
}

void FailureReporter::run() {
    std::unique_lock lock(mutex_);
    while (true) {
        if (!stopping_) promote_due(std::chrono::steady_clock::now());  // stopping: given up
        if (queue_.empty()) {
            if (stopping_) break;
            const auto ready = [this] { return stopping_ || !queue_.empty(); };
            if (delayed_.empty()) {
                wake_.wait(lock, ready);
            } else {
                auto next = std::min_element(
                    delayed_.begin(), delayed_.end(),
                    [](const Delayed& a, const Delayed& b) { return a.due < b.due; });
                wake_.wait_until(lock, next->due, ready);
            }
            continue;
        }
        FailureReportJob job = std::move(queue_.front());
        queue_.pop_front();
        busy_ = true;
        lock.unlock();
        try {
            send(job);
        } catch (const std::exception& e) {
            log_(LogLevel::error, fmt::format("failure report: internal error: {}", e.what()));
            std::lock_guard relock(mutex_);
            ++counts_.failed;
        }
        lock.lock();
        busy_ = false;
        if (queue_.empty()) idle_.notify_all();
    }
    if (!delayed_.empty()) {
        counts_.dropped += delayed_.size();
        log_(LogLevel::warning,
             fmt::format("{} failure report(s) waiting to check a destination again not sent: "
                         "stopping",
                         delayed_.size()));
        delayed_.clear();
    }
}

void FailureReporter::send(const FailureReportJob& job) {
    // A later try reads the configuration and DNS of its own time (a reload may have come).
    std::shared_ptr<const Snapshot> held = job.snapshot;
    if (job.attempt > 0 && current_) {
        if (auto now_snapshot = current_()) held = std::move(now_snapshot);
    }
    const Snapshot& snap = *held;
    const config::MilterConfig& config = snap.config;
    const Evaluation& evaluation = job.verdict.evaluation;
    const std::string qid =
        job.envelope.queue_id.empty() ? "(unknown-jobid)" : job.envelope.queue_id;
    const std::int64_t now = now_();
    FailureReportCounts add;

    struct Target {
        std::string address;
        std::optional<std::uint64_t> max_size;
    };
    std::vector<Target> targets;
    std::vector<std::string> retry_uris;  // checks that met a DNS temperror, to try again
    if (job.attempt > 0 && !config.failure_reports) {
        log_(LogLevel::info,
             fmt::format("{}: failure report not sent: FailureReports is off now", qid));
        return;
    }
    if (job.to_policy_domain && evaluation.published) {
        std::vector<std::string> uris;
        if (job.attempt > 0) {
            uris = job.retry_uris;
        } else {
            for (const auto& uri : evaluation.published->ruf) uris.push_back(published_uri(uri));
        }
        std::unique_ptr<DmarcRecordFetcher> fetcher;
        std::unique_ptr<OrgDomainFinder> finder;
        if (snap.psl) {
            finder = std::make_unique<PslOrgDomainFinder>(*snap.psl);
        } else {
            fetcher = std::make_unique<DmarcRecordFetcher>(*snap.dns, snap.records.get());
            finder = std::make_unique<TreeWalkOrgDomainFinder>(*fetcher);
        }
        for (auto& d :
             resolve_report_destinations(evaluation.policy_domain, uris, *finder, *snap.dns)) {
            if (d.status == DestinationStatus::temperror &&
                static_cast<std::size_t>(job.attempt) < retry_delays_.size()) {
                retry_uris.push_back(d.uri);
                continue;
            }
            if (d.status != DestinationStatus::deliver) {
                ++add.refused;
                log_(LogLevel::info,
                     fmt::format("{}: failure report not sent to {}: {} ({}){}", qid, d.uri,
                                 to_string(d.status), d.detail,
                                 job.attempt > 0 ? fmt::format(", try {}", job.attempt + 1)
                                                 : std::string()));
                continue;
            }
            if (std::any_of(
                    snap.no_reports.begin(), snap.no_reports.end(),
                    [&](const Suppression& s) { return suppression_matches(s, d.address, now); })) {
                ++add.refused;
                log_(LogLevel::info, fmt::format("{}: failure report not sent to {}: NoReportsList",
                                                 qid, d.address));
                continue;
            }
            if (!limiter_.allow(d.address, now, config.failure_reports_rate)) {
                ++add.rate_limited;
                log_(LogLevel::info,
                     fmt::format("{}: failure report not sent to {}: over {} an hour "
                                 "(FailureReportsRate)",
                                 qid, d.address, config.failure_reports_rate));
                continue;
            }
            targets.push_back(Target{d.address, d.max_size});
        }
    }
    // FailureReportsBcc copies go with the first try only.
    std::vector<std::string> bcc;
    if (job.attempt == 0) bcc = config.failure_reports_bcc;

    const std::string host =
        job.envelope.mta_hostname.empty() ? local_host_name() : job.envelope.mta_hostname;
    FailureReportSettings settings;
    settings.sent_by = config.failure_reports_sent_by.empty()
                           ? "dmarc-milter <postmaster@" + host + ">"
                           : config.failure_reports_sent_by;
    settings.reporting_mta = host;
    settings.redact = config.failure_reports_redact;
    settings.redaction_key = redaction_key_;
    // SPF-DNS: the SPF domain's record as the DNS has it now (usually from the cache the
    // verdict filled); compose writes it only when SPF failed.
    if (const auto& spf = job.verdict.spf; spf && !spf->domain.empty()) {
        DnsResponse answer = snap.dns->lookup(spf->domain, RrType::txt);
        if (answer.status == DnsStatus::answer) {
            for (const std::string& txt : answer.txt) {
                if (txt.size() >= 6 &&
                    text::iequals(std::string_view(txt).substr(0, 6), "v=spf1") &&
                    (txt.size() == 6 || txt[6] == ' ')) {
                    settings.spf_dns.push_back(SpfDnsRecord{spf->domain, txt});
                }
            }
        }
    }

    // A destination whose !size the report exceeds is left out (RFC 7489 §6.2: a report over
    // the limit is not sent there); composing again without it cannot make the report larger.
    // With nobody left (every ruf refused, no FailureReportsBcc) nothing is sent: each refusal
    // has been logged.
    std::optional<Result<std::string>> mail;
    while (!targets.empty() || !bcc.empty()) {
        std::vector<std::string> to;
        for (const auto& t : targets) to.push_back(t.address);
        std::vector<std::string> copies = bcc;
        if (to.empty()) to.swap(copies);
        mail = compose_failure_report(job.verdict, job.envelope, job.headers, to, copies, settings,
                                      job.arrival, now);
        if (!*mail) break;
        const std::size_t size = (*mail)->size();
        auto over = std::find_if(targets.begin(), targets.end(),
                                 [&](const Target& t) { return t.max_size && size > *t.max_size; });
        if (over == targets.end()) break;
        ++add.refused;
        log_(LogLevel::info,
             fmt::format("{}: failure report not sent to {}: {} bytes, over its size limit", qid,
                         over->address, size));
        targets.erase(over);
        mail.reset();
    }
    if (!mail) {
        // nothing to send
    } else if (!*mail) {
        ++add.failed;
        log_(LogLevel::error,
             fmt::format("{}: failure report not composed: {}", qid, mail->error().message));
    } else if (auto sent = run_report_command(config.report_command, **mail, kCommandTimeout)) {
        ++add.sent;
        std::vector<std::string> names;
        for (const auto& t : targets) names.push_back(t.address);
        for (const auto& b : bcc) names.push_back(b);
        log_(LogLevel::info, fmt::format("{}: failure report about {} sent to {}", qid,
                                         evaluation.rfc5322_from_domain, fmt::join(names, ", ")));
    } else {
        ++add.failed;
        log_(LogLevel::error, fmt::format("{}: failure report: ReportCommand \"{}\" failed: {}",
                                          qid, config.report_command, sent.error().message));
    }
    if (!retry_uris.empty()) defer(job, std::move(retry_uris), qid, add);
    std::lock_guard lock(mutex_);
    counts_.sent += add.sent;
    counts_.failed += add.failed;
    counts_.rate_limited += add.rate_limited;
    counts_.refused += add.refused;
    counts_.deferred += add.deferred;
}

void FailureReporter::defer(const FailureReportJob& job, std::vector<std::string> uris,
                            const std::string& qid, FailureReportCounts& add) {
    const auto delay = retry_delays_[static_cast<std::size_t>(job.attempt)];
    const std::string names = fmt::format("{}", fmt::join(uris, ", "));
    {
        std::lock_guard lock(mutex_);
        if (delayed_.size() < kRetryCapacity && !stopping_) {
            FailureReportJob later = job;
            later.attempt = job.attempt + 1;
            later.retry_uris = std::move(uris);
            delayed_.push_back(Delayed{std::chrono::steady_clock::now() + delay, std::move(later)});
            add.deferred += delayed_.back().job.retry_uris.size();
        } else {
            add.refused += uris.size();
            uris.clear();
        }
    }
    if (add.deferred > 0) {
        wake_.notify_one();  // the worker's next wait ends at the earliest try
        log_(LogLevel::info,
             fmt::format("{}: failure report to {} delayed: its destination check met a DNS "
                         "temperror; trying again in {:g} s (try {} of {})",
                         qid, names, static_cast<double>(delay.count()) / 1000.0, job.attempt + 2,
                         retry_delays_.size() + 1));
    } else {
        log_(LogLevel::warning,
             fmt::format("{}: failure report not sent to {}: DNS temperror, and no later try "
                         "(the milter is stopping, or {} reports already wait for one)",
                         qid, names, kRetryCapacity));
    }
}

}  // namespace dmarc::milter
