// DMARC evaluation: Identifier Alignment (RFC 7489 §3.1, RFC 9989 §4.4 and §4.10.2), the DMARC
// result (RFC 7489 §6.6.2, RFC 9989 §5.3.4-§5.3.6), the policy that applies (p / sp / np,
// RFC 9989 §4.10.1) and its overrides (pct sampling, RFC 7489 §6.6.4; t=y, RFC 9989 §4.7), for
// one or several author domains (RFC 9989 §5.3.1, §11.5). Pure: the DNS is reached only through
// the OrgDomainFinder handed in; randomness (pct) is a parameter.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/org_domain.hpp"
#include "core/record.hpp"
#include "core/types.hpp"

namespace dmarc {

// ---- Alignment --------------------------------------------------------------------------------

enum class Alignment : std::uint8_t { aligned, not_aligned, temperror };
std::string_view to_string(Alignment alignment) noexcept;

// Whether an authenticated identifier (a DKIM d=, an SPF domain) is aligned with the author
// domain. Names are compared as lower-case A-labels (RFC 4343; RFC 9989 §5.3.1), so case and
// one trailing dot do not matter; a name that is not a domain never aligns.
//  - Identical names are aligned in both modes, even when the name is a public suffix: strict
//    alignment is "an exact match between both FQDNs" (RFC 7489 §3.1.1) and relaxed alignment
//    cannot be stricter than strict. RFC 7489 §3.1.1's "d=com would never allow an
//    in-alignment result" is about a suffix signing for a name below it (d=com, From
//    example.com): that case is never aligned here. (RFC 9989 agrees: the tree walk makes a
//    name with no record its own Organizational Domain.)
//  - strict: nothing else aligns.
//  - relaxed: both names have an Organizational Domain and it is the same one. A name that is
//    a public suffix has none (PSL mode), so it aligns with nothing but itself.
// The identifier's Organizational Domain is only looked up when the identifier is at or below
// the author's: otherwise it cannot be equal (an Organizational Domain is always the name or
// one of its parents), and an attacker's d= or MAIL FROM domain cannot make us query its DNS.
Alignment check_alignment(std::string_view rfc5322_from_domain, std::string_view identifier,
                          AlignMode mode, OrgDomainFinder& finder);

// ---- Inputs -------------------------------------------------------------------------------------

struct DkimAuthResult {
    std::string dkim_d;  // the signature's d= (SDID); never i=
    std::string selector;
    DkimResult result = DkimResult::none;
    std::string human;  // reason text for logs and reports
    // The signature's i= (AUID) from header.i, kept only when its domain is d or a subdomain
    // (RFC 6376 §3.5) and it is one token; "" otherwise. Reports only: never used to align.
    std::string dkim_i{};
};

struct SpfAuthResult {
    // The domain SPF checked: the RFC5321.MailFrom domain, or for a null reverse-path the HELO
    // domain (RFC 7208 §2.4: the identity is then postmaster@HELO).
    std::string domain;
    SpfScope scope = SpfScope::mfrom;
    SpfResult result = SpfResult::none;
    // The envelope sender was <>. Only then may a result with scope helo count for DMARC
    // (CVE-2019-20790: a HELO pass credited to a non-null MAIL FROM).
    bool null_reverse_path = false;
    std::string human;
};

// Where the policy record was found (RFC 9989 §4.10.1: author, Organizational Domain, PSD).
enum class PolicySource : std::uint8_t { author, organizational, public_suffix };
std::string_view to_string(PolicySource source) noexcept;

enum class DiscoveryStatus : std::uint8_t {
    found,           // record holds the policy record
    no_record,       // no policy record: DMARC does not apply (RFC 9989 §4.10.1 MUST NOT)
    invalid_record,  // the record that applies has no valid p and no valid rua: no processing
    temperror,       // a DNS query discovery depends on failed
    invalid_domain,  // the author domain is not a domain name
};
std::string_view to_string(DiscoveryStatus status) noexcept;

// The outcome of policy discovery for one author domain (discovery.hpp fills it).
struct PolicyDiscovery {
    std::string rfc5322_from_domain;  // normalised
    DiscoveryMethod method = DiscoveryMethod::treewalk;
    DiscoveryStatus status = DiscoveryStatus::no_record;
    SharedRecord record;        // status found
    std::string record_text;    // found / invalid_record: the TXT as published
    std::string policy_domain;  // where the record was found
    PolicySource source = PolicySource::author;
    // The author's Organizational Domain when discovery determined it; empty otherwise (the
    // tree walk does not run when the author has its own record).
    std::string organizational_domain;
    // Whether the author domain exists (NXDOMAIN test, RFC 9989 App. A.4). Only looked up when
    // it decides between sp and np; nullopt otherwise or when the query failed.
    std::optional<bool> author_exists;
    bool existence_temperror = false;
    std::vector<DmarcLookup> path;  // the _dmarc lookups discovery made, in order
    std::string detail;             // one line: what was decided and why
};

enum class EvaluationMode : std::uint8_t {
    rfc7489,  // PSL Organizational Domain, p/sp, pct sampling; np, psd and t are ignored
    rfc9989,  // DNS Tree Walk, p/sp/np, t=y test mode; pct is ignored
};

// What to do when the From field holds more than one distinct domain. RFC 9989 §5.3.1:
// DMARC validation "is not possible" but the receiver MAY evaluate each; §11.5: cap them.
enum class MultiAuthorHandling : std::uint8_t {
    strictest,  // evaluate each (up to limits::kMaxAuthorDomains) and apply the strictest
    permerror,  // dmarc=permerror, no policy applied
    none,       // dmarc=none: exempt from DMARC (the RFC 7489 draft-era reading)
};

struct EvaluationOptions {
    MultiAuthorHandling multi_author = MultiAuthorHandling::strictest;
};

struct EvaluationInput {
    std::vector<std::string> rfc5322_from_domains;  // every domain of the From field
    std::vector<DkimAuthResult> dkim;               // every signature checked
    std::optional<SpfAuthResult> spf;
    std::vector<PolicyDiscovery> discoveries;  // one per distinct author domain
    EvaluationMode mode = EvaluationMode::rfc9989;
    // A uniform draw in 0..99 made by the caller; the policy is enacted when it is below pct
    // (RFC 7489 §6.6.4 "(random mod 100) < pct"; a larger value is taken modulo 100). Only
    // rfc7489 mode reads it.
    std::uint8_t pct_sample = 0;
    EvaluationOptions options;
    // Whether Evaluation::trace is written. The milter asks only when MilterDebug or test mode
    // will show it; the trace is the one part of a decision nothing else reads.
    bool explain = true;
};

// ---- Output -------------------------------------------------------------------------------------

enum class PolicyTag : std::uint8_t { p, sp, np };
std::string_view to_string(PolicyTag tag) noexcept;

struct Evaluation {
    DmarcResult result = DmarcResult::none;
    std::string rfc5322_from_domain;
    EvaluationMode mode = EvaluationMode::rfc9989;
    DiscoveryMethod discovery_method = DiscoveryMethod::treewalk;

    // Policy discovery (set when a record was found).
    std::string policy_domain;
    std::optional<PolicySource> policy_source;
    std::string organizational_domain;     // of the author, when it was determined
    SharedRecord published;                // p, sp, np, adkim, aspf, pct, t, psd as published
    std::optional<Policy> applied_policy;  // the requested policy for this author...
    std::optional<PolicyTag> applied_policy_tag;  // ...and the tag it came from

    // Alignment (RFC 7489 App. C policy_evaluated dkim/spf).
    bool dkim_aligned = false;                      // an aligned DKIM pass
    std::optional<std::size_t> aligned_dkim_index;  // into EvaluationInput::dkim
    std::string aligned_dkim_domain;
    std::string aligned_dkim_selector;
    bool spf_aligned = false;  // an aligned SPF pass
    std::string aligned_spf_domain;

    // What DMARC asks to be done: none unless result is fail; for fail, the applied policy
    // after overrides. A pass stays none here: RFC 9990's "pass" disposition is the report
    // writer's choice (it does not exist in RFC 7489 reports).
    Disposition disposition = Disposition::none;
    std::vector<OverrideReason> overrides;  // sampled_out (7489), policy_test_mode (9989)

    std::string trace;  // short, human: what was decided and why (EvaluationInput::explain)

    // The _dmarc lookups made for this message (evaluate_message fills it).
    std::vector<DmarcLookup> dns_path;

    // Multi-author messages evaluated one by one: each author's evaluation; the fields above
    // are then those of the strictest one.
    std::vector<Evaluation> per_author;
};

// The distinct author domains, normalised (lower-case A-labels), in order of appearance.
// Names that are not domains are kept as given so that evaluate() can report them.
std::vector<std::string> distinct_author_domains(const std::vector<std::string>& domains);

// Evaluates a message. Never fails: errors are DMARC results (permerror / temperror) with the
// reason in trace. finder must be the method of input.mode (PSL for rfc7489, tree walk for
// rfc9989); it is used only for relaxed alignment.
Evaluation evaluate(const EvaluationInput& input, OrgDomainFinder& finder);

}  // namespace dmarc
