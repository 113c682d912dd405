// The aggregate report e-mail (RFC 7489 §7.2.1.1, RFC 9990 §5): the attachment's filename,
// the Subject, a multipart/mixed MIME message (RFC 2045/2046) with a short text part and the
// base64 report; the !size check against the encoded message (RFC 7489 §6.2, §7.2.1); and the
// RFC 7489 §7.2.2 error report. Pure: Date and Message-ID are parameters (core has no clock).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/aggregate.hpp"
#include "core/result.hpp"

namespace dmarc {

enum class ReportCompression : std::uint8_t {
    gzip,  // application/gzip, ".xml.gz" (RFC 9990: MUST when compressed)
    zip,   // application/zip, ".zip" holding the ".xml" (what Google sends; no RFC ABNF has it)
};
std::string_view media_type(ReportCompression compression) noexcept;

// receiver "!" policy-domain "!" begin "!" end "!" unique-id "." extension (RFC 9990 §5 ABNF;
// unique-id = the report_id, which make_report_id keeps alphanumeric). Without the extension:
// report_filename_stem. Errors: a name part that is not a domain (letters, digits, '-', '.'),
// a report_id that is not alphanumeric, or begin > end.
Result<std::string> report_filename_stem(std::string_view receiver, std::string_view policy_domain,
                                         const ReportPeriod& period, std::string_view report_id);
Result<std::string> report_filename(std::string_view receiver, std::string_view policy_domain,
                                    const ReportPeriod& period, std::string_view report_id,
                                    ReportCompression compression);

// "Report Domain: <d> Submitter: <s> Report-ID: <<id>>" (RFC 7489 §7.2.1.1 ABNF; RFC 9990 §5,
// whose ridtxt allows the angle brackets that 7489's msg-id requires).
std::string report_subject(std::string_view policy_domain, std::string_view submitter,
                           std::string_view report_id);

struct ReportMail {
    std::string from;        // addr-spec, e.g. dmarc-reports@receiver.example
    std::string to;          // ONE destination addr-spec (one message per destination)
    std::string date;        // RFC 5322 date-time, e.g. "Wed, 15 Nov 2023 01:00:00 +0000"
    std::string message_id;  // id-left "@" id-right, without the angle brackets
    std::string policy_domain;
    std::string submitter;  // our domain, for the Subject
    std::string report_id;
    std::string filename;    // report_filename(...)
    std::string attachment;  // the compressed report
    ReportCompression compression = ReportCompression::gzip;
    std::string text;  // the short human-readable part (US-ASCII); a default when empty
};

// The whole message, CRLF line ends, ready for SMTP DATA. Headers: From, To, Subject, Date,
// Message-ID, MIME-Version, Content-Type multipart/mixed, Auto-Submitted: auto-generated
// (RFC 3834: no auto-replies to it). The attachment is base64 in 76-character lines
// (RFC 2045 §6.8). The boundary is derived from the report_id (deterministic bytes) and cannot
// occur in base64 or in the text part (which is checked). Errors: a header value with CR, LF,
// other controls or 8-bit bytes (header injection), an empty from/to.
Result<std::string> compose_report_mail(const ReportMail& mail);

// RFC 5322 §3.3 date-time in UTC, "Thu, 16 Nov 2023 01:00:00 +0000", from epoch seconds
// (proleptic Gregorian calendar; core has no clock, so the time is a parameter).
std::string rfc5322_date(std::int64_t epoch_seconds);

// RFC 2045 §6.8 base64, lines of at most line_length characters joined by CRLF (0: one line).
std::string base64_encode(std::string_view data, std::size_t line_length = 76);

// RFC 7489 §6.2/§7.2.1: a URI's "!size" limit applies to the report "after compression and
// transport encoding", i.e. the encoded message. No limit: true.
bool within_size_limit(std::size_t encoded_message_bytes,
                       std::optional<std::uint64_t> max_size) noexcept;

// RFC 7489 §7.2.2: the body of the short error report sent when no URI could take a report.
struct ErrorReport {
    std::string report_date;  // RFC 5322 date-time
    std::string policy_domain;
    std::string report_id;
    std::uint64_t report_size = 0;  // bytes we tried to send
    std::string submitter;
    std::string submitting_uri;  // the URI whose limit was exceeded
};
std::string error_report_body(const ErrorReport& report);

// The error report as a text/plain message to one destination (headers as compose_report_mail).
Result<std::string> compose_error_report_mail(const ErrorReport& report, std::string_view from,
                                              std::string_view to, std::string_view date,
                                              std::string_view message_id);

}  // namespace dmarc
