// SPF record and macro syntax (see spf_record.hpp): RFC 7208 §4.5, §4.6.1, §5, §6, §7.
#include "core/spf_record.hpp"

#include <algorithm>

#include "core/limits.hpp"
#include "core/text.hpp"

namespace dmarc {
namespace {

constexpr bool is_alnum(char c) noexcept {
    return text::is_alpha(c) || text::is_digit(c);
}

// name = ALPHA *( ALPHA / DIGIT / "-" / "_" / "." )   (§4.6.1, modifier and mechanism names)
bool is_name(std::string_view s) noexcept {
    if (s.empty() || !text::is_alpha(s[0])) return false;
    return std::all_of(s.begin(), s.end(),
                       [](char c) { return is_alnum(c) || c == '-' || c == '_' || c == '.'; });
}

bool is_delimiter(char c) noexcept {
    return c == '.' || c == '-' || c == '+' || c == ',' || c == '/' || c == '_' || c == '=';
}

// One piece of a macro-string: a literal byte run or a macro-expand (§7.1).
struct MacroToken {
    bool is_macro = false;
    std::string literal;  // for a literal, or the fixed text of %% %_ %-
    char letter = 0;      // lower case
    bool url_escape = false;
    std::size_t digits = 0;  // 0: keep every part
    bool reverse = false;
    std::string delimiters;
};

Result<std::vector<MacroToken>> tokenize_macro_string(std::string_view s, SpfMacroMode mode) {
    std::vector<MacroToken> out;
    auto add_literal = [&](std::string_view lit) {
        if (out.empty() || out.back().is_macro) out.emplace_back();
        out.back().literal.append(lit);
    };
    std::size_t i = 0;
    while (i < s.size()) {
        char c = s[i];
        if (c != '%') {
            // macro-literal = %x21-24 / %x26-7E; explanation-string also allows SP (§6.2, §7.1).
            bool ok = (c >= 0x21 && c <= 0x7e) || (c == ' ' && mode == SpfMacroMode::explanation);
            if (!ok) return make_error(Errc::syntax, "invalid character in macro-string");
            add_literal(s.substr(i, 1));
            ++i;
            continue;
        }
        if (i + 1 >= s.size()) return make_error(Errc::syntax, "'%' at the end of macro-string");
        char n = s[i + 1];
        if (n == '%' || n == '_' || n == '-') {
            // Escapes are macro-expands in the grammar: they can end a domain-spec.
            MacroToken t;
            t.is_macro = true;
            t.literal = n == '%' ? "%" : (n == '_' ? " " : "%20");
            out.push_back(std::move(t));
            i += 2;
            continue;
        }
        if (n != '{') return make_error(Errc::syntax, "'%' not followed by '{', '%', '_' or '-'");
        std::size_t j = i + 2;
        if (j >= s.size()) return make_error(Errc::syntax, "unterminated macro");
        MacroToken t;
        t.is_macro = true;
        char letter = s[j];
        t.url_escape = letter >= 'A' && letter <= 'Z';
        t.letter = text::to_lower(letter);
        static constexpr std::string_view kDomainLetters = "slodiphv";
        static constexpr std::string_view kExpLetters = "slodiphvcrt";
        std::string_view allowed = mode == SpfMacroMode::domain ? kDomainLetters : kExpLetters;
        if (allowed.find(t.letter) == std::string_view::npos) {
            return make_error(Errc::syntax,
                              std::string("macro letter not allowed here: ") + letter);
        }
        ++j;
        bool has_digits = false;
        while (j < s.size() && text::is_digit(s[j])) {
            has_digits = true;
            t.digits =
                std::min(t.digits * 10 + std::size_t(s[j] - '0'), limits::kSpfMaxMacroOutputBytes);
            ++j;
        }
        // "DIGIT ... its value MUST be nonzero" would make %{d0} meaningless: reject it.
        if (has_digits && t.digits == 0) return make_error(Errc::syntax, "macro digit 0");
        if (j < s.size() && (s[j] == 'r' || s[j] == 'R')) {
            t.reverse = true;
            ++j;
        }
        while (j < s.size() && is_delimiter(s[j])) t.delimiters += s[j++];
        if (j >= s.size() || s[j] != '}') return make_error(Errc::syntax, "malformed macro");
        out.push_back(std::move(t));
        i = j + 1;
    }
    return out;
}

// toplabel = ( *alphanum ALPHA *alphanum ) / ( 1*alphanum "-" *( alphanum / "-" ) alphanum )
bool is_toplabel(std::string_view s) noexcept {
    if (s.empty() || s.front() == '-' || s.back() == '-') return false;
    bool alpha_or_hyphen = false;
    for (char c : s) {
        if (!is_alnum(c) && c != '-') return false;
        if (c == '-' || text::is_alpha(c)) alpha_or_hyphen = true;
    }
    return alpha_or_hyphen;
}

// cidr lengths: "0" / %x31-39 0*1DIGIT (ip4), "0" / %x31-39 0*2DIGIT (ip6); §5.6.
std::optional<unsigned> parse_cidr(std::string_view s, unsigned max) {
    if (s.empty() || s.size() > 3) return std::nullopt;
    if (!std::all_of(s.begin(), s.end(), [](char c) { return text::is_digit(c); })) {
        return std::nullopt;
    }
    if (s.size() > 1 && s[0] == '0') return std::nullopt;
    unsigned v = 0;
    for (char c : s) v = v * 10 + unsigned(c - '0');
    if (v > max) return std::nullopt;
    return v;
}

bool all_digits(std::string_view s) noexcept {
    return !s.empty() && std::all_of(s.begin(), s.end(), [](char c) { return text::is_digit(c); });
}

// Splits a trailing dual-cidr-length ("/24", "//64", "/24//64") off rest (§5.6).
Result<void> split_dual_cidr(std::string_view& rest, SpfMechanism& m) {
    auto slash = rest.rfind('/');
    if (slash == std::string_view::npos || !all_digits(rest.substr(slash + 1))) return {};
    if (slash > 0 && rest[slash - 1] == '/') {
        auto v6 = parse_cidr(rest.substr(slash + 1), 128);
        if (!v6) return make_error(Errc::syntax, "bad ip6-cidr-length");
        m.cidr6 = *v6;
        rest = rest.substr(0, slash - 1);
        slash = rest.rfind('/');
        if (slash == std::string_view::npos || !all_digits(rest.substr(slash + 1))) return {};
        if (slash > 0 && rest[slash - 1] == '/') return make_error(Errc::syntax, "bad dual-cidr");
    }
    auto v4 = parse_cidr(rest.substr(slash + 1), 32);
    if (!v4) return make_error(Errc::syntax, "bad ip4-cidr-length");
    m.cidr4 = *v4;
    rest = rest.substr(0, slash);
    return {};
}

Result<SpfMechanism> parse_mechanism(std::string_view term) {
    SpfMechanism m;
    m.text = std::string(term);
    std::string_view body = term;
    switch (body.empty() ? '\0' : body[0]) {
        case '+':
            m.qualifier = SpfQualifier::pass;
            body.remove_prefix(1);
            break;
        case '-':
            m.qualifier = SpfQualifier::fail;
            body.remove_prefix(1);
            break;
        case '~':
            m.qualifier = SpfQualifier::softfail;
            body.remove_prefix(1);
            break;
        case '?':
            m.qualifier = SpfQualifier::neutral;
            body.remove_prefix(1);
            break;
        default:
            break;
    }
    auto end = body.find_first_of(":/");
    std::string name = text::lower(body.substr(0, end));
    std::string_view rest = end == std::string_view::npos ? std::string_view() : body.substr(end);
    auto need_domain = [&](std::string_view r) -> Result<std::string> {
        if (r.size() < 2 || r[0] != ':') return make_error(Errc::syntax, name + " needs ':domain'");
        auto spec = r.substr(1);
        if (auto ok = check_spf_domain_spec(spec); !ok) return tl::unexpected(ok.error());
        return std::string(spec);
    };
    if (name == "all") {
        if (!rest.empty()) return make_error(Errc::syntax, "all takes no argument");
        m.kind = SpfMechanismKind::all;
    } else if (name == "include" || name == "exists") {
        m.kind = name == "include" ? SpfMechanismKind::include : SpfMechanismKind::exists;
        auto spec = need_domain(rest);
        if (!spec) return tl::unexpected(spec.error());
        m.domain_spec = std::move(*spec);
    } else if (name == "a" || name == "mx") {
        m.kind = name == "a" ? SpfMechanismKind::a : SpfMechanismKind::mx;
        if (auto ok = split_dual_cidr(rest, m); !ok) return tl::unexpected(ok.error());
        if (!rest.empty()) {
            auto spec = need_domain(rest);
            if (!spec) return tl::unexpected(spec.error());
            m.domain_spec = std::move(*spec);
        }
    } else if (name == "ptr") {
        m.kind = SpfMechanismKind::ptr;
        if (!rest.empty()) {
            auto spec = need_domain(rest);
            if (!spec) return tl::unexpected(spec.error());
            m.domain_spec = std::move(*spec);
        }
    } else if (name == "ip4" || name == "ip6") {
        bool v4 = name == "ip4";
        m.kind = v4 ? SpfMechanismKind::ip4 : SpfMechanismKind::ip6;
        if (rest.size() < 2 || rest[0] != ':') return make_error(Errc::syntax, name + " needs ':'");
        rest.remove_prefix(1);
        auto slash = rest.find('/');
        std::string_view addr = rest.substr(0, slash);
        unsigned len = v4 ? 32 : 128;
        if (slash != std::string_view::npos) {
            auto cidr = parse_cidr(rest.substr(slash + 1), len);
            if (!cidr) return make_error(Errc::syntax, "bad " + name + " prefix length");
            len = *cidr;
        }
        // ip4-network is a plain dotted quad, ip6-network the RFC 4291 text form; IpAddress
        // also takes brackets and "IPv6:" (address literals), which are not SPF syntax.
        bool chars_ok = std::all_of(addr.begin(), addr.end(), [v4](char c) {
            return text::is_digit(c) || c == '.' ||
                   (!v4 && (c == ':' || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F')));
        });
        auto ip = chars_ok ? IpAddress::parse(addr) : std::nullopt;
        if (!ip || ip->is_v4() != v4) return make_error(Errc::syntax, "bad " + name + " address");
        m.network = IpNetwork{*ip, len};
    } else {
        return make_error(Errc::syntax, "unknown mechanism: " + std::string(term));
    }
    return m;
}

}  // namespace

std::string_view to_string(SpfMechanismKind kind) noexcept {
    switch (kind) {
        case SpfMechanismKind::all:
            return "all";
        case SpfMechanismKind::include:
            return "include";
        case SpfMechanismKind::a:
            return "a";
        case SpfMechanismKind::mx:
            return "mx";
        case SpfMechanismKind::ptr:
            return "ptr";
        case SpfMechanismKind::ip4:
            return "ip4";
        case SpfMechanismKind::ip6:
            return "ip6";
        case SpfMechanismKind::exists:
            return "exists";
    }
    return "?";
}

bool is_spf_record(std::string_view txt) noexcept {
    return text::istarts_with(txt, "v=spf1") && (txt.size() == 6 || txt[6] == ' ');
}

Result<void> check_spf_macro_string(std::string_view macro_string, SpfMacroMode mode) {
    auto tokens = tokenize_macro_string(macro_string, mode);
    if (!tokens) return tl::unexpected(tokens.error());
    return {};
}

Result<void> check_spf_domain_spec(std::string_view domain_spec) {
    auto tokens = tokenize_macro_string(domain_spec, SpfMacroMode::domain);
    if (!tokens) return tl::unexpected(tokens.error());
    if (tokens->empty()) return make_error(Errc::syntax, "empty domain-spec");
    if (tokens->back().is_macro) return {};
    // domain-end = ( "." toplabel [ "." ] ): the literal tail must hold it.
    std::string_view tail = tokens->back().literal;
    if (!tail.empty() && tail.back() == '.') tail.remove_suffix(1);
    auto dot = tail.rfind('.');
    if (dot == std::string_view::npos) {
        return make_error(Errc::syntax, "domain-spec does not end in '.' toplabel");
    }
    if (!is_toplabel(tail.substr(dot + 1))) {
        return make_error(Errc::syntax, "domain-spec ends in an invalid top label");
    }
    return {};
}

Result<SpfRecord> parse_spf_record(std::string_view record) {
    if (!is_spf_record(record)) return make_error(Errc::syntax, "not a v=spf1 record");
    SpfRecord out;
    std::string_view rest = record.substr(6);
    // terms = *( 1*SP ( directive / modifier ) ): only SP separates terms (§4.6.1).
    while (!rest.empty()) {
        if (rest[0] == ' ') {
            rest.remove_prefix(1);
            continue;
        }
        auto sp = rest.find(' ');
        std::string_view term = rest.substr(0, sp);
        rest = sp == std::string_view::npos ? std::string_view() : rest.substr(sp);
        auto sep = term.find_first_of("=:/");
        bool is_modifier =
            sep != std::string_view::npos && term[sep] == '=' && is_name(term.substr(0, sep));
        if (!is_modifier) {
            auto m = parse_mechanism(term);
            if (!m) return tl::unexpected(m.error());
            out.mechanisms.push_back(std::move(*m));
            continue;
        }
        std::string name = text::lower(term.substr(0, sep));
        std::string_view value = term.substr(sep + 1);
        if (name == "redirect" || name == "exp") {
            auto& slot = name == "redirect" ? out.redirect : out.exp;
            if (slot) return make_error(Errc::syntax, "duplicate " + name + "= modifier");
            if (auto ok = check_spf_domain_spec(value); !ok) {
                return make_error(Errc::syntax, name + "=: " + ok.error().message);
            }
            slot = std::string(value);
        } else if (auto ok = check_spf_macro_string(value, SpfMacroMode::domain); !ok) {
            // Unknown modifiers are ignored (§6), but their value is still a macro-string.
            return make_error(Errc::syntax, "modifier " + name + "=: " + ok.error().message);
        }
    }
    return out;
}

Result<std::string> expand_spf_macros(std::string_view macro_string, const SpfMacroValues& values,
                                      SpfMacroMode mode) {
    auto tokens = tokenize_macro_string(macro_string, mode);
    if (!tokens) return tl::unexpected(tokens.error());
    std::string out;
    for (const auto& t : *tokens) {
        if (!t.is_macro || t.letter == 0) {
            out += t.literal;
        } else {
            std::string value;
            switch (t.letter) {
                case 's':
                    value = values.sender;
                    break;
                case 'l':
                    value = values.local_part;
                    break;
                case 'o':
                    value = values.sender_domain;
                    break;
                case 'd':
                    value = values.domain;
                    break;
                case 'h':
                    value = values.helo;
                    break;
                case 'i':
                    if (values.ip != nullptr) value = values.ip->to_spf_macro();
                    break;
                case 'c':
                    if (values.ip != nullptr) value = values.ip->to_string();
                    break;
                case 'v':
                    value = (values.ip == nullptr || values.ip->is_v4()) ? "in-addr" : "ip6";
                    break;
                case 'p':
                    value = values.validated_name ? values.validated_name() : "unknown";
                    break;
                case 'r':
                    value = values.receiver.empty() ? "unknown" : std::string(values.receiver);
                    break;
                case 't':
                    value = std::to_string(values.now_epoch);
                    break;
                default:
                    return make_error(Errc::internal, "macro letter");
            }
            if (t.digits != 0 || t.reverse || !t.delimiters.empty()) {
                std::string_view delims =
                    t.delimiters.empty() ? std::string_view(".") : std::string_view(t.delimiters);
                std::vector<std::string_view> parts;
                std::string_view v = value;
                while (true) {
                    auto pos = v.find_first_of(delims);
                    parts.push_back(v.substr(0, pos));
                    if (pos == std::string_view::npos) break;
                    v = v.substr(pos + 1);
                }
                if (t.reverse) std::reverse(parts.begin(), parts.end());
                std::size_t keep = t.digits == 0 ? parts.size() : std::min(t.digits, parts.size());
                std::string joined;
                for (std::size_t k = parts.size() - keep; k < parts.size(); ++k) {
                    if (!joined.empty() || k != parts.size() - keep) joined += '.';
                    joined.append(parts[k]);
                }
                value = std::move(joined);
            }
            if (t.url_escape) {
                // §7.3: upper-case macros are URL-escaped (RFC 3986 unreserved kept).
                static constexpr char kHex[] = "0123456789ABCDEF";
                std::string escaped;
                for (char c : value) {
                    if (is_alnum(c) || c == '-' || c == '.' || c == '_' || c == '~') {
                        escaped += c;
                    } else {
                        auto b = static_cast<unsigned char>(c);
                        escaped += '%';
                        escaped += kHex[b >> 4];
                        escaped += kHex[b & 0x0f];
                    }
                }
                value = std::move(escaped);
            }
            out += value;
        }
        if (out.size() > limits::kSpfMaxMacroOutputBytes) {
            return make_error(Errc::limit, "macro expansion over kSpfMaxMacroOutputBytes");
        }
    }
    if (mode == SpfMacroMode::domain) {
        if (!out.empty() && out.back() == '.') out.pop_back();
        // §7.3: "if the expanded domain name exceeds 253 characters ... the left side is
        // truncated to fit, by removing successive domain labels".
        while (out.size() > limits::kSpfMaxMacroExpansion) {
            auto dot = out.find('.');
            if (dot == std::string::npos) {
                out.clear();
                break;
            }
            out.erase(0, dot + 1);
        }
    }
    return out;
}

}  // namespace dmarc
