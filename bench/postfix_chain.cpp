// Issue 4 acceptance, through Postfix: smtp-source into a private Postfix with OpenDKIM and
// dmarc-milter, and into the same chain with Debian's opendmarc in its place (same zone, same
// message, warm caches, same run, taking turns), printing msgs/s of each, the filter's and
// Postfix's CPU per message (from /proc) and the ratio (target >= 1.3x).
// Usage: postfix_chain <dmarc-milter binary> [messages]
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <sstream>
#include <string>
#include <thread>

#include "tests/support/mail_chain.hpp"

using namespace dmarc::test_support;

namespace {

struct ProcStat {
    pid_t ppid = 0;
    unsigned long long own = 0;       // utime + stime, clock ticks
    unsigned long long children = 0;  // cutime + cstime: children it has reaped
};

// /proc/PID/stat fields 4 (ppid), 14-17 (utime, stime, cutime, cstime).
ProcStat proc_stat(pid_t pid) {
    ProcStat out;
    std::string stat;
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::getline(in, stat);
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) return out;
    std::istringstream fields(stat.substr(paren + 2));
    std::string f;
    for (int i = 3; i <= 17 && fields >> f; ++i) {
        if (i == 4) out.ppid = static_cast<pid_t>(std::stol(f));
        if (i == 14 || i == 15) out.own += std::stoull(f);
        if (i == 16 || i == 17) out.children += std::stoull(f);
    }
    return out;
}

double ticks_to_seconds(unsigned long long ticks) {
    return static_cast<double>(ticks) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

// utime + stime of a process in seconds.
double cpu_seconds(pid_t pid) {
    return ticks_to_seconds(proc_stat(pid).own);
}

// CPU of the private Postfix instance: its master, every live child (smtpd, cleanup, qmgr,
// discard...) and the children the master has already reaped. Compared before and after a run,
// a child that exits in between is still counted whole (it moves into the master's cutime).
double postfix_cpu_seconds(const MailChain& chain) {
    std::ifstream pid_file(chain.directory() + "/queue/pid/master.pid");
    long master = 0;
    if (!(pid_file >> master) || master <= 0) return 0;
    const ProcStat m = proc_stat(static_cast<pid_t>(master));
    unsigned long long ticks = m.own + m.children;
    for (const auto& entry : std::filesystem::directory_iterator("/proc")) {
        const std::string name = entry.path().filename();
        if (name.empty() || name.find_first_not_of("0123456789") != std::string::npos) continue;
        const ProcStat child = proc_stat(static_cast<pid_t>(std::stol(name)));
        if (child.ppid == static_cast<pid_t>(master)) ticks += child.own;
    }
    return ticks_to_seconds(ticks);
}

struct Figures {
    double msgs_per_s = 0;
    double filter_ms_per_msg = 0;
    double postfix_ms_per_msg = 0;  // master + smtpd + cleanup + qmgr + delivery, all processes
    std::size_t evaluated = 0;      // messages the filter recorded (warm-up included)
};

bool run_smtp_source(const MailChain& chain, const std::string& message_file, int messages) {
    const std::string command =
        "/usr/sbin/smtp-source -s " +
        std::string(std::getenv("DMARC_BENCH_SESSIONS") ? std::getenv("DMARC_BENCH_SESSIONS")
                                                        : "20") +
        " -m " + std::to_string(messages) + " -f bench@attacker.example -t ana@dest.example -F " +
        message_file + " 127.0.0.1:" + std::to_string(chain.smtp_port()) + " >/dev/null";
    return std::system(command.c_str()) == 0;
}

// One chain (Postfix + OpenDKIM + one DMARC filter) and what was measured on it so far.
struct Side {
    DmarcFilter filter;
    std::unique_ptr<MailChain> chain;
    std::string message_file;
    int messages = 0;
    double seconds = 0, filter_cpu = 0, postfix_cpu = 0;

    const char* name() const {
        return filter == DmarcFilter::opendmarc ? "opendmarc" : "dmarc-milter";
    }
    bool failed(const char* what) const {
        std::ofstream("/tmp/postfix_chain-failed.log")
            << chain->postfix_log() << chain->milter_log() << "\n--- opendkim\n"
            << std::ifstream(chain->directory() + "/opendkim.log").rdbuf();
        std::cerr << what << " failed (" << name() << "); logs in /tmp/postfix_chain-failed.log\n";
        return false;
    }
};

bool start(Side& side, const std::string& milter_binary) {
    MailChainOptions options;
    options.filter = side.filter;
    options.milter_binary = milter_binary;
    options.deliver_to_sink = false;
    options.with_opendkim = std::getenv("DMARC_BENCH_NO_OPENDKIM") == nullptr;
    options.opendkim_resolver = std::getenv("DMARC_BENCH_OPENDKIM_RESOLVER") != nullptr;
    std::string error;
    side.chain = MailChain::start(options, &error);
    if (!side.chain) {
        std::cerr << side.name() << " chain did not start: " << error << "\n";
        return false;
    }
    // p=none fail: evaluated, our header added, delivered (discard). The client is 127.0.0.1
    // (smtp-source cannot XCLIENT); IgnoreHosts is empty for both filters.
    side.message_file = side.chain->directory() + "/bench.eml";
    std::ofstream(side.message_file)
        << "From: News <letter@news.example>\r\nTo: ana@dest.example\r\n"
           "Subject: bench\r\nDate: Sun, 29 Nov 2026 22:00:00 +0000\r\n"
           "Message-ID: <bench@news.example>\r\n\r\nbody\r\n";
    if (!run_smtp_source(*side.chain, side.message_file, 100)) return side.failed("warm-up");
    return true;
}

// One burst of messages into one chain: wall time and the CPU of the filter and of Postfix.
bool burst(Side& side, int messages) {
    MailChain& chain = *side.chain;
    std::this_thread::sleep_for(std::chrono::milliseconds(500));  // deliveries of the last burst
    const double filter_before = cpu_seconds(chain.milter_pid());
    const double postfix_before = postfix_cpu_seconds(chain);
    const auto begin = std::chrono::steady_clock::now();
    if (!run_smtp_source(chain, side.message_file, messages)) return side.failed("smtp-source");
    side.seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - begin).count();
    side.filter_cpu += cpu_seconds(chain.milter_pid()) - filter_before;
    // Deliveries (discard) may still run after the last SMTP reply: let the queue drain first.
    std::this_thread::sleep_for(std::chrono::milliseconds(1000));
    side.postfix_cpu += postfix_cpu_seconds(chain) - postfix_before;
    side.messages += messages;
    return true;
}

Figures figures(const Side& side) {
    Figures out;
    out.msgs_per_s = side.messages / side.seconds;
    out.filter_ms_per_msg = side.filter_cpu * 1000.0 / side.messages;
    out.postfix_ms_per_msg = side.postfix_cpu * 1000.0 / side.messages;
    // Both filters really evaluated: OpenDMARC's HistoryFile has a "job" line per message, our
    // log an OpenDMARC-shaped result line per message.
    const bool theirs = side.filter == DmarcFilter::opendmarc;
    std::ifstream in(theirs ? side.chain->directory() + "/spool/opendmarc.dat"
                            : side.chain->directory() + "/milter.log");
    std::string line;
    while (std::getline(in, line)) {
        out.evaluated += theirs ? line.starts_with("job ") : line.ends_with(" news.example fail");
    }
    const std::string log = side.chain->postfix_log();
    std::size_t rejected = 0;
    for (auto at = log.find("milter-reject"); at != std::string::npos;
         at = log.find("milter-reject", at + 1)) {
        ++rejected;
    }
    if (rejected > 0) std::cerr << "warning: " << rejected << " milter-reject lines\n";
    return out;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: postfix_chain <dmarc-milter binary> [messages]\n";
        return 64;
    }
    const int messages = argc > 2 ? std::atoi(argv[2]) : 2000;
    const bool only_ours = std::getenv("DMARC_BENCH_ONLY_OURS") != nullptr;
    // Both chains run side by side and take turns (ours, theirs, theirs, ours, ...) in rounds,
    // so a change of load on a shared machine during the run falls on both about equally.
    const int rounds = std::max(
        1, std::getenv("DMARC_BENCH_ROUNDS") ? std::atoi(std::getenv("DMARC_BENCH_ROUNDS")) : 4);
    Side ours{DmarcFilter::dmarc_milter, nullptr, "", 0, 0, 0, 0};
    Side theirs{DmarcFilter::opendmarc, nullptr, "", 0, 0, 0, 0};
    if (!start(ours, argv[1])) return 1;
    if (!only_ours && !start(theirs, argv[1])) return 1;
    for (int r = 0; r < rounds; ++r) {
        const int n = messages / rounds + (r < messages % rounds ? 1 : 0);
        Side* order[2] = {&ours, &theirs};
        if (r % 2 == 1) std::swap(order[0], order[1]);
        for (Side* side : order) {
            if (only_ours && side == &theirs) continue;
            if (!burst(*side, n)) return 1;
        }
    }
    const Figures a = figures(ours);
    std::printf(
        "Postfix + OpenDKIM + dmarc-milter: %.0f msgs/s (milter CPU %.2f ms/msg, Postfix CPU %.2f "
        "ms/msg, %zu evaluated)\n",
        a.msgs_per_s, a.filter_ms_per_msg, a.postfix_ms_per_msg, a.evaluated);
    if (only_ours) return 0;
    const Figures b = figures(theirs);
    std::printf(
        "Postfix + OpenDKIM + opendmarc:    %.0f msgs/s (opendmarc CPU %.2f ms/msg, Postfix CPU "
        "%.2f ms/msg, %zu evaluated)\n",
        b.msgs_per_s, b.filter_ms_per_msg, b.postfix_ms_per_msg, b.evaluated);
    std::printf(
        "through Postfix: %.2fx opendmarc's messages per second (target >= 1.3x), %d "
        "alternating rounds\n",
        a.msgs_per_s / b.msgs_per_s, rounds);
    return 0;
}
