// Snapshots, reload and Services for dmarc-milter (see runtime.hpp).
#include "milter/runtime.hpp"

#include <algorithm>
#include <chrono>
#include <ctime>
#include <random>
#include <thread>

#include <fmt/format.h>

#include "core/history_text.hpp"
#include "core/limits.hpp"
#include "core/memory_resolver.hpp"
#include "core/text.hpp"
#include "io/file.hpp"
#include "io/record_cache.hpp"
#include "io/thread_name.hpp"
#if __has_include("io/dns.hpp")
#include "io/dns.hpp"
#define DMARC_MILTER_HAVE_UNBOUND 1
#endif

namespace dmarc::milter {
namespace {

bool same_dns_settings(const config::MilterConfig& a, const config::MilterConfig& b) {
    return a.test_dns_data == b.test_dns_data && a.dns_timeout_s == b.dns_timeout_s &&
           a.nameservers == b.nameservers && a.trust_anchor_file == b.trust_anchor_file;
}

Result<std::shared_ptr<DnsResolver>> make_resolver(const config::MilterConfig& config) {
    if (!config.test_dns_data.empty()) {
        auto text = io::load_file(config.test_dns_data, limits::kMaxConfigFileBytes * 16);
        if (!text) return tl::unexpected(text.error());
        auto zone = MemoryResolver::parse(*text);
        if (!zone) {
            return make_error(zone.error().code,
                              "TestDNSData " + config.test_dns_data + ": " + zone.error().message);
        }
        return std::shared_ptr<DnsResolver>(std::make_shared<MemoryResolver>(std::move(*zone)));
    }
#ifdef DMARC_MILTER_HAVE_UNBOUND
    io::DnsOptions options;
    options.timeout = std::chrono::seconds(config.dns_timeout_s);
    options.nameservers = config.nameservers;
    options.trust_anchor_file = config.trust_anchor_file;
    auto resolver = io::make_unbound_resolver(options);
    if (!resolver) return tl::unexpected(resolver.error());
    return std::shared_ptr<DnsResolver>(std::move(*resolver));
#else
    return make_error(Errc::invalid_value,
                      "this build has no DNS resolver (io/dns); set TestDNSData");
#endif
}

}  // namespace

HistoryFileSink::HistoryFileSink(std::unique_ptr<HistoryFile> file,
                                 std::function<void(const HistoryFileOutcome&)> on_outcome)
    : file_(std::move(file)), on_outcome_(std::move(on_outcome)) {
    try {
        writer_ = std::thread([this] {
            io::name_this_thread("dmarc-histfile");
            writer_loop();
        });
        running_ = true;
    } catch (...) {
        // No thread: record() appends on the caller, as after flush().
    }
}

HistoryFileSink::~HistoryFileSink() {
    flush();
}

void HistoryFileSink::write(const std::string& text, std::uint64_t records,
                            bool may_wait) noexcept {
    HistoryFileOutcome outcome;
    // A lock held by another process is waited for while the milter runs, up to
    // kFlushLockWait once flush() began, and not at all on a caller's thread.
    auto keep_waiting = [this, may_wait] {
        if (!may_wait) return false;
        std::lock_guard lock(mutex_);
        return !stop_ || std::chrono::steady_clock::now() < give_up_at_;
    };
    // One write(2) for the batch: whole records, appended under one flock (history_file.hpp).
    if (auto r = file_->append(text, keep_waiting)) {
        outcome.written = records;
    } else {
        outcome.lost = records;
        outcome.error = r.error().message;
    }
    outcome.warning = file_->take_warning();
    try {
        if (on_outcome_) on_outcome_(outcome);
    } catch (...) {
    }
}

void HistoryFileSink::writer_loop() {
    std::string batch;
    std::unique_lock lock(mutex_);
    while (true) {
        wake_.wait(lock, [&] { return stop_ || queued_records_ > 0; });
        if (queued_records_ == 0) break;  // stopping, nothing left
        batch.clear();
        batch.swap(queued_);
        const std::uint64_t records = std::exchange(queued_records_, 0);
        lock.unlock();
        write(batch, records, true);
        lock.lock();
    }
}

void HistoryFileSink::flush() noexcept {
    {
        std::lock_guard lock(mutex_);
        if (!running_) return;
        stop_ = true;
        give_up_at_ = std::chrono::steady_clock::now() + kFlushLockWait;
    }
    wake_.notify_one();
    if (writer_.joinable()) writer_.join();
    std::lock_guard lock(mutex_);
    running_ = false;
}

Result<void> HistoryFileSink::record(const MessageVerdict& verdict, const Envelope& envelope,
                                     std::int64_t received) noexcept {
    // OpenDMARC writes only messages whose From domain had a record, unless RecordAllMessages.
    if (!verdict.evaluated || (!verdict.evaluation.published && !record_all_)) return {};
    try {
        std::string text = to_history_text(to_history_record(verdict, envelope, received));
        {
            std::lock_guard lock(mutex_);
            if (running_) {
                if (queued_.size() + text.size() > kMaxQueuedBytes) {
                    return make_error(Errc::limit, "HistoryFile writer behind by " +
                                                       std::to_string(queued_.size()) +
                                                       " bytes; record dropped");
                }
                queued_ += text;
                // Woken for the first record only: the rest of a burst joins its batch.
                if (++queued_records_ == 1) wake_.notify_one();
                return {};
            }
        }
        write(text, 1, false);  // after flush() (shutdown, or this sink replaced by a reload)
        return {};
    } catch (const std::exception& e) {
        return make_error(Errc::internal, e.what());
    }
}

Result<void> SpoolSink::record(const MessageVerdict& verdict, const Envelope& envelope,
                               std::int64_t received) noexcept {
    try {
        if (!writer_->submit(to_spool_row(verdict, envelope, received))) {
            return make_error(Errc::limit, "spool queue full; row dropped");
        }
        return {};
    } catch (const std::exception& e) {
        return make_error(Errc::internal, e.what());
    }
}

void SpoolSink::flush() noexcept {
    try {
        writer_->flush();
    } catch (...) {
        // Nothing to do at shutdown: the writer has counted what it could not commit.
    }
}

Result<config::LoadResult> load_config_file(const std::string& path) {
    auto text = io::load_file(path, limits::kMaxConfigFileBytes);
    if (!text) return tl::unexpected(text.error());
    return config::parse_milter_config(*text);
}

Runtime::Runtime(Logger& logger, std::string config_path)
    : logger_(logger),
      config_path_(std::move(config_path)),
      failure_reporter_([this](LogLevel level, std::string_view line) { log(level, line); },
                        [this] { return now(); }, [this] { return snapshot(); }) {}

Runtime::~Runtime() {
    flush_history();
}

Result<std::shared_ptr<const Snapshot>> Runtime::build_snapshot(const config::MilterConfig& config,
                                                                const Snapshot* previous) {
    auto snap = std::make_shared<Snapshot>();
    snap->config = config;
    if (!config.ignore_hosts.empty()) {
        auto text = io::load_file(config.ignore_hosts, limits::kMaxIgnoreHostsFileBytes);
        if (!text) return tl::unexpected(text.error());
        std::vector<IgnoreHostList::Issue> issues;
        auto list = IgnoreHostList::parse(*text, &issues);
        if (!list) {
            return make_error(list.error().code,
                              "IgnoreHosts " + config.ignore_hosts + ": " + list.error().message);
        }
        for (const auto& i : issues) {
            log(LogLevel::warning,
                fmt::format("IgnoreHosts {} line {}: {}", config.ignore_hosts, i.line, i.message));
        }
        snap->ignore_hosts = std::move(*list);
    }
    if (!config.domain_whitelist_file.empty()) {
        auto text = io::load_file(config.domain_whitelist_file, limits::kMaxConfigFileBytes);
        if (!text) return tl::unexpected(text.error());
        std::string_view rest = *text;
        while (!rest.empty()) {
            auto eol = rest.find('\n');
            auto line = text::trim(rest.substr(0, eol));
            rest = eol == std::string_view::npos ? std::string_view() : rest.substr(eol + 1);
            if (line.empty() || line.front() == '#') continue;
            snap->config.domain_whitelist.push_back(text::lower(line));
        }
    }
    if (!config.public_suffix_list.empty()) {
        // Read again on every reload, even under the same path: that is how a new list arrives.
        auto text = io::load_file(config.public_suffix_list, limits::kMaxPublicSuffixListBytes);
        if (!text) return tl::unexpected(text.error());
        auto psl = PublicSuffixList::parse(*text);
        if (!psl) {
            return make_error(psl.error().code, "PublicSuffixList " + config.public_suffix_list +
                                                    ": " + psl.error().message);
        }
        snap->psl = std::make_shared<const PublicSuffixList>(std::move(*psl));
    } else if (config.policy_discovery == config::PolicyDiscovery::psl) {
        return make_error(Errc::invalid_value, "PolicyDiscovery psl needs PublicSuffixList");
    }
    if (previous && previous->dns && same_dns_settings(previous->config, config) &&
        config.test_dns_data.empty()) {
        snap->dns = previous->dns;
    } else {
        auto dns = make_resolver(config);
        if (!dns) return tl::unexpected(dns.error());
        snap->dns = std::move(*dns);
        snap->test_resolver = dynamic_cast<MemoryResolver*>(snap->dns.get());
    }
    if (!config.no_reports_list.empty()) {
        auto text = io::load_file(config.no_reports_list, limits::kMaxConfigFileBytes);
        if (!text) return tl::unexpected(text.error());
        auto list = parse_no_reports_list(*text);
        if (!list) {
            return make_error(list.error().code, "NoReportsList " + config.no_reports_list + ": " +
                                                     list.error().message);
        }
        snap->no_reports = std::move(*list);
    }
    snap->records = previous && previous->records ? previous->records
                                                  : std::make_shared<io::SharedRecordCache>();
    snap->generation = ++generation_;
    return std::shared_ptr<const Snapshot>(std::move(snap));
}

void Runtime::install(std::shared_ptr<const Snapshot> snapshot) {
    current_.store(std::move(snapshot));
}

void Runtime::open_history(const config::MilterConfig& config) {
    std::lock_guard lock(history_mutex_);
    std::vector<std::shared_ptr<HistorySink>> sinks;
    if (!config.history_file.empty()) {
        std::shared_ptr<HistorySink> kept;
        for (const auto& s : sinks_) {
            auto* f = dynamic_cast<HistoryFileSink*>(s.get());
            if (f && f->file().path() == config.history_file) kept = s;
        }
        if (kept) {
            sinks.push_back(kept);
        } else if (auto file = HistoryFile::open(config.history_file)) {
            sinks.push_back(std::make_shared<HistoryFileSink>(
                std::move(*file),
                [this, path = config.history_file](const HistoryFileOutcome& outcome) {
                    history_file_outcome(path, outcome);
                }));
        } else {
            // OpenDMARC tempfails every message here (§8.2 #23); we log, count and go on.
            logger_.log(LogLevel::error, file.error().message + "; history is not written");
        }
        if (!sinks.empty()) {
            static_cast<HistoryFileSink&>(*sinks.back()).set_record_all(config.record_all_messages);
        }
    }
    if (!config.history_database.empty()) {
        std::shared_ptr<HistorySink> kept;
        for (const auto& s : sinks_) {
            auto* spool = dynamic_cast<SpoolSink*>(s.get());
            if (spool && spool->path() == config.history_database) kept = s;
        }
        if (kept) {
            sinks.push_back(kept);
        } else {
            io::SpoolWriterOptions options;
            options.path = config.history_database;
            Logger* logger = &logger_;
            std::string path = config.history_database;
            options.on_error = [logger, path](const Error& error, std::uint64_t rows_lost) {
                logger->log(LogLevel::error, fmt::format("HistoryDatabase {}: {}; {} row(s) lost",
                                                         path, error.message, rows_lost));
            };
            if (auto writer = io::SpoolWriter::open(std::move(options))) {
                sinks.push_back(std::make_shared<SpoolSink>(std::move(*writer), path));
            } else {
                // Like the HistoryFile: history trouble is logged and counted, never felt by mail.
                logger_.log(LogLevel::error, "HistoryDatabase " + path + ": " +
                                                 writer.error().message + "; spool is not written");
            }
        }
    }
    for (const auto& old : sinks_) {
        if (std::find(sinks.begin(), sinks.end(), old) == sinks.end()) old->flush();
    }
    sinks_ = std::move(sinks);
}

bool Runtime::reload() {
    ++counters_.reloads;
    auto loaded = load_config_file(config_path_);
    if (!loaded) {
        ++counters_.reload_failures;
        log(LogLevel::error,
            "reload: " + loaded.error().message + "; keeping the old configuration");
        return false;
    }
    for (const auto& d : loaded->diagnostics) {
        log(d.level == config::Diagnostic::Level::error ? LogLevel::error : LogLevel::warning,
            "reload: " + config_path_ + ": " + config::to_string(d));
    }
    if (!loaded->ok()) {
        ++counters_.reload_failures;
        log(LogLevel::error, "reload: configuration has errors; keeping the old configuration");
        return false;
    }
    if (overrides) overrides(loaded->config);
    auto previous = current_.load();
    auto snap = build_snapshot(loaded->config, previous.get());
    if (!snap) {
        ++counters_.reload_failures;
        log(LogLevel::error, "reload: " + snap.error().message + "; keeping the old configuration");
        return false;
    }
    open_history((*snap)->config);
    install(*snap);
    log(LogLevel::notice, fmt::format("configuration reloaded from {} (generation {})",
                                      config_path_, (*snap)->generation));
    return true;
}

bool Runtime::drain(std::chrono::milliseconds timeout) {
    draining_ = true;
    // With no-reply steps the MTA does not wait for us, so a MAIL FROM sent just before the
    // signal may still sit unread in a socket buffer: give those a moment to register.
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
    std::unique_lock lock(idle_mutex_);
    std::uint64_t last = last_sequence_;
    return idle_cv_.wait_for(lock, timeout,
                             [&] { return in_flight_.empty() || *in_flight_.begin() > last; });
}

void Runtime::flush_history() noexcept {
    std::lock_guard lock(history_mutex_);
    for (const auto& s : sinks_) s->flush();
}

void Runtime::finish_failure_reports(std::chrono::milliseconds timeout) noexcept {
    try {
        if (!failure_reporter_.drain(timeout)) {
            log(LogLevel::warning, "failure reports still queued at exit were not sent");
        }
    } catch (...) {
    }
}

std::string Runtime::stats_line() const {
    auto reports = failure_reporter_.counts();
    std::string dns;
#ifdef DMARC_MILTER_HAVE_UNBOUND
    // The resolver's own counts (a TestDNSData zone has none): lookups, those answered without a
    // query, queries sent upstream, and those cut off at DNSTimeout.
    if (auto snap = current_.load()) {
        if (const auto* unbound = dynamic_cast<const io::UnboundResolver*>(snap->dns.get())) {
            const io::DnsStats s = unbound->stats();
            dns = fmt::format(" dns_lookups={} dns_cache_hits={} dns_upstream={} dns_timeouts={}",
                              s.lookups, s.cache_hits, s.upstream, s.timeouts);
        }
    }
#endif
    return fmt::format(
        "stats: messages={} history_written={} history_failures={} internal_errors={} "
        "reloads={} reload_failures={} failure_reports_sent={} failure_reports_failed={} "
        "failure_reports_dropped={} failure_reports_rate_limited={} "
        "failure_report_destinations_refused={} failure_report_destinations_deferred={} "
        "waited_on_dns={}{}",
        counters_.messages.load(), counters_.history_written.load(),
        counters_.history_failures.load(), counters_.internal_errors.load(),
        counters_.reloads.load(), counters_.reload_failures.load(), reports.sent, reports.failed,
        reports.dropped, reports.rate_limited, reports.refused, reports.deferred,
        counters_.dns_waits.load(), dns);
}

std::shared_ptr<const Snapshot> Runtime::snapshot() {
    return current_.load();
}

void Runtime::log(LogLevel level, std::string_view line) noexcept {
    logger_.log(level, line);
}

void Runtime::record(const MessageVerdict& verdict, const Envelope& envelope,
                     std::int64_t received) noexcept {
    std::vector<std::shared_ptr<HistorySink>> sinks;
    {
        std::lock_guard lock(history_mutex_);
        sinks = sinks_;
    }
    for (const auto& sink : sinks) {
        auto r = sink->record(verdict, envelope, received);
        if (r) {
            if (!sink->counts_itself()) ++counters_.history_written;
        } else {
            count_history_lost(envelope.queue_id + ": " + sink->describe(), r.error().message, 1);
        }
    }
}

void Runtime::count_history_lost(const std::string& where, const std::string& why,
                                 std::uint64_t records) noexcept {
    try {
        const auto before = counters_.history_failures.fetch_add(records);
        const auto after = before + records;
        // Logged for the first loss and then once per 1000 more, with the running count.
        if (before == 0 || before / 1000 != after / 1000) {
            log(LogLevel::error,
                fmt::format("{}: {} (history records lost so far: {})", where, why, after));
        }
    } catch (...) {
    }
}

void Runtime::history_file_outcome(const std::string& path,
                                   const HistoryFileOutcome& outcome) noexcept {
    counters_.history_written += outcome.written;
    if (outcome.lost > 0) count_history_lost("HistoryFile " + path, outcome.error, outcome.lost);
    if (!outcome.warning.empty()) log(LogLevel::warning, outcome.warning);
}

void Runtime::report_failure(const MessageVerdict& verdict, const Envelope& envelope,
                             const std::vector<HeaderField>& headers,
                             std::int64_t received) noexcept {
    try {
        auto snap = snapshot();
        if (!snap) return;
        auto plan = plan_failure_report(verdict, snap->config);
        if (!plan.any()) return;
        FailureReportJob job{verdict,         envelope, headers, received, plan.to_policy_domain,
                             std::move(snap), 0,        {}};
        failure_reporter_.submit(std::move(job));
    } catch (...) {
        count_internal_error();
    }
}

std::int64_t Runtime::now() noexcept {
    return static_cast<std::int64_t>(std::time(nullptr));
}

std::uint64_t Runtime::now_ms() noexcept {
    return static_cast<std::uint64_t>(std::chrono::duration_cast<std::chrono::milliseconds>(
                                          std::chrono::steady_clock::now().time_since_epoch())
                                          .count());
}

std::uint8_t Runtime::pct_sample() noexcept {
    thread_local std::mt19937 engine{[] {
        try {
            return std::random_device{}();
        } catch (...) {
            return static_cast<unsigned>(std::time(nullptr));
        }
    }()};
    return static_cast<std::uint8_t>(std::uniform_int_distribution<int>(0, 99)(engine));
}

std::uint64_t Runtime::message_started() noexcept {
    ++counters_.messages;
    std::lock_guard lock(idle_mutex_);
    std::uint64_t sequence = ++last_sequence_;
    try {
        in_flight_.insert(sequence);
    } catch (...) {
        // Out of memory: this message is simply not waited for at shutdown.
    }
    return sequence;
}

void Runtime::message_finished(std::uint64_t sequence) noexcept {
    std::lock_guard lock(idle_mutex_);
    in_flight_.erase(sequence);
    idle_cv_.notify_all();
}

}  // namespace dmarc::milter
