// RFC 5322 From field parser (see from_header.hpp). Two linear passes: a lexer turns the body
// into atoms, quoted strings, domain literals and specials, dropping CFWS (RFC 5322 §3.2.2) but
// remembering where it was; a recursive-descent parser then reads RFC 6854's address-list with
// the obsolete forms of RFC 5322 §4.4. Each token is looked at a bounded number of times.
#include "core/from_header.hpp"

#include <cstdint>
#include <optional>
#include <utility>

#include "core/domain_name.hpp"
#include "core/limits.hpp"
#include "core/text.hpp"

namespace dmarc {
namespace {

unsigned char byte_at(std::string_view s, std::size_t i) {
    return static_cast<unsigned char>(s[i]);
}

// Length of the well-formed UTF-8 sequence (RFC 3629 §4) at s[i] that starts with a non-ASCII
// byte, or 0 if it is malformed (overlong, surrogate, beyond U+10FFFF, truncated).
std::size_t utf8_sequence_length(std::string_view s, std::size_t i) {
    unsigned char lead = byte_at(s, i);
    std::size_t len = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (lead >= 0xC2 && lead <= 0xDF) {
        len = 2;
    } else if (lead >= 0xE0 && lead <= 0xEF) {
        len = 3;
        if (lead == 0xE0) lo = 0xA0;
        if (lead == 0xED) hi = 0x9F;
    } else if (lead >= 0xF0 && lead <= 0xF4) {
        len = 4;
        if (lead == 0xF0) lo = 0x90;
        if (lead == 0xF4) hi = 0x8F;
    } else {
        return 0;
    }
    if (i + len > s.size()) return 0;
    unsigned char second = byte_at(s, i + 1);
    if (second < lo || second > hi) return 0;
    for (std::size_t k = 2; k < len; ++k) {
        unsigned char b = byte_at(s, i + k);
        if (b < 0x80 || b > 0xBF) return 0;
    }
    return len;
}

std::string at(std::size_t offset) {
    return " at byte " + std::to_string(offset);
}

std::string describe_byte(unsigned char u) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "byte 0x";
    out += kHex[u >> 4];
    out += kHex[u & 0xF];
    return out;
}

// Input quoted in an error message: control bytes escaped, at most 64 bytes (then "..."), cut
// on a UTF-8 character boundary, so that a hostile field cannot flood or corrupt a log line.
std::string excerpt(std::string_view s) {
    static constexpr std::size_t kMax = 64;
    std::string out;
    std::size_t i = 0;
    for (; i < s.size() && i < kMax; ++i) {
        unsigned char u = byte_at(s, i);
        if (u < 0x20 || u == 0x7f) {
            out += "\\x";
            out += describe_byte(u).substr(7);
        } else {
            out.push_back(s[i]);
        }
    }
    if (i < s.size()) {
        while (!out.empty() && (byte_at(out, out.size() - 1) & 0xC0) == 0x80) out.pop_back();
        if (!out.empty() && byte_at(out, out.size() - 1) >= 0xC0) out.pop_back();
        out += "...";
    }
    return out;
}

enum class Kind : std::uint8_t { atom, quoted, literal, special };

struct Token {
    Kind kind = Kind::special;
    char special = 0;           // Kind::special: one of . @ < > , : ;
    bool space_before = false;  // CFWS (white space or a comment) came before it
    std::size_t offset = 0;     // byte offset in the body, for error messages
    std::string text;           // atom text; quoted / literal content, unescaped
};

class Lexer {
  public:
    explicit Lexer(std::string_view body) : s_(body) {}

    Result<std::vector<Token>> run() {
        // "Name <local@example.com>" is 8 tokens: one allocation instead of growing to them.
        tokens_.reserve(16);
        bool space = false;
        while (i_ < s_.size()) {
            char c = s_[i_];
            unsigned char u = byte_at(s_, i_);
            if (text::is_wsp(c)) {
                ++i_;
                space = true;
                continue;
            }
            if (c == '\r' || c == '\n') {
                if (auto r = skip_line_break(); !r) return tl::unexpected(r.error());
                space = true;
                continue;
            }
            if (c == '(') {
                if (auto r = skip_comment(); !r) return tl::unexpected(r.error());
                space = true;
                continue;
            }
            Token token;
            token.space_before = space;
            token.offset = i_;
            space = false;
            if (c == '"') {
                token.kind = Kind::quoted;
                if (auto r = read_quoted(token.text); !r) return tl::unexpected(r.error());
            } else if (c == '[') {
                token.kind = Kind::literal;
                if (auto r = read_literal(token.text); !r) return tl::unexpected(r.error());
            } else if (c == '.' || c == '@' || c == '<' || c == '>' || c == ',' || c == ':' ||
                       c == ';') {
                token.kind = Kind::special;
                token.special = c;
                ++i_;
            } else if (text::is_atext(c) || u >= 0x80) {
                token.kind = Kind::atom;
                if (auto r = read_atom(token.text); !r) return tl::unexpected(r.error());
            } else if (c == ')') {
                return make_error(Errc::syntax, "unbalanced ')'" + at(i_));
            } else if (c == ']') {
                return make_error(Errc::syntax, "unbalanced ']'" + at(i_));
            } else if (c == '\\') {
                return make_error(Errc::syntax,
                                  "backslash outside a quoted string or comment" + at(i_));
            } else {
                return make_error(Errc::syntax, "control character (" + describe_byte(u) + ")" +
                                                    at(i_) + " outside a quoted string or comment");
            }
            tokens_.push_back(std::move(token));
        }
        return std::move(tokens_);
    }

  private:
    // RFC 5322 §3.2.2 FWS / §4.2 obs-FWS: a line break is only folding when white space follows.
    // A final CRLF (or LF) is the field's terminator.
    Result<void> skip_line_break() {
        std::size_t start = i_;
        if (s_[i_] == '\r') {
            if (i_ + 1 >= s_.size() || s_[i_ + 1] != '\n') {
                return make_error(Errc::syntax, "CR not followed by LF" + at(start));
            }
            ++i_;
        }
        ++i_;  // the LF
        if (i_ == s_.size()) return {};
        if (!text::is_wsp(s_[i_])) {
            return make_error(
                Errc::syntax,
                "line break not followed by white space (not a folded line)" + at(start));
        }
        return {};
    }

    // One UTF-8 character (RFC 6532 §3.2) appended to out; an error if malformed.
    Result<void> take_utf8(std::string* out) {
        std::size_t len = utf8_sequence_length(s_, i_);
        if (len == 0) {
            return make_error(Errc::syntax,
                              "malformed UTF-8 (" + describe_byte(byte_at(s_, i_)) + ")" + at(i_));
        }
        if (out != nullptr) out->append(s_.substr(i_, len));
        i_ += len;
        return {};
    }

    // RFC 5322 §3.2.1 quoted-pair / §4.1 obs-qp, minus NUL, CR and LF (a quoted line break would
    // let a header smuggle a new line).
    Result<void> take_quoted_pair(std::string* out) {
        std::size_t start = i_;
        ++i_;
        if (i_ >= s_.size()) {
            return make_error(Errc::syntax, "backslash at the end of the field" + at(start));
        }
        unsigned char u = byte_at(s_, i_);
        if (u >= 0x80) return take_utf8(out);
        if (u == 0 || u == '\r' || u == '\n') {
            return make_error(Errc::syntax, "backslash before " + describe_byte(u) + at(start));
        }
        if (out != nullptr) out->push_back(s_[i_]);
        ++i_;
        return {};
    }

    // RFC 5322 §3.2.2 comment, nested at most limits::kMaxCommentDepth deep.
    Result<void> skip_comment() {
        std::size_t open = i_;
        std::size_t depth = 0;
        while (i_ < s_.size()) {
            char c = s_[i_];
            unsigned char u = byte_at(s_, i_);
            if (c == '(') {
                if (++depth > limits::kMaxCommentDepth) {
                    return make_error(Errc::limit, "comments nested deeper than " +
                                                       std::to_string(limits::kMaxCommentDepth) +
                                                       at(i_));
                }
                ++i_;
            } else if (c == ')') {
                ++i_;
                if (--depth == 0) return {};
            } else if (c == '\\') {
                if (auto r = take_quoted_pair(nullptr); !r) return r;
            } else if (c == '\r' || c == '\n') {
                if (auto r = skip_line_break(); !r) return r;
            } else if (u >= 0x80) {
                if (auto r = take_utf8(nullptr); !r) return r;
            } else if (u == 0) {
                return make_error(Errc::syntax, "NUL byte in a comment" + at(i_));
            } else {
                ++i_;  // ctext, WSP or §4.1 obs-ctext (control bytes but NUL, CR, LF)
            }
        }
        return make_error(Errc::syntax, "comment opened" + at(open) + " is not closed");
    }

    // RFC 5322 §3.2.4 quoted-string; the content without quotes, folding CRLFs removed.
    Result<void> read_quoted(std::string& out) {
        std::size_t open = i_;
        ++i_;
        while (i_ < s_.size()) {
            char c = s_[i_];
            unsigned char u = byte_at(s_, i_);
            if (c == '"') {
                ++i_;
                return {};
            }
            if (c == '\\') {
                if (auto r = take_quoted_pair(&out); !r) return r;
            } else if (c == '\r' || c == '\n') {
                if (auto r = skip_line_break(); !r) return r;
            } else if (u >= 0x80) {
                if (auto r = take_utf8(&out); !r) return r;
            } else if (u == 0) {
                return make_error(Errc::syntax, "NUL byte in a quoted string" + at(i_));
            } else {
                out.push_back(c);  // qtext, WSP or §4.1 obs-qtext (control bytes but NUL, CR, LF)
                ++i_;
            }
        }
        return make_error(Errc::syntax, "quoted string opened" + at(open) + " is not closed");
    }

    // RFC 5322 §3.4.1 domain-literal content (dtext, FWS, §4.4 obs-dtext).
    Result<void> read_literal(std::string& out) {
        std::size_t open = i_;
        ++i_;
        while (i_ < s_.size()) {
            char c = s_[i_];
            unsigned char u = byte_at(s_, i_);
            if (c == ']') {
                ++i_;
                return {};
            }
            if (c == '[') return make_error(Errc::syntax, "'[' inside a domain literal" + at(i_));
            if (c == '\\') {
                if (auto r = take_quoted_pair(&out); !r) return r;
            } else if (c == '\r' || c == '\n') {
                if (auto r = skip_line_break(); !r) return r;
            } else if (u >= 0x80) {
                if (auto r = take_utf8(&out); !r) return r;
            } else if (u == 0) {
                return make_error(Errc::syntax, "NUL byte in a domain literal" + at(i_));
            } else {
                out.push_back(c);
                ++i_;
            }
        }
        return make_error(Errc::syntax, "domain literal opened" + at(open) + " is not closed");
    }

    Result<void> read_atom(std::string& out) {
        while (i_ < s_.size()) {
            unsigned char u = byte_at(s_, i_);
            if (u >= 0x80) {
                if (auto r = take_utf8(&out); !r) return r;
            } else if (text::is_atext(s_[i_])) {
                out.push_back(s_[i_]);
                ++i_;
            } else {
                break;
            }
        }
        return {};
    }

    std::string_view s_;
    std::size_t i_ = 0;
    std::vector<Token> tokens_;
};

// RFC 2047 §5 rule (3): "An 'encoded-word' MUST NOT appear in any portion of an 'addr-spec'."
// Any "=?" ... "?=" is refused; that is stricter than the encoded-word grammar and linear.
bool looks_like_encoded_word(std::string_view s) {
    std::size_t open = s.find("=?");
    return open != std::string_view::npos && s.find("?=", open + 2) != std::string_view::npos;
}

std::string describe(const Token& t) {
    switch (t.kind) {
        case Kind::atom:
            return "'" + excerpt(t.text) + "'";
        case Kind::quoted:
            return "quoted string \"" + excerpt(t.text) + "\"";
        case Kind::literal:
            return "domain literal [" + excerpt(t.text) + "]";
        case Kind::special:
            break;
    }
    return std::string("'") + t.special + "'";
}

class Parser {
  public:
    explicit Parser(const std::vector<Token>& tokens) : t_(tokens) {}

    // RFC 6854 §2.1: from = "From:" (mailbox-list / address-list) CRLF; with RFC 5322 §4.4
    // obs-addr-list = *([CFWS] ",") address *("," [address / CFWS]).
    Result<FromField> run() {
        bool any = false;
        while (true) {
            while (at_special(',')) ++p_;
            if (p_ == t_.size()) break;
            if (auto r = parse_address(/*group=*/nullptr); !r) return tl::unexpected(r.error());
            any = true;
            if (p_ == t_.size()) break;
            if (!at_special(',')) return unexpected_after_address();
        }
        if (!any) {
            return make_error(Errc::syntax,
                              "From field has no mailbox and no group (RFC 5322 §3.6.2 requires "
                              "a mailbox-list)");
        }
        return std::move(out_);
    }

  private:
    bool at_special(char c) const {
        return p_ < t_.size() && t_[p_].kind == Kind::special && t_[p_].special == c;
    }
    bool is_word(std::size_t q) const {
        return q < t_.size() && (t_[q].kind == Kind::atom || t_[q].kind == Kind::quoted);
    }
    bool is_dot(std::size_t q) const {
        return q < t_.size() && t_[q].kind == Kind::special && t_[q].special == '.';
    }
    // End of a run of words and dots starting at p_ (a phrase or a local-part, to be decided).
    std::size_t scan_words(std::size_t q) const {
        while (is_word(q) || is_dot(q)) ++q;
        return q;
    }

    tl::unexpected<Error> unexpected_after_address() const {
        if (p_ >= t_.size()) return make_error(Errc::syntax, "unexpected end of the field");
        const Token& t = t_[p_];
        const Mailbox* last = out_.mailboxes.empty() ? nullptr : &out_.mailboxes.back();
        std::string address = "a group";
        if (last != nullptr && last_ != Last::group) {
            address = "address '" + excerpt(last->local_part) + "@" +
                      (last->domain_literal ? std::string("[...]") : last->domain) + "'";
        }
        if (t.kind == Kind::special && t.special == '>') {
            return make_error(Errc::syntax, "unbalanced '>'" + at(t.offset) + " after " + address);
        }
        if (t.kind == Kind::special && t.special == '<' && last_ == Last::addr_spec) {
            return make_error(Errc::syntax,
                              "'<'" + at(t.offset) + " after " + address +
                                  ": an unquoted '@' in a display name is ambiguous (RFC 5322 "
                                  "§3.2.5: a phrase cannot hold '@'; it must be quoted)");
        }
        return make_error(Errc::syntax, "unexpected " + describe(t) + at(t.offset) +
                                            " after an address; expected ',' or the end");
    }

    // RFC 5322 §3.2.5 phrase = 1*word / obs-phrase (word *(word / "." / CFWS)).
    Result<std::string> make_phrase(std::size_t from, std::size_t to) const {
        if (!is_word(from)) {
            return make_error(Errc::syntax, "display name starts with '.'" + at(t_[from].offset));
        }
        std::string out;
        for (std::size_t q = from; q < to; ++q) {
            if (q > from && t_[q].space_before) out.push_back(' ');
            out += t_[q].kind == Kind::special ? std::string(1, '.') : t_[q].text;
        }
        return out;
    }

    // RFC 5322 §3.4.1 local-part = dot-atom / quoted-string / obs-local-part (word *("." word)).
    Result<std::string> make_local_part(std::size_t from, std::size_t to) const {
        if (from == to) {
            return make_error(Errc::syntax, "empty local part before '@'" + at(t_[to].offset));
        }
        std::string out;
        bool want_word = true;
        for (std::size_t q = from; q < to; ++q) {
            if (want_word != is_word(q)) {
                if (want_word) {
                    return make_error(Errc::syntax,
                                      "local part has an empty part (a leading or "
                                      "doubled '.')" +
                                          at(t_[q].offset));
                }
                return make_error(Errc::syntax,
                                  "words before the '@'" + at(t_[to].offset) +
                                      " are not a local part: " + describe(t_[q]) +
                                      at(t_[q].offset) +
                                      " is not joined by '.' (a display name needs <angle "
                                      "brackets>; RFC 5322 §3.4)");
            }
            out += want_word ? t_[q].text : std::string(1, '.');
            want_word = !want_word;
        }
        if (want_word) {
            return make_error(Errc::syntax, "local part ends with '.'" + at(t_[to - 1].offset));
        }
        if (looks_like_encoded_word(out)) {
            return make_error(Errc::syntax, "encoded-word in a local part" + at(t_[from].offset) +
                                                " (RFC 2047 §5: not allowed in an addr-spec)");
        }
        return out;
    }

    struct Domain {
        std::string name;  // A-label, or the literal's content
        bool literal = false;
    };

    // RFC 5322 §3.4.1 domain = dot-atom / domain-literal / obs-domain (atom *("." atom)). One
    // trailing dot (the DNS root) is accepted and dropped: it names the same domain.
    Result<Domain> parse_domain(std::size_t at_offset) {
        if (p_ < t_.size() && t_[p_].kind == Kind::literal) {
            Domain d{t_[p_].text, true};
            ++p_;
            return d;
        }
        if (p_ >= t_.size() || t_[p_].kind != Kind::atom) {
            std::string what = p_ < t_.size() ? describe(t_[p_]) + at(t_[p_].offset) : "the end";
            return make_error(Errc::syntax,
                              "no domain after '@'" + at(at_offset) + ", found " + what);
        }
        std::size_t start = p_;
        std::string raw;
        while (true) {
            raw += t_[p_].text;
            ++p_;
            if (!is_dot(p_)) break;
            if (p_ + 1 < t_.size() && t_[p_ + 1].kind == Kind::atom) {
                raw.push_back('.');
                ++p_;
                continue;
            }
            if (is_dot(p_ + 1)) {
                return make_error(Errc::syntax, "empty label in domain" + at(t_[p_].offset));
            }
            ++p_;  // trailing root dot
            break;
        }
        if (looks_like_encoded_word(raw)) {
            return make_error(Errc::syntax, "encoded-word in a domain" + at(t_[start].offset) +
                                                " (RFC 2047 §5: not allowed in an addr-spec)");
        }
        auto normalised = to_a_label_domain(raw, LabelRule::hostname);
        if (!normalised) {
            return make_error(Errc::invalid_value,
                              "domain '" + excerpt(raw) + "'" + at(t_[start].offset) +
                                  " is not a valid host name: " + normalised.error().message);
        }
        return Domain{std::move(*normalised), false};
    }

    Result<void> add_mailbox(std::string display_name, std::string local_part, Domain domain,
                             const std::string* group) {
        if (out_.mailboxes.size() >= limits::kMaxFromMailboxes) {
            return make_error(Errc::limit, "more than " +
                                               std::to_string(limits::kMaxFromMailboxes) +
                                               " mailboxes in the From field");
        }
        Mailbox m;
        m.display_name = std::move(display_name);
        m.local_part = std::move(local_part);
        m.domain_literal = domain.literal;
        if (!domain.literal) m.domain = std::move(domain.name);
        if (group != nullptr) m.group = *group;
        out_.mailboxes.push_back(std::move(m));
        return {};
    }

    // address = mailbox / group; mailbox = name-addr / addr-spec. The run of words before the
    // first other token decides: ':' group, '<' name-addr, '@' addr-spec.
    Result<void> parse_address(const std::string* group) {
        std::size_t start = p_;
        std::size_t q = scan_words(p_);
        const Token* next = q < t_.size() ? &t_[q] : nullptr;
        char sp = (next != nullptr && next->kind == Kind::special) ? next->special : 0;
        if (sp == ':') {
            if (group != nullptr) {
                return make_error(Errc::syntax, "group inside the group '" + excerpt(*group) + "'" +
                                                    at(next->offset) +
                                                    " (RFC 5322 §3.4: a group holds mailboxes)");
            }
            if (q == start) {
                return make_error(Errc::syntax, "group without a display name" + at(next->offset));
            }
            auto name = make_phrase(start, q);
            if (!name) return tl::unexpected(name.error());
            p_ = q + 1;
            return parse_group(*name);
        }
        if (sp == '<') {
            std::string display;
            if (q > start) {
                auto name = make_phrase(start, q);
                if (!name) return tl::unexpected(name.error());
                display = std::move(*name);
            }
            p_ = q + 1;
            return parse_angle_addr(std::move(display), next->offset, group);
        }
        if (sp == '@') {
            auto local = make_local_part(start, q);
            if (!local) return tl::unexpected(local.error());
            p_ = q + 1;
            auto domain = parse_domain(next->offset);
            if (!domain) return tl::unexpected(domain.error());
            last_ = Last::addr_spec;
            return add_mailbox("", std::move(*local), std::move(*domain), group);
        }
        if (q > start) {
            // CVE-2021-34555: "user1@x.org, user2, user3@x.org" crashed OpenDMARC 1.4.1.
            std::string words;
            for (std::size_t k = start; k < q; ++k) {
                words += t_[k].kind == Kind::special ? std::string(1, '.') : t_[k].text;
            }
            std::string found = next != nullptr ? describe(*next) + at(next->offset) : "the end";
            return make_error(Errc::syntax, "mailbox '" + excerpt(words) + "'" +
                                                at(t_[start].offset) + " has no '@domain' (found " +
                                                found +
                                                "; RFC 5322 §3.4 addr-spec = local-part \"@\" "
                                                "domain)");
        }
        if (next == nullptr) return make_error(Errc::syntax, "unexpected end of the field");
        return make_error(Errc::syntax, "unexpected " + describe(*next) + at(next->offset) +
                                            "; expected a mailbox");
    }

    // RFC 5322 §3.4 angle-addr = [CFWS] "<" addr-spec ">" [CFWS], and §4.4 obs-angle-addr =
    // [CFWS] "<" obs-route addr-spec ">" [CFWS]; the route is checked and ignored.
    Result<void> parse_angle_addr(std::string display, std::size_t open, const std::string* group) {
        if (at_special('@') || at_special(',')) {
            if (auto r = parse_route(); !r) return r;
        }
        if (at_special('>')) {
            return make_error(Errc::syntax, "empty '<>'" + at(open) +
                                                " (RFC 5322 §3.4: angle-addr needs an "
                                                "addr-spec)");
        }
        std::size_t start = p_;
        std::size_t q = scan_words(p_);
        if (q >= t_.size()) {
            return make_error(Errc::syntax, "'<'" + at(open) + " is not closed by '>'");
        }
        if (t_[q].kind != Kind::special || t_[q].special != '@') {
            if (q > start && t_[q].kind == Kind::special && t_[q].special == '>') {
                return make_error(Errc::syntax, "address in '<'" + at(open) + " has no '@domain'");
            }
            return make_error(Errc::syntax, "unexpected " + describe(t_[q]) + at(t_[q].offset) +
                                                " inside '<' opened" + at(open));
        }
        auto local = make_local_part(start, q);
        if (!local) return tl::unexpected(local.error());
        p_ = q + 1;
        auto domain = parse_domain(t_[q].offset);
        if (!domain) return tl::unexpected(domain.error());
        if (!at_special('>')) {
            if (p_ >= t_.size()) {
                return make_error(Errc::syntax, "'<'" + at(open) + " is not closed by '>'");
            }
            return make_error(Errc::syntax, "unexpected " + describe(t_[p_]) + at(t_[p_].offset) +
                                                " inside '<' opened" + at(open) + "; expected '>'");
        }
        ++p_;
        last_ = Last::angle_addr;
        return add_mailbox(std::move(display), std::move(*local), std::move(*domain), group);
    }

    // RFC 5322 §4.4 obs-route = obs-domain-list ":"; obs-domain-list = *(CFWS / ",") "@" domain
    // *("," [CFWS] ["@" domain]).
    Result<void> parse_route() {
        while (at_special(',')) ++p_;
        bool need_domain = true;
        while (true) {
            if (need_domain) {
                if (!at_special('@')) {
                    std::string what =
                        p_ < t_.size() ? describe(t_[p_]) + at(t_[p_].offset) : "the end";
                    return make_error(Errc::syntax,
                                      "bad source route: expected '@', found " + what);
                }
                std::size_t at_offset = t_[p_].offset;
                ++p_;
                if (auto d = parse_domain(at_offset); !d) return tl::unexpected(d.error());
                need_domain = false;
            }
            if (at_special(':')) {
                ++p_;
                return {};
            }
            if (!at_special(',')) {
                std::string what =
                    p_ < t_.size() ? describe(t_[p_]) + at(t_[p_].offset) : "the end";
                return make_error(Errc::syntax, "source route not ended by ':', found " + what);
            }
            ++p_;
            need_domain = at_special('@');
        }
    }

    // RFC 5322 §3.4 group = display-name ":" [group-list] ";" [CFWS]; group-list = mailbox-list
    // / CFWS / obs-group-list; RFC 6854 allows it in From.
    Result<void> parse_group(const std::string& name) {
        ++out_.groups;
        while (true) {
            while (at_special(',')) ++p_;
            if (at_special(';')) {
                ++p_;
                last_ = Last::group;
                return {};
            }
            if (p_ >= t_.size()) {
                return make_error(Errc::syntax,
                                  "group '" + excerpt(name) + "' is not ended by ';'");
            }
            if (auto r = parse_address(&name); !r) return r;
            if (!at_special(',') && !at_special(';')) {
                if (p_ >= t_.size()) {
                    return make_error(Errc::syntax,
                                      "group '" + excerpt(name) + "' is not ended by ';'");
                }
                return unexpected_after_address();
            }
        }
    }

    const std::vector<Token>& t_;
    std::size_t p_ = 0;
    FromField out_;
    enum class Last : std::uint8_t { addr_spec, angle_addr, group };
    Last last_ = Last::group;  // what the last address was, for error messages
};

}  // namespace

Result<FromField> parse_from_field(std::string_view body) {
    if (body.size() > limits::kMaxHeaderFieldBytes) {
        return make_error(Errc::limit, "From field of " + std::to_string(body.size()) +
                                           " bytes is over the limit of " +
                                           std::to_string(limits::kMaxHeaderFieldBytes));
    }
    auto tokens = Lexer(body).run();
    if (!tokens) return tl::unexpected(tokens.error());
    return Parser(*tokens).run();
}

std::vector<std::string> author_domains(const FromField& from) {
    std::vector<std::string> out;
    for (const Mailbox& m : from.mailboxes) {
        if (m.domain_literal) continue;
        bool seen = false;
        for (const std::string& d : out) seen = seen || d == m.domain;
        if (!seen) out.push_back(m.domain);
    }
    return out;
}

bool has_domain_literal(const FromField& from) {
    for (const Mailbox& m : from.mailboxes) {
        if (m.domain_literal) return true;
    }
    return false;
}

bool is_from_field_name(std::string_view name) {
    while (!name.empty() && text::is_wsp(name.back())) name.remove_suffix(1);
    return text::iequals(name, "From");
}

}  // namespace dmarc
