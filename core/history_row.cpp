// OpenDMARC history record -> SpoolRow (see history_row.hpp).
#include "core/history_row.hpp"

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

}  // namespace

DkimResult dkim_result_from_ares(int code) noexcept {
    switch (code) {
        case ares::kPass:
            return DkimResult::pass;
        case ares::kFail:
        case ares::kSoftfail:
            return DkimResult::fail;
        case ares::kNeutral:
            return DkimResult::neutral;
        case ares::kPolicy:
            return DkimResult::policy;
        case ares::kTemperror:
            return DkimResult::temperror;
        case ares::kPermerror:
        case ares::kNxdomain:
            return DkimResult::permerror;
        default:
            return DkimResult::none;
    }
}

SpfResult spf_result_from_ares(int code) noexcept {
    switch (code) {
        case ares::kPass:
            return SpfResult::pass;
        case ares::kFail:
            return SpfResult::fail;
        case ares::kSoftfail:
            return SpfResult::softfail;
        case ares::kNeutral:
            return SpfResult::neutral;
        case ares::kTemperror:
            return SpfResult::temperror;
        case ares::kPermerror:
        case ares::kNxdomain:
            return SpfResult::permerror;
        default:
            return SpfResult::none;
    }
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
