// The request and response as routes see them: plain values, independent of Beast, so every
// route is a pure function (request, store view, clock) -> response that tests call directly.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace dmarc::web {

struct Request {
    std::string method;  // "GET", "POST", ...
    std::string target;  // as received: path and query
    std::string path;    // decoded path, no query
    std::multimap<std::string, std::string> query;
    std::map<std::string, std::string> cookies;
    std::string content_type;
    std::string body;
    std::string client_ip;
    std::string host;      // the Host header as sent ("" when absent)
    std::string local_ip;  // the address the connection came in on
    std::int64_t now = 0;  // UTC epoch seconds
    bool tls = false;

    std::string param(std::string_view name) const;  // first value, "" when absent
};

struct Response {
    unsigned status = 200;
    std::string content_type = "text/html; charset=utf-8";
    std::vector<std::pair<std::string, std::string>>
        headers;  // extra headers (Set-Cookie, Location)
    std::string body;
    std::string user;  // for the access log: who was logged in

    static Response redirect(std::string location);
    static Response plain(unsigned status, std::string text);
};

// application/x-www-form-urlencoded and query strings (URL Standard §5.1): '+' is a space.
// Returns nullopt on malformed percent escapes. Counts are bounded by the caller's body limit.
std::optional<std::multimap<std::string, std::string>> parse_form(std::string_view text);
std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space);
std::map<std::string, std::string> parse_cookies(std::string_view header);

// Splits target into path and query; fails on a malformed escape, a NUL or a non-absolute path.
bool fill_target(Request& request, std::string_view target);

}  // namespace dmarc::web
