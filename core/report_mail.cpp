// The aggregate report e-mail (RFC 7489 §7.2.1.1, §7.2.2; RFC 9990 §5; MIME RFC 2045/2046).
// See report_mail.hpp for the decisions.
#include "core/report_mail.hpp"

#include <chrono>

#include <fmt/format.h>

#include "core/text.hpp"

namespace dmarc {

std::string_view media_type(ReportCompression compression) noexcept {
    return compression == ReportCompression::zip ? "application/zip" : "application/gzip";
}

namespace {

bool is_domain_text(std::string_view name) {
    if (name.empty() || name.front() == '.' || name.back() == '.') return false;
    for (char c : name) {
        if (!(text::is_alpha(c) || text::is_digit(c) || c == '-' || c == '.')) return false;
    }
    return true;
}

bool is_alnum_text(std::string_view id) {
    if (id.empty()) return false;
    for (char c : id) {
        if (!(text::is_alpha(c) || text::is_digit(c))) return false;
    }
    return true;
}

// A header value must not end the field early or carry 8-bit bytes (RFC 5322 §2.2).
Result<void> check_header_value(std::string_view name, std::string_view value) {
    for (char c : value) {
        const auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u > 0x7e) {
            return make_error(Errc::invalid_value,
                              fmt::format("{}: control or 8-bit byte 0x{:02x} not allowed", name,
                                          static_cast<unsigned>(u)));
        }
    }
    return {};
}

constexpr std::string_view kCrlf = "\r\n";

std::string default_text(const ReportMail& mail) {
    return fmt::format(
        "This is a DMARC aggregate report for {} from {}.\r\nReport-ID: {}\r\nThe report is the "
        "attached file {} (RFC 7489 / RFC 9990).\r\n",
        mail.policy_domain, mail.submitter, mail.report_id, mail.filename);
}

}  // namespace

Result<std::string> report_filename_stem(std::string_view receiver, std::string_view policy_domain,
                                         const ReportPeriod& period, std::string_view report_id) {
    if (!is_domain_text(receiver)) {
        return make_error(Errc::invalid_value,
                          fmt::format("filename: receiver '{}' is not a domain", receiver));
    }
    if (!is_domain_text(policy_domain)) {
        return make_error(Errc::invalid_value, fmt::format("filename: policy domain '{}' is not "
                                                           "a domain",
                                                           policy_domain));
    }
    if (!is_alnum_text(report_id)) {
        return make_error(
            Errc::invalid_value,
            fmt::format("filename: report id '{}' is not 1*(ALPHA / DIGIT)", report_id));
    }
    if (period.begin < 0 || period.end < period.begin) {
        return make_error(Errc::invalid_value, "filename: bad period");
    }
    return fmt::format("{}!{}!{}!{}!{}", text::lower(receiver), text::lower(policy_domain),
                       period.begin, period.end, report_id);
}

Result<std::string> report_filename(std::string_view receiver, std::string_view policy_domain,
                                    const ReportPeriod& period, std::string_view report_id,
                                    ReportCompression compression) {
    auto stem = report_filename_stem(receiver, policy_domain, period, report_id);
    if (!stem) return stem;
    return *stem + (compression == ReportCompression::zip ? ".zip" : ".xml.gz");
}

std::string report_subject(std::string_view policy_domain, std::string_view submitter,
                           std::string_view report_id) {
    return fmt::format("Report Domain: {} Submitter: {} Report-ID: <{}>", policy_domain, submitter,
                       report_id);
}

std::string rfc5322_date(std::int64_t epoch_seconds) {
    using namespace std::chrono;
    const sys_seconds when{seconds{epoch_seconds}};
    const auto day = floor<days>(when);
    const year_month_day ymd{day};
    const hh_mm_ss<seconds> time{when - day};
    static constexpr std::string_view kDays[] = {"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"};
    static constexpr std::string_view kMonths[] = {"Jan", "Feb", "Mar", "Apr", "May", "Jun",
                                                   "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"};
    return fmt::format("{}, {:02} {} {} {:02}:{:02}:{:02} +0000", kDays[weekday{day}.c_encoding()],
                       static_cast<unsigned>(ymd.day()),
                       kMonths[static_cast<unsigned>(ymd.month()) - 1],
                       static_cast<int>(ymd.year()), time.hours().count(), time.minutes().count(),
                       time.seconds().count());
}

std::string base64_encode(std::string_view data, std::size_t line_length) {
    static constexpr char kAlphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    std::string out;
    out.reserve((data.size() + 2) / 3 * 4 + (data.size() / 57 + 1) * 2);
    std::size_t column = 0;
    auto put = [&](char c) {
        if (line_length != 0 && column == line_length) {
            out += kCrlf;
            column = 0;
        }
        out += c;
        ++column;
    };
    std::size_t i = 0;
    for (; i + 3 <= data.size(); i += 3) {
        const std::uint32_t v =
            (static_cast<std::uint32_t>(static_cast<unsigned char>(data[i])) << 16) |
            (static_cast<std::uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8) |
            static_cast<unsigned char>(data[i + 2]);
        put(kAlphabet[(v >> 18) & 63]);
        put(kAlphabet[(v >> 12) & 63]);
        put(kAlphabet[(v >> 6) & 63]);
        put(kAlphabet[v & 63]);
    }
    const std::size_t rest = data.size() - i;
    if (rest > 0) {
        std::uint32_t v = static_cast<std::uint32_t>(static_cast<unsigned char>(data[i])) << 16;
        if (rest == 2)
            v |= static_cast<std::uint32_t>(static_cast<unsigned char>(data[i + 1])) << 8;
        put(kAlphabet[(v >> 18) & 63]);
        put(kAlphabet[(v >> 12) & 63]);
        put(rest == 2 ? kAlphabet[(v >> 6) & 63] : '=');
        put('=');
    }
    return out;
}

namespace {

Result<std::string> common_headers(std::string_view from, std::string_view to,
                                   std::string_view subject, std::string_view date,
                                   std::string_view message_id) {
    if (from.empty() || to.empty()) {
        return make_error(Errc::invalid_value, "mail: From and To are required");
    }
    const std::pair<std::string_view, std::string_view> fields[] = {{"From", from},
                                                                    {"To", to},
                                                                    {"Subject", subject},
                                                                    {"Date", date},
                                                                    {"Message-ID", message_id}};
    for (const auto& [name, value] : fields) {
        if (auto ok = check_header_value(name, value); !ok) return tl::unexpected(ok.error());
    }
    std::string out;
    out += fmt::format("From: {}\r\n", from);
    out += fmt::format("To: {}\r\n", to);
    out += fmt::format("Subject: {}\r\n", subject);
    out += fmt::format("Date: {}\r\n", date);
    out += fmt::format("Message-ID: <{}>\r\n", message_id);
    out += "MIME-Version: 1.0\r\n";
    out += "Auto-Submitted: auto-generated\r\n";
    return out;
}

}  // namespace

Result<std::string> compose_report_mail(const ReportMail& mail) {
    const std::string subject = report_subject(mail.policy_domain, mail.submitter, mail.report_id);
    auto headers = common_headers(mail.from, mail.to, subject, mail.date, mail.message_id);
    if (!headers) return headers;
    if (auto ok = check_header_value("filename", mail.filename);
        !ok || mail.filename.empty() || mail.filename.find('"') != std::string::npos) {
        return make_error(Errc::invalid_value, "mail: bad attachment filename");
    }
    // '=' and '_' never occur together in base64, and the text part is checked below.
    const std::string boundary = fmt::format("=_dmarc_report_{}", mail.report_id);
    std::string text = mail.text.empty() ? default_text(mail) : mail.text;
    for (char c : text) {
        const auto u = static_cast<unsigned char>(c);
        if (u > 0x7e || (u < 0x20 && c != '\r' && c != '\n' && c != '\t')) {
            return make_error(Errc::invalid_value, "mail: text part must be printable US-ASCII");
        }
    }
    if (text.find(boundary) != std::string::npos) {
        return make_error(Errc::invalid_value, "mail: text part contains the boundary");
    }
    if (text.size() < 2 || text.substr(text.size() - 2) != kCrlf) text += kCrlf;

    std::string out = std::move(*headers);
    out += fmt::format("Content-Type: multipart/mixed; boundary=\"{}\"\r\n", boundary);
    out += kCrlf;
    out += "This is a multipart message in MIME format.\r\n";
    out += fmt::format("\r\n--{}\r\n", boundary);
    out += "Content-Type: text/plain; charset=us-ascii\r\n";
    out += "Content-Transfer-Encoding: 7bit\r\n\r\n";
    out += text;
    out += fmt::format("\r\n--{}\r\n", boundary);
    out += fmt::format("Content-Type: {}; name=\"{}\"\r\n", media_type(mail.compression),
                       mail.filename);
    out += "Content-Transfer-Encoding: base64\r\n";
    out += fmt::format("Content-Disposition: attachment; filename=\"{}\"\r\n\r\n", mail.filename);
    out += base64_encode(mail.attachment);
    out += fmt::format("\r\n\r\n--{}--\r\n", boundary);
    return out;
}

bool within_size_limit(std::size_t encoded_message_bytes,
                       std::optional<std::uint64_t> max_size) noexcept {
    return !max_size || static_cast<std::uint64_t>(encoded_message_bytes) <= *max_size;
}

std::string error_report_body(const ErrorReport& report) {
    return fmt::format(
        "Report-Date: {}\r\nReport-Domain: {}\r\nReport-ID: <{}>\r\nReport-Size: {}\r\n"
        "Submitter: {}\r\nSubmitting-URI: {}\r\n",
        report.report_date, report.policy_domain, report.report_id, report.report_size,
        report.submitter, report.submitting_uri);
}

Result<std::string> compose_error_report_mail(const ErrorReport& report, std::string_view from,
                                              std::string_view to, std::string_view date,
                                              std::string_view message_id) {
    const std::string subject =
        report_subject(report.policy_domain, report.submitter, report.report_id);
    auto headers = common_headers(from, to, subject, date, message_id);
    if (!headers) return headers;
    const std::string body = error_report_body(report);
    for (char c : body) {
        const auto u = static_cast<unsigned char>(c);
        if (u > 0x7e || (u < 0x20 && c != '\r' && c != '\n')) {
            return make_error(Errc::invalid_value, "error report: non-ASCII or control value");
        }
    }
    std::string out = std::move(*headers);
    out += "Content-Type: text/plain; charset=us-ascii\r\n";
    out += "Content-Transfer-Encoding: 7bit\r\n\r\n";
    out += body;
    return out;
}

}  // namespace dmarc
