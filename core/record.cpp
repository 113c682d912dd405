// DMARC policy record parser (see record.hpp): RFC 7489 §6.3-§6.4 and RFC 9989 §4.7 tag syntax,
// RFC 7489 §6.6.3 steps 2-6 / RFC 9989 §4.10.1 record selection and the p=none fallback, and
// the dmarc-uri grammar (RFC 7489 §6.2, RFC 3986 §2-§3, RFC 6068 mailto, RFC 5322 §3.4.1
// addr-spec). A bad tag value never rejects the record: it falls back to the tag's default with
// a warning (RFC 9989 §4.7 "MUST be discarded in favor of default values").
#include "core/record.hpp"

#include <array>
#include <limits>
#include <utility>

#include "core/domain_name.hpp"
#include "core/limits.hpp"
#include "core/record_cache.hpp"
#include "core/text.hpp"

namespace dmarc {
namespace {

// How much of an offending value a warning quotes: warnings end up in logs and on the
// dashboard, and the record itself is attacker-controlled.
constexpr std::size_t kEchoBytes = 64;

std::string echo(std::string_view value) {
    static constexpr char kHex[] = "0123456789abcdef";
    std::string out = "'";
    std::size_t n = 0;
    for (char c : value) {
        if (n++ == kEchoBytes) {
            out += "...";
            break;
        }
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || c == '\\' || c == '\'') {
            out += "\\x";
            out += kHex[u >> 4];
            out += kHex[u & 0xf];
        } else {
            out += c;
        }
    }
    out += "'";
    return out;
}

std::string_view trim_wsp(std::string_view s) noexcept {
    while (!s.empty() && text::is_wsp(s.front())) s.remove_prefix(1);
    while (!s.empty() && text::is_wsp(s.back())) s.remove_suffix(1);
    return s;
}

// One ';'-separated piece of the record. A piece that ends in '\' directly before the ';' is
// the DNS master-file escape "\;" (RFC 1035 §5.1) copied into the TXT data by mistake; the
// publisher meant a separator. Deviation from the letter of the ABNF (dmarc-value includes '\',
// so "v=DMARC1\;" strictly has the version "DMARC1\" and is not a DMARC record), taken because
// such records are published (vector maildmarc-valid-1.4.3) and no DMARC value can end in '\'
// (keywords, digits, RFC 3986 URIs do not contain it): reading "\;" as ";" cannot change the
// meaning of a well-formed tag. A warning records it.
struct Piece {
    std::string_view text;
    bool escaped = false;
};

// Cuts the next piece off the front of `rest`.
Piece next_piece(std::string_view& rest) {
    std::size_t semi = rest.find(';');
    Piece piece;
    if (semi == std::string_view::npos) {
        piece.text = rest;
        rest = {};
        return piece;
    }
    piece.text = rest.substr(0, semi);
    rest.remove_prefix(semi + 1);
    if (!piece.text.empty() && piece.text.back() == '\\') {
        piece.text.remove_suffix(1);
        piece.escaped = true;
    }
    return piece;
}

// RFC 7489 §6.4 dmarc-version = "v" *WSP "=" *WSP %x44 %x4d %x41 %x52 %x43 %x31: the name is an
// ABNF quoted string (case-insensitive), the value is hex-coded (case-sensitive).
bool is_version_tag(std::string_view piece) {
    std::size_t eq = piece.find('=');
    if (eq == std::string_view::npos) return false;
    return text::iequals(trim_wsp(piece.substr(0, eq)), "v") &&
           trim_wsp(piece.substr(eq + 1)) == "DMARC1";
}

bool starts_with_dmarc_version(std::string_view record) {
    std::string_view rest = trim_wsp(record);
    return is_version_tag(next_piece(rest).text);
}

bool all_digits(std::string_view s) noexcept {
    if (s.empty()) return false;
    for (char c : s) {
        if (!text::is_digit(c)) return false;
    }
    return true;
}

// 1*DIGIT that fits in `max`; nullopt on syntax error or overflow.
std::optional<std::uint64_t> parse_decimal(std::string_view s, std::uint64_t max) {
    if (!all_digits(s)) return std::nullopt;
    std::uint64_t value = 0;
    for (char c : s) {
        auto digit = static_cast<std::uint64_t>(c - '0');
        if (value > (max - digit) / 10) return std::nullopt;
        value = value * 10 + digit;
    }
    return value;
}

int hex_value(char c) noexcept {
    if (c >= '0' && c <= '9') return c - '0';
    c = text::to_lower(c);
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    return -1;
}

// RFC 3986 §2: unreserved / reserved / pct-encoded, minus the three characters the DMARC
// grammar uses as separators and which therefore MUST be %-encoded inside a URI (',', '!') or
// cannot occur inside a tag value at all (';').
bool is_uri_char(char c) noexcept {
    if (text::is_alpha(c) || text::is_digit(c)) return true;
    switch (c) {
        case '-':
        case '.':
        case '_':
        case '~':  // unreserved
        case ':':
        case '/':
        case '?':
        case '#':
        case '[':
        case ']':
        case '@':  // gen-delims
        case '$':
        case '&':
        case '\'':
        case '(':
        case ')':
        case '*':
        case '+':
        case '=':
            return true;
        default:
            return false;
    }
}

// %-decodes (RFC 3986 §2.1); nullopt on a broken escape.
std::optional<std::string> percent_decode(std::string_view s) {
    std::string out;
    out.reserve(s.size());
    for (std::size_t i = 0; i < s.size(); ++i) {
        if (s[i] != '%') {
            out += s[i];
            continue;
        }
        if (i + 2 >= s.size()) return std::nullopt;
        int hi = hex_value(s[i + 1]);
        int lo = hex_value(s[i + 2]);
        if (hi < 0 || lo < 0) return std::nullopt;
        out += static_cast<char>(hi * 16 + lo);
        i += 2;
    }
    return out;
}

// RFC 5322 §3.4.1 local-part = dot-atom / quoted-string (no CFWS, no obsolete forms).
bool is_local_part(std::string_view s) noexcept {
    if (s.empty()) return false;
    if (s.front() == '"') {
        if (s.size() < 2 || s.back() != '"') return false;
        std::string_view inner = s.substr(1, s.size() - 2);
        for (std::size_t i = 0; i < inner.size(); ++i) {
            auto u = static_cast<unsigned char>(inner[i]);
            if (inner[i] == '\\') {
                if (++i == inner.size()) return false;
                u = static_cast<unsigned char>(inner[i]);
                if (!(text::is_wsp(inner[i]) || (u >= 0x21 && u <= 0x7e))) return false;
                continue;
            }
            // qtext (%d33 / %d35-91 / %d93-126) or WSP
            if (!(text::is_wsp(inner[i]) || u == 33 || (u >= 35 && u <= 91) ||
                  (u >= 93 && u <= 126))) {
                return false;
            }
        }
        return true;
    }
    if (s.front() == '.' || s.back() == '.') return false;
    char prev = 0;
    for (char c : s) {
        if (c == '.' ? prev == '.' : !text::is_atext(c)) return false;
        prev = c;
    }
    return true;
}

// RFC 6068 mailto: the to-part, %-decoded, must be a single addr-spec (DMARC %-encodes any
// ',' so a list cannot occur); hfields after '?' are allowed and not used.
bool parse_mailto(std::string_view rest, ReportUri& uri) {
    std::string_view to = rest.substr(0, rest.find('?'));
    auto decoded = percent_decode(to);
    if (!decoded) return false;
    std::size_t at = decoded->rfind('@');
    if (at == std::string::npos || at == 0) return false;
    std::string_view local(decoded->data(), at);
    if (!is_local_part(local)) return false;
    std::string_view host(decoded->data() + at + 1, decoded->size() - at - 1);
    if (host.empty() || host.back() == '.') return false;  // "a@b." is not an addr-spec domain
    // A decoded control byte (%00, %0A, ...) never belongs in a host name; refusing it here
    // also keeps a NUL from reaching libidn2 as a C string, which would cut the name short.
    for (char c : host) {
        auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) return false;
    }
    auto domain = to_a_label_domain(host, LabelRule::hostname);
    if (!domain) return false;
    uri.domain = std::move(*domain);
    uri.address = std::string(local) + "@" + uri.domain;
    return true;
}

// RFC 7489 §6.4: "!" 1*DIGIT [ "k" / "m" / "g" / "t" ], units 2^10 ... 2^40, value in uint64.
std::optional<std::uint64_t> parse_size(std::string_view s) {
    unsigned shift = 0;
    if (!s.empty()) {
        switch (text::to_lower(s.back())) {
            case 'k':
                shift = 10;
                break;
            case 'm':
                shift = 20;
                break;
            case 'g':
                shift = 30;
                break;
            case 't':
                shift = 40;
                break;
            default:
                break;
        }
        if (shift != 0) s.remove_suffix(1);
    }
    constexpr auto kMax = std::numeric_limits<std::uint64_t>::max();
    auto number = parse_decimal(s, kMax >> shift);
    if (!number) return std::nullopt;
    return *number << shift;
}

enum class Tag : std::uint8_t { v, p, sp, np, psd, t, pct, adkim, aspf, rua, ruf, fo, rf, ri };
constexpr std::array<std::pair<Tag, std::string_view>, 14> kTags{{
    {Tag::v, "v"},
    {Tag::p, "p"},
    {Tag::sp, "sp"},
    {Tag::np, "np"},
    {Tag::psd, "psd"},
    {Tag::t, "t"},
    {Tag::pct, "pct"},
    {Tag::adkim, "adkim"},
    {Tag::aspf, "aspf"},
    {Tag::rua, "rua"},
    {Tag::ruf, "ruf"},
    {Tag::fo, "fo"},
    {Tag::rf, "rf"},
    {Tag::ri, "ri"},
}};

std::optional<Tag> find_tag(std::string_view name) {
    for (const auto& [tag, spelling] : kTags) {
        if (text::iequals(name, spelling)) return tag;
    }
    return std::nullopt;
}

// RFC 9989 §4.7 dmarc-tag = 1*ALPHA equals 1*dmarc-value.
bool is_tag_name(std::string_view name) noexcept {
    if (name.empty()) return false;
    for (char c : name) {
        if (!text::is_alpha(c)) return false;
    }
    return true;
}

// RFC 7489 §6.4 dmarc-auri: dmarc-uri *(*WSP "," *WSP dmarc-uri).
std::vector<ReportUri> parse_uri_list(std::string_view name, std::string_view value,
                                      std::vector<std::string>& warnings) {
    std::vector<ReportUri> uris;
    std::size_t count = 1;
    for (char c : value) count += c == ',' ? 1 : 0;
    if (count > limits::kMaxReportUris) {
        warnings.push_back(std::string(name) + ": " + std::to_string(count) +
                           " URIs, more than the limit of " +
                           std::to_string(limits::kMaxReportUris) + ": tag ignored");
        return uris;
    }
    std::string_view rest = value;
    while (true) {
        std::size_t comma = rest.find(',');
        std::string_view item = trim_wsp(rest.substr(0, comma));
        if (auto uri = parse_report_uri(item)) {
            if (!uri->is_mailto()) {
                warnings.push_back(std::string(name) + ": scheme " + echo(uri->scheme) +
                                   " is not supported; reports go to mailto: URIs only");
            }
            uris.push_back(std::move(*uri));
        } else {
            warnings.push_back(std::string(name) + ": malformed URI " + echo(item) + " skipped");
        }
        if (comma == std::string_view::npos) break;
        rest.remove_prefix(comma + 1);
    }
    return uris;
}

// RFC 7489 §6.4 dmarc-fo, with RFC 9989 §4.7's rule that "0" and "1" exclude each other.
std::optional<FailureOptions> parse_fo(std::string_view value) {
    FailureOptions fo{false, false, false, false};
    std::string_view rest = value;
    while (true) {
        std::size_t colon = rest.find(':');
        std::string_view item = trim_wsp(rest.substr(0, colon));
        if (item.size() != 1) return std::nullopt;
        switch (text::to_lower(item.front())) {
            case '0':
                fo.all_fail = true;
                break;
            case '1':
                fo.any_fail = true;
                break;
            case 'd':
                fo.dkim = true;
                break;
            case 's':
                fo.spf = true;
                break;
            default:
                return std::nullopt;
        }
        if (colon == std::string_view::npos) break;
        rest.remove_prefix(colon + 1);
    }
    if (fo.all_fail && fo.any_fail) return std::nullopt;
    return fo;
}

// RFC 5321 §4.1.2 Keyword = Ldh-str.
bool is_keyword(std::string_view s) noexcept {
    if (s.empty() || s.back() == '-' || s.front() == '-') return false;
    for (char c : s) {
        if (!(text::is_alpha(c) || text::is_digit(c) || c == '-')) return false;
    }
    return true;
}

struct Parser {
    DmarcRecord record;
    std::array<bool, kTags.size()> seen{};
    bool p_seen = false;
    bool policy_broken = false;

    std::size_t dropped_warnings = 0;

    // Warnings are bounded (limits::kMaxRecordWarnings); the overflow is counted and reported
    // in a last line rather than dropped silently.
    void warn(std::string line) {
        if (record.warnings.size() < limits::kMaxRecordWarnings) {
            record.warnings.push_back(std::move(line));
        } else {
            ++dropped_warnings;
        }
    }

    void invalid_value(std::string_view name, std::string_view value, std::string_view why,
                       std::string_view fallback) {
        warn(std::string(name) + "=" + echo(value) + ": " + std::string(why) + ", using " +
             std::string(fallback));
    }

    void tag(Tag tag, std::string_view name, std::string_view value) {
        switch (tag) {
            case Tag::v:
                break;  // a second v= is reported as a duplicate before we get here
            case Tag::p:
                if (auto policy = parse_policy(value)) {
                    record.p = *policy;
                    p_seen = true;
                } else {
                    policy_broken = true;
                    warn("p=" + echo(value) + ": not none, quarantine or reject");
                }
                break;
            case Tag::sp:
            case Tag::np:
                if (auto policy = parse_policy(value)) {
                    (tag == Tag::sp ? record.sp : record.np) = *policy;
                } else {
                    policy_broken = true;
                    warn(std::string(name) + "=" + echo(value) +
                         ": not none, quarantine or reject");
                }
                break;
            case Tag::psd:
                if (text::iequals(value, "y")) {
                    record.psd = PsdFlag::yes;
                } else if (text::iequals(value, "n")) {
                    record.psd = PsdFlag::no;
                } else if (text::iequals(value, "u")) {
                    record.psd = PsdFlag::unknown;
                } else {
                    invalid_value(name, value, "not y, n or u", "u");
                }
                break;
            case Tag::t:
                if (text::iequals(value, "y")) {
                    record.testing = true;
                } else if (!text::iequals(value, "n")) {
                    invalid_value(name, value, "not y or n", "n");
                }
                break;
            case Tag::pct: {
                // 1*3DIGIT (RFC 7489 §6.4), 0-100 (§6.3).
                auto pct = value.size() <= 3 ? parse_decimal(value, 100) : std::nullopt;
                if (pct) {
                    record.pct = static_cast<std::uint8_t>(*pct);
                } else {
                    invalid_value(name, value, "not an integer 0-100", "100");
                }
                break;
            }
            case Tag::adkim:
            case Tag::aspf:
                if (auto mode = parse_align_mode(value)) {
                    (tag == Tag::adkim ? record.adkim : record.aspf) = *mode;
                } else {
                    invalid_value(name, value, "not r or s", "r");
                }
                break;
            case Tag::rua:
            case Tag::ruf: {
                std::vector<std::string> lines;
                (tag == Tag::rua ? record.rua : record.ruf) = parse_uri_list(name, value, lines);
                for (auto& line : lines) warn(std::move(line));
                break;
            }
            case Tag::fo:
                if (auto fo = parse_fo(value)) {
                    record.fo = *fo;
                } else {
                    invalid_value(name, value, "not a ':' list of 0, 1, d, s (0 and 1 exclusive)",
                                  "0");
                }
                break;
            case Tag::rf:
                parse_rf(name, value);
                break;
            case Tag::ri:
                if (auto ri = parse_decimal(value, std::numeric_limits<std::uint32_t>::max())) {
                    record.ri = static_cast<std::uint32_t>(*ri);
                } else {
                    invalid_value(name, value, "not a 32-bit unsigned integer", "86400");
                }
                break;
        }
    }

    // RFC 7489 §6.3: "afrf" is the only registered format; an unknown one SHOULD be ignored.
    void parse_rf(std::string_view name, std::string_view value) {
        bool afrf = false;
        std::string_view rest = value;
        while (true) {
            std::size_t colon = rest.find(':');
            std::string_view item = trim_wsp(rest.substr(0, colon));
            if (!is_keyword(item)) {
                invalid_value(name, value, "not a ':' list of report formats", "afrf");
                return;
            }
            if (text::iequals(item, "afrf")) {
                afrf = true;
            } else {
                warn(std::string(name) + ": unknown report format " + echo(item) + " ignored");
            }
            if (colon == std::string_view::npos) break;
            rest.remove_prefix(colon + 1);
        }
        if (!afrf) warn(std::string(name) + ": no known report format, using afrf");
        record.rf = "afrf";
    }
};

}  // namespace

std::optional<ReportUri> parse_report_uri(std::string_view text) {
    text = trim_wsp(text);
    ReportUri uri;
    std::size_t bang = text.find('!');
    std::string_view uri_text = text.substr(0, bang);
    if (bang != std::string_view::npos) {
        uri.max_size = parse_size(text.substr(bang + 1));
        if (!uri.max_size) return std::nullopt;
    }
    // RFC 3986 §3.1 scheme = ALPHA *( ALPHA / DIGIT / "+" / "-" / "." ), then ":" and a
    // non-empty remainder made of URI characters.
    std::size_t colon = uri_text.find(':');
    if (colon == std::string_view::npos || colon == 0 || colon + 1 == uri_text.size()) {
        return std::nullopt;
    }
    std::string_view scheme = uri_text.substr(0, colon);
    if (!text::is_alpha(scheme.front())) return std::nullopt;
    for (char c : scheme) {
        if (!(text::is_alpha(c) || text::is_digit(c) || c == '+' || c == '-' || c == '.')) {
            return std::nullopt;
        }
    }
    std::string_view rest = uri_text.substr(colon + 1);
    for (std::size_t i = 0; i < rest.size(); ++i) {
        if (rest[i] == '%') {
            if (i + 2 >= rest.size() || hex_value(rest[i + 1]) < 0 || hex_value(rest[i + 2]) < 0) {
                return std::nullopt;
            }
            i += 2;
        } else if (!is_uri_char(rest[i])) {
            return std::nullopt;
        }
    }
    uri.uri = std::string(uri_text);
    uri.scheme = text::lower(scheme);
    if (uri.is_mailto() && !parse_mailto(rest, uri)) return std::nullopt;
    return uri;
}

RecordResult parse_dmarc_record(std::string_view text) {
    std::string_view rest = trim_wsp(text);
    Piece version = next_piece(rest);
    if (!is_version_tag(version.text)) {
        return tl::unexpected(RecordRejection{RecordRejection::Kind::not_dmarc,
                                              "does not start with v=DMARC1", std::nullopt});
    }
    if (text.size() > limits::kMaxDmarcRecordBytes) {
        return tl::unexpected(RecordRejection{RecordRejection::Kind::too_long,
                                              "record is " + std::to_string(text.size()) +
                                                  " bytes, over the limit of " +
                                                  std::to_string(limits::kMaxDmarcRecordBytes),
                                              std::nullopt});
    }

    Parser parser;
    parser.seen[static_cast<std::size_t>(Tag::v)] = true;
    bool escaped = version.escaped;
    while (!rest.empty()) {
        Piece piece = next_piece(rest);
        escaped = escaped || piece.escaped;
        std::string_view item = trim_wsp(piece.text);
        if (item.empty()) continue;  // ";;" and a trailing ";" (RFC 7489 §6.4 [dmarc-sep])
        std::size_t eq = item.find('=');
        if (eq == std::string_view::npos) {
            parser.warn(echo(item) + ": not a tag=value pair, ignored");
            continue;
        }
        std::string_view name = trim_wsp(item.substr(0, eq));
        std::string_view value = trim_wsp(item.substr(eq + 1));
        if (!is_tag_name(name)) {
            parser.warn(echo(item) + ": malformed tag name, ignored");
            continue;
        }
        auto tag = find_tag(name);
        if (!tag) {
            parser.warn("unknown tag " + echo(name) + " ignored");
            continue;
        }
        auto& seen = parser.seen[static_cast<std::size_t>(*tag)];
        if (seen) {
            parser.warn("duplicate tag " + echo(name) + " ignored, the first one is used");
            continue;
        }
        seen = true;
        parser.tag(*tag, text::lower(name), value);
    }
    if (escaped) parser.warn("zone-file escape \"\\;\" read as \";\"");

    DmarcRecord& record = parser.record;
    if (parser.dropped_warnings != 0) {
        record.warnings.push_back(std::to_string(parser.dropped_warnings) +
                                  " more warnings not shown");
    }
    if (!parser.p_seen || parser.policy_broken) {
        std::string why = parser.p_seen ? "invalid sp or np" : "p missing or invalid";
        bool has_mailto = false;
        for (const auto& uri : record.rua) has_mailto = has_mailto || uri.is_mailto();
        // RFC 9989 §4.10.1 (and RFC 7489 §6.6.3 step 6): act as if p=none was published when
        // rua holds a valid reporting URI, else no DMARC processing.
        record.p = Policy::none;
        record.sp.reset();
        record.np.reset();
        record.p_valid = false;
        if (!has_mailto) {
            return tl::unexpected(RecordRejection{RecordRejection::Kind::invalid,
                                                  why + " and no valid mailto: rua",
                                                  std::move(record)});
        }
        record.warnings.push_back(why + ": acting as p=none because rua is valid");
    }
    return std::move(record);
}

RecordSelection select_dmarc_record(const std::vector<std::string>& txt_records,
                                    RecordParseCache* cache) {
    RecordSelection selection;
    std::size_t count = 0;
    const std::string* chosen = nullptr;
    for (const auto& txt : txt_records) {
        if (!starts_with_dmarc_version(txt)) continue;  // RFC 7489 §6.6.3 steps 2 and 4
        if (++count == 1) chosen = &txt;
    }
    if (count == 1) {
        selection.outcome = RecordSelection::Outcome::one;
        selection.text = *chosen;
        selection.record = cache
                               ? cache->dmarc(*chosen)
                               : std::make_shared<const RecordResult>(parse_dmarc_record(*chosen));
    } else if (count == 0) {
        selection.outcome = RecordSelection::Outcome::none;
        selection.record = std::make_shared<const RecordResult>(tl::unexpected(
            RecordRejection{RecordRejection::Kind::not_dmarc, "no DMARC record", std::nullopt}));
    } else {
        // RFC 7489 §6.6.3 step 5 / RFC 9989 §4.10.1: several records mean no policy here.
        selection.outcome = RecordSelection::Outcome::several;
        selection.record = std::make_shared<const RecordResult>(tl::unexpected(
            RecordRejection{RecordRejection::Kind::invalid,
                            std::to_string(count) + " DMARC records at one name", std::nullopt}));
    }
    return selection;
}

namespace {

std::string size_suffix(std::uint64_t size) {
    static constexpr std::array<std::pair<unsigned, char>, 4> kUnits{
        {{40, 't'}, {30, 'g'}, {20, 'm'}, {10, 'k'}}};
    for (auto [shift, unit] : kUnits) {
        std::uint64_t mask = (std::uint64_t{1} << shift) - 1;
        if (size != 0 && (size & mask) == 0) return "!" + std::to_string(size >> shift) + unit;
    }
    return "!" + std::to_string(size);
}

void append_uris(std::string& out, std::string_view name, const std::vector<ReportUri>& uris) {
    if (uris.empty()) return;
    out += "; ";
    out += name;
    out += '=';
    bool first = true;
    for (const auto& uri : uris) {
        if (!first) out += ',';
        first = false;
        out += uri.uri;
        if (uri.max_size) out += size_suffix(*uri.max_size);
    }
}

std::string_view psd_name(PsdFlag flag) {
    switch (flag) {
        case PsdFlag::yes:
            return "y";
        case PsdFlag::no:
            return "n";
        case PsdFlag::unknown:
            break;
    }
    return "u";
}

}  // namespace

std::string to_string(const FailureOptions& fo) {
    std::string out;
    auto item = [&out](bool on, char c) {
        if (!on) return;
        if (!out.empty()) out += ':';
        out += c;
    };
    item(fo.all_fail, '0');
    item(fo.any_fail, '1');
    item(fo.dkim, 'd');
    item(fo.spf, 's');
    return out.empty() ? "0" : out;
}

std::string to_string(const DmarcRecord& record) {
    std::string out = "v=DMARC1";
    auto add = [&out](std::string_view name, std::string_view value) {
        out += "; ";
        out += name;
        out += '=';
        out += value;
    };
    if (record.p_valid) add("p", to_string(record.p));
    if (record.sp) add("sp", to_string(*record.sp));
    if (record.np) add("np", to_string(*record.np));
    if (record.psd != PsdFlag::unknown) add("psd", psd_name(record.psd));
    if (record.testing) add("t", "y");
    if (record.pct != 100) add("pct", std::to_string(record.pct));
    if (record.adkim != AlignMode::relaxed) add("adkim", to_string(record.adkim));
    if (record.aspf != AlignMode::relaxed) add("aspf", to_string(record.aspf));
    append_uris(out, "rua", record.rua);
    append_uris(out, "ruf", record.ruf);
    if (record.fo != FailureOptions{}) add("fo", to_string(record.fo));
    if (record.rf != "afrf") add("rf", record.rf);
    if (record.ri != 86400) add("ri", std::to_string(record.ri));
    return out;
}

}  // namespace dmarc
