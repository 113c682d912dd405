// DMARC record lookups and the DNS Tree Walk, RFC 9989 §4.10 and the Organizational Domain
// selection of §4.10.2 (declarations in org_domain.hpp). Records are chosen and parsed by
// record.hpp (select_dmarc_record); this file only decides what each answer means for a walk.
#include <cstddef>
#include <memory>
#include <utility>

#include "core/domain_name.hpp"
#include "core/limits.hpp"
#include "core/org_domain.hpp"

namespace dmarc {
namespace {

// The last `count` labels of name ("a.b.c", 2 -> "b.c").
std::string_view last_labels(std::string_view name, std::size_t count) {
    std::size_t seen = 0;
    for (std::size_t i = name.size(); i > 0; --i) {
        if (name[i - 1] == '.' && ++seen == count) return name.substr(i);
    }
    return name;
}

std::size_t label_count(std::string_view name) {
    return split_labels(name).size();
}

// "A single record remains" (RFC 9989 §4.10 steps 2 and 6): one v=DMARC1 record at the name,
// usable or not. Its tags (psd=) were parsed either way.
bool is_dmarc_record(const DmarcLookup& step) {
    return (step.outcome == LookupOutcome::record ||
            step.outcome == LookupOutcome::invalid_record) &&
           step.record != nullptr;
}

}  // namespace

std::string_view to_string(LookupOutcome outcome) noexcept {
    switch (outcome) {
        case LookupOutcome::no_record:
            return "no record";
        case LookupOutcome::record:
            return "record";
        case LookupOutcome::invalid_record:
            return "invalid record";
        case LookupOutcome::several:
            return "several records";
        case LookupOutcome::over_limit:
            return "too many TXT records";
        case LookupOutcome::temperror:
            return "temperror";
    }
    return "?";
}

std::string_view to_string(WalkStop stop) noexcept {
    switch (stop) {
        case WalkStop::exhausted:
            return "exhausted";
        case WalkStop::psd_no:
            return "psd=n";
        case WalkStop::psd_yes:
            return "psd=y";
        case WalkStop::temperror:
            return "temperror";
    }
    return "?";
}

std::string DmarcLookup::describe() const {
    std::string line = "_dmarc." + domain + ": " + std::string(to_string(outcome));
    if (record) {
        if (record->psd == PsdFlag::yes) line += " (psd=y)";
        if (record->psd == PsdFlag::no) line += " (psd=n)";
    }
    if (outcome == LookupOutcome::no_record)
        line += " (" + std::string(to_string(dns_status)) + ")";
    if (!detail.empty()) line += ": " + detail;
    return line;
}

const DmarcLookup& DmarcRecordFetcher::fetch(const std::string& domain) {
    if (auto it = cache_.find(domain); it != cache_.end()) return it->second;

    DmarcLookup lookup;
    lookup.domain = domain;
    std::string qname = "_dmarc." + domain;
    if (qname.size() > limits::kMaxDomainBytes) {
        // Such a name cannot exist in the DNS, so it holds no record; no query is sent.
        lookup.dns_status = DnsStatus::nxdomain;
        lookup.outcome = LookupOutcome::no_record;
        lookup.detail = "name too long for the DNS";
    } else {
        DnsResponse response = resolver_.lookup(qname, RrType::txt);
        ++queries_;
        lookup.dns_status = response.status;
        switch (response.status) {
            case DnsStatus::temperror:
                lookup.outcome = LookupOutcome::temperror;
                lookup.detail = response.why.empty() ? "DNS temporary failure" : response.why;
                break;
            case DnsStatus::nxdomain:
            case DnsStatus::nodata:
                lookup.outcome = LookupOutcome::no_record;
                break;
            case DnsStatus::answer: {
                if (response.txt.size() > limits::kMaxTxtRecordsPerName) {
                    lookup.outcome = LookupOutcome::over_limit;
                    lookup.detail = std::to_string(response.txt.size()) + " TXT records, limit " +
                                    std::to_string(limits::kMaxTxtRecordsPerName);
                    break;
                }
                RecordSelection selection = select_dmarc_record(response.txt, records_);
                switch (selection.outcome) {
                    case RecordSelection::Outcome::none:
                        lookup.outcome = LookupOutcome::no_record;
                        break;
                    case RecordSelection::Outcome::several:
                        lookup.outcome = LookupOutcome::several;
                        lookup.detail = "more than one v=DMARC1 record: all discarded";
                        break;
                    case RecordSelection::Outcome::one:
                        lookup.record_text = std::move(selection.text);
                        // The record points into the shared parse (aliasing): no copy.
                        const std::shared_ptr<const RecordResult>& parsed = selection.record;
                        if (*parsed) {
                            lookup.outcome = LookupOutcome::record;
                            lookup.record = SharedRecord(parsed, &parsed->value());
                        } else {
                            // Still a DMARC record: its psd= stops a walk and it counts in
                            // the RFC 9989 §4.10.2 selection; as a policy: "no processing".
                            lookup.outcome = LookupOutcome::invalid_record;
                            lookup.detail = parsed->error().reason;
                            if (parsed->error().partial) {
                                lookup.record = SharedRecord(parsed, &*parsed->error().partial);
                            }
                        }
                        break;
                }
                break;
            }
        }
    }
    order_.push_back(domain);
    return cache_.emplace(domain, std::move(lookup)).first->second;
}

DnsStatus DmarcRecordFetcher::existence(const std::string& domain) {
    if (auto it = existence_.find(domain); it != existence_.end()) return it->second;
    DnsStatus status = resolver_.lookup(domain, RrType::a).status;
    ++queries_;
    existence_.emplace(domain, status);
    return status;
}

std::vector<DmarcLookup> DmarcRecordFetcher::history() const {
    std::vector<DmarcLookup> out;
    out.reserve(order_.size());
    for (const auto& name : order_) out.push_back(cache_.at(name));
    return out;
}

std::vector<DmarcLookup> DmarcRecordFetcher::take_history() {
    std::vector<DmarcLookup> out;
    out.reserve(order_.size());
    for (const auto& name : order_) out.push_back(std::move(cache_.at(name)));
    cache_.clear();
    existence_.clear();
    order_.clear();
    return out;
}

std::vector<std::string> TreeWalk::queried_names() const {
    std::vector<std::string> names;
    for (const auto& step : steps) names.push_back("_dmarc." + step.domain);
    return names;
}

std::vector<std::string> tree_walk_targets(std::string_view start) {
    std::vector<std::string> targets{std::string(start)};
    const std::size_t labels = label_count(start);
    std::size_t next = labels >= limits::kTreeWalkShortcutLabels + 1
                           ? limits::kTreeWalkShortcutLabels
                           : labels - 1;
    for (; next >= 1; --next) targets.emplace_back(last_labels(start, next));
    return targets;
}

TreeWalk tree_walk(DmarcRecordFetcher& fetcher, std::string_view start) {
    TreeWalk walk;
    walk.start = std::string(start);
    for (const auto& target : tree_walk_targets(start)) {
        const DmarcLookup& step = fetcher.fetch(target);
        walk.steps.push_back(step);
        if (step.outcome == LookupOutcome::temperror) {
            walk.stop = WalkStop::temperror;
            break;
        }
        if (!is_dmarc_record(step)) continue;
        if (step.record->psd == PsdFlag::yes) {
            walk.stop = WalkStop::psd_yes;
            break;
        }
        if (step.record->psd == PsdFlag::no) {
            walk.stop = WalkStop::psd_no;
            break;
        }
    }
    return walk;
}

OrgDomainAnswer select_organizational_domain(const TreeWalk& walk) {
    if (walk.stop == WalkStop::temperror) return {OrgDomainAnswer::Status::temperror, {}};
    const std::string* fewest_labels = nullptr;
    for (std::size_t i = 0; i < walk.steps.size(); ++i) {
        const DmarcLookup& step = walk.steps[i];
        if (!is_dmarc_record(step)) continue;
        if (step.record->psd == PsdFlag::no) return {OrgDomainAnswer::Status::found, step.domain};
        if (step.record->psd == PsdFlag::yes && i != 0) {
            // "the domain one label below this one in the DNS hierarchy", on the way to start.
            std::string_view below = last_labels(walk.start, label_count(step.domain) + 1);
            return {OrgDomainAnswer::Status::found, std::string(below)};
        }
        fewest_labels = &step.domain;  // steps run from most labels to fewest
    }
    if (fewest_labels) return {OrgDomainAnswer::Status::found, *fewest_labels};
    return {OrgDomainAnswer::Status::found, walk.start};
}

OrgDomainAnswer TreeWalkOrgDomainFinder::find(std::string_view domain) {
    auto name = to_a_label_domain(domain, LabelRule::dns);
    if (!name) return {OrgDomainAnswer::Status::invalid_name, {}};
    if (auto it = answers_.find(*name); it != answers_.end()) return it->second;
    TreeWalk walk = tree_walk(fetcher_, *name);
    OrgDomainAnswer answer = select_organizational_domain(walk);
    walks_.push_back(std::move(walk));
    answers_.emplace(*name, answer);
    return answer;
}

}  // namespace dmarc
