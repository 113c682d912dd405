// End-of-message decision (see verdict.hpp).
#include "core/verdict.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>

#include "core/auth_results.hpp"
#include "core/discovery.hpp"
#include "core/domain_name.hpp"
#include "core/from_header.hpp"
#include "core/history_row.hpp"
#include "core/limits.hpp"
#include "core/received_spf.hpp"
#include "core/spf.hpp"
#include "core/text.hpp"

namespace dmarc {
namespace {

bool name_is(const HeaderField& field, std::string_view name) {
    return text::iequals(text::trim(field.name), name);
}

// The domain of an address or of a bare domain ("user@d", "<user@d>", "d"); empty on error.
std::string address_domain(std::string_view address) {
    address = text::trim(address);
    if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
        address = address.substr(1, address.size() - 2);
    }
    auto at = address.rfind('@');
    auto domain = at == std::string_view::npos ? address : address.substr(at + 1);
    auto normalised = to_a_label_domain(domain);
    return normalised ? *normalised : std::string();
}

// RFC 5322 §3.6: the fields that must appear at most once (and From, Date exactly once).
std::optional<std::string> rfc5322_count_problem(const std::vector<HeaderField>& headers) {
    auto count = [&](std::string_view name) {
        return std::count_if(headers.begin(), headers.end(),
                             [&](const HeaderField& f) { return name_is(f, name); });
    };
    auto from_count = std::count_if(headers.begin(), headers.end(), [](const HeaderField& f) {
        return is_from_field_name(f.name);
    });
    if (from_count != 1) return fmt::format("{} From fields (exactly one required)", from_count);
    if (count("Date") != 1)
        return fmt::format("{} Date fields (exactly one required)", count("Date"));
    for (std::string_view name : {"Sender", "Reply-To", "To", "Cc", "Bcc", "Message-ID",
                                  "In-Reply-To", "References", "Subject"}) {
        if (count(name) > 1) return fmt::format("more than one {} field", name);
    }
    return std::nullopt;
}

Policy disposition_policy(Disposition d) {
    switch (d) {
        case Disposition::reject:
            return Policy::reject;
        case Disposition::quarantine:
            return Policy::quarantine;
        default:
            return Policy::none;
    }
}

bool is_report_message(const std::vector<HeaderField>& headers) {
    for (const auto& f : headers) {
        if (name_is(f, "Subject") && text::istarts_with(text::trim(f.value), "Report Domain:")) {
            return true;
        }
        if (name_is(f, "Content-Type")) {
            auto v = text::lower(f.value);
            if (v.find("report-type=feedback-report") != std::string::npos ||
                v.find("report-type=\"feedback-report\"") != std::string::npos) {
                return true;
            }
        }
    }
    return false;
}

struct TrustedResults {
    std::vector<DkimAuthResult> dkim;
    std::optional<SpfAuthResult> spf;
    bool arc_pass = false;
    std::vector<std::string> arc_chain;
    std::vector<std::size_t> forged_occurrences;  // 1-based among A-R fields
};

TrustedResults read_authentication_results(const VerdictContext& ctx, const Envelope& env,
                                           const std::vector<HeaderField>& headers,
                                           const std::string& our_id, std::string& note) {
    TrustedResults out;
    const auto& config = ctx.config;
    std::string mail_from_domain = address_domain(env.mail_from);
    bool below_received = false;
    std::size_t occurrence = 0;
    std::size_t considered = 0;
    for (const auto& field : headers) {
        if (name_is(field, "Received")) {
            below_received = true;
            continue;
        }
        if (!name_is(field, "Authentication-Results")) continue;
        ++occurrence;
        // Past the bound no results are believed, but every field is still checked for our
        // authserv-id: a forged one left in place would reach the mailbox as ours (RFC 8601 §5
        // "MUST delete"), and stuffing 1,000 fields must not be a way to keep it there.
        const bool over_bound = ++considered > limits::kMaxAuthResFields;
        if (considered == limits::kMaxAuthResFields + 1) {
            note = "too many Authentication-Results fields; past the first " +
                   std::to_string(limits::kMaxAuthResFields) +
                   " only forged ones were looked for (and removed)";
        }
        auto parsed = parse_authentication_results(field.value);
        if (!parsed) continue;
        std::string id = text::lower(parsed->authserv_id);
        std::string base_id = id;
        std::string job;
        if (auto slash = id.find('/'); slash != std::string::npos) {
            base_id = id.substr(0, slash);
            job = id.substr(slash + 1);
        }
        bool ours = base_id == our_id;
        if (over_bound) {
            if (ours && below_received) out.forged_occurrences.push_back(occurrence);
            continue;
        }
        bool trusted = false;
        if (ours) {
            // RFC 8601 §5: a field claiming our authserv-id that came with the message (below
            // the Received field our MTA added) is forged: remove it, never believe it.
            // Postfix never shows a milter the Received field it adds for this hop, so a forgery
            // placed above every Received looks like an upstream milter's field. Only a job id
            // tells them apart: with AuthservIDWithJobID (here and in the upstream verifiers,
            // e.g. OpenDKIM's option of the same name) a field with our id is ours only when it
            // names this message's queue id; without one, or with another, it came with the
            // message (found in the e2e chain: tests/e2e/README.md). In either mode a job id
            // that is not this message's cannot come from this hop. Without AuthservIDWithJobID
            // the upstream verifier must remove forgeries with the shared id itself (OpenDKIM:
            // RemoveARAll yes; milter/README.md, Forged Authentication-Results).
            bool other_job =
                job.empty() ? config.authserv_id_with_job_id : !text::iequals(job, env.queue_id);
            if (below_received || other_job) {
                out.forged_occurrences.push_back(occurrence);
                continue;
            }
            trusted = true;
        } else {
            trusted =
                std::find(config.trusted_authserv_ids.begin(), config.trusted_authserv_ids.end(),
                          base_id) != config.trusted_authserv_ids.end();
            if (trusted && config.authserv_id_with_job_id && !job.empty() &&
                !text::iequals(job, env.queue_id)) {
                trusted = false;
            }
        }
        if (!trusted) continue;
        for (const auto& r : parsed->results) {
            if (r.method == "dkim") {
                auto result = parse_dkim_result(r.result);
                auto domain = dkim_signing_domain(r);
                if (!result || !domain) continue;  // CVE-2020-12272: never a non-host d=
                if (out.dkim.size() >= limits::kMaxAuthResResults) continue;
                DkimAuthResult d;
                d.dkim_d = *domain;
                if (const auto* s = r.find("header", "s")) d.selector = text::lower(s->value);
                if (const auto* i = r.find("header", "i"))
                    d.dkim_i = dkim_identity(i->value, d.dkim_d);
                d.result = *result;
                d.human = r.reason.value_or("");
                out.dkim.push_back(std::move(d));
            } else if (r.method == "spf" && !config.spf_ignore_results && !out.spf) {
                auto result = parse_spf_result(r.result);
                if (!result) continue;
                // OpenDMARC §8.2 #1: smtp.mailfrom may be an address or a domain; compare the
                // domain. A HELO result counts only for the null reverse-path (CVE-2019-20790).
                if (const auto* mf = r.find("smtp", "mailfrom");
                    mf && !env.mail_from.empty() && !mail_from_domain.empty() &&
                    address_domain(mf->value) == mail_from_domain) {
                    out.spf = SpfAuthResult{mail_from_domain, SpfScope::mfrom, *result, false, ""};
                } else if (const auto* helo = r.find("smtp", "helo");
                           helo && env.mail_from.empty()) {
                    auto d = address_domain(helo->value);
                    if (!d.empty() && d == address_domain(env.helo)) {
                        out.spf = SpfAuthResult{d, SpfScope::helo, *result, true, ""};
                    }
                }
            } else if (r.method == "arc") {
                if (r.result == "pass") {
                    out.arc_pass = true;
                    if (const auto* chain = r.find("arc", "chain")) {
                        std::string_view c = chain->value;
                        while (!c.empty()) {
                            auto colon = c.find(':');
                            out.arc_chain.push_back(text::lower(c.substr(0, colon)));
                            c = colon == std::string_view::npos ? "" : c.substr(colon + 1);
                        }
                    }
                }
            }
        }
    }
    return out;
}

// RFC 7208 §9.1: the topmost Received-SPF, for the identity we can use.
std::optional<SpfAuthResult> read_received_spf(const Envelope& env,
                                               const std::vector<HeaderField>& headers) {
    for (const auto& field : headers) {
        if (!name_is(field, "Received-SPF")) continue;
        auto parsed = parse_received_spf(field.value);
        if (!parsed) return std::nullopt;
        auto scope = parsed->identity_scope();
        if (scope == SpfScope::mfrom && !env.mail_from.empty()) {
            auto d = parsed->envelope_from_domain();
            if (d && *d == address_domain(env.mail_from)) {
                return SpfAuthResult{*d, SpfScope::mfrom, parsed->result, false, parsed->comment};
            }
        } else if (scope == SpfScope::helo && env.mail_from.empty()) {
            auto helo = parsed->helo();
            auto d = helo ? address_domain(*helo) : std::string();
            if (!d.empty() && d == address_domain(env.helo)) {
                return SpfAuthResult{d, SpfScope::helo, parsed->result, true, parsed->comment};
            }
        }
        return std::nullopt;  // only the topmost one counts
    }
    return std::nullopt;
}

// Appends each piece to out. The two log lines are built for every message, and appending
// them costs a fraction of fmt's formatting (about 4,000 instructions a message, callgrind).
template <typename... Pieces>
void append(std::string& out, const Pieces&... pieces) {
    (out.append(pieces), ...);
}

void finish_lines(MessageVerdict& v, const Envelope& env) {
    std::string qid = env.queue_id.empty() ? "(unknown-jobid)" : env.queue_id;
    // The author whose result decided (the strictest one when the From field has several).
    std::string domain = !v.evaluation.rfc5322_from_domain.empty()
                             ? v.evaluation.rfc5322_from_domain
                         : v.author_domains.empty() ? "-"
                                                    : v.author_domains.front();
    if (!v.evaluated) {
        v.log_line = fmt::format("{}: {}", qid, v.note);
        v.detail_line = fmt::format("{}: action={}", qid, to_string(v.action));
        return;
    }
    v.log_line.clear();
    append(v.log_line, qid, ": ", domain, " ", to_string(v.evaluation.result));
    // "Q1: dmarc=fail from=a.example policy_domain=a.example policy=reject disposition=reject
    // action=reject spf=pass(self:b.example) dkim=a.example:pass aligned=spf:no,dkim:yes
    // [override=...] [note="..."]"
    std::string& d = v.detail_line;
    d.clear();
    d.reserve(256);
    append(d, qid, ": dmarc=", to_string(v.evaluation.result), " from=", domain, " policy_domain=",
           v.evaluation.policy_domain.empty() ? "-" : std::string_view(v.evaluation.policy_domain),
           " policy=", v.evaluation.applied_policy ? to_string(*v.evaluation.applied_policy) : "-",
           " disposition=", to_string(v.applied_disposition), " action=", to_string(v.action),
           " spf=", v.spf ? to_string(v.spf->result) : "none");
    if (v.spf) append(d, "(", to_string(v.spf_source), ":", v.spf->domain, ")");
    d += " dkim=";
    if (v.dkim.empty()) d += "none";
    for (std::size_t i = 0; i < v.dkim.size(); ++i) {
        if (i > 0) d += ',';
        append(d, v.dkim[i].dkim_d, ":", to_string(v.dkim[i].result));
    }
    append(d, " aligned=spf:", v.evaluation.spf_aligned ? "yes" : "no",
           ",dkim:", v.evaluation.dkim_aligned ? "yes" : "no");
    for (std::size_t i = 0; i < v.applied_overrides.size(); ++i) {
        append(d, i == 0 ? " override=" : ",", to_string(v.applied_overrides[i]));
    }
    if (!v.note.empty()) append(d, " note=\"", v.note, "\"");
}

void reject_with(MessageVerdict& v, std::string text) {
    v.action = MilterAction::reject;
    v.reply_code = "550";
    v.reply_xcode = "5.7.1";
    v.reply_text = std::move(text);
}

std::string format_reject_text(std::string_view pattern, std::string_view policy_domain) {
    std::string out;
    for (std::size_t i = 0; i < pattern.size(); ++i) {
        if (pattern[i] == '%' && i + 1 < pattern.size()) {
            if (pattern[i + 1] == 's') {
                out += policy_domain;
                ++i;
                continue;
            }
            if (pattern[i + 1] == '%') {
                out += '%';
                ++i;
                continue;
            }
        }
        out += pattern[i];
    }
    return out;
}

}  // namespace

std::string_view to_string(SpfSource s) noexcept {
    switch (s) {
        case SpfSource::none:
            return "none";
        case SpfSource::authentication_results:
            return "authentication-results";
        case SpfSource::received_spf:
            return "received-spf";
        case SpfSource::self:
            return "self";
    }
    return "unknown";
}

namespace {

// decide() up to the log lines, filling v in place: a MessageVerdict is large, and passing it
// through helpers by value moved it two or three times per message (~2,000 instructions).
void decide_into(MessageVerdict& v, const VerdictContext& ctx, const Envelope& env,
                 const std::vector<HeaderField>& headers) {
    const auto& config = ctx.config;
    v.is_dmarc_report = is_report_message(headers);
    std::string id = config.authserv_id;
    if (id.empty() || text::iequals(id, "HOSTNAME")) id = env.mta_hostname;
    if (id.empty()) id = "localhost";
    v.authserv_id = text::lower(id);

    if (config.ignore_authenticated_clients && env.authenticated) {
        v.note = "authenticated client; not evaluated";
        return;
    }
    if (headers.size() > limits::kMaxHeaderFields) {
        v.note = fmt::format("more than {} header fields; not evaluated", limits::kMaxHeaderFields);
        return;
    }
    if (config.required_headers) {
        if (auto problem = rfc5322_count_problem(headers)) {
            v.note = "RFC 5322 requirement error: " + *problem;
            return reject_with(v, "message does not follow RFC 5322: " + *problem);
        }
    }

    // Every From field counts (RFC 5322 §4.5.1 obs-from: "From :" too). Several From fields
    // break RFC 5322 §3.6; their domains are all evaluated so an added From cannot hide one.
    std::vector<const HeaderField*> from_fields;
    for (const auto& f : headers) {
        if (is_from_field_name(f.name)) from_fields.push_back(&f);
    }
    if (from_fields.empty()) {
        v.note = "no From field";
        if (config.required_from) return reject_with(v, "message has no From field");
        return;
    }
    for (const auto* f : from_fields) {
        auto parsed = parse_from_field(f->value);
        if (!parsed) {
            v.note = "unable to parse From field: " + parsed.error().message;
            if (config.required_from) {
                return reject_with(v, "From field cannot be parsed");
            }
            // A From we cannot read cannot be checked: say so in the header (RFC 7489 §11:
            // permerror), and let RequiredFrom decide whether such mail is welcome at all.
            v.evaluated = true;
            v.evaluation.result = DmarcResult::permerror;
            v.evaluation.trace = v.note;
            AuthResult r{"dmarc",      std::nullopt, "permerror",
                         std::nullopt, {},           {"unparseable From"}};
            if (auto body = format_authentication_results(v.authserv_id, std::span(&r, 1))) {
                v.header_changes.push_back(
                    {HeaderChange::Kind::insert_first, "Authentication-Results", *body, 0});
            }
            return;
        }
        for (auto& d : author_domains(*parsed)) {
            if (std::find(v.author_domains.begin(), v.author_domains.end(), d) ==
                v.author_domains.end()) {
                v.author_domains.push_back(d);
            }
        }
    }
    if (v.author_domains.empty()) {
        v.note = "From field has no domain (group or address literal)";
        if (config.required_from) return reject_with(v, "From field has no domain");
        return;
    }
    if (v.author_domains.size() > 1 && config.reject_multi_value_from) {
        v.note = "multi-valued From field";
        return reject_with(v, "multi-valued From field not accepted");
    }
    bool all_ignored =
        std::all_of(v.author_domains.begin(), v.author_domains.end(), [&](const std::string& d) {
            return std::any_of(
                config.ignore_mail_from.begin(), config.ignore_mail_from.end(),
                [&](const std::string& ignored) { return is_same_or_subdomain(d, ignored); });
        });
    if (all_ignored) {
        v.note = "ignoring mail from " + v.author_domains.front();
        return;
    }

    // Upstream results.
    std::string note;
    auto trusted = read_authentication_results(ctx, env, headers, v.authserv_id, note);
    v.note = note;
    v.dkim = trusted.dkim;
    v.arc_pass = trusted.arc_pass;
    if (trusted.spf) {
        v.spf = trusted.spf;
        v.spf_source = SpfSource::authentication_results;
    } else if (!config.spf_ignore_results) {
        if (auto rs = read_received_spf(env, headers)) {
            v.spf = rs;
            v.spf_source = SpfSource::received_spf;
        }
    }
    std::optional<AuthResult> own_spf;
    if (!v.spf && config.spf_self_validate && env.client_ip) {
        SpfOptions options;
        options.now_ms = ctx.now_ms;
        options.now_epoch = ctx.now > 0 ? std::uint64_t(ctx.now) : 0;
        options.receiver_domain = v.authserv_id;
        options.fetch_explanation = false;  // nobody reads it: we do not reject on SPF
        options.records = ctx.records;
        auto outcome = check_mail_from(ctx.dns, *env.client_ip, env.mail_from, env.helo, options);
        bool null_path = env.mail_from.empty();
        v.spf = SpfAuthResult{outcome.domain, null_path ? SpfScope::helo : SpfScope::mfrom,
                              outcome.result, null_path, outcome.problem};
        v.spf_source = SpfSource::self;
        AuthResult r;
        r.method = "spf";
        r.result = std::string(to_string(outcome.result));
        if (!outcome.domain.empty()) {
            r.properties.push_back({"smtp", null_path ? "helo" : "mailfrom",
                                    null_path ? outcome.domain : env.mail_from});
        }
        own_spf = std::move(r);
    }

    // Discovery and evaluation.
    EvaluationInput input;
    input.rfc5322_from_domains = v.author_domains;
    input.dkim = v.dkim;
    input.spf = v.spf;
    input.mode = config.policy_discovery == config::PolicyDiscovery::psl ? EvaluationMode::rfc7489
                                                                         : EvaluationMode::rfc9989;
    input.pct_sample = ctx.pct_sample;
    input.explain = ctx.explain;
    v.evaluation = evaluate_message(std::move(input), ctx.dns, ctx.psl, ctx.records);
    v.evaluated = true;
    const Evaluation& e = v.evaluation;

    // The action. DMARC's disposition is a request; RejectFailures / HoldQuarantinedMessages
    // decide what this server enacts (RFC 9989 §5.4: a local decision), and the history
    // records both with the reason they differ.
    v.applied_disposition = Disposition::none;
    v.applied_overrides = e.overrides;
    const std::string& author =
        e.rfc5322_from_domain.empty() ? v.author_domains.front() : e.rfc5322_from_domain;
    std::string pdomain = e.policy_domain.empty() ? author : e.policy_domain;
    if (e.result == DmarcResult::fail) {
        bool whitelisted_arc =
            trusted.arc_pass && !trusted.arc_chain.empty() &&
            std::all_of(
                trusted.arc_chain.begin(), trusted.arc_chain.end(), [&](const std::string& d) {
                    return std::find(config.domain_whitelist.begin(), config.domain_whitelist.end(),
                                     d) != config.domain_whitelist.end();
                });
        if (e.disposition != Disposition::none && whitelisted_arc) {
            v.arc_override = true;
            v.applied_overrides.push_back(OverrideReason::trusted_forwarder);
        } else if (e.disposition == Disposition::reject) {
            if (config.reject_failures) {
                v.applied_disposition = Disposition::reject;
                reject_with(v, format_reject_text(config.reject_string, pdomain));
            } else {
                v.applied_overrides.push_back(OverrideReason::local_policy);
            }
        } else if (e.disposition == Disposition::quarantine) {
            if (config.hold_quarantined_messages) {
                v.applied_disposition = Disposition::quarantine;
                v.action = MilterAction::quarantine;
                v.quarantine_reason = "quarantined by DMARC policy for " + pdomain;
            } else {
                v.applied_overrides.push_back(OverrideReason::local_policy);
            }
        }
        if (!config.copy_failures_to.empty() && e.applied_policy &&
            *e.applied_policy != Policy::none) {
            v.add_recipient = config.copy_failures_to;
        }
    } else if (e.result == DmarcResult::temperror && config.tempfail_on_dns_error) {
        v.action = MilterAction::tempfail;
        v.reply_code = "451";
        v.reply_xcode = "4.7.1";
        v.reply_text = "DMARC policy for " + author + " could not be retrieved; try again later";
    }

    // Our Authentication-Results field, first in the header (RFC 8601 §5 ordering).
    std::vector<AuthResult> results;
    if (own_spf) results.push_back(*own_spf);
    AuthResult dmarc;
    dmarc.method = "dmarc";
    dmarc.result = std::string(to_string(e.result));
    if (e.applied_policy) {
        std::string comment;
        append(comment, "p=", to_string(*e.applied_policy),
               " dis=", to_string(disposition_policy(v.applied_disposition)));
        dmarc.comments.push_back(std::move(comment));
    }
    dmarc.properties.push_back({"header", "from", author});
    if (e.applied_policy) {
        dmarc.properties.push_back({"policy", "dmarc", std::string(to_string(*e.applied_policy))});
    }
    results.push_back(std::move(dmarc));
    std::string field_id = v.authserv_id;
    if (config.authserv_id_with_job_id && !env.queue_id.empty()) field_id += "/" + env.queue_id;
    for (auto it = trusted.forged_occurrences.rbegin(); it != trusted.forged_occurrences.rend();
         ++it) {
        v.header_changes.push_back({HeaderChange::Kind::remove, "Authentication-Results", "", *it});
    }
    v.forged_results_removed = trusted.forged_occurrences.size();
    if (auto body = format_authentication_results(field_id, results)) {
        v.header_changes.push_back(
            {HeaderChange::Kind::insert_first, "Authentication-Results", *body, 0});
    }
    if (config.software_header) {
        v.header_changes.push_back({HeaderChange::Kind::insert_first, "DMARC-Filter",
                                    fmt::format("{} {} {}", ctx.software, env.mta_hostname,
                                                env.queue_id.empty() ? "-" : env.queue_id),
                                    0});
    }
    if (v.forged_results_removed > 0 && v.note.empty()) {
        v.note = fmt::format("removed {} forged Authentication-Results field(s)",
                             v.forged_results_removed);
    }
}

}  // namespace

MessageVerdict decide(const VerdictContext& ctx, const Envelope& env,
                      const std::vector<HeaderField>& headers) {
    MessageVerdict v;
    decide_into(v, ctx, env, headers);
    finish_lines(v, env);
    return v;
}

std::vector<HeaderField> parse_header_block(std::string_view message) {
    std::vector<HeaderField> out;
    while (!message.empty()) {
        auto nl = message.find('\n');
        std::string_view line = message.substr(0, nl);
        std::string_view rest = nl == std::string_view::npos ? "" : message.substr(nl + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) break;
        if (text::is_wsp(line.front())) {
            if (out.empty()) break;
            out.back().value += "\r\n";
            out.back().value += line;
        } else {
            auto colon = line.find(':');
            if (colon == std::string_view::npos) break;
            if (out.size() >= limits::kMaxHeaderFields) break;
            std::string_view value = line.substr(colon + 1);
            if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            out.push_back({std::string(line.substr(0, colon)), std::string(value)});
        }
        message = rest;
    }
    return out;
}

bool should_record(const MessageVerdict& v, const config::MilterConfig& config) {
    if (!v.evaluated) return false;
    return v.evaluation.published != nullptr || config.record_all_messages;
}

HistoryRecord to_history_record(const MessageVerdict& v, const Envelope& env,
                                std::int64_t received) {
    const Evaluation& e = v.evaluation;
    HistoryRecord r;
    r.job = env.queue_id.empty() ? "(unknown-jobid)" : env.queue_id;
    r.reporter = env.mta_hostname;
    r.received = received;
    r.ipaddr = env.client_ip ? env.client_ip->to_string() : "127.0.0.1";
    r.from = !v.evaluation.rfc5322_from_domain.empty() ? v.evaluation.rfc5322_from_domain
             : v.author_domains.empty()                ? ""
                                                       : v.author_domains.front();
    r.mfrom = address_domain(env.mail_from);
    for (const auto& d : v.dkim)
        r.dkim.push_back({d.dkim_d, d.selector, ares_from_dkim_result(d.result)});
    r.spf.push_back(v.spf ? ares_from_spf_result(v.spf->result) : ares::kNotEvaluated);
    if (v.spf) r.spf_scope = v.spf->scope == SpfScope::mfrom ? 1 : 2;
    r.pdomain = e.policy_domain.empty() ? r.from : e.policy_domain;
    if (e.result == DmarcResult::pass) {
        r.policy = history_policy::kPass;
    } else if (!e.applied_policy) {
        r.policy = history_policy::kAbsent;
    } else {
        r.policy = *e.applied_policy == Policy::reject       ? history_policy::kReject
                   : *e.applied_policy == Policy::quarantine ? history_policy::kQuarantine
                                                             : history_policy::kNone;
    }
    if (e.published) {
        for (const auto& u : e.published->rua) {
            r.rua.push_back(u.max_size ? fmt::format("{}!{}", u.uri, *u.max_size) : u.uri);
        }
        r.pct = e.published->pct;
        r.adkim = e.published->adkim == AlignMode::strict ? 's' : 'r';
        r.aspf = e.published->aspf == AlignMode::strict ? 's' : 'r';
        r.p = history_policy_letter(e.published->p);
        r.sp = history_policy_letter(e.published->sp);
        r.align_dkim = e.dkim_aligned ? 4 : 5;
        r.align_spf = e.spf_aligned ? 4 : 5;
    }
    r.arc = v.arc_pass ? ares::kPass : ares::kFail;
    r.action = history_action_code(v.action);
    return r;
}

SpoolRow to_spool_row(const MessageVerdict& v, const Envelope& env, std::int64_t received) {
    const Evaluation& e = v.evaluation;
    SpoolRow row;
    row.time = received;
    row.queue_id = env.queue_id;
    row.reporter_host = env.mta_hostname;
    row.client_ip = env.client_ip ? env.client_ip->to_string() : std::string();
    row.helo = env.helo;
    row.rfc5321_mail_from = env.mail_from;
    row.rfc5321_rcpt_to = env.rcpt_to;
    row.rfc5322_from_domain = !e.rfc5322_from_domain.empty() ? e.rfc5322_from_domain
                              : v.author_domains.empty()     ? std::string()
                                                             : v.author_domains.front();
    row.policy_domain = e.policy_domain;
    if (e.published) {
        const DmarcRecord& rec = *e.published;
        PublishedPolicy pp;
        pp.p = rec.p;
        pp.sp = rec.sp;
        pp.np = rec.np;
        pp.adkim = rec.adkim;
        pp.aspf = rec.aspf;
        pp.pct = rec.pct;
        pp.testing = rec.testing;
        pp.ri = rec.ri;
        pp.fo = to_string(rec.fo);
        for (const auto& u : rec.rua) {
            pp.rua.push_back(u.max_size ? fmt::format("{}!{}", u.uri, *u.max_size) : u.uri);
        }
        row.record = std::move(pp);
        row.discovery_method = e.discovery_method;
    }
    if (v.spf) {
        row.spf_result = v.spf->result;
        row.spf_domain = v.spf->domain;
        row.spf_scope = v.spf->scope;
    }
    for (const auto& d : v.dkim) row.dkim.push_back({d.dkim_d, d.selector, d.result});
    row.arc = v.arc_pass ? ArcResult::pass : ArcResult::none;
    row.dkim_aligned = e.dkim_aligned;
    row.spf_aligned = e.spf_aligned;
    row.dmarc_result = e.result;
    row.policy_applied = e.applied_policy;
    row.disposition = v.applied_disposition;
    row.override_reasons = v.applied_overrides;
    row.action = v.action;
    row.is_report = v.is_dmarc_report;
    return row;
}

}  // namespace dmarc
