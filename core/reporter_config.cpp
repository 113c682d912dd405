// dmarc-reporter configuration keys and parser (reporter_config.hpp).
#include "core/reporter_config.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "core/limits.hpp"
#include "core/text.hpp"

namespace dmarc::config {
namespace {

using Apply = Result<void> (*)(ReporterConfig&, std::string_view);

struct ReporterEntry {
    KeyInfo info;
    Apply apply;
};

Result<std::uint32_t> number(std::string_view v, std::uint32_t min, std::uint32_t max) {
    std::uint32_t out = 0;
    auto res = std::from_chars(v.data(), v.data() + v.size(), out);
    if (v.empty() || res.ec != std::errc{} || res.ptr != v.data() + v.size() || out < min ||
        out > max) {
        return make_error(Errc::invalid_value,
                          fmt::format("'{}' is not a number from {} to {}", v, min, max));
    }
    return out;
}

#define KEY(name, type, def, meaning) \
    { name, ValueType::type, def, meaning, Support::implemented, false, false }
#define SET_TEXT(member)                                        \
    [](ReporterConfig& c, std::string_view v) -> Result<void> { \
        c.member = std::string(v);                              \
        return {};                                              \
    }
#define SET_BOOL(member)                                                 \
    [](ReporterConfig& c, std::string_view v) -> Result<void> {          \
        auto b = parse_boolean(v);                                       \
        if (!b) return make_error(Errc::invalid_value, "not a boolean"); \
        c.member = *b;                                                   \
        return {};                                                       \
    }

const ReporterEntry kReporterEntries[] = {
    {KEY("Database", string, "sqlite:///var/lib/dmarc/dmarc.db",
         "The store: sqlite:///path or a libpq URI postgresql://user@host:port/db."),
     SET_TEXT(database)},
    {KEY("ReportEmail", string, "postmaster@<host domain>",
         "Report `<email>`, SMTP MAIL FROM and From:; its domain is the Submitter and the receiver "
         "part of file names."),
     SET_TEXT(report_email)},
    {KEY("ReportOrg", string, "<host domain>", "Report `<org_name>`."), SET_TEXT(report_org)},
    {KEY("ReportContact", string, "(none)", "Report `<extra_contact_info>`."),
     SET_TEXT(report_contact)},
    {KEY("ReportFormat", string, "rfc7489",
         "rfc7489 (Appendix C, no namespace) or rfc9990 (dmarc-2.0 namespace)."),
     [](ReporterConfig& c, std::string_view v) -> Result<void> {
         if (text::iequals(v, "rfc7489")) {
             c.format = ReportFormat::rfc7489;
         } else if (text::iequals(v, "rfc9990")) {
             c.format = ReportFormat::rfc9990;
         } else {
             return make_error(Errc::invalid_value, "expected rfc7489 or rfc9990");
         }
         return {};
     }},
    {KEY("ReportCompression", string, "gzip",
         "gzip (application/gzip, .xml.gz) or zip (application/zip)."),
     [](ReporterConfig& c, std::string_view v) -> Result<void> {
         if (text::iequals(v, "gzip")) {
             c.compression = ReportCompression::gzip;
         } else if (text::iequals(v, "zip")) {
             c.compression = ReportCompression::zip;
         } else {
             return make_error(Errc::invalid_value, "expected gzip or zip");
         }
         return {};
     }},
    {KEY("ReportInterval", integer, "3600",
         "The shortest report period, in seconds. Each domain gets the period its record's ri= "
         "asks (RFC 7489 §6.3; 86400 when not published), rounded to the nearest whole-hour "
         "divisor of 24 h (1, 2, 3, 4, 6, 8, 12 or 24 h; a tie goes to the longer), but never "
         "shorter than this (rounded the same way); 86400 reports daily whatever ri= asks."),
     [](ReporterConfig& c, std::string_view v) -> Result<void> {
         auto n = number(v, 1, 86400);
         if (!n) return tl::unexpected(n.error());
         c.interval = *n;
         return {};
     }},
    {KEY("SmtpServer", string, "127.0.0.1", "SMTP server (host name or address)."),
     SET_TEXT(smtp_server)},
    {KEY("SmtpPort", integer, "25", "SMTP port."),
     [](ReporterConfig& c, std::string_view v) -> Result<void> {
         auto n = number(v, 1, 65535);
         if (!n) return tl::unexpected(n.error());
         c.smtp_port = static_cast<std::uint16_t>(*n);
         return {};
     }},
    {KEY("SmtpTls", string, "none",
         "none, starttls (when offered), starttls-required, or smtps (implicit TLS)."),
     [](ReporterConfig& c, std::string_view v) -> Result<void> {
         const std::string lower = text::lower(v);
         if (lower != "none" && lower != "starttls" && lower != "starttls-required" &&
             lower != "smtps") {
             return make_error(Errc::invalid_value,
                               "expected none, starttls, starttls-required or smtps");
         }
         c.smtp_tls = lower;
         return {};
     }},
    {KEY("SmtpUsername", string, "(none)", "SMTP AUTH user (AUTH only when set)."),
     SET_TEXT(smtp_username)},
    {KEY("SmtpPassword", string, "(none)", "SMTP AUTH password."), SET_TEXT(smtp_password)},
    {KEY("SmtpHelo", string, "<host name>", "Our EHLO name."), SET_TEXT(smtp_helo)},
    {KEY("SendPause", integer, "50",
         "Milliseconds between two messages, so that many reports are spread over time."),
     [](ReporterConfig& c, std::string_view v) -> Result<void> {
         auto n = number(v, 0, 600000);
         if (!n) return tl::unexpected(n.error());
         c.send_pause_ms = *n;
         return {};
     }},
    {KEY("SplitOversizedReports", boolean, "false",
         "RFC 7489 !size: split a report that is too large into several valid reports instead of "
         "sending the §7.2.2 error report."),
     SET_BOOL(split_oversized)},
    {KEY("ReportEnvelopeTo", boolean, "true",
         "Write each record's envelope_to (the domain of its recipients, when they share one). "
         "false leaves it out of every report, so that domain owners are not told which of our "
         "domains receive their mail (records then group without it)."),
     SET_BOOL(report_envelope_to)},
    {KEY("PublicSuffixList", path, "(none)",
         "Organizational domains for destination verification from this list; without it, the "
         "RFC 9989 DNS tree walk."),
     SET_TEXT(public_suffix_list)},
    {KEY("DNSTimeout", integer, "5", "Seconds per DNS query."),
     [](ReporterConfig& c, std::string_view v) -> Result<void> {
         auto n = number(v, 1, 300);
         if (!n) return tl::unexpected(n.error());
         c.dns_timeout_s = *n;
         return {};
     }},
    {KEY("Nameservers", list, "(resolv.conf)",
         "Resolvers to ask (address[@port], comma-separated)."),
     [](ReporterConfig& c, std::string_view v) -> Result<void> {
         c.nameservers.clear();
         std::size_t start = 0;
         while (start <= v.size()) {
             std::size_t end = v.find_first_of(", \t", start);
             if (end == std::string_view::npos) end = v.size();
             auto item = text::trim(v.substr(start, end - start));
             if (!item.empty()) c.nameservers.emplace_back(item);
             start = end + 1;
         }
         return {};
     }},
    {KEY("TrustAnchorFile", path, "(none)", "DNSSEC trust anchor file."),
     SET_TEXT(trust_anchor_file)},
    {KEY("TestDNSData", path, "(none)", "Zone file answered instead of the DNS (tests only)."),
     SET_TEXT(test_dns_data)},
    {KEY("OutputDir", path, ".", "Where --dry-run, --test and --keepfiles write report files."),
     SET_TEXT(output_dir)},
};

#undef KEY
#undef SET_TEXT
#undef SET_BOOL

const ReporterEntry* find_reporter_entry(std::string_view name) {
    for (const auto& e : kReporterEntries) {
        if (text::iequals(e.info.name, name)) return &e;
    }
    return nullptr;
}

}  // namespace

std::span<const KeyInfo> reporter_keys() {
    static const std::vector<KeyInfo> keys = [] {
        std::vector<KeyInfo> out;
        for (const auto& e : kReporterEntries) out.push_back(e.info);
        return out;
    }();
    return keys;
}

bool ReporterLoadResult::ok() const {
    return std::none_of(diagnostics.begin(), diagnostics.end(),
                        [](const Diagnostic& d) { return d.level == Diagnostic::Level::error; });
}

ReporterLoadResult parse_reporter_config(std::string_view text) {
    ReporterLoadResult out;
    if (text.size() > limits::kMaxConfigFileBytes) {
        out.diagnostics.push_back(
            {Diagnostic::Level::error, 0, "",
             fmt::format("file larger than {} bytes", limits::kMaxConfigFileBytes)});
        return out;
    }
    std::size_t number_of_line = 0;
    std::size_t pos = 0;
    while (pos < text.size()) {
        ++number_of_line;
        const std::size_t nl = std::min(text.find('\n', pos), text.size());
        std::string_view line = text.substr(pos, nl - pos);
        pos = nl + 1;
        if (line.size() > limits::kMaxConfigLineBytes) {
            out.diagnostics.push_back(
                {Diagnostic::Level::error, number_of_line, "", "line too long"});
            continue;
        }
        line = text::trim(line.substr(0, line.find('#')));
        if (line.empty()) continue;
        const auto gap = std::find_if(line.begin(), line.end(), text::is_wsp);
        const std::string_view name = line.substr(0, static_cast<std::size_t>(gap - line.begin()));
        const std::string_view value = text::trim(line.substr(name.size()));
        const ReporterEntry* entry = find_reporter_entry(name);
        if (entry == nullptr) {
            out.diagnostics.push_back({Diagnostic::Level::error, number_of_line, std::string(name),
                                       "unknown configuration key"});
            continue;
        }
        if (auto applied = entry->apply(out.config, value); !applied) {
            out.diagnostics.push_back({Diagnostic::Level::error, number_of_line,
                                       std::string(entry->info.name), applied.error().message});
        }
    }
    return out;
}

std::string render_reporter_reference_markdown() {
    std::string out = "| Key | Default | Meaning |\n|---|---|---|\n";
    for (const auto& e : kReporterEntries) {
        out +=
            fmt::format("| `{}` | `{}` | {} |\n", e.info.name, e.info.default_text, e.info.meaning);
    }
    return out;
}

}  // namespace dmarc::config
