// Varied SpoolRow values for the spool and store tests: with and without a record, several DKIM
// signatures, override reasons, empty lists and lists holding an empty item, bytes that need
// escaping, IPv4 and IPv6 clients.
#pragma once

#include <string>

#include "core/history_text.hpp"
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
        if (i % 5 == 1) record.ri = 3600;  // RFC 7489 §6.3 ri= (spool_0002, store_0005)
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

// An OpenDMARC history record (opendmarc.md §3) with varied codes, as opendmarc writes them.
inline HistoryRecord sample_history(int i) {
    HistoryRecord h;
    h.job = "J" + std::to_string(i);
    h.reporter = (i % 2) ? "mx1.example.net" : "mx2.example.net";
    h.received = 1700000000 + i / 3;
    h.ipaddr = (i % 4 == 0) ? "2001:db8::" + std::to_string(i % 500)
                            : "198.51." + std::to_string(i % 200) + "." + std::to_string(i % 250);
    h.from = "From" + std::to_string(i % 1000) + ".Example";
    h.mfrom = (i % 5 == 0) ? "" : "bounce" + std::to_string(i % 300) + ".example";
    for (int k = 0; k < i % 3; ++k) {
        h.dkim.push_back(HistoryDkim{"d" + std::to_string(i % 700) + ".example",
                                     k ? "sel" + std::to_string(k) : "", (i + k) % 2 ? 0 : 7});
    }
    h.spf = {(i % 7 == 0) ? 7 : 0};
    h.pdomain = "from" + std::to_string(i % 1000) + ".example";
    h.policy = 14 + i % 5;
    if (h.policy != 14) {
        h.rua = {"mailto:dmarc@" + h.pdomain};
        h.pct = 100;
        h.adkim = 'r';
        h.aspf = (i % 2) ? 'r' : 's';
        h.p = "nqr"[i % 3];
        h.sp = (i % 4) ? 0 : 'q';
    }
    h.align_dkim = (i % 2) ? 4 : 5;
    h.align_spf = (i % 3) ? 4 : 5;
    if (i % 10 == 0) {
        h.arc = 0;
        h.arc_policy = 2;
        h.arc_policy_json =
            "json:[{ \"i\": 1, \"d\":\"lists.example\", \"s\":\"arc1\", \"ip\":\"\" }]";
    }
    h.action = (h.policy == 16) ? 0 : 2;
    return h;
}

}  // namespace dmarc::test
