// DMARC evaluation (see policy.hpp): alignment, pass/fail/temperror, the applied policy and its
// overrides, and the strictest-of rule for several author domains.
#include "core/policy.hpp"

#include <algorithm>

#include "core/domain_name.hpp"
#include "core/limits.hpp"

namespace dmarc {
namespace {

std::optional<std::string> normalise(std::string_view name) {
    auto n = to_a_label_domain(name, LabelRule::dns);
    if (!n) return std::nullopt;
    return std::move(*n);
}

Policy one_level_down(Policy policy) {
    return policy == Policy::reject ? Policy::quarantine : Policy::none;
}

Disposition to_disposition(Policy policy) {
    switch (policy) {
        case Policy::none:
            return Disposition::none;
        case Policy::quarantine:
            return Disposition::quarantine;
        case Policy::reject:
            return Disposition::reject;
    }
    return Disposition::none;
}

// Strictness of one author's outcome, for the multi-author rule: a definite fail under an
// enforcing policy first (reject over quarantine), then temperror (the missing answer could
// be stricter than anything else), then a fail under p=none, permerror, none, pass.
int severity(const Evaluation& e) {
    switch (e.result) {
        case DmarcResult::fail:
            if (e.disposition == Disposition::reject) return 6;
            if (e.disposition == Disposition::quarantine) return 5;
            return 3;
        case DmarcResult::temperror:
            return 4;
        case DmarcResult::permerror:
            return 2;
        case DmarcResult::none:
            return 1;
        case DmarcResult::pass:
            return 0;
    }
    return 0;
}

// One author domain, evaluated. Keeps the author's Organizational Domain once looked up.
class AuthorEvaluator {
  public:
    AuthorEvaluator(const EvaluationInput& input, OrgDomainFinder& finder)
        : input_(input), finder_(finder) {}

    Evaluation run(const std::string& author);

  private:
    Alignment align(const std::string& author, std::string_view identifier, AlignMode mode);
    void decide_policy(Evaluation& e, const PolicyDiscovery& d, bool& existence_unknown);

    const EvaluationInput& input_;
    OrgDomainFinder& finder_;
};

Alignment AuthorEvaluator::align(const std::string& author, std::string_view identifier,
                                 AlignMode mode) {
    return check_alignment(author, identifier, mode, finder_);
}

void AuthorEvaluator::decide_policy(Evaluation& e, const PolicyDiscovery& d,
                                    bool& existence_unknown) {
    const DmarcRecord& r = *d.record;
    existence_unknown = false;
    if (d.source == PolicySource::author) {
        e.applied_policy = r.p;
        e.applied_policy_tag = PolicyTag::p;
    } else if (input_.mode == EvaluationMode::rfc7489) {
        // RFC 7489 §6.6.3 step 4 / §6.3 sp: the record came from the Organizational Domain.
        e.applied_policy = r.subdomain_policy();
        e.applied_policy_tag = r.sp ? PolicyTag::sp : PolicyTag::p;
    } else {
        // RFC 9989 §4.10.1: sp if the author exists, np if it does not; p in their absence.
        const Policy existing = r.subdomain_policy();
        const PolicyTag existing_tag = r.sp ? PolicyTag::sp : PolicyTag::p;
        if (r.np && *r.np != existing) {
            if (d.author_exists == std::optional<bool>(false)) {
                e.applied_policy = *r.np;
                e.applied_policy_tag = PolicyTag::np;
            } else if (d.author_exists == std::optional<bool>(true)) {
                e.applied_policy = existing;
                e.applied_policy_tag = existing_tag;
            } else {
                existence_unknown = true;  // np and sp differ and we cannot tell which
                e.applied_policy = existing;
                e.applied_policy_tag = existing_tag;
            }
        } else if (r.np && d.author_exists == std::optional<bool>(false)) {
            e.applied_policy = *r.np;  // same value either way; name the tag that applied
            e.applied_policy_tag = PolicyTag::np;
        } else {
            e.applied_policy = existing;
            e.applied_policy_tag = existing_tag;
        }
    }
    if (!r.p_valid) {
        // RFC 9989 §4.10.1 / RFC 7489 §6.6.3 step 6: no valid p (or an invalid sp/np) but a
        // valid rua: "act as if a record containing p=none was retrieved".
        e.applied_policy = Policy::none;
        e.applied_policy_tag = PolicyTag::p;
        existence_unknown = false;  // nothing left for existence to decide
    }
}

Evaluation AuthorEvaluator::run(const std::string& author) {
    Evaluation e;
    e.mode = input_.mode;
    e.discovery_method = finder_.method();
    e.rfc5322_from_domain = author;
    // The trace is built from pieces only when asked for (EvaluationInput::explain): the
    // milter decides most messages without one, and it cost 5% of a message's work.
    const bool explain = input_.explain;
    if (explain) e.trace.reserve(256);  // five or six pieces: one allocation
    // One line of text for logs and -t: a control byte from the message shows as '?'.
    auto add = [&e](std::string_view piece) {
        for (const char c : piece) {
            const auto u = static_cast<unsigned char>(c);
            e.trace.push_back(u < 0x20 || u == 0x7f ? '?' : c);
        }
    };
    auto say = [&e, &add, explain](const auto&... pieces) {
        if (!explain) return;
        if (!e.trace.empty()) e.trace += "; ";
        (add(std::string_view(pieces)), ...);
    };

    auto normalised = normalise(author);
    if (!normalised) {
        e.result = DmarcResult::permerror;
        say("author domain '", author, "' is not a domain name");
        return e;
    }
    e.rfc5322_from_domain = *normalised;

    const PolicyDiscovery* d = nullptr;
    for (const auto& candidate : input_.discoveries) {
        if (candidate.rfc5322_from_domain == *normalised) d = &candidate;
    }
    if (!d) {
        e.result = DmarcResult::permerror;
        say("internal: no policy discovery for ", *normalised);
        return e;
    }
    e.organizational_domain = d->organizational_domain;
    switch (d->status) {
        case DiscoveryStatus::found:
            break;
        case DiscoveryStatus::no_record:
            e.result = DmarcResult::none;
            say(*normalised, ": no DMARC policy record (", d->detail, ")");
            return e;
        case DiscoveryStatus::invalid_record:
            // RFC 9989 §4.10.1: no valid p, no valid rua -> "applies no DMARC processing".
            e.result = DmarcResult::none;
            e.policy_domain = d->policy_domain;
            say(*normalised, ": record at ", d->policy_domain, " unusable (", d->detail,
                "): no DMARC processing");
            return e;
        case DiscoveryStatus::temperror:
            // RFC 7489 §6.6.3 / RFC 9989 §5.3.6: a DNS error is never "no record".
            e.result = DmarcResult::temperror;
            say(*normalised, ": policy discovery temperror (", d->detail, ")");
            return e;
        case DiscoveryStatus::invalid_domain:
            e.result = DmarcResult::permerror;
            say(*normalised, ": ", d->detail);
            return e;
    }
    if (!d->record) {
        e.result = DmarcResult::permerror;
        say("internal: discovery found no record object");
        return e;
    }
    const DmarcRecord& record = *d->record;
    e.policy_domain = d->policy_domain;
    e.policy_source = d->source;
    e.published = d->record;
    say(*normalised, ": policy at ", d->policy_domain, " (", to_string(d->source), ")");

    // Alignment. Passing identifiers first: one aligned pass settles the result.
    bool uncertain = false;  // a temporary error that could have produced an aligned pass
    for (std::size_t i = 0; i < input_.dkim.size(); ++i) {
        const auto& sig = input_.dkim[i];
        if (sig.result != DkimResult::pass) continue;
        Alignment a = align(*normalised, sig.dkim_d, record.adkim);
        if (a == Alignment::aligned && !e.dkim_aligned) {
            e.dkim_aligned = true;
            e.aligned_dkim_index = i;
            e.aligned_dkim_domain = *normalise(sig.dkim_d);
            e.aligned_dkim_selector = sig.selector;
        }
        if (a == Alignment::temperror) uncertain = true;
    }
    std::string spf_note;
    const SpfAuthResult* spf = input_.spf ? &*input_.spf : nullptr;
    if (spf && spf->scope == SpfScope::helo && !spf->null_reverse_path) {
        // RFC 9989 §4.3 / RFC 7489 §3.1.2: DMARC uses the MAIL FROM identity; HELO only
        // stands in for a null reverse-path (RFC 7208 §2.4).
        spf_note = "spf: HELO result ignored (MAIL FROM not null)";
        spf = nullptr;
    }
    if (spf && spf->result == SpfResult::pass) {
        Alignment a = align(*normalised, spf->domain, record.aspf);
        if (a == Alignment::aligned) {
            e.spf_aligned = true;
            e.aligned_spf_domain = *normalise(spf->domain);
        }
        if (a == Alignment::temperror) uncertain = true;
    }
    if (e.dkim_aligned || e.spf_aligned) {
        e.result = DmarcResult::pass;
    } else {
        // RFC 7489 §6.6.2 / RFC 9989 §5.3.6: nothing passed and a mechanism failed with a
        // temporary error -> no permanent conclusion. Only a temporary error on an
        // identifier that could have aligned counts: an unaligned one could never have
        // produced a pass, and counting it would let anyone turn a fail into temperror by
        // adding a signature whose key lookup times out.
        for (const auto& sig : input_.dkim) {
            if (sig.result != DkimResult::temperror) continue;
            if (align(*normalised, sig.dkim_d, record.adkim) != Alignment::not_aligned) {
                uncertain = true;
            }
        }
        if (spf && spf->result == SpfResult::temperror &&
            align(*normalised, spf->domain, record.aspf) != Alignment::not_aligned) {
            uncertain = true;
        }
        e.result = uncertain ? DmarcResult::temperror : DmarcResult::fail;
    }

    bool existence_unknown = false;
    decide_policy(e, *d, existence_unknown);
    if (e.result == DmarcResult::fail && existence_unknown) {
        e.result = DmarcResult::temperror;
        say("whether ", *normalised, " exists is unknown and sp/np differ");
    }

    say("dkim ", e.dkim_aligned ? "aligned pass" : "no aligned pass", ", spf ",
        e.spf_aligned ? "aligned pass" : "no aligned pass");
    if (!spf_note.empty()) say(spf_note);

    if (e.result == DmarcResult::fail && e.applied_policy) {
        Policy enacted = *e.applied_policy;
        if (input_.mode == EvaluationMode::rfc7489 && enacted != Policy::none &&
            input_.pct_sample % 100 >= record.pct) {
            // RFC 7489 §6.6.4: not selected -> reject becomes quarantine, quarantine none.
            enacted = one_level_down(enacted);
            e.overrides.push_back(OverrideReason::sampled_out);
            say("pct=", std::to_string(record.pct), ": not sampled");
        }
        if (input_.mode == EvaluationMode::rfc9989 && enacted != Policy::none && record.testing) {
            // RFC 9989 §4.7 t=y: apply the policy one level down.
            enacted = one_level_down(enacted);
            e.overrides.push_back(OverrideReason::policy_test_mode);
            say("t=y: one level down");
        }
        e.disposition = to_disposition(enacted);
    }
    if (e.applied_policy) {
        say("dmarc=", to_string(e.result), " ", to_string(*e.applied_policy_tag), "=",
            to_string(*e.applied_policy), " disposition=", to_string(e.disposition));
    } else {
        say("dmarc=", to_string(e.result), " disposition=", to_string(e.disposition));
    }
    return e;
}

}  // namespace

std::string_view to_string(Alignment alignment) noexcept {
    switch (alignment) {
        case Alignment::aligned:
            return "aligned";
        case Alignment::not_aligned:
            return "not aligned";
        case Alignment::temperror:
            return "temperror";
    }
    return "?";
}

std::string_view to_string(PolicySource source) noexcept {
    switch (source) {
        case PolicySource::author:
            return "author domain";
        case PolicySource::organizational:
            return "organizational domain";
        case PolicySource::public_suffix:
            return "public suffix domain";
    }
    return "?";
}

std::string_view to_string(DiscoveryStatus status) noexcept {
    switch (status) {
        case DiscoveryStatus::found:
            return "found";
        case DiscoveryStatus::no_record:
            return "no record";
        case DiscoveryStatus::invalid_record:
            return "invalid record";
        case DiscoveryStatus::temperror:
            return "temperror";
        case DiscoveryStatus::invalid_domain:
            return "invalid domain";
    }
    return "?";
}

std::string_view to_string(PolicyTag tag) noexcept {
    switch (tag) {
        case PolicyTag::p:
            return "p";
        case PolicyTag::sp:
            return "sp";
        case PolicyTag::np:
            return "np";
    }
    return "?";
}

Alignment check_alignment(std::string_view rfc5322_from_domain, std::string_view identifier,
                          AlignMode mode, OrgDomainFinder& finder) {
    auto author = normalise(rfc5322_from_domain);
    auto id = normalise(identifier);
    if (!author || !id) return Alignment::not_aligned;
    if (*author == *id) return Alignment::aligned;
    if (mode == AlignMode::strict) return Alignment::not_aligned;

    OrgDomainAnswer author_org = finder.find(*author);
    if (author_org.status == OrgDomainAnswer::Status::temperror) return Alignment::temperror;
    if (author_org.status != OrgDomainAnswer::Status::found) return Alignment::not_aligned;
    if (!is_same_or_subdomain(*id, author_org.domain)) return Alignment::not_aligned;

    OrgDomainAnswer id_org = finder.find(*id);
    if (id_org.status == OrgDomainAnswer::Status::temperror) return Alignment::temperror;
    if (id_org.status != OrgDomainAnswer::Status::found) return Alignment::not_aligned;
    return id_org.domain == author_org.domain ? Alignment::aligned : Alignment::not_aligned;
}

std::vector<std::string> distinct_author_domains(const std::vector<std::string>& domains) {
    std::vector<std::string> out;
    for (const auto& d : domains) {
        std::string name = normalise(d).value_or(d);
        if (std::find(out.begin(), out.end(), name) == out.end()) out.push_back(std::move(name));
    }
    return out;
}

Evaluation evaluate(const EvaluationInput& input, OrgDomainFinder& finder) {
    const std::vector<std::string> authors = distinct_author_domains(input.rfc5322_from_domains);
    Evaluation top;
    top.mode = input.mode;
    top.discovery_method = finder.method();
    if (authors.empty()) {
        // RFC 9989 §5.3.1: zero author domains -> "DMARC validation is not possible".
        top.result = DmarcResult::none;
        top.trace = "no author domain in From: DMARC validation not possible";
        return top;
    }
    AuthorEvaluator evaluator(input, finder);
    if (authors.size() == 1) return evaluator.run(authors.front());

    std::string list;
    for (const auto& a : authors) list += (list.empty() ? "" : ", ") + a;
    if (authors.size() > limits::kMaxAuthorDomains) {
        top.result = DmarcResult::permerror;
        top.trace = std::to_string(authors.size()) + " author domains (limit " +
                    std::to_string(limits::kMaxAuthorDomains) + "): " + list;
        return top;
    }
    switch (input.options.multi_author) {
        case MultiAuthorHandling::permerror:
            top.result = DmarcResult::permerror;
            top.trace = "several author domains (" + list + "): permerror by configuration";
            return top;
        case MultiAuthorHandling::none:
            top.result = DmarcResult::none;
            top.trace = "several author domains (" + list + "): exempt by configuration";
            return top;
        case MultiAuthorHandling::strictest:
            break;
    }
    // RFC 9989 §5.3.1 / §11.5 and RFC 7489 §6.6.1: evaluate each, apply the strictest. Never
    // let one author's pass stand for another (CVE-2019-16378).
    std::vector<Evaluation> each;
    for (const auto& a : authors) each.push_back(evaluator.run(a));
    std::size_t pick = 0;
    for (std::size_t i = 1; i < each.size(); ++i) {
        if (severity(each[i]) > severity(each[pick])) pick = i;
    }
    top = each[pick];
    top.trace = "several author domains (" + list + "), strictest is " +
                each[pick].rfc5322_from_domain + ": " + each[pick].trace;
    top.per_author = std::move(each);
    return top;
}

}  // namespace dmarc
