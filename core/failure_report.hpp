// DMARC failure reports: when one is wanted (fo=, RFC 7489 §6.3 / RFC 9989 §4.7; ruf of a psd=y
// record ignored, RFC 9991 "Failure Reports") and the report mail itself, an AFRF message
// (RFC 6591 §3 as updated by RFC 9991 "Reporting Format Update"; ARF, RFC 5965) with the
// original header block redacted as RFC 6590 describes. Pure: time, the host name and the redaction
// key are parameters. The milter pipes the mail to `sendmail -t` (OpenDMARC's ReportCommand), so it
// has LF line ends.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/limits.hpp"
#include "core/result.hpp"
#include "core/verdict.hpp"

namespace dmarc {

// What fo= asks about this verdict, and whether a report is wanted.
struct FailureReportTrigger {
    bool wanted = false;           // send a report (every condition of failure_report_trigger)
    bool dmarc_failure = false;    // no aligned pass at all: DMARC fail (fo=0)
    bool aligned_failure = false;  // some mechanism gave no aligned pass (fo=1)
    bool dkim_failure = false;     // a DKIM signature failed evaluation, aligned or not (fo=d)
    bool spf_failure = false;      // SPF failed, aligned or not (fo=s)
};

// wanted = the message was evaluated, is not itself a DMARC report (a report about a report can
// loop, RFC 9991 "Transport"), the DMARC result is pass or fail with a published record that
// has at least one mailto: ruf URI and is not psd=y, the applied policy is reject or quarantine
// (none only when on_none: OpenDMARC's FailureReportsOnNone), and at least one option of fo=
// holds. Unlike OpenDMARC (which ignores fo=, opendmarc.md §2.10) fo= is honoured. Which results
// count as "failed" is written at the definitions in failure_report.cpp.
FailureReportTrigger failure_report_trigger(const MessageVerdict& verdict, bool on_none);

// A TXT record of the SPF domain that starts with v=spf1, as the DNS returned it when the report
// was made (the verdict keeps results, not records).
struct SpfDnsRecord {
    std::string domain;
    std::string text;
};

struct FailureReportSettings {
    std::string sent_by;        // From: field, e.g. "dmarc-milter <postmaster@mx.example.org>"
    std::string reporting_mta;  // our host name: Message-ID right side, authserv-id fallback
    std::string user_agent = "dmarc-milter/1";
    // RFC 6590 redaction of local-parts in the copied header block and in Original-Mail-From /
    // Original-Rcpt-To.
    bool redact = true;
    // Secret mixed into the redaction (SipHash-2-4 keyed with it): equal local-parts give equal
    // tokens under one key, and a reader without the key cannot test guesses. Empty: the
    // tokens are still stable but anyone can recompute them, so the caller should set one.
    std::string redaction_key;
    std::size_t max_header_bytes = limits::kMaxFailureReportHeaderBytes;
    // SPF-DNS (RFC 6591 §3.2; RFC 9991 requires it for an SPF failure): written when SPF failed,
    // one field per record, `txt : <domain> : "<record>"`.
    std::vector<SpfDnsRecord> spf_dns;
};

// The whole report mail, LF line ends, ready for `sendmail -t`: From (sent_by), To (to, comma
// separated), Bcc (when any), Date (RFC 5322, from now), Subject ("FW: <original subject>" as
// in the RFC 9991 Appendix A example; "DMARC failure report for <domain>" when the message has
// no usable Subject), Message-ID, MIME-Version, Auto-Submitted, and multipart/report;
// report-type=feedback-report with (1) a text/plain summary, (2) message/feedback-report and
// (3) text/rfc822-headers (the header block, no body). Every untrusted value is made safe for
// its field: no CR/LF, domains as A-labels, other 8-bit bytes replaced by '?' (the copied
// header block keeps its 8-bit bytes and is then declared 8bit); a value over its bound, recipients
// past limits::kMaxFailureReportRecipients and header fields past settings.max_header_bytes are
// left out and the text part says what was left out. Errors (Errc::invalid_value): to empty,
// sent_by empty or with a control character, a To/Bcc entry that is not a plain addr-spec.
Result<std::string> compose_failure_report(const MessageVerdict& verdict, const Envelope& envelope,
                                           const std::vector<HeaderField>& headers,
                                           std::span<const std::string> to,
                                           std::span<const std::string> bcc,
                                           const FailureReportSettings& settings,
                                           std::int64_t arrival, std::int64_t now);

// RFC 6590 §4-style redaction of one addr-spec's local-part: "alice@example.com" ->
// "redacted-<16 hex>@example.com", the token SipHash-2-4 of the local-part under key. The part
// after the last '@' is kept as it is; without '@' the whole text is a local-part. Empty stays
// empty. Exposed for tests and the milter's log lines.
std::string redact_address(std::string_view address, std::string_view key);

}  // namespace dmarc
