// SPF record syntax: the version check and record selection rule (RFC 7208 §4.5), the term
// grammar of §4.6.1 and §5-§6 (mechanisms with qualifiers, dual CIDR, redirect= / exp= and
// unknown modifiers), and the macro language of §7 (macro-string syntax and expansion, with
// transformers, delimiters, URL escaping and the §7.3 domain-name truncation to 253 bytes).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/ip.hpp"
#include "core/result.hpp"

namespace dmarc {

enum class SpfQualifier : std::uint8_t { pass, fail, softfail, neutral };

enum class SpfMechanismKind : std::uint8_t { all, include, a, mx, ptr, ip4, ip6, exists };

std::string_view to_string(SpfMechanismKind kind) noexcept;

struct SpfMechanism {
    SpfQualifier qualifier = SpfQualifier::pass;
    SpfMechanismKind kind = SpfMechanismKind::all;
    // include / exists: required; a / mx / ptr: optional (empty means <domain>).
    std::string domain_spec;
    // ip4 / ip6 network; a / mx use the two prefix lengths of the dual CIDR (§5.6).
    IpNetwork network;
    unsigned cidr4 = 32;
    unsigned cidr6 = 128;
    std::string text;  // the term as written, for reporting which mechanism matched
};

struct SpfRecord {
    std::vector<SpfMechanism> mechanisms;  // in order: the first match wins (§4.6.2)
    std::optional<std::string> redirect;   // domain-spec (§6.1)
    std::optional<std::string> exp;        // domain-spec (§6.2)
};

// True when txt begins with the version section "v=spf1" terminated by SP or the end of the
// record (§4.5: "v=spf10" is not SPF). The ABNF literal is case-insensitive (RFC 5234 §2.3).
bool is_spf_record(std::string_view txt) noexcept;

// Parses a whole record (including the "v=spf1" version). Any syntax error anywhere is an
// error (§4.6: "If there are any syntax errors anywhere in the record, check_host() returns
// immediately with the result permerror"), as are duplicate redirect= or exp= (§6).
Result<SpfRecord> parse_spf_record(std::string_view record);

// Where a macro-string is used: domain-spec (letters s l o d i p h v) or explanation text
// (also c r t; §7.3 "The following macro letters are allowed only in exp text").
enum class SpfMacroMode : std::uint8_t { domain, explanation };

// Checks macro-string syntax (§7.1) without expanding.
Result<void> check_spf_macro_string(std::string_view macro_string, SpfMacroMode mode);

// Checks domain-spec syntax (§7.1: macro-string domain-end, domain-end = "." toplabel ["."] or
// a macro-expand).
Result<void> check_spf_domain_spec(std::string_view domain_spec);

// The values the macro letters expand to (§7.3).
struct SpfMacroValues {
    std::string_view sender;         // s: local-part@domain
    std::string_view local_part;     // l
    std::string_view sender_domain;  // o
    std::string_view domain;         // d: the current <domain>
    const IpAddress* ip = nullptr;   // i, c, v
    std::string_view helo;           // h
    std::string_view receiver;       // r (explanation only)
    std::uint64_t now_epoch = 0;     // t (explanation only)
    // p: computed only when a record actually uses it (it costs DNS lookups, §7.3).
    std::function<std::string()> validated_name;
};

// Expands a macro-string. In domain mode the result has its trailing dot removed and is
// truncated from the left, label by label, to 253 bytes (§7.3 last paragraph). An expansion
// over limits::kSpfMaxMacroOutputBytes is an Errc::limit error.
Result<std::string> expand_spf_macros(std::string_view macro_string, const SpfMacroValues& values,
                                      SpfMacroMode mode);

}  // namespace dmarc
