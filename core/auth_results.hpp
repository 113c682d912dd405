// Authentication-Results (RFC 8601): a tolerant parser for the untrusted trace field (§2.2
// grammar, CFWS anywhere, the non-conforming producers of standards.md §4), helpers that pick
// the DKIM signing domain out of a result (RFC 6376 §3.5, OpenDMARC #21), and the formatter for
// the field we add ourselves (RFC 8601 §2.2, RFC 7489 §11 / RFC 9989 §9.1 for dmarc=).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace dmarc {

// ptype "." property "=" pvalue (RFC 8601 §2.2). ptype and property are lower-cased keywords;
// value is the decoded pvalue (quotes and quoted-pairs removed, folding removed).
struct AuthResProperty {
    std::string ptype;
    std::string property;
    std::string value;

    friend bool operator==(const AuthResProperty&, const AuthResProperty&) = default;
};

// One resinfo (RFC 8601 §2.2): "method[/version]=result [reason=...] [comment] props...".
struct AuthResult {
    std::string method;                       // lower-case keyword: dkim, spf, dmarc, arc, ...
    std::optional<unsigned> method_version;   // "dkim/1"
    std::string result;                       // lower-case keyword: pass, fail, hardfail, ...
    std::optional<std::string> reason;        // decoded reasonspec value (§2.2, §2.7)
    std::vector<AuthResProperty> properties;  // in field order
    // Decoded comment texts of this resinfo in field order (quoted-pairs resolved, nested
    // parentheses kept as text). They carry no semantics (§2.2) but people read them.
    std::vector<std::string> comments;

    // First property with this ptype and property (both compared case-insensitively).
    const AuthResProperty* find(std::string_view ptype, std::string_view property) const noexcept;

    friend bool operator==(const AuthResult&, const AuthResult&) = default;
};

// Something the parser did not understand and skipped instead of failing the field: a whole
// resinfo (Outlook's repeated "outlook.com;", a malformed methodspec), a property without a
// ptype ("action=none", "x-bits=1024"), or legacy text after the authserv-id ("from=x").
struct AuthResSkipped {
    std::string text;  // the skipped text as it appeared, trimmed
    std::string why;   // what was wrong with it
};

struct AuthenticationResults {
    std::string authserv_id;          // decoded value (token or quoted-string), original case
    std::optional<unsigned> version;  // authres-version, absent means 1 (§2.2)
    bool no_result = false;           // the field said "none" (§2.2 no-result)
    std::vector<AuthResult> results;
    std::vector<AuthResSkipped> skipped;
};

// Parses an Authentication-Results field body; a leading "Authentication-Results:" field name
// (any case) is accepted and dropped. Errors (the field is then unusable as a whole):
//   Errc::syntax — no authserv-id, ambiguous text after it, "none" followed by results;
//   Errc::limit  — over kMaxHeaderFieldBytes, kMaxAuthResResults, kMaxAuthResProperties,
//                  kMaxAuthResSkipped, kMaxAuthResVersionDigits or kMaxCommentDepth (anywhere
//                  in the field, skipped parts included).
// A resinfo that does not parse is skipped and recorded in `skipped`, never fatal. Runs in
// time linear in the field length.
Result<AuthenticationResults> parse_authentication_results(std::string_view field);

// The DKIM signing domain (SDID) of a dkim result as a lower-case A-label: header.d, or, when
// header.d is absent, the domain part of header.i ("@d" or "user@d"; RFC 6376 §3.5 requires
// the AUID's domain to be d or a subdomain of it, so under strict alignment it may be a
// subdomain of the real d). Errc::not_found if neither is present; Errc::invalid_value if the
// value is not a host name (CVE-2020-12272, OpenDMARC §8.2 #18: never hand "a(b" to policy).
Result<std::string> dkim_signing_domain(const AuthResult& result);

// A dkim result's header.i (the AUID, RFC 6376 §3.5 "[local-part] @ domain") for reports:
// "local-part@domain" with the domain as a lower-case A-label, when the domain is dkim_d or a
// subdomain of it (§3.5 requires that of a valid signature), the local part is at most 64
// printable non-space US-ASCII bytes and the whole at most 256; "" otherwise.
std::string dkim_identity(std::string_view header_i, std::string_view dkim_d);

// Formats the body of our own Authentication-Results field:
//   "mx.example.net; dmarc=pass (p=reject dis=none) header.from=example.com policy.dmarc=reject"
// "authserv-id; none" when results is empty. Methods, results, ptypes and properties must be
// keywords (written lower-case, as the parser gives them back); values that are not RFC 2045 tokens
// (or local-part@domain, which RFC 8601 §2.2 pvalue allows bare) are written as quoted-strings;
// comments are written after the result with '(', ')' and '\' escaped. Control characters other
// than HTAB anywhere are refused (Errc::invalid_value): this output goes into a header and must not
// be able to inject one. parse_authentication_results(format(id, r)) gives back id and r exactly.
Result<std::string> format_authentication_results(std::string_view authserv_id,
                                                  std::span<const AuthResult> results);

}  // namespace dmarc
