// HTML built only from escaped text (issue 7 item 3): every value that came from mail (domains,
// IPs, header text) reaches a page through Html::text(), which escapes it; markup comes only from
// string literals in our code. There is no constructor from a runtime string, so an unescaped
// value cannot be spliced into a page by accident.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

namespace dmarc::web {

// Markup written in our source: consteval, so only a string literal (a constant) converts.
class Literal {
  public:
    template <std::size_t N>
    consteval Literal(const char (&literal)[N])  // NOLINT(google-explicit-constructor)
        : text_(literal, N - 1) {}
    std::string_view text() const noexcept { return text_; }

  private:
    std::string_view text_;
};

class Html {
  public:
    Html() = default;
    Html(Literal markup) : out_(markup.text()) {}  // NOLINT(google-explicit-constructor)

    // Escapes & < > " ' so the result is safe in element content and in quoted attributes.
    static Html text(std::string_view untrusted);
    static Html number(std::int64_t value);
    // A ratio as "12.5" (one decimal); "-" when the denominator is 0.
    static Html percent(std::int64_t part, std::int64_t whole);

    Html& operator+=(const Html& other) {
        out_ += other.out_;
        return *this;
    }
    friend Html operator+(Html left, const Html& right) {
        left += right;
        return left;
    }

    std::string_view view() const noexcept { return out_; }
    std::string str() const { return out_; }

  private:
    static Html raw(std::string escaped);
    std::string out_;
};

// Escapes for a query-string component (percent-encoding, RFC 3986 §2.1) then HTML.
Html url_param(std::string_view untrusted);

std::string escape_html(std::string_view untrusted);
std::string percent_encode(std::string_view text);

}  // namespace dmarc::web
