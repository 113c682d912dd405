// Escaping for HTML text and attributes (HTML Living Standard §13.1.2.6 / OWASP rule #1) and
// percent-encoding of query components (RFC 3986 §2.1).
#include "web/html.hpp"

#include <cstdio>

namespace dmarc::web {

std::string escape_html(std::string_view untrusted) {
    std::string out;
    out.reserve(untrusted.size());
    for (char c : untrusted) {
        switch (c) {
            case '&':
                out += "&amp;";
                break;
            case '<':
                out += "&lt;";
                break;
            case '>':
                out += "&gt;";
                break;
            case '"':
                out += "&quot;";
                break;
            case '\'':
                out += "&#39;";
                break;
            case '\0':
                out += "&#xfffd;";
                break;
            default:
                out += c;
        }
    }
    return out;
}

std::string percent_encode(std::string_view text) {
    static constexpr char kHex[] = "0123456789ABCDEF";
    std::string out;
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        bool unreserved = (u >= 'a' && u <= 'z') || (u >= 'A' && u <= 'Z') ||
                          (u >= '0' && u <= '9') || u == '-' || u == '.' || u == '_' || u == '~';
        if (unreserved) {
            out += c;
        } else {
            out += '%';
            out += kHex[u >> 4];
            out += kHex[u & 15];
        }
    }
    return out;
}

Html Html::raw(std::string escaped) {
    Html h;
    h.out_ = std::move(escaped);
    return h;
}

Html Html::text(std::string_view untrusted) {
    return raw(escape_html(untrusted));
}

Html Html::number(std::int64_t value) {
    return raw(std::to_string(value));
}

Html Html::percent(std::int64_t part, std::int64_t whole) {
    if (whole <= 0) return raw("-");
    char buf[32];
    std::snprintf(buf, sizeof buf, "%.1f",
                  100.0 * static_cast<double>(part) / static_cast<double>(whole));
    return raw(buf);
}

Html url_param(std::string_view untrusted) {
    return Html::text(percent_encode(untrusted));
}

}  // namespace dmarc::web
