// DMARC failure reports (RFC 7489 §6.3 fo=, §7.3; RFC 6591; RFC 9991; RFC 6590 redaction).
// See failure_report.hpp for the decisions.
#include "core/failure_report.hpp"

#include <algorithm>
#include <array>

#include <fmt/format.h>
#include <sodium.h>

#include "core/domain_name.hpp"
#include "core/report_mail.hpp"
#include "core/text.hpp"

namespace dmarc {

namespace {

// ---- Which results are failures -----------------------------------------------------------------

// fo=d: "Generate a DKIM failure report if the message had a signature that failed evaluation,
// regardless of its alignment" (RFC 7489 §6.3, unchanged in RFC 9989 §4.7). A signature "failed
// evaluation" when it was evaluated and did not verify: fail (RFC 8601 §2.7.1 "the signature
// failed verification"), permerror (a permanent error: bad syntax, no or revoked key), neutral
// ("contained syntax errors or were not otherwise able to be processed") and policy (verified
// but "not acceptable" to the ADMD). The RFC 9991 Appendix A example reports exactly such
// signatures (dkim=permerror and dkim=neutral for d=consumer.example) as the DKIM failure.
// Not failures: temperror (the evaluation did not finish, e.g. our DNS timed out: a report
// would describe our outage, not the sender's signature), none (no signature) and pass.
bool dkim_failed(DkimResult result) noexcept {
    switch (result) {
        case DkimResult::fail:
        case DkimResult::permerror:
        case DkimResult::neutral:
        case DkimResult::policy:
            return true;
        case DkimResult::none:
        case DkimResult::pass:
        case DkimResult::temperror:
            return false;
    }
    return false;
}

// fo=s: "Generate an SPF failure report if the message failed SPF evaluation, regardless of
// its alignment". Failures: fail and softfail (RFC 7208 §2.6.4/§2.6.5: the host is not, or is
// probably not, authorised) and permerror (§2.6.7: the domain's records "could not be correctly
// interpreted", which the owner needs to hear about). Not failures: neutral (§2.6.2: the owner
// explicitly asserts nothing), none (§2.6.1: no record, nothing was evaluated) and temperror
// (§2.6.6: a transient error on our side).
bool spf_failed(SpfResult result) noexcept {
    switch (result) {
        case SpfResult::fail:
        case SpfResult::softfail:
        case SpfResult::permerror:
            return true;
        case SpfResult::none:
        case SpfResult::neutral:
        case SpfResult::pass:
        case SpfResult::temperror:
            return false;
    }
    return false;
}

bool has_mailto_ruf(const DmarcRecord& record) {
    for (const ReportUri& uri : record.ruf) {
        if (uri.is_mailto()) return true;
    }
    return false;
}

// ---- SipHash-2-4 (libsodium's crypto_shorthash_siphash24): a keyed PRF for the redaction
// tokens. Pure code in libsodium, needing no sodium_init() (which would touch /dev/urandom). ----

std::uint64_t siphash24(std::uint64_t k0, std::uint64_t k1, std::string_view data) noexcept {
    std::array<unsigned char, crypto_shorthash_siphash24_KEYBYTES> key{};
    for (std::size_t i = 0; i < 8; ++i) {
        key[i] = static_cast<unsigned char>(k0 >> (8 * i));
        key[8 + i] = static_cast<unsigned char>(k1 >> (8 * i));
    }
    std::array<unsigned char, crypto_shorthash_siphash24_BYTES> out{};
    crypto_shorthash_siphash24(out.data(), reinterpret_cast<const unsigned char*>(data.data()),
                               data.size(), key.data());
    std::uint64_t v = 0;
    for (std::size_t i = 0; i < out.size(); ++i) v |= std::uint64_t{out[i]} << (8 * i);
    return v;
}

// The configured key is text of any length; SipHash takes 128 bits. Each half is SipHash of the
// key under a fixed, distinct public key: a compression, not a secret of its own.
std::array<std::uint64_t, 2> derive_key(std::string_view key) noexcept {
    return {siphash24(0x0706050403020100ULL, 0x0f0e0d0c0b0a0908ULL, key),
            siphash24(0x1716151413121110ULL, 0x1f1e1d1c1b1a1918ULL, key)};
}

std::string redaction_token(std::string_view local_part, const std::array<std::uint64_t, 2>& k) {
    return fmt::format("redacted-{:016x}", siphash24(k[0], k[1], local_part));
}

// ---- Making untrusted text safe for a header field -------------------------------------------

bool is_token_char(char c) noexcept {
    const auto u = static_cast<unsigned char>(c);
    return u > 0x20 && u < 0x7f;
}

// One line of printable US-ASCII: CR, LF and other controls become spaces (a folded value is
// unfolded), 8-bit bytes become '?', runs of white space one space, trimmed.
std::string field_text(std::string_view value) {
    std::string out;
    out.reserve(value.size());
    bool space = false;
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (u <= 0x20 || u == 0x7f) {
            space = !out.empty();
            continue;
        }
        if (space) out += ' ';
        space = false;
        out += u >= 0x80 ? '?' : c;
    }
    return out;
}

// A value that must stay one token (an address, a queue id): anything but printable
// non-space US-ASCII becomes '?', so it can neither end the field nor split into two.
std::string token_text(std::string_view value) {
    std::string out(value);
    for (char& c : out) {
        if (!is_token_char(c)) c = '?';
    }
    return out;
}

// An RFC 8601 pvalue / authserv-id: kept as is when it is plainly a token of domain, address
// and selector characters, otherwise an RFC 5322 quoted-string.
std::string ar_value(std::string_view value) {
    bool plain = !value.empty();
    for (char c : value) {
        if (!(text::is_alpha(c) || text::is_digit(c) || c == '.' || c == '-' || c == '_' ||
              c == '+' || c == '@')) {
            plain = false;
        }
    }
    if (plain) return std::string(value);
    std::string out = "\"";
    for (char c : token_text(value)) {
        if (c == '"' || c == '\\') out += '\\';
        out += c;
    }
    out += '"';
    return out;
}

// A To / Bcc destination for `sendmail -t`, which reads the recipients from these fields: one
// plain addr-spec, nothing that could add a recipient, a field or a comment.
bool is_plain_addr_spec(std::string_view address) {
    const auto at = address.rfind('@');
    if (at == std::string_view::npos || at == 0 || at + 1 == address.size() ||
        address.size() > limits::kMaxFailureReportAddressBytes) {
        return false;
    }
    for (char c : address) {
        if (!is_token_char(c)) return false;
        if (c == ',' || c == ';' || c == '<' || c == '>' || c == '(' || c == ')' || c == '"' ||
            c == '\\' || c == ':' || c == '[' || c == ']') {
            return false;
        }
    }
    return true;
}

// atext (RFC 5322 §3.2.3) and '.', without '=': in trace fields an address often follows
// "key=" (smtp.mailfrom=alice@example.com), and SRS local-parts ("SRS0=h=tt=orig=alice") keep
// the original local-part after the last '='.
bool is_local_part_char(char c) noexcept {
    return c == '.' || (c != '=' && text::is_atext(c));
}

// Fields whose "x@y" is a message identifier, not a mailbox (RFC 5322 §3.6.4): kept, so the
// Domain Owner can find the message.
bool holds_message_ids(std::string_view name) {
    return text::iequals(name, "Message-ID") || text::iequals(name, "In-Reply-To") ||
           text::iequals(name, "References") || text::iequals(name, "Resent-Message-ID") ||
           text::iequals(name, "Content-ID");
}

// RFC 6590 redaction inside a header value: every local-part directly before an '@' that is
// followed by a domain (or address literal) is replaced by its token; the domain is kept.
std::string redact_header_value(std::string_view value, const std::array<std::uint64_t, 2>& k) {
    std::string out;
    std::size_t copied = 0;
    for (std::size_t at = value.find('@'); at != std::string_view::npos;
         at = value.find('@', at + 1)) {
        if (at + 1 >= value.size() || !(text::is_alpha(value[at + 1]) ||
                                        text::is_digit(value[at + 1]) || value[at + 1] == '[')) {
            continue;
        }
        std::size_t start = at;
        if (at > copied && value[at - 1] == '"') {
            // A quoted local-part ("john doe"@example.com): from its opening quote.
            const auto open = at >= 2 ? value.rfind('"', at - 2) : std::string_view::npos;
            if (open != std::string_view::npos && open >= copied) start = open;
        } else {
            while (start > copied && is_local_part_char(value[start - 1])) --start;
        }
        if (start == at) continue;  // "i=@example.com": no local-part
        out.append(value.substr(copied, start - copied));
        out += redaction_token(value.substr(start, at - start), k);
        copied = at;  // the '@' and the domain are copied with the next piece
    }
    out.append(value.substr(copied));
    return out;
}

// ---- The report ---------------------------------------------------------------------------------

// Whether an identifier that failed authentication (a failing signature's d=, the SPF domain)
// is aligned with the author domain: RFC 9991 asks for DKIM-* fields "for DKIM failures of an
// aligned identifier" and SPF-DNS "for SPF failure of an aligned identifier", and its
// Identity-Alignment lists exactly such mechanisms. The evaluation checks alignment only for
// passing identifiers, and core has no DNS here, so this uses what discovery learned: identical
// names; in relaxed mode a name at or below the author's Organizational Domain (or, when
// discovery did not determine it, at or below the author domain or the Organizational Domain
// where the policy record was found).
bool failed_identifier_aligned(std::string_view identifier, AlignMode mode, const Evaluation& e) {
    // Discovery keeps lower-case A-labels; normalised again so that a U-label cannot differ.
    const auto d_label = to_a_label_domain(identifier);
    const auto from_label = to_a_label_domain(e.rfc5322_from_domain);
    if (!d_label || !from_label) return false;
    const std::string& d = *d_label;
    const std::string& from = *from_label;
    if (d == from) return true;
    if (mode == AlignMode::strict) return false;
    if (!e.organizational_domain.empty()) {
        return is_same_or_subdomain(d, text::lower(e.organizational_domain));
    }
    if (is_same_or_subdomain(d, from)) return true;
    return e.policy_source == PolicySource::organizational && !e.policy_domain.empty() &&
           is_same_or_subdomain(d, text::lower(e.policy_domain));
}

AlignMode adkim(const Evaluation& e) {
    return e.published ? e.published->adkim : AlignMode::relaxed;
}
AlignMode aspf(const Evaluation& e) {
    return e.published ? e.published->aspf : AlignMode::relaxed;
}

// RFC 6591 §3.1 Delivery-Result: delivered / spam / policy / reject / other.
std::string_view delivery_result(MilterAction action) noexcept {
    switch (action) {
        case MilterAction::accept:
            return "delivered";
        case MilterAction::reject:
            return "reject";
        case MilterAction::quarantine:  // held by local policy (Postfix hold queue)
        case MilterAction::discard:
            return "policy";
        case MilterAction::tempfail:
            return "other";
    }
    return "other";
}

struct HeaderCopy {
    std::string text;
    std::size_t omitted_fields = 0;
    std::size_t malformed_fields = 0;
    bool eight_bit = false;
};

// The header block for text/rfc822-headers: each field "Name: value" with its folding kept,
// LF line ends, a continuation line always starting with white space and no empty line inside
// (either would end the block early), NUL and other controls but TAB replaced by '?'.
HeaderCopy copy_headers(const std::vector<HeaderField>& headers, const FailureReportSettings& s,
                        const std::array<std::uint64_t, 2>& k) {
    HeaderCopy copy;
    for (std::size_t i = 0; i < headers.size(); ++i) {
        const HeaderField& field = headers[i];
        bool name_ok =
            !field.name.empty() && field.name.size() <= limits::kMaxFailureReportTokenBytes;
        for (char c : field.name) {
            if (!is_token_char(c) || c == ':') name_ok = false;
        }
        if (!name_ok) {
            ++copy.malformed_fields;
            continue;
        }
        std::string value;
        std::size_t pos = 0;
        bool first = true;
        while (pos <= field.value.size()) {
            auto end = field.value.find_first_of("\r\n", pos);
            if (end == std::string::npos) end = field.value.size();
            std::string_view line = std::string_view(field.value).substr(pos, end - pos);
            if (first) {
                while (!line.empty() && text::is_wsp(line.front())) line.remove_prefix(1);
                value.append(line);
            } else if (!text::trim(line).empty()) {
                value += '\n';
                if (!text::is_wsp(line.front())) value += ' ';
                value.append(line);
            }
            first = false;
            if (end == field.value.size()) break;
            pos = end + 1;
            if (field.value[end] == '\r' && pos < field.value.size() && field.value[pos] == '\n') {
                ++pos;
            }
        }
        for (char& c : value) {
            const auto u = static_cast<unsigned char>(c);
            if ((u < 0x20 && c != '\t' && c != '\n') || u == 0x7f) c = '?';
            if (u >= 0x80) copy.eight_bit = true;
        }
        if (s.redact && !holds_message_ids(field.name)) value = redact_header_value(value, k);
        std::string line = field.name + ":" + (value.empty() ? "" : " ") + value + "\n";
        if (copy.text.size() + line.size() > s.max_header_bytes) {
            copy.omitted_fields = headers.size() - i;
            break;
        }
        copy.text += line;
    }
    return copy;
}

std::string original_subject(const std::vector<HeaderField>& headers) {
    for (const HeaderField& field : headers) {
        if (text::iequals(field.name, "Subject")) return field_text(field.value);
    }
    return {};
}

void fold_list(std::string& out, std::string_view name, std::span<const std::string> items) {
    out += name;
    out += ": ";
    for (std::size_t i = 0; i < items.size(); ++i) {
        if (i > 0) out += ",\n ";
        out += items[i];
    }
    out += '\n';
}

}  // namespace

FailureReportTrigger failure_report_trigger(const MessageVerdict& verdict, bool on_none) {
    FailureReportTrigger t;
    const Evaluation& e = verdict.evaluation;
    // Only a completed evaluation says which mechanisms gave an aligned pass; temperror and
    // permerror results say nothing about the sender.
    if (!verdict.evaluated || !e.published ||
        (e.result != DmarcResult::pass && e.result != DmarcResult::fail)) {
        return t;
    }
    // fo=0: "all underlying authentication mechanisms fail to produce an aligned 'pass'
    // result", which is DMARC fail.
    t.dmarc_failure = e.result == DmarcResult::fail;
    // fo=1: "any underlying authentication mechanism produced something other than an aligned
    // 'pass' result". This holds for a DMARC pass too (DKIM aligned, SPF not): RFC 9991 keeps
    // it ("Auth-Failure: dmarc ... when some or all of the authentication mechanisms failed to
    // produce aligned identifiers"), so fo=1 reports such a pass.
    t.aligned_failure = !e.dkim_aligned || !e.spf_aligned;
    for (const DkimAuthResult& dkim : verdict.dkim) {
        if (dkim_failed(dkim.result)) t.dkim_failure = true;
    }
    t.spf_failure = verdict.spf && spf_failed(verdict.spf->result);

    const DmarcRecord& record = *e.published;
    const FailureOptions& fo = record.fo;
    const bool fo_holds = (fo.all_fail && t.dmarc_failure) || (fo.any_fail && t.aligned_failure) ||
                          (fo.dkim && t.dkim_failure) || (fo.spf && t.spf_failure);
    const Policy policy = e.applied_policy.value_or(Policy::none);
    const bool policy_gate = policy != Policy::none || on_none;
    t.wanted = !verdict.is_dmarc_report && has_mailto_ruf(record) && record.psd != PsdFlag::yes &&
               policy_gate && fo_holds;
    return t;
}

std::string redact_address(std::string_view address, std::string_view key) {
    if (address.empty()) return {};
    const auto k = derive_key(key);
    const auto at = address.rfind('@');
    if (at == std::string_view::npos) return redaction_token(address, k);
    if (at == 0) return std::string(address);
    return redaction_token(address.substr(0, at), k) + std::string(address.substr(at));
}

Result<std::string> compose_failure_report(const MessageVerdict& verdict, const Envelope& envelope,
                                           const std::vector<HeaderField>& headers,
                                           std::span<const std::string> to,
                                           std::span<const std::string> bcc,
                                           const FailureReportSettings& settings,
                                           std::int64_t arrival, std::int64_t now) {
    if (to.empty()) return make_error(Errc::invalid_value, "failure report: no To address");
    bool sent_by_ok = !settings.sent_by.empty();
    for (char c : settings.sent_by) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7e) sent_by_ok = false;
    }
    if (!sent_by_ok) {
        return make_error(Errc::invalid_value,
                          "failure report: sent_by must be one line of printable US-ASCII");
    }
    for (const auto list : {to, bcc}) {
        for (const std::string& address : list) {
            if (!is_plain_addr_spec(address)) {
                return make_error(Errc::invalid_value,
                                  fmt::format("failure report: destination '{}' is not a plain "
                                              "addr-spec",
                                              token_text(address)));
            }
        }
    }

    const auto key = derive_key(settings.redaction_key);
    const Evaluation& e = verdict.evaluation;
    std::vector<std::string> omitted;  // what was left out, for the text part

    auto domain_or_note = [&](std::string_view name, std::string_view what) {
        if (name.empty()) return std::string();
        if (auto domain = to_a_label_domain(name)) return *domain;
        omitted.push_back(fmt::format("{}: not a domain name", what));
        return std::string();
    };
    auto token_or_note = [&](std::string_view value, std::size_t bound, std::string_view what) {
        if (value.size() > bound) {
            omitted.push_back(fmt::format("{}: over {} bytes", what, bound));
            return std::string();
        }
        return token_text(value);
    };
    auto address_text = [&](std::string_view address, std::string_view what) {
        auto safe = token_or_note(address, limits::kMaxFailureReportAddressBytes, what);
        return settings.redact ? redact_address(safe, settings.redaction_key) : safe;
    };

    const std::string from_domain = domain_or_note(e.rfc5322_from_domain, "author domain");
    const std::string policy_domain = domain_or_note(e.policy_domain, "policy domain");
    const std::string queue_id =
        token_or_note(envelope.queue_id, limits::kMaxFailureReportTokenBytes, "queue id");
    std::string authserv_id = !verdict.authserv_id.empty()     ? verdict.authserv_id
                              : !envelope.mta_hostname.empty() ? envelope.mta_hostname
                                                               : settings.reporting_mta;
    authserv_id = token_or_note(authserv_id, limits::kMaxFailureReportTokenBytes, "authserv-id");
    if (authserv_id.empty()) authserv_id = "localhost";
    auto host = to_a_label_domain(settings.reporting_mta);
    if (!host) host = to_a_label_domain(envelope.mta_hostname);
    if (!host) host = std::string("localhost");
    const std::string source_ip = envelope.client_ip ? envelope.client_ip->to_string() : "";
    const std::string arrival_date = rfc5322_date(arrival);

    // ---- Authentication-Results (RFC 8601) and the text part's result lines ----
    std::vector<std::string> resinfos;
    std::vector<std::string> summary;
    resinfos.push_back(
        fmt::format("dmarc={} header.from={}", to_string(e.result), ar_value(from_domain)));
    const std::size_t dkim_listed =
        std::min(verdict.dkim.size(), limits::kMaxFailureReportDkimResults);
    const DkimAuthResult* reported_dkim = nullptr;
    std::string reported_dkim_domain;
    for (std::size_t i = 0; i < verdict.dkim.size(); ++i) {
        const DkimAuthResult& dkim = verdict.dkim[i];
        const std::string d = token_or_note(dkim.dkim_d, limits::kMaxDomainBytes, "DKIM d=");
        const std::string s =
            token_or_note(dkim.selector, limits::kMaxFailureReportTokenBytes, "DKIM selector");
        if (!reported_dkim && dkim_failed(dkim.result)) {
            auto domain = to_a_label_domain(dkim.dkim_d);
            if (domain && failed_identifier_aligned(*domain, adkim(e), e)) {
                reported_dkim = &dkim;
                reported_dkim_domain = *domain;
            }
        }
        if (i >= dkim_listed) continue;
        std::string info = fmt::format("dkim={} header.d={}", to_string(dkim.result), ar_value(d));
        if (!s.empty()) info += " header.s=" + ar_value(s);
        resinfos.push_back(info);
        summary.push_back(fmt::format("DKIM: d={} s={} {}", d, s, to_string(dkim.result)));
    }
    if (verdict.dkim.size() > dkim_listed) {
        omitted.push_back(fmt::format("{} more DKIM results", verdict.dkim.size() - dkim_listed));
    }
    if (verdict.dkim.empty()) summary.push_back("DKIM: no signature");
    if (verdict.spf) {
        const std::string d =
            token_or_note(verdict.spf->domain, limits::kMaxDomainBytes, "SPF domain");
        const bool helo = verdict.spf->scope == SpfScope::helo;
        resinfos.push_back(fmt::format("spf={} smtp.{}={}", to_string(verdict.spf->result),
                                       helo ? "helo" : "mailfrom", ar_value(d)));
        summary.push_back(fmt::format("SPF: {} ({}) {}", d, helo ? "HELO" : "MAIL FROM",
                                      to_string(verdict.spf->result)));
    } else {
        summary.push_back("SPF: no result");
    }

    // ---- Part 3 first: its size and content decide the notes and the boundary ----
    const HeaderCopy copy = copy_headers(headers, settings, key);
    if (copy.omitted_fields > 0) {
        omitted.push_back(fmt::format("{} header fields past the {}-byte bound",
                                      copy.omitted_fields, settings.max_header_bytes));
    }
    if (copy.malformed_fields > 0) {
        omitted.push_back(
            fmt::format("{} header fields with an unusable name", copy.malformed_fields));
    }

    // ---- Part 2: message/feedback-report (RFC 6591 §3.1, RFC 9991 "Reporting Format Update",
    // field order of the RFC 9991 example) ----
    std::string feedback;
    feedback += "Feedback-Type: auth-failure\n";
    feedback += "Version: 1\n";
    feedback += fmt::format("User-Agent: {}\n", field_text(settings.user_agent));
    feedback += "Auth-Failure: dmarc\n";
    feedback += fmt::format("Authentication-Results: {}", ar_value(authserv_id));
    for (const std::string& info : resinfos) feedback += ";\n  " + info;
    feedback += '\n';
    // RFC 9991: "a comma-separated list of authentication mechanism names that failed to
    // authenticate an aligned identity, or the keyword 'none' if none did" (RFC 7489 §7.3.1
    // listed the mechanisms that DID produce an aligned identity; we follow RFC 9991). Read as
    // its Appendix A example does: there, dmarc=fail with failing DKIM signatures of the author
    // domain and an SPF identity of another domain gives "Identity-Alignment: dkim". A
    // mechanism is listed when it had an aligned identifier and that identifier failed; an SPF
    // pass for an unrelated domain is not a failure to authenticate an aligned identity.
    std::vector<std::string> failed_aligned;
    if (reported_dkim) failed_aligned.emplace_back("dkim");
    if (verdict.spf && spf_failed(verdict.spf->result) &&
        failed_identifier_aligned(verdict.spf->domain, aspf(e), e)) {
        failed_aligned.emplace_back("spf");
    }
    std::string identity_alignment = failed_aligned.empty() ? "none" : failed_aligned.front();
    if (failed_aligned.size() == 2) identity_alignment += ", " + failed_aligned.back();
    feedback += fmt::format("Identity-Alignment: {}\n", identity_alignment);
    if (reported_dkim) {
        const std::string& d = reported_dkim_domain;
        feedback += fmt::format("DKIM-Domain: {}\n", d);
        // The signature's i= when the verifier gave it (header.i), its local-part redacted like
        // every other address; otherwise i='s RFC 6376 §3.5 default, "@" d=.
        const std::string& i = reported_dkim->dkim_i;
        feedback += fmt::format("DKIM-Identity: {}\n",
                                i.empty() ? "@" + d : address_text(i, "DKIM identity"));
        const std::string s = token_text(reported_dkim->selector);
        if (!s.empty() && s.size() <= limits::kMaxFailureReportTokenBytes) {
            feedback += fmt::format("DKIM-Selector: {}\n", s);
        }
    }
    // SPF-DNS (RFC 6591 §3.2: `( "txt" / "spf" ) ":" domain-name ":" quoted-string`; RFC 9991
    // requires it for an SPF failure): the records the caller looked up, for any SPF failure
    // (fo=s asks about failures regardless of alignment). Record text comes from the DNS:
    // controls and 8-bit bytes cannot end the field (field_text), quotes are escaped.
    if (verdict.spf && spf_failed(verdict.spf->result)) {
        std::size_t written = 0;
        for (const SpfDnsRecord& record : settings.spf_dns) {
            const auto domain = to_a_label_domain(record.domain);
            if (!domain || written == limits::kMaxFailureReportSpfRecords) continue;
            if (record.text.size() > limits::kMaxFailureReportSpfRecordBytes) {
                omitted.push_back(fmt::format("an SPF record of {} over {} bytes", *domain,
                                              limits::kMaxFailureReportSpfRecordBytes));
                continue;
            }
            std::string quoted;
            for (char c : field_text(record.text)) {
                if (c == '"' || c == '\\') quoted += '\\';
                quoted += c;
            }
            feedback += fmt::format("SPF-DNS: txt : {} : \"{}\"\n", *domain, quoted);
            ++written;
        }
    }
    if (!queue_id.empty()) feedback += fmt::format("Original-Envelope-Id: {}\n", queue_id);
    if (envelope.mail_from.empty()) {
        feedback += "Original-Mail-From: <>\n";
    } else if (auto mail_from = address_text(envelope.mail_from, "Original-Mail-From");
               !mail_from.empty()) {
        feedback += fmt::format("Original-Mail-From: {}\n", mail_from);
    }
    const std::size_t rcpt_listed =
        std::min(envelope.rcpt_to.size(), limits::kMaxFailureReportRecipients);
    for (std::size_t i = 0; i < rcpt_listed; ++i) {
        if (auto rcpt = address_text(envelope.rcpt_to[i], "Original-Rcpt-To"); !rcpt.empty()) {
            feedback += fmt::format("Original-Rcpt-To: {}\n", rcpt);
        }
    }
    if (envelope.rcpt_to.size() > rcpt_listed) {
        omitted.push_back(
            fmt::format("{} more envelope recipients", envelope.rcpt_to.size() - rcpt_listed));
    }
    feedback += fmt::format("Arrival-Date: {}\n", arrival_date);
    if (!source_ip.empty()) feedback += fmt::format("Source-IP: {}\n", source_ip);
    // RFC 6692 §2 (added to failure reports by RFC 9991): with Source-IP, the port tells apart
    // clients behind one address (NAT, carrier-grade NAT).
    if (!source_ip.empty() && envelope.client_port != 0) {
        feedback += fmt::format("Source-Port: {}\n", envelope.client_port);
    }
    if (!from_domain.empty()) feedback += fmt::format("Reported-Domain: {}\n", from_domain);
    feedback += fmt::format("Delivery-Result: {}\n", delivery_result(verdict.action));

    // ---- Part 1: text/plain ----
    std::string human = fmt::format(
        "This is an authentication failure report for an email message\nreceived from IP {} on "
        "{}.\n\n",
        source_ip.empty() ? "(local submission)" : source_ip, arrival_date);
    human += fmt::format("Author domain (RFC5322.From): {}\n", from_domain);
    human += fmt::format("Policy domain: {}", policy_domain);
    if (e.applied_policy) human += fmt::format(" (policy {})", to_string(*e.applied_policy));
    human += fmt::format("\nDMARC result: {}\n", to_string(e.result));
    for (const std::string& line : summary) human += line + "\n";
    human += fmt::format("Action taken: {}\n", delivery_result(verdict.action));
    if (verdict.arc_override)
        human += "The failure was not enforced because of a trusted ARC pass.\n";
    if (settings.redact) {
        human +=
            "Local-parts of addresses are redacted (RFC 6590); message identifiers are "
            "kept.\n";
    }
    for (const std::string& note : omitted) human += "Left out: " + note + "\n";

    // ---- Subject ----
    std::string subject = original_subject(headers);
    if (settings.redact) subject = redact_header_value(subject, key);
    if (subject.empty() || subject.size() > limits::kMaxFailureReportSubjectBytes) {
        subject = fmt::format("DMARC failure report for {}",
                              from_domain.empty() ? "an invalid author domain" : from_domain);
        if (!queue_id.empty()) subject += fmt::format(" ({})", queue_id);
    } else {
        subject = "FW: " + subject;
    }

    // ---- Boundary and Message-ID: deterministic (core has no randomness) and re-drawn in the
    // unlikely case the boundary occurs in a part. ----
    std::string body_parts = human + feedback + copy.text;
    std::string boundary;
    std::uint64_t id = 0;
    for (std::uint64_t attempt = 0;; ++attempt) {
        id = siphash24(attempt, 0x6661696c75726500ULL,
                       fmt::format("{}\n{}\n{}\n{}", now, queue_id, from_domain, source_ip));
        boundary = fmt::format("=_dmarc_failure_{:016x}", id);
        if (body_parts.find("--" + boundary) == std::string::npos) break;
        if (attempt == 16) {
            return make_error(Errc::invalid_value, "failure report: no usable MIME boundary");
        }
    }

    std::string out;
    out += fmt::format("From: {}\n", settings.sent_by);
    fold_list(out, "To", to);
    if (!bcc.empty()) fold_list(out, "Bcc", bcc);
    out += fmt::format("Date: {}\n", rfc5322_date(now));
    out += fmt::format("Subject: {}\n", subject);
    out += fmt::format("Message-ID: <{}.{:016x}.dmarc-failure@{}>\n", now, id, *host);
    out += "MIME-Version: 1.0\n";
    out += "Auto-Submitted: auto-generated\n";
    out += fmt::format(
        "Content-Type: multipart/report; report-type=feedback-report;\n  boundary=\"{}\"\n",
        boundary);
    out +=
        "\nThis is a MIME-formatted message.  If you see this text it means that\n"
        "your E-mail software does not support MIME-formatted messages.\n";
    out += fmt::format("\n--{}\n", boundary);
    out += "Content-Type: text/plain; charset=us-ascii\n";
    out += "Content-Disposition: inline\n";
    out += "Content-Transfer-Encoding: 7bit\n\n";
    out += human;
    out += fmt::format("\n--{}\n", boundary);
    out += "Content-Type: message/feedback-report\n";
    out += "Content-Transfer-Encoding: 7bit\n\n";
    out += feedback;
    out += fmt::format("\n--{}\n", boundary);
    out += "Content-Type: text/rfc822-headers\n";
    out += fmt::format("Content-Transfer-Encoding: {}\n\n", copy.eight_bit ? "8bit" : "7bit");
    out += copy.text;
    out += fmt::format("\n--{}--\n", boundary);
    return out;
}

}  // namespace dmarc
