// Query strings, form bodies (URL Standard §5.1, application/x-www-form-urlencoded) and the
// Cookie header (RFC 6265 §5.4), parsed strictly: a malformed escape fails the whole request.
#include "web/http.hpp"

namespace dmarc::web {

std::string Request::param(std::string_view name) const {
    auto it = query.find(std::string(name));
    return it == query.end() ? std::string() : it->second;
}

Response Response::redirect(std::string location) {
    Response r;
    r.status = 303;
    r.content_type = "text/plain; charset=utf-8";
    r.headers.emplace_back("Location", std::move(location));
    return r;
}

Response Response::plain(unsigned status, std::string text) {
    Response r;
    r.status = status;
    r.content_type = "text/plain; charset=utf-8";
    r.body = std::move(text);
    r.body += '\n';
    return r;
}

namespace {
int hex_value(char c) {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}
}  // namespace

std::optional<std::string> percent_decode(std::string_view text, bool plus_is_space) {
    std::string out;
    out.reserve(text.size());
    for (std::size_t i = 0; i < text.size(); ++i) {
        char c = text[i];
        if (c == '%') {
            if (i + 2 >= text.size()) return std::nullopt;
            int hi = hex_value(text[i + 1]);
            int lo = hex_value(text[i + 2]);
            if (hi < 0 || lo < 0) return std::nullopt;
            char decoded = static_cast<char>(hi * 16 + lo);
            if (decoded == '\0') return std::nullopt;
            out += decoded;
            i += 2;
        } else if (c == '+' && plus_is_space) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

std::optional<std::multimap<std::string, std::string>> parse_form(std::string_view text) {
    std::multimap<std::string, std::string> out;
    while (!text.empty()) {
        auto amp = text.find('&');
        std::string_view pair = text.substr(0, amp);
        text = amp == std::string_view::npos ? std::string_view() : text.substr(amp + 1);
        if (pair.empty()) continue;
        auto eq = pair.find('=');
        auto name = percent_decode(pair.substr(0, eq), true);
        auto value = percent_decode(
            eq == std::string_view::npos ? std::string_view() : pair.substr(eq + 1), true);
        if (!name || !value) return std::nullopt;
        out.emplace(std::move(*name), std::move(*value));
    }
    return out;
}

std::map<std::string, std::string> parse_cookies(std::string_view header) {
    std::map<std::string, std::string> out;
    while (!header.empty()) {
        auto semi = header.find(';');
        std::string_view item = header.substr(0, semi);
        header = semi == std::string_view::npos ? std::string_view() : header.substr(semi + 1);
        while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
        while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
        auto eq = item.find('=');
        if (eq == std::string_view::npos || eq == 0) continue;
        // The first cookie of a name wins (RFC 6265 §5.4: longer paths first; ours are all "/").
        out.emplace(std::string(item.substr(0, eq)), std::string(item.substr(eq + 1)));
    }
    return out;
}

bool fill_target(Request& request, std::string_view target) {
    request.target = std::string(target);
    if (target.empty() || target.front() != '/') return false;
    // RFC 9112 §3.2: no space or control byte in a request-target (Beast refuses them too; a
    // route called without Beast must not see them either).
    for (char c : target) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return false;
    }
    auto q = target.find('?');
    auto path = percent_decode(target.substr(0, q), false);
    if (!path) return false;
    request.path = std::move(*path);
    if (q != std::string_view::npos) {
        auto query = parse_form(target.substr(q + 1));
        if (!query) return false;
        request.query = std::move(*query);
    }
    return true;
}

}  // namespace dmarc::web
