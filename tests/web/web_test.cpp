// dmarc-web over real sockets (issue 7 item 5): every route's status, content type, login and
// CSRF enforcement and security headers, driven against the real Server on a loopback port; a
// store seeded with hostile values shows them escaped; static-asset traversal; a slow client
// trickling headers is cut off by the read deadline; header and body limits; keep-alive.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <filesystem>
#include <map>
#include <mutex>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "core/domain_name.hpp"
#include "core/ip.hpp"
#include "core/memory_resolver.hpp"
#include "io/archive.hpp"
#include "io/file.hpp"
#include "io/sql_connection.hpp"
#include "io/store.hpp"
#include "io/store_queries.hpp"
#include "tests/io/pg_server.hpp"
#include "web/auth.hpp"
#include "web/dns_check.hpp"
#include "web/html.hpp"
#include "web/pages.hpp"
#include "web/rdns.hpp"
#include "web/routes.hpp"
#include "web/server.hpp"

namespace dmarc::web {
namespace {

using nlohmann::json;
namespace fs = std::filesystem;

constexpr const char* kAdminPassword = "correct horse battery staple";
constexpr const char* kHostileDomain = "<script>alert(1)</script>.evil.example";
constexpr const char* kHostileQueueId = "<img src=x onerror=alert(2)>";
constexpr const char* kHostileHelo = "\"><script>alert(3)</script>";
constexpr const char* kHostileReportId = "\"; filename=../../etc/passwd <b>";
constexpr const char* kHostileXml =
    "<?xml version=\"1.0\"?><feedback><report_metadata><org_name><script>alert(5)</script>"
    "</org_name><report_id>r1</report_id></report_metadata><record><row><source_ip>192.0.2.10"
    "</source_ip><count>40</count></row></record></feedback>";
constexpr const char* kHostilePtr = "<script>alert(7)</script>.ptr.example";

std::int64_t now_seconds() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

struct HttpReply {
    unsigned status = 0;
    std::multimap<std::string, std::string> headers;  // lower-case names
    std::string body;
    std::string header(const std::string& name) const {
        auto it = headers.find(name);
        return it == headers.end() ? std::string() : it->second;
    }
};

int connect_to(std::uint16_t port) {
    int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

bool send_all(int fd, std::string_view data) {
    while (!data.empty()) {
        auto n = ::send(fd, data.data(), data.size(), MSG_NOSIGNAL);
        if (n <= 0) return false;
        data.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

// Reads until the peer closes (or timeout_ms of silence).
std::string read_all(int fd, int timeout_ms = 5000) {
    std::string out;
    char buf[8192];
    for (;;) {
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, timeout_ms) <= 0) break;
        auto n = ::recv(fd, buf, sizeof buf, 0);
        if (n <= 0) break;
        out.append(buf, static_cast<std::size_t>(n));
    }
    return out;
}

HttpReply parse_reply(const std::string& raw) {
    HttpReply r;
    auto end = raw.find("\r\n\r\n");
    if (raw.size() < 12 || end == std::string::npos) return r;
    r.status = static_cast<unsigned>(std::stoi(raw.substr(9, 3)));
    std::size_t pos = raw.find("\r\n") + 2;
    while (pos < end) {
        auto eol = raw.find("\r\n", pos);
        std::string line = raw.substr(pos, eol - pos);
        auto colon = line.find(':');
        std::string name = line.substr(0, colon);
        for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
        std::string value = line.substr(colon + 1);
        while (!value.empty() && value.front() == ' ') value.erase(0, 1);
        r.headers.emplace(name, value);
        pos = eol + 2;
    }
    r.body = raw.substr(end + 4);
    return r;
}

// Where a test store lives: a SQLite file, or a fresh database on the private PostgreSQL server
// (tests/io/pg_server.hpp). "" with `why` set when the backend is unavailable.
std::string make_store_uri(const std::string& backend, const fs::path& dir, std::string& why) {
    if (backend != "postgres") return (dir / "store.db").string();
    auto* server = test::PgServer::instance();
    if (!server) {
        why = test::PgServer::why();
        return {};
    }
    return server->create_database();
}

// The backend a WebServerTest suite runs on: its instantiation's prefix ("Postgres/...").
std::string current_backend() {
    const auto* suite = ::testing::UnitTest::GetInstance()->current_test_suite();
    return suite && std::string_view(suite->name()).starts_with("Postgres/") ? "postgres"
                                                                             : "sqlite";
}

// Every store test runs the same seeded content through the real server on each backend.
class WebServerTest : public ::testing::TestWithParam<std::string> {
  protected:
    static void SetUpTestSuite() {
        ASSERT_TRUE(crypto_init());
        backend_ = current_backend();
        dir_ = fs::temp_directory_path() /
               ("dmarc-web-test-" + backend_ + "-" + std::to_string(::getpid()));
        fs::remove_all(dir_);
        fs::create_directories(dir_);
        store_path_ = make_store_uri(backend_, dir_, skip_reason_);
        if (store_path_.empty()) return;
        seed(store_path_, now_seconds());
        auto hash = hash_password(kAdminPassword);
        ASSERT_TRUE(hash);
        ASSERT_TRUE(io::add_web_user(store_path_, "admin", "admin", *hash, now_seconds()));
        ASSERT_TRUE(io::add_web_user(store_path_, "viewer", "viewer", *hash, now_seconds()));
        auto reader = io::StoreReader::open(store_path_, 4);
        ASSERT_TRUE(reader) << reader.error().message;
        reader_ = reader->release();
        auto writer = io::StoreWriter::open(store_path_);
        ASSERT_TRUE(writer) << writer.error().message;
        writer_ = writer->release();
        resolver_ = new MemoryResolver(zone());
        rdns_ = new ReverseDnsCache(*resolver_);
        metrics_ = new Metrics();
        AppOptions options;
        options.page_size = 25;
        options.writer = writer_;
        options.resolver = resolver_;
        options.rdns = rdns_;
        options.allowed_hosts = {"dmarc.example.net"};
        options.cache_seconds = 0;  // rows change under some tests; ResultCache has its own
        app_ = new App(*reader_, *metrics_, options);
        ServerOptions so;
        so.port = 0;
        so.threads = 2;
        so.read_timeout = std::chrono::milliseconds(1500);
        auto server = Server::start(
            so, [](const Request& r) { return app_->handle(r); }, metrics_,
            [](std::string_view line) {
                std::lock_guard lock(access_log_mutex_);
                access_log_lines_.push_back(std::string(line));
            });
        ASSERT_TRUE(server) << server.error().message;
        server_ = server->release();
        cookie_ = login("admin", kAdminPassword);
        ASSERT_FALSE(cookie_.empty());
    }

    static void TearDownTestSuite() {
        delete server_;
        delete app_;
        delete metrics_;
        delete rdns_;
        delete resolver_;
        delete writer_;
        delete reader_;
        server_ = nullptr;
        app_ = nullptr;
        metrics_ = nullptr;
        rdns_ = nullptr;
        resolver_ = nullptr;
        writer_ = nullptr;
        reader_ = nullptr;
        access_log_lines_.clear();
        skip_reason_.clear();
        fs::remove_all(dir_);
    }

    void SetUp() override {
        if (!skip_reason_.empty()) GTEST_SKIP() << skip_reason_;
        ASSERT_NE(server_, nullptr);
    }

    static io::ImportItem row(std::int64_t time, std::string queue_id, std::string ip,
                              std::string from, bool pass) {
        io::ImportItem item;
        SpoolRow& r = item.row;
        r.time = time;
        r.queue_id = std::move(queue_id);
        r.reporter_host = "mx1.example.net";
        r.client_ip = std::move(ip);
        r.helo = "mail.sender.example";
        r.rfc5321_mail_from = "bounce@" + from;
        r.rfc5321_rcpt_to = {"postmaster@example.net"};
        r.rfc5322_from_domain = from;
        r.policy_domain = from;
        r.discovery_method = DiscoveryMethod::treewalk;
        PublishedPolicy p;
        p.p = Policy::reject;
        p.rua = {"mailto:dmarc@" + from};
        r.record = p;
        r.spf_result = pass ? SpfResult::pass : SpfResult::fail;
        r.spf_domain = from;
        r.dkim = {{from, "sel1", pass ? DkimResult::pass : DkimResult::fail}};
        r.dkim_aligned = pass;
        r.spf_aligned = pass;
        r.dmarc_result = pass ? DmarcResult::pass : DmarcResult::fail;
        r.policy_applied = Policy::reject;
        r.disposition = pass ? Disposition::pass : Disposition::reject;
        r.action = pass ? MilterAction::accept : MilterAction::reject;
        return item;
    }

    // 40 passing messages from good.example, 20 failing from bad.example (two IPs), one from a
    // 253-byte domain, then hostile rows written straight into the tables (a store is shared with
    // other programs and older versions: the dashboard must not trust it either).
    static void seed(const std::string& uri, std::int64_t now) {
        auto store = io::open_store(uri);
        ASSERT_TRUE(store) << store.error().message;
        std::vector<io::ImportItem> items;
        for (int i = 0; i < 40; ++i) {
            // 15 minutes off the hour, so a 24 h window never falls on a row's second.
            items.push_back(row(now - 3600 * (i + 1) + 900, "GOOD" + std::to_string(i),
                                "192.0.2.10", "good.example", true));
        }
        for (int i = 0; i < 20; ++i) {
            items.push_back(row(now - 1800 * (i + 1), "BAD" + std::to_string(i),
                                i % 2 ? "198.51.100.7" : "203.0.113.9", "bad.example", false));
        }
        std::string long_domain;
        for (int i = 0; i < 4; ++i)
            long_domain += std::string(62, 'a' + static_cast<char>(i)) + ".";
        long_domain += "example";  // 4*63 + 7 = 259 > 253: shorten the last label
        long_domain = long_domain.substr(0, 246) + "example";
        long_name_ = long_domain;
        items.push_back(row(now - 100, "LONG1", "192.0.2.99", long_domain, true));
        // In time order, so both backends number the messages alike (the answers compared
        // across backends show message ids).
        std::sort(items.begin(), items.end(),
                  [](const auto& x, const auto& y) { return x.row.time < y.row.time; });
        auto imported = (*store)->import(items, std::nullopt);
        ASSERT_TRUE(imported) << imported.error().message;
        ASSERT_EQ(imported->inserted, items.size());
        store->reset();

        // The same statements on both backends (io/sql_connection.hpp).
        using io::sql::p;
        auto db = io::sql::connect(uri, {});
        ASSERT_TRUE(db) << db.error().message;
        std::string huge(2000, 'z');
        ASSERT_TRUE((*db)->exec("INSERT INTO domains (name) VALUES ($1), ($2), ($3)",
                                {p(kHostileDomain), p("x\"onmouseover=\"alert(4)'"), p(huge)}));
        auto message = [&](const std::string& job, std::int64_t received, const std::string& helo,
                           const std::string& domain) -> std::int64_t {
            auto rows = (*db)->query(
                "INSERT INTO messages (reporter_id, job_id, received, ip_id, helo, mail_from,"
                " header_from_domain_id, spf_result, spf_scope, dkim_aligned, spf_aligned,"
                " dmarc_result, disposition, action, origin) VALUES ((SELECT min(id) FROM"
                " reporters), $1, $2, (SELECT min(id) FROM ip_addresses), $3, 'a''b\"c@x',"
                " (SELECT id FROM domains WHERE name = $4), 'fail', 'mfrom', 0, 0, 'fail',"
                " 'reject', 'reject', 'spool') RETURNING id",
                {p(job), p(received), p(helo), p(domain)});
            EXPECT_TRUE(rows && rows->size() == 1) << (rows ? "" : rows.error().message);
            return rows && !rows->empty() ? io::sql::to_int(rows->front()[0]) : 0;
        };
        hostile_id_ = message(kHostileQueueId, now - 60, kHostileHelo, kHostileDomain);
        message("Q2", now - 61, "h", "x\"onmouseover=\"alert(4)'");
        message("Q3", now - 62, "h", huge);
        seed_reports(**db, now);
    }

    static MemoryResolver zone() {
        MemoryResolver z;
        z.add_txt("_dmarc.good.example",
                  "v=DMARC1; p=reject; sp=quarantine; pct=50; rua=mailto:dmarc@good.example");
        z.add_txt("good.example", "v=spf1 ip4:192.0.2.0/24 include:_spf.good.example -all");
        z.add_txt("good.example", "google-site-verification=abc");
        z.add_exists("sub.good.example");
        z.add_txt("_dmarc.hostile.example",
                  "v=DMARC1; p=reject; rua=mailto:a@x.example; x=<script>alert(9)</script>");
        z.add_txt("hostile.example", "v=spf1 a:<script>alert(10)</script> -all");
        z.add_txt("two.example", "v=spf1 -all");
        z.add_txt("two.example", "v=spf1 +all");
        z.add_ptr(IpAddress::parse("192.0.2.10")->to_reverse_name(), kHostilePtr);
        z.add_ptr(IpAddress::parse("203.0.113.9")->to_reverse_name(), "mail.bad.example");
        return z;
    }

    // The outgoing ledger: a gzip report with hostile XML and a hostile Report-ID, a zip report,
    // one with no archive; deliveries in every state; a suppression.
    static void seed_reports(io::sql::Connection& db, std::int64_t now) {
        using io::sql::p;
        auto gz = io::gzip_compress(kHostileXml);
        auto zip = io::zip_compress(
            "<feedback><report_metadata><org_name>zip</org_name>"
            "</report_metadata></feedback>",
            "report.xml");
        ASSERT_TRUE(gz && zip);
        const std::int64_t day = now / 86400 * 86400;
        auto report = [&](const char* domain, const std::string& report_id, std::int64_t created,
                          const char* compression, const std::string& archive) -> std::int64_t {
            auto rows = db.query(
                "INSERT INTO reports (policy_domain_id, period_begin, period_end, report_id,"
                " format, created, message_count, record_count, compression, archive) VALUES"
                " ((SELECT id FROM domains WHERE name = $1), $2, $3, $4, 'rfc7489', $5, 40, 1,"
                " $6, $7) RETURNING id",
                {p(domain), p(day - 86400), p(day - 1), p(report_id), p(created), p(compression),
                 io::sql::blob(archive)});
            EXPECT_TRUE(rows && rows->size() == 1) << (rows ? "" : rows.error().message);
            return rows && !rows->empty() ? io::sql::to_int(rows->front()[0]) : 0;
        };
        report_id_ = report("good.example", kHostileReportId, day + 60, "gzip", *gz);
        zip_report_id_ = report("bad.example", "zip-report-1", day + 30, "zip", *zip);
        ASSERT_TRUE(db.exec(
            "INSERT INTO reports (policy_domain_id, period_begin, period_end, report_id, format,"
            " created) VALUES ((SELECT id FROM domains WHERE name = 'bad.example'), $1, $2,"
            " 'no-archive', 'rfc9990', $3)",
            {p(day - 2 * 86400), p(day - 86401), p(day)}));
        struct D {
            const char* address;
            const char* status;
            std::int64_t attempts;
            const char* reply;
        } rows[] = {{"dmarc@good.example", "sent", 1, "250 2.0.0 Ok: queued as ABC"},
                    {"agg@other.example", "perm_failed", 3, "550 5.1.1 <script>alert(8)</script>"},
                    {"stop@other.example", "suppressed", 0, ""},
                    {"tmp@other.example", "temp_failed", 2, "451 4.3.0 try later"}};
        for (const auto& d : rows) {
            ASSERT_TRUE(
                db.exec("INSERT INTO report_deliveries (report_id, destination, address, status,"
                        " attempts, last_attempt, next_retry, smtp_reply, parts_sent) VALUES ($1,"
                        " $2, $3, $4, $5, $6, $7, $8, $9)",
                        {p(report_id_), p(std::string("mailto:") + d.address), p(d.address),
                         p(d.status), p(d.attempts), p(now - 600), p(std::nullopt), p(d.reply),
                         p(std::int64_t{d.attempts > 1 ? 1 : 0})}));
        }
        ASSERT_TRUE(
            db.exec("INSERT INTO suppressions (pattern, comment, added, expires) VALUES ('stop@"
                    "other.example', '<b>asked us</b> \"twice\"', $1, NULL)",
                    {p(now - 86400)}));
    }

    // A request with the Host header given (or none).
    static HttpReply request_host(const std::string& target, const std::optional<std::string>& host,
                                  const std::string& cookie = "") {
        int fd = connect_to(server_->port());
        EXPECT_GE(fd, 0);
        std::string req = "GET " + target + " HTTP/1.1\r\n";
        if (host) req += "Host: " + *host + "\r\n";
        if (!cookie.empty()) req += "Cookie: " + cookie + "\r\n";
        req += "Connection: close\r\n\r\n";
        send_all(fd, req);
        std::string raw = read_all(fd);
        ::close(fd);
        return parse_reply(raw);
    }

    static HttpReply request(
        const std::string& method, const std::string& target, const std::string& cookie = "",
        const std::string& body = "",
        const std::string& content_type = "application/x-www-form-urlencoded") {
        int fd = connect_to(server_->port());
        EXPECT_GE(fd, 0);
        std::string req =
            method + " " + target + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n";
        if (!cookie.empty()) req += "Cookie: " + cookie + "\r\n";
        if (method == "POST") {
            req += "Content-Type: " + content_type +
                   "\r\nContent-Length: " + std::to_string(body.size()) + "\r\n";
        }
        req += "\r\n" + body;
        send_all(fd, req);
        std::string raw = read_all(fd);
        ::close(fd);
        return parse_reply(raw);
    }

    static std::string cookie_value(const HttpReply& r, const std::string& name) {
        auto [begin, end] = r.headers.equal_range("set-cookie");
        for (auto it = begin; it != end; ++it) {
            if (it->second.starts_with(name + "=")) {
                auto semi = it->second.find(';');
                return it->second.substr(name.size() + 1, semi - name.size() - 1);
            }
        }
        return {};
    }

    static std::string hidden_csrf(const std::string& body) {
        auto pos = body.find("name=\"csrf\" value=\"");
        if (pos == std::string::npos) return {};
        pos += 19;
        return body.substr(pos, body.find('"', pos) - pos);
    }

    // Returns "dmarc_session=..." or "" on failure.
    static std::string login(const std::string& user, const std::string& password) {
        HttpReply form = request("GET", "/login");
        std::string token = cookie_value(form, kLoginCookie);
        std::string csrf = hidden_csrf(form.body);
        if (token.empty() || token != csrf) return {};
        HttpReply r = request("POST", "/login", std::string(kLoginCookie) + "=" + token,
                              "csrf=" + csrf + "&user=" + percent_encode(user) +
                                  "&password=" + percent_encode(password));
        if (r.status != 303) return {};
        std::string session = cookie_value(r, kSessionCookie);
        return session.empty() ? std::string() : std::string(kSessionCookie) + "=" + session;
    }

    static std::string csrf_of_session(const std::string& cookie) {
        return hidden_csrf(request("GET", "/", cookie).body);
    }

    static inline std::string backend_;
    static inline std::string skip_reason_;
    static inline fs::path dir_;
    static inline std::string store_path_;  // a SQLite path or a postgresql:// URI
    static inline std::string long_name_;
    static inline std::int64_t hostile_id_ = 0;
    static inline std::int64_t report_id_ = 0;
    static inline std::int64_t zip_report_id_ = 0;
    static inline io::StoreReader* reader_ = nullptr;
    static inline io::StoreWriter* writer_ = nullptr;
    static inline MemoryResolver* resolver_ = nullptr;
    static inline ReverseDnsCache* rdns_ = nullptr;
    static inline Metrics* metrics_ = nullptr;
    static inline App* app_ = nullptr;
    static inline Server* server_ = nullptr;
    static inline std::string cookie_;
    static inline std::mutex access_log_mutex_;
    static inline std::vector<std::string> access_log_lines_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, WebServerTest, ::testing::Values("sqlite"));
INSTANTIATE_TEST_SUITE_P(Postgres, WebServerTest, ::testing::Values("postgres"));

// ---- Every route: status, content type, headers -----------------------------------------------

struct RouteCase {
    const char* target;
    unsigned status;
    const char* content_type;
    const char* contains;
};

const RouteCase kAuthenticatedRoutes[] = {
    {"/", 200, "text/html; charset=utf-8", "<h1>Overview</h1>"},
    {"/?period=30d&result=fail", 200, "text/html; charset=utf-8", "Top failing sources"},
    {"/messages", 200, "text/html; charset=utf-8", "<h1>Messages</h1>"},
    {"/messages?queue_id=GOOD3", 200, "text/html; charset=utf-8", "GOOD3"},
    {"/messages/1", 200, "text/html; charset=utf-8", "Evaluation trace"},
    {"/messages/999999", 404, "text/html; charset=utf-8", "No such message"},
    {"/messages/abc", 404, "text/plain; charset=utf-8", "not found"},
    {"/domains", 200, "text/html; charset=utf-8", "good.example"},
    {"/sources", 200, "text/html; charset=utf-8", "192.0.2.10"},
    {"/api/me", 200, "application/json", "\"role\":\"admin\""},
    {"/api/overview", 200, "application/json", "\"messages\""},
    {"/api/messages", 200, "application/json", "\"next\""},
    {"/api/messages/1", 200, "application/json", "\"dkim\""},
    {"/api/messages/999999", 404, "application/json", "not found"},
    {"/api/domains", 200, "application/json", "good.example"},
    {"/api/sources", 200, "application/json", "203.0.113.9"},
    {"/api/nothing", 404, "application/json", "not found"},
    {"/nothing", 404, "text/plain; charset=utf-8", "not found"},
    {"/?period=bogus", 400, "text/html; charset=utf-8", "unknown period"},
    {"/api/overview?result=%3Cscript%3E", 400, "application/json", "unknown result"},
    {"/healthz", 200, "text/plain; charset=utf-8", "ok"},
    {"/metrics", 200, "text/plain; version=0.0.4; charset=utf-8",
     "dmarc_messages{result=\"pass\"}"},
    {"/static/app.css", 200, "text/css; charset=utf-8", "--accent"},
    {"/static/app.js", 200, "text/javascript; charset=utf-8", "autosubmit"},
    {"/login", 303, "text/plain; charset=utf-8", ""},  // already logged in
    {"/reports", 200, "text/html; charset=utf-8", "<h1>Reports</h1>"},
    {"/reports/1", 200, "text/html; charset=utf-8", "&lt;feedback&gt;"},
    {"/reports/999999", 404, "text/html; charset=utf-8", "No such report"},
    {"/reports/abc", 404, "text/plain; charset=utf-8", "not found"},
    {"/reports/1/resend", 404, "text/plain; charset=utf-8", "not found"},  // GET: no such page
    {"/reports/1/download", 200, "application/gzip", ""},
    {"/reports/2/download", 200, "application/zip", "PK"},
    {"/reports/3/download", 404, "text/html; charset=utf-8", "No such report archive"},
    {"/api/reports", 200, "application/json", "\"deliveries\""},
    {"/api/reports/1", 200, "application/json", "\"xml\":\"<?xml"},
    {"/api/reports/3", 200, "application/json", "\"xml\":null"},
    {"/api/reports/999999", 404, "application/json", "not found"},
    {"/suppressions", 200, "text/html; charset=utf-8", "stop@other.example"},
    {"/api/suppressions", 200, "application/json", "\"pattern\":\"stop@other.example\""},
    {"/dns", 200, "text/html; charset=utf-8", "<h1>DNS check</h1>"},
    {"/dns?domain=good.example", 200, "text/html; charset=utf-8", "p=reject"},
    {"/dns?domain=%3Cscript%3E", 400, "text/html; charset=utf-8", "not a domain name"},
    {"/api/dns?domain=good.example", 200, "application/json", "\"status\":\"found\""},
    {"/api/dns", 400, "application/json", "domain: required"},
    {"/api/dns?domain=a..b", 400, "application/json", "not a domain name"},
};

void expect_security_headers(const HttpReply& r, const std::string& what) {
    const std::string csp = r.header("content-security-policy");
    EXPECT_NE(csp.find("default-src 'none'"), std::string::npos) << what;
    EXPECT_NE(csp.find("script-src 'self'"), std::string::npos) << what;
    EXPECT_NE(csp.find("frame-ancestors 'none'"), std::string::npos) << what;
    EXPECT_EQ(csp.find("unsafe-inline"), std::string::npos) << what;
    EXPECT_EQ(r.header("x-content-type-options"), "nosniff") << what;
    EXPECT_EQ(r.header("x-frame-options"), "DENY") << what;
    EXPECT_EQ(r.header("referrer-policy"), "no-referrer") << what;
    EXPECT_FALSE(r.header("cache-control").empty()) << what;
}

TEST_P(WebServerTest, EveryRouteAnswersWithItsStatusTypeAndSecurityHeaders) {
    for (const auto& c : kAuthenticatedRoutes) {
        HttpReply r = request("GET", c.target, cookie_);
        EXPECT_EQ(r.status, c.status) << c.target << "\n" << r.body.substr(0, 300);
        EXPECT_EQ(r.header("content-type"), c.content_type) << c.target;
        EXPECT_NE(r.body.find(c.contains), std::string::npos) << c.target;
        expect_security_headers(r, c.target);
        if (std::string_view(r.header("content-type")).starts_with("application/json")) {
            EXPECT_TRUE(json::accept(r.body)) << c.target;
        }
    }
}

TEST_P(WebServerTest, LoginIsRequiredForEveryPageAndApi) {
    for (const char* page :
         {"/", "/messages", "/messages/1", "/domains", "/sources", "/?period=all", "/logout"}) {
        HttpReply r = request("GET", page);
        EXPECT_EQ(r.status, 303) << page;
        EXPECT_EQ(r.header("location"), "/login") << page;
        EXPECT_EQ(r.body.find("good.example"), std::string::npos) << page;
        expect_security_headers(r, page);
    }
    for (const char* api : {"/api/me", "/api/overview", "/api/messages", "/api/messages/1",
                            "/api/domains", "/api/sources"}) {
        HttpReply r = request("GET", api);
        EXPECT_EQ(r.status, 401) << api;
        EXPECT_EQ(r.header("content-type"), "application/json") << api;
        EXPECT_EQ(r.body.find("good.example"), std::string::npos) << api;
    }
    // A forged or expired session id is no session.
    HttpReply forged =
        request("GET", "/api/me", std::string(kSessionCookie) + "=" + std::string(64, 'a'));
    EXPECT_EQ(forged.status, 401);
}

TEST_P(WebServerTest, LoginPageAndCookiesAreHardened) {
    HttpReply form = request("GET", "/login");
    EXPECT_EQ(form.status, 200);
    EXPECT_EQ(form.header("content-type"), "text/html; charset=utf-8");
    expect_security_headers(form, "/login");
    std::string set_cookie = form.header("set-cookie");
    EXPECT_NE(set_cookie.find("HttpOnly"), std::string::npos);
    EXPECT_NE(set_cookie.find("SameSite=Strict"), std::string::npos);
    EXPECT_EQ(set_cookie.find("Secure"), std::string::npos);  // plain HTTP here
    // A second load (a favicon fetch landing on /login) keeps the token the shown form holds.
    std::string token = cookie_value(form, kLoginCookie);
    HttpReply again = request("GET", "/login", std::string(kLoginCookie) + "=" + token);
    EXPECT_EQ(hidden_csrf(again.body), token);
    EXPECT_EQ(request("GET", "/favicon.ico").status, 404);
    // No inline script or style anywhere (the CSP would block them).
    EXPECT_EQ(form.body.find("<script>"), std::string::npos);
    EXPECT_EQ(form.body.find("style="), std::string::npos);
}

TEST_P(WebServerTest, LoginWithoutOrWithWrongCsrfTokenIsRefused) {
    HttpReply form = request("GET", "/login");
    std::string token = cookie_value(form, kLoginCookie);
    std::string body = std::string("user=admin&password=") + percent_encode(kAdminPassword);
    // No token at all, a token without its cookie, and a cookie with another token.
    EXPECT_EQ(request("POST", "/login", "", body).status, 403);
    EXPECT_EQ(request("POST", "/login", "", "csrf=" + token + "&" + body).status, 403);
    EXPECT_EQ(request("POST", "/login", std::string(kLoginCookie) + "=" + token,
                      "csrf=" + std::string(64, '0') + "&" + body)
                  .status,
              403);
}

TEST_P(WebServerTest, WrongPasswordIsRefusedAndUnknownUserLooksTheSame) {
    HttpReply form = request("GET", "/login");
    std::string token = cookie_value(form, kLoginCookie);
    auto attempt = [&](const std::string& user, const std::string& password) {
        return request("POST", "/login", std::string(kLoginCookie) + "=" + token,
                       "csrf=" + token + "&user=" + user + "&password=" + percent_encode(password));
    };
    HttpReply wrong = attempt("admin", "not the password");
    HttpReply unknown = attempt("nobody", "not the password");
    EXPECT_EQ(wrong.status, 401);
    EXPECT_EQ(unknown.status, 401);
    EXPECT_TRUE(cookie_value(wrong, kSessionCookie).empty());
    EXPECT_NE(wrong.body.find("Wrong user name or password."), std::string::npos);
    EXPECT_NE(unknown.body.find("Wrong user name or password."), std::string::npos);
    // The failures above count against 127.0.0.1: clear them for the other tests (a success
    // resets the counter).
    EXPECT_FALSE(login("admin", kAdminPassword).empty());
}

TEST_P(WebServerTest, StateChangingPostsNeedTheSessionCsrfToken) {
    std::string session = login("viewer", kAdminPassword);
    ASSERT_FALSE(session.empty());
    std::string csrf = csrf_of_session(session);
    ASSERT_EQ(csrf.size(), 64u);
    // Without a token, with another token, as JSON, and without a session: refused.
    EXPECT_EQ(request("POST", "/logout", session, "").status, 403);
    EXPECT_EQ(request("POST", "/logout", session, "csrf=" + std::string(64, 'f')).status, 403);
    EXPECT_EQ(request("POST", "/logout", session, "{\"csrf\":\"" + csrf + "\"}", "application/json")
                  .status,
              403);
    EXPECT_EQ(request("POST", "/logout", "", "csrf=" + csrf).status, 403);
    EXPECT_EQ(request("POST", "/api/overview", session, "").status, 403);
    // The session survived all of that.
    EXPECT_EQ(request("GET", "/api/me", session).status, 200);
    // Another session's token is not this session's.
    std::string other_csrf = csrf_of_session(cookie_);
    EXPECT_EQ(request("POST", "/logout", session, "csrf=" + other_csrf).status, 403);
    // The right token logs out, and the session is gone.
    HttpReply out = request("POST", "/logout", session, "csrf=" + csrf);
    EXPECT_EQ(out.status, 303);
    EXPECT_EQ(out.header("location"), "/login");
    EXPECT_EQ(request("GET", "/api/me", session).status, 401);
}

TEST_P(WebServerTest, OtherMethodsAreRefused) {
    EXPECT_EQ(request("PUT", "/", cookie_).status, 405);
    EXPECT_EQ(request("DELETE", "/api/messages/1", cookie_).status, 405);
    HttpReply r = request("POST", "/healthz", cookie_);
    EXPECT_EQ(r.status, 405);
    EXPECT_EQ(r.header("allow"), "GET");
}

// ---- Hostile values from the store ------------------------------------------------------------

TEST_P(WebServerTest, HostileValuesAreEscapedOnEveryPage) {
    for (const char* page :
         {"/?period=all", "/messages?period=all", "/domains?period=all", "/sources?period=all"}) {
        HttpReply r = request("GET", page, cookie_);
        ASSERT_EQ(r.status, 200) << page;
        EXPECT_EQ(r.body.find("<script>alert"), std::string::npos) << page;
        EXPECT_EQ(r.body.find("<img src=x"), std::string::npos) << page;
        EXPECT_EQ(r.body.find("\"onmouseover"), std::string::npos) << page;
        // The only <script> is the external app.js.
        std::size_t scripts = 0;
        for (auto pos = r.body.find("<script"); pos != std::string::npos;
             pos = r.body.find("<script", pos + 1)) {
            ++scripts;
        }
        EXPECT_EQ(scripts, 1u) << page;
    }
    HttpReply list = request("GET", "/messages?period=all", cookie_);
    EXPECT_NE(list.body.find("&lt;script&gt;alert(1)&lt;/script&gt;.evil.example"),
              std::string::npos);
    EXPECT_NE(list.body.find("&lt;img src=x onerror=alert(2)&gt;"), std::string::npos);
    EXPECT_NE(list.body.find("x&quot;onmouseover=&quot;alert(4)&#39;"), std::string::npos);
    EXPECT_NE(list.body.find(std::string(2000, 'z')), std::string::npos);  // shown, not cut

    HttpReply detail = request("GET", "/messages/" + std::to_string(hostile_id_), cookie_);
    ASSERT_EQ(detail.status, 200);
    EXPECT_NE(detail.body.find("&quot;&gt;&lt;script&gt;alert(3)&lt;/script&gt;"),
              std::string::npos);
    EXPECT_NE(detail.body.find("a&#39;b&quot;c@x"), std::string::npos);
    EXPECT_EQ(detail.body.find("<script>alert"), std::string::npos);
    // The title carries the hostile queue id too.
    EXPECT_NE(detail.body.find("<title>Message &lt;img src=x"), std::string::npos);

    // The API returns the value itself, as JSON, with nosniff: a browser never renders it.
    HttpReply api = request("GET", "/api/messages/" + std::to_string(hostile_id_), cookie_);
    ASSERT_EQ(api.status, 200);
    EXPECT_EQ(api.header("content-type"), "application/json");
    EXPECT_EQ(api.header("x-content-type-options"), "nosniff");
    json j = json::parse(api.body);
    EXPECT_EQ(j["header_from"], kHostileDomain);
    EXPECT_EQ(j["queue_id"], kHostileQueueId);
    EXPECT_EQ(j["helo"], kHostileHelo);
}

TEST_P(WebServerTest, HostileFilterValuesAreEscapedBackIntoTheForm) {
    HttpReply r =
        request("GET", "/messages?header_from=%22%3E%3Cscript%3Ealert(5)%3C%2Fscript%3E&ip=%27%22",
                cookie_);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body.find("<script>alert(5)"), std::string::npos);
    EXPECT_NE(r.body.find("value=\"&quot;&gt;&lt;script&gt;alert(5)&lt;/script&gt;\""),
              std::string::npos);
    EXPECT_NE(r.body.find("value=\"&#39;&quot;\""), std::string::npos);
}

TEST_P(WebServerTest, LongDomainNamesAreShownWhole) {
    HttpReply r = request("GET", "/domains?period=all", cookie_);
    EXPECT_NE(r.body.find(long_name_), std::string::npos);
}

// ---- Filters, aggregation, paging
// -----------------------------------------------------------------

TEST_P(WebServerTest, FiltersDriveTheKpis) {
    json all = json::parse(request("GET", "/api/overview?period=7d", cookie_).body);
    EXPECT_EQ(all["messages"], 64);  // 40 + 20 + 1 + 3 hostile
    EXPECT_EQ(all["dmarc_pass"], 41);
    json fail = json::parse(request("GET", "/api/overview?period=7d&result=fail", cookie_).body);
    EXPECT_EQ(fail["messages"], 23);
    EXPECT_EQ(fail["dmarc_pass"], 0);
    EXPECT_EQ(fail["disposition"]["reject"], 23);
    json bad = json::parse(request("GET", "/api/overview?header_from=BAD.example", cookie_).body);
    EXPECT_EQ(bad["messages"], 20);
    EXPECT_EQ(bad["spf_aligned"], 0);
    ASSERT_EQ(bad["failing_sources"].size(), 2u);
    EXPECT_EQ(bad["failing_sources"][0]["messages"], 10);
    json ip = json::parse(request("GET", "/api/overview?ip=192.0.2.10", cookie_).body);
    EXPECT_EQ(ip["messages"], 43);  // the hostile rows reuse the first address
    EXPECT_EQ(ip["dkim_aligned"], 40);
    // Last 24 hours: 24 good ones (0.75..23.75 h ago), the 20 bad (0.5..10 h) and 4 recent.
    json day = json::parse(request("GET", "/api/overview?period=24h", cookie_).body);
    EXPECT_EQ(day["messages"], 24 + 20 + 4);
    EXPECT_EQ(day["bucket_seconds"], 3600);
    std::int64_t series_total = 0;
    for (const auto& p : day["series"]) series_total += p["messages"].get<std::int64_t>();
    EXPECT_EQ(series_total, 48);
    // A custom period before any data.
    json empty = json::parse(
        request("GET", "/api/overview?period=custom&from=2001-01-01&to=2001-01-31", cookie_).body);
    EXPECT_EQ(empty["messages"], 0);
    EXPECT_EQ(request("GET", "/api/overview?period=custom&from=2001-13-01", cookie_).status, 400);
}

TEST_P(WebServerTest, MessagesPageByKeysetWithoutOverlap) {
    std::set<std::int64_t> seen;
    std::string next;
    int pages = 0;
    do {
        std::string target = "/api/messages?period=all" + (next.empty() ? "" : "&before=" + next);
        json page = json::parse(request("GET", target, cookie_).body);
        for (const auto& m : page["messages"]) {
            EXPECT_TRUE(seen.insert(m["id"].get<std::int64_t>()).second) << "repeated " << m["id"];
        }
        next = page["next"].is_null() ? "" : page["next"].get<std::string>();
        ++pages;
    } while (!next.empty() && pages < 10);
    EXPECT_EQ(seen.size(), 64u);
    EXPECT_EQ(pages, 3);  // 25 + 25 + 14
    json one = json::parse(request("GET", "/api/messages?queue_id=BAD3", cookie_).body);
    ASSERT_EQ(one["messages"].size(), 1u);
    EXPECT_EQ(one["messages"][0]["ip"], "198.51.100.7");
    EXPECT_EQ(request("GET", "/api/messages?before=x", cookie_).status, 400);
}

TEST_P(WebServerTest, MessageDetailShowsTheEvaluationTrace) {
    json list = json::parse(request("GET", "/api/messages?queue_id=GOOD1", cookie_).body);
    ASSERT_EQ(list["messages"].size(), 1u);
    std::string id = std::to_string(list["messages"][0]["id"].get<std::int64_t>());
    HttpReply page = request("GET", "/messages/" + id, cookie_);
    ASSERT_EQ(page.status, 200);
    for (const char* part : {"_dmarc.good.example", "v=DMARC1; p=reject", "treewalk", "sel1",
                             "mailto:dmarc@good.example", "mx1.example.net"}) {
        EXPECT_NE(page.body.find(part), std::string::npos) << part;
    }
    json d = json::parse(request("GET", "/api/messages/" + id, cookie_).body);
    EXPECT_EQ(d["record"]["p"], "reject");
    EXPECT_EQ(d["dkim"][0]["s"], "sel1");
    EXPECT_EQ(d["spf"]["result"], "pass");
}

TEST_P(WebServerTest, MetricsCountMessagesByResultAndRequests) {
    HttpReply r = request("GET", "/metrics");
    EXPECT_NE(r.body.find("dmarc_messages{result=\"pass\"} 41"), std::string::npos) << r.body;
    EXPECT_NE(r.body.find("dmarc_messages{result=\"fail\"} 23"), std::string::npos);
    EXPECT_NE(r.body.find("dmarc_web_requests_total{code=\"2xx\"}"), std::string::npos);
    EXPECT_NE(r.body.find("dmarc_web_request_duration_seconds_bucket{le=\"+Inf\"}"),
              std::string::npos);
}

// ---- Static assets: a fixed map, no filesystem -------------------------------------------------

TEST_P(WebServerTest, StaticAssetsCannotBeTraversed) {
    for (const char* target : {"/static/../../../../etc/passwd",
                               "/static/%2e%2e/%2e%2e/etc/passwd",
                               "/static/..%2f..%2fetc%2fpasswd",
                               "/static/app.css/../../etc/passwd",
                               "/static//etc/passwd",
                               "/static/%2fetc%2fpasswd",
                               "/static/app.css%00.js",
                               "/static/./app.css",
                               "/static/APP.CSS",
                               "/static/",
                               "/static/..",
                               "/../etc/passwd",
                               "/static/..\\..\\etc\\passwd",
                               "/reports/1/../../../etc/passwd",
                               "/reports/%2e%2e/%2e%2e/etc/passwd/download",
                               "/reports/1/download/../../etc/passwd",
                               "/reports/..%2f1/download",
                               "/api/reports/..%2f..%2fetc",
                               "/suppressions/..%2f/delete",
                               "/dns/../../etc/passwd"}) {
        HttpReply r = request("GET", target, cookie_);
        EXPECT_TRUE(r.status == 404 || r.status == 400 || r.status == 303)
            << target << " " << r.status;
        EXPECT_EQ(r.body.find("root:"), std::string::npos) << target;
    }
}

// ---- Transport: deadlines, limits, keep-alive ---------------------------------------------------

TEST_P(WebServerTest, SlowClientTricklingHeadersIsCutOff) {
    int fd = connect_to(server_->port());
    ASSERT_GE(fd, 0);
    const std::string req =
        "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: aaaaaaaaaaaaaaaaaaaa\r\n\r\n";
    auto start = std::chrono::steady_clock::now();
    bool cut = false;
    // One byte every 200 ms: the request would take 15 s; the deadline is 1.5 s.
    for (char c : req) {
        if (!send_all(fd, std::string_view(&c, 1))) {
            cut = true;
            break;
        }
        pollfd p{fd, POLLIN, 0};
        if (::poll(&p, 1, 200) > 0) {
            char buf[256];
            auto n = ::recv(fd, buf, sizeof buf, 0);
            if (n <= 0) {
                cut = true;
                break;
            }
            ADD_FAILURE() << "the server answered a request it should not have completed";
            break;
        }
        if (std::chrono::steady_clock::now() - start > std::chrono::seconds(6)) break;
    }
    auto elapsed = std::chrono::steady_clock::now() - start;
    ::close(fd);
    EXPECT_TRUE(cut);
    EXPECT_LT(elapsed, std::chrono::seconds(4));
    EXPECT_GE(elapsed, std::chrono::milliseconds(1400));
}

TEST_P(WebServerTest, IdleKeepAliveConnectionIsClosedAfterTheDeadline) {
    int fd = connect_to(server_->port());
    ASSERT_GE(fd, 0);
    auto start = std::chrono::steady_clock::now();
    std::string raw = read_all(fd, 5000);  // sends nothing: the server closes
    EXPECT_TRUE(raw.empty());
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(4));
    ::close(fd);
}

TEST_P(WebServerTest, OversizedHeadersAndBodiesAreRefused) {
    HttpReply big_header = request("GET", "/healthz", "x=" + std::string(20000, 'a'));
    EXPECT_EQ(big_header.status, 431);
    HttpReply big_body = request("POST", "/login", "", std::string(20000, 'a'));
    EXPECT_EQ(big_body.status, 413);
}

TEST_P(WebServerTest, KeepAliveServesSeveralRequestsOnOneConnection) {
    int fd = connect_to(server_->port());
    ASSERT_GE(fd, 0);
    send_all(fd,
             "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
             "GET /static/app.js HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
             "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n");
    std::string raw = read_all(fd);
    ::close(fd);
    std::size_t answers = 0;
    for (auto pos = raw.find("HTTP/1.1 200 OK"); pos != std::string::npos;
         pos = raw.find("HTTP/1.1 200 OK", pos + 1)) {
        ++answers;
    }
    EXPECT_EQ(answers, 3u);
}

TEST_P(WebServerTest, AccessLogHasOneLinePerRequest) {
    std::size_t before = access_log_lines_.size();
    request("GET", "/healthz?probe=1");
    // The line is written before the response, so it is there once the reply has been read.
    ASSERT_GT(access_log_lines_.size(), before);
    EXPECT_NE(access_log_lines_.back().find("\"GET /healthz?probe=1\" 200"), std::string::npos)
        << access_log_lines_.back();
}

// ---- TLS ----------------------------------------------------------------------------------------

std::string run_command(const std::string& command) {
    FILE* p = ::popen(command.c_str(), "r");
    if (!p) return {};
    std::string out;
    char buf[1024];
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    ::pclose(p);
    return out;
}

TEST_P(WebServerTest, TlsServesWithSecureCookiesAndHsts) {
    if (std::system("command -v openssl >/dev/null && command -v curl >/dev/null") != 0) {
        GTEST_SKIP() << "needs the openssl and curl commands";
    }
    const std::string cert = (dir_ / "cert.pem").string();
    const std::string key = (dir_ / "key.pem").string();
    ASSERT_EQ(std::system(("openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj /CN=localhost"
                           " -keyout " +
                           key + " -out " + cert + " >/dev/null 2>&1")
                              .c_str()),
              0);
    ServerOptions so;
    so.port = 0;
    so.threads = 1;
    so.tls_certificate = cert;
    so.tls_key = key;
    auto tls = Server::start(
        so, [](const Request& r) { return app_->handle(r); }, nullptr, nullptr);
    ASSERT_TRUE(tls) << tls.error().message;
    EXPECT_TRUE((*tls)->tls());
    const std::string url = "https://127.0.0.1:" + std::to_string((*tls)->port());
    std::string head = run_command("curl -sk -o /dev/null -D - " + url + "/login");
    EXPECT_NE(head.find("HTTP/1.1 200"), std::string::npos) << head;
    EXPECT_NE(head.find("Strict-Transport-Security: max-age="), std::string::npos) << head;
    EXPECT_NE(head.find("SameSite=Strict; Secure"), std::string::npos) << head;
    // Plain HTTP on the TLS port gets no answer.
    int fd = connect_to((*tls)->port());
    ASSERT_GE(fd, 0);
    send_all(fd, "GET /healthz HTTP/1.1\r\nHost: a\r\n\r\n");
    EXPECT_EQ(read_all(fd, 3000).find("200 OK"), std::string::npos);
    ::close(fd);
    // Both files or neither.
    so.tls_key.clear();
    EXPECT_FALSE(Server::start(
        so, [](const Request& r) { return app_->handle(r); }, nullptr, nullptr));
}

// ---- Reports: ledger, preview, download, resend ----------------------------------------------

TEST_P(WebServerTest, ReportsListTheLedgerPerReportAndDestination) {
    json j = json::parse(request("GET", "/api/reports", cookie_).body);
    ASSERT_EQ(j["reports"].size(), 3u);
    // Newest first (created).
    EXPECT_EQ(j["reports"][1]["report_id"], "zip-report-1");
    EXPECT_EQ(j["reports"][2]["report_id"], "no-archive");
    const json& r = j["reports"][0];
    EXPECT_EQ(r["report_id"], kHostileReportId);
    EXPECT_EQ(r["policy_domain"], "good.example");
    ASSERT_EQ(r["deliveries"].size(), 4u);
    EXPECT_EQ(r["deliveries"][1]["status"], "perm_failed");
    EXPECT_EQ(r["deliveries"][1]["attempts"], 3);
    EXPECT_EQ(r["deliveries"][1]["smtp_reply"], "550 5.1.1 <script>alert(8)</script>");
    HttpReply page = request("GET", "/reports", cookie_);
    ASSERT_EQ(page.status, 200);
    EXPECT_EQ(page.body.find("<b>"), std::string::npos);
    EXPECT_NE(page.body.find("&quot;; filename=../../etc/passwd &lt;b&gt;"), std::string::npos);
    for (const char* status : {"sent", "perm_failed", "suppressed", "temp_failed"}) {
        EXPECT_NE(page.body.find(std::string(">") + status + "</span>"), std::string::npos)
            << status;
    }
    // An admin sees the resend form with the session's token; a viewer does not.
    EXPECT_NE(page.body.find("action=\"/reports/" + std::to_string(report_id_) + "/resend\""),
              std::string::npos);
    std::string viewer = login("viewer", kAdminPassword);
    EXPECT_EQ(request("GET", "/reports", viewer).body.find("/resend"), std::string::npos);
}

TEST_P(WebServerTest, ReportPreviewShowsTheXmlEscapedAndIndented) {
    HttpReply r = request("GET", "/reports/" + std::to_string(report_id_), cookie_);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body.find("<script>alert"), std::string::npos);
    EXPECT_EQ(r.body.find("<feedback>"), std::string::npos);
    // The hostile element is an element of the preview, shown as text like the rest.
    EXPECT_NE(r.body.find("&lt;org_name&gt;\n      &lt;script&gt;alert(5)&lt;/script&gt;"),
              std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("\n    &lt;row&gt;"), std::string::npos);  // indented
    EXPECT_NE(r.body.find("550 5.1.1 &lt;script&gt;alert(8)&lt;/script&gt;"), std::string::npos);
    // The zip report is found by its magic bytes, not its label.
    HttpReply z = request("GET", "/reports/" + std::to_string(zip_report_id_), cookie_);
    EXPECT_NE(z.body.find("&lt;org_name&gt;zip&lt;/org_name&gt;"), std::string::npos);
    HttpReply none = request("GET", "/reports/3", cookie_);
    EXPECT_NE(none.body.find("No archive stored"), std::string::npos);
}

TEST_P(WebServerTest, ReportDownloadIsAnAttachmentWithASafeName) {
    HttpReply r = request("GET", "/reports/" + std::to_string(report_id_) + "/download", cookie_);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.header("content-type"), "application/gzip");
    const std::string cd = r.header("content-disposition");
    EXPECT_TRUE(cd.starts_with("attachment; filename=\"")) << cd;
    const std::string name = cd.substr(22, cd.size() - 23);
    EXPECT_TRUE(name.ends_with(".xml.gz")) << name;
    EXPECT_EQ(name.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                                     "0123456789._!-"),
              std::string::npos)
        << name;
    EXPECT_EQ(name.find(".."), std::string::npos) << name;
    EXPECT_NE(name.find("!good.example!"), std::string::npos) << name;
    // The bytes are the archive as stored.
    auto xml = io::gzip_decompress(r.body);
    ASSERT_TRUE(xml);
    EXPECT_EQ(*xml, kHostileXml);
    HttpReply zip =
        request("GET", "/reports/" + std::to_string(zip_report_id_) + "/download", cookie_);
    EXPECT_EQ(zip.header("content-type"), "application/zip");
    EXPECT_TRUE(zip.header("content-disposition").ends_with(".zip\""));
    // Without a session: the login page, never the bytes.
    EXPECT_EQ(request("GET", "/reports/1/download").status, 303);
}

TEST_P(WebServerTest, ResendNeedsAnAdminAndTheCsrfTokenThenQueuesTheDeliveries) {
    const std::string target = "/reports/" + std::to_string(report_id_) + "/resend";
    std::string viewer = login("viewer", kAdminPassword);
    EXPECT_EQ(request("POST", target, viewer, "csrf=" + csrf_of_session(viewer)).status, 403);
    EXPECT_EQ(request("POST", target, cookie_, "").status, 403);
    EXPECT_EQ(request("POST", target, cookie_, "csrf=" + std::string(64, 'a')).status, 403);
    EXPECT_EQ(request("POST", target, "", "csrf=x").status, 403);
    EXPECT_EQ(request("POST", "/reports/999999/resend", cookie_, "csrf=" + csrf_of_session(cookie_))
                  .status,
              404);
    const std::int64_t before = now_seconds();
    HttpReply ok = request("POST", target, cookie_, "csrf=" + csrf_of_session(cookie_));
    ASSERT_EQ(ok.status, 303);
    EXPECT_EQ(ok.header("location"), "/reports/" + std::to_string(report_id_) + "?resent=3");
    json j =
        json::parse(request("GET", "/api/reports/" + std::to_string(report_id_), cookie_).body);
    std::map<std::string, json> by_address;
    for (const auto& d : j["deliveries"]) by_address[d["address"]] = d;
    for (const char* a : {"dmarc@good.example", "agg@other.example", "tmp@other.example"}) {
        EXPECT_EQ(by_address[a]["status"], "pending") << a;
        EXPECT_EQ(by_address[a]["attempts"], 0) << a;
        EXPECT_GE(by_address[a]["next_retry"].get<std::int64_t>(), before) << a;
        EXPECT_LE(by_address[a]["next_retry"].get<std::int64_t>(), now_seconds()) << a;
    }
    // A suppressed destination stays suppressed: a resend does not override a suppression.
    EXPECT_EQ(by_address["stop@other.example"]["status"], "suppressed");
    // The reporter resumes split reports at parts_sent: a resend starts them over.
    auto db = io::sql::connect(store_path_, {});
    ASSERT_TRUE(db);
    auto parts = (*db)->query("SELECT sum(parts_sent) FROM report_deliveries WHERE report_id = $1",
                              {io::sql::p(report_id_)});
    ASSERT_TRUE(parts && parts->size() == 1);
    EXPECT_EQ(io::sql::to_int(parts->front()[0]), 0);
    HttpReply shown = request("GET", ok.header("location"), cookie_);
    EXPECT_NE(shown.body.find("3 deliveries set back to pending"), std::string::npos);
}

// The role is read from the store on every request, as the scope is: an admin demoted with
// `dmarc-web user role` is refused the admin-only changes at its very next request, on the same
// session (no new login), and /api/me and the pages say so; promoted back, it may again.
// `user disable`: someone who left loses the dashboard at once: a live session ends at its next
// request and the password no longer logs in; `user enable` gives access back. The last admin
// who can sign in is never disabled (on both backends).
TEST_P(WebServerTest, ADisabledUserIsLoggedOutAtItsNextRequest) {
    auto hash = hash_password(kAdminPassword);
    ASSERT_TRUE(hash);
    ASSERT_TRUE(io::add_web_user(store_path_, "leaver", "viewer", *hash, now_seconds()));
    const std::string leaver = login("leaver", kAdminPassword);
    ASSERT_FALSE(leaver.empty());
    EXPECT_EQ(request("GET", "/api/me", leaver).status, 200u);
    ASSERT_TRUE(io::set_web_user_disabled(store_path_, "leaver", true));
    EXPECT_EQ(request("GET", "/api/me", leaver).status, 401u);
    EXPECT_EQ(request("GET", "/", leaver).status, 303u);  // to /login
    EXPECT_TRUE(login("leaver", kAdminPassword).empty());
    ASSERT_TRUE(io::set_web_user_disabled(store_path_, "leaver", false));
    const std::string back = login("leaver", kAdminPassword);
    ASSERT_FALSE(back.empty());
    EXPECT_EQ(request("GET", "/api/me", back).status, 200u);
    auto listed = io::list_web_users(store_path_);
    ASSERT_TRUE(listed) << listed.error().message;
    bool seen = false;
    for (const auto& u : *listed) {
        if (u.name == "leaver") seen = u.role == "viewer" && !u.disabled && u.scope.all;
    }
    EXPECT_TRUE(seen);

    // Disabling every enabled admin in turn: the last one is refused, whatever other tests added.
    std::vector<std::string> disabled;
    for (const auto& u : *listed) {
        if (u.role != "admin" || u.disabled) continue;
        auto r = io::set_web_user_disabled(store_path_, u.name, true);
        if (r) {
            disabled.push_back(u.name);
            continue;
        }
        EXPECT_EQ(r.error().code, Errc::invalid_value);
        EXPECT_NE(r.error().message.find(u.name + " is the last admin"), std::string::npos)
            << r.error().message;
    }
    auto after = io::list_web_users(store_path_);
    ASSERT_TRUE(after);
    int enabled_admins = 0;
    for (const auto& u : *after) enabled_admins += u.role == "admin" && !u.disabled;
    EXPECT_EQ(enabled_admins, 1);
    for (const auto& name : disabled) {
        ASSERT_TRUE(io::set_web_user_disabled(store_path_, name, false));  // as before the test
    }
}

// `user passwd`: a new password ends the sessions opened with the old one (a stolen session
// or a shared password is cut off by changing it); the new password logs in, the old does not.
TEST_P(WebServerTest, ANewPasswordEndsTheSessionsOpenedWithTheOldOne) {
    auto hash = hash_password(kAdminPassword);
    ASSERT_TRUE(hash);
    ASSERT_TRUE(io::add_web_user(store_path_, "mover", "viewer", *hash, now_seconds()));
    const std::string first = login("mover", kAdminPassword);
    const std::string second = login("mover", kAdminPassword);
    ASSERT_FALSE(first.empty());
    ASSERT_FALSE(second.empty());
    EXPECT_EQ(request("GET", "/api/me", first).status, 200u);
    const std::string new_password = "another long password 2";
    auto new_hash = hash_password(new_password);
    ASSERT_TRUE(new_hash);
    ASSERT_TRUE(io::set_web_user_password(store_path_, "mover", *new_hash));
    EXPECT_EQ(request("GET", "/api/me", first).status, 401u);
    EXPECT_EQ(request("GET", "/", second).status, 303u);  // to /login
    const std::string fresh = login("mover", new_password);
    ASSERT_FALSE(fresh.empty());
    EXPECT_EQ(request("GET", "/api/me", fresh).status, 200u);
    EXPECT_EQ(request("GET", "/api/me", fresh).status, 200u);  // stays logged in
}

TEST_P(WebServerTest, ARoleChangeAppliesToALiveSessionAtItsNextRequest) {
    auto hash = hash_password(kAdminPassword);
    ASSERT_TRUE(hash);
    ASSERT_TRUE(io::add_web_user(store_path_, "chief", "admin", *hash, now_seconds()));
    const std::string chief = login("chief", kAdminPassword);
    ASSERT_FALSE(chief.empty());
    const std::string csrf = csrf_of_session(chief);
    ASSERT_FALSE(csrf.empty());
    // Admin-only, and changing nothing: deleting a suppression that does not exist (404 for an
    // admin, 403 for anyone else).
    const std::string admin_only = "/suppressions/999999999/delete";
    const std::string report_page = "/reports/" + std::to_string(report_id_);
    auto role_now = [&] {
        HttpReply r = request("GET", "/api/me", chief);
        EXPECT_EQ(r.status, 200u);
        auto j = json::parse(r.body, nullptr, false);
        return j.is_object() && j.contains("role") ? j["role"] : json(nullptr);
    };
    auto resend_shown = [&] {
        return request("GET", report_page, chief).body.find("/resend\"") != std::string::npos;
    };
    EXPECT_EQ(role_now(), "admin");
    EXPECT_EQ(request("POST", admin_only, chief, "csrf=" + csrf).status, 404u);
    EXPECT_TRUE(resend_shown());

    ASSERT_TRUE(io::set_web_user_role(store_path_, "chief", "viewer"));
    EXPECT_EQ(request("POST", admin_only, chief, "csrf=" + csrf).status, 403u);
    // (The zip report has no deliveries: were the resend let through, it would change nothing.)
    EXPECT_EQ(request("POST", "/reports/" + std::to_string(zip_report_id_) + "/resend", chief,
                      "csrf=" + csrf)
                  .status,
              403u);
    EXPECT_EQ(role_now(), "viewer");
    EXPECT_FALSE(resend_shown());
    EXPECT_NE(request("GET", "/", chief).body.find("chief (viewer)"), std::string::npos);
    EXPECT_EQ(csrf_of_session(chief), csrf);  // still the same session

    ASSERT_TRUE(io::set_web_user_role(store_path_, "chief", "admin"));
    EXPECT_EQ(request("POST", admin_only, chief, "csrf=" + csrf).status, 404u);
    EXPECT_EQ(role_now(), "admin");
    EXPECT_TRUE(resend_shown());
    EXPECT_NE(request("GET", "/", chief).body.find("chief (admin)"), std::string::npos);
}

// ---- Suppressions -----------------------------------------------------------------------------

TEST_P(WebServerTest, SuppressionsAreAddedAndRemovedByAdminsWithCsrf) {
    const std::string csrf = csrf_of_session(cookie_);
    // RFC 5321 §4.5.3.1.1 / RFC 5322 §3.4.1: what a pattern may be.
    struct Case {
        const char* typed;
        unsigned status;
        const char* stored;
    } cases[] = {
        {"Reports@Example.ORG", 303, "Reports@example.org"},
        {"  partner.example  ", 303, "partner.example"},
        {"<script>alert(11)</script>@x.example", 400, nullptr},
        {"nodot", 400, nullptr},
        {"a..b@x.example", 400, nullptr},
        {"@x.example", 400, nullptr},
        {"x@-bad-.example", 400, nullptr},
        {"", 400, nullptr},
    };
    for (const auto& c : cases) {
        HttpReply r = request("POST", "/suppressions", cookie_,
                              "csrf=" + csrf + "&pattern=" + percent_encode(c.typed) + "&comment=" +
                                  percent_encode("<i>why</i>") + "&expires=2099-12-31");
        EXPECT_EQ(r.status, c.status) << c.typed;
        EXPECT_EQ(r.body.find("<script>alert(11)"), std::string::npos);
    }
    json j = json::parse(request("GET", "/api/suppressions", cookie_).body);
    std::map<std::string, json> by_pattern;
    for (const auto& s : j["suppressions"]) by_pattern[s["pattern"]] = s;
    ASSERT_TRUE(by_pattern.contains("Reports@example.org"));
    ASSERT_TRUE(by_pattern.contains("partner.example"));
    EXPECT_EQ(by_pattern.size(), 3u);
    EXPECT_EQ(by_pattern["partner.example"]["comment"], "<i>why</i>");
    EXPECT_EQ(by_pattern["partner.example"]["expires"], 4102444800);  // through 2099-12-31
    HttpReply page = request("GET", "/suppressions", cookie_);
    EXPECT_EQ(page.body.find("<i>why"), std::string::npos);
    EXPECT_NE(page.body.find("&lt;i&gt;why&lt;/i&gt;"), std::string::npos);
    EXPECT_NE(page.body.find("&lt;b&gt;asked us&lt;/b&gt; &quot;twice&quot;"), std::string::npos);
    // Bad expiry dates and comments.
    EXPECT_EQ(request("POST", "/suppressions", cookie_,
                      "csrf=" + csrf + "&pattern=x.example&expires=2001-01-01")
                  .status,
              400);
    EXPECT_EQ(request("POST", "/suppressions", cookie_,
                      "csrf=" + csrf + "&pattern=x.example&comment=" + std::string(501, 'c'))
                  .status,
              400);
    // A viewer, or no token: refused, nothing removed.
    const std::string id = std::to_string(by_pattern["partner.example"]["id"].get<std::int64_t>());
    std::string viewer = login("viewer", kAdminPassword);
    EXPECT_EQ(request("POST", "/suppressions/" + id + "/delete", viewer,
                      "csrf=" + csrf_of_session(viewer))
                  .status,
              403);
    EXPECT_EQ(request("POST", "/suppressions", viewer,
                      "csrf=" + csrf_of_session(viewer) + "&pattern=v.example")
                  .status,
              403);
    EXPECT_EQ(request("POST", "/suppressions/" + id + "/delete", cookie_, "").status, 403);
    EXPECT_EQ(request("GET", "/suppressions/" + id + "/delete", cookie_).status, 404);
    // The admin with the token removes it; a second time it is gone.
    EXPECT_EQ(request("POST", "/suppressions/" + id + "/delete", cookie_, "csrf=" + csrf).status,
              303);
    EXPECT_EQ(request("POST", "/suppressions/" + id + "/delete", cookie_, "csrf=" + csrf).status,
              404);
    j = json::parse(request("GET", "/api/suppressions", cookie_).body);
    EXPECT_EQ(j["suppressions"].size(), 2u);
}

// ---- DNS check --------------------------------------------------------------------------------

TEST_P(WebServerTest, DnsCheckShowsRecordDiscoveryPathAndSpf) {
    // RFC 9989 §4.10: sub.good.example has no record; the walk finds the one at good.example.
    json j = json::parse(request("GET", "/api/dns?domain=Sub.Good.Example.", cookie_).body);
    EXPECT_EQ(j["domain"], "sub.good.example");
    EXPECT_EQ(j["discovery"]["status"], "found");
    EXPECT_EQ(j["discovery"]["policy_domain"], "good.example");
    EXPECT_EQ(j["discovery"]["record"]["sp"], "quarantine");
    EXPECT_EQ(j["discovery"]["record"]["pct"], 50);
    ASSERT_GE(j["discovery"]["path"].size(), 2u);
    EXPECT_EQ(j["discovery"]["path"][0]["name"], "_dmarc.sub.good.example");
    EXPECT_EQ(j["discovery"]["path"][1]["name"], "_dmarc.good.example");
    EXPECT_EQ(j["spf"]["error"], "no SPF record (RFC 7208 §4.5: result none)");
    // RFC 7208 §4.5: the one v=spf1 record among the TXT records, parsed term by term.
    json g = json::parse(request("GET", "/api/dns?domain=good.example", cookie_).body);
    ASSERT_EQ(g["spf"]["records"].size(), 1u);
    EXPECT_EQ(g["spf"]["terms"][1], "include:_spf.good.example");
    // §4.5: two records are a permerror.
    json two = json::parse(request("GET", "/api/dns?domain=two.example", cookie_).body);
    EXPECT_NE(two["spf"]["error"].get<std::string>().find("several"), std::string::npos);
    // Hostile TXT content is text on the page.
    HttpReply h = request("GET", "/dns?domain=hostile.example", cookie_);
    ASSERT_EQ(h.status, 200);
    EXPECT_EQ(h.body.find("<script>alert"), std::string::npos);
    EXPECT_NE(h.body.find("x=&lt;script&gt;alert(9)&lt;/script&gt;"), std::string::npos);
    EXPECT_NE(h.body.find("a:&lt;script&gt;alert(10)&lt;/script&gt;"), std::string::npos);
    HttpReply typed = request("GET", "/dns?domain=%22%3E%3Cscript%3Ealert(12)", cookie_);
    EXPECT_EQ(typed.status, 400);
    EXPECT_EQ(typed.body.find("<script>alert(12)"), std::string::npos);
    EXPECT_NE(typed.body.find("value=\"&quot;&gt;&lt;script&gt;alert(12)\""), std::string::npos);
}

// A resolver that takes its time: the check's budget cuts the walk short.
class SlowResolver final : public DnsResolver {
  public:
    DnsResponse lookup(std::string_view, RrType) override {
        std::this_thread::sleep_for(std::chrono::milliseconds(60));
        return DnsResponse::make(DnsStatus::nxdomain);
    }
};

TEST(WebDnsCheck, TheTimeBudgetBoundsTheWholeCheck) {
    SlowResolver slow;
    auto start = std::chrono::steady_clock::now();
    DnsCheck c = run_dns_check(slow, "a.b.c.d.e.f.example", std::chrono::milliseconds(100));
    auto took = std::chrono::steady_clock::now() - start;
    EXPECT_TRUE(c.budget_spent);
    EXPECT_EQ(to_string(c.discovery.status), "temperror");
    // At most one query past the budget.
    EXPECT_LT(took, std::chrono::milliseconds(100 + 2 * 60 + 100));
}

// ---- Reverse DNS of sources -------------------------------------------------------------------

TEST_P(WebServerTest, SourcesShowReverseDnsResolvedInTheBackground) {
    // The first visit may only say "resolving…"; the page never waits for DNS.
    request("GET", "/sources?period=all", cookie_);
    ASSERT_TRUE(rdns_->wait_idle(std::chrono::seconds(5)));
    HttpReply r = request("GET", "/sources?period=all", cookie_);
    ASSERT_EQ(r.status, 200);
    EXPECT_EQ(r.body.find("<script>alert(7)"), std::string::npos);
    EXPECT_NE(r.body.find("&lt;script&gt;alert(7)&lt;/script&gt;.ptr.example"), std::string::npos)
        << r.body;
    EXPECT_NE(r.body.find("mail.bad.example"), std::string::npos);
    EXPECT_NE(r.body.find("no name"), std::string::npos);  // 198.51.100.7 has no PTR
    json j = json::parse(request("GET", "/api/sources?period=all", cookie_).body);
    std::map<std::string, json> by_ip;
    for (const auto& s : j["sources"]) by_ip[s["ip"]] = s;
    EXPECT_EQ(by_ip["192.0.2.10"]["rdns"], kHostilePtr);
    EXPECT_EQ(by_ip["192.0.2.10"]["rdns_status"], "found");
    EXPECT_EQ(by_ip["198.51.100.7"]["rdns_status"], "none");
    EXPECT_TRUE(by_ip["198.51.100.7"]["rdns"].is_null());
}

// A resolver that blocks until released: lookups must not wait for it.
class GateResolver final : public DnsResolver {
  public:
    DnsResponse lookup(std::string_view, RrType) override {
        std::unique_lock lock(mutex_);
        cv_.wait(lock, [this] { return open_; });
        DnsResponse r = DnsResponse::make(DnsStatus::answer);
        r.names = {"host.example"};
        r.ttl = 3600;
        return r;
    }
    void open() { set(true); }
    void close() { set(false); }

  private:
    void set(bool open) {
        std::lock_guard lock(mutex_);
        open_ = open;
        cv_.notify_all();
    }
    std::mutex mutex_;
    std::condition_variable cv_;
    bool open_ = false;
};

TEST(WebReverseDns, NeverBlocksIsBoundedAndExpires) {
    GateResolver gate;
    ReverseDnsOptions o;
    o.max_entries = 3;
    o.max_queue = 4;
    ReverseDnsCache cache(gate, o);
    auto start = std::chrono::steady_clock::now();
    for (int i = 0; i < 10; ++i) {
        auto a = cache.lookup("192.0.2." + std::to_string(i), 1000);
        EXPECT_EQ(a.state, ReverseDnsCache::State::resolving);
    }
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::milliseconds(500));
    gate.open();
    ASSERT_TRUE(cache.wait_idle(std::chrono::seconds(5)));
    EXPECT_LE(cache.size(), 3u);  // bounded: 4 or 5 were resolved (max_queue), 3 kept
    // Counting queues the addresses not kept; with the gate closed the worker cannot answer one
    // (and evict a kept answer) while the count goes on.
    gate.close();
    int found = 0;
    for (int i = 0; i < 10; ++i) {
        found += cache.lookup("192.0.2." + std::to_string(i), 1001).state ==
                 ReverseDnsCache::State::found;
    }
    EXPECT_EQ(found, 3);
    gate.open();
    ASSERT_TRUE(cache.wait_idle(std::chrono::seconds(5)));

    // Past the TTL an answer is still shown while it is asked again.
    ReverseDnsCache fresh(gate, o);
    EXPECT_EQ(fresh.lookup("198.51.100.1", 1000).state, ReverseDnsCache::State::resolving);
    ASSERT_TRUE(fresh.wait_idle(std::chrono::seconds(5)));
    auto now_known = fresh.lookup("198.51.100.1", 1001);
    EXPECT_EQ(now_known.state, ReverseDnsCache::State::found);
    EXPECT_EQ(now_known.name, "host.example");
    EXPECT_EQ(fresh.lookup("198.51.100.1", 1000 + 7200).state, ReverseDnsCache::State::found);
    ASSERT_TRUE(fresh.wait_idle(std::chrono::seconds(5)));
}

// ---- Host header (DNS rebinding) --------------------------------------------------------------

TEST_P(WebServerTest, OnlyOurHostNamesAreServed) {
    const std::string port = std::to_string(server_->port());
    for (const std::string& host :
         std::vector<std::string>{"127.0.0.1", "127.0.0.1:" + port, "localhost:" + port,
                                  "dmarc.example.net", "DMARC.example.net:443"}) {
        EXPECT_EQ(request_host("/healthz", host).status, 200) << host;
    }
    for (const std::string& host :
         std::vector<std::string>{"evil.example", "evil.example:" + port, "127.0.0.2",
                                  "dmarc.example.net.evil.example", "[::1]"}) {
        EXPECT_EQ(request_host("/healthz", host).status, 421) << host;
        EXPECT_EQ(request_host("/metrics", host).status, 421) << host;
        EXPECT_EQ(request_host("/", host, cookie_).status, 421) << host;
        HttpReply api = request_host("/api/overview", host, cookie_);
        EXPECT_EQ(api.status, 421) << host;
        EXPECT_EQ(api.body.find("messages"), std::string::npos) << host;
    }
    EXPECT_EQ(request_host("/metrics", std::nullopt).status, 400);
}

// ---- Helpers ----------------------------------------------------------------------------------

TEST(WebPages, PrettyXmlIndentsAndKeepsText) {
    EXPECT_EQ(pretty_xml("<a><b>x</b><c/></a>"), "<a>\n  <b>x</b>\n  <c/>\n</a>");
    EXPECT_EQ(pretty_xml("<?xml version=\"1.0\"?>\n<a>\n <b> y z </b></a>"),
              "<?xml version=\"1.0\"?>\n<a>\n  <b>y z</b>\n</a>");
    // Not well nested: every byte of content still shown, never thrown away.
    std::string odd = pretty_xml("</x></y><a>t");
    EXPECT_NE(odd.find("</x>"), std::string::npos);
    EXPECT_NE(odd.find("t"), std::string::npos);
    EXPECT_EQ(pretty_xml("<a><!-- <b>x</b> --><![CDATA[<c>]]></a>"),
              "<a>\n  <!-- <b>x</b> -->\n  <![CDATA[<c>]]>\n</a>");
    EXPECT_EQ(pretty_xml(""), "");
    EXPECT_EQ(pretty_xml("<a"), "<a");
}

TEST(WebPages, ReportFileNamesAreSafe) {
    io::ReportRow r;
    r.policy_domain = "example.com";
    r.period_begin = 1;
    r.period_end = 2;
    r.report_id = "../../x\"\r\n;y";
    r.compression = "gzip";
    // RFC 7489 §7.2.1.1: receiver!policy-domain!begin!end!unique-id.xml.gz
    const std::string name = report_filename(r, "mx.example.net");
    EXPECT_TRUE(name.starts_with("mx.example.net!example.com!1!2!")) << name;
    EXPECT_TRUE(name.ends_with("x____y.xml.gz")) << name;
    EXPECT_EQ(name.find(".."), std::string::npos) << name;
    EXPECT_EQ(name.find('/'), std::string::npos) << name;
    r.report_id = "a.....b";  // each replacement can make a new ".." one place on
    EXPECT_TRUE(report_filename(r, "mx.example.net").ends_with("!a____.b.xml.gz"))
        << report_filename(r, "mx.example.net");
    r.compression = "zip";
    r.report_id = std::string(400, 'a');
    std::string long_name = report_filename(r, "..");
    EXPECT_LE(long_name.size(), 200u);
    EXPECT_TRUE(long_name.ends_with(".zip"));
    EXPECT_NE(long_name.front(), '.');
}

TEST(WebCache, ReusesAnAnswerAndServesTheOldOneWhileRecomputing) {
    ResultCache<int> cache(60);
    int calls = 0;
    auto compute = [&]() -> Result<int> { return ++calls; };
    EXPECT_EQ(**cache.get("k", "w1", 100, compute), 1);
    EXPECT_EQ(**cache.get("k", "w1", 120, compute), 1);  // fresh
    EXPECT_EQ(**cache.get("k", "w2", 121, compute), 2);  // the window moved
    EXPECT_EQ(**cache.get("k", "w2", 200, compute), 3);  // too old
    EXPECT_EQ(**cache.get("other", "w2", 200, compute), 4);
    // Errors are returned, not kept.
    auto broken = [&]() -> Result<int> { return make_error(Errc::io, "down"); };
    EXPECT_FALSE(cache.get("e", "w", 1, broken));
    EXPECT_EQ(**cache.get("e", "w", 1, compute), 5);
    ResultCache<int> off(0);
    EXPECT_EQ(**off.get("k", "w", 1, compute), 6);
    EXPECT_EQ(**off.get("k", "w", 1, compute), 7);
}

// Background mode (what the dashboard uses): only a first computation is waited for; a stale
// answer comes back at once while one refresh runs on the cache's thread.
TEST(WebCache, BackgroundRefreshServesTheOldAnswerWithoutWaiting) {
    std::mutex m;
    std::condition_variable cv;
    bool release = false;
    std::atomic<int> calls{0}, finished{0};
    auto slow = [&]() -> Result<int> {
        const int n = ++calls;
        if (n > 1) {
            std::unique_lock lock(m);
            cv.wait(lock, [&] { return release; });
        }
        ++finished;
        return n;
    };
    auto set_release = [&](bool value) {
        {
            std::lock_guard lock(m);
            release = value;
        }
        cv.notify_all();
    };
    std::thread releaser;
    {
        ResultCache<int> cache(60, 256, true);
        EXPECT_EQ(**cache.get("k", "w1", 100, slow), 1);  // the first answer is waited for
        // The window moved: the old answer now, though the refresh is blocked.
        EXPECT_EQ(**cache.get("k", "w2", 160, slow), 1);
        EXPECT_EQ(**cache.get("k", "w2", 161, slow), 1);  // one refresh under way, not two
        set_release(true);
        int seen = 0;
        for (int i = 0; i < 500 && (seen = **cache.get("k", "w2", 162, slow)) != 2; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        EXPECT_EQ(seen, 2);
        EXPECT_EQ(calls.load(), 2);
        // Too old: the same again; this refresh is still running when the cache goes.
        set_release(false);
        EXPECT_EQ(**cache.get("k", "w2", 300, slow), 2);
        for (int i = 0; i < 500 && calls.load() < 3; ++i) {
            std::this_thread::sleep_for(std::chrono::milliseconds(10));
        }
        ASSERT_EQ(calls.load(), 3);
        releaser = std::thread([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(100));
            set_release(true);
        });
    }
    // The destructor waited for it (a refresh may use its owner's members).
    EXPECT_EQ(finished.load(), 3);
    releaser.join();
}

// ---- The same answers on both backends ---------------------------------------------------------

// One seed at one instant into a SQLite store and a PostgreSQL database: every read API must
// answer byte for byte the same (issue 7: the dashboard over either store). The WebServerTest
// seed without its server.
class WebBackendsTest : public WebServerTest {
  protected:
    static void SetUpTestSuite() {}
    static void TearDownTestSuite() {}
    void SetUp() override {}

    struct Answer {
        unsigned status = 0;
        std::string content_type, body;
    };

    // GET each target (admin session, clock at `now`) on a store seeded at `now`. The message
    // and report ids of the seed are appended as targets ("/api/messages/ID" and so on).
    static std::vector<Answer> answers(const std::string& uri, std::int64_t now,
                                       std::vector<std::string> targets) {
        std::vector<Answer> out;
        seed(uri, now);
        auto hash = hash_password(kAdminPassword);
        EXPECT_TRUE(hash);
        if (!hash || !io::add_web_user(uri, "admin", "admin", *hash, now)) return out;
        auto reader = io::StoreReader::open(uri, 2);
        EXPECT_TRUE(reader) << reader.error().message;
        if (!reader) return out;
        Metrics metrics;
        AppOptions options;
        options.page_size = 25;
        options.cache_seconds = 0;
        App app(**reader, metrics, options);
        auto request = [&](const std::string& method, const std::string& target) {
            Request r;
            r.method = method;
            fill_target(r, target);
            r.client_ip = r.local_ip = r.host = "127.0.0.1";
            r.now = now;
            return r;
        };
        Request login = request("POST", "/login");
        login.content_type = "application/x-www-form-urlencoded";
        login.cookies[kLoginCookie] = "t0ken";
        login.body = "csrf=t0ken&user=admin&password=" + percent_encode(kAdminPassword);
        Response session = app.handle(login);
        EXPECT_EQ(session.status, 303u);
        std::string cookie;
        for (const auto& [name, value] : session.headers) {
            const std::string prefix = std::string(kSessionCookie) + "=";
            if (name == "Set-Cookie" && value.starts_with(prefix)) {
                cookie = value.substr(prefix.size(), value.find(';') - prefix.size());
            }
        }
        EXPECT_FALSE(cookie.empty());
        targets.push_back("/api/messages/" + std::to_string(hostile_id_));
        targets.push_back("/api/messages/1");
        targets.push_back("/api/reports/" + std::to_string(report_id_));
        targets.push_back("/api/reports/" + std::to_string(zip_report_id_));
        for (const auto& target : targets) {
            Request r = request("GET", target);
            r.cookies[kSessionCookie] = cookie;
            Response reply = app.handle(r);
            out.push_back({reply.status, reply.content_type, reply.body});
        }
        return out;
    }
};

TEST_F(WebBackendsTest, SameSeedGivesTheSameJsonFromEveryApi) {
    ASSERT_TRUE(crypto_init());
    std::string why;
    const auto dir = fs::temp_directory_path() / ("dmarc-web-both-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string pg_uri = make_store_uri("postgres", dir, why);
    if (pg_uri.empty()) GTEST_SKIP() << why;
    const std::string sqlite_uri = make_store_uri("sqlite", dir, why);
    // Every read API, with each filter and period kind (hourly and daily buckets, custom dates,
    // keyset paging) and misses (an unknown domain, message and report).
    const std::vector<std::string> targets = {
        "/api/me",
        "/api/overview",
        "/api/overview?period=24h",
        "/api/overview?period=all",
        "/api/overview?period=30d&result=fail",
        "/api/overview?header_from=good.example",
        "/api/overview?ip=203.0.113.9&disposition=reject",
        "/api/overview?header_from=nobody.example",
        "/api/overview?period=custom&from=2020-01-01&to=2040-12-31",
        "/api/messages",
        "/api/messages?period=all&result=pass",
        "/api/messages?queue_id=BAD3",
        "/api/messages?before=" + std::to_string(now_seconds() - 3600) + "-30",
        "/api/messages/999999",
        "/api/domains",
        "/api/domains?period=24h",
        "/api/sources",
        "/api/sources?period=all&header_from=bad.example",
        "/api/reports",
        "/api/reports/999999",
        "/api/suppressions",
    };
    // Whole seconds: both stores seeded and asked at the same instant.
    const std::int64_t now = now_seconds();
    const auto on_sqlite = answers(sqlite_uri, now, targets);
    const auto on_postgres = answers(pg_uri, now, targets);
    ASSERT_EQ(on_sqlite.size(), targets.size() + 4);
    ASSERT_EQ(on_postgres.size(), on_sqlite.size());
    std::size_t with_rows = 0;
    for (std::size_t i = 0; i < on_sqlite.size(); ++i) {
        const std::string target =
            i < targets.size() ? targets[i] : "(seeded id " + std::to_string(i) + ")";
        EXPECT_EQ(on_sqlite[i].status, on_postgres[i].status) << target;
        EXPECT_EQ(on_sqlite[i].content_type, on_postgres[i].content_type) << target;
        EXPECT_EQ(on_sqlite[i].body, on_postgres[i].body) << target;
        if (on_sqlite[i].status == 200 && on_sqlite[i].body.size() > 200) ++with_rows;
    }
    // The comparison is not between two empty answers: most targets carry data.
    EXPECT_GE(with_rows, 16u);
    auto overview = json::parse(on_sqlite[1].body);
    EXPECT_EQ(overview["messages"], 64);
    fs::remove_all(dir);
}

// Store URIs reach error messages and logs: never with their password.
TEST(WebStoreUri, PasswordsAreRedactedFromMessages) {
    struct Case {
        const char* uri;
        const char* shown;
    } cases[] = {
        {"postgresql://web:s3cret@db.example.net:5432/dmarc",
         "postgresql://web:***@db.example.net:5432/dmarc"},
        {"postgres://web:p%40ss@db/dmarc", "postgres://web:***@db/dmarc"},
        {"postgresql://web:p@ss@db/dmarc?sslmode=require",
         "postgresql://web:***@db/dmarc?sslmode=require"},
        {"postgresql://web@db/dmarc", "postgresql://web@db/dmarc"},
        {"postgresql://db.example.net:5432/dmarc", "postgresql://db.example.net:5432/dmarc"},
        {"/var/lib/dmarc/user:x@y.db", "/var/lib/dmarc/user:x@y.db"},
    };
    for (const auto& c : cases) EXPECT_EQ(io::sql::redacted(c.uri), c.shown) << c.uri;
}

// The read pool's connections cannot write, on either backend: SQLite opens them read-only,
// PostgreSQL sessions have default_transaction_read_only (even for a role that could write).
TEST_F(WebBackendsTest, ReadConnectionsRefuseWrites) {
    std::string why;
    const auto dir = fs::temp_directory_path() / ("dmarc-web-ro-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    std::vector<std::string> uris = {make_store_uri("sqlite", dir, why)};
    if (auto pg = make_store_uri("postgres", dir, why); !pg.empty()) uris.push_back(pg);
    for (const auto& uri : uris) {
        ASSERT_TRUE(io::open_store(uri)) << uri;
        io::sql::ConnectOptions read_only;
        read_only.read_only = true;
        auto reader = io::sql::connect(uri, read_only);
        ASSERT_TRUE(reader) << reader.error().message;
        const std::string insert =
            "INSERT INTO suppressions (pattern, comment, added) VALUES ('x.example', '', 1)";
        auto refused = (*reader)->exec(insert);
        ASSERT_FALSE(refused) << uri;
        EXPECT_NE(refused.error().message.find((*reader)->postgres() ? "read-only transaction"
                                                                     : "readonly"),
                  std::string::npos)
            << refused.error().message;
        // The writable connection can: the refusal above came from the read-only mode.
        auto writer = io::sql::connect(uri, {});
        ASSERT_TRUE(writer);
        EXPECT_TRUE((*writer)->exec(insert)) << uri;
    }
    if (uris.size() == 1) std::cerr << "PostgreSQL side skipped: " << why << "\n";
    fs::remove_all(dir);
}

// web/postgres_role.sql, exactly as web/README.md tells an administrator to run it: the
// dashboard runs on that role, reads every page, makes its changes, and cannot touch the rest.
TEST_F(WebBackendsTest, PostgresRoleOfTheReadmeServesTheDashboardAndNothingMore) {
    ASSERT_TRUE(crypto_init());
    std::string why;
    const std::string owner_uri = make_store_uri("postgres", fs::temp_directory_path(), why);
    if (owner_uri.empty()) GTEST_SKIP() << why;
    seed(owner_uri, now_seconds());
    auto hash = hash_password(kAdminPassword);
    ASSERT_TRUE(hash);
    ASSERT_TRUE(io::add_web_user(owner_uri, "admin", "admin", *hash, now_seconds()));
    ASSERT_TRUE(io::add_web_user(owner_uri, "customer", "viewer", *hash, now_seconds(),
                                 io::DomainScope{false, {"bad.example"}}));
    auto owner = io::sql::connect(owner_uri, {});
    ASSERT_TRUE(owner);
    // The role is cluster-wide: another test run on this server may have made it already.
    (void)(*owner)->exec("DROP OWNED BY dmarc_web");
    (void)(*owner)->exec("DROP ROLE IF EXISTS dmarc_web");
    auto script = io::load_file(DMARC_TEST_DATA "/../../web/postgres_role.sql", 1 << 16);
    ASSERT_TRUE(script) << script.error().message;
    std::string statement;
    std::size_t statements = 0;
    std::istringstream lines(*script);
    for (std::string line; std::getline(lines, line);) {
        if (line.starts_with("--") || line.empty()) continue;
        statement += line + "\n";
        if (line.ends_with(";")) {
            ASSERT_TRUE((*owner)->exec(statement)) << statement;
            statement.clear();
            ++statements;
        }
    }
    EXPECT_EQ(statements, 7u);
    // A table a later migration adds is readable by the role without rerunning the script.
    ASSERT_TRUE((*owner)->exec("CREATE TABLE later_migration (x INTEGER)"));
    // The same database as the owner's, as dmarc_web.
    std::string role_uri = owner_uri;
    const std::string owner_user = "postgresql://dmarc@";
    ASSERT_TRUE(role_uri.starts_with(owner_user));
    role_uri.replace(0, owner_user.size(), "postgresql://dmarc_web@");
    ASSERT_NE(role_uri, owner_uri);
    auto reader = io::StoreReader::open(role_uri, 2);
    ASSERT_TRUE(reader) << reader.error().message;
    auto writer = io::StoreWriter::open(role_uri);
    ASSERT_TRUE(writer) << writer.error().message;
    io::MessageFilter all;
    all.scope = io::DomainScope::everything();
    auto overview = (*reader)->overview(all, 10);
    ASSERT_TRUE(overview) << overview.error().message;
    EXPECT_EQ(overview->messages, 64);
    auto page = (*reader)->messages(all, std::nullopt, 10);
    ASSERT_TRUE(page) << page.error().message;
    EXPECT_EQ(page->rows.size(), 10u);
    auto detail = (*reader)->message(hostile_id_, all.scope);
    ASSERT_TRUE(detail && *detail);
    auto report = (*reader)->report(report_id_, all.scope);
    ASSERT_TRUE(report && *report);
    EXPECT_FALSE((*report)->archive.empty());
    ASSERT_TRUE((*reader)->find_user("admin"));
    // A scoped user's domains (store_0006) are read by the role too, and its scope applies.
    auto customer = (*reader)->find_user("customer");
    ASSERT_TRUE(customer && *customer) << (customer ? "" : customer.error().message);
    EXPECT_EQ((*customer)->scope.key(), "bad.example");
    io::MessageFilter scoped;
    scoped.scope = (*customer)->scope;
    auto scoped_overview = (*reader)->overview(scoped, 10);
    ASSERT_TRUE(scoped_overview) << scoped_overview.error().message;
    EXPECT_EQ(scoped_overview->messages, 20);
    {
        auto later = io::sql::connect(role_uri, {});
        ASSERT_TRUE(later);
        auto rows = (*later)->query("SELECT count(*) FROM later_migration", {});
        EXPECT_TRUE(rows) << (rows ? "" : rows.error().message);
    }
    // What the dashboard changes...
    ASSERT_TRUE((*writer)->add_suppression("role.example", "by dmarc_web", std::nullopt, 1));
    auto resent = (*writer)->resend_report(report_id_, now_seconds());
    ASSERT_TRUE(resent) << resent.error().message;
    EXPECT_EQ(*resent, 3);
    auto rows = (*reader)->suppressions();
    ASSERT_TRUE(rows);
    std::int64_t added = 0;
    for (const auto& r : *rows) {
        if (r.pattern == "role.example") added = r.id;
    }
    ASSERT_NE(added, 0);
    auto removed = (*writer)->remove_suppression(added);
    ASSERT_TRUE(removed) << removed.error().message;
    EXPECT_TRUE(*removed);
    // ...and nothing else: the role's own writable session is refused the rest of the store.
    auto as_role = io::sql::connect(role_uri, {});
    ASSERT_TRUE(as_role);
    for (const char* forbidden :
         {"UPDATE messages SET dmarc_result = 'pass'", "DELETE FROM reports",
          "UPDATE web_users SET role = 'admin'", "UPDATE report_deliveries SET address = 'x'",
          "INSERT INTO domains (name) VALUES ('evil.example')"}) {
        auto r = (*as_role)->exec(forbidden);
        ASSERT_FALSE(r) << forbidden;
        EXPECT_NE(r.error().message.find("permission denied"), std::string::npos)
            << r.error().message;
    }
}

// ---- Per-user domain scoping (store_0006) ------------------------------------------------------

// The seed of WebServerTest plus mail that tells the scope rule apart: sub.good.example (a
// subdomain of good.example with a record of its own: covered by a scope of good.example through
// the subdomain rule only), alias.example whose policy
// domain is good.example (in scope by its policy domain only), and xgood.example (a name that
// ends in "good.example" but is no subdomain of it). Users: scoped to good.example, to
// sub.good.example (typed in capitals), to bad.example, scoped to nothing, and one whose stored
// domain is a LIKE pattern ("%.example", written straight into the table: the CLI refuses it).
// A GET straight through App::handle, as `session`'s browser on loopback at `now`; the body of
// a 200 answer.
std::string get_as(App& app, const Session& session, const std::string& target, std::int64_t now) {
    Request r;
    r.method = "GET";
    EXPECT_TRUE(fill_target(r, target));
    r.client_ip = "127.0.0.1";
    r.host = "127.0.0.1";
    r.local_ip = "127.0.0.1";
    r.now = now;
    r.cookies[kSessionCookie] = session.id;
    Response response = app.handle(r);
    EXPECT_EQ(response.status, 200u) << target;
    return response.body;
}

class WebScopeTest : public WebServerTest {
  protected:
    static void SetUpTestSuite() {
        WebServerTest::SetUpTestSuite();
        if (store_path_.empty() || server_ == nullptr) return;
        const std::int64_t now = now_seconds();
        {
            auto store = io::open_store(store_path_);
            ASSERT_TRUE(store) << store.error().message;
            std::vector<io::ImportItem> items;
            for (int i = 0; i < 5; ++i) {
                // The subdomain publishes its own record: in good.example's scope by label only.
                items.push_back(row(now - 7200 - i * 60, "SUB" + std::to_string(i), "192.0.2.50",
                                    "sub.good.example", true));
            }
            for (int i = 0; i < 3; ++i) {
                items.push_back(row(now - 9000 - i * 60, "ALIAS" + std::to_string(i),
                                    "198.51.100.7", "alias.example", false));
                items.back().row.policy_domain = "good.example";
            }
            items.push_back(row(now - 9500, "XGOOD0", "192.0.2.77", "xgood.example", false));
            // alias.example's own record (p=none), seen last: out of good.example's scope, so
            // goodview's domain row still shows the p=reject of its in-scope mail.
            items.push_back(row(now - 8000, "ALIASOWN", "192.0.2.77", "alias.example", false));
            items.back().row.record->p = Policy::none;
            std::sort(items.begin(), items.end(),
                      [](const auto& x, const auto& y) { return x.row.time < y.row.time; });
            auto imported = (*store)->import(items, std::nullopt);
            ASSERT_TRUE(imported) << imported.error().message;
            ASSERT_EQ(imported->inserted, items.size());
        }
        auto hash = hash_password(kAdminPassword);
        ASSERT_TRUE(hash);
        auto add = [&](const char* name, std::vector<std::string> domains) {
            ASSERT_TRUE(io::add_web_user(store_path_, name, "viewer", *hash, now,
                                         io::DomainScope{false, std::move(domains)}));
        };
        add("goodview", {"good.example"});
        add("subview", {"sub.good.example"});
        add("badview", {"bad.example"});
        add("nothing", {});
        add("wild", {});
        add("aliasview", {"alias.example"});
        auto db = io::sql::connect(store_path_, {});
        ASSERT_TRUE(db);
        // ALIAS0 went into good.example's aggregate report (its policy domain's): aliasview sees
        // the message by its From domain, but not that report.
        ASSERT_TRUE((*db)->exec("UPDATE messages SET report_id = $1 WHERE job_id = 'ALIAS0'",
                                {io::sql::p(report_id_)}));
        ASSERT_TRUE((*db)->exec(
            "INSERT INTO web_user_domains (user_id, domain) VALUES ((SELECT id FROM web_users"
            " WHERE name = 'wild'), '%.example'), ((SELECT id FROM web_users WHERE name ="
            " 'wild'), 'g__d.example')"));
        auto ids = (*db)->query(
            "SELECT m.job_id, m.id FROM messages m WHERE m.job_id IN ('GOOD1', 'BAD3', 'SUB0',"
            " 'ALIAS0', 'XGOOD0')",
            {});
        ASSERT_TRUE(ids);
        for (const auto& r : *ids) message_ids_[io::sql::to_text(r[0])] = io::sql::to_int(r[1]);
        ASSERT_EQ(message_ids_.size(), 5u);
    }

    static json get_json(const std::string& target, const std::string& cookie,
                         unsigned expect = 200) {
        HttpReply r = request("GET", target, cookie);
        EXPECT_EQ(r.status, expect) << target;
        auto j = json::parse(r.body, nullptr, false);
        EXPECT_FALSE(j.is_discarded()) << target << ": " << r.body;
        return j;
    }

    static std::set<std::string> names_of(const json& rows, const char* field) {
        std::set<std::string> out;
        for (const auto& r : rows) out.insert(r[field].get<std::string>());
        return out;
    }

    // Every message of the list, paged through.
    static std::vector<json> all_messages(const std::string& cookie) {
        std::vector<json> out;
        std::string next;
        for (int pages = 0; pages < 10; ++pages) {
            json page = get_json(
                "/api/messages?period=all" + (next.empty() ? "" : "&before=" + next), cookie);
            for (const auto& m : page["messages"]) out.push_back(m);
            if (page["next"].is_null()) break;
            next = page["next"].get<std::string>();
        }
        return out;
    }

    static inline std::map<std::string, std::int64_t> message_ids_;
};

INSTANTIATE_TEST_SUITE_P(Sqlite, WebScopeTest, ::testing::Values("sqlite"));
INSTANTIATE_TEST_SUITE_P(Postgres, WebScopeTest, ::testing::Values("postgres"));

// The seed's numbers, counted from the rows above (not from any answer of the code):
// good.example 40 (all pass, 192.0.2.10), sub.good.example 5 (pass, 192.0.2.50), alias.example 3
// (fail, 198.51.100.7, policy domain good.example) and 1 more under its own record (fail,
// p=none, out of good.example's scope), bad.example 20 (fail, 10 from 198.51.100.7 and 10 from
// 203.0.113.9), xgood.example 1 (fail), the long domain 1 (pass), 3 hostile rows (fail): 74.
TEST_P(WebScopeTest, AScopedViewerSeesExactlyItsDomainsAndTheirSubdomains) {
    const std::string good = login("goodview", kAdminPassword);
    ASSERT_FALSE(good.empty());
    json me = get_json("/api/me", good);
    EXPECT_EQ(me["scoped"], true);
    EXPECT_EQ(me["domains"], json::array({"good.example"}));

    json o = get_json("/api/overview?period=all", good);
    EXPECT_EQ(o["messages"], 40 + 5 + 3);
    EXPECT_EQ(o["dmarc_pass"], 40 + 5);
    EXPECT_EQ(o["spf_aligned"], 45);
    EXPECT_EQ(o["disposition"]["reject"], 3);
    EXPECT_EQ(o["disposition"]["pass"], 45);
    std::int64_t series = 0;
    for (const auto& p : o["series"]) series += p["messages"].get<std::int64_t>();
    EXPECT_EQ(series, 48);
    EXPECT_EQ(names_of(o["domains"], "header_from"),
              (std::set<std::string>{"good.example", "sub.good.example", "alias.example"}));
    // Failing sources: only the alias rows fail; 198.51.100.7's bad.example mail is not counted.
    ASSERT_EQ(o["failing_sources"].size(), 1u);
    EXPECT_EQ(o["failing_sources"][0]["ip"], "198.51.100.7");
    EXPECT_EQ(o["failing_sources"][0]["messages"], 3);
    EXPECT_EQ(o["failing_sources"][0]["domains"], 1);

    json domains = get_json("/api/domains?period=all", good);
    ASSERT_EQ(domains["domains"].size(), 3u);
    EXPECT_EQ(domains["domains"][0]["header_from"], "good.example");
    EXPECT_EQ(domains["domains"][0]["messages"], 40);
    EXPECT_EQ(domains["domains"][1]["header_from"], "sub.good.example");
    EXPECT_EQ(domains["domains"][1]["messages"], 5);
    EXPECT_EQ(domains["domains"][2]["header_from"], "alias.example");
    EXPECT_EQ(domains["domains"][2]["messages"], 3);
    // The latest record of the domain's mail in scope, not of its out-of-scope mail.
    EXPECT_TRUE(domains["domains"][2]["policy"].get<std::string>().starts_with("p=reject"))
        << domains["domains"][2]["policy"];
    const json everyone = get_json("/api/domains?period=all", cookie_);
    for (const auto& d : everyone["domains"]) {
        if (d["header_from"] == "alias.example") {
            EXPECT_EQ(d["messages"], 4);
            EXPECT_TRUE(d["policy"].get<std::string>().starts_with("p=none")) << d["policy"];
        }
    }

    json sources = get_json("/api/sources?period=all", good);
    EXPECT_EQ(names_of(sources["sources"], "ip"),
              (std::set<std::string>{"192.0.2.10", "192.0.2.50", "198.51.100.7"}));
    for (const auto& s : sources["sources"]) {
        if (s["ip"] == "198.51.100.7") {
            EXPECT_EQ(s["messages"], 3);
        } else if (s["ip"] == "192.0.2.10") {
            EXPECT_EQ(s["messages"], 40);  // not the 3 hostile rows
        }
    }

    // The list, paged (25 a page): 48 rows, each in scope by From or policy domain.
    auto messages = all_messages(good);
    EXPECT_EQ(messages.size(), 48u);
    for (const auto& m : messages) {
        const auto from = m["header_from"].get<std::string>();
        const auto policy = m["policy_domain"].get<std::string>();
        EXPECT_TRUE(is_same_or_subdomain(from, "good.example") ||
                    is_same_or_subdomain(policy, "good.example"))
            << from << " / " << policy;
    }
    // A filter inside the scope narrows it; one outside finds nothing.
    EXPECT_EQ(get_json("/api/overview?period=all&header_from=sub.good.example", good)["messages"],
              5);
    EXPECT_EQ(get_json("/api/overview?period=all&header_from=bad.example", good)["messages"], 0);
    EXPECT_EQ(get_json("/api/messages?period=all&queue_id=BAD3", good)["messages"].size(), 0u);
    EXPECT_EQ(get_json("/api/overview?period=all&ip=198.51.100.7", good)["messages"], 3);

    // The pages show the same numbers, and no suppressions link.
    HttpReply page = request("GET", "/domains?period=all", good);
    EXPECT_EQ(page.status, 200);
    EXPECT_NE(page.body.find("sub.good.example"), std::string::npos);
    EXPECT_EQ(page.body.find("bad.example"), std::string::npos);
    EXPECT_EQ(page.body.find("xgood.example"), std::string::npos);
    EXPECT_EQ(page.body.find("href=\"/suppressions\""), std::string::npos);
    EXPECT_NE(request("GET", "/", cookie_).body.find("href=\"/suppressions\""), std::string::npos);
}

TEST_P(WebScopeTest, ASubdomainScopeIsNarrowerAndNamesAreMatchedByLabel) {
    // sub.good.example: its own 5 rows; not its parent, not the alias rows whose policy domain is
    // the parent.
    const std::string sub = login("subview", kAdminPassword);
    json o = get_json("/api/overview?period=all", sub);
    EXPECT_EQ(o["messages"], 5);
    EXPECT_EQ(names_of(o["domains"], "header_from"), (std::set<std::string>{"sub.good.example"}));
    EXPECT_EQ(get_json("/api/reports", sub)["reports"].size(), 0u);
    // good.example does not cover xgood.example (a suffix, not a subdomain).
    const std::string good = login("goodview", kAdminPassword);
    json x = get_json("/api/messages/" + std::to_string(message_ids_.at("XGOOD0")), good, 404);
    EXPECT_EQ(x["error"], "not found");
    // A stored domain holding LIKE wildcards matches nothing, not everything.
    const std::string wild = login("wild", kAdminPassword);
    EXPECT_EQ(get_json("/api/overview?period=all", wild)["messages"], 0);
    EXPECT_EQ(get_json("/api/domains?period=all", wild)["domains"].size(), 0u);
    EXPECT_EQ(get_json("/api/reports", wild)["reports"].size(), 0u);
}

TEST_P(WebScopeTest, AScopedUserWithNoDomainsSeesNothing) {
    const std::string none = login("nothing", kAdminPassword);
    ASSERT_FALSE(none.empty());
    json me = get_json("/api/me", none);
    EXPECT_EQ(me["scoped"], true);
    EXPECT_EQ(me["domains"], json::array());
    json o = get_json("/api/overview?period=all", none);
    EXPECT_EQ(o["messages"], 0);
    EXPECT_EQ(o["series"].size(), 0u);
    EXPECT_EQ(o["domains"].size(), 0u);
    EXPECT_EQ(o["failing_sources"].size(), 0u);
    EXPECT_EQ(get_json("/api/domains?period=all", none)["domains"].size(), 0u);
    EXPECT_EQ(get_json("/api/sources?period=all", none)["sources"].size(), 0u);
    EXPECT_EQ(all_messages(none).size(), 0u);
    EXPECT_EQ(get_json("/api/reports", none)["reports"].size(), 0u);
    get_json("/api/messages/" + std::to_string(message_ids_.at("GOOD1")), none, 404);
    get_json("/api/reports/" + std::to_string(report_id_), none, 404);
    EXPECT_EQ(request("GET", "/", none).status, 200);
}

TEST_P(WebScopeTest, OutOfScopeDetailsAreIndistinguishableFromMissingOnes) {
    const std::string bad = login("badview", kAdminPassword);
    ASSERT_FALSE(bad.empty());
    const std::string missing = "999999999";
    auto same_as_missing = [&](const std::string& prefix, const std::string& id,
                               const std::string& suffix = "") {
        HttpReply hidden = request("GET", prefix + id + suffix, bad);
        HttpReply none = request("GET", prefix + missing + suffix, bad);
        EXPECT_EQ(hidden.status, 404u) << prefix << id << suffix;
        EXPECT_EQ(hidden.status, none.status) << prefix << id << suffix;
        EXPECT_EQ(hidden.body, none.body) << prefix << id << suffix;
    };
    const std::string good_message = std::to_string(message_ids_.at("GOOD1"));
    const std::string good_report = std::to_string(report_id_);
    same_as_missing("/api/messages/", good_message);
    same_as_missing("/messages/", good_message);
    same_as_missing("/api/reports/", good_report);
    same_as_missing("/reports/", good_report);
    same_as_missing("/reports/", good_report, "/download");
    // Its own are there.
    json mine = get_json("/api/messages/" + std::to_string(message_ids_.at("BAD3")), bad);
    EXPECT_EQ(mine["queue_id"], "BAD3");
    json reports = get_json("/api/reports", bad);
    EXPECT_EQ(names_of(reports["reports"], "report_id"),
              (std::set<std::string>{"zip-report-1", "no-archive"}));
    get_json("/api/reports/" + std::to_string(zip_report_id_), bad);
    EXPECT_EQ(
        request("GET", "/reports/" + std::to_string(zip_report_id_) + "/download", bad).status,
        200u);
    // The store-wide suppression list is not for a scoped user; the DNS check is (public DNS).
    EXPECT_EQ(request("GET", "/api/suppressions", bad).status, 403u);
    EXPECT_EQ(request("GET", "/suppressions", bad).status, 403u);
    EXPECT_EQ(request("GET", "/api/dns?domain=good.example", bad).status, 200u);
    // A viewer is refused changes whatever its scope.
    const std::string csrf = csrf_of_session(bad);
    EXPECT_EQ(request("POST", "/reports/" + std::to_string(zip_report_id_) + "/resend", bad,
                      "csrf=" + csrf)
                  .status,
              403u);
}

TEST_P(WebScopeTest, UnscopedViewersAndAdminsSeeEverything) {
    const std::string viewer = login("viewer", kAdminPassword);
    for (const std::string& who : {cookie_, viewer}) {
        json me = get_json("/api/me", who);
        EXPECT_EQ(me["scoped"], false);
        json o = get_json("/api/overview?period=all", who);
        EXPECT_EQ(o["messages"], 64 + 5 + 3 + 1 + 1);
        EXPECT_EQ(get_json("/api/reports", who)["reports"].size(), 3u);
        EXPECT_EQ(all_messages(who).size(), 74u);
        get_json("/api/messages/" + std::to_string(message_ids_.at("XGOOD0")), who);
        EXPECT_EQ(request("GET", "/api/suppressions", who).status, 200u);
    }
}

// A message in scope by its From domain may have gone into the report of a policy domain out of
// scope: its Report-ID is then not shown (null, as for a message in no report yet), in the list,
// the detail and the pages alike; a user whose scope covers the report, or an unscoped one, still
// sees it. The report's own page stays 404 for the scoped user.
TEST_P(WebScopeTest, AReportOutOfScopeIsNotNamedByAMessageInScope) {
    const std::string alias = login("aliasview", kAdminPassword);
    const std::string good = login("goodview", kAdminPassword);
    const std::string viewer = login("viewer", kAdminPassword);
    ASSERT_FALSE(alias.empty() || good.empty() || viewer.empty());
    const std::string id = std::to_string(message_ids_.at("ALIAS0"));
    // The hostile Report-ID's middle: the same in JSON and escaped HTML.
    const std::string report_text = "filename=../../etc/passwd";
    const std::string report_link = "/reports/" + std::to_string(report_id_) + "\"";
    ASSERT_NE(std::string(kHostileReportId).find(report_text), std::string::npos);

    json hidden = get_json("/api/messages/" + id, alias);
    EXPECT_EQ(hidden["queue_id"], "ALIAS0");
    ASSERT_TRUE(hidden.contains("report_id"));
    EXPECT_TRUE(hidden["report_id"].is_null()) << hidden["report_id"];
    EXPECT_EQ(hidden.dump().find(report_text), std::string::npos);
    auto messages = all_messages(alias);
    EXPECT_EQ(messages.size(), 4u);  // ALIAS0-2 and ALIASOWN
    for (const auto& m : messages) {
        EXPECT_EQ(m.dump().find(report_text), std::string::npos) << m.dump();
        if (m.contains("report_id")) {
            EXPECT_TRUE(m["report_id"].is_null()) << m.dump();
        }
    }
    const std::vector<std::string> pages = {"/messages/" + id, "/messages?period=all",
                                            "/messages?period=all&queue_id=ALIAS0"};
    for (const std::string& page : pages) {
        HttpReply r = request("GET", page, alias);
        EXPECT_EQ(r.status, 200u) << page;
        EXPECT_NE(r.body.find("ALIAS0"), std::string::npos) << page;
        EXPECT_EQ(r.body.find(report_text), std::string::npos) << page;
        EXPECT_EQ(r.body.find(report_link), std::string::npos) << page;
    }
    get_json("/api/reports/" + std::to_string(report_id_), alias, 404);

    // good.example's viewer (the report's policy domain) and an unscoped viewer see it.
    for (const std::string& who : {good, viewer}) {
        json shown = get_json("/api/messages/" + id, who);
        EXPECT_EQ(shown["report_id"], kHostileReportId);
        EXPECT_NE(request("GET", "/messages/" + id, who).body.find(report_text), std::string::npos);
    }
}

// First seen (the sources' "new" flag) is counted inside the scope: 198.51.100.7 sent
// bad.example mail 10 hours ago, and alias.example mail (good.example's scope) 2.5 hours ago.
TEST_P(WebScopeTest, FirstSeenOfASourceIsCountedInsideTheScope) {
    io::MessageFilter filter;
    filter.from = now_seconds() - 3 * 3600;
    filter.scope = io::DomainScope::everything();
    auto everyone = reader_->sources(filter, 100);
    filter.scope = io::DomainScope{false, {"good.example"}};
    auto scoped = reader_->sources(filter, 100);
    ASSERT_TRUE(everyone && scoped);
    auto is_new = [](const std::vector<io::SourceStats>& rows) {
        for (const auto& s : rows) {
            if (s.ip == "198.51.100.7") return std::optional<bool>(s.is_new);
        }
        return std::optional<bool>();
    };
    EXPECT_EQ(is_new(*everyone), std::optional<bool>(false));
    EXPECT_EQ(is_new(*scoped), std::optional<bool>(true));
}

// The aggregate caches are keyed on the scope: two users asking the same filter each get their
// own answer, whichever asks first (cache on, unlike the server of these tests).
TEST_P(WebScopeTest, CachedAggregatesAreKeptPerScope) {
    for (bool good_first : {true, false}) {
        Metrics metrics;
        AppOptions options;
        options.check_host = false;
        options.cache_seconds = 3600;
        App app(*reader_, metrics, options);
        const std::int64_t now = now_seconds();
        const Session good = app.sessions().create("goodview", now);
        const Session bad = app.sessions().create("badview", now);
        const Session all = app.sessions().create("viewer", now);
        auto ask = [&](const Session& s, const std::string& target) {
            return json::parse(get_as(app, s, target, now));
        };
        std::vector<const Session*> order = {&good, &bad, &all};
        if (!good_first) order = {&all, &bad, &good};
        for (int round = 0; round < 2; ++round) {  // the second round is answered from the cache
            for (const Session* s : order) {
                json o = ask(*s, "/api/overview?period=7d");
                json d = ask(*s, "/api/domains?period=7d");
                json src = ask(*s, "/api/sources?period=7d");
                if (s == &good) {
                    EXPECT_EQ(o["messages"], 48);
                    EXPECT_EQ(d["domains"].size(), 3u);
                    EXPECT_EQ(src["sources"].size(), 3u);
                } else if (s == &bad) {
                    EXPECT_EQ(o["messages"], 20);
                    EXPECT_EQ(names_of(d["domains"], "header_from"),
                              (std::set<std::string>{"bad.example"}));
                    EXPECT_EQ(names_of(src["sources"], "ip"),
                              (std::set<std::string>{"198.51.100.7", "203.0.113.9"}));
                } else {
                    EXPECT_EQ(o["messages"], 74);
                }
            }
        }
    }
}

// A scope changed while a session is live applies to its next request; a user that is gone is
// logged out. Rows of web_user_domains go with their user; an admin cannot be scoped.
TEST_P(WebScopeTest, ScopeChangesApplyAtOnceAndTheSchemaGuardsTheRules) {
    auto hash = hash_password(kAdminPassword);
    ASSERT_TRUE(hash);
    ASSERT_TRUE(io::add_web_user(store_path_, "mover", "viewer", *hash, now_seconds(),
                                 io::DomainScope{false, {"bad.example"}}));
    const std::string mover = login("mover", kAdminPassword);
    EXPECT_EQ(get_json("/api/overview?period=all", mover)["messages"], 20);
    ASSERT_TRUE(
        io::set_web_user_scope(store_path_, "mover", io::DomainScope{false, {"sub.good.example"}}));
    EXPECT_EQ(get_json("/api/overview?period=all", mover)["messages"], 5);
    ASSERT_TRUE(io::set_web_user_scope(store_path_, "mover", io::DomainScope::everything()));
    EXPECT_EQ(get_json("/api/overview?period=all", mover)["messages"], 74);
    ASSERT_TRUE(io::set_web_user_scope(store_path_, "mover", io::DomainScope{false, {}}));
    EXPECT_EQ(get_json("/api/overview?period=all", mover)["messages"], 0);
    ASSERT_TRUE(io::set_web_user_scope(store_path_, "mover",
                                       io::DomainScope{false, {"bad.example", "good.example"}}));
    auto db = io::sql::connect(store_path_, {});
    ASSERT_TRUE(db);
    auto count = [&](const char* sql) {
        auto rows = (*db)->query(sql, {});
        return rows && !rows->empty() ? io::sql::to_int(rows->front()[0]) : -1;
    };
    EXPECT_EQ(count("SELECT count(*) FROM web_user_domains d JOIN web_users u ON u.id = d.user_id"
                    " WHERE u.name = 'mover'"),
              2);
    ASSERT_TRUE((*db)->exec("DELETE FROM web_users WHERE name = 'mover'"));
    EXPECT_EQ(count("SELECT count(*) FROM web_user_domains WHERE user_id NOT IN"
                    " (SELECT id FROM web_users)"),
              0);
    EXPECT_EQ(request("GET", "/api/overview", mover).status, 401u);
    // Admins: refused by the functions and by the schema itself.
    EXPECT_FALSE(
        io::set_web_user_scope(store_path_, "admin", io::DomainScope{false, {"good.example"}}));
    EXPECT_FALSE(io::add_web_user(store_path_, "admin2", "admin", *hash, now_seconds(),
                                  io::DomainScope{false, {"good.example"}}));
    EXPECT_FALSE((*db)->exec("UPDATE web_users SET scoped = 1 WHERE name = 'admin'"));
    EXPECT_FALSE((*db)->exec("UPDATE web_users SET scoped = 2 WHERE name = 'viewer'"));
    EXPECT_EQ(get_json("/api/me", cookie_)["scoped"], false);
}

TEST(WebScope, DomainListsAreNormalisedToALabels) {
    auto ok = parse_scope_domains(" Good.Example,bücher.example ,good.example,sub.good.example.");
    ASSERT_TRUE(ok) << ok.error().message;
    EXPECT_EQ(*ok, (std::vector<std::string>{"good.example", "sub.good.example",
                                             "xn--bcher-kva.example"}));
    for (const char* bad : {"", "good.example,", "example", "bad domain.example", "a_b.example",
                            "%.example", "-x.example", "good.example,,bad.example"}) {
        EXPECT_FALSE(parse_scope_domains(bad)) << bad;
    }
    std::string many;
    for (std::size_t i = 0; i <= limits::kMaxScopeDomains; ++i) {
        many += i ? ",d" : "d";
        many += std::to_string(i);
        many += ".example";
    }
    auto too_many = parse_scope_domains(many);
    ASSERT_FALSE(too_many);
    EXPECT_EQ(too_many.error().code, Errc::limit);
}

// ---- Routes as pure functions: the login limiter, without sockets
// ---------------------------------

TEST(WebRoutes, LoginAttemptsAreRateLimitedPerIp) {
    auto dir = fs::temp_directory_path() / ("dmarc-web-limit-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string path = (dir / "store.db").string();
    ASSERT_TRUE(crypto_init());
    {
        auto store = io::open_store(path);
        ASSERT_TRUE(store);
    }
    auto hash = hash_password(kAdminPassword);
    ASSERT_TRUE(hash);
    ASSERT_TRUE(io::add_web_user(path, "admin", "admin", *hash, 0));
    auto reader = io::StoreReader::open(path, 1);
    ASSERT_TRUE(reader);
    Metrics metrics;
    App app(**reader, metrics);
    auto post = [&](const std::string& ip, const std::string& password, std::int64_t now) {
        Request r;
        r.method = "POST";
        fill_target(r, "/login");
        r.client_ip = ip;
        r.host = "127.0.0.1";
        r.local_ip = "127.0.0.1";
        r.now = now;
        r.content_type = "application/x-www-form-urlencoded";
        r.cookies[kLoginCookie] = "t0ken";
        r.body = "csrf=t0ken&user=admin&password=" + percent_encode(password);
        return app.handle(r).status;
    };
    const std::int64_t t = 1'800'000'000;
    for (int i = 0; i < LoginLimiter::kMaxFailures; ++i)
        EXPECT_EQ(post("192.0.2.1", "wrong", t + i), 401u);
    // Now even the right password is refused from that address...
    EXPECT_EQ(post("192.0.2.1", kAdminPassword, t + 10), 429u);
    // ...but not from another one, and not once the window has passed.
    EXPECT_EQ(post("192.0.2.2", kAdminPassword, t + 10), 303u);
    EXPECT_EQ(post("192.0.2.1", kAdminPassword, t + LoginLimiter::kWindowSeconds + 1), 303u);
    fs::remove_all(dir);
}

// Start-up warms the overview behind each period button but "all" (the whole store), so a first
// look at 30 or 90 days on a large store is answered at once (1.3 s at 1,000,000 messages
// otherwise). Rows stored after the warm-up show which answers came from it.
TEST(WebRoutes, StartUpWarmsTheOverviewOfEachPeriodButton) {
    struct Rows : WebServerTest {
        using WebServerTest::row;
    };
    auto dir = fs::temp_directory_path() / ("dmarc-web-warm-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string path = (dir / "store.db").string();
    ASSERT_TRUE(crypto_init());
    const std::int64_t now = now_seconds();
    auto store_rows = [&](std::vector<io::ImportItem> items) {
        auto store = io::open_store(path);
        ASSERT_TRUE(store) << store.error().message;
        auto imported = (*store)->import(items, std::nullopt);
        ASSERT_TRUE(imported) << imported.error().message;
        ASSERT_EQ(imported->inserted, items.size());
    };
    store_rows({Rows::row(now - 40 * 86400, "OLD1", "192.0.2.1", "good.example", true),
                Rows::row(now - 7200, "NEW1", "192.0.2.1", "good.example", true)});
    auto hash = hash_password(kAdminPassword);
    ASSERT_TRUE(hash);
    ASSERT_TRUE(io::add_web_user(path, "admin", "admin", *hash, now));
    auto reader = io::StoreReader::open(path, 1);
    ASSERT_TRUE(reader) << reader.error().message;
    Metrics metrics;
    AppOptions options;
    options.check_host = false;
    options.cache_seconds = 3600;
    App app(**reader, metrics, options);
    // A stop before the period buttons leaves them to the second warm-up, which finishes.
    std::atomic<bool> stop{true};
    EXPECT_FALSE(app.warm(now, &stop));
    EXPECT_TRUE(app.warm(now));
    store_rows({Rows::row(now - 50 * 86400, "OLD2", "192.0.2.2", "good.example", false),
                Rows::row(now - 3600, "NEW2", "192.0.2.2", "good.example", false)});
    const Session session = app.sessions().create("admin", now);
    auto messages = [&](const std::string& target) {
        return json::parse(get_as(app, session, target, now))["messages"].get<int>();
    };
    EXPECT_EQ(messages("/api/overview?period=24h"), 1);  // warmed: NEW2 not in it yet
    EXPECT_EQ(messages("/api/overview"), 1);             // 7 days, the first page
    EXPECT_EQ(messages("/api/overview?period=30d"), 1);
    EXPECT_EQ(messages("/api/overview?period=90d"), 2);  // OLD1 and NEW1
    EXPECT_EQ(messages("/api/overview?period=all"), 4);  // not warmed: computed at this visit

    // Three hours on, the warmed answer is shown at once, with its time, while the cache's
    // thread computes a newer one; the next visits get that.
    const std::int64_t later = now + 3 * 3600;
    auto get = [&](const std::string& target) { return get_as(app, session, target, later); };
    const std::string stale = get("/?period=90d");
    EXPECT_NE(stale.find("Figures as of "), std::string::npos) << stale;
    EXPECT_NE(stale.find(" (180 minutes ago); newer ones are being computed"), std::string::npos);
    json refreshed;
    for (int i = 0; i < 100; ++i) {
        refreshed = json::parse(get("/api/overview?period=90d"));
        if (refreshed["computed_at"] == later) break;
        std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    EXPECT_EQ(refreshed["computed_at"], later);
    EXPECT_EQ(refreshed["messages"], 4);
    EXPECT_EQ(get("/?period=90d").find("Figures as of"), std::string::npos);
    // The domains and sources of the first page, warmed too, say the same.
    for (const std::string page : {"domains", "sources"}) {
        EXPECT_NE(get("/" + page).find(" (180 minutes ago); newer ones"), std::string::npos)
            << page;
        json answer;
        for (int i = 0; i < 100; ++i) {
            answer = json::parse(get("/api/" + page));
            if (answer["computed_at"] == later) break;
            std::this_thread::sleep_for(std::chrono::milliseconds(50));
        }
        EXPECT_EQ(answer["computed_at"], later) << page;
        EXPECT_EQ(get("/" + page).find("Figures as of"), std::string::npos) << page;
    }
    fs::remove_all(dir);
}

TEST(WebRoutes, SessionsExpireWhenIdle) {
    SessionStore sessions;
    Session s = sessions.create("admin", 1000);
    EXPECT_TRUE(sessions.find(s.id, 1000 + SessionStore::kIdleSeconds));
    EXPECT_FALSE(sessions.find(s.id, 1000 + 2 * SessionStore::kIdleSeconds + 1));
    Session t = sessions.create("admin", 1000);
    EXPECT_NE(s.id, t.id);
    EXPECT_NE(t.id, t.csrf);
    EXPECT_EQ(t.id.size(), 64u);
}

// ---- Escaping helpers -------------------------------------------------------------------------

TEST(WebHtml, TextIsEscapedForContentAndAttributes) {
    struct Case {
        const char* in;
        const char* out;
    } cases[] = {
        {"<script>", "&lt;script&gt;"},     {"a&b", "a&amp;b"}, {"\"'", "&quot;&#39;"},
        {"plain.example", "plain.example"}, {"", ""},
    };
    for (const auto& c : cases) EXPECT_EQ(Html::text(c.in).view(), c.out) << c.in;
    EXPECT_EQ((Html("<b>") + Html::text("<i>") + Html("</b>")).view(), "<b>&lt;i&gt;</b>");
    EXPECT_EQ(url_param("a b&c=<d>").view(), "a%20b%26c%3D%3Cd%3E");
    EXPECT_EQ(Html::percent(1, 3).view(), "33.3");
    EXPECT_EQ(Html::percent(1, 0).view(), "-");
}

TEST(WebHttp, FormsAndTargetsParseStrictly) {
    auto form = parse_form("a=1&b=x+y&c=%3Cz%3E&&d");
    ASSERT_TRUE(form);
    EXPECT_EQ(form->find("b")->second, "x y");
    EXPECT_EQ(form->find("c")->second, "<z>");
    EXPECT_EQ(form->count("d"), 1u);
    EXPECT_FALSE(parse_form("a=%zz"));
    EXPECT_FALSE(parse_form("a=%4"));
    EXPECT_FALSE(parse_form("a=%00"));  // a NUL never reaches a route
    Request r;
    EXPECT_TRUE(fill_target(r, "/static/app.css?x=1"));
    EXPECT_EQ(r.path, "/static/app.css");
    EXPECT_FALSE(fill_target(r, "http://evil/"));
    EXPECT_FALSE(fill_target(r, "/a%00b"));
    // fuzz_web_request: a raw NUL or space in the target.
    EXPECT_FALSE(fill_target(r, std::string("/sS\0\0static/", 11)));
    EXPECT_FALSE(fill_target(r, "/a b"));
    auto cookies = parse_cookies("a=1; dmarc_session=xyz;b=2");
    EXPECT_EQ(cookies["dmarc_session"], "xyz");
}

TEST(WebServerOptions, ListenAddressesParse) {
    ServerOptions o;
    EXPECT_TRUE(parse_listen("127.0.0.1:8080", o));
    EXPECT_EQ(o.port, 8080);
    EXPECT_TRUE(parse_listen("[::1]:8443", o));
    EXPECT_EQ(o.address, "::1");
    EXPECT_FALSE(parse_listen("127.0.0.1", o));
    EXPECT_FALSE(parse_listen("127.0.0.1:99999", o));
    EXPECT_FALSE(parse_listen("not-an-address:80", o));
}

// ---- The binary: user add, then serve -----------------------------------------------------------

// `dmarc-web user ARGS --store STORE` with a password on standard input: its exit status and
// everything it wrote.
std::pair<int, std::string> run_user_command(const std::string& args, const std::string& store) {
    std::string cmd = std::string("printf 'a long enough password\\n' | ") + DMARC_WEB_BINARY +
                      " user " + args + " --store " + store + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    EXPECT_NE(p, nullptr);
    std::string out;
    char buf[512];
    while (p && std::fgets(buf, sizeof buf, p)) out += buf;
    const int status = p ? ::pclose(p) : -1;
    return {status, out};
}

TEST(WebBinary, UserAddThenLoginThroughTheCli) {
    auto dir = fs::temp_directory_path() / ("dmarc-web-cli-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string store = (dir / "store.db").string();
    {
        auto s = io::open_store(store);
        ASSERT_TRUE(s);
    }
    std::string cmd = std::string("printf 'a long enough password\\n' | ") + DMARC_WEB_BINARY +
                      " user add alice --role admin --store " + store + " 2>&1";
    FILE* p = ::popen(cmd.c_str(), "r");
    ASSERT_NE(p, nullptr);
    char buf[512];
    std::string out;
    while (std::fgets(buf, sizeof buf, p)) out += buf;
    EXPECT_EQ(::pclose(p), 0) << out;
    EXPECT_NE(out.find("user alice added"), std::string::npos) << out;
    // A short password, an unknown role and a bad name are refused.
    for (const char* bad : {" user add bob --role admin", " user add bob --role root",
                            " user add 'b<b' --role admin"}) {
        std::string c = std::string("printf 'short\\n' | ") + DMARC_WEB_BINARY + bad + " --store " +
                        store + " >/dev/null 2>&1";
        EXPECT_NE(std::system(c.c_str()), 0) << bad;
    }
    // A generated one-time password is printed once and works.
    std::string gen = std::string(DMARC_WEB_BINARY) +
                      " user add carol --role viewer --generate-password --store " + store +
                      " 2>/dev/null";
    p = ::popen(gen.c_str(), "r");
    ASSERT_NE(p, nullptr);
    std::string password;
    if (std::fgets(buf, sizeof buf, p)) password = buf;
    ::pclose(p);
    while (!password.empty() && password.back() == '\n') password.pop_back();
    EXPECT_EQ(password.size(), 20u);
    auto reader = io::StoreReader::open(store, 1);
    ASSERT_TRUE(reader);
    auto alice = (*reader)->find_user("alice");
    ASSERT_TRUE(alice && *alice);
    EXPECT_EQ((*alice)->role, "admin");
    EXPECT_TRUE((*alice)->password_hash.starts_with("$argon2id$"));
    EXPECT_TRUE(verify_password((*alice)->password_hash, "a long enough password"));
    auto carol = (*reader)->find_user("carol");
    ASSERT_TRUE(carol && *carol);
    EXPECT_TRUE(verify_password((*carol)->password_hash, password));
    EXPECT_FALSE(verify_password((*carol)->password_hash, password + "x"));
    fs::remove_all(dir);
}

// `user add --domains` and `user domains`: scopes set, changed, lifted and emptied through the
// binary; U-labels stored as A-labels (RFC 5890 §2.3.2.1); an admin with a scope, a bad domain,
// an unknown user and a missing list are refused, and a refused add creates no user.
TEST(WebBinary, UserDomainsScopeAViewerThroughTheCli) {
    ASSERT_TRUE(crypto_init());
    auto dir = fs::temp_directory_path() / ("dmarc-web-scope-cli-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string store = (dir / "store.db").string();
    auto run = [&](const std::string& args) { return run_user_command(args, store); };
    auto scope_of = [&](const std::string& name) -> std::optional<std::string> {
        auto reader = io::StoreReader::open(store, 1);
        EXPECT_TRUE(reader) << reader.error().message;
        if (!reader) return std::nullopt;
        auto user = (*reader)->find_user(name);
        if (!user || !*user) return std::nullopt;
        return (*user)->scope.key();  // "*" for everything
    };
    auto [added, add_out] = run("add dora --role viewer --domains 'Good.Example, bücher.example'");
    EXPECT_EQ(added, 0) << add_out;
    EXPECT_EQ(scope_of("dora"), "good.example,xn--bcher-kva.example");
    auto [changed, change_out] = run("domains dora bad.example,sub.good.example");
    EXPECT_EQ(changed, 0) << change_out;
    EXPECT_NE(change_out.find("bad.example,sub.good.example"), std::string::npos) << change_out;
    EXPECT_EQ(scope_of("dora"), "bad.example,sub.good.example");
    EXPECT_EQ(run("domains dora --all").first, 0);
    EXPECT_EQ(scope_of("dora"), "*");
    EXPECT_EQ(run("domains dora --none").first, 0);
    EXPECT_EQ(scope_of("dora"), "");
    EXPECT_EQ(run("domains dora --domains good.example").first, 0);
    EXPECT_EQ(scope_of("dora"), "good.example");
    // Without --domains a user is unscoped, as before.
    EXPECT_EQ(run("add ed --role viewer").first, 0);
    EXPECT_EQ(scope_of("ed"), "*");
    EXPECT_EQ(run("add root --role admin").first, 0);
    // Refusals: nothing changes.
    for (const char* bad :
         {"add eve --role admin --domains good.example", "add frank --role viewer --domains 'a b'",
          "add frank --role viewer --domains example", "add frank --role viewer --domains ''",
          "domains root good.example", "domains nobody good.example", "domains dora",
          "domains dora --all --none", "domains dora 'bad_domain.example'"}) {
        auto [status, out] = run(bad);
        EXPECT_NE(status, 0) << bad;
        EXPECT_NE(out.find("dmarc-web:"), std::string::npos) << bad << ": " << out;
    }
    EXPECT_EQ(scope_of("eve"), std::nullopt);
    EXPECT_EQ(scope_of("frank"), std::nullopt);
    EXPECT_EQ(scope_of("root"), "*");
    EXPECT_EQ(scope_of("dora"), "good.example");
    fs::remove_all(dir);
}

// `user role NAME admin|viewer`: a role changed both ways through the binary; an unknown role or
// user, a missing role, and a scoped viewer made admin (admins see every domain) are refused and
// change nothing.
TEST(WebBinary, UserRoleChangesARoleThroughTheCli) {
    ASSERT_TRUE(crypto_init());
    auto dir = fs::temp_directory_path() / ("dmarc-web-role-cli-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string store = (dir / "store.db").string();
    auto run = [&](const std::string& args) { return run_user_command(args, store); };
    auto user = [&](const std::string& name) -> std::optional<io::WebUser> {
        auto reader = io::StoreReader::open(store, 1);
        EXPECT_TRUE(reader) << reader.error().message;
        if (!reader) return std::nullopt;
        auto found = (*reader)->find_user(name);
        if (!found || !*found) return std::nullopt;
        return **found;
    };
    ASSERT_EQ(run("add boss --role admin").first, 0);
    ASSERT_EQ(run("add scoped --role viewer --domains good.example").first, 0);
    // The last admin is not demoted: someone must be left who may manage the dashboard.
    auto [last, last_out] = run("role boss viewer");
    EXPECT_NE(last, 0) << last_out;
    EXPECT_NE(last_out.find("boss is the last admin"), std::string::npos) << last_out;
    EXPECT_EQ(user("boss")->role, "admin");
    ASSERT_EQ(run("add deputy --role admin").first, 0);
    auto [demoted, demote_out] = run("role boss viewer");
    EXPECT_EQ(demoted, 0) << demote_out;
    EXPECT_NE(demote_out.find("user boss is viewer"), std::string::npos) << demote_out;
    ASSERT_TRUE(user("boss"));
    EXPECT_EQ(user("boss")->role, "viewer");
    EXPECT_TRUE(user("boss")->scope.all);  // demoted, not scoped
    EXPECT_EQ(run("role boss admin").first, 0);
    EXPECT_EQ(user("boss")->role, "admin");
    for (const char* bad : {"role boss root", "role boss", "role nobody viewer",
                            "role scoped admin", "role boss viewer admin"}) {
        auto [status, out] = run(bad);
        EXPECT_NE(status, 0) << bad;
        EXPECT_TRUE(out.find("dmarc-web:") != std::string::npos || out.starts_with("usage:"))
            << bad << ": " << out;
    }
    EXPECT_EQ(user("boss")->role, "admin");
    EXPECT_EQ(user("scoped")->role, "viewer");
    EXPECT_EQ(user("scoped")->scope.key(), "good.example");
    // Once the scope is lifted, the viewer can be made admin.
    EXPECT_EQ(run("domains scoped --all").first, 0);
    EXPECT_EQ(run("role scoped admin").first, 0);
    EXPECT_EQ(user("scoped")->role, "admin");
    fs::remove_all(dir);
}

// `user disable|enable NAME` and `user list` through the binary: the last enabled admin is not
// disabled, an unknown user is refused, `user passwd` enables again, and the list shows each
// user's role, state and scope.
TEST(WebBinary, UserDisableEnableAndListThroughTheCli) {
    ASSERT_TRUE(crypto_init());
    auto dir = fs::temp_directory_path() / ("dmarc-web-disable-cli-" + std::to_string(::getpid()));
    fs::remove_all(dir);
    fs::create_directories(dir);
    const std::string store = (dir / "store.db").string();
    auto run = [&](const std::string& args) { return run_user_command(args, store); };
    auto disabled = [&](const std::string& name) -> std::optional<bool> {
        auto reader = io::StoreReader::open(store, 1);
        EXPECT_TRUE(reader) << reader.error().message;
        if (!reader) return std::nullopt;
        auto found = (*reader)->find_user(name);
        if (!found || !*found) return std::nullopt;
        return (**found).disabled;
    };
    ASSERT_EQ(run("add boss --role admin").first, 0);
    ASSERT_EQ(run("add vera --role viewer").first, 0);
    ASSERT_EQ(run("add sam --role viewer --domains good.example,bad.example").first, 0);
    ASSERT_EQ(run("add nobody --role viewer --domains good.example").first, 0);
    ASSERT_EQ(run("domains nobody --none").first, 0);

    auto [last, last_out] = run("disable boss");
    EXPECT_NE(last, 0) << last_out;
    EXPECT_NE(last_out.find("boss is the last admin"), std::string::npos) << last_out;
    EXPECT_EQ(disabled("boss"), false);

    auto [off, off_out] = run("disable vera");
    EXPECT_EQ(off, 0) << off_out;
    EXPECT_NE(off_out.find("user vera disabled"), std::string::npos) << off_out;
    EXPECT_EQ(disabled("vera"), true);

    auto [listed, list_out] = run("list");
    EXPECT_EQ(listed, 0) << list_out;
    std::vector<std::string> lines;
    std::istringstream in(list_out);
    for (std::string line; std::getline(in, line);) {
        // NAME ROLE STATE SCOPE CREATED: the time is checked for its shape only.
        const auto at = line.rfind(' ');
        ASSERT_NE(at, std::string::npos) << line;
        EXPECT_EQ(line.size() - at - 1, 20u) << line;  // 2026-11-30T21:45:00Z
        EXPECT_EQ(line.back(), 'Z') << line;
        lines.push_back(line.substr(0, at));
    }
    EXPECT_EQ(lines,
              (std::vector<std::string>{"boss admin enabled all", "nobody viewer enabled none",
                                        "sam viewer enabled bad.example,good.example",
                                        "vera viewer disabled all"}))
        << list_out;

    EXPECT_EQ(run("enable vera").first, 0);
    EXPECT_EQ(disabled("vera"), false);
    ASSERT_EQ(run("add deputy --role admin").first, 0);
    EXPECT_EQ(run("disable boss").first, 0);  // deputy can still sign in
    auto [kept, kept_out] = run("disable deputy");
    EXPECT_NE(kept, 0) << kept_out;
    EXPECT_NE(kept_out.find("deputy is the last admin"), std::string::npos) << kept_out;
    EXPECT_EQ(run("passwd boss").first, 0);  // a new password enables the user again
    EXPECT_EQ(disabled("boss"), false);
    for (const char* bad : {"disable nobody-here", "enable", "disable vera extra", "list extra"}) {
        auto [status, out] = run(bad);
        EXPECT_NE(status, 0) << bad;
        EXPECT_TRUE(out.find("dmarc-web:") != std::string::npos || out.starts_with("usage:"))
            << bad << ": " << out;
    }
    fs::remove_all(dir);
}

}  // namespace
}  // namespace dmarc::web
