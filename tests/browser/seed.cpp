// web_seed: builds a demonstration store for the browser tests (tests/browser/dashboard.mjs):
// 30 days of messages over several domains and sources, passing and failing, a few hostile values
// written straight into the tables, and one admin user. STORE is a SQLite path or a postgresql://
// URI: the same statements on both (io/sql_connection.hpp). Usage: web_seed STORE PASSWORD
#include <chrono>
#include <cstdio>
#include <string>
#include <vector>

#include "io/archive.hpp"
#include "io/sql_connection.hpp"
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
    using io::sql::p;
    auto connection = io::sql::connect(path, {});
    if (!connection) {
        std::fprintf(stderr, "%s\n", connection.error().message.c_str());
        return 70;
    }
    io::sql::Connection& db = **connection;
    auto fail = [](const Error& e) {
        std::fprintf(stderr, "web_seed: %s\n", e.message.c_str());
        return 70;
    };
    if (auto r = db.exec("INSERT INTO domains (name) VALUES ('<script>alert(1)</script>.evil')");
        !r) {
        return fail(r.error());
    }
    if (auto r = db.exec(
            "INSERT INTO messages (reporter_id, job_id, received, ip_id, helo, mail_from,"
            " header_from_domain_id, spf_result, spf_scope, dkim_aligned, spf_aligned,"
            " dmarc_result, disposition, action, origin) VALUES ((SELECT min(id) FROM reporters),"
            " '<img src=x onerror=alert(2)>', $1, (SELECT max(id) FROM ip_addresses),"
            " '\"><script>alert(3)</script>', 'x@y', (SELECT id FROM domains WHERE name LIKE"
            " '<script>%'), 'fail', 'mfrom', 0, 0, 'fail', 'reject', 'reject', 'spool')",
            {p(now - 30)});
        !r) {
        return fail(r.error());
    }
    // The outgoing ledger: a day's report per domain for the last three days, each with its
    // destinations in the states a reporter leaves them, and two suppressions.
    const char* domains[] = {"example.com", "shop.example.org", "newsletter.example.net",
                             "bank.example"};
    const std::int64_t today = now / 86400 * 86400;
    int serial = 0;
    for (int day = 3; day >= 1; --day) {
        for (const char* d : domains) {
            const std::int64_t begin = today - day * 86400, end = begin + 86399;
            const std::string id =
                std::string(d) + "!" + std::to_string(begin) + "!" + std::to_string(++serial);
            std::string xml =
                "<?xml version=\"1.0\" encoding=\"UTF-8\"?><feedback><version>1.0</version>"
                "<report_metadata><org_name>mx.example.net</org_name><email>dmarc-noreply@"
                "example.net</email><report_id>" +
                id + "</report_id><date_range><begin>" + std::to_string(begin) + "</begin><end>" +
                std::to_string(end) +
                "</end></date_range></report_metadata><policy_published><domain>" + d +
                "</domain><adkim>r</adkim><aspf>r</aspf><p>reject</p><pct>100</pct>"
                "</policy_published><record><row><source_ip>192.0.2.10</source_ip><count>40"
                "</count><policy_evaluated><disposition>none</disposition><dkim>pass</dkim><spf>"
                "pass</spf></policy_evaluated></row><identifiers><header_from>" +
                d + "</header_from></identifiers><auth_results><dkim><domain>" + d +
                "</domain><result>pass</result></dkim><spf><domain>" + d +
                "</domain><result>pass</result></spf></auth_results></record></feedback>";
            if (day == 1 && std::string(d) == "bank.example") {
                xml += "<!-- <script>alert('xml')</script> -->";
            }
            auto gz = io::gzip_compress(xml);
            if (!gz) return 70;
            auto inserted = db.query(
                "INSERT INTO reports (policy_domain_id, period_begin, period_end, report_id,"
                " format, created, message_count, record_count, compression, archive) VALUES"
                " ((SELECT id FROM domains WHERE name = $1), $2, $3, $4, 'rfc7489', $5, $6, $7,"
                " 'gzip', $8) RETURNING id",
                {p(d), p(begin), p(end), p(id), p(end + 3600), p(std::int64_t{40 + serial}),
                 p(std::int64_t{1}), io::sql::blob(*gz)});
            if (!inserted) return fail(inserted.error());
            const std::int64_t report = io::sql::to_int(inserted->front()[0]);
            struct Dest {
                std::string address, status, reply;
                std::int64_t attempts;
            };
            std::vector<Dest> dests = {
                {"dmarc-reports@" + std::string(d), "sent", "250 2.0.0 Ok: queued as 4XK2", 1}};
            if (std::string(d) == "shop.example.org") {
                dests.push_back(
                    {"agg@reports.example", day == 1 ? "temp_failed" : "sent",
                     day == 1 ? "451 4.7.1 greylisted, try again later" : "250 2.0.0 Ok",
                     day == 1 ? 2 : 1});
            }
            if (std::string(d) == "bank.example") {
                dests.push_back({"dmarc@thirdparty.example", "unauthorised",
                                 "no _report._dmarc authorisation record (RFC 7489 §7.1)", 0});
                dests.push_back({"old@bank.example", "perm_failed",
                                 "550 5.1.1 <old@bank.example>: Recipient address rejected", 1});
            }
            if (std::string(d) == "newsletter.example.net") {
                dests.push_back({"stop@newsletter.example.net", "suppressed", "", 0});
            }
            if (day == 1 && std::string(d) == "example.com") dests[0].status = "pending";
            for (const auto& x : dests) {
                const bool retry = x.status == "temp_failed" || x.status == "pending";
                auto r = db.exec(
                    "INSERT INTO report_deliveries (report_id, destination, address, status,"
                    " attempts, last_attempt, next_retry, smtp_reply, sent_at) VALUES ($1, $2,"
                    " $3, $4, $5, $6, $7, $8, $9)",
                    {p(report), p("mailto:" + x.address), p(x.address), p(x.status), p(x.attempts),
                     p(x.attempts > 0 ? std::optional<std::int64_t>(end + 3700) : std::nullopt),
                     p(retry ? std::optional<std::int64_t>(now + 1800) : std::nullopt), p(x.reply),
                     p(x.status == "sent" ? std::optional<std::int64_t>(end + 3700)
                                          : std::nullopt)});
                if (!r) return fail(r.error());
            }
        }
    }
    if (auto r =
            db.exec("INSERT INTO suppressions (pattern, comment, added, expires) VALUES"
                    " ('stop@newsletter.example.net', 'asked us to stop, ticket 4411', $1, NULL),"
                    " ('legacy.example', 'domain retired <b>2026</b>', $2, $3)",
                    {p(now - 20 * 86400), p(now - 3 * 86400), p(now + 60 * 86400)});
        !r) {
        return fail(r.error());
    }

    auto hash = web::hash_password(argv[2]);
    if (!hash || !io::add_web_user(path, "admin", "admin", *hash, now)) return 70;
    std::printf("seeded %zu messages\n", items.size() + 1);
    return 0;
}
