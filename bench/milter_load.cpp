// milter_load: a milter-protocol load generator (issue 4 item 6). N connections, each a thread
// speaking to the milter as Postfix does (negotiate, connect, helo, mail, rcpt, headers, eoh,
// body, eom); messages cycle through a mix (the demo's scenarios by default). Prints msgs/s,
// latency percentiles per message, outcomes, and — given the milter's pid — its CPU time per
// message from /proc. Works against any milter (dmarc-milter, OpenDMARC).
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <map>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include <fmt/format.h>

#include "tests/support/milter_client.hpp"

namespace mc = dmarc::milter_client;
using Clock = std::chrono::steady_clock;

namespace {

struct Settings {
    std::string socket;
    std::string demo_dir;
    int connections = 20;
    long messages = 10000;
    double rate = 0;         // messages per second over all connections; 0: as fast as possible
    int per_connection = 1;  // messages per milter connection (Postfix: one per SMTP session)
    bool quick_ack = false;
    bool write_each = false;
    int pid = 0;
    std::string only;  // run only scenarios whose file name contains this
    bool json = false;
};

const char* kUsage = R"(usage: milter_load --socket SPEC [options]
  --socket SPEC         inet:port@host, inet6:port@[addr], local:/path
  --demo DIR            scenario directory (scenarios.txt, messages/*.eml); default demo/
  --only TEXT           only scenarios whose file name contains TEXT
  --connections N       concurrent connections (default 20)
  --messages N          total messages (default 10000)
  --rate R              target messages/s over all connections (default: unlimited)
  --per-connection K    messages per milter connection (default 1)
  --quick-ack           acknowledge at once (TCP_QUICKACK); Postfix does not
  --write-each          one write per command (Postfix buffers commands until it reads a
                        reply, at DATA and at disconnect)
  --pid PID             report this process's CPU time per message (/proc/PID/stat)
  --json                one JSON line instead of the table
)";

std::string read_file(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

std::vector<mc::Message> load_mix(const Settings& s) {
    std::vector<mc::Message> mix;
    std::istringstream in(read_file(s.demo_dir + "/scenarios.txt"));
    std::string line;
    int n = 0;
    while (std::getline(in, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream f(line);
        std::string file, ip, helo, mail_from;
        f >> file >> ip >> helo >> mail_from;
        if (!s.only.empty() && file.find(s.only) == std::string::npos) continue;
        mc::Message m;
        auto [headers, body] = mc::split_message(read_file(s.demo_dir + "/messages/" + file));
        m.headers = std::move(headers);
        m.body = std::move(body);
        m.client_host = helo;
        m.client_ip = ip;
        m.helo = helo;
        m.mail_from = mail_from;
        m.rcpt_to = {"ana@demo.example"};
        m.connect_macros = {{"j", "mx.demo.example"}, {"{daemon_name}", "smtpd"}};
        m.eom_macros = {{"i", fmt::format("LOAD{:04d}", n++)}};
        mix.push_back(std::move(m));
    }
    return mix;
}

double cpu_seconds(int pid) {
    if (pid <= 0) return 0;
    std::string stat = read_file("/proc/" + std::to_string(pid) + "/stat");
    auto close = stat.rfind(')');
    if (close == std::string::npos) return 0;
    std::istringstream f(stat.substr(close + 2));
    std::string field;
    unsigned long long utime = 0, stime = 0;
    for (int i = 3; i <= 15 && f >> field; ++i) {
        if (i == 14) utime = std::stoull(field);
        if (i == 15) stime = std::stoull(field);
    }
    return static_cast<double>(utime + stime) / static_cast<double>(::sysconf(_SC_CLK_TCK));
}

struct WorkerResult {
    std::vector<double> latencies_ms;
    std::map<std::string, long> outcomes;
    long errors = 0;
    std::string first_error;
};

std::string outcome_of(const mc::Response& r) {
    if (r.is_reject()) return "reject";
    if (r.is_tempfail()) return "tempfail";
    if (r.quarantine_reason()) return "quarantine";
    if (r.code == 'a' || r.code == 'c') return "accept";
    return std::string("other:") + r.code;
}

void worker(const Settings& s, const std::vector<mc::Message>& mix, std::atomic<long>& next,
            Clock::time_point start, WorkerResult& out) {
    std::optional<mc::Client> client;
    int on_connection = 0;
    while (true) {
        long index = next.fetch_add(1);
        if (index >= s.messages) break;
        if (s.rate > 0) {
            auto due =
                start + std::chrono::duration_cast<Clock::duration>(
                            std::chrono::duration<double>(static_cast<double>(index) / s.rate));
            std::this_thread::sleep_until(due);
        }
        const mc::Message& m = mix[static_cast<std::size_t>(index) % mix.size()];
        auto t0 = Clock::now();
        bool first = false;
        if (!client || on_connection >= s.per_connection) {
            if (client) (void)client->quit();
            auto c = mc::Client::open(s.socket);
            if (!c) {
                ++out.errors;
                if (out.first_error.empty()) out.first_error = c.error().message;
                client.reset();
                continue;
            }
            client.emplace(std::move(*c));
            client->set_quick_ack(s.quick_ack);
            client->set_buffered(!s.write_each);
            if (auto n = client->negotiate(); !n) {
                ++out.errors;
                if (out.first_error.empty()) out.first_error = n.error().message;
                client.reset();
                continue;
            }
            on_connection = 0;
            first = true;
        }
        auto r = client->send_message(m, first);
        ++on_connection;
        if (!r) {
            ++out.errors;
            if (out.first_error.empty()) out.first_error = r.error().message;
            client.reset();
            continue;
        }
        out.latencies_ms.push_back(
            std::chrono::duration<double, std::milli>(Clock::now() - t0).count());
        ++out.outcomes[outcome_of(*r)];
        // A message the milter ended early (reject at connect/mail) leaves the connection in
        // an unknown state for the next one: start afresh.
        if (r->code != 'a' && r->code != 'c' && r->code != 'y' && r->code != 'r') {
            client.reset();
            continue;
        }
        // smtpd's mail_reset() after every transaction: milter_abort() writes SMFIC_ABORT (no
        // reply; buffered until the next command needing one, or the quit).
        if (auto a = client->abort(); !a) {
            ++out.errors;
            if (out.first_error.empty()) out.first_error = a.error().message;
            client.reset();
        }
    }
    if (client) (void)client->quit();
}

double percentile(const std::vector<double>& sorted, double p) {
    if (sorted.empty()) return 0;
    auto i = static_cast<std::size_t>(p / 100.0 * static_cast<double>(sorted.size() - 1) + 0.5);
    return sorted[std::min(i, sorted.size() - 1)];
}

}  // namespace

int main(int argc, char** argv) {
    Settings s;
    s.demo_dir = DMARC_SOURCE_DIR "/demo";
    std::vector<std::string> args(argv + 1, argv + argc);
    for (std::size_t i = 0; i < args.size(); ++i) {
        auto next = [&]() -> std::string {
            if (i + 1 >= args.size()) {
                std::cerr << args[i] << " needs a value\n" << kUsage;
                std::exit(64);
            }
            return args[++i];
        };
        const std::string& a = args[i];
        if (a == "--socket")
            s.socket = next();
        else if (a == "--demo")
            s.demo_dir = next();
        else if (a == "--only")
            s.only = next();
        else if (a == "--connections")
            s.connections = std::stoi(next());
        else if (a == "--messages")
            s.messages = std::stol(next());
        else if (a == "--rate")
            s.rate = std::stod(next());
        else if (a == "--per-connection")
            s.per_connection = std::max(1, std::stoi(next()));
        else if (a == "--quick-ack")
            s.quick_ack = true;
        else if (a == "--write-each")
            s.write_each = true;
        else if (a == "--pid")
            s.pid = std::stoi(next());
        else if (a == "--json")
            s.json = true;
        else {
            std::cerr << kUsage;
            return a == "--help" ? 0 : 64;
        }
    }
    if (s.socket.empty() || s.connections < 1 || s.messages < 1) {
        std::cerr << kUsage;
        return 64;
    }
    auto mix = load_mix(s);
    if (mix.empty()) {
        std::cerr << "no scenarios in " << s.demo_dir << "\n";
        return 66;
    }
    std::vector<WorkerResult> results(static_cast<std::size_t>(s.connections));
    std::atomic<long> next{0};
    double cpu_before = cpu_seconds(s.pid);
    auto start = Clock::now();
    {
        std::vector<std::thread> threads;
        for (auto& r : results) {
            threads.emplace_back([&, rp = &r] { worker(s, mix, next, start, *rp); });
        }
        for (auto& t : threads) t.join();
    }
    double elapsed = std::chrono::duration<double>(Clock::now() - start).count();
    double cpu = cpu_seconds(s.pid) - cpu_before;

    std::vector<double> all;
    std::map<std::string, long> outcomes;
    long errors = 0;
    std::string first_error;
    for (auto& r : results) {
        all.insert(all.end(), r.latencies_ms.begin(), r.latencies_ms.end());
        for (auto& [k, v] : r.outcomes) outcomes[k] += v;
        errors += r.errors;
        if (first_error.empty()) first_error = r.first_error;
    }
    std::sort(all.begin(), all.end());
    auto done = static_cast<double>(all.size());
    std::string outcome_text;
    for (auto& [k, v] : outcomes)
        outcome_text += fmt::format("{}{}={}", outcome_text.empty() ? "" : " ", k, v);
    if (s.json) {
        std::cout << fmt::format(
            "{{\"socket\":\"{}\",\"connections\":{},\"messages\":{},\"errors\":{},\"seconds\":{:."
            "3f},"
            "\"msgs_per_s\":{:.1f},\"p50_ms\":{:.3f},\"p90_ms\":{:.3f},\"p99_ms\":{:.3f},"
            "\"p999_ms\":{:.3f},\"max_ms\":{:.3f},\"cpu_ms_per_msg\":{:.4f},\"outcomes\":\"{}\"}}"
            "\n",
            s.socket, s.connections, all.size(), errors, elapsed, done / elapsed,
            percentile(all, 50), percentile(all, 90), percentile(all, 99), percentile(all, 99.9),
            all.empty() ? 0 : all.back(), s.pid > 0 && done > 0 ? cpu * 1000 / done : 0.0,
            outcome_text);
    } else {
        std::cout
            << fmt::format("socket        {}\n", s.socket)
            << fmt::format("connections   {} ({} message(s) each{}{})\n", s.connections,
                           s.per_connection, s.quick_ack ? ", quick ACK" : "",
                           s.write_each ? ", one write per command" : "")
            << fmt::format("messages      {} in {:.2f} s, {} errors{}\n", all.size(), elapsed,
                           errors, first_error.empty() ? "" : " (" + first_error + ")")
            << fmt::format("throughput    {:.0f} msgs/s{}\n", done / elapsed,
                           s.rate > 0 ? fmt::format(" (target {:.0f})", s.rate) : "")
            << fmt::format(
                   "latency ms    p50 {:.3f}  p90 {:.3f}  p99 {:.3f}  p99.9 {:.3f}  max {:.3f}\n",
                   percentile(all, 50), percentile(all, 90), percentile(all, 99),
                   percentile(all, 99.9), all.empty() ? 0 : all.back())
            << fmt::format("outcomes      {}\n", outcome_text);
        if (s.pid > 0) {
            std::cout << fmt::format("milter CPU    {:.3f} s, {:.4f} ms per message (pid {})\n",
                                     cpu, done > 0 ? cpu * 1000 / done : 0.0, s.pid);
        }
    }
    return errors == 0 ? 0 : 1;
}
