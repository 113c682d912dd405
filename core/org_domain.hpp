// The Organizational Domain, two ways: the public suffix list (RFC 7489 §3.2, the
// publicsuffix.org algorithm) and the DNS Tree Walk (RFC 9989 §4.10, §4.10.2). Both feed
// relaxed alignment through OrgDomainFinder; policy discovery (discovery.hpp) uses the walk.
// PSL code: org_domain.cpp; walk code: tree_walk.cpp.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/dns.hpp"
#include "core/record.hpp"
#include "core/result.hpp"
#include "core/types.hpp"

namespace dmarc {

class RecordParseCache;  // core/record_cache.hpp

// ---- Public suffix list ---------------------------------------------------------------------

// An immutable, parsed public suffix list. Every rule of the file is used, ICANN and PRIVATE
// sections alike: RFC 7489 §3.2 names publicsuffix.org without restricting it, OpenDMARC and
// Mail::DMARC load the whole file, the official test_psl.txt expects the whole file, and the
// PRIVATE section is what keeps tenants of shared suffixes apart (github.io, blogspot.com:
// OpenDMARC bug 8.2 #8). Rules written as U-labels are stored as A-labels (libidn2, the same
// conversion the From domain gets), so lookups compare A-labels only.
//
// Const member functions do not mutate: one instance may be shared by any number of threads.
class PublicSuffixList {
  public:
    // Parses the text of a public_suffix_list.dat. A rule that cannot be converted to an
    // A-label domain is skipped and named in warnings(). Errors: over
    // limits::kMaxPublicSuffixListBytes (Errc::limit), or no usable rule (Errc::invalid_value:
    // almost certainly the wrong file, and an empty list would silently make every TLD the
    // only suffix).
    static Result<PublicSuffixList> parse(std::string_view list_text);

    // The public suffix of domain (the prevailing rule, or the implicit "*" rule: the last
    // label). nullopt if domain is not a valid domain name (empty, empty label, ...).
    std::optional<std::string> public_suffix(std::string_view domain) const;

    // The registrable domain: the public suffix plus one label (RFC 7489 §3.2). nullopt when
    // domain is itself a public suffix ("com", "co.uk", "github.io", "example") or invalid.
    // The result is a lower-case A-label name.
    std::optional<std::string> organizational_domain(std::string_view domain) const;

    std::size_t rule_count() const noexcept { return rules_.size(); }
    std::size_t icann_rule_count() const noexcept { return icann_rules_; }
    std::size_t private_rule_count() const noexcept { return private_rules_; }
    const std::vector<std::string>& warnings() const noexcept { return warnings_; }

  private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    enum Flag : std::uint8_t {
        kRule = 1,       // "example.com": the name is a public suffix
        kWildcard = 2,   // "*.ck": every child of the name is a public suffix
        kException = 4,  // "!www.ck": the name is not a public suffix after all
    };

    // Label index (into the name) where the public suffix starts.
    std::size_t suffix_start(std::string_view name, const std::vector<std::size_t>& starts) const;

    std::unordered_map<std::string, std::uint8_t, Hash, std::equal_to<>> rules_;
    std::size_t icann_rules_ = 0;
    std::size_t private_rules_ = 0;
    std::vector<std::string> warnings_;
};

// ---- Organizational Domain lookup, whatever the method --------------------------------------

struct OrgDomainAnswer {
    enum class Status : std::uint8_t {
        found,         // domain holds the Organizational Domain
        none,          // there is none: the name is a public suffix (PSL mode only)
        temperror,     // a DNS query the answer depends on failed (tree walk only)
        invalid_name,  // the input is not a domain name
    };
    Status status = Status::none;
    std::string domain;
};

// Relaxed alignment asks this for the Organizational Domain of the author domain and of each
// authenticated identifier. Implementations may cache; one instance serves one message.
class OrgDomainFinder {
  public:
    virtual ~OrgDomainFinder() = default;
    virtual OrgDomainAnswer find(std::string_view domain) = 0;
    virtual DiscoveryMethod method() const noexcept = 0;
};

// RFC 7489 §3.2 over a public suffix list.
class PslOrgDomainFinder final : public OrgDomainFinder {
  public:
    explicit PslOrgDomainFinder(const PublicSuffixList& list) : list_(list) {}
    OrgDomainAnswer find(std::string_view domain) override;
    DiscoveryMethod method() const noexcept override { return DiscoveryMethod::psl; }

  private:
    const PublicSuffixList& list_;
};

// ---- DMARC record lookups and the DNS Tree Walk (RFC 9989 §4.10) ----------------------------

// What one TXT query at _dmarc.<domain> found (RFC 9989 §4.10 steps 1-2 and 5-6; RFC 7489
// §6.6.3 steps 1-2).
enum class LookupOutcome : std::uint8_t {
    no_record,       // NXDOMAIN, NODATA, or only TXT records that are not v=DMARC1
    record,          // exactly one DMARC record, usable
    invalid_record,  // exactly one DMARC record that cannot be used (no valid p, no valid rua)
    several,         // more than one DMARC record: all of them are discarded
    over_limit,      // more TXT records than limits::kMaxTxtRecordsPerName
    temperror,       // SERVFAIL, timeout...: nothing can be concluded about this name
};
std::string_view to_string(LookupOutcome outcome) noexcept;

struct DmarcLookup {
    std::string domain;  // the name the record would be for (the query is _dmarc.<domain>)
    DnsStatus dns_status = DnsStatus::temperror;
    LookupOutcome outcome = LookupOutcome::temperror;
    // outcome record: the record; invalid_record: the tags as parsed (p_valid false), kept so
    // that its psd= still counts in a walk.
    SharedRecord record;
    std::string record_text;  // record / invalid_record: the TXT as published
    std::string detail;       // invalid / temperror / over_limit: why

    // "_dmarc.example.com: record (psd=y)" — one line for logs, history and the dashboard.
    std::string describe() const;
};

// Queries TXT _dmarc.<domain> through a resolver, at most once per name for one message: the
// policy discovery walk and the alignment walks share their answers. Not thread-safe (one
// message, one thread). Keeps every lookup in query order for the history.
class DmarcRecordFetcher {
  public:
    // records: where parses may come from (record_cache.hpp); null: each record is parsed.
    explicit DmarcRecordFetcher(DnsResolver& resolver, RecordParseCache* records = nullptr)
        : resolver_(resolver), records_(records) {}

    // domain: a normalised (lower-case A-label) name. The reference stays valid as long as
    // the fetcher lives.
    const DmarcLookup& fetch(const std::string& domain);

    // Whether domain exists (RFC 9989 App. A.4, RFC 8020): see discovery.cpp for the use.
    // Issues one A query and judges the RCODE only: NXDOMAIN = does not exist; NOERROR (with
    // or without an A record) = exists. Cached like fetch.
    DnsStatus existence(const std::string& domain);

    std::size_t query_count() const noexcept { return queries_; }
    // Every distinct lookup, in the order it was first made.
    std::vector<DmarcLookup> history() const;
    // The same, moved out: the fetcher is empty afterwards (the end of a message's evaluation,
    // where the copy cost more than any one of its lookups).
    std::vector<DmarcLookup> take_history();

  private:
    DnsResolver& resolver_;
    RecordParseCache* records_;
    std::map<std::string, DmarcLookup> cache_;
    std::map<std::string, DnsStatus> existence_;
    std::vector<std::string> order_;
    std::size_t queries_ = 0;
};

enum class WalkStop : std::uint8_t {
    exhausted,  // every name up to and including the TLD was queried
    psd_no,     // a single record with psd=n
    psd_yes,    // a single record with psd=y
    temperror,  // a query failed; the walk cannot be trusted
};
std::string_view to_string(WalkStop stop) noexcept;

struct TreeWalk {
    std::string start;
    std::vector<DmarcLookup> steps;  // in query order; at most limits::kMaxTreeWalkQueries
    WalkStop stop = WalkStop::exhausted;

    // The names queried, "_dmarc." included, in order.
    std::vector<std::string> queried_names() const;
};

// The names a walk from start would query, in order, before any stop rule (RFC 9989 §4.10
// steps 3-4 and 7): start; then, if start has 8 labels or more, its 7-label suffix, else its
// parent; then one label less each time down to the TLD. Never more than 8 names.
std::vector<std::string> tree_walk_targets(std::string_view start);

// The generic DNS Tree Walk (RFC 9989 §4.10) from start (a normalised name). Stops early on a
// single record with psd=y or psd=n, or on a temperror.
TreeWalk tree_walk(DmarcRecordFetcher& fetcher, std::string_view start);

// RFC 9989 §4.10.2 selection over one walk: longest name to shortest, psd=n -> that name;
// psd=y (not at the start) -> the name one label below it on the way to start; otherwise the
// record at the name with the fewest labels; no record -> start itself. "Record" means a single
// v=DMARC1 record, usable as a policy or not (a PSO's bare "v=DMARC1; psd=y" must still mark
// the PSD); several records at one name count as none.
// Status temperror when the walk stopped on a temperror.
OrgDomainAnswer select_organizational_domain(const TreeWalk& walk);

// RFC 9989 §4.10.2 through the tree walk; caches each walk.
class TreeWalkOrgDomainFinder final : public OrgDomainFinder {
  public:
    explicit TreeWalkOrgDomainFinder(DmarcRecordFetcher& fetcher) : fetcher_(fetcher) {}
    OrgDomainAnswer find(std::string_view domain) override;
    DiscoveryMethod method() const noexcept override { return DiscoveryMethod::treewalk; }
    const std::vector<TreeWalk>& walks() const noexcept { return walks_; }

  private:
    DmarcRecordFetcher& fetcher_;
    std::map<std::string, OrgDomainAnswer> answers_;
    std::vector<TreeWalk> walks_;
};

}  // namespace dmarc
