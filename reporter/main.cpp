// dmarc-reporter: DMARC aggregate reports from the store, sent exactly once (issue 6).
//   dmarc-reporter [options]                      build due reports, send due deliveries
//   dmarc-reporter suppress add|remove|list ...   the suppression list
// See --help (options.cpp) and reporter/README.md.
#include <chrono>
#include <cstdio>
#include <string>

#include <fmt/format.h>

#include "core/limits.hpp"
#include "core/memory_resolver.hpp"
#include "core/report_destinations.hpp"
#include "io/dns.hpp"
#include "io/file.hpp"
#include "io/report_store.hpp"
#include "reporter/options.hpp"
#include "reporter/reporter.hpp"

namespace {

using namespace dmarc;

// sysexits.h values (design.md §4); 1: something failed permanently.
constexpr int kExPermFailed = 1, kExUsage = 64, kExSoftware = 70, kExTempFail = 75, kExConfig = 78;

int exit_code_for(const Error& error) {
    switch (error.code) {
        case Errc::temporary:
            return kExTempFail;
        case Errc::invalid_value:
        case Errc::not_found:
            return kExConfig;
        default:
            return kExSoftware;
    }
}

int fail(const Error& error) {
    std::fprintf(stderr, "dmarc-reporter: %s\n", error.message.c_str());
    return exit_code_for(error);
}

Result<std::unique_ptr<DnsResolver>> make_resolver(const config::ReporterConfig& c) {
    if (!c.test_dns_data.empty()) {
        auto text = io::load_file(c.test_dns_data, limits::kMaxConfigFileBytes * 16);
        if (!text) return tl::unexpected(text.error());
        auto zone = MemoryResolver::parse(*text);
        if (!zone) {
            return make_error(zone.error().code,
                              "TestDNSData " + c.test_dns_data + ": " + zone.error().message);
        }
        return std::unique_ptr<DnsResolver>(std::make_unique<MemoryResolver>(std::move(*zone)));
    }
    io::DnsOptions options;
    options.timeout = std::chrono::seconds(c.dns_timeout_s);
    options.trust_anchor_file = c.trust_anchor_file;
    if (!c.nameservers.empty()) {
        std::string joined;
        for (const auto& n : c.nameservers) joined += n + ",";
        auto parsed = io::parse_nameservers(joined);
        if (!parsed) return tl::unexpected(parsed.error());
        options.nameservers = *parsed;
    }
    auto resolver = io::make_unbound_resolver(options);
    if (!resolver) return tl::unexpected(resolver.error());
    return std::unique_ptr<DnsResolver>(std::move(*resolver));
}

int suppress(const reporter::Options& o, io::ReportStore& store, std::int64_t now) {
    if (o.suppress_action == "list") {
        auto list = store.suppressions();
        if (!list) return fail(list.error());
        for (const auto& s : *list) {
            const bool expired = s.expires && *s.expires <= now;
            std::printf("%s\tadded %lld\texpires %s%s\t%s\n", s.pattern.c_str(),
                        static_cast<long long>(s.added),
                        s.expires ? std::to_string(*s.expires).c_str() : "never",
                        expired ? " (expired)" : "", s.comment.c_str());
        }
        return 0;
    }
    auto pattern = normalise_suppression_pattern(o.pattern);
    if (!pattern) {
        std::fprintf(stderr, "dmarc-reporter: '%s' is neither an address nor a domain\n",
                     o.pattern.c_str());
        return kExUsage;
    }
    if (o.suppress_action == "add") {
        if (auto r = store.add_suppression({*pattern, o.comment, now, o.expires}); !r) {
            return fail(r.error());
        }
        std::printf("suppressed %s\n", pattern->c_str());
        return 0;
    }
    auto removed = store.remove_suppression(*pattern);
    if (!removed) return fail(removed.error());
    if (!*removed) {
        std::fprintf(stderr, "dmarc-reporter: %s is not suppressed\n", pattern->c_str());
        return kExConfig;
    }
    std::printf("removed %s\n", pattern->c_str());
    return 0;
}

}  // namespace

int main(int argc, char** argv) {
    reporter::Options options;
    const auto parsed = reporter::parse_options(argc, argv, options);
    if (parsed.done) return 0;
    if (parsed.exit_code != 0) {
        std::fprintf(stderr, "dmarc-reporter: %s\n", parsed.error.c_str());
        if (parsed.exit_code == kExUsage) std::fputs("see dmarc-reporter --help\n", stderr);
        return parsed.exit_code;
    }
    const std::int64_t now =
        options.now.value_or(std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count());
    auto store = io::open_report_store(options.config.database);
    if (!store) return fail(store.error());
    if (options.command == "suppress") return suppress(options, **store, now);

    // Two runs at once would both build and send the same reports. A dry run changes nothing
    // and takes no lock.
    if (!options.dry_run) {
        auto lock = (*store)->acquire_run_lock(now);
        if (!lock) return fail(lock.error());
        if (!lock->acquired) {
            std::fprintf(stderr,
                         "dmarc-reporter: another dmarc-reporter run holds the store's lock%s%s; "
                         "nothing done, try again later\n",
                         lock->holder.empty() ? "" : ": ", lock->holder.c_str());
            return kExTempFail;
        }
    }
    reporter::complete_identity(options.config);
    auto resolver = make_resolver(options.config);
    if (!resolver) return fail(resolver.error());
    auto summary = reporter::run_reports(options, **store, **resolver, now);
    if (!summary) return fail(summary.error());
    std::puts(reporter::to_string(*summary, options.dry_run).c_str());
    return summary->failed > 0 ? kExPermFailed : 0;
}
