// DMARC policy discovery in both modes and the per-message driver (see discovery.hpp).
#include "core/discovery.hpp"

#include "core/domain_name.hpp"
#include "core/limits.hpp"

namespace dmarc {
namespace {

PolicyDiscovery start(std::string_view author, DiscoveryMethod method, bool& ok) {
    PolicyDiscovery d;
    d.method = method;
    auto name = to_a_label_domain(author, LabelRule::dns);
    ok = name.has_value();
    if (!ok) {
        d.rfc5322_from_domain = std::string(author);
        d.status = DiscoveryStatus::invalid_domain;
        d.detail = "not a domain name: " + name.error().message;
        return d;
    }
    d.rfc5322_from_domain = std::move(*name);
    return d;
}

void use(PolicyDiscovery& d, const DmarcLookup& at, PolicySource source) {
    d.status = DiscoveryStatus::found;
    d.record = at.record;
    d.record_text = at.record_text;
    d.policy_domain = at.domain;
    d.source = source;
}

void invalid(PolicyDiscovery& d, const DmarcLookup& at) {
    d.status = DiscoveryStatus::invalid_record;
    d.record_text = at.record_text;
    d.policy_domain = at.domain;
    d.detail = at.detail;
}

void temperror(PolicyDiscovery& d, const DmarcLookup& at) {
    d.status = DiscoveryStatus::temperror;
    d.detail = "_dmarc." + at.domain + ": " + at.detail;
}

// A lookup that failed temporarily or found a record, usable or not, settles discovery: true,
// with `d` filled (a usable record taken as from `source`, `where` its detail).
bool settled(PolicyDiscovery& d, const DmarcLookup& lookup, PolicySource source,
             std::string where) {
    switch (lookup.outcome) {
        case LookupOutcome::temperror:
            temperror(d, lookup);
            return true;
        case LookupOutcome::record:
            use(d, lookup, source);
            d.detail = std::move(where);
            return true;
        case LookupOutcome::invalid_record:
            invalid(d, lookup);
            return true;
        case LookupOutcome::no_record:
        case LookupOutcome::several:
        case LookupOutcome::over_limit:
            break;
    }
    return false;
}

// The NXDOMAIN test of discovery.hpp, made only when np decides.
void check_existence(PolicyDiscovery& d, DmarcRecordFetcher& fetcher,
                     const DmarcLookup& author_lookup) {
    if (d.status != DiscoveryStatus::found || d.source == PolicySource::author) return;
    const DmarcRecord& r = *d.record;
    if (!r.p_valid || !r.np || *r.np == r.subdomain_policy()) return;
    if (author_lookup.dns_status == DnsStatus::answer ||
        author_lookup.dns_status == DnsStatus::nodata) {
        d.author_exists = true;  // _dmarc.<author> exists, so the author does (RFC 8020)
        return;
    }
    switch (fetcher.existence(d.rfc5322_from_domain)) {
        case DnsStatus::nxdomain:
            d.author_exists = false;
            break;
        case DnsStatus::answer:
        case DnsStatus::nodata:
            d.author_exists = true;
            break;
        case DnsStatus::temperror:
            d.existence_temperror = true;
            d.detail += (d.detail.empty() ? "" : "; ");
            d.detail += "existence of " + d.rfc5322_from_domain + ": DNS temperror";
            break;
    }
}

}  // namespace

PolicyDiscovery discover_policy_treewalk(DmarcRecordFetcher& fetcher, std::string_view author) {
    bool ok = false;
    PolicyDiscovery d = start(author, DiscoveryMethod::treewalk, ok);
    if (!ok) return d;
    const std::string& name = d.rfc5322_from_domain;

    const DmarcLookup& first = fetcher.fetch(name);
    d.path.push_back(first);
    if (settled(d, first, PolicySource::author, "record at the author domain")) return d;
    // No record, several or over the limit: discarded, walk on (RFC 9989 §4.10 step 2).

    TreeWalk walk = tree_walk(fetcher, name);  // its first step is the cached lookup above
    d.path = walk.steps;
    if (walk.stop == WalkStop::temperror) {
        temperror(d, walk.steps.back());
        return d;
    }
    OrgDomainAnswer org = select_organizational_domain(walk);
    d.organizational_domain = org.domain;
    const DmarcLookup* at_org = nullptr;
    const DmarcLookup* psd = nullptr;
    for (const auto& step : walk.steps) {
        if (step.domain == org.domain) at_org = &step;
        if ((step.outcome == LookupOutcome::record ||
             step.outcome == LookupOutcome::invalid_record) &&
            step.record && step.record->psd == PsdFlag::yes && step.domain != name) {
            psd = &step;
        }
    }
    if (at_org && at_org->outcome == LookupOutcome::record) {
        use(d, *at_org,
            at_org->domain == name ? PolicySource::author : PolicySource::organizational);
        d.detail = "record at the organizational domain " + org.domain;
    } else if (at_org && at_org->outcome == LookupOutcome::invalid_record) {
        // The Organizational Domain published a record, unusable: the PSD record is not a
        // substitute (RFC 9989 §4.10.1 Note) and the record says "no DMARC processing".
        invalid(d, *at_org);
    } else if (psd && psd->outcome == LookupOutcome::invalid_record) {
        invalid(d, *psd);  // RFC 9989 §4.10.1: no valid p, no valid rua -> no processing
    } else if (psd) {
        use(d, *psd, PolicySource::public_suffix);
        d.detail = "no record at the organizational domain " + org.domain + ", PSD record at " +
                   psd->domain;
    } else {
        d.status = DiscoveryStatus::no_record;
        d.detail = "no DMARC record found by the tree walk (" + std::to_string(walk.steps.size()) +
                   " queries)";
        return d;
    }
    check_existence(d, fetcher, first);
    return d;
}

PolicyDiscovery discover_policy_psl(DmarcRecordFetcher& fetcher, const PublicSuffixList& psl,
                                    std::string_view author) {
    bool ok = false;
    PolicyDiscovery d = start(author, DiscoveryMethod::psl, ok);
    if (!ok) return d;
    const std::string& name = d.rfc5322_from_domain;
    d.organizational_domain = psl.organizational_domain(name).value_or("");

    const DmarcLookup& first = fetcher.fetch(name);
    d.path.push_back(first);
    if (settled(d, first, PolicySource::author, "record at the author domain")) return d;
    if (first.outcome != LookupOutcome::no_record) {  // several, or over the limit
        d.status = DiscoveryStatus::no_record;
        d.detail = "_dmarc." + name + ": " + first.detail +
                   " (RFC 7489 §6.6.3 step 5: discovery terminates)";
        return d;
    }
    if (d.organizational_domain.empty() || d.organizational_domain == name) {
        d.status = DiscoveryStatus::no_record;
        d.detail = "no record at the author domain, which is its own organizational domain" +
                   std::string(d.organizational_domain.empty() ? " (a public suffix)" : "");
        return d;
    }
    const DmarcLookup& second = fetcher.fetch(d.organizational_domain);
    d.path.push_back(second);
    if (settled(d, second, PolicySource::organizational,
                "record at the organizational domain " + second.domain)) {
        return d;
    }
    d.status = DiscoveryStatus::no_record;
    d.detail = "no usable record at " + name + " or " + second.domain +
               (second.detail.empty() ? "" : " (" + second.detail + ")");
    return d;
}

Evaluation evaluate_message(EvaluationInput input, DnsResolver& resolver,
                            const PublicSuffixList* psl, RecordParseCache* records) {
    DmarcRecordFetcher fetcher(resolver, records);
    const bool psl_mode = input.mode == EvaluationMode::rfc7489;
    if (psl_mode && !psl) {
        Evaluation e;
        e.mode = input.mode;
        e.discovery_method = DiscoveryMethod::psl;
        e.result = DmarcResult::permerror;
        e.trace = "RFC 7489 mode without a public suffix list";
        return e;
    }
    input.discoveries.clear();
    const auto authors = distinct_author_domains(input.rfc5322_from_domains);
    // Discover only what evaluate() will look at: one author, or several when they are to be
    // evaluated one by one and are within the cap.
    const bool discover =
        authors.size() == 1 || (authors.size() <= limits::kMaxAuthorDomains &&
                                input.options.multi_author == MultiAuthorHandling::strictest);
    if (discover) {
        for (const auto& author : authors) {
            input.discoveries.push_back(psl_mode ? discover_policy_psl(fetcher, *psl, author)
                                                 : discover_policy_treewalk(fetcher, author));
        }
    }
    Evaluation e;
    if (psl_mode) {
        PslOrgDomainFinder finder(*psl);
        e = evaluate(input, finder);
    } else {
        TreeWalkOrgDomainFinder finder(fetcher);
        e = evaluate(input, finder);
    }
    e.dns_path = fetcher.take_history();
    return e;
}

}  // namespace dmarc
