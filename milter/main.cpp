// dmarc-milter: DMARC enforcement for Postfix, a milter (protocol 6) daemon and a drop-in for
// OpenDMARC.
// Start-up follows design §6: configuration -> history, PSL, IgnoreHosts, DNS -> socket ->
// privileges -> run; signals are taken by this thread with sigwait (no async handlers).
#include <pthread.h>
#include <signal.h>
#include <sysexits.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <thread>

#include "milter/log.hpp"
#include "milter/options.hpp"
#include "milter/process.hpp"
#include "milter/runtime.hpp"
#include "milter/server.hpp"
#include "milter/test_mode.hpp"

using namespace dmarc;
using namespace dmarc::milter;

namespace {

constexpr auto kDrainTimeout = std::chrono::seconds(30);
// Queued failure reports get this long at SIGTERM (each command at most 60 s on its own).
constexpr auto kFailureReportDrainTimeout = std::chrono::seconds(10);

sigset_t handled_signals() {
    sigset_t set;
    sigemptyset(&set);
    for (int s : {SIGHUP, SIGUSR1, SIGUSR2, SIGTERM, SIGINT}) sigaddset(&set, s);
    return set;
}

// -n: the file's diagnostics, then the files it names (IgnoreHosts, PSL, TestDNSData).
int check_configuration(const config::LoadResult& loaded, Runtime& runtime) {
    for (const auto& d : loaded.diagnostics) std::cout << config::to_string(d) << "\n";
    if (!loaded.ok()) return EX_CONFIG;
    if (auto snap = runtime.build_snapshot(loaded.config, nullptr); !snap) {
        std::cout << "error: " << snap.error().message << "\n";
        return EX_CONFIG;
    }
    std::cout << "configuration OK\n";
    return EX_OK;
}

}  // namespace

int main(int argc, char** argv) {
    // 1. Command line.
    auto options = parse_options(std::vector<std::string>(argv + 1, argv + argc));
    if (!options) {
        std::cerr << "dmarc-milter: " << options.error().message << "\n";
        return EX_USAGE;
    }
    if (options->help) return std::cout << usage_text(), EX_OK;
    if (options->version) return std::cout << version_text(), EX_OK;

    // 2. Configuration (test mode may run without a file).
    config::LoadResult loaded;
    if (auto file = load_config_file(options->config_path)) {
        loaded = std::move(*file);
    } else if (!options->test_files.empty() && !options->config_path_given) {
        loaded.config = config::MilterConfig{};
    } else {
        std::cerr << "dmarc-milter: " << file.error().message << "\n";
        return EX_CONFIG;
    }
    apply_overrides(*options, loaded.config);
    // BaseDirectory: before any other file is opened, as OpenDMARC. The file itself is read
    // again at SIGHUP, so by the name it has from the directory of the start.
    std::string config_path = options->config_path;
    if (loaded.ok() && !loaded.config.base_directory.empty()) {
        std::error_code ec;
        if (auto absolute = std::filesystem::absolute(config_path, ec); !ec) {
            config_path = absolute.string();
        }
        if (::chdir(loaded.config.base_directory.c_str()) != 0) {
            std::string why =
                "BaseDirectory " + loaded.config.base_directory + ": " + std::strerror(errno);
            if (options->check_config) return std::cout << "error: " << why << "\n", EX_CONFIG;
            return std::cerr << "dmarc-milter: " << why << "\n", EX_CONFIG;
        }
    }
    Logger logger;
    logger.set_verbosity(options->verbosity);
    Runtime runtime(logger, config_path);
    runtime.overrides = [o = *options](config::MilterConfig& c) { apply_overrides(o, c); };
    if (options->check_config) return check_configuration(loaded, runtime);
    for (const auto& d : loaded.diagnostics) {
        std::cerr << options->config_path << ": " << config::to_string(d) << "\n";
    }
    if (!loaded.ok()) return EX_CONFIG;
    const config::MilterConfig& config = loaded.config;

    // 3. Offline test mode: the same decision path, no socket.
    if (!options->test_files.empty()) {
        auto snap = runtime.build_snapshot(config, nullptr);
        if (!snap) return std::cerr << "dmarc-milter: " << snap.error().message << "\n", EX_CONFIG;
        runtime.install(*snap);
        runtime.open_history(config);
        return run_test_mode(*options, runtime, std::cout);
    }

    // 4. Detach (before any thread exists) and block our signals in every thread to come.
    Daemon daemon;
    if (config.background) {
        auto d = Daemon::detach();
        if (!d) return std::cerr << "dmarc-milter: " << d.error().message << "\n", EX_OSERR;
        daemon = *d;
    }
    sigset_t signals = handled_signals();
    pthread_sigmask(SIG_BLOCK, &signals, nullptr);
    ::signal(SIGPIPE, SIG_IGN);
    if (config.syslog) {
        logger.use_syslog("dmarc-milter", config.syslog_facility);
    } else {
        logger.use_stderr();
    }
    apply_umask(config.umask);
    // Lines queued for syslog go out before the process ends on a start-up failure.
    auto fail = [&](int exit_code, const std::string& message) {
        logger.flush();
        daemon.fail(exit_code, message);
    };

    // 5. History, PSL, IgnoreHosts, DNS.
    auto snap = runtime.build_snapshot(config, nullptr);
    if (!snap) fail(EX_CONFIG, snap.error().message);
    runtime.install(*snap);
    runtime.open_history(config);

    // 6. Socket (as root if need be), pid file, then drop privileges.
    auto nodelay = open_milter_socket(config.socket, 128);
    if (!nodelay) fail(EX_OSERR, nodelay.error().message);
    if (!config.pid_file.empty()) {
        if (auto r = write_pid_file(config.pid_file); !r) fail(EX_CANTCREAT, r.error().message);
    }
    if (auto r = drop_privileges(config.user_id); !r) fail(EX_CONFIG, r.error().message);

    // 7. Run: the protocol server (server.cpp) in its own thread; this thread owns the signals.
    logger.log(LogLevel::notice, "dmarc-milter 0.1.0 starting on " + config.socket +
                                     (*nodelay > 0 ? " (TCP_NODELAY)" : ""));
    pthread_t main_thread = pthread_self();
    std::atomic<bool> stopping{false};
    int milter_status = 0;
    std::thread milter_thread([&] {
        milter_status = run_milter(runtime);
        if (!stopping) pthread_kill(main_thread, SIGUSR2);  // it ended on its own: wake main
    });
    daemon.ready();
    bool sig_was_term = false;  // SIGTERM/SIGINT (drain) rather than the server ending by itself
    while (true) {
        int sig = sigwaitinfo(&signals, nullptr);
        if (sig < 0) continue;
        if (sig == SIGHUP || sig == SIGUSR1) {
            runtime.reload();
            logger.log(LogLevel::info, runtime.stats_line());
            continue;
        }
        if (sig == SIGUSR2 && stopping) continue;
        sig_was_term = sig != SIGUSR2;
        logger.log(LogLevel::notice, sig == SIGUSR2 ? "milter server stopped; shutting down"
                                                    : "signal received; shutting down");
        break;
    }

    // 8. Stop: defer new connections, let messages in flight finish, stop accepting, flush.
    stopping = true;
    if (sig_was_term && !runtime.drain(kDrainTimeout)) {
        logger.log(LogLevel::warning, "messages still in flight after 30 s; exiting anyway");
    }
    stop_milter();
    milter_thread.join();
    runtime.flush_history();
    runtime.finish_failure_reports(kFailureReportDrainTimeout);
    logger.log(LogLevel::notice, runtime.stats_line());
    remove_pid_file(config.pid_file);
    logger.flush();
    // Connection threads are detached and may still sit in a read; leave without
    // running destructors under them (history is written with write(2), nothing is buffered).
    std::_Exit(milter_status == 0 ? EX_OK : EX_SOFTWARE);
}
