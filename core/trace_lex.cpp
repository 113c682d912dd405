// CFWS, comments, quoted-strings and value runs for the trace-field parsers (RFC 5322
// §3.2.2-§3.2.4, RFC 8601 §2.2, RFC 7208 §9.1).
#include "core/trace_lex.hpp"

#include <algorithm>

#include "core/limits.hpp"
#include "core/text.hpp"

namespace dmarc::lex {

bool is_token_char(char c) noexcept {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u >= 0x7F) return false;
    // tspecials. A switch, not a search of the list: every value of every A-R field we write
    // and read passes through here character by character.
    switch (c) {
        case '(':
        case ')':
        case '<':
        case '>':
        case '@':
        case ',':
        case ';':
        case ':':
        case '\\':
        case '"':
        case '/':
        case '[':
        case ']':
        case '?':
        case '=':
            return false;
        default:
            return true;
    }
}

bool is_token(std::string_view text) noexcept {
    if (text.empty()) return false;
    for (char c : text) {
        if (!is_token_char(c)) return false;
    }
    return true;
}

bool is_keyword(std::string_view text) noexcept {
    if (text.empty()) return false;
    for (char c : text) {
        if (!is_keyword_char(c)) return false;
    }
    return true;
}

namespace {

// A quoted-pair may quote VCHAR or WSP (RFC 5322 §3.2.1); UTF-8 bytes are let through
// (RFC 6532). Quoting CR, LF or another control character is refused.
bool quotable(char c) noexcept {
    return c == '\t' || !is_ctl(c);
}

// Reads the comment at cursor ('(') without recursion; its text goes to out (or nowhere).
Result<void> read_comment(Cursor& cursor, std::string* out) {
    const std::size_t start = cursor.pos;
    std::size_t depth = 0;
    while (cursor.pos < cursor.text.size()) {
        char c = cursor.text[cursor.pos];
        if (c == '\\') {
            if (cursor.pos + 1 >= cursor.text.size() || !quotable(cursor.text[cursor.pos + 1])) {
                cursor.pos = start;
                return make_error(Errc::syntax, "bad quoted-pair in a comment");
            }
            if (out) out->push_back(cursor.text[cursor.pos + 1]);
            cursor.pos += 2;
            continue;
        }
        ++cursor.pos;
        if (c == '(') {
            if (++depth > limits::kMaxCommentDepth) {
                cursor.pos = start;
                return make_error(Errc::limit, "comments nested deeper than kMaxCommentDepth");
            }
            if (depth > 1 && out) out->push_back(c);
        } else if (c == ')') {
            if (--depth == 0) return {};
            if (out) out->push_back(c);
        } else if (c == '\r' || c == '\n') {
            // unfolding (RFC 5322 §2.2.3)
        } else if (is_ctl(c) && c != '\t') {
            cursor.pos = start;
            return make_error(Errc::syntax, "control character in a comment");
        } else if (out) {
            out->push_back(c);
        }
    }
    cursor.pos = start;
    return make_error(Errc::syntax, "unterminated comment");
}

}  // namespace

Result<void> skip_cfws(Cursor& cursor, std::vector<std::string>* comments) {
    while (!cursor.at_end()) {
        char c = cursor.peek();
        if (text::is_fws(c)) {
            ++cursor.pos;
        } else if (c == '(') {
            std::string body;
            auto ok = read_comment(cursor, comments ? &body : nullptr);
            if (!ok) return ok;
            if (comments) comments->push_back(std::move(body));
        } else {
            break;
        }
    }
    return {};
}

Result<std::string> read_quoted_string(Cursor& cursor) {
    const std::size_t start = cursor.pos;
    std::string out;
    ++cursor.pos;  // the opening '"'
    while (cursor.pos < cursor.text.size()) {
        char c = cursor.text[cursor.pos];
        if (c == '\\') {
            if (cursor.pos + 1 >= cursor.text.size() || !quotable(cursor.text[cursor.pos + 1])) {
                cursor.pos = start;
                return make_error(Errc::syntax, "bad quoted-pair in a quoted-string");
            }
            out.push_back(cursor.text[cursor.pos + 1]);
            cursor.pos += 2;
            continue;
        }
        ++cursor.pos;
        if (c == '"') return out;
        if (c == '\r' || c == '\n') continue;  // unfolding
        if (is_ctl(c) && c != '\t') {
            cursor.pos = start;
            return make_error(Errc::syntax, "control character in a quoted-string");
        }
        out.push_back(c);
    }
    cursor.pos = start;
    return make_error(Errc::syntax, "unterminated quoted-string");
}

std::string_view read_run(Cursor& cursor) noexcept {
    const std::size_t start = cursor.pos;
    while (cursor.pos < cursor.text.size()) {
        char c = cursor.text[cursor.pos];
        if (c == ';' || c == '(' || is_ctl(c) || c == ' ') break;
        ++cursor.pos;
    }
    return cursor.text.substr(start, cursor.pos - start);
}

Result<std::string> read_value(Cursor& cursor) {
    std::string value;
    if (cursor.at('"')) {
        const std::size_t start = cursor.pos;
        auto quoted = read_quoted_string(cursor);
        if (!quoted) return quoted;
        value = std::move(*quoted);
        if (cursor.at('@')) {
            // local-part "@" domain with a quoted local-part (RFC 8601 §2.2 pvalue, RFC 5322
            // §3.4.1): the address is the value, written as it appeared, minus folding.
            read_run(cursor);
            value.clear();
            for (char c : cursor.text.substr(start, cursor.pos - start)) {
                if (c != '\r' && c != '\n') value.push_back(c);
            }
            if (cursor.at('(') ||
                (!cursor.at_end() && is_ctl(cursor.peek()) && !text::is_fws(cursor.peek()))) {
                return make_error(Errc::syntax, "address value glued to what follows");
            }
            return value;
        }
        if (!cursor.at_end()) {
            char c = cursor.peek();
            if (!text::is_fws(c) && c != ';' && c != '(') {
                return make_error(Errc::syntax, "text glued to the end of a quoted-string");
            }
        }
        return value;
    }
    value = std::string(read_run(cursor));
    if (!cursor.at_end()) {
        char c = cursor.peek();
        if (c == '(' && !value.empty()) {
            return make_error(Errc::syntax,
                              "value glued to a comment, ambiguous (CVE-2020-12272): " + value);
        }
        if (is_ctl(c) && !text::is_fws(c)) {
            return make_error(Errc::syntax, "control character in a value");
        }
    }
    return value;
}

Result<void> skip_to_semicolon(Cursor& cursor) {
    std::size_t depth = 0;
    bool quoted = false;
    while (cursor.pos < cursor.text.size()) {
        char c = cursor.text[cursor.pos];
        if ((depth > 0 || quoted) && c == '\\') {
            cursor.pos += 2;
            continue;
        }
        ++cursor.pos;
        if (depth > 0) {
            if (c == '(') {
                if (++depth > limits::kMaxCommentDepth) {
                    return make_error(Errc::limit, "comments nested deeper than kMaxCommentDepth");
                }
            } else if (c == ')') {
                --depth;
            }
        } else if (quoted) {
            if (c == '"') quoted = false;
        } else if (c == ';') {
            --cursor.pos;
            return {};
        } else if (c == '(') {
            depth = 1;
        } else if (c == '"') {
            quoted = true;
        }
    }
    cursor.pos = cursor.text.size();
    return {};
}

std::string_view strip_field_name(std::string_view field, std::string_view name) noexcept {
    if (!text::istarts_with(field, name)) return field;
    std::size_t i = name.size();
    while (i < field.size() && text::is_wsp(field[i])) ++i;
    if (i < field.size() && field[i] == ':') return field.substr(i + 1);
    return field;
}

namespace {

bool append_escaped(std::string& out, std::string_view text, std::string_view specials) {
    for (char c : text) {
        if (is_ctl(c) && c != '\t') return false;
        if (std::find(specials.begin(), specials.end(), c) != specials.end()) out.push_back('\\');
        out.push_back(c);
    }
    return true;
}

}  // namespace

bool append_quoted(std::string& out, std::string_view text) {
    out.push_back('"');
    if (!append_escaped(out, text, "\"\\")) return false;
    out.push_back('"');
    return true;
}

bool append_comment(std::string& out, std::string_view text) {
    out.push_back('(');
    if (!append_escaped(out, text, "()\\")) return false;
    out.push_back(')');
    return true;
}

}  // namespace dmarc::lex
