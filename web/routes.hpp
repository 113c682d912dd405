// dmarc-web's routes (issue 7): each is a function (request, store view, sessions) -> response,
// with no socket in sight, so tests drive them directly and server.cpp only moves bytes. App adds
// the security headers to every response and enforces login and CSRF before any route runs.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/dns.hpp"
#include "core/limits.hpp"

#include "io/store_queries.hpp"
#include "web/auth.hpp"
#include "web/cache.hpp"
#include "web/http.hpp"
#include "web/metrics.hpp"
#include "web/rdns.hpp"

namespace dmarc::web {

struct PageContext;

// The filter a page or API call was asked for, as typed (for the form and links) and as parsed.
struct FilterForm {
    std::string period = "7d";       // 24h 7d 30d 90d all custom
    std::string from_date, to_date;  // YYYY-MM-DD (custom)
    std::string header_from, ip, result, disposition, queue_id;
    io::MessageFilter filter;
    // The query string that reproduces this filter (percent-encoded, without '?').
    std::string query() const;
    // What an aggregate's answer depends on besides its window: the query and the scope (two
    // users asking the same query see different mail).
    std::string cache_key() const;
};

// Parses and validates the filter parameters; an error with a reason on a bad value. The scope
// is the session user's (never a request parameter).
Result<FilterForm> parse_filter(const Request& request, io::DomainScope scope);

// A suppression pattern as typed: an address (dot-atom local part, RFC 5322 §3.2.3 / §3.4.1,
// at most 64 bytes per RFC 5321 §4.5.3.1.1) or a domain with at least two labels; the domain is
// normalised to a lower-case A-label. Errors say what is wrong.
Result<std::string> normalise_suppression_pattern(std::string_view typed);

// A user's domain scope as typed after --domains: comma-separated domains, U-labels or A-labels,
// each of two labels or more, normalised to lower-case A-labels (RFC 5890 §2.3.2.1), sorted and
// without repeats; at most limits::kMaxScopeDomains. Errors name the domain that is wrong.
Result<std::vector<std::string>> parse_scope_domains(std::string_view typed);

struct AppOptions {
    std::size_t page_size = 50;
    std::size_t top_n = 10;
    // The one writable connection (suppressions, resend); nullptr: those changes answer 503.
    io::StoreWriter* writer = nullptr;
    // DNS check; nullptr: the page says no resolver is configured.
    DnsResolver* resolver = nullptr;
    std::chrono::milliseconds dns_check_budget{limits::kDnsCheckBudgetMs};
    // Reverse DNS of sources; nullptr: no column.
    ReverseDnsCache* rdns = nullptr;
    // Host header check (DNS rebinding): names accepted besides the address the connection came
    // in on (and "localhost" on a loopback address). Off only in route-level tests.
    std::vector<std::string> allowed_hosts;
    bool check_host = true;
    // Aggregates (overview, domains, sources, metrics) are reused this long; 0: never.
    std::int64_t cache_seconds = 60;
    // The receiver part of a report's download name (RFC 7489 §7.2.1.1).
    std::string report_receiver = "dmarc-web";
};

class App {
  public:
    App(io::StoreReader& store, Metrics& metrics, AppOptions options = {})
        : store_(store), metrics_(metrics), options_(options) {}

    // Never throws: an internal failure is a 500 with no detail (the detail goes to the log).
    Response handle(const Request& request) noexcept;

    SessionStore& sessions() { return sessions_; }

    // Computes what a first visit asks for (the default overview, domains and sources, and the
    // /metrics counts) into the caches, so that the first request after a start does not wait for
    // the store (dmarc-web runs it on a thread of its own at start-up). false: `stop` ended it
    // before every view was computed.
    bool warm(std::int64_t now, const std::atomic<bool>* stop = nullptr);

  private:
    Response route(const Request& request);
    Response login_form(const Request& request, std::string error, unsigned status);
    Response login_post(const Request& request);
    bool host_allowed(const Request& request) const;
    Response dns_check(const Request& request, PageContext& context, bool api);
    // A state-changing POST whose CSRF token was checked, by `user` as the store has it now.
    Response change(const Request& request, const Session& session, const io::WebUser& user,
                    const std::multimap<std::string, std::string>& form);
    Result<std::shared_ptr<const io::Overview>> cached_overview(const FilterForm& form,
                                                                std::int64_t now);

    io::StoreReader& store_;
    Metrics& metrics_;
    AppOptions options_;
    SessionStore sessions_;
    LoginLimiter limiter_;
    // Stale answers are served while the cache's thread recomputes them (cache.hpp).
    ResultCache<io::Overview> overview_cache_{options_.cache_seconds, 256, true};
    ResultCache<Computed<std::vector<io::DomainStats>>> domains_cache_{options_.cache_seconds, 256,
                                                                       true};
    ResultCache<Computed<std::vector<io::SourceStats>>> sources_cache_{options_.cache_seconds, 256,
                                                                       true};
    ResultCache<std::vector<io::ResultCount>> by_result_cache_{options_.cache_seconds, 256, true};
    std::atomic<int> dns_checks_running_{0};
};

// Headers every response carries (CSP, nosniff, frame-ancestors, Referrer-Policy, ...).
void add_security_headers(Response& response, bool tls);

inline constexpr const char* kSessionCookie = "dmarc_session";
inline constexpr const char* kLoginCookie = "dmarc_login";

}  // namespace dmarc::web
