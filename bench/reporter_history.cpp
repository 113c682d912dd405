// Writes OpenDMARC HistoryFile text for the dmarc-reporter benchmark (bench/steps/
// 30-opendmarc-reports.sh): MESSAGES messages over DOMAINS policy domains, received evenly in the
// 86,000 seconds after BEGIN, with a few dozen sources per domain, one DKIM signature, SPF, and
// a rua per domain. The same file feeds dmarc-collector (our store) and, sliced, opendmarc-import
// (the baseline's MariaDB), so both report on equivalent history.
// Usage: reporter_history MESSAGES DOMAINS BEGIN > history.txt
#include <cstdio>
#include <cstdlib>
#include <string>

#include "core/history_text.hpp"

int main(int argc, char** argv) {
    if (argc != 4) {
        std::fprintf(stderr, "usage: reporter_history MESSAGES DOMAINS BEGIN\n");
        return 64;
    }
    const long long messages = std::atoll(argv[1]);
    const long long domains = std::atoll(argv[2]);
    const long long begin = std::atoll(argv[3]);
    if (messages <= 0 || domains <= 0) return 64;
    std::string out;
    for (long long i = 0; i < messages; ++i) {
        const long long d = i % domains;
        const long long k = i / domains;  // message number within its domain
        dmarc::HistoryRecord h;
        h.job = "B" + std::to_string(i);
        h.reporter = i % 2 ? "mx1.receiver.example" : "mx2.receiver.example";
        h.received = begin + i * 86000 / messages;
        const long long source = (d * 7 + k % 40) % 250;
        h.ipaddr = (k % 10 == 9 ? "198.51.100." : "203.0.113.") + std::to_string(source + 1);
        h.from = "d" + std::to_string(d) + ".example";
        h.mfrom = k % 10 == 9 ? "forwarder.example" : h.from;
        const bool pass = k % 10 != 9;
        h.dkim.push_back(dmarc::HistoryDkim{h.from, "s" + std::to_string(k % 2), pass ? 0 : 7});
        h.spf = {pass ? 0 : 7};
        h.pdomain = h.from;
        h.policy = pass ? dmarc::history_policy::kPass : dmarc::history_policy::kReject;
        h.rua = {"mailto:dmarc@" + h.from};
        h.pct = 100;
        h.adkim = 'r';
        h.aspf = 'r';
        h.p = 'r';
        h.sp = 'r';
        h.arc = 2;  // ARES "none": no ARC chain (OpenDMARC 1.4 writes arc and arc_policy)
        h.arc_policy = 2;
        h.arc_policy_json = "json:[]";
        h.align_dkim = pass ? 4 : 5;
        h.align_spf = pass ? 4 : 5;
        h.action = pass ? dmarc::history_action::kAccept : dmarc::history_action::kReject;
        out += dmarc::to_history_text(h);
        if (out.size() > (1 << 20)) {
            std::fwrite(out.data(), 1, out.size(), stdout);
            out.clear();
        }
    }
    std::fwrite(out.data(), 1, out.size(), stdout);
    return 0;
}
