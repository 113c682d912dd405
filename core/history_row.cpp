// OpenDMARC history record -> SpoolRow (see history_row.hpp).
#include "core/history_row.hpp"

#include <cstddef>

namespace dmarc {
namespace {

std::optional<Policy> policy_from_ascii(int code) {
    switch (code) {
        case 'n':
            return Policy::none;
        case 'q':
            return Policy::quarantine;
        case 'r':
            return Policy::reject;
        default:
            return std::nullopt;  // 0: unspecified
    }
}

std::string fo_from_bits(int bits) {
    std::string out;
    auto add = [&](int bit, const char* option) {
        if (bits & bit) {
            if (!out.empty()) out += ':';
            out += option;
        }
    };
    add(1, "0");
    add(2, "1");
    add(4, "d");
    add(8, "s");
    return out.empty() ? "0" : out;
}

// ARES code <-> result, one table per result kind, read both ways: a result's code is its first
// entry; a code's result is its entry, none for codes without one (signed, unknown, discard, not
// evaluated). The entries after the first per result are codes that only ever come in.
template <class Result>
struct AresEntry {
    int code;
    Result result;
};

constexpr AresEntry<DkimResult> kDkimAres[] = {
    {ares::kPass, DkimResult::pass},
    {ares::kFail, DkimResult::fail},
    {ares::kPolicy, DkimResult::policy},
    {ares::kNeutral, DkimResult::neutral},
    {ares::kTemperror, DkimResult::temperror},
    {ares::kPermerror, DkimResult::permerror},
    {ares::kNone, DkimResult::none},
    {ares::kSoftfail, DkimResult::fail},  // RFC 8601 has no dkim softfail
    {ares::kNxdomain, DkimResult::permerror},
};

constexpr AresEntry<SpfResult> kSpfAres[] = {
    {ares::kPass, SpfResult::pass},           {ares::kFail, SpfResult::fail},
    {ares::kSoftfail, SpfResult::softfail},   {ares::kNeutral, SpfResult::neutral},
    {ares::kTemperror, SpfResult::temperror}, {ares::kPermerror, SpfResult::permerror},
    {ares::kNone, SpfResult::none},           {ares::kNxdomain, SpfResult::permerror},
};

template <class Result, std::size_t N>
constexpr Result result_of_ares(const AresEntry<Result> (&table)[N], int code) noexcept {
    for (const auto& e : table) {
        if (e.code == code) return e.result;
    }
    return Result::none;
}

template <class Result, std::size_t N>
constexpr int ares_of_result(const AresEntry<Result> (&table)[N], Result result) noexcept {
    for (const auto& e : table) {
        if (e.result == result) return e.code;
    }
    return ares::kNone;
}

// Every result survives the round trip through its code.
static_assert([] {
    for (auto r : {DkimResult::none, DkimResult::pass, DkimResult::fail, DkimResult::policy,
                   DkimResult::neutral, DkimResult::temperror, DkimResult::permerror}) {
        if (result_of_ares(kDkimAres, ares_of_result(kDkimAres, r)) != r) return false;
    }
    for (auto r : {SpfResult::none, SpfResult::neutral, SpfResult::pass, SpfResult::fail,
                   SpfResult::softfail, SpfResult::temperror, SpfResult::permerror}) {
        if (result_of_ares(kSpfAres, ares_of_result(kSpfAres, r)) != r) return false;
    }
    return true;
}());

}  // namespace

DkimResult dkim_result_from_ares(int code) noexcept {
    return result_of_ares(kDkimAres, code);
}

SpfResult spf_result_from_ares(int code) noexcept {
    return result_of_ares(kSpfAres, code);
}

int ares_from_dkim_result(DkimResult result) noexcept {
    return ares_of_result(kDkimAres, result);
}

int ares_from_spf_result(SpfResult result) noexcept {
    return ares_of_result(kSpfAres, result);
}

SpoolRow to_spool_row(const HistoryRecord& h) {
    SpoolRow row;
    row.time = h.received;
    row.queue_id = h.job;
    row.reporter_host = h.reporter;
    row.client_ip = h.ipaddr;
    // History keeps only the envelope domain; it stands in for the address.
    row.rfc5321_mail_from = h.mfrom;
    row.rfc5322_from_domain = h.from;
    row.policy_domain = h.pdomain;
    if (h.policy != history_policy::kAbsent) {
        PublishedPolicy record;
        record.p = policy_from_ascii(h.p).value_or(Policy::none);
        record.sp = policy_from_ascii(h.sp);
        record.adkim = h.adkim == 's' ? AlignMode::strict : AlignMode::relaxed;
        record.aspf = h.aspf == 's' ? AlignMode::strict : AlignMode::relaxed;
        record.pct = static_cast<std::uint8_t>(h.pct < 0 ? 0 : (h.pct > 100 ? 100 : h.pct));
        record.fo = h.fo ? fo_from_bits(*h.fo) : "0";
        record.rua = h.rua;
        row.record = std::move(record);
    }
    // Several spf lines mean several trusted SPF results; a pass among them is what counted.
    if (!h.spf.empty()) {
        row.spf_result = spf_result_from_ares(h.spf.front());
        for (int code : h.spf) {
            if (code == ares::kPass) row.spf_result = SpfResult::pass;
        }
    }
    row.spf_scope = (h.spf_scope && *h.spf_scope == 2) ? SpfScope::helo : SpfScope::mfrom;
    if (row.spf_scope == SpfScope::mfrom) row.spf_domain = h.mfrom;
    for (const auto& d : h.dkim) {
        row.dkim.push_back(SpoolDkim{d.domain, d.selector, dkim_result_from_ares(d.result)});
    }
    if (h.arc) {
        row.arc = *h.arc == ares::kPass
                      ? ArcResult::pass
                      : (*h.arc == ares::kFail ? ArcResult::fail : ArcResult::none);
    }
    row.dkim_aligned = h.align_dkim == 4;
    row.spf_aligned = h.align_spf == 4;
    switch (h.policy) {
        case history_policy::kPass:
            row.dmarc_result = DmarcResult::pass;
            row.policy_applied = row.record ? std::optional(row.record->p) : std::nullopt;
            break;
        case history_policy::kReject:
            row.dmarc_result = DmarcResult::fail;
            row.policy_applied = Policy::reject;
            break;
        case history_policy::kQuarantine:
            row.dmarc_result = DmarcResult::fail;
            row.policy_applied = Policy::quarantine;
            break;
        case history_policy::kNone:
            row.dmarc_result = DmarcResult::fail;
            row.policy_applied = Policy::none;
            break;
        default:
            row.dmarc_result = DmarcResult::none;
            break;
    }
    switch (h.action) {
        case history_action::kReject:
            row.action = MilterAction::reject;
            row.disposition = Disposition::reject;
            break;
        case history_action::kDiscard:
            row.action = MilterAction::discard;
            row.disposition = Disposition::reject;
            break;
        case history_action::kTempfail:
            row.action = MilterAction::tempfail;
            row.disposition = Disposition::none;
            break;
        case history_action::kQuarantine:
            row.action = MilterAction::quarantine;
            row.disposition = Disposition::quarantine;
            break;
        default:
            row.action = MilterAction::accept;
            row.disposition = Disposition::none;
            break;
    }
    return row;
}

}  // namespace dmarc
