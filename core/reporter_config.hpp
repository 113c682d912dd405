// dmarc-reporter's configuration file, in the milter's `Name value` format (core/config.hpp:
// case-insensitive names, '#' comments, OpenDMARC booleans). One key table is the single source
// of the reference (render_reporter_reference_markdown), so the docs cannot drift. Command-line
// options override the file.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/aggregate.hpp"
#include "core/config.hpp"
#include "core/report_mail.hpp"

namespace dmarc::config {

struct ReporterConfig {
    std::string database = "sqlite:///var/lib/dmarc/dmarc.db";
    std::string report_email;  // empty: postmaster@<this host's domain>
    std::string report_org;    // empty: this host's domain
    std::string report_contact;
    ReportFormat format = ReportFormat::rfc7489;
    ReportCompression compression = ReportCompression::gzip;
    // The shortest period we report: a domain's ri= is honoured down to it
    // (effective_report_interval).
    std::uint32_t interval = 3600;
    std::string smtp_server = "127.0.0.1";
    std::uint16_t smtp_port = 25;
    std::string smtp_tls = "none";  // none | starttls | starttls-required | smtps
    std::string smtp_username;
    std::string smtp_password;
    std::string smtp_helo;             // empty: this host's name
    std::uint32_t send_pause_ms = 50;  // between two messages
    bool split_oversized = false;      // !size: split instead of the §7.2.2 error report
    // identifiers/envelope_to in records (RFC 7489 Appendix C: optional). false keeps the
    // domains our users receive mail at out of what domain owners are sent.
    bool report_envelope_to = true;
    std::string public_suffix_list;  // empty: RFC 9989 DNS tree walk for org domains
    std::uint32_t dns_timeout_s = 5;
    std::vector<std::string> nameservers;
    std::string trust_anchor_file;
    std::string test_dns_data;
    std::string output_dir = ".";
};

// Every key dmarc-reporter reads, in documentation order.
std::span<const KeyInfo> reporter_keys();

struct ReporterLoadResult {
    ReporterConfig config;
    std::vector<Diagnostic> diagnostics;
    bool ok() const;
};

// Never fails as a whole: each problem is a diagnostic with its line; a wrong key keeps its
// default.
ReporterLoadResult parse_reporter_config(std::string_view text);

// The key table as a Markdown table (docs generation).
std::string render_reporter_reference_markdown();

}  // namespace dmarc::config
