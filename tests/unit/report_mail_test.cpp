// The report e-mail: filename ABNF and Subject (RFC 7489 §7.2.1.1, RFC 9990 §5), MIME structure
// and base64 (RFC 2045 §6.8, 76-character lines), header injection refused, the !size check
// (RFC 7489 §6.2 / §7.2.1) and the §7.2.2 error report. The MIME is read back with an
// independent reader (tests/support/mime_reader.hpp).
#include "core/report_mail.hpp"

#include <gtest/gtest.h>

#include "tests/support/mime_reader.hpp"

namespace dmarc {
namespace {

using test_support::base64_decode;
using test_support::mime_param;
using test_support::mime_parts;
using test_support::parse_mime_entity;

const ReportPeriod kPeriod{1700006400, 1700092799};
const std::string kId = "1700006400a1b2c3d4e5f60718";

ReportMail sample_mail(std::string attachment) {
    ReportMail mail;
    mail.from = "dmarc-reports@receiver.example";
    mail.to = "rua@example.com";
    mail.date = "Thu, 16 Nov 2023 01:00:00 +0000";
    mail.message_id = kId + ".rua.example.com@receiver.example";
    mail.policy_domain = "example.com";
    mail.submitter = "receiver.example";
    mail.report_id = kId;
    mail.filename = *report_filename("mx.receiver.example", "example.com", kPeriod, kId,
                                     ReportCompression::gzip);
    mail.attachment = std::move(attachment);
    return mail;
}

// RFC 9990 §5: receiver "!" policy-domain "!" begin "!" end "!" unique-id "." extension.
TEST(ReportMail, Filename) {
    EXPECT_EQ(*report_filename("mx.receiver.example", "Example.COM", kPeriod, kId,
                               ReportCompression::gzip),
              "mx.receiver.example!example.com!1700006400!1700092799!" + kId + ".xml.gz");
    EXPECT_EQ(*report_filename("r.example", "example.com", kPeriod, "abc", ReportCompression::zip),
              "r.example!example.com!1700006400!1700092799!abc.zip");
    const struct {
        const char* receiver;
        const char* domain;
        const char* id;
    } bad[] = {{"", "example.com", "x"},          {"r.example", "exa mple.com", "x"},
               {"r!x", "example.com", "x"},       {"r.example", "example.com", "a-b"},
               {"r.example", "example.com", ""},  {"r.example", "../etc", "x"},
               {"r.example", ".example.com", "x"}};
    for (const auto& c : bad) {
        EXPECT_FALSE(report_filename(c.receiver, c.domain, kPeriod, c.id, ReportCompression::gzip))
            << c.receiver << " " << c.domain << " " << c.id;
    }
    EXPECT_FALSE(
        report_filename("r.example", "example.com", {10, 5}, "x", ReportCompression::gzip));
}

// RFC 7489 §7.2.1.1 Subject ABNF (case-sensitive).
TEST(ReportMail, Subject) {
    EXPECT_EQ(report_subject("example.com", "receiver.example", "abc"),
              "Report Domain: example.com Submitter: receiver.example Report-ID: <abc>");
}

// RFC 4648 §10 test vectors; RFC 2045 §6.8 line length.
TEST(ReportMail, Base64) {
    const std::pair<std::string, std::string> vectors[] = {{"", ""},
                                                           {"f", "Zg=="},
                                                           {"fo", "Zm8="},
                                                           {"foo", "Zm9v"},
                                                           {"foob", "Zm9vYg=="},
                                                           {"fooba", "Zm9vYmE="},
                                                           {"foobar", "Zm9vYmFy"}};
    for (const auto& [in, out] : vectors) EXPECT_EQ(base64_encode(in), out);
    std::string binary;
    for (int i = 0; i < 1000; ++i) binary += static_cast<char>((i * 37) & 0xff);
    const std::string encoded = base64_encode(binary);
    std::size_t start = 0;
    while (start < encoded.size()) {
        auto end = encoded.find("\r\n", start);
        const std::size_t length = (end == std::string::npos ? encoded.size() : end) - start;
        EXPECT_LE(length, 76u);
        if (end == std::string::npos) break;
        EXPECT_EQ(length, 76u);
        start = end + 2;
    }
    EXPECT_EQ(*base64_decode(encoded), binary);
}

TEST(ReportMail, MimeParsesBack) {
    std::string attachment;
    for (int i = 0; i < 5000; ++i) attachment += static_cast<char>((i * 131 + 7) & 0xff);
    const ReportMail mail = sample_mail(attachment);
    auto message = compose_report_mail(mail);
    ASSERT_TRUE(message) << message.error().message;
    // CRLF only, no bare LF (SMTP DATA, RFC 5321 §2.3.8).
    for (std::size_t i = 0; i < message->size(); ++i) {
        if ((*message)[i] == '\n') {
            ASSERT_TRUE(i > 0 && (*message)[i - 1] == '\r') << i;
        }
    }
    const auto top = parse_mime_entity(*message);
    EXPECT_EQ(top.header("from"), mail.from);
    EXPECT_EQ(top.header("to"), "rua@example.com");
    EXPECT_EQ(top.header("subject"),
              "Report Domain: example.com Submitter: receiver.example Report-ID: <" + kId + ">");
    EXPECT_EQ(top.header("date"), mail.date);
    EXPECT_EQ(top.header("message-id"), "<" + mail.message_id + ">");
    EXPECT_EQ(top.header("mime-version"), "1.0");
    EXPECT_EQ(top.header("auto-submitted"), "auto-generated");
    EXPECT_EQ(top.header("content-type").rfind("multipart/mixed;", 0), 0u);

    const auto parts = mime_parts(top);
    ASSERT_EQ(parts.size(), 2u);
    EXPECT_EQ(parts[0].header("content-type").rfind("text/plain", 0), 0u);
    EXPECT_NE(parts[0].body.find("example.com"), std::string::npos);
    EXPECT_EQ(parts[1].header("content-type").rfind("application/gzip", 0), 0u);
    EXPECT_EQ(parts[1].header("content-transfer-encoding"), "base64");
    EXPECT_EQ(mime_param(parts[1].header("content-disposition"), "filename"), mail.filename);
    const auto decoded = base64_decode(parts[1].body);
    ASSERT_TRUE(decoded);
    EXPECT_EQ(*decoded, attachment);

    // Deterministic: the same report composes to the same bytes (a resend).
    EXPECT_EQ(*compose_report_mail(mail), *message);

    ReportMail zip = mail;
    zip.compression = ReportCompression::zip;
    const auto zparts = mime_parts(parse_mime_entity(*compose_report_mail(zip)));
    ASSERT_EQ(zparts.size(), 2u);
    EXPECT_EQ(zparts[1].header("content-type").rfind("application/zip", 0), 0u);
}

// Header injection: no CR/LF/controls/8-bit in header values (opendmarc.md §5.4: Bcc in DATA).
TEST(ReportMail, HeaderInjectionRefused) {
    const auto inject = [](auto mutate) {
        ReportMail mail = sample_mail("x");
        mutate(mail);
        return compose_report_mail(mail);
    };
    EXPECT_FALSE(inject([](ReportMail& m) { m.to = "a@example.com\r\nBcc: x@evil.example"; }));
    EXPECT_FALSE(inject([](ReportMail& m) { m.from = "a@example.com\nX: y"; }));
    EXPECT_FALSE(inject([](ReportMail& m) { m.policy_domain = "example.com\r\n"; }));
    EXPECT_FALSE(inject([](ReportMail& m) { m.date = "\x01"; }));
    EXPECT_FALSE(inject([](ReportMail& m) { m.message_id = "caf\xc3\xa9@x"; }));
    EXPECT_FALSE(inject([](ReportMail& m) { m.filename = "a\".xml.gz"; }));
    EXPECT_FALSE(inject([](ReportMail& m) { m.to = ""; }));
    EXPECT_FALSE(inject([](ReportMail& m) { m.text = "caf\xc3\xa9"; }));
    EXPECT_TRUE(inject([](ReportMail&) {}));
}

// RFC 7489 §6.2: "!size" is compared with the size after compression and transport encoding.
TEST(ReportMail, SizeLimit) {
    EXPECT_TRUE(within_size_limit(10'000'000, std::nullopt));
    EXPECT_TRUE(within_size_limit(1024, 1024));
    EXPECT_FALSE(within_size_limit(1025, 1024));
    // A 40 KiB attachment is > 50 KiB once base64-encoded with headers: too big for "!50k".
    auto message = compose_report_mail(sample_mail(std::string(40 * 1024, 'z')));
    ASSERT_TRUE(message);
    EXPECT_GT(message->size(), 50u * 1024);
    EXPECT_FALSE(within_size_limit(message->size(), 50 * 1024));
    EXPECT_TRUE(within_size_limit(message->size(), 60 * 1024));
}

// RFC 7489 §7.2.2 error report fields.
TEST(ReportMail, ErrorReport) {
    const ErrorReport report{
        "Thu, 16 Nov 2023 01:00:00 +0000", "example.com", kId, 123456, "receiver.example",
        "mailto:rua@example.com!50k"};
    EXPECT_EQ(error_report_body(report),
              "Report-Date: Thu, 16 Nov 2023 01:00:00 +0000\r\nReport-Domain: example.com\r\n"
              "Report-ID: <" +
                  kId +
                  ">\r\nReport-Size: 123456\r\nSubmitter: receiver.example\r\n"
                  "Submitting-URI: mailto:rua@example.com!50k\r\n");
    auto mail = compose_error_report_mail(report, "dmarc@receiver.example", "rua@example.com",
                                          report.report_date, "err1@receiver.example");
    ASSERT_TRUE(mail);
    const auto top = parse_mime_entity(*mail);
    EXPECT_EQ(top.header("content-type").rfind("text/plain", 0), 0u);
    EXPECT_NE(top.body.find("Report-Size: 123456"), std::string::npos);
    EXPECT_FALSE(compose_error_report_mail(report, "a@b", "x@y\r\nBcc: z", "d", "m"));
}

}  // namespace
}  // namespace dmarc
