// The RFC 5322 From field -> author mailboxes and domains (DMARC's RFC5322.From identity, RFC 7489
// §3.1 and §6.6.1, RFC 9989 §5.3.1). Implements RFC 5322 §3.2.2-3.4 and §3.6.2 with the obsolete
// syntax of §4 (obs-from, obs-mbox-list, obs-angle-addr, obs-local-part, obs-phrase), RFC 6854
// groups in From, RFC 6532 UTF-8 and RFC 2047 §5 (encoded-words only in display names).
// Strict on purpose: input that is not exactly well-formed is an error, never a guess.
#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace dmarc {

struct Mailbox {
    // The phrase as written: words joined by one space where the input had CFWS between them,
    // quoted strings unquoted, comments dropped. RFC 2047 encoded-words are NOT decoded.
    std::string display_name;
    // Quoted strings unquoted (quoted-pairs resolved), words joined by '.'; so "a.b" and a.b
    // give the same text, as RFC 5321 §4.1.2 treats them as the same mailbox.
    std::string local_part;
    // The RFC5322.From domain: lower-case A-label, no trailing dot. Empty for a domain literal.
    std::string domain;
    // "user@[192.0.2.1]": an address literal names no DNS domain, so it has no DMARC domain.
    bool domain_literal = false;
    // Display name of the RFC 6854 group holding this mailbox; empty outside a group.
    std::string group;
};

struct FromField {
    std::vector<Mailbox> mailboxes;  // in order of appearance, group members included
    std::size_t groups = 0;          // RFC 6854 groups ("Undisclosed:;" counts, with no mailbox)
};

// Parses a From field body: the text after "From:", possibly folded (CRLF or LF followed by WSP;
// one line ending at the very end is the field terminator and is accepted). Errors:
//   Errc::limit         body over limits::kMaxHeaderFieldBytes, more than
//                       limits::kMaxFromMailboxes mailboxes, comments nested deeper than
//                       limits::kMaxCommentDepth;
//   Errc::syntax        anything that is not RFC 5322 address-list syntax, including an empty
//                       body, a mailbox without "@domain", an unquoted '@' in a display name, an
//                       unbalanced quote, bracket or comment, an encoded-word in an addr-spec;
//   Errc::invalid_value well-formed, but a domain is not a valid host name (RFC 1123) or IDN.
// Runs in time linear in the body size.
Result<FromField> parse_from_field(std::string_view body);

// The distinct author domains, in order of first appearance ("a@example.com, b@EXAMPLE.com" is
// one domain). Domain-literal mailboxes have no domain and are skipped: check has_domain_literal
// before concluding that a field has exactly one author domain.
std::vector<std::string> author_domains(const FromField& from);

// True if some mailbox has a domain literal (and therefore no DMARC domain).
bool has_domain_literal(const FromField& from);

// True for a header field name that names the From field: "From" in any case, followed by
// optional WSP (RFC 5322 §4.5.2 obs-from = "From" *WSP ":", so "From :" is a From field).
bool is_from_field_name(std::string_view name);

}  // namespace dmarc
