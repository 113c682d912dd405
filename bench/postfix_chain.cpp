// Issue 4 acceptance, through Postfix: smtp-source into a private Postfix with OpenDKIM and
// dmarc-milter, then the same chain with Debian's opendmarc in its place (same unbound, same
// message, warm cache, same run), printing msgs/s of each, the filter's CPU per message (from
// /proc) and the ratio (target >= 1.3x). Usage: postfix_chain <dmarc-milter binary> [messages]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>
#include <string>
#include <thread>

#include "tests/support/mail_chain.hpp"

using namespace dmarc::test_support;

namespace {

// utime + stime of a process in seconds (/proc/PID/stat fields 14 and 15).
double cpu_seconds(pid_t pid) {
    std::string stat;
    std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
    std::getline(in, stat);
    const auto paren = stat.rfind(')');
    if (paren == std::string::npos) return 0;
    std::istringstream fields(stat.substr(paren + 2));
    std::string f;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && fields >> f; ++i) {
        if (i == 14) utime = std::stoull(f);
        if (i == 15) stime = std::stoull(f);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct Figures {
    double msgs_per_s = 0;
    double filter_ms_per_msg = 0;
    std::size_t evaluated = 0;  // messages the filter recorded (warm-up included)
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

bool measure(DmarcFilter filter, const std::string& milter_binary, int messages, Figures& out) {
    MailChainOptions options;
    options.filter = filter;
    options.milter_binary = milter_binary;
    options.deliver_to_sink = false;
    options.with_opendkim = std::getenv("DMARC_BENCH_NO_OPENDKIM") == nullptr;
    options.opendkim_resolver = std::getenv("DMARC_BENCH_OPENDKIM_RESOLVER") != nullptr;
    std::string error;
    auto chain = MailChain::start(options, &error);
    if (!chain) {
        std::cerr << "chain did not start: " << error << "\n";
        return false;
    }
    // p=none fail: evaluated, our header added, delivered (discard). The client is 127.0.0.1
    // (smtp-source cannot XCLIENT); IgnoreHosts is empty for both filters.
    const std::string file = chain->directory() + "/bench.eml";
    std::ofstream(file) << "From: News <letter@news.example>\r\nTo: ana@dest.example\r\n"
                           "Subject: bench\r\nDate: Sun, 29 Nov 2026 22:00:00 +0000\r\n"
                           "Message-ID: <bench@news.example>\r\n\r\nbody\r\n";
    auto failed = [&](const char* what) {
        const std::string log = chain->postfix_log();
        std::ofstream("/tmp/postfix_chain-failed.log")
            << log << chain->milter_log() << "\n--- opendkim\n"
            << std::ifstream(chain->directory() + "/opendkim.log").rdbuf();
        std::cerr << what << " failed ("
                  << (filter == DmarcFilter::opendmarc ? "opendmarc" : "dmarc-milter")
                  << "); logs in /tmp/postfix_chain-failed.log\n";
        return false;
    };
    if (!run_smtp_source(*chain, file, 100)) return failed("warm-up");
    std::this_thread::sleep_for(std::chrono::milliseconds(500));
    const double cpu_before = cpu_seconds(chain->milter_pid());
    const auto start = std::chrono::steady_clock::now();
    if (!run_smtp_source(*chain, file, messages)) return failed("smtp-source");
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    out.msgs_per_s = messages / seconds;
    out.filter_ms_per_msg = (cpu_seconds(chain->milter_pid()) - cpu_before) * 1000.0 / messages;
    // Both filters really evaluated: OpenDMARC's HistoryFile has a "job" line per message, our
    // log an OpenDMARC-shaped result line per message.
    std::size_t evaluated = 0;
    {
        const bool theirs = filter == DmarcFilter::opendmarc;
        std::ifstream in(theirs ? chain->directory() + "/spool/opendmarc.dat"
                                : chain->directory() + "/milter.log");
        std::string line;
        while (std::getline(in, line)) {
            evaluated += theirs ? line.starts_with("job ") : line.ends_with(" news.example fail");
        }
    }
    out.evaluated = evaluated;
    const std::string log = chain->postfix_log();
    std::size_t rejected = 0;
    for (auto at = log.find("milter-reject"); at != std::string::npos;
         at = log.find("milter-reject", at + 1)) {
        ++rejected;
    }
    if (rejected > 0) std::cerr << "warning: " << rejected << " milter-reject lines\n";
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc < 2) {
        std::cerr << "usage: postfix_chain <dmarc-milter binary> [messages]\n";
        return 64;
    }
    const int messages = argc > 2 ? std::atoi(argv[2]) : 2000;
    Figures ours, theirs;
    if (!measure(DmarcFilter::dmarc_milter, argv[1], messages, ours)) return 1;
    if (!measure(DmarcFilter::opendmarc, argv[1], messages, theirs)) return 1;
    std::printf(
        "Postfix + OpenDKIM + dmarc-milter: %.0f msgs/s (milter CPU %.2f ms/msg, %zu evaluated)\n",
        ours.msgs_per_s, ours.filter_ms_per_msg, ours.evaluated);
    std::printf(
        "Postfix + OpenDKIM + opendmarc:    %.0f msgs/s (opendmarc CPU %.2f ms/msg, %zu "
        "evaluated)\n",
        theirs.msgs_per_s, theirs.filter_ms_per_msg, theirs.evaluated);
    std::printf("through Postfix: %.2fx opendmarc's messages per second (target >= 1.3x)\n",
                ours.msgs_per_s / theirs.msgs_per_s);
    return 0;
}
