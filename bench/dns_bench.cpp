// Cached DNS lookups per second through io/dns (UnboundResolver) from 1 and 8 threads, against
// baselines in the same run: a plain std::unordered_map find-and-copy (the floor any cache
// costs) and lookups with our cache off (libunbound's own cache, through its pipe and thread).
// Starts a private unbound on loopback (tests/support/local_unbound.hpp); nothing leaves the host.
#include <benchmark/benchmark.h>

#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "core/dns.hpp"
#include "io/dns.hpp"
#include "tests/support/local_unbound.hpp"

namespace {

using dmarc::DnsResponse;
using dmarc::DnsStatus;
using dmarc::RrType;

constexpr int kNames = 64;

struct World {
    std::unique_ptr<dmarc::test_support::LocalUnbound> server;
    std::unique_ptr<dmarc::io::UnboundResolver> cached;
    std::unique_ptr<dmarc::io::UnboundResolver> uncached;
    std::vector<std::string> names;
    std::unordered_map<std::string, DnsResponse> baseline;
};

World* world = nullptr;

// A quarter NXDOMAIN (negative cache), the rest DMARC-sized TXT answers.
const std::string& name_at(std::size_t i) {
    return world->names[i % world->names.size()];
}

void BM_CachedLookup(benchmark::State& state) {
    std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7;
    for (auto _ : state) {
        DnsResponse r = world->cached->lookup(name_at(i++), RrType::txt);
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_CachedLookup)->Threads(1)->Threads(8)->UseRealTime();

void BM_BaselineUnorderedMap(benchmark::State& state) {
    std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7;
    for (auto _ : state) {
        DnsResponse r = world->baseline.find(name_at(i++))->second;
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_BaselineUnorderedMap)->Threads(1)->Threads(8)->UseRealTime();

void BM_OurCacheOff(benchmark::State& state) {
    std::size_t i = static_cast<std::size_t>(state.thread_index()) * 7;
    for (auto _ : state) {
        DnsResponse r = world->uncached->lookup(name_at(i++), RrType::txt);
        benchmark::DoNotOptimize(r);
    }
    state.SetItemsProcessed(state.iterations());
}
BENCHMARK(BM_OurCacheOff)->Threads(1)->Threads(8)->UseRealTime();

bool set_up() {
    std::string zone =
        ".                 3600 IN SOA ns.dmarc-test.example. h.dmarc-test.example. 1 3600 600 "
        "86400 3600\n"
        ".                 3600 IN NS  ns.dmarc-test.example.\n"
        "ns.dmarc-test.example. 3600 IN A 127.0.0.1\n";
    world = new World;
    for (int i = 0; i < kNames; ++i) {
        const std::string name = "_dmarc.d" + std::to_string(i) + ".dmarc-test.example";
        world->names.push_back(name);
        if (i % 4 != 3) {
            zone += name + ". 3600 IN TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@d" +
                    std::to_string(i) + ".dmarc-test.example; adkim=s; aspf=s\"\n";
        }
    }
    dmarc::test_support::LocalUnboundConfig config;
    config.auth_zones["."] = zone;
    std::string error;
    world->server = dmarc::test_support::LocalUnbound::start(config, &error);
    if (!world->server) {
        std::fprintf(stderr, "%s\n", error.c_str());
        return false;
    }
    dmarc::io::DnsOptions options;
    options.nameservers = {world->server->address()};
    auto cached = dmarc::io::make_unbound_resolver(options);
    options.cache = false;
    auto uncached = dmarc::io::make_unbound_resolver(options);
    if (!cached || !uncached) {
        std::fprintf(stderr, "resolver: %s\n",
                     (!cached ? cached.error() : uncached.error()).message.c_str());
        return false;
    }
    world->cached = std::move(*cached);
    world->uncached = std::move(*uncached);
    for (const auto& name : world->names) {
        DnsResponse r = world->cached->lookup(name, RrType::txt);
        (void)world->uncached->lookup(name, RrType::txt);
        if (r.status != DnsStatus::answer && r.status != DnsStatus::nxdomain) {
            std::fprintf(stderr, "warm-up %s: %s %s\n", name.c_str(),
                         std::string(dmarc::to_string(r.status)).c_str(), r.why.c_str());
            return false;
        }
        world->baseline.emplace(name, r);
    }
    return true;
}

}  // namespace

int main(int argc, char** argv) {
    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    if (!set_up()) return 1;
    benchmark::RunSpecifiedBenchmarks();
    const auto stats = world->cached->stats();
    std::printf("cached resolver: %llu lookups, %llu cache hits, %llu upstream\n",
                static_cast<unsigned long long>(stats.lookups),
                static_cast<unsigned long long>(stats.cache_hits),
                static_cast<unsigned long long>(stats.upstream));
    delete world;
    benchmark::Shutdown();
    return 0;
}
