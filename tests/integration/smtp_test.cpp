// io/smtp against a real SMTP server on loopback (Postfix's smtp-sink): a report mail built end
// to end (rows -> report -> XML -> gzip -> MIME) is accepted with 250, arrives intact (MIME
// parsed, attachment decompressed and equal to the XML, which validates against the XSD); a 4xx
// is a temporary failure, a 5xx a permanent one, with the server's reply kept for the ledger;
// no server and a server that never answers are temporary failures (issue 6 §6).
#include "io/smtp.hpp"

#include <gtest/gtest.h>
#include <sys/socket.h>

#include <cstdio>
#include <fstream>

#include "core/report_mail.hpp"
#include "core/report_xml.hpp"
#include "io/archive.hpp"
#include "tests/support/mime_reader.hpp"
#include "tests/support/report_samples.hpp"
#include "tests/support/smtp_sink.hpp"

namespace dmarc::io {
namespace {

using test_support::SmtpSink;

struct Built {
    std::string xml;
    std::string message;
    std::string filename;
};

Built build_report_mail(ReportFormat format, ReportCompression compression) {
    Built built;
    const auto shapes = test_support::sample_shapes();
    auto report = build_aggregate_report(test_support::sample_identity(), "example.com",
                                         period_containing(test_support::kSampleDay, 86400),
                                         shapes[1].rows, format);
    EXPECT_TRUE(report);
    built.xml = *write_report_xml(*report);
    const std::string id = report->metadata.report_id;
    auto filename = report_filename("mx.receiver.example", "example.com", report->metadata.period,
                                    id, compression);
    EXPECT_TRUE(filename);
    built.filename = *filename;
    ReportMail mail;
    mail.from = "dmarc-reports@receiver.example";
    mail.to = "rua@example.com";
    mail.date = "Thu, 16 Nov 2023 01:00:00 +0000";
    mail.message_id = id + ".1@receiver.example";
    mail.policy_domain = "example.com";
    mail.submitter = "receiver.example";
    mail.report_id = id;
    mail.filename = built.filename;
    mail.compression = compression;
    const std::string stem = built.filename.substr(0, built.filename.find(".xml"));
    mail.attachment =
        compression == ReportCompression::gzip
            ? *gzip_compress(built.xml)
            : *zip_compress(built.xml,
                            built.filename.substr(0, built.filename.size() - 4) + ".xml");
    auto message = compose_report_mail(mail);
    EXPECT_TRUE(message);
    built.message = *message;
    return built;
}

SmtpOptions options_for(std::uint16_t port) {
    SmtpOptions options;
    options.port = port;
    options.helo_name = "mx.receiver.example";
    options.connect_timeout = std::chrono::milliseconds(3000);
    options.total_timeout = std::chrono::milliseconds(10000);
    return options;
}

std::string dump_header(const std::string& dump, const std::string& name) {
    const auto at = dump.find(name + ": ");
    if (at == std::string::npos) return "";
    const auto end = dump.find('\n', at);
    return dump.substr(at + name.size() + 2, end - at - name.size() - 2);
}

// RFC 5321 §4.2.1: 250 after the final dot is acceptance; the message arrives intact.
TEST(Smtp, AcceptedAndIntact) {
    SmtpSink sink;
    ASSERT_TRUE(sink.running()) << "smtp-sink missing (Debian package postfix)";
    for (auto [format, compression] : {std::pair{ReportFormat::rfc7489, ReportCompression::gzip},
                                       std::pair{ReportFormat::rfc9990, ReportCompression::zip}}) {
        const Built built = build_report_mail(format, compression);
        const SmtpResult result =
            send_mail(options_for(sink.port()), "dmarc-reports@receiver.example", "rua@example.com",
                      built.message);
        EXPECT_EQ(result.status, SmtpStatus::accepted) << result.detail;
        EXPECT_EQ(result.code, 250);
        EXPECT_NE(result.reply.find("250 2.0.0 Ok"), std::string::npos) << result.reply;
    }
    const auto dumps = sink.messages();
    ASSERT_EQ(dumps.size(), 2u);
    int checked = 0;
    for (const auto& dump : dumps) {
        EXPECT_EQ(dump_header(dump, "X-Mail-Args"), "<dmarc-reports@receiver.example>");
        EXPECT_EQ(dump_header(dump, "X-Rcpt-Args"), "<rua@example.com>");
        EXPECT_EQ(dump_header(dump, "X-Helo-Args"), "mx.receiver.example");
        const auto top = test_support::parse_mime_entity(test_support::message_from_dump(dump));
        EXPECT_EQ(top.header("subject").rfind("Report Domain: example.com Submitter: "
                                              "receiver.example Report-ID: <",
                                              0),
                  0u);
        const auto parts = test_support::mime_parts(top);
        ASSERT_EQ(parts.size(), 2u);
        const auto attachment = test_support::base64_decode(parts[1].body);
        ASSERT_TRUE(attachment);
        const bool zip = parts[1].header("content-type").rfind("application/zip", 0) == 0;
        const Built expected =
            build_report_mail(zip ? ReportFormat::rfc9990 : ReportFormat::rfc7489,
                              zip ? ReportCompression::zip : ReportCompression::gzip);
        EXPECT_EQ(test_support::mime_param(parts[1].header("content-disposition"), "filename"),
                  expected.filename);
        auto xml = decompress_report(*attachment);
        ASSERT_TRUE(xml) << xml.error().message;
        EXPECT_EQ(*xml, expected.xml);
        // ... and what arrived validates against its schema.
        const std::string path = "/tmp/dmarc-smtp-test-" + std::to_string(::getpid()) + ".xml";
        {
            std::ofstream out(path, std::ios::binary);
            out << *xml;
        }
        const std::string xsd = zip ? DMARC_TEST_DATA "/xsd/rfc9990-dmarc-2.0.xsd"
                                    : DMARC_TEST_DATA "/xsd/rfc7489-appendix-c.nons.xsd";
        EXPECT_EQ(
            std::system(
                ("xmllint --noout --schema '" + xsd + "' '" + path + "' >/dev/null 2>&1").c_str()),
            0);
        std::remove(path.c_str());
        ++checked;
    }
    EXPECT_EQ(checked, 2);
}

// RFC 5321 §4.2.1: 4yz is a transient negative completion: retry later.
TEST(Smtp, TemporaryFailureOn4xx) {
    SmtpSink sink({"-r", "rcpt", "-b", "451 4.3.0 try again later"});
    ASSERT_TRUE(sink.running());
    const SmtpResult result =
        send_mail(options_for(sink.port()), "a@receiver.example", "rua@example.com", "x\r\n");
    EXPECT_EQ(result.status, SmtpStatus::temporary);
    EXPECT_EQ(result.code, 451);
    EXPECT_EQ(result.reply, "451 4.3.0 try again later");
    EXPECT_EQ(sink.delivered(), 0u);
}

// RFC 5321 §4.2.1: 5yz is a permanent negative completion (here after the final dot).
TEST(Smtp, PermanentFailureOn5xx) {
    SmtpSink sink({"-f", ".", "-B", "554 5.7.1 rejected for test"});
    ASSERT_TRUE(sink.running());
    const Built built = build_report_mail(ReportFormat::rfc7489, ReportCompression::gzip);
    const SmtpResult result =
        send_mail(options_for(sink.port()), "a@receiver.example", "rua@example.com", built.message);
    EXPECT_EQ(result.status, SmtpStatus::permanent);
    EXPECT_EQ(result.code, 554);
    EXPECT_EQ(result.reply, "554 5.7.1 rejected for test");
}

TEST(Smtp, ServerDownIsTemporary) {
    const std::uint16_t port = test_support::free_loopback_port();  // nothing listens there
    const SmtpResult result =
        send_mail(options_for(port), "a@receiver.example", "rua@example.com", "x\r\n");
    EXPECT_EQ(result.status, SmtpStatus::temporary);
    EXPECT_EQ(result.code, 0);
    EXPECT_FALSE(result.detail.empty());
}

// A server that takes the connection and never greets: the timeout makes it temporary.
TEST(Smtp, SilentServerTimesOut) {
    test_support::Fd listener = test_support::bound_socket(SOCK_STREAM, 0);
    ASSERT_GE(listener.get(), 0);
    ASSERT_EQ(::listen(listener.get(), 4), 0);
    SmtpOptions options = options_for(test_support::port_of(listener.get()));
    options.total_timeout = std::chrono::milliseconds(1500);
    const auto start = std::chrono::steady_clock::now();
    const SmtpResult result = send_mail(options, "a@receiver.example", "rua@example.com", "x\r\n");
    EXPECT_EQ(result.status, SmtpStatus::temporary);
    EXPECT_LT(std::chrono::steady_clock::now() - start, std::chrono::seconds(10));
}

// STARTTLS required but not offered (smtp-sink offers none): our configuration, so temporary.
TEST(Smtp, StartTlsRequiredButNotOfferedIsTemporary) {
    SmtpSink sink;
    ASSERT_TRUE(sink.running());
    SmtpOptions options = options_for(sink.port());
    options.tls = SmtpTls::starttls_required;
    const SmtpResult result = send_mail(options, "a@receiver.example", "rua@example.com", "x\r\n");
    EXPECT_EQ(result.status, SmtpStatus::temporary) << result.detail;
    EXPECT_EQ(sink.delivered(), 0u);
    options.tls = SmtpTls::starttls_optional;  // falls back to plain
    EXPECT_EQ(send_mail(options, "a@receiver.example", "rua@example.com", "x\r\n").status,
              SmtpStatus::accepted);
}

TEST(Smtp, EnvelopeInjectionRefused) {
    SmtpSink sink;
    ASSERT_TRUE(sink.running());
    const SmtpResult result = send_mail(options_for(sink.port()), "a@receiver.example",
                                        "rua@example.com>\r\nRCPT TO:<x@evil.example", "x\r\n");
    EXPECT_EQ(result.status, SmtpStatus::permanent);
    EXPECT_EQ(sink.delivered(), 0u);
}

}  // namespace
}  // namespace dmarc::io
