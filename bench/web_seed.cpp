// web_bench_seed: a large store for the dashboard benchmark (bench/steps/40-web-wrk.sh, issue 7
// acceptance: 10,000,000 messages). The store is created and migrated by io/store, then filled by
// direct SQLite inserts in one transaction (no per-row import logic: this measures the dashboard,
// not the collector), over `days` days ending now, with a skewed mix of domains and sources and
// ~85% DMARC pass. Usage: web_bench_seed STORE MESSAGES DAYS PASSWORD
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <string>

#include "io/sqlite.hpp"
#include "io/store.hpp"
#include "io/store_queries.hpp"
#include "web/auth.hpp"

using namespace dmarc;

namespace {

int fail(const Error& e) {
    std::fprintf(stderr, "web_bench_seed: %s\n", e.message.c_str());
    return 70;
}

// SplitMix64: a fixed sequence, so two seeds of the same size are the same store.
struct Random {
    std::uint64_t state = 0x9e3779b97f4a7c15ULL;
    std::uint64_t next() {
        std::uint64_t z = (state += 0x9e3779b97f4a7c15ULL);
        z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
        z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
        return z ^ (z >> 31);
    }
    std::int64_t below(std::int64_t n) {
        return static_cast<std::int64_t>(next() % static_cast<std::uint64_t>(n));
    }
};

}  // namespace

int main(int argc, char** argv) {
    if (argc != 5) {
        std::fprintf(stderr, "usage: web_bench_seed STORE MESSAGES DAYS PASSWORD\n");
        return 64;
    }
    if (!web::crypto_init()) return 70;
    const std::string path = argv[1];
    const std::int64_t total = std::strtoll(argv[2], nullptr, 10);
    const std::int64_t days = std::strtoll(argv[3], nullptr, 10);
    if (total <= 0 || days <= 0) return 64;
    {
        auto store = io::open_store(path);  // creates and migrates
        if (!store) return fail(store.error());
    }
    io::sqlite::OpenOptions options;
    options.create = false;
    options.synchronous = "OFF";
    options.cache_kib = 256 * 1024;
    options.wal = false;
    auto db = io::sqlite::Db::open(path, options);
    if (!db) return fail(db.error());
    // A throwaway file: no journal at all (a WAL would hold the whole 10 M-row transaction
    // twice), sorts in memory.
    if (auto r = db->exec("PRAGMA journal_mode = OFF; PRAGMA temp_store = MEMORY;"); !r) {
        return fail(r.error());
    }
    const auto started = std::chrono::steady_clock::now();
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    constexpr int kDomains = 400, kIps = 20000, kReporters = 3;
    auto tx = io::sqlite::Transaction::begin(*db);
    if (!tx) return fail(tx.error());
    {
        auto d = db->prepare("INSERT INTO domains (id, name) VALUES (?, ?)");
        auto p = db->prepare(
            "INSERT INTO policy_records (id, domain_id, p, sp, np, adkim, aspf, pct, testing, fo,"
            " rua, first_seen, last_seen) VALUES (?, ?, ?, '', '', 'relaxed', 'relaxed', 100, 0,"
            " '', ?, ?, ?)");
        if (!d || !p) return 70;
        static constexpr const char* kPolicies[] = {"reject", "quarantine", "none"};
        for (int i = 1; i <= kDomains; ++i) {
            const std::string name = "sender" + std::to_string(i) + ".example";
            d->bind(1, std::int64_t{i}).bind(2, name);
            if (auto r = d->run(); !r) return fail(r.error());
            p->bind(1, std::int64_t{i})
                .bind(2, std::int64_t{i})
                .bind(3, kPolicies[i % 3])
                .bind(4, "mailto:dmarc@" + name)
                .bind(5, now - days * 86400)
                .bind(6, now);
            if (auto r = p->run(); !r) return fail(r.error());
        }
        auto ip = db->prepare("INSERT INTO ip_addresses (id, addr) VALUES (?, ?)");
        if (!ip) return 70;
        for (int i = 1; i <= kIps; ++i) {
            const std::string addr = "10." + std::to_string(i / 65536) + "." +
                                     std::to_string((i / 256) % 256) + "." +
                                     std::to_string(i % 256);
            ip->bind(1, std::int64_t{i}).bind(2, addr);
            if (auto r = ip->run(); !r) return fail(r.error());
        }
        auto rep = db->prepare("INSERT INTO reporters (id, name) VALUES (?, ?)");
        if (!rep) return 70;
        for (int i = 1; i <= kReporters; ++i) {
            rep->bind(1, std::int64_t{i}).bind(2, "mx" + std::to_string(i) + ".example.net");
            if (auto r = rep->run(); !r) return fail(r.error());
        }
    }
    auto msg = db->prepare(
        "INSERT INTO messages (id, reporter_id, job_id, received, ip_id, helo, mail_from,"
        " env_domain_id, rcpt_to, header_from_domain_id, policy_domain_id, policy_record_id,"
        " discovery_method, spf_result, spf_domain_id, spf_scope, dkim_aligned, spf_aligned,"
        " dmarc_result, policy_applied, disposition, action, origin) VALUES (?1, ?2, ?3, ?4, ?5,"
        " 'mail.example', 'bounce@example', ?6, 'postmaster@example.net', ?6, ?6, ?6,"
        " 'treewalk', ?7, ?6, 'mfrom', ?8, ?9, ?10, ?11, ?12, ?13, 'spool')");
    if (!msg) return fail(msg.error());
    Random rng;
    const std::int64_t span = days * 86400;
    const std::int64_t start = now - span;
    char job[24];
    for (std::int64_t i = 0; i < total; ++i) {
        // Skewed: 70% of mail from 50 big senders and 300 addresses, the rest spread out.
        const bool big = rng.below(100) < 70;
        const std::int64_t domain = 1 + (big ? rng.below(50) : rng.below(kDomains));
        const std::int64_t ip_id = 1 + (big ? rng.below(300) : rng.below(kIps));
        const std::int64_t roll = rng.below(100);
        const bool pass = roll < 85;
        const bool none = roll >= 97;
        static constexpr const char* kPolicies[] = {"reject", "quarantine", "none"};
        const char* policy = kPolicies[domain % 3];
        const char* disposition = pass ? "pass" : none ? "none" : policy;
        std::snprintf(job, sizeof job, "%012llX", static_cast<unsigned long long>(i));
        msg->bind(1, i + 1)
            .bind(2, 1 + i % kReporters)
            .bind(3, std::string_view(job))
            .bind(4, start + span * i / total)
            .bind(5, ip_id)
            .bind(6, domain)
            .bind(7, pass ? "pass" : "softfail")
            .bind(8, std::int64_t{pass})
            .bind(9, std::int64_t{pass && roll % 5 != 0})
            .bind(10, pass   ? "pass"
                      : none ? "none"
                             : "fail")
            .bind(11, policy)
            .bind(12, disposition)
            .bind(13, std::string_view(disposition) == "reject" ? "reject" : "accept");
        if (auto r = msg->run(); !r) return fail(r.error());
    }
    if (auto c = tx->commit(); !c) return fail(c.error());
    // No ANALYZE: no program of the project runs it, so the store here has no planner
    // statistics either, like the stores the dashboard reads in the field.
    auto hash = web::hash_password(argv[4]);
    if (!hash) return fail(hash.error());
    if (auto r = io::add_web_user(path, "bench", "admin", *hash, now); !r) return fail(r.error());
    const double seconds =
        std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
    std::printf("web_bench_seed: %lld messages in %.1f s (%.0f rows/s)\n",
                static_cast<long long>(total), seconds, static_cast<double>(total) / seconds);
    return 0;
}
