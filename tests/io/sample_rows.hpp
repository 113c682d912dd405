// Varied SpoolRow values for the spool and store tests: with and without a record, several DKIM
// signatures, override reasons, empty lists and lists holding an empty item, bytes that need
// escaping, IPv4 and IPv6 clients.
#pragma once

#include <string>

#include "core/spool_row.hpp"

namespace dmarc::test {

inline SpoolRow sample_row(int i) {
    SpoolRow row;
    row.time = 1700000000 + i;
    row.queue_id = "Q" + std::to_string(i);
    row.reporter_host = (i % 3 == 0) ? "mx1.example.net" : "mx2.example.net";
    row.client_ip =
        (i % 2 == 0) ? "192.0.2." + std::to_string(i % 250) : "2001:db8::" + std::to_string(i % 97);
    row.helo =
        (i % 7 == 0) ? "odd\\helo\nname" : "mail.sender" + std::to_string(i % 11) + ".example";
    row.rfc5321_mail_from =
        (i % 5 == 0) ? "" : "bounce@sender" + std::to_string(i % 11) + ".example";
    if (i % 4 == 1) row.rfc5321_rcpt_to = {"a@rcpt.example", "b@rcpt.example"};
    if (i % 4 == 2) row.rfc5321_rcpt_to = {""};
    if (i % 4 == 3) row.rfc5321_rcpt_to = {"c@rcpt.example"};
    row.rfc5322_from_domain = "sender" + std::to_string(i % 11) + ".example";
    if (i % 6 != 5) {
        row.policy_domain = row.rfc5322_from_domain;
        row.discovery_method = (i % 2) ? DiscoveryMethod::treewalk : DiscoveryMethod::psl;
        PublishedPolicy record;
        record.p = static_cast<Policy>(i % 3);
        if (i % 4 == 0) record.sp = Policy::quarantine;
        if (i % 8 == 0) record.np = Policy::reject;
        record.adkim = (i % 2) ? AlignMode::strict : AlignMode::relaxed;
        record.pct = static_cast<std::uint8_t>(i % 101);
        record.testing = i % 9 == 0;
        record.fo = (i % 2) ? "0" : "1:d";
        record.rua = {"mailto:dmarc@" + row.rfc5322_from_domain};
        if (i % 3 == 0) record.rua.push_back("mailto:agg@third.example!10m");
        row.record = record;
        row.policy_applied = record.p;
    }
    row.spf_result = static_cast<SpfResult>(i % 7);
    row.spf_domain = row.rfc5321_mail_from.empty() ? row.helo : "sender.example";
    row.spf_scope = row.rfc5321_mail_from.empty() ? SpfScope::helo : SpfScope::mfrom;
    for (int k = 0; k < i % 3; ++k) {
        row.dkim.push_back(SpoolDkim{"d" + std::to_string(k) + ".example",
                                     k == 1 ? "" : "sel" + std::to_string(k),
                                     static_cast<DkimResult>((i + k) % 7)});
    }
    row.arc = static_cast<ArcResult>(i % 3);
    row.dkim_aligned = i % 2 == 0;
    row.spf_aligned = i % 3 == 0;
    row.dmarc_result = static_cast<DmarcResult>(i % 5);
    row.disposition = static_cast<Disposition>(i % 4);
    if (i % 5 == 1) row.override_reasons = {OverrideReason::sampled_out};
    if (i % 5 == 2) {
        row.override_reasons = {OverrideReason::local_policy, OverrideReason::policy_test_mode};
    }
    row.action = static_cast<MilterAction>(i % 5);
    row.is_report = i % 13 == 0;
    return row;
}

}  // namespace dmarc::test
