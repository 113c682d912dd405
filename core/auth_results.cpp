// Authentication-Results parsing and formatting (RFC 8601 §2.2 grammar; tolerance rules from
// standards.md §4: skip what is not understood, per resinfo, never the whole field).
#include "core/auth_results.hpp"

#include <string>
#include <utility>

#include "core/domain_name.hpp"
#include "core/limits.hpp"
#include "core/text.hpp"
#include "core/trace_lex.hpp"

namespace dmarc {

const AuthResProperty* AuthResult::find(std::string_view ptype,
                                        std::string_view property) const noexcept {
    for (const auto& p : properties) {
        if (text::iequals(p.ptype, ptype) && text::iequals(p.property, property)) return &p;
    }
    return nullptr;
}

namespace {

using lex::Cursor;

// Letters, digits, '-' and '_': wide enough to pick up ptype-less names such as
// "smtp_is_org_domain" so they can be skipped; keywords proper are checked with is_keyword.
std::string_view read_name(Cursor& cursor) noexcept {
    const std::size_t start = cursor.pos;
    while (!cursor.at_end() && (lex::is_keyword_char(cursor.peek()) || cursor.peek() == '_')) {
        ++cursor.pos;
    }
    return cursor.text.substr(start, cursor.pos - start);
}

bool at_separator(const Cursor& cursor) noexcept {
    return cursor.at_end() || cursor.at(';');
}

Result<unsigned> read_version(Cursor& cursor) {
    const std::size_t start = cursor.pos;
    unsigned value = 0;
    while (!cursor.at_end() && text::is_digit(cursor.peek())) {
        if (cursor.pos - start >= limits::kMaxAuthResVersionDigits) {
            return make_error(Errc::limit, "version longer than kMaxAuthResVersionDigits");
        }
        value = value * 10 + static_cast<unsigned>(cursor.peek() - '0');
        ++cursor.pos;
    }
    if (cursor.pos == start) return make_error(Errc::syntax, "expected a version number");
    return value;
}

// "header.s= header.b=x": after '=' and CFWS, text shaped like "name=" or "ptype.property="
// is the next item, and the value was empty (tolerated, standards.md §4), not "header.b=x".
bool looks_like_next_item(Cursor probe) noexcept {
    if (read_name(probe).empty()) return false;
    if (probe.at('.')) {
        ++probe.pos;
        if (read_name(probe).empty()) return false;
    }
    return probe.at('=');
}

// The value after a property's or reason's '=' ([CFWS] value, §2.2), empty when what follows
// the CFWS is the next item.
Result<std::string> read_item_value(Cursor& cursor, std::vector<std::string>& comments) {
    const std::size_t start = cursor.pos;
    if (auto ok = lex::skip_cfws(cursor, &comments); !ok) return tl::unexpected(ok.error());
    if (cursor.pos != start && looks_like_next_item(cursor)) return std::string();
    return lex::read_value(cursor);
}

std::string trimmed(std::string_view text, std::size_t from, std::size_t to) {
    return std::string(text::trim(text.substr(from, to - from)));
}

Result<void> add_skipped(AuthenticationResults& out, AuthResSkipped item) {
    if (out.skipped.size() >= limits::kMaxAuthResSkipped) {
        return make_error(Errc::limit, "more than kMaxAuthResSkipped unreadable items");
    }
    out.skipped.push_back(std::move(item));
    return {};
}

// One resinfo after its ';' (RFC 8601 §2.2):
//   methodspec [CFWS reasonspec] [CFWS 1*propspec], CFWS anywhere.
// Properties without a ptype go to `skipped` (Outlook "action=none", Fastmail "x-bits=1024");
// anything else unexpected fails the resinfo with Errc::syntax.
Result<void> parse_resinfo(Cursor& cursor, AuthResult& out, std::vector<AuthResSkipped>& skipped) {
    if (auto ok = lex::skip_cfws(cursor, &out.comments); !ok) return ok;
    auto method = read_name(cursor);
    if (!lex::is_keyword(method)) return make_error(Errc::syntax, "method is not a keyword");
    out.method = text::lower(method);
    if (auto ok = lex::skip_cfws(cursor, &out.comments); !ok) return ok;
    if (cursor.at('/')) {
        ++cursor.pos;
        if (auto ok = lex::skip_cfws(cursor, &out.comments); !ok) return ok;
        auto version = read_version(cursor);
        if (!version) return tl::unexpected(version.error());
        out.method_version = *version;
        if (auto ok = lex::skip_cfws(cursor, &out.comments); !ok) return ok;
    }
    if (!cursor.at('=')) return make_error(Errc::syntax, "no '=' after the method");
    ++cursor.pos;
    if (auto ok = lex::skip_cfws(cursor, &out.comments); !ok) return ok;
    auto result = read_name(cursor);
    if (!lex::is_keyword(result)) return make_error(Errc::syntax, "result is not a keyword");
    out.result = text::lower(result);

    while (true) {
        if (auto ok = lex::skip_cfws(cursor, &out.comments); !ok) return ok;
        if (at_separator(cursor)) return {};
        const std::size_t item_start = cursor.pos;
        auto name = read_name(cursor);
        if (name.empty()) return make_error(Errc::syntax, "unexpected character in a resinfo");
        if (auto ok = lex::skip_cfws(cursor, &out.comments); !ok) return ok;
        if (cursor.at('.')) {
            if (!lex::is_keyword(name)) return make_error(Errc::syntax, "ptype is not a keyword");
            ++cursor.pos;
            if (auto ok = lex::skip_cfws(cursor, &out.comments); !ok) return ok;
            auto property = read_name(cursor);
            if (!lex::is_keyword(property)) {
                return make_error(Errc::syntax, "property is not a keyword");
            }
            if (auto ok = lex::skip_cfws(cursor, &out.comments); !ok) return ok;
            if (!cursor.at('=')) return make_error(Errc::syntax, "no '=' after the property");
            ++cursor.pos;
            auto value = read_item_value(cursor, out.comments);
            if (!value) return tl::unexpected(value.error());
            if (out.properties.size() >= limits::kMaxAuthResProperties) {
                return make_error(Errc::limit, "more than kMaxAuthResProperties properties");
            }
            out.properties.push_back({text::lower(name), text::lower(property), std::move(*value)});
        } else if (cursor.at('=')) {
            ++cursor.pos;
            auto value = read_item_value(cursor, out.comments);
            if (!value) return tl::unexpected(value.error());
            if (text::iequals(name, "reason") && !out.reason && out.properties.empty()) {
                out.reason = std::move(*value);
            } else {
                skipped.push_back({trimmed(cursor.text, item_start, cursor.pos),
                                   "property without a ptype (RFC 8601 §2.2 propspec)"});
            }
        } else {
            return make_error(Errc::syntax, "expected '.' or '=' after " + std::string(name));
        }
    }
}

// Text between the authserv-id (and version) and the first ';' is not in RFC 8601 §2.2.
// Legacy producers put a bare word or "from=x" pairs there (Yahoo); those are skipped. Anything
// else makes it unclear where the authserv-id ends, and trust (§5) hinges on the authserv-id,
// so that fails the whole field.
Result<void> skip_legacy_header_text(Cursor& cursor, AuthenticationResults& out) {
    const std::size_t start = cursor.pos;
    auto name = read_name(cursor);
    if (!lex::is_keyword(name)) {
        return make_error(Errc::syntax, "unexpected text after the authserv-id");
    }
    if (auto ok = lex::skip_cfws(cursor, nullptr); !ok) return ok;
    if (!at_separator(cursor)) {
        while (true) {
            if (!cursor.at('=')) {
                return make_error(Errc::syntax, "unexpected text after the authserv-id");
            }
            ++cursor.pos;
            if (auto ok = lex::skip_cfws(cursor, nullptr); !ok) return ok;
            auto value = lex::read_value(cursor);
            if (!value) return tl::unexpected(value.error());
            if (auto ok = lex::skip_cfws(cursor, nullptr); !ok) return ok;
            if (at_separator(cursor)) break;
            name = read_name(cursor);
            if (!lex::is_keyword(name)) {
                return make_error(Errc::syntax, "unexpected text after the authserv-id");
            }
            if (auto ok = lex::skip_cfws(cursor, nullptr); !ok) return ok;
        }
    }
    return add_skipped(out, {trimmed(cursor.text, start, cursor.pos),
                             "text after the authserv-id (RFC 8601 §2.2 allows only a version)"});
}

Result<std::string> read_authserv_id(Cursor& cursor) {
    std::string id;
    if (cursor.at('"')) {
        auto quoted = lex::read_quoted_string(cursor);
        if (!quoted) return quoted;
        id = std::move(*quoted);
    } else {
        const std::size_t start = cursor.pos;
        while (!cursor.at_end() && lex::is_token_char(cursor.peek())) ++cursor.pos;
        // OpenDMARC with AuthservIDWithJobID writes `host/jobid` unquoted. RFC 8601 §2.2 makes
        // the authserv-id an RFC 2045 `value` (token / quoted-string) and RFC 2045 §5.1 lists
        // "/" among the tspecials, so this is not a token; it is accepted here, and only here,
        // as one id `token "/" token` so that such a field can be matched against
        // TrustedAuthservIDs and, carrying our own id, removed as forged (RFC 8601 §5) instead
        // of slipping through as unparseable. A '/' anywhere else stays an error.
        if (cursor.at('/') && cursor.pos > start) {
            const std::size_t slash = cursor.pos++;
            while (!cursor.at_end() && lex::is_token_char(cursor.peek())) ++cursor.pos;
            if (cursor.pos == slash + 1) {
                return make_error(Errc::syntax, "empty job id after the authserv-id's '/'");
            }
        }
        id = std::string(cursor.text.substr(start, cursor.pos - start));
        // Glued to a comment: another parser (the MTA that strips forged fields with our id)
        // might read a different id; refuse rather than guess (see lex::read_value).
        if (cursor.at('(') && !id.empty()) {
            return make_error(Errc::syntax, "authserv-id glued to a comment");
        }
    }
    if (id.empty()) return make_error(Errc::syntax, "no authserv-id");
    if (!cursor.at_end() && !text::is_fws(cursor.peek()) && !cursor.at(';') && !cursor.at('(')) {
        return make_error(Errc::syntax, "unexpected character after the authserv-id");
    }
    return id;
}

// "none" as the only resinfo (§2.2 no-result). Returns true if the rest of the field is exactly
// that (trailing ';' and CFWS tolerated); Errc::syntax if "none" is followed by anything else.
Result<bool> read_no_result(Cursor& cursor) {
    Cursor probe = cursor;
    if (auto ok = lex::skip_cfws(probe, nullptr); !ok) return false;
    auto word = read_name(probe);
    if (!text::iequals(word, "none")) return false;
    if (auto ok = lex::skip_cfws(probe, nullptr); !ok) return false;
    if (probe.at('=') || probe.at('/')) return false;  // a method called "none"
    while (!probe.at_end()) {
        if (probe.at(';')) {
            ++probe.pos;
        } else {
            return make_error(Errc::syntax, "results after \"none\" (RFC 8601 §2.2 no-result)");
        }
        if (auto ok = lex::skip_cfws(probe, nullptr); !ok) return tl::unexpected(ok.error());
    }
    cursor = probe;
    return true;
}

}  // namespace

Result<AuthenticationResults> parse_authentication_results(std::string_view field) {
    if (field.size() > limits::kMaxHeaderFieldBytes) {
        return make_error(Errc::limit, "Authentication-Results longer than kMaxHeaderFieldBytes");
    }
    Cursor cursor{lex::strip_field_name(field, "Authentication-Results")};
    AuthenticationResults out;

    if (auto ok = lex::skip_cfws(cursor, nullptr); !ok) return tl::unexpected(ok.error());
    auto id = read_authserv_id(cursor);
    if (!id) return tl::unexpected(id.error());
    out.authserv_id = std::move(*id);
    if (auto ok = lex::skip_cfws(cursor, nullptr); !ok) return tl::unexpected(ok.error());
    if (!cursor.at_end() && text::is_digit(cursor.peek())) {
        auto version = read_version(cursor);
        if (!version) return tl::unexpected(version.error());
        out.version = *version;
        if (auto ok = lex::skip_cfws(cursor, nullptr); !ok) return tl::unexpected(ok.error());
    }
    if (!at_separator(cursor)) {
        if (auto ok = skip_legacy_header_text(cursor, out); !ok) return tl::unexpected(ok.error());
    }
    if (cursor.at_end()) return out;  // no ';' at all: tolerated, no results
    ++cursor.pos;

    auto none = read_no_result(cursor);
    if (!none) return tl::unexpected(none.error());
    if (*none) {
        out.no_result = true;
        return out;
    }

    while (true) {
        const std::size_t start = cursor.pos;
        // An empty resinfo (";;", a trailing ';') is tolerated and not worth recording.
        Cursor probe = cursor;
        bool empty = false;
        if (auto ok = lex::skip_cfws(probe, nullptr); ok) {
            empty = at_separator(probe);
        } else if (ok.error().code == Errc::limit) {
            return tl::unexpected(ok.error());
        }
        if (empty) {
            cursor = probe;
        } else {
            AuthResult result;
            std::vector<AuthResSkipped> skipped_inside;
            auto ok = parse_resinfo(cursor, result, skipped_inside);
            if (ok) {
                if (out.results.size() >= limits::kMaxAuthResResults) {
                    return make_error(Errc::limit, "more than kMaxAuthResResults results");
                }
                out.results.push_back(std::move(result));
                for (auto& item : skipped_inside) {
                    if (auto added = add_skipped(out, std::move(item)); !added) {
                        return tl::unexpected(added.error());
                    }
                }
            } else if (ok.error().code == Errc::limit) {
                return tl::unexpected(ok.error());
            } else {
                if (auto skip = lex::skip_to_semicolon(cursor); !skip) {
                    return tl::unexpected(skip.error());
                }
                if (auto added = add_skipped(
                        out, {trimmed(cursor.text, start, cursor.pos), ok.error().message});
                    !added) {
                    return tl::unexpected(added.error());
                }
            }
        }
        if (cursor.at_end()) break;
        ++cursor.pos;  // the ';'
    }
    return out;
}

Result<std::string> dkim_signing_domain(const AuthResult& result) {
    auto checked = [](std::string_view name, const char* what) -> Result<std::string> {
        auto domain = to_a_label_domain(name);
        if (!domain) {
            return make_error(Errc::invalid_value,
                              std::string(what) + " is not a host name: " + domain.error().message);
        }
        return domain;
    };
    if (const auto* d = result.find("header", "d")) return checked(d->value, "header.d");
    if (const auto* i = result.find("header", "i")) {
        auto at = i->value.rfind('@');
        if (at == std::string::npos) {
            return make_error(Errc::invalid_value, "header.i without '@': " + i->value);
        }
        return checked(std::string_view(i->value).substr(at + 1), "header.i domain");
    }
    return make_error(Errc::not_found, "no header.d or header.i");
}

std::string dkim_identity(std::string_view header_i, std::string_view dkim_d) {
    const auto at = header_i.rfind('@');
    if (at == std::string_view::npos || at > 64 || header_i.size() > 256) return {};
    const std::string_view local = header_i.substr(0, at);
    for (char c : local) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u >= 0x7f) return {};
    }
    auto domain = to_a_label_domain(header_i.substr(at + 1));
    if (!domain || !is_same_or_subdomain(*domain, dkim_d)) return {};
    return std::string(local) + "@" + *domain;
}

namespace {

// local-part "@" domain-name with a dot-atom local part, or "@" domain-name: RFC 8601 §2.2
// pvalue allows these without quotes, and consumers expect smtp.mailfrom=user@example.com.
bool is_bare_address(std::string_view value) noexcept {
    auto at = value.find('@');
    if (at == std::string_view::npos || value.find('@', at + 1) != std::string_view::npos) {
        return false;
    }
    auto local = value.substr(0, at);
    auto domain = value.substr(at + 1);
    if (domain.empty() || domain.front() == '.' || domain.back() == '.') return false;
    for (char c : domain) {
        if (!lex::is_keyword_char(c) && c != '.') return false;
    }
    if (local.empty()) return true;
    if (local.front() == '.' || local.back() == '.' || local.find("..") != std::string_view::npos) {
        return false;
    }
    constexpr std::string_view atext_specials = "!#$%&'*+-/=?^_`{|}~.";
    for (char c : local) {
        if (!text::is_alpha(c) && !text::is_digit(c) &&
            atext_specials.find(c) == std::string_view::npos) {
            return false;
        }
    }
    return true;
}

// Our field is written for every message: lower-case straight into it, no temporary string.
void append_lower(std::string& out, std::string_view text) {
    const std::size_t start = out.size();
    out.append(text);
    for (std::size_t i = start; i < out.size(); ++i) out[i] = text::to_lower(out[i]);
}

bool append_value(std::string& out, std::string_view value, bool address_ok) {
    if (lex::is_token(value) || (address_ok && is_bare_address(value))) {
        out.append(value);
        return true;
    }
    return lex::append_quoted(out, value);
}

}  // namespace

Result<std::string> format_authentication_results(std::string_view authserv_id,
                                                  std::span<const AuthResult> results) {
    if (authserv_id.empty()) return make_error(Errc::invalid_value, "empty authserv-id");
    std::string out;
    out.reserve(256);
    if (!append_value(out, authserv_id, false)) {
        return make_error(Errc::invalid_value, "control character in the authserv-id");
    }
    if (results.empty()) {
        out.append("; none");
        return out;
    }
    for (const auto& r : results) {
        if (!lex::is_keyword(r.method) || !lex::is_keyword(r.result)) {
            return make_error(Errc::invalid_value, "method or result is not a keyword");
        }
        out.append("; ");
        append_lower(out, r.method);
        if (r.method_version) {
            out.push_back('/');
            out.append(std::to_string(*r.method_version));
        }
        out.push_back('=');
        append_lower(out, r.result);
        for (const auto& comment : r.comments) {
            out.push_back(' ');
            if (!lex::append_comment(out, comment)) {
                return make_error(Errc::invalid_value, "control character in a comment");
            }
        }
        if (r.reason) {
            out.append(" reason=");
            if (!append_value(out, *r.reason, false)) {
                return make_error(Errc::invalid_value, "control character in a reason");
            }
        }
        for (const auto& p : r.properties) {
            if (!lex::is_keyword(p.ptype) || !lex::is_keyword(p.property)) {
                return make_error(Errc::invalid_value, "ptype or property is not a keyword");
            }
            out.push_back(' ');
            append_lower(out, p.ptype);
            out.push_back('.');
            append_lower(out, p.property);
            out.push_back('=');
            if (!append_value(out, p.value, true)) {
                return make_error(Errc::invalid_value,
                                  "control character in " + p.ptype + "." + p.property);
            }
        }
    }
    return out;
}

}  // namespace dmarc
