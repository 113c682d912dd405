// Small ASCII helpers shared by the parsers. Mail header grammar is ASCII (RFC 5322 §2.2), so
// these deliberately ignore the locale.
#pragma once

#include <string>
#include <string_view>

namespace dmarc::text {

constexpr char to_lower(char c) noexcept {
    return (c >= 'A' && c <= 'Z') ? char(c + 32) : c;
}
constexpr bool is_alpha(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}
constexpr bool is_digit(char c) noexcept {
    return c >= '0' && c <= '9';
}
constexpr bool is_wsp(char c) noexcept {
    return c == ' ' || c == '\t';
}
// WSP plus the CR and LF of folded header lines.
constexpr bool is_fws(char c) noexcept {
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

// RFC 5322 §3.2.3 atext, ASCII part (RFC 6532 §3.2 adds UTF8-non-ascii; callers handle that).
constexpr bool is_atext(char c) noexcept {
    if (is_alpha(c) || is_digit(c)) return true;
    switch (c) {
        case '!':
        case '#':
        case '$':
        case '%':
        case '&':
        case '\'':
        case '*':
        case '+':
        case '-':
        case '/':
        case '=':
        case '?':
        case '^':
        case '_':
        case '`':
        case '{':
        case '|':
        case '}':
        case '~':
            return true;
        default:
            return false;
    }
}

bool iequals(std::string_view a, std::string_view b) noexcept;
bool istarts_with(std::string_view text, std::string_view prefix) noexcept;
bool iends_with(std::string_view text, std::string_view suffix) noexcept;
std::string lower(std::string_view text);
// Strips WSP, CR and LF from both ends.
std::string_view trim(std::string_view text) noexcept;

}  // namespace dmarc::text
