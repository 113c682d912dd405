// web_seed: builds a demonstration store for the browser tests (tests/browser/dashboard.mjs):
// 30 days of messages over several domains and sources, passing and failing, a few hostile values
// written straight into the tables, and one admin user. Usage: web_seed STORE PASSWORD
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "io/sqlite.hpp"
#include "io/store.hpp"
#include "io/store_queries.hpp"
#include "web/auth.hpp"

using namespace dmarc;

int main(int argc, char** argv) {
    if (argc != 3) {
        std::fprintf(stderr, "usage: web_seed STORE PASSWORD\n");
        return 64;
    }
    if (!web::crypto_init()) return 70;
    const std::string path = argv[1];
    auto store = io::open_store(path);
    if (!store) {
        std::fprintf(stderr, "%s\n", store.error().message.c_str());
        return 70;
    }
    const std::int64_t now = std::chrono::duration_cast<std::chrono::seconds>(
                                 std::chrono::system_clock::now().time_since_epoch())
                                 .count();
    struct Sender {
        const char* domain;
        const char* ip;
        int per_day;
        int fail_every;  // every Nth message fails (0: never)
        Policy p;
    };
    const Sender senders[] = {
        {"example.com", "192.0.2.10", 40, 0, Policy::reject},
        {"example.com", "192.0.2.11", 12, 6, Policy::reject},
        {"shop.example.org", "198.51.100.20", 18, 4, Policy::quarantine},
        {"newsletter.example.net", "203.0.113.30", 25, 3, Policy::none},
        {"example.com", "203.0.113.66", 4, 1, Policy::reject},  // a spoofer
        {"bank.example", "198.51.100.99", 2, 1, Policy::reject},
    };
    std::vector<io::ImportItem> items;
    int n = 0;
    for (int day = 0; day < 30; ++day) {
        for (const auto& s : senders) {
            // Volume grows a little towards today, so the chart has a shape.
            int count = s.per_day + (30 - day) / 6;
            for (int i = 0; i < count; ++i) {
                bool fail = s.fail_every > 0 && (i % s.fail_every == 0);
                io::ImportItem item;
                SpoolRow& r = item.row;
                r.time = now - day * 86400 - i * 1800 - 60;
                r.queue_id = "4X" + std::to_string(100000 + n++);
                r.reporter_host = n % 3 ? "mx1.example.net" : "mx2.example.net";
                r.client_ip = s.ip;
                r.helo = "mail." + std::string(s.domain);
                r.rfc5321_mail_from = "bounce@" + std::string(s.domain);
                r.rfc5321_rcpt_to = {"user@example.net"};
                r.rfc5322_from_domain = s.domain;
                r.policy_domain = s.domain;
                r.discovery_method = DiscoveryMethod::treewalk;
                PublishedPolicy p;
                p.p = s.p;
                p.rua = {"mailto:dmarc-reports@" + std::string(s.domain)};
                r.record = p;
                r.spf_result = fail ? SpfResult::softfail : SpfResult::pass;
                r.spf_domain = s.domain;
                r.dkim = {{s.domain, "s2026", fail ? DkimResult::fail : DkimResult::pass}};
                r.dkim_aligned = !fail;
                r.spf_aligned = !fail && (i % 5 != 0);
                r.dmarc_result = fail ? DmarcResult::fail : DmarcResult::pass;
                r.policy_applied = s.p;
                r.disposition = !fail                       ? Disposition::pass
                                : s.p == Policy::reject     ? Disposition::reject
                                : s.p == Policy::quarantine ? Disposition::quarantine
                                                            : Disposition::none;
                r.action = r.disposition == Disposition::reject ? MilterAction::reject
                                                                : MilterAction::accept;
                items.push_back(std::move(item));
            }
        }
    }
    auto imported = (*store)->import(items, std::nullopt);
    if (!imported) {
        std::fprintf(stderr, "%s\n", imported.error().message.c_str());
        return 70;
    }
    store.value().reset();
    auto db = io::sqlite::Db::open(path);
    if (!db) return 70;
    auto st = db->prepare("INSERT INTO domains (name) VALUES ('<script>alert(1)</script>.evil')");
    if (!st || !st->run()) return 70;
    auto msg = db->prepare(
        "INSERT INTO messages (reporter_id, job_id, received, ip_id, helo, mail_from,"
        " header_from_domain_id, spf_result, spf_scope, dkim_aligned, spf_aligned, dmarc_result,"
        " disposition, action, origin) VALUES ((SELECT min(id) FROM reporters),"
        " '<img src=x onerror=alert(2)>', ?, (SELECT max(id) FROM ip_addresses),"
        " '\"><script>alert(3)</script>', 'x@y', (SELECT id FROM domains WHERE name LIKE"
        " '<script>%'), 'fail', 'mfrom', 0, 0, 'fail', 'reject', 'reject', 'spool')");
    if (!msg) return 70;
    msg->bind(1, now - 30);
    if (!msg->run()) return 70;
    auto hash = web::hash_password(argv[2]);
    if (!hash || !io::add_web_user(path, "admin", "admin", *hash, now)) return 70;
    std::printf("seeded %zu messages\n", items.size() + 1);
    return 0;
}
