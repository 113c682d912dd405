// SPF check_host() (see spf.hpp): RFC 7208 §4-§6 evaluation and the §4.6.4 limits.
#include "core/spf.hpp"

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <utility>

#include "core/domain_name.hpp"
#include "core/record_cache.hpp"
#include "core/spf_record.hpp"
#include "core/text.hpp"

namespace dmarc {
namespace {

SpfResult from_qualifier(SpfQualifier q) noexcept {
    switch (q) {
        case SpfQualifier::pass:
            return SpfResult::pass;
        case SpfQualifier::fail:
            return SpfResult::fail;
        case SpfQualifier::softfail:
            return SpfResult::softfail;
        case SpfQualifier::neutral:
            return SpfResult::neutral;
    }
    return SpfResult::neutral;
}

// A name we may put on the wire: 1..253 bytes, labels 1..63 (RFC 1035 §2.3.4), printable
// ASCII and SP only. Macro expansion can produce anything (a NUL or CR from a local-part would
// reach C resolver APIs); what is not such a name is treated as not existing: NXDOMAIN, no query.
bool is_queryable_name(std::string_view name) noexcept {
    if (name.empty() || name.size() > limits::kSpfMaxMacroExpansion) return false;
    std::size_t label = 0;
    for (char c : name) {
        // Controls, DEL and 8-bit bytes (negative when char is signed). SP stays: "%_" is SPF's
        // own escape for it (§7.1), and the RFC 7208 suite queries such a name.
        if (c < 0x20 || c >= 0x7f) return false;
        if (c == '.') {
            if (label == 0) return false;
            label = 0;
        } else if (++label > 63) {
            return false;
        }
    }
    return label != 0;
}

enum class Match : std::uint8_t { yes, no, temperror, permerror };

// The result of evaluating one record: the result and, for fail, where exp= comes from.
struct Evaluation {
    SpfResult result = SpfResult::none;
    std::string mechanism;
    std::optional<std::string> exp_spec;  // the exp= of the record that decided
    std::string exp_domain;               // that record's <domain> (%{d} in the explanation)
    std::string problem;
};

class Evaluator {
  public:
    Evaluator(DnsResolver& dns, const IpAddress& ip, std::string sender, std::string local_part,
              std::string sender_domain, std::string helo, const SpfOptions& options)
        : dns_(dns),
          ip_(ip),
          sender_(std::move(sender)),
          local_part_(std::move(local_part)),
          sender_domain_(std::move(sender_domain)),
          helo_(std::move(helo)),
          options_(options) {
        if (options_.now_ms) start_ms_ = options_.now_ms();
    }

    Evaluation evaluate(const std::string& domain);
    std::string explanation(const Evaluation& ev);

    bool timed_out() const noexcept { return timed_out_; }
    std::size_t dns_terms() const noexcept { return dns_terms_; }
    std::size_t void_lookups() const noexcept { return void_lookups_; }

  private:
    DnsResponse query(const std::string& name, RrType type);
    bool over_budget();
    // Counts one DNS-querying term (§4.6.4); false when that is one too many.
    bool count_term() { return ++dns_terms_ <= limits::kSpfMaxDnsTerms; }
    // Counts a void lookup (§4.6.4); false when over the limit.
    bool count_void() { return ++void_lookups_ <= limits::kSpfMaxVoidLookups; }
    SpfMacroValues macro_values(const std::string& domain);
    Result<std::string> expand_domain(const std::string& spec, const std::string& domain);
    std::string validated_name(const std::string& domain);
    bool ptr_validates(const std::string& name);
    Match match(const SpfMechanism& m, const std::string& domain, std::string& problem);
    // counts_void: §4.6.4 limits void lookups per *term*; the address lookups of an mx term's
    // exchanges are not the term's own lookup (an IPv6 client checked against IPv4-only MX
    // hosts would otherwise hit the limit on an ordinary "a mx" record).
    Match match_addresses(const std::string& name, unsigned cidr4, unsigned cidr6, bool counts_void,
                          std::string& problem);

    DnsResolver& dns_;
    IpAddress ip_;
    std::string sender_;
    std::string local_part_;
    std::string sender_domain_;
    std::string helo_;
    const SpfOptions& options_;
    std::uint64_t start_ms_ = 0;
    bool timed_out_ = false;
    std::size_t dns_terms_ = 0;
    std::size_t void_lookups_ = 0;
    // %{p} per <domain>: a record may use it many times, each costing up to 11 queries.
    std::map<std::string, std::string, std::less<>> validated_names_;
};

bool Evaluator::over_budget() {
    if (timed_out_) return true;
    if (!options_.now_ms) return false;
    std::uint64_t now = options_.now_ms();
    // A clock that steps backwards must not read as a huge elapsed time.
    if (now > start_ms_ && now - start_ms_ > options_.budget_ms) timed_out_ = true;
    return timed_out_;
}

DnsResponse Evaluator::query(const std::string& name, RrType type) {
    if (over_budget()) {
        auto r = DnsResponse::make(DnsStatus::temperror);
        r.why = "SPF time budget exceeded";
        return r;
    }
    if (!is_queryable_name(name)) return DnsResponse::make(DnsStatus::nxdomain);
    return dns_.lookup(name, type);
}

SpfMacroValues Evaluator::macro_values(const std::string& domain) {
    SpfMacroValues v;
    v.sender = sender_;
    v.local_part = local_part_;
    v.sender_domain = sender_domain_;
    v.domain = domain;
    v.ip = &ip_;
    v.helo = helo_;
    v.receiver = options_.receiver_domain;
    v.now_epoch = options_.now_epoch;
    v.validated_name = [this, domain] { return validated_name(domain); };
    return v;
}

Result<std::string> Evaluator::expand_domain(const std::string& spec, const std::string& domain) {
    auto name = expand_spf_macros(spec, macro_values(domain), SpfMacroMode::domain);
    if (!name) return name;
    return text::lower(*name);
}

bool Evaluator::ptr_validates(const std::string& name) {
    // §5.5: "If a DNS error occurs while doing an A RR lookup, then that domain name is
    // skipped and the search continues."
    auto r = query(name, ip_.is_v4() ? RrType::a : RrType::aaaa);
    if (r.status != DnsStatus::answer) return false;
    return std::find(r.addresses.begin(), r.addresses.end(), ip_) != r.addresses.end();
}

// %{p} (§7.3): a validated name of the client, preferring <domain>, then a subdomain of it.
std::string Evaluator::validated_name(const std::string& domain) {
    if (auto it = validated_names_.find(domain); it != validated_names_.end()) return it->second;
    std::string& slot = validated_names_[domain];
    slot = "unknown";
    auto r = query(ip_.to_reverse_name(), RrType::ptr);
    if (r.status != DnsStatus::answer) return slot;
    std::optional<std::string> best;
    int best_rank = 3;
    std::size_t checked = 0;
    for (const auto& raw : r.names) {
        if (checked++ >= limits::kSpfMaxPtrNames) break;  // §4.6.4: ignore the rest
        std::string name = text::lower(raw);
        int rank = name == domain ? 0 : (is_same_or_subdomain(name, domain) ? 1 : 2);
        if (rank >= best_rank || !ptr_validates(name)) continue;
        best = name;
        best_rank = rank;
        if (rank == 0) break;
    }
    if (best) slot = *best;
    return slot;
}

Match Evaluator::match_addresses(const std::string& name, unsigned cidr4, unsigned cidr6,
                                 bool counts_void, std::string& problem) {
    auto r = query(name, ip_.is_v4() ? RrType::a : RrType::aaaa);
    if (r.status == DnsStatus::temperror) {
        problem = "DNS error looking up " + name + (r.why.empty() ? "" : ": " + r.why);
        return Match::temperror;
    }
    if (r.status != DnsStatus::answer || r.addresses.empty()) {
        if (counts_void && !count_void()) {
            problem = "more than 2 void lookups (at " + name + ")";
            return Match::permerror;
        }
        return Match::no;
    }
    unsigned len = ip_.is_v4() ? cidr4 : cidr6;
    for (const auto& a : r.addresses) {
        if (ip_.in_network(a, len)) return Match::yes;
    }
    return Match::no;
}

Match Evaluator::match(const SpfMechanism& m, const std::string& domain, std::string& problem) {
    auto target_of = [&](std::string& out) -> bool {
        if (m.domain_spec.empty()) {
            out = domain;
            return true;
        }
        auto t = expand_domain(m.domain_spec, domain);
        if (!t) {
            problem = "macro expansion in " + m.text + ": " + t.error().message;
            return false;
        }
        out = std::move(*t);
        return true;
    };
    auto term_limit = [&] {
        if (count_term()) return true;
        problem = "more than 10 DNS-querying terms (at " + m.text + ")";
        return false;
    };
    std::string target;
    switch (m.kind) {
        case SpfMechanismKind::all:
            return Match::yes;
        case SpfMechanismKind::ip4:
        case SpfMechanismKind::ip6:
            return m.network.address.is_v4() == ip_.is_v4() && m.network.contains(ip_) ? Match::yes
                                                                                       : Match::no;
        case SpfMechanismKind::a:
            if (!term_limit() || !target_of(target)) return Match::permerror;
            return match_addresses(target, m.cidr4, m.cidr6, true, problem);
        case SpfMechanismKind::mx: {
            if (!term_limit() || !target_of(target)) return Match::permerror;
            auto r = query(target, RrType::mx);
            if (r.status == DnsStatus::temperror) {
                problem = "DNS error looking up MX " + target;
                return Match::temperror;
            }
            if (r.status != DnsStatus::answer || r.mx.empty()) {
                if (!count_void()) {
                    problem = "more than 2 void lookups (at MX " + target + ")";
                    return Match::permerror;
                }
                return Match::no;
            }
            // §4.6.4: an mx term "MUST NOT result in querying more than 10 address records";
            // exceeding it is a permerror, not a silent cut.
            if (r.mx.size() > limits::kSpfMaxMxNames) {
                problem = "more than 10 MX names at " + target;
                return Match::permerror;
            }
            auto mx = r.mx;
            std::stable_sort(mx.begin(), mx.end(), [](const MxRecord& x, const MxRecord& y) {
                return x.preference < y.preference;
            });
            for (const auto& rr : mx) {
                auto res = match_addresses(rr.exchange, m.cidr4, m.cidr6, false, problem);
                if (res != Match::no) return res;
            }
            return Match::no;
        }
        case SpfMechanismKind::ptr: {
            if (!term_limit() || !target_of(target)) return Match::permerror;
            auto r = query(ip_.to_reverse_name(), RrType::ptr);
            // §5.5: "If a DNS error occurs while doing the PTR RR lookup, then this mechanism
            // fails to match."
            if (r.status == DnsStatus::temperror) return Match::no;
            if (r.status != DnsStatus::answer || r.names.empty()) {
                if (!count_void()) {
                    problem = "more than 2 void lookups (at PTR)";
                    return Match::permerror;
                }
                return Match::no;
            }
            std::size_t checked = 0;
            for (const auto& raw : r.names) {
                if (checked++ >= limits::kSpfMaxPtrNames) break;  // §4.6.4: ignore the rest
                std::string name = text::lower(raw);
                if (!name.empty() && name.back() == '.') name.pop_back();
                if (is_same_or_subdomain(name, target) && ptr_validates(name)) return Match::yes;
            }
            return Match::no;
        }
        case SpfMechanismKind::exists: {
            if (!term_limit() || !target_of(target)) return Match::permerror;
            // §5.7: an A query whatever the client's address family.
            auto r = query(target, RrType::a);
            if (r.status == DnsStatus::temperror) {
                problem = "DNS error looking up " + target;
                return Match::temperror;
            }
            if (r.status != DnsStatus::answer || r.addresses.empty()) {
                if (!count_void()) {
                    problem = "more than 2 void lookups (at " + target + ")";
                    return Match::permerror;
                }
                return Match::no;
            }
            return Match::yes;
        }
        case SpfMechanismKind::include: {
            if (!term_limit() || !target_of(target)) return Match::permerror;
            Evaluation inner = evaluate(target);
            // §5.2 table.
            switch (inner.result) {
                case SpfResult::pass:
                    return Match::yes;
                case SpfResult::fail:
                case SpfResult::softfail:
                case SpfResult::neutral:
                    return Match::no;
                case SpfResult::temperror:
                    problem = inner.problem;
                    return Match::temperror;
                case SpfResult::permerror:
                    problem = inner.problem;
                    return Match::permerror;
                case SpfResult::none:
                    problem = "include:" + target + " has no SPF record";
                    return Match::permerror;
            }
            return Match::permerror;
        }
    }
    return Match::permerror;
}

Evaluation Evaluator::evaluate(const std::string& domain) {
    Evaluation ev;
    auto fail_with = [&ev](SpfResult r, std::string why) {
        ev.result = r;
        ev.problem = std::move(why);
        return ev;
    };
    auto r = query(domain, RrType::txt);
    if (r.status == DnsStatus::temperror) {
        return fail_with(SpfResult::temperror, "DNS error looking up TXT " + domain +
                                                   (r.why.empty() ? "" : ": " + r.why));
    }
    std::vector<const std::string*> records;
    for (const auto& txt : r.txt) {
        if (is_spf_record(txt)) records.push_back(&txt);
    }
    if (records.empty()) return fail_with(SpfResult::none, "no SPF record at " + domain);
    if (records.size() > 1)
        return fail_with(SpfResult::permerror, "several SPF records at " + domain);
    // A shared parse when there is a cache: only read here, never copied.
    std::shared_ptr<const Result<SpfRecord>> cached;
    Result<SpfRecord> parsed;
    if (options_.records) {
        cached = options_.records->spf(*records.front());
    } else {
        parsed = parse_spf_record(*records.front());
    }
    const Result<SpfRecord>& record = cached ? *cached : parsed;
    if (!record) {
        return fail_with(SpfResult::permerror,
                         "SPF record at " + domain + ": " + record.error().message);
    }
    for (const auto& m : record->mechanisms) {
        std::string problem;
        switch (match(m, domain, problem)) {
            case Match::yes:
                ev.result = from_qualifier(m.qualifier);
                ev.mechanism = m.text;
                ev.exp_spec = record->exp;
                ev.exp_domain = domain;
                return ev;
            case Match::no:
                break;
            case Match::temperror:
                ev.mechanism = m.text;
                return fail_with(SpfResult::temperror, std::move(problem));
            case Match::permerror:
                ev.mechanism = m.text;
                return fail_with(SpfResult::permerror, std::move(problem));
        }
    }
    if (record->redirect) {
        // §6.1: redirect counts as a DNS-querying term; the target's result is the result,
        // with the target's exp= (the redirecting record's own exp= no longer applies).
        if (!count_term())
            return fail_with(SpfResult::permerror, "more than 10 DNS-querying terms");
        auto target = expand_domain(*record->redirect, domain);
        if (!target) {
            return fail_with(SpfResult::permerror, "redirect=: " + target.error().message);
        }
        Evaluation inner = evaluate(*target);
        if (inner.result == SpfResult::none) {
            return fail_with(SpfResult::permerror, "redirect=" + *target + " has no SPF record");
        }
        return inner;
    }
    ev.result = SpfResult::neutral;  // §4.7: no match, no redirect
    return ev;
}

// §6.2: fetch and expand the explanation; any problem means "as if no exp modifier was given".
std::string Evaluator::explanation(const Evaluation& ev) {
    if (!ev.exp_spec || !options_.fetch_explanation) return options_.default_explanation;
    auto name = expand_domain(*ev.exp_spec, ev.exp_domain);
    if (!name) return options_.default_explanation;
    auto r = query(*name, RrType::txt);
    if (r.status != DnsStatus::answer || r.txt.size() != 1) return options_.default_explanation;
    auto text =
        expand_spf_macros(r.txt.front(), macro_values(ev.exp_domain), SpfMacroMode::explanation);
    if (!text || text->size() > limits::kSpfMaxExplanationBytes) {
        return options_.default_explanation;
    }
    // §6.2: the explanation goes into an SMTP reply, which is US-ASCII; a macro (%{l}) must
    // not smuggle CR, LF or 8-bit bytes into it.
    if (!std::all_of(text->begin(), text->end(), [](char c) { return c >= 0x20 && c < 0x7f; })) {
        return options_.default_explanation;
    }
    return *text;
}

// §4.3: a usable <domain> is a multi-label, well-formed name (not an address literal).
std::optional<std::string> initial_domain(std::string_view domain) {
    if (domain.empty() || domain.front() == '[') return std::nullopt;
    auto normalised = to_a_label_domain(domain, LabelRule::dns);
    if (!normalised || normalised->find('.') == std::string::npos) return std::nullopt;
    return *normalised;
}

}  // namespace

SpfOutcome check_host(DnsResolver& dns, const IpAddress& ip, std::string_view domain,
                      std::string_view sender, std::string_view helo, const SpfOptions& options) {
    SpfOutcome out;
    // §4.3: "If the <sender> has no local-part, substitute the string "postmaster"".
    std::string local_part = "postmaster";
    std::string_view sender_domain = sender;
    if (auto at = sender.rfind('@'); at != std::string_view::npos) {
        if (at > 0) local_part = std::string(sender.substr(0, at));
        sender_domain = sender.substr(at + 1);
    }
    out.sender = local_part + "@" + std::string(sender_domain);
    auto checked = initial_domain(domain);
    if (!checked) {
        out.domain = text::lower(domain);
        out.result = SpfResult::none;
        out.problem = "malformed or single-label domain";
        return out;
    }
    out.domain = *checked;
    auto normal_sender_domain = to_a_label_domain(sender_domain, LabelRule::dns);
    std::string o = normal_sender_domain ? *normal_sender_domain : text::lower(sender_domain);

    // §4.1 / §2.4: an IPv4-mapped IPv6 client is an IPv4 client.
    Evaluator evaluator(dns, ip.unmapped(), out.sender, local_part, o, std::string(helo), options);
    Evaluation ev = evaluator.evaluate(*checked);
    out.result = ev.result;
    out.mechanism = ev.mechanism;
    out.problem = ev.problem;
    if (out.result == SpfResult::fail) out.explanation = evaluator.explanation(ev);
    if (evaluator.timed_out()) {
        out.result = SpfResult::temperror;
        out.explanation.clear();
        out.problem = "SPF time budget exceeded";
    }
    out.dns_terms = evaluator.dns_terms();
    out.void_lookups = evaluator.void_lookups();
    return out;
}

SpfOutcome check_mail_from(DnsResolver& dns, const IpAddress& ip, std::string_view mail_from,
                           std::string_view helo, const SpfOptions& options) {
    std::string_view path = text::trim(mail_from);
    if (path.size() >= 2 && path.front() == '<' && path.back() == '>') {
        path = path.substr(1, path.size() - 2);
    }
    SpfOutcome out;
    if (path.empty()) {
        // §2.4: the null reverse-path uses postmaster@<HELO> as the MAIL FROM identity.
        std::string sender = "postmaster@" + std::string(helo);
        out = check_host(dns, ip, helo, sender, helo, options);
    } else {
        auto at = path.rfind('@');
        std::string_view domain = at == std::string_view::npos ? path : path.substr(at + 1);
        out = check_host(dns, ip, domain, path, helo, options);
    }
    out.scope = SpfScope::mfrom;
    return out;
}

SpfOutcome check_helo(DnsResolver& dns, const IpAddress& ip, std::string_view helo,
                      const SpfOptions& options) {
    std::string sender = "postmaster@" + std::string(helo);
    SpfOutcome out = check_host(dns, ip, helo, sender, helo, options);
    out.scope = SpfScope::helo;
    return out;
}

}  // namespace dmarc
