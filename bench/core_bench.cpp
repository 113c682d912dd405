// Core parsing and decision throughput: each parser on a realistic input, and the whole
// end-of-message decision over the demo zone (in memory). The baseline is copying the same
// bytes, so results read as "N copies' worth of work" on any machine.
#include <benchmark/benchmark.h>

#include <fstream>
#include <sstream>
#include <string>

#include "core/auth_results.hpp"
#include "core/from_header.hpp"
#include "core/memory_resolver.hpp"
#include "core/received_spf.hpp"
#include "core/record.hpp"
#include "core/verdict.hpp"

namespace {

const std::string kRecord =
    "v=DMARC1; p=reject; sp=quarantine; adkim=s; aspf=r; pct=100; fo=1; "
    "rua=mailto:dmarc-reports@example.com,mailto:agg@reports.example.net!10m; "
    "ruf=mailto:forensic@example.com";
const std::string kFrom = "\"Example Bank, Alerts\" <alerts@bank.example> (statement service)";
const std::string kAuthResults =
    "mx.example.net; dkim=pass (2048-bit key; unprotected) header.d=example.com "
    "header.i=@example.com header.s=s2026 header.b=Jq2mC7vA; spf=pass (mx.example.net: domain "
    "of bounce@example.com designates 192.0.2.10 as permitted sender) "
    "smtp.mailfrom=bounce@example.com; arc=none";
const std::string kReceivedSpf =
    "pass (mx.example.net: domain of bounces+2309175-1e1a-user=example.org@mail.example.com "
    "designates 192.0.2.10 as permitted sender) client-ip=192.0.2.10; "
    "envelope-from=\"bounces+2309175-1e1a-user=example.org@mail.example.com\"; "
    "helo=out.mail.example.com; receiver=mx.example.net; identity=mailfrom";

template <class F>
void run(benchmark::State& state, const std::string& input, F f) {
    for (auto _ : state) benchmark::DoNotOptimize(f(input));
    state.SetItemsProcessed(state.iterations());
    state.SetBytesProcessed(state.iterations() * static_cast<std::int64_t>(input.size()));
}

void BM_Baseline_CopyAuthResults(benchmark::State& s) {
    run(s, kAuthResults, [](const std::string& t) { return std::string(t); });
}
void BM_DmarcRecord(benchmark::State& s) {
    run(s, kRecord, dmarc::parse_dmarc_record);
}
void BM_FromField(benchmark::State& s) {
    run(s, kFrom, dmarc::parse_from_field);
}
void BM_AuthenticationResults(benchmark::State& s) {
    run(s, kAuthResults, dmarc::parse_authentication_results);
}
void BM_ReceivedSpf(benchmark::State& s) {
    run(s, kReceivedSpf, dmarc::parse_received_spf);
}

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

// A legitimate message and a spoof through decide(): header checks, A-R trust, own SPF,
// discovery and evaluation, our header (all DNS answered from memory).
void BM_Decide(benchmark::State& state, const char* file, const char* ip, const char* mail_from) {
    const std::string demo = DMARC_TEST_DATA "/../../demo";
    auto zone = *dmarc::MemoryResolver::parse(slurp(demo + "/zone.txt"));
    auto config = dmarc::config::parse_milter_config(
                      "AuthservID mx.demo.example\nRejectFailures true\nSPFSelfValidate true\n")
                      .config;
    auto headers = dmarc::parse_header_block(slurp(demo + "/messages/" + file));
    dmarc::Envelope env;
    env.client_ip = dmarc::IpAddress::parse(ip);
    env.helo = "mx.example";
    env.mail_from = mail_from;
    env.queue_id = "BENCH";
    for (auto _ : state) {
        zone.clear_queries();
        dmarc::VerdictContext ctx(config, zone);
        benchmark::DoNotOptimize(dmarc::decide(ctx, env, headers));
    }
    state.SetItemsProcessed(state.iterations());
}

BENCHMARK(BM_Baseline_CopyAuthResults);
BENCHMARK(BM_DmarcRecord);
BENCHMARK(BM_FromField);
BENCHMARK(BM_AuthenticationResults);
BENCHMARK(BM_ReceivedSpf);
BENCHMARK_CAPTURE(BM_Decide, legitimate, "01-bank-legitimate.eml", "192.0.2.10",
                  "alerts@bank.example");
BENCHMARK_CAPTURE(BM_Decide, spoof, "02-bank-spoofed.eml", "203.0.113.99",
                  "bounce@attacker.example");

}  // namespace

BENCHMARK_MAIN();
