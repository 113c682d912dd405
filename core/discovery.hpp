// DMARC policy discovery: RFC 9989 §4.10.1 (DNS Tree Walk, p/sp/np with the NXDOMAIN test of
// App. A.4) and RFC 7489 §6.6.3 (author domain, then the PSL Organizational Domain), plus
// evaluate_message, which runs discovery and evaluation (policy.hpp) for one message.
#pragma once

#include <string_view>

#include "core/dns.hpp"
#include "core/org_domain.hpp"
#include "core/policy.hpp"

namespace dmarc {

// RFC 9989 §4.10.1. Query _dmarc.<author>; a usable record there is the policy (p). Otherwise
// walk the tree from the author (§4.10) and take the record of the author's Organizational
// Domain (§4.10.2), or failing that the PSD record (psd=y) the walk stopped at. Several
// DMARC records at one name are discarded and the walk goes on (§4.10 step 2). A temperror
// on any query the decision depends on makes the discovery temperror.
//
// The existence test: np applies when the author domain does not exist, which RFC 9989 App.
// A.4 defines as NXDOMAIN (RFC 8020: nothing at or below the name), while NODATA means it
// exists. It is only made when it matters (the record came from a parent and has an np that
// differs from what sp/p give) and costs at most one query:
//  - if _dmarc.<author> answered NOERROR (a TXT answer or NODATA), the author exists: a name
//    below it exists (RFC 8020), so no query is needed;
//  - if it answered NXDOMAIN, that says nothing about the author itself, so one query of the
//    author name is made (type A) and only its RCODE is read: NXDOMAIN = does not exist,
//    NOERROR with or without an address = exists (an MX-only or TXT-only name exists; RFC
//    5321's "resolvable" is not the test). A temperror leaves it unknown.
// (Known limit: an author name that is a CNAME to a missing target answers NXDOMAIN by RFC
// 6604 and is then taken as non-existent.)
PolicyDiscovery discover_policy_treewalk(DmarcRecordFetcher& fetcher, std::string_view author);

// RFC 7489 §6.6.3. Query _dmarc.<author>; keep v=DMARC1 records. None left: query the
// Organizational Domain from the PSL (if it differs and exists). Exactly one record at the
// first name that has any is the policy; several there terminate discovery (step 5: the set
// is not empty, so step 3 does not fall back). No np: RFC 7489 has none.
PolicyDiscovery discover_policy_psl(DmarcRecordFetcher& fetcher, const PublicSuffixList& psl,
                                    std::string_view author);

// Discovery for each distinct author domain (at most limits::kMaxAuthorDomains) with the
// method of input.mode, then evaluate() with the matching OrgDomainFinder over the same
// lookups. input.discoveries is ignored and replaced. rfc7489 mode needs psl (else the result
// is permerror). dns_path lists every _dmarc lookup made. records: where record parses may come
// from (record_cache.hpp); null: each record is parsed.
Evaluation evaluate_message(EvaluationInput input, DnsResolver& resolver,
                            const PublicSuffixList* psl, RecordParseCache* records = nullptr);

}  // namespace dmarc
