// OpenDMARC history record -> SpoolRow (see history_row.hpp).
#include "core/history_row.hpp"

#include <cstddef>
#include <initializer_list>

#include "core/record.hpp"

namespace dmarc {
namespace {

// The history file's codes <-> our enums, one table per field, read both ways: a value's code is
// its first entry; a code's value is its entry. Entries after a value's first are codes that
// only ever come in (written by OpenDMARC, never by us).
template <class Value>
struct CodeEntry {
    int code;
    Value value;
};

constexpr CodeEntry<DkimResult> kDkimAres[] = {
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

constexpr CodeEntry<SpfResult> kSpfAres[] = {
    {ares::kPass, SpfResult::pass},           {ares::kFail, SpfResult::fail},
    {ares::kSoftfail, SpfResult::softfail},   {ares::kNeutral, SpfResult::neutral},
    {ares::kTemperror, SpfResult::temperror}, {ares::kPermerror, SpfResult::permerror},
    {ares::kNone, SpfResult::none},           {ares::kNxdomain, SpfResult::permerror},
};

// p and sp as ASCII codes; 0 (or anything else) is unspecified.
constexpr CodeEntry<Policy> kPolicyLetters[] = {
    {'n', Policy::none},
    {'q', Policy::quarantine},
    {'r', Policy::reject},
};

constexpr CodeEntry<MilterAction> kHistoryActions[] = {
    {history_action::kReject, MilterAction::reject},
    {history_action::kDiscard, MilterAction::discard},
    {history_action::kAccept, MilterAction::accept},
    {history_action::kTempfail, MilterAction::tempfail},
    {history_action::kQuarantine, MilterAction::quarantine},
};

template <class Value, std::size_t N>
constexpr std::optional<Value> value_of_code(const CodeEntry<Value> (&table)[N],
                                             int code) noexcept {
    for (const auto& e : table) {
        if (e.code == code) return e.value;
    }
    return std::nullopt;
}

template <class Value, std::size_t N>
constexpr std::optional<int> code_of_value(const CodeEntry<Value> (&table)[N],
                                           Value value) noexcept {
    for (const auto& e : table) {
        if (e.value == value) return e.code;
    }
    return std::nullopt;
}

// Every value has a code, and reads back from it as itself.
template <class Value, std::size_t N>
constexpr bool round_trips(const CodeEntry<Value> (&table)[N],
                           std::initializer_list<Value> values) {
    for (Value v : values) {
        auto code = code_of_value(table, v);
        if (!code || value_of_code(table, *code) != v) return false;
    }
    return true;
}
static_assert(round_trips(kDkimAres,
                          {DkimResult::none, DkimResult::pass, DkimResult::fail, DkimResult::policy,
                           DkimResult::neutral, DkimResult::temperror, DkimResult::permerror}));
static_assert(round_trips(kSpfAres,
                          {SpfResult::none, SpfResult::neutral, SpfResult::pass, SpfResult::fail,
                           SpfResult::softfail, SpfResult::temperror, SpfResult::permerror}));
static_assert(round_trips(kPolicyLetters, {Policy::none, Policy::quarantine, Policy::reject}));
static_assert(round_trips(kHistoryActions,
                          {MilterAction::accept, MilterAction::reject, MilterAction::quarantine,
                           MilterAction::tempfail, MilterAction::discard}));

std::string fo_from_bits(int bits) {
    return to_string(
        FailureOptions{(bits & 1) != 0, (bits & 2) != 0, (bits & 4) != 0, (bits & 8) != 0});
}

}  // namespace

DkimResult dkim_result_from_ares(int code) noexcept {
    return value_of_code(kDkimAres, code).value_or(DkimResult::none);
}

SpfResult spf_result_from_ares(int code) noexcept {
    return value_of_code(kSpfAres, code).value_or(SpfResult::none);
}

int ares_from_dkim_result(DkimResult result) noexcept {
    return code_of_value(kDkimAres, result).value_or(ares::kNone);
}

int ares_from_spf_result(SpfResult result) noexcept {
    return code_of_value(kSpfAres, result).value_or(ares::kNone);
}

int history_policy_letter(std::optional<Policy> policy) noexcept {
    return policy ? code_of_value(kPolicyLetters, *policy).value_or(0) : 0;
}

int history_action_code(MilterAction action) noexcept {
    return code_of_value(kHistoryActions, action).value_or(history_action::kAccept);
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
        record.p = value_of_code(kPolicyLetters, h.p).value_or(Policy::none);
        record.sp = value_of_code(kPolicyLetters, h.sp);
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
    row.action = value_of_code(kHistoryActions, h.action).value_or(MilterAction::accept);
    row.disposition = row.action == MilterAction::reject || row.action == MilterAction::discard
                          ? Disposition::reject
                      : row.action == MilterAction::quarantine ? Disposition::quarantine
                                                               : Disposition::none;
    return row;
}

}  // namespace dmarc
