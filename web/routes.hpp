// dmarc-web's routes (issue 7): each is a function (request, store view, sessions) -> response,
// with no socket in sight, so tests drive them directly and server.cpp only moves bytes. App adds
// the security headers to every response and enforces login and CSRF before any route runs.
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "io/store_queries.hpp"
#include "web/auth.hpp"
#include "web/http.hpp"
#include "web/metrics.hpp"

namespace dmarc::web {

// The filter a page or API call was asked for, as typed (for the form and links) and as parsed.
struct FilterForm {
    std::string period = "7d";       // 24h 7d 30d 90d all custom
    std::string from_date, to_date;  // YYYY-MM-DD (custom)
    std::string header_from, ip, result, disposition, queue_id;
    io::MessageFilter filter;
    // The query string that reproduces this filter (percent-encoded, without '?').
    std::string query() const;
};

// Parses and validates the filter parameters; nullopt with a reason on a bad value.
Result<FilterForm> parse_filter(const Request& request);

struct AppOptions {
    std::size_t page_size = 50;
    std::size_t top_n = 10;
};

class App {
  public:
    App(io::StoreReader& store, Metrics& metrics, AppOptions options = {})
        : store_(store), metrics_(metrics), options_(options) {}

    // Never throws: an internal failure is a 500 with no detail (the detail goes to the log).
    Response handle(const Request& request) noexcept;

    SessionStore& sessions() { return sessions_; }

  private:
    Response route(const Request& request);
    Response login_form(const Request& request, std::string error, unsigned status);
    Response login_post(const Request& request);

    io::StoreReader& store_;
    Metrics& metrics_;
    AppOptions options_;
    SessionStore sessions_;
    LoginLimiter limiter_;
};

// Headers every response carries (CSP, nosniff, frame-ancestors, Referrer-Policy, ...).
void add_security_headers(Response& response, bool tls);

inline constexpr const char* kSessionCookie = "dmarc_session";
inline constexpr const char* kLoginCookie = "dmarc_login";

}  // namespace dmarc::web
