// One evaluated message as the milter hands it to the history spool (design.md §7, issue 4 item 4):
// the facts behind the verdict, enough for an RFC 7489 Appendix C / RFC 9990 aggregate report
// record and the dashboard's evaluation trace. Pure data: the milter fills it, io/spool stores
// it, the collector moves it into the store.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/types.hpp"

namespace dmarc {

// The DMARC record as found in DNS at evaluation time (RFC 7489 §6.3, RFC 9989 §4.7): reports
// publish the policy in force when the messages were evaluated, not today's record.
struct PublishedPolicy {
    Policy p = Policy::none;
    std::optional<Policy> sp;  // absent: not published
    std::optional<Policy> np;  // absent: not published
    AlignMode adkim = AlignMode::relaxed;
    AlignMode aspf = AlignMode::relaxed;
    std::uint8_t pct = 100;
    bool testing = false;          // t=y
    std::string fo = "0";          // fo= as published, colon-separated options
    std::vector<std::string> rua;  // each URI as published, with any !size suffix
    // ri= (RFC 7489 §6.3): seconds requested between aggregate reports; 86400 when not
    // published, and for rows from OpenDMARC history files (which do not record it).
    std::uint32_t ri = 86400;
    friend bool operator==(const PublishedPolicy&, const PublishedPolicy&) = default;
};

// One DKIM signature result (RFC 8601 §2.7.1), pass or not, with its selector.
struct SpoolDkim {
    std::string dkim_d;
    std::string dkim_s;  // empty when unknown
    DkimResult result = DkimResult::none;
    friend bool operator==(const SpoolDkim&, const SpoolDkim&) = default;
};

struct SpoolRow {
    std::int64_t time = 0;  // UTC epoch seconds at end-of-message
    std::string queue_id;   // MTA job id (milter macro i)
    std::string reporter_host;
    std::string client_ip;  // text form of the SMTP client address
    std::string helo;
    std::string rfc5321_mail_from;                    // envelope sender as given, may be empty (<>)
    std::vector<std::string> rfc5321_rcpt_to;         // envelope recipients
    std::string rfc5322_from_domain;                  // header_from
    std::string policy_domain;                        // where the record was found; empty if none
    std::optional<DiscoveryMethod> discovery_method;  // absent when no record was found
    std::optional<PublishedPolicy> record;            // absent when no record was found

    SpfResult spf_result = SpfResult::none;
    std::string spf_domain;  // the identity checked (mail from domain, or HELO)
    SpfScope spf_scope = SpfScope::mfrom;

    std::vector<SpoolDkim> dkim;
    ArcResult arc = ArcResult::none;

    bool dkim_aligned = false;  // an aligned DKIM pass (RFC 7489 §3.1.1)
    bool spf_aligned = false;   // an aligned SPF pass (RFC 7489 §3.1.2)
    DmarcResult dmarc_result = DmarcResult::none;
    std::optional<Policy> policy_applied;  // p, sp or np as chosen; absent with no record
    Disposition disposition = Disposition::none;
    std::vector<OverrideReason> override_reasons;
    MilterAction action = MilterAction::accept;
    // The message is itself a DMARC report: reports about reports never trigger a report.
    bool is_report = false;

    friend bool operator==(const SpoolRow&, const SpoolRow&) = default;
};

// Lists inside one text column of the spool and the store: every item is followed by a newline;
// a backslash or a newline inside an item is written as backslash-backslash or backslash-n. So []
// and [""] differ and any bytes round-trip; decode_list gives nullopt for text encode_list cannot
// produce.
std::string encode_list(const std::vector<std::string>& items);
std::optional<std::vector<std::string>> decode_list(std::string_view text);

}  // namespace dmarc
