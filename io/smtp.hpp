// Sending one message over SMTP (RFC 5321) with libcurl: MAIL FROM, one RCPT TO, DATA. The
// result carries the server's final reply (code and text, for the report ledger) and says
// whether a failure is temporary (4xx, connection refused, timeout: retry later) or permanent
// (5xx: do not retry). STARTTLS (RFC 3207) and AUTH (RFC 4954) are options.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>

namespace dmarc::io {

enum class SmtpTls : std::uint8_t {
    none,               // plain SMTP (the default: the local MTA on loopback)
    starttls_optional,  // STARTTLS when offered, plain otherwise
    starttls_required,  // STARTTLS or fail (temporary: it is our configuration, not theirs)
    implicit,           // smtps:// (RFC 8314 port 465)
};

struct SmtpOptions {
    std::string server = "127.0.0.1";  // a host name or an IP address (IPv6 without brackets)
    std::uint16_t port = 25;
    std::string helo_name = "localhost";  // our EHLO name
    SmtpTls tls = SmtpTls::none;
    bool verify_peer = true;  // certificate and host name checks under TLS
    std::string ca_file;      // empty: the system store
    std::string username;     // AUTH when not empty
    std::string password;
    std::chrono::milliseconds connect_timeout{10000};
    std::chrono::milliseconds total_timeout{300000};  // RFC 5321 §4.5.3.2: DATA end 10 min
};

enum class SmtpStatus : std::uint8_t {
    accepted,   // the server answered 2xx to the end of DATA: the message is its now
    temporary,  // 4xx, no connection, timeout, TLS trouble: try again later
    permanent,  // 5xx: the server refused it for good
};
std::string_view to_string(SmtpStatus status) noexcept;

struct SmtpResult {
    SmtpStatus status = SmtpStatus::temporary;
    int code = 0;        // the server's last reply code; 0 when it never answered
    std::string reply;   // the server's last reply text (multi-line joined by "\n")
    std::string detail;  // libcurl's error text, or empty
};

// Sends `message` (CRLF line ends; libcurl does the dot-stuffing) from mail_from to rcpt_to.
// Never throws.
SmtpResult send_mail(const SmtpOptions& options, std::string_view mail_from,
                     std::string_view rcpt_to, std::string_view message);

}  // namespace dmarc::io
