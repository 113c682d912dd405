// Fault injection, report delivery (issue 8 item 3) at the io/smtp + core/report_mail level: a
// composed aggregate-report message sent to a scripted SMTP server on loopback that refuses,
// stalls, or drops the connection at each point of a transaction (RFC 5321 §3.3, §4.1.1.4,
// §4.2.5, §4.5.3.2). What must be kept: only a 2xx reply to the end of DATA counts as sent
// ("accepted"); every other outcome is temporary (retry later) unless the server gave a 5xx,
// which is permanent; the call returns within its timeout; the server's last reply is kept for
// the ledger. smtp-sink covers the well-behaved server (tests/integration/smtp_test.cpp).
#include <netinet/in.h>
#include <poll.h>
#include <sys/socket.h>

#include <gtest/gtest.h>

#include <atomic>
#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "core/report_mail.hpp"
#include "io/archive.hpp"
#include "io/smtp.hpp"
#include "tests/support/local_unbound.hpp"

namespace dmarc::fault {
namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

// Where the scripted server gives up on the client.
enum class Fault {
    refuse_greeting_4xx,   // 421 at connect (RFC 5321 §3.1: service not available)
    refuse_greeting_5xx,   // 554 at connect: no SMTP service here
    drop_after_greeting,   // closes right after the banner
    drop_mid_data,         // reads part of the message, then closes
    stall_mid_data,        // reads part of the message, then stops reading and answering
    drop_after_dot,        // reads the whole message and the final dot, closes without a reply
    stall_after_dot,       // reads the final dot and never answers (§4.5.3.2: 10 min timeout)
    reject_4xx_after_dot,  // 451 to the final dot
    reject_5xx_after_dot,  // 554 to the final dot
    drop_after_250,        // 250 to the final dot, then closes before QUIT: it was accepted
    garbage_reply,         // a reply line that is not a reply ("hello?") to MAIL FROM
};

// One connection, scripted: a minimal SMTP server thread on a loopback port.
class ScriptedSmtp {
  public:
    explicit ScriptedSmtp(Fault fault) : fault_(fault) {
        listener_ = test_support::bound_socket(SOCK_STREAM, 0);
        ::listen(listener_.get(), 4);
        port_ = test_support::port_of(listener_.get());
        thread_ = std::thread([this] { serve(); });
    }
    ~ScriptedSmtp() {
        stop_ = true;
        thread_.join();
    }
    std::uint16_t port() const { return port_; }
    std::size_t data_bytes() const { return data_bytes_; }
    bool saw_dot() const { return saw_dot_; }

  private:
    bool send_line(int fd, const std::string& line) {
        std::string l = line + "\r\n";
        return ::send(fd, l.data(), l.size(), MSG_NOSIGNAL) == static_cast<ssize_t>(l.size());
    }
    // Reads one line (CRLF stripped); false on close, stop or 10 s of silence.
    bool read_line(int fd, std::string& buffer, std::string& line) {
        for (;;) {
            auto eol = buffer.find("\r\n");
            if (eol != std::string::npos) {
                line = buffer.substr(0, eol);
                buffer.erase(0, eol + 2);
                return true;
            }
            pollfd p{fd, POLLIN, 0};
            if (stop_ || ::poll(&p, 1, 100) < 0) return false;
            if (!(p.revents & (POLLIN | POLLHUP))) continue;
            char chunk[4096];
            auto n = ::recv(fd, chunk, sizeof chunk, 0);
            if (n <= 0) return false;
            buffer.append(chunk, static_cast<std::size_t>(n));
        }
    }
    void idle_until_closed(int fd) {
        // Neither reading nor answering: the client's timeout must end it.
        while (!stop_) {
            pollfd p{fd, POLLRDHUP, 0};
            if (::poll(&p, 1, 100) > 0 && (p.revents & (POLLRDHUP | POLLHUP))) return;
        }
    }
    void serve() {
        pollfd p{listener_.get(), POLLIN, 0};
        while (!stop_ && ::poll(&p, 1, 100) == 0) {
        }
        if (stop_) return;
        test_support::Fd conn(::accept(listener_.get(), nullptr, nullptr));
        if (conn.get() < 0) return;
        const int fd = conn.get();
        if (fault_ == Fault::refuse_greeting_4xx) {
            send_line(fd, "421 4.3.2 mx.fault.example service not available");
            return;
        }
        if (fault_ == Fault::refuse_greeting_5xx) {
            send_line(fd, "554 5.3.2 no SMTP service here");
            return;
        }
        send_line(fd, "220 mx.fault.example ESMTP scripted");
        if (fault_ == Fault::drop_after_greeting) return;
        std::string buffer, line;
        bool in_data = false;
        while (read_line(fd, buffer, line)) {
            if (in_data) {
                if (line == ".") {
                    saw_dot_ = true;
                    in_data = false;
                    switch (fault_) {
                        case Fault::drop_after_dot:
                            return;
                        case Fault::stall_after_dot:
                            idle_until_closed(fd);
                            return;
                        case Fault::reject_4xx_after_dot:
                            send_line(fd, "451 4.3.0 queue file write error");
                            continue;
                        case Fault::reject_5xx_after_dot:
                            send_line(fd, "554 5.7.1 report refused");
                            continue;
                        case Fault::drop_after_250:
                            send_line(fd, "250 2.0.0 Ok: queued as SCRIPTED");
                            return;
                        default:
                            send_line(fd, "250 2.0.0 Ok: queued as SCRIPTED");
                            continue;
                    }
                }
                data_bytes_ += line.size() + 2;
                if (data_bytes_ > 2000 && fault_ == Fault::drop_mid_data) return;
                if (data_bytes_ > 2000 && fault_ == Fault::stall_mid_data) {
                    idle_until_closed(fd);
                    return;
                }
                continue;
            }
            std::string verb = line.substr(0, 4);
            for (auto& ch : verb)
                ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
            if (verb == "EHLO") {
                send_line(fd, "250-mx.fault.example");
                send_line(fd, "250 8BITMIME");
            } else if (verb == "HELO") {
                send_line(fd, "250 mx.fault.example");
            } else if (verb == "MAIL") {
                if (fault_ == Fault::garbage_reply) {
                    send_line(fd, "hello? is this thing on");
                } else {
                    send_line(fd, "250 2.1.0 Ok");
                }
            } else if (verb == "RCPT") {
                send_line(fd, "250 2.1.5 Ok");
            } else if (verb == "DATA") {
                send_line(fd, "354 End data with <CR><LF>.<CR><LF>");
                in_data = true;
            } else if (verb == "QUIT") {
                send_line(fd, "221 2.0.0 Bye");
                return;
            } else {
                send_line(fd, "502 5.5.2 Error: command not recognized");
            }
        }
    }

    Fault fault_;
    test_support::Fd listener_;
    std::uint16_t port_ = 0;
    std::atomic<bool> stop_{false};
    std::atomic<std::size_t> data_bytes_{0};
    std::atomic<bool> saw_dot_{false};
    std::thread thread_;
};

// A real aggregate-report message (core/report_mail), big enough that DATA spans many lines.
std::string report_message() {
    std::string xml = "<?xml version=\"1.0\"?><feedback>";
    for (int i = 0; i < 2000; ++i)
        xml += "<record><row><source_ip>192.0.2." + std::to_string(i % 250) +
               "</source_ip><count>" + std::to_string(i) + "</count></row></record>";
    xml += "</feedback>";
    ReportMail mail;
    mail.from = "dmarc-reports@receiver.example";
    mail.to = "rua@bank.fault.example";
    mail.date = "Sun, 29 Nov 2026 01:00:00 +0000";
    mail.message_id = "fault-1@receiver.example";
    mail.policy_domain = "bank.fault.example";
    mail.submitter = "receiver.example";
    mail.report_id = "fault-1";
    mail.filename = "receiver.example!bank.fault.example!1764374400!1764460799!fault-1.xml.gz";
    auto gz = io::gzip_compress(xml);
    EXPECT_TRUE(gz);
    // Incompressible enough to need several kB of base64: append the XML itself, encoded.
    mail.attachment = *gz + xml;
    mail.compression = ReportCompression::gzip;
    auto message = compose_report_mail(mail);
    EXPECT_TRUE(message) << message.error().message;
    return *message;
}

struct Case {
    Fault fault;
    io::SmtpStatus expected;
    int expected_code;  // the server's last reply code as kept for the ledger
    const char* name;
};

class SmtpFault : public ::testing::TestWithParam<Case> {};

TEST_P(SmtpFault, ClassifiedAndNeverTakenAsSentUnless250AfterDot) {
    const Case c = GetParam();
    static const std::string message = report_message();
    ASSERT_GT(message.size(), 8000u);
    ScriptedSmtp server(c.fault);
    io::SmtpOptions options;
    options.port = server.port();
    options.helo_name = "mx.receiver.example";
    options.connect_timeout = 2000ms;
    options.total_timeout = 3000ms;
    const auto start = Clock::now();
    const io::SmtpResult r =
        io::send_mail(options, "dmarc-reports@receiver.example", "rua@bank.fault.example", message);
    const auto took = Clock::now() - start;
    EXPECT_EQ(r.status, c.expected) << io::to_string(r.status) << " code " << r.code << " reply '"
                                    << r.reply << "' detail '" << r.detail << "'";
    EXPECT_EQ(r.code, c.expected_code) << r.reply << " / " << r.detail;
    // Bounded: libcurl waits for the reply to the final dot in its "done" phase, outside
    // CURLOPT_TIMEOUT, under the per-reply timeout io/smtp sets to the total timeout; so at most
    // twice the total timeout, plus libcurl's one-second timer granularity (before: 123 s).
    EXPECT_LT(took, 2 * options.total_timeout + 1500ms);
    if (c.expected != io::SmtpStatus::accepted) {
        EXPECT_FALSE(r.detail.empty() && r.reply.empty()) << "a failure must say why";
    }
}

INSTANTIATE_TEST_SUITE_P(
    Faults, SmtpFault,
    ::testing::Values(
        Case{Fault::refuse_greeting_4xx, io::SmtpStatus::temporary, 421, "Refuse421"},
        Case{Fault::refuse_greeting_5xx, io::SmtpStatus::permanent, 554, "Refuse554"},
        Case{Fault::drop_after_greeting, io::SmtpStatus::temporary, 220, "DropAfterGreeting"},
        Case{Fault::drop_mid_data, io::SmtpStatus::temporary, 354, "DropMidData"},
        Case{Fault::stall_mid_data, io::SmtpStatus::temporary, 354, "StallMidData"},
        Case{Fault::drop_after_dot, io::SmtpStatus::temporary, 354, "DropAfterDot"},
        Case{Fault::stall_after_dot, io::SmtpStatus::temporary, 354, "StallAfterDot"},
        Case{Fault::reject_4xx_after_dot, io::SmtpStatus::temporary, 451, "Reject451AfterDot"},
        Case{Fault::reject_5xx_after_dot, io::SmtpStatus::permanent, 554, "Reject554AfterDot"},
        Case{Fault::drop_after_250, io::SmtpStatus::accepted, 250, "DropAfter250"},
        Case{Fault::garbage_reply, io::SmtpStatus::temporary, 250, "GarbageReply"}),
    [](const ::testing::TestParamInfo<Case>& param_info) {
        return std::string(param_info.param.name);
    });

// Nothing listens: refused at connect, temporary, no reply code.
TEST(SmtpFaultConnect, RefusedConnectionIsTemporary) {
    const std::uint16_t port = test_support::free_loopback_port();
    io::SmtpOptions options;
    options.port = port;
    options.connect_timeout = 2000ms;
    options.total_timeout = 3000ms;
    const auto r = io::send_mail(options, "a@receiver.example", "rua@bank.fault.example",
                                 "Subject: x\r\n\r\nx\r\n");
    EXPECT_EQ(r.status, io::SmtpStatus::temporary);
    EXPECT_EQ(r.code, 0);
    EXPECT_FALSE(r.detail.empty());
}

}  // namespace
}  // namespace dmarc::fault
