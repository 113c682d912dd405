// Received-SPF parsing (RFC 7208 §9.1):
//   "Received-SPF:" [CFWS] result FWS [comment FWS] [key-value-list]
//   key-value-pair = key [CFWS] "=" ( dot-atom / quoted-string ), separated by ';'.
// Values are also read as the unquoted runs real checkers write (VERP addresses with '=').
#include "core/received_spf.hpp"

#include <array>
#include <utility>

#include "core/domain_name.hpp"
#include "core/limits.hpp"
#include "core/text.hpp"
#include "core/trace_lex.hpp"

namespace dmarc {

std::optional<std::string_view> ReceivedSpf::find(std::string_view key) const noexcept {
    for (const auto& pair : pairs) {
        if (text::iequals(pair.key, key)) return std::string_view(pair.value);
    }
    return std::nullopt;
}

std::optional<SpfScope> ReceivedSpf::identity_scope() const noexcept {
    auto id = identity();
    if (!id) return std::nullopt;
    if (text::iequals(*id, "mailfrom")) return SpfScope::mfrom;
    if (text::iequals(*id, "helo")) return SpfScope::helo;
    return std::nullopt;
}

Result<std::string> ReceivedSpf::envelope_from_domain() const {
    auto from = envelope_from();
    if (!from) return make_error(Errc::not_found, "no envelope-from");
    std::string_view address = *from;
    if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
        address = address.substr(1, address.size() - 2);
    }
    if (address.empty()) return make_error(Errc::not_found, "null reverse-path");
    auto at = address.rfind('@');
    return to_a_label_domain(at == std::string_view::npos ? address : address.substr(at + 1));
}

namespace {

using lex::Cursor;

// RFC 7208 §9.1 name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." ).
std::string_view read_key(Cursor& cursor) noexcept {
    const std::size_t start = cursor.pos;
    if (cursor.at_end() || !text::is_alpha(cursor.peek())) return {};
    while (!cursor.at_end()) {
        char c = cursor.peek();
        if (!text::is_alpha(c) && !text::is_digit(c) && c != '-' && c != '_' && c != '.') break;
        ++cursor.pos;
    }
    return cursor.text.substr(start, cursor.pos - start);
}

// The keys RFC 7208 §9.1 defines: a second copy of one makes the field ambiguous.
bool is_defined_key(std::string_view key) noexcept {
    constexpr std::array<std::string_view, 7> keys = {
        "client-ip", "envelope-from", "helo", "problem", "receiver", "identity", "mechanism"};
    for (auto k : keys) {
        if (k == key) return true;
    }
    return false;
}

Result<ReceivedSpfPair> read_pair(Cursor& cursor) {
    auto key = read_key(cursor);
    if (key.empty()) return make_error(Errc::syntax, "expected a key");
    if (auto ok = lex::skip_cfws(cursor, nullptr); !ok) return tl::unexpected(ok.error());
    if (!cursor.at('=')) return make_error(Errc::syntax, "no '=' after the key");
    ++cursor.pos;
    if (auto ok = lex::skip_cfws(cursor, nullptr); !ok) return tl::unexpected(ok.error());
    auto value = lex::read_value(cursor);
    if (!value) return tl::unexpected(value.error());
    return ReceivedSpfPair{text::lower(key), std::move(*value)};
}

}  // namespace

Result<ReceivedSpf> parse_received_spf(std::string_view field) {
    if (field.size() > limits::kMaxHeaderFieldBytes) {
        return make_error(Errc::limit, "Received-SPF longer than kMaxHeaderFieldBytes");
    }
    Cursor cursor{lex::strip_field_name(field, "Received-SPF")};
    ReceivedSpf out;

    if (auto ok = lex::skip_cfws(cursor, nullptr); !ok) return tl::unexpected(ok.error());
    const std::size_t word_start = cursor.pos;
    while (!cursor.at_end() && text::is_alpha(cursor.peek())) ++cursor.pos;
    auto word = cursor.text.substr(word_start, cursor.pos - word_start);
    if (word.empty()) return make_error(Errc::syntax, "Received-SPF without a result");
    if (!cursor.at_end() && !text::is_fws(cursor.peek()) && !cursor.at('(')) {
        return make_error(Errc::syntax, "Received-SPF result is not a word");
    }
    auto result = parse_spf_result(word);
    if (!result) {
        return make_error(Errc::invalid_value,
                          "unknown Received-SPF result \"" + std::string(word) + "\"");
    }
    out.result = *result;

    std::vector<std::string> comments;
    if (auto ok = lex::skip_cfws(cursor, &comments); !ok) return tl::unexpected(ok.error());
    if (!comments.empty()) out.comment = std::move(comments.front());

    while (true) {
        if (auto ok = lex::skip_cfws(cursor, nullptr); !ok) {
            if (ok.error().code == Errc::limit) return tl::unexpected(ok.error());
            // An unterminated comment: the rest of the field is unreadable.
            if (out.pairs.size() + out.skipped.size() >= limits::kMaxReceivedSpfPairs) {
                return make_error(Errc::limit, "more than kMaxReceivedSpfPairs pairs");
            }
            out.skipped.emplace_back(text::trim(cursor.text.substr(cursor.pos)));
            break;
        }
        if (cursor.at_end()) break;
        if (cursor.at(';')) {  // between pairs, trailing, or doubled: all tolerated
            ++cursor.pos;
            continue;
        }
        if (out.pairs.size() + out.skipped.size() >= limits::kMaxReceivedSpfPairs) {
            return make_error(Errc::limit, "more than kMaxReceivedSpfPairs pairs");
        }
        const std::size_t start = cursor.pos;
        auto pair = read_pair(cursor);
        if (!pair) {
            if (pair.error().code == Errc::limit) return tl::unexpected(pair.error());
            if (auto skip = lex::skip_to_semicolon(cursor); !skip) {
                return tl::unexpected(skip.error());
            }
            out.skipped.emplace_back(text::trim(cursor.text.substr(start, cursor.pos - start)));
            continue;
        }
        if (is_defined_key(pair->key) && out.find(pair->key)) {
            return make_error(Errc::syntax, "Received-SPF key \"" + pair->key + "\" given twice");
        }
        out.pairs.push_back(std::move(*pair));
        // Pairs are ';'-separated; some checkers separate with spaces only, which is
        // unambiguous because an unquoted value cannot hold CFWS. The loop takes either.
    }
    return out;
}

}  // namespace dmarc
