// Aggregate report XML: a strict writer for RFC 7489 Appendix C (no namespace, version 1.0) and
// RFC 9990 (urn:ietf:params:xml:ns:dmarc-2.0), and a lenient, bounded reader for both (standards
// §1.13 and §8 items 5-7: local names, lower-cased enums, optional parts may be missing, no DTD).
// pugixml does the escaping and the parsing; it never expands external or custom entities.
#pragma once

#include <string>
#include <string_view>
#include <vector>

#include "core/aggregate.hpp"
#include "core/result.hpp"

namespace dmarc {

inline constexpr std::string_view kDmarc2Namespace = "urn:ietf:params:xml:ns:dmarc-2.0";

// Text made safe for XML 1.0: valid UTF-8 is kept; every byte of an invalid or overlong
// sequence, a surrogate, U+FFFE/U+FFFF and C0 controls other than TAB, LF and CR (not allowed in
// XML 1.0 even as character references) become U+FFFD. The document stays well-formed and the
// reader sees that something was replaced. (pugixml escapes < & > " but writes controls as
// "&#1;", which XML 1.0 forbids.)
std::string xml_safe_text(std::string_view text);

// Writes the report in report.format. In rfc7489 mode: <version>1.0</version>; sp, pct and fo
// always present; envelope_from always present (empty for a null reverse-path); at least one
// <spf> (a record without an SPF evaluation gets result "none" for its envelope_from, else its
// header_from, domain; RFC 7208 §2.6.1); IPv6 source_ip written as eight uncompressed groups
// (RFC 4291 §2.2 form 1), the only IPv6 form Appendix C's IPAddress pattern accepts. In rfc9990
// mode: the dmarc-2.0 namespace, generator, np (when published), testing, discovery_method,
// selector always, no pct, one joined <error>, <scope> only for mfrom (9990 knows no helo
// scope), RFC 5952 IPv6. Values a format cannot carry are mapped by reason_for_format. Errors:
// a source_ip that is not an address, or a value the format cannot represent.
Result<std::string> write_report_xml(const AggregateReport& report);

// What the lenient reader found.
struct ParsedReport {
    AggregateReport report;  // format: rfc9990 when namespaced or with 9990-only elements
    std::string version;     // as written, may be empty
    // Unknown enum values (replaced by the default), missing required parts: one line each.
    std::vector<std::string> warnings;
};

// Reads an aggregate report. Bounded: more than limits::kMaxReportXmlBytes, kMaxReportRecords
// records or kMaxReportDkimPerRecord DKIM entries in one record is an Errc::limit error. A
// document with a DOCTYPE is refused (Errc::invalid_value): real reports have none, and RFC
// 9990 §6 asks evaluators to disable DTD processing. Entity references other than the five
// predefined ones and character references are left as written, never expanded.
Result<ParsedReport> parse_report_xml(std::string_view xml);

}  // namespace dmarc
