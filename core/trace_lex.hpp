// Lexical pieces shared by the trace-field parsers (Authentication-Results, Received-SPF):
// CFWS with nested comments and quoted-pairs, quoted-strings, and the unquoted value runs real
// producers emit (RFC 5322 §3.2.2-§3.2.4; RFC 8601 §2.2; RFC 7208 §9.1). Folding is removed
// while decoding (RFC 5322 §2.2.3). Internal to core; every scan is forward-only (linear).
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace dmarc::lex {

constexpr bool is_ctl(char c) noexcept {
    auto u = static_cast<unsigned char>(c);
    return u < 0x20 || u == 0x7F;
}
// RFC 2045 §5.1 token character: printable US-ASCII except SPACE and tspecials.
bool is_token_char(char c) noexcept;
bool is_token(std::string_view text) noexcept;
// RFC 5321 §4.1.2 Keyword (Ldh-str), which RFC 8601 uses for method, result, ptype and
// property. A trailing '-' is tolerated; the set is what both the parser and formatter use.
constexpr bool is_keyword_char(char c) noexcept {
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '-';
}
bool is_keyword(std::string_view text) noexcept;

struct Cursor {
    std::string_view text;
    std::size_t pos = 0;

    bool at_end() const noexcept { return pos >= text.size(); }
    char peek() const noexcept { return text[pos]; }
    bool at(char c) const noexcept { return pos < text.size() && text[pos] == c; }
};

// Skips FWS and comments. Decoded comment texts are appended to `comments` if it is not null.
// Errc::syntax for an unterminated or malformed comment (the cursor is then left on its '(');
// Errc::limit when comments nest deeper than limits::kMaxCommentDepth.
Result<void> skip_cfws(Cursor& cursor, std::vector<std::string>* comments);

// At a '"': the decoded content of a quoted-string. On error the cursor stays on the '"'.
Result<std::string> read_quoted_string(Cursor& cursor);

// A run of bytes that are not CFWS, ';' or control characters: the unquoted values real
// producers write ("oF80QtY/", "a=b@c", "128/128", VERP addresses). May be empty.
std::string_view read_run(Cursor& cursor) noexcept;

// A value: a quoted-string, a run, or an address with a quoted local-part ("a b"@example.com,
// returned as written). Errc::syntax when the value is glued to what follows
// without CFWS (`"a"b`, and `example.net(.example.com`: CVE-2020-12272 — a tokenizer that
// treats '(' as a comment would credit example.net for a signature the verifier made for
// another name, so a value directly followed by '(' is ambiguous and refused), or when a
// control character follows.
Result<std::string> read_value(Cursor& cursor);

// After an error: moves to the next ';' that is not inside a comment or quoted-string, or to
// the end. Errc::limit when comments nest too deep on the way.
Result<void> skip_to_semicolon(Cursor& cursor);

// Drops a leading "<name>:" (any case, WSP allowed before the colon: RFC 5322 §4.5 obs).
std::string_view strip_field_name(std::string_view field, std::string_view name) noexcept;

// Appends text as a quoted-string with '"' and '\' escaped. false if it holds a control
// character other than HTAB (a header must not be able to carry CR/LF).
bool append_quoted(std::string& out, std::string_view text);
// Appends text as a comment with '(', ')' and '\' escaped; same refusal as append_quoted.
bool append_comment(std::string& out, std::string_view text);

}  // namespace dmarc::lex
