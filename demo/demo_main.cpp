// dmarc-demo DIR: runs every sample message of DIR/scenarios.txt through the milter's
// end-of-message decision (core/verdict) with DIR/dmarc-milter.conf and the zone DIR/zone.txt,
// and prints what the milter would do: the SMTP reply, the hold queue, our header, the log line.
#include <cstdio>
#include <map>
#include <sstream>
#include <string>

#include <fmt/format.h>

#include "core/config.hpp"
#include "core/limits.hpp"
#include "core/memory_resolver.hpp"
#include "core/verdict.hpp"
#include "io/file.hpp"

namespace {

std::string load_or_die(const std::string& path) {
    auto text = dmarc::io::load_file(path, 16 * 1024 * 1024);
    if (!text) {
        std::fprintf(stderr, "dmarc-demo: %s\n", text.error().message.c_str());
        std::exit(1);
    }
    return *text;
}

}  // namespace

int main(int argc, char** argv) {
    if (argc != 2) {
        std::fprintf(stderr, "usage: dmarc-demo DEMO-DIRECTORY\n");
        return 2;
    }
    std::string dir = argv[1];
    auto loaded = dmarc::config::parse_milter_config(load_or_die(dir + "/dmarc-milter.conf"));
    for (const auto& d : loaded.diagnostics) {
        std::fprintf(stderr, "dmarc-milter.conf: %s\n", dmarc::config::to_string(d).c_str());
    }
    if (!loaded.ok()) return 78;
    auto zone = dmarc::MemoryResolver::parse(load_or_die(dir + "/" + loaded.config.test_dns_data));
    if (!zone) {
        std::fprintf(stderr, "zone: %s\n", zone.error().message.c_str());
        return 1;
    }
    std::istringstream lines(load_or_die(dir + "/scenarios.txt"));
    std::string line;
    std::map<std::string, int> actions;
    int n = 0;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        std::string file, ip, helo, mail_from;
        fields >> file >> ip >> helo >> mail_from;
        dmarc::Envelope envelope;
        envelope.client_ip = dmarc::IpAddress::parse(ip);
        envelope.helo = helo;
        envelope.mail_from = mail_from;
        envelope.queue_id = fmt::format("DEMO{:02}", ++n);
        envelope.mta_hostname = "mx.demo.example";
        auto headers = dmarc::parse_header_block(load_or_die(dir + "/messages/" + file));
        dmarc::VerdictContext ctx(loaded.config, *zone);
        ctx.pct_sample = 0;
        auto v = dmarc::decide(ctx, envelope, headers);
        ++actions[std::string(to_string(v.action))];
        std::string what;
        switch (v.action) {
            case dmarc::MilterAction::reject:
            case dmarc::MilterAction::tempfail:
                what = fmt::format("{} {} {}", v.reply_code, v.reply_xcode, v.reply_text);
                break;
            case dmarc::MilterAction::quarantine:
                what = "held: " + v.quarantine_reason;
                break;
            case dmarc::MilterAction::discard:
                what = "discarded";
                break;
            case dmarc::MilterAction::accept:
                what = "delivered";
                break;
        }
        std::printf("\n\033[1m%s\033[0m  (from %s, MAIL FROM <%s>)\n", file.c_str(), ip.c_str(),
                    mail_from.c_str());
        std::printf("  %-10s %s\n", std::string(to_string(v.action)).c_str(), what.c_str());
        for (const auto& c : v.header_changes) {
            if (c.kind == dmarc::HeaderChange::Kind::insert_first) {
                std::printf("  + %s: %s\n", c.name.c_str(), c.value.c_str());
            } else {
                std::printf("  - %s #%zu (forged: carries our authserv-id)\n", c.name.c_str(),
                            c.occurrence);
            }
        }
        std::printf("  log: %s\n  log: %s\n", v.log_line.c_str(), v.detail_line.c_str());
    }
    std::printf("\n%d messages:", n);
    for (const auto& [action, count] : actions) std::printf(" %d %s", count, action.c_str());
    std::printf("\n");
    return 0;
}
