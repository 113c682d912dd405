// DMARC failure reports: the fo= trigger (RFC 7489 §6.3, RFC 9991 psd=y rule), the AFRF mail
// (RFC 6591 §3.1 as updated by RFC 9991 "Reporting Format Update") read back with the
// independent MIME reader and compared with the RFC 9991 Appendix A example, RFC 6590 redaction,
// and header injection through untrusted values.
#include "core/failure_report.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <set>

#include "core/report_mail.hpp"
#include "core/text.hpp"
#include "tests/support/mime_reader.hpp"
#include "tests/support/text_file.hpp"

namespace dmarc {
namespace {

using test_support::mime_lower;
using test_support::mime_parts;
using test_support::MimePart;
using test_support::parse_mime_entity;

// ---- Trigger --------------------------------------------------------------------------------

struct TriggerCase {
    const char* name;
    const char* rfc;
    const char* record;  // nullptr: no DMARC record
    DmarcResult result;
    bool dkim_aligned;
    bool spf_aligned;
    std::vector<DkimResult> dkim;
    std::optional<SpfResult> spf;
    bool on_none;
    FailureReportTrigger expected;
    bool evaluated = true;
    bool is_dmarc_report = false;
};

MessageVerdict trigger_verdict(const TriggerCase& c) {
    MessageVerdict v;
    v.evaluated = c.evaluated;
    v.is_dmarc_report = c.is_dmarc_report;
    v.evaluation.result = c.result;
    v.evaluation.rfc5322_from_domain = "example.com";
    if (c.record != nullptr) {
        auto record = parse_dmarc_record(c.record);
        EXPECT_TRUE(record.has_value()) << c.record;
        if (record) {
            v.evaluation.published = std::make_shared<const DmarcRecord>(*record);
            v.evaluation.applied_policy = record->p;
            v.evaluation.policy_domain = "example.com";
        }
    }
    v.evaluation.dkim_aligned = c.dkim_aligned;
    v.evaluation.spf_aligned = c.spf_aligned;
    for (DkimResult r : c.dkim) v.dkim.push_back({"example.com", "s1", r, ""});
    if (c.spf) v.spf = SpfAuthResult{"example.com", SpfScope::mfrom, *c.spf, false, ""};
    return v;
}

// {wanted, dmarc_failure (fo=0), aligned_failure (fo=1), dkim_failure (fo=d), spf_failure (fo=s)}
constexpr FailureReportTrigger T(bool w, bool f0, bool f1, bool fd, bool fs) {
    return {w, f0, f1, fd, fs};
}

const char* const kRuf = "; ruf=mailto:ruf@example.com";

TEST(FailureReportTrigger, Table) {
    using D = DkimResult;
    using S = SpfResult;
    const std::string reject = std::string("v=DMARC1; p=reject") + kRuf;
    const std::string fo0 = reject + "; fo=0";
    const std::string fo1 = reject + "; fo=1";
    const std::string fod = reject + "; fo=d";
    const std::string fos = reject + "; fo=s";
    const std::string fo1d = reject + "; fo=1:d";
    const std::string none = std::string("v=DMARC1; p=none") + kRuf;
    const std::string quarantine = std::string("v=DMARC1; p=quarantine") + kRuf;
    const std::string psd = reject + "; psd=y";
    const std::string https_only = "v=DMARC1; p=reject; ruf=https://example.com/r";
    const TriggerCase cases[] = {
        // fo=0 (the default): "all underlying authentication mechanisms fail to produce an
        // aligned 'pass' result" (RFC 7489 §6.3) = DMARC fail.
        {"no fo, DMARC fail",
         "7489 §6.3 fo default 0",
         reject.c_str(),
         DmarcResult::fail,
         false,
         false,
         {D::fail},
         S::fail,
         false,
         T(true, true, true, true, true)},
        {"fo=0 explicit, DMARC fail",
         "7489 §6.3 fo=0",
         fo0.c_str(),
         DmarcResult::fail,
         false,
         false,
         {},
         S::none,
         false,
         T(true, true, true, false, false)},
        {"fo=0, DMARC pass with SPF unaligned",
         "7489 §6.3 fo=0",
         reject.c_str(),
         DmarcResult::pass,
         true,
         false,
         {D::pass},
         S::fail,
         false,
         T(false, false, true, false, true)},
        // fo=1: "any underlying authentication mechanism produced something other than an
        // aligned 'pass' result" holds for a DMARC pass too.
        {"fo=1, DMARC pass, SPF fails",
         "7489 §6.3 fo=1",
         fo1.c_str(),
         DmarcResult::pass,
         true,
         false,
         {D::pass},
         S::fail,
         false,
         T(true, false, true, false, true)},
        {"fo=1, DMARC pass, SPF passes unaligned",
         "7489 §6.3 fo=1",
         fo1.c_str(),
         DmarcResult::pass,
         true,
         false,
         {D::pass},
         S::pass,
         false,
         T(true, false, true, false, false)},
        {"fo=1, DMARC pass with a failing DKIM signature, SPF unaligned",
         "7489 §6.3 fo=1",
         fo1.c_str(),
         DmarcResult::pass,
         true,
         false,
         {D::pass, D::fail},
         S::pass,
         false,
         T(true, false, true, true, false)},
        {"fo=1, both aligned",
         "7489 §6.3 fo=1",
         fo1.c_str(),
         DmarcResult::pass,
         true,
         true,
         {D::pass},
         S::pass,
         false,
         T(false, false, false, false, false)},
        {"fo=1, both aligned but an extra signature fails (no fo=d)",
         "7489 §6.3 fo=1",
         fo1.c_str(),
         DmarcResult::pass,
         true,
         true,
         {D::pass, D::fail},
         S::pass,
         false,
         T(false, false, false, true, false)},
        // fo=d: "a signature that failed evaluation, regardless of its alignment".
        {"fo=d, DMARC pass via SPF, DKIM fail",
         "7489 §6.3 fo=d",
         fod.c_str(),
         DmarcResult::pass,
         false,
         true,
         {D::fail},
         S::pass,
         false,
         T(true, false, true, true, false)},
        {"fo=d, DKIM permerror",
         "7489 §6.3 fo=d; RFC 8601 §2.7.1",
         fod.c_str(),
         DmarcResult::pass,
         false,
         true,
         {D::permerror},
         S::pass,
         false,
         T(true, false, true, true, false)},
        {"fo=d, DKIM neutral",
         "7489 §6.3 fo=d; RFC 8601 §2.7.1",
         fod.c_str(),
         DmarcResult::pass,
         false,
         true,
         {D::neutral},
         S::pass,
         false,
         T(true, false, true, true, false)},
        {"fo=d, DKIM policy",
         "7489 §6.3 fo=d; RFC 8601 §2.7.1",
         fod.c_str(),
         DmarcResult::pass,
         false,
         true,
         {D::policy},
         S::pass,
         false,
         T(true, false, true, true, false)},
        {"fo=d, DKIM temperror is not a failed evaluation",
         "7489 §6.3 fo=d; RFC 8601 §2.7.1",
         fod.c_str(),
         DmarcResult::pass,
         false,
         true,
         {D::temperror},
         S::pass,
         false,
         T(false, false, true, false, false)},
        {"fo=d, no signature",
         "7489 §6.3 fo=d",
         fod.c_str(),
         DmarcResult::fail,
         false,
         false,
         {},
         S::fail,
         false,
         T(false, true, true, false, true)},
        // fo=s: "the message failed SPF evaluation, regardless of its alignment".
        {"fo=s, SPF fail",
         "7489 §6.3 fo=s; RFC 7208 §2.6.4",
         fos.c_str(),
         DmarcResult::pass,
         true,
         false,
         {D::pass},
         S::fail,
         false,
         T(true, false, true, false, true)},
        {"fo=s, SPF softfail",
         "7489 §6.3 fo=s; RFC 7208 §2.6.5",
         fos.c_str(),
         DmarcResult::pass,
         true,
         false,
         {D::pass},
         S::softfail,
         false,
         T(true, false, true, false, true)},
        {"fo=s, SPF permerror",
         "7489 §6.3 fo=s; RFC 7208 §2.6.7",
         fos.c_str(),
         DmarcResult::pass,
         true,
         false,
         {D::pass},
         S::permerror,
         false,
         T(true, false, true, false, true)},
        {"fo=s, SPF neutral is no failure",
         "7489 §6.3 fo=s; RFC 7208 §2.6.2",
         fos.c_str(),
         DmarcResult::pass,
         true,
         false,
         {D::pass},
         S::neutral,
         false,
         T(false, false, true, false, false)},
        {"fo=s, SPF none is no failure",
         "7489 §6.3 fo=s; RFC 7208 §2.6.1",
         fos.c_str(),
         DmarcResult::pass,
         true,
         false,
         {D::pass},
         S::none,
         false,
         T(false, false, true, false, false)},
        {"fo=s, SPF temperror is no failure",
         "7489 §6.3 fo=s; RFC 7208 §2.6.6",
         fos.c_str(),
         DmarcResult::pass,
         true,
         false,
         {D::pass},
         S::temperror,
         false,
         T(false, false, true, false, false)},
        {"fo=s, no SPF result",
         "7489 §6.3 fo=s",
         fos.c_str(),
         DmarcResult::pass,
         true,
         false,
         {D::pass},
         std::nullopt,
         false,
         T(false, false, true, false, false)},
        // fo=1:d: any listed option.
        {"fo=1:d, only d holds",
         "7489 §6.3 fo list",
         fo1d.c_str(),
         DmarcResult::pass,
         true,
         true,
         {D::pass, D::fail},
         S::pass,
         false,
         T(true, false, false, true, false)},
        {"fo=1:d, only 1 holds",
         "7489 §6.3 fo list",
         fo1d.c_str(),
         DmarcResult::pass,
         true,
         false,
         {D::pass},
         S::pass,
         false,
         T(true, false, true, false, false)},
        {"fo=1:d, neither",
         "7489 §6.3 fo list",
         fo1d.c_str(),
         DmarcResult::pass,
         true,
         true,
         {D::pass},
         S::fail,
         false,
         T(false, false, false, false, true)},
        // The policy gate (opendmarc.md §2.10, FailureReportsOnNone).
        {"p=none without on_none",
         "opendmarc.md §2.10",
         none.c_str(),
         DmarcResult::fail,
         false,
         false,
         {},
         S::fail,
         false,
         T(false, true, true, false, true)},
        {"p=none with on_none",
         "opendmarc.md §2.10",
         none.c_str(),
         DmarcResult::fail,
         false,
         false,
         {},
         S::fail,
         true,
         T(true, true, true, false, true)},
        {"p=quarantine",
         "opendmarc.md §2.10",
         quarantine.c_str(),
         DmarcResult::fail,
         false,
         false,
         {},
         S::fail,
         false,
         T(true, true, true, false, true)},
        // RFC 9991: "MUST NOT consider 'ruf' tags in DMARC Policy Records having a 'psd=y' tag".
        {"psd=y",
         "RFC 9991 Failure Reports",
         psd.c_str(),
         DmarcResult::fail,
         false,
         false,
         {},
         S::fail,
         false,
         T(false, true, true, false, true)},
        // No ruf, or none usable: RFC 7489 §6.3 "fo ... MUST be ignored if ruf is not also
        // specified"; only mailto: URIs are used (RFC 9991 sends by mail).
        {"no ruf",
         "7489 §6.3 ruf",
         "v=DMARC1; p=reject",
         DmarcResult::fail,
         false,
         false,
         {},
         S::fail,
         false,
         T(false, true, true, false, true)},
        {"ruf without a mailto: URI",
         "7489 §6.2",
         https_only.c_str(),
         DmarcResult::fail,
         false,
         false,
         {},
         S::fail,
         false,
         T(false, true, true, false, true)},
        // No record: DMARC does not apply (RFC 9989 §4.10.1), nothing holds.
        {"no record",
         "9989 §4.10.1",
         nullptr,
         DmarcResult::none,
         false,
         false,
         {D::fail},
         S::fail,
         true,
         T(false, false, false, false, false)},
        {"DMARC temperror says nothing about the sender",
         "7489 §6.6.3",
         reject.c_str(),
         DmarcResult::temperror,
         false,
         false,
         {D::fail},
         S::fail,
         true,
         T(false, false, false, false, false)},
        {"not evaluated",
         "-",
         reject.c_str(),
         DmarcResult::fail,
         false,
         false,
         {},
         S::fail,
         true,
         T(false, false, false, false, false),
         false},
        {"the message is a DMARC report (no report loops)",
         "RFC 9991 Transport",
         reject.c_str(),
         DmarcResult::fail,
         false,
         false,
         {},
         S::fail,
         true,
         T(false, true, true, false, true),
         true,
         true},
    };
    for (const TriggerCase& c : cases) {
        SCOPED_TRACE(std::string(c.name) + " (" + c.rfc + ")");
        const auto t = failure_report_trigger(trigger_verdict(c), c.on_none);
        EXPECT_EQ(t.wanted, c.expected.wanted);
        EXPECT_EQ(t.dmarc_failure, c.expected.dmarc_failure);
        EXPECT_EQ(t.aligned_failure, c.expected.aligned_failure);
        EXPECT_EQ(t.dkim_failure, c.expected.dkim_failure);
        EXPECT_EQ(t.spf_failure, c.expected.spf_failure);
    }
}

// ---- Redaction (RFC 6590 §4) ------------------------------------------------------------------

TEST(FailureReportRedaction, Address) {
    const std::string a = redact_address("alice@example.com", "k1");
    EXPECT_TRUE(text::istarts_with(a, "redacted-")) << a;
    EXPECT_TRUE(text::iends_with(a, "@example.com")) << a;
    EXPECT_EQ(a.size(), std::string("redacted-0123456789abcdef@example.com").size());
    EXPECT_EQ(redact_address("alice@other.example", "k1").substr(0, 25), a.substr(0, 25))
        << "equal local-parts give equal tokens under one key";
    EXPECT_NE(redact_address("bob@example.com", "k1"), a);
    EXPECT_NE(redact_address("alice@example.com", "k2"), a) << "the key changes the token";
    EXPECT_EQ(redact_address("", "k1"), "");
    EXPECT_EQ(redact_address("@example.com", "k1"), "@example.com");
    const std::string bare = redact_address("postmaster", "k1");
    EXPECT_TRUE(text::istarts_with(bare, "redacted-")) << bare;
    EXPECT_EQ(bare.find("postmaster"), std::string::npos);
    // The last '@' separates the domain (a quoted local-part may hold '@').
    const std::string quoted = redact_address("\"a@b\"@example.com", "k1");
    EXPECT_TRUE(text::iends_with(quoted, "@example.com")) << quoted;
    EXPECT_EQ(quoted.find("a@b"), std::string::npos);
}

// ---- Dates (RFC 5322 §3.3) ----------------------------------------------------------------------

TEST(FailureReportDate, Rfc5322) {
    const std::pair<std::int64_t, const char*> cases[] = {
        {0, "Thu, 01 Jan 1970 00:00:00 +0000"},
        {1658210268, "Tue, 19 Jul 2022 05:57:48 +0000"},  // the RFC 9991 example's Date in UTC
        {1709164800, "Thu, 29 Feb 2024 00:00:00 +0000"},  // leap day
        {1700096400, "Thu, 16 Nov 2023 01:00:00 +0000"},
        {-1, "Wed, 31 Dec 1969 23:59:59 +0000"},
    };
    for (const auto& [when, expected] : cases) EXPECT_EQ(rfc5322_date(when), expected) << when;
}

// ---- The report mail --------------------------------------------------------------------------

std::string to_crlf(std::string_view lf) {
    std::string out;
    for (char c : lf) {
        if (c == '\n') out += '\r';
        out += c;
    }
    return out;
}

struct ReadReport {
    MimePart message;
    std::vector<MimePart> parts;
    MimePart feedback;  // part 2's fields
};

ReadReport read_report(std::string_view lf) {
    ReadReport r;
    r.message = parse_mime_entity(to_crlf(lf));
    r.parts = mime_parts(r.message);
    if (r.parts.size() >= 2) r.feedback = parse_mime_entity(r.parts[1].body);
    return r;
}

std::string content_type(const MimePart& part) {
    const std::string value = mime_lower(part.header("content-type"));
    const std::size_t semicolon = value.find(';');
    return semicolon == std::string::npos ? value : value.substr(0, semicolon);
}

// The RFC 9991 Appendix A example, and the header block of the message it reports.
const std::string& example_report() {
    static const std::string text =
        test::read_text(std::string(DMARC_TEST_DATA) + "/failure/example-failure-report.eml");
    return text;
}

std::vector<HeaderField> example_original_headers() {
    const ReadReport r = read_report(example_report());
    EXPECT_EQ(r.parts.size(), 3U);
    return r.parts.size() == 3 ? parse_header_block(r.parts[2].body) : std::vector<HeaderField>{};
}

// The verdict and envelope the RFC 9991 example describes: From consumer.example, failing
// DKIM signatures of consumer.example (permerror s=epsilon, neutral s=delta) and of
// forwarder.example, SPF of the forwarder's SRS address, DMARC fail.
MessageVerdict example_verdict() {
    MessageVerdict v;
    v.evaluated = true;
    v.action = MilterAction::reject;
    v.authserv_id = "gen.example";
    Evaluation& e = v.evaluation;
    e.result = DmarcResult::fail;
    e.rfc5322_from_domain = "consumer.example";
    e.policy_domain = "consumer.example";
    e.policy_source = PolicySource::author;
    e.published = std::make_shared<const DmarcRecord>(
        *parse_dmarc_record("v=DMARC1; p=reject; ruf=mailto:dmarcfail@consumer.example"));
    e.applied_policy = Policy::reject;
    v.dkim = {{"forwarder.example", "ed25519-59hs", DkimResult::permerror, ""},
              {"forwarder.example", "rsa-wgJg", DkimResult::temperror, ""},
              {"consumer.example", "epsilon", DkimResult::permerror, ""},
              {"consumer.example", "delta", DkimResult::neutral, ""}};
    v.spf = SpfAuthResult{"forwarder.example", SpfScope::mfrom, SpfResult::pass, false, ""};
    return v;
}

Envelope example_envelope() {
    Envelope env;
    env.client_ip = IpAddress::parse("192.0.2.2");
    env.client_port = 12345;
    env.mail_from = "author=gen.example@forwarder.example";
    env.rcpt_to = {"x@gen.example"};
    env.queue_id = "65E1A3F0A0";
    env.mta_hostname = "mail.gen.example";
    return env;
}

FailureReportSettings example_settings() {
    FailureReportSettings s;
    s.sent_by = "DMARC Filter <DMARC@gen.example>";
    s.reporting_mta = "gen.example";
    s.redaction_key = "secret";
    return s;
}

const std::vector<std::string> kTo = {"dmarcfail@consumer.example"};
constexpr std::int64_t kArrival = 1658210264;
constexpr std::int64_t kNow = 1658210268;

std::string compose_example(const FailureReportSettings& settings,
                            const MessageVerdict& verdict = example_verdict(),
                            const Envelope& envelope = example_envelope(),
                            const std::vector<HeaderField>& headers = example_original_headers(),
                            std::span<const std::string> bcc = {}) {
    auto mail =
        compose_failure_report(verdict, envelope, headers, kTo, bcc, settings, kArrival, kNow);
    EXPECT_TRUE(mail.has_value()) << (mail ? "" : mail.error().message);
    return mail ? *mail : std::string();
}

std::set<std::string> names(const MimePart& part) {
    std::set<std::string> out;
    for (const auto& [name, value] : part.headers) out.insert(name);
    return out;
}

// Every line of a header section is a field ("name:" with a printable name) or a continuation
// (starts with white space): nothing an untrusted value holds can start a field of its own.
void expect_header_lines_well_formed(std::string_view section, std::set<std::string>& fields) {
    std::size_t pos = 0;
    while (pos < section.size()) {
        const auto end = section.find('\n', pos);
        const std::string_view line = section.substr(pos, end - pos);
        pos = end == std::string_view::npos ? section.size() : end + 1;
        if (line.empty()) break;
        if (text::is_wsp(line.front())) continue;
        const auto colon = line.find(':');
        ASSERT_NE(colon, std::string_view::npos) << "not a field: " << line;
        fields.insert(mime_lower(std::string(line.substr(0, colon))));
    }
}

// RFC 6591 §3.1 and RFC 9991 "Reporting Format Update": the fields and their values for the
// example's inputs (no redaction, to compare with the example's values).
TEST(FailureReportMail, RequiredFieldsAndValues) {
    FailureReportSettings settings = example_settings();
    settings.redact = false;
    const std::string mail = compose_example(settings);
    EXPECT_EQ(mail.find('\r'), std::string::npos) << "LF line ends only (sendmail -t)";
    const ReadReport r = read_report(mail);
    EXPECT_EQ(r.message.header("from"), "DMARC Filter <DMARC@gen.example>");
    EXPECT_EQ(r.message.header("to"), "dmarcfail@consumer.example");
    EXPECT_EQ(r.message.header("bcc"), "");
    EXPECT_EQ(r.message.header("date"), "Tue, 19 Jul 2022 05:57:48 +0000");
    EXPECT_EQ(r.message.header("subject"), "FW: This is the original subject");
    EXPECT_EQ(r.message.header("mime-version"), "1.0");
    EXPECT_EQ(r.message.header("auto-submitted"), "auto-generated");
    EXPECT_TRUE(text::iends_with(r.message.header("message-id"), "@gen.example>"));
    const std::string ct = r.message.header("content-type");
    EXPECT_EQ(content_type(r.message), "multipart/report");
    EXPECT_EQ(test_support::mime_param(ct, "report-type"), "feedback-report");

    ASSERT_EQ(r.parts.size(), 3U);
    EXPECT_EQ(content_type(r.parts[0]), "text/plain");
    EXPECT_NE(r.parts[0].body.find("received from IP 192.0.2.2 on Tue, 19 Jul 2022 05:57:44"),
              std::string::npos)
        << r.parts[0].body;
    EXPECT_EQ(content_type(r.parts[1]), "message/feedback-report");
    // RFC 9991 Appendix A: "If the body of the message is not included, the last MIME entity
    // would have 'Content-Type: text/rfc822-headers'".
    EXPECT_EQ(content_type(r.parts[2]), "text/rfc822-headers");

    const MimePart& f = r.feedback;
    const std::pair<const char*, const char*> expected[] = {
        {"feedback-type", "auth-failure"},  // RFC 6591 §3.1
        {"version", "1"},                   // RFC 5965 §3.1
        {"user-agent", "dmarc-milter/1"},   // RFC 5965 §3.1
        {"auth-failure", "dmarc"},          // RFC 9991 item 3
        // RFC 9991 item 2, read as the example: DKIM of the author domain failed, SPF
        // authenticated another domain.
        {"identity-alignment", "dkim"},
        {"dkim-domain", "consumer.example"},  // RFC 9991 item 1: REQUIRED for DKIM failures
        {"dkim-identity", "@consumer.example"},
        {"dkim-selector", "epsilon"},
        {"original-envelope-id", "65E1A3F0A0"},  // RFC 6591 §3.1
        {"original-mail-from", "author=gen.example@forwarder.example"},
        {"original-rcpt-to", "x@gen.example"},
        {"arrival-date", "Tue, 19 Jul 2022 05:57:44 +0000"},
        {"source-ip", "192.0.2.2"},
        {"reported-domain", "consumer.example"},
        {"delivery-result", "reject"},  // RFC 9991 item 1: OPTIONAL
    };
    for (const auto& [name, value] : expected) {
        EXPECT_EQ(f.headers.count(name), 1U) << name;
        EXPECT_EQ(f.header(name), value) << name;
    }
    const std::string ar = f.header("authentication-results");
    EXPECT_TRUE(text::istarts_with(ar, "gen.example;")) << ar;
    for (const char* resinfo : {"dmarc=fail header.from=consumer.example",
                                "dkim=permerror header.d=consumer.example "
                                "header.s=epsilon",
                                "dkim=neutral header.d=consumer.example header.s=delta",
                                "dkim=temperror header.d=forwarder.example",
                                "spf=pass smtp.mailfrom=forwarder.example"}) {
        EXPECT_NE(ar.find(resinfo), std::string::npos) << resinfo << " in " << ar;
    }

    // The header copy holds the original fields, in order, with their values.
    const auto original = example_original_headers();
    const auto copied = parse_header_block(r.parts[2].body);
    ASSERT_EQ(copied.size(), original.size());
    for (std::size_t i = 0; i < original.size(); ++i) {
        EXPECT_EQ(copied[i].name, original[i].name);
        EXPECT_EQ(copied[i].value, original[i].value) << original[i].name;
    }
    EXPECT_EQ(r.parts[2].body.find("Message body was here"), std::string::npos) << "no body";
}

// RFC 9991 Appendix A: same top-level fields (but the transit ones), same part types (the last one
// as the RFC says for a report without the body) and the same feedback-report field names, among
// them Source-Port (RFC 6692: the milter protocol's connect packet carries the client's port).
TEST(FailureReportMail, StructureMatchesRfc9991Example) {
    const ReadReport ours = read_report(compose_example(example_settings()));
    const ReadReport rfc = read_report(example_report());
    // The example is the report as delivered: Received and DKIM-Signature were added by the
    // report's own MTA and signer after the generator handed it over (sendmail -t here).
    std::size_t top_compared = 0;
    for (const std::string& name : names(rfc.message)) {
        if (name == "received" || name == "dkim-signature") continue;
        EXPECT_EQ(ours.message.headers.count(name), 1U) << name;
        ++top_compared;
    }
    EXPECT_EQ(top_compared, 7U);  // From To Date Subject Mime-Version Content-Type Message-Id
    ASSERT_EQ(ours.parts.size(), rfc.parts.size());
    for (std::size_t i = 0; i < 2; ++i) {
        EXPECT_EQ(content_type(ours.parts[i]), content_type(rfc.parts[i])) << i;
    }
    EXPECT_EQ(content_type(rfc.parts[2]), "message/rfc822");
    EXPECT_EQ(content_type(ours.parts[2]), "text/rfc822-headers");
    std::size_t compared = 0;
    for (const std::string& name : names(rfc.feedback)) {
        EXPECT_EQ(ours.feedback.headers.count(name), 1U) << name;
        ++compared;
    }
    EXPECT_EQ(compared, 14U);
    for (const char* same :
         {"feedback-type", "version", "auth-failure", "identity-alignment", "dkim-domain",
          "dkim-identity", "dkim-selector", "original-envelope-id", "source-ip", "source-port",
          "reported-domain"}) {
        EXPECT_EQ(ours.feedback.header(same), rfc.feedback.header(same)) << same;
    }
}

// RFC 6590 / RFC 9991 Privacy Considerations: local-parts redacted, domains kept, equal
// local-parts give equal tokens, message identifiers kept.
TEST(FailureReportMail, Redaction) {
    Envelope env = example_envelope();
    env.rcpt_to = {"x@gen.example", "x@other.example", "y@gen.example"};
    const std::string mail = compose_example(example_settings(), example_verdict(), env);
    const ReadReport r = read_report(mail);
    ASSERT_EQ(r.parts.size(), 3U);
    const std::string x = redact_address("x@gen.example", "secret");
    EXPECT_EQ(r.feedback.header("original-mail-from"),
              redact_address("author=gen.example@forwarder.example", "secret"));
    std::vector<std::string> rcpts;
    for (auto [it, end] = r.feedback.headers.equal_range("original-rcpt-to"); it != end; ++it) {
        rcpts.push_back(it->second);
    }
    ASSERT_EQ(rcpts.size(), 3U);
    EXPECT_EQ(rcpts[0], x);
    EXPECT_EQ(rcpts[1].substr(0, rcpts[1].find('@')), x.substr(0, x.find('@')));
    EXPECT_TRUE(text::iends_with(rcpts[1], "@other.example"));
    EXPECT_NE(rcpts[2].substr(0, rcpts[2].find('@')), x.substr(0, x.find('@')));

    const std::string& copy = r.parts[2].body;
    for (const char* local : {"author@", "users@", "users+help@", "x@gen", "DMARC@"}) {
        EXPECT_EQ(copy.find(local), std::string::npos) << local;
    }
    for (const char* kept : {"@consumer.example", "@forwarder.example",
                             "<2431dc66-b010-c9cc-4f2b-a1f889f8bdb4@consumer.example>",
                             "<20220718102753.0f6d9dde.cel@example.com>", "header.i=@consumer"}) {
        EXPECT_NE(copy.find(kept), std::string::npos) << kept;
    }
    // The same local-part in two fields gets the same token: author@consumer.example is in
    // Author: and From:.
    const std::string author = redact_address("author@consumer.example", "secret");
    std::size_t count = 0;
    for (auto at = copy.find(author); at != std::string::npos; at = copy.find(author, at + 1)) {
        ++count;
    }
    EXPECT_EQ(count, 2U);
    EXPECT_NE(r.parts[0].body.find("redacted (RFC 6590)"), std::string::npos);
}

// RFC 6590 redaction inside copied fields: the local-part before each '@' that is followed by a
// domain, domains kept; message identifiers, "i=@domain" and a lone '@' untouched.
TEST(FailureReportMail, RedactionInsideFields) {
    auto token = [](std::string_view local) {
        const std::string a = redact_address(std::string(local) + "@x.example", "secret");
        return a.substr(0, a.find('@'));
    };
    const struct {
        HeaderField field;
        std::string expected;
    } cases[] = {
        {{"Return-Path", "<alice@example.com>"}, "<" + token("alice") + "@example.com>"},
        {{"Authentication-Results", "mx; spf=pass smtp.mailfrom=alice@example.com"},
         "mx; spf=pass smtp.mailfrom=" + token("alice") + "@example.com"},
        // SRS (a forwarder's rewritten sender): the original local-part follows the last '='.
        {{"X-SRS", "SRS0=HHH=TT=orig.example=alice@fwd.example"},
         "SRS0=HHH=TT=orig.example=" + token("alice") + "@fwd.example"},
        {{"To", "\"john doe\"@example.com, bob@[192.0.2.1]"},
         token("\"john doe\"") + "@example.com, " + token("bob") + "@[192.0.2.1]"},
        {{"Message-ID", "<abc@example.com>"}, "<abc@example.com>"},
        {{"References", "<a@b.example> <c@d.example>"}, "<a@b.example> <c@d.example>"},
        {{"X-Note", "meet @ noon, mail@ 5"}, "meet @ noon, mail@ 5"},
        {{"DKIM-Signature", "v=1; d=example.com; i=@example.com"},
         "v=1; d=example.com; i=@example.com"},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.field.name);
        const ReadReport r = read_report(
            compose_example(example_settings(), example_verdict(), example_envelope(), {c.field}));
        ASSERT_EQ(r.parts.size(), 3U);
        const auto copied = parse_header_block(r.parts[2].body);
        ASSERT_EQ(copied.size(), 1U);
        EXPECT_EQ(copied[0].value, c.expected);
    }
}

// Header injection: CR/LF in the queue id, the author domain, the Subject, a DKIM selector or
// a header field value cannot start a field of its own, in the mail or in any part.
TEST(FailureReportMail, NoHeaderInjection) {
    MessageVerdict v = example_verdict();
    v.evaluation.rfc5322_from_domain = "consumer.example\r\nBcc: evil@attacker.example";
    v.dkim[2].selector = "epsilon\nX-Injected: 1";
    v.authserv_id = "gen.example\r\nX-Injected: 2";
    Envelope env = example_envelope();
    env.queue_id = "Q1\r\nBcc: evil@attacker.example";
    env.mail_from = "a\r\nX-Injected: 3@x.example";
    env.rcpt_to = {"b\nX-Injected: 4@x.example"};
    std::vector<HeaderField> headers = {
        {"Subject", "hi\r\nBcc: evil@attacker.example\r\n"},
        {"X-Folded", "one\r\ntwo-not-a-continuation\n\n--=_dmarc_failure_0\r\nX-Injected: 5"},
        {"Bad Name", "v"},
        {"", "v"},
        {"From", "a@consumer.example"},
    };
    for (bool redact : {true, false}) {
        FailureReportSettings settings = example_settings();
        settings.redact = redact;
        const std::string mail = compose_example(settings, v, env, headers);
        ASSERT_FALSE(mail.empty());
        EXPECT_EQ(mail.find('\r'), std::string::npos);
        std::set<std::string> top;
        const auto top_end = mail.find("\n\n");
        expect_header_lines_well_formed(std::string_view(mail).substr(0, top_end + 1), top);
        EXPECT_EQ(top.count("bcc"), 0U);
        EXPECT_EQ(top.count("x-injected"), 0U);
        const ReadReport r = read_report(mail);
        ASSERT_EQ(r.parts.size(), 3U);
        std::set<std::string> feedback_fields;
        std::string part2 = r.parts[1].body;
        part2.erase(std::remove(part2.begin(), part2.end(), '\r'), part2.end());
        expect_header_lines_well_formed(part2, feedback_fields);
        EXPECT_EQ(feedback_fields.count("x-injected"), 0U);
        EXPECT_EQ(feedback_fields.count("bcc"), 0U);
        // Part 3: the copy's fields are the original's (Bad Name and the empty name left out),
        // and the bare line inside X-Folded became a continuation.
        const auto copied = parse_header_block(r.parts[2].body);
        ASSERT_EQ(copied.size(), 3U);
        EXPECT_EQ(copied[0].name, "Subject");
        EXPECT_EQ(copied[1].name, "X-Folded");
        EXPECT_EQ(copied[2].name, "From");
        EXPECT_NE(r.parts[0].body.find("2 header fields with an unusable name"), std::string::npos);
        EXPECT_TRUE(text::istarts_with(r.message.header("subject"), "FW: hi Bcc: "))
            << "unfolded into one line: " << r.message.header("subject");
    }
}

// The header copy never exceeds settings.max_header_bytes; what was left out is said.
TEST(FailureReportMail, HeaderBound) {
    const auto original = example_original_headers();
    for (std::size_t bound : {std::size_t{0}, std::size_t{100}, std::size_t{1000},
                              std::size_t{4000}, limits::kMaxFailureReportHeaderBytes}) {
        SCOPED_TRACE(bound);
        FailureReportSettings settings = example_settings();
        settings.max_header_bytes = bound;
        const ReadReport r = read_report(compose_example(settings));
        ASSERT_EQ(r.parts.size(), 3U);
        // The reader gives CRLF; the bound is on the LF text we wrote.
        std::string copy = r.parts[2].body;
        copy.erase(std::remove(copy.begin(), copy.end(), '\r'), copy.end());
        EXPECT_LE(copy.size(), bound);
        const auto copied = parse_header_block(r.parts[2].body);
        const bool all = copied.size() == original.size();
        EXPECT_EQ(r.parts[0].body.find("past the " + std::to_string(bound) + "-byte bound") ==
                      std::string::npos,
                  all);
        EXPECT_EQ(all, bound == limits::kMaxFailureReportHeaderBytes);
    }
}

// Too many recipients: at most limits::kMaxFailureReportRecipients Original-Rcpt-To fields.
TEST(FailureReportMail, RecipientBound) {
    Envelope env = example_envelope();
    env.rcpt_to.clear();
    for (std::size_t i = 0; i < limits::kMaxFailureReportRecipients + 5; ++i) {
        env.rcpt_to.push_back("r" + std::to_string(i) + "@gen.example");
    }
    const ReadReport r = read_report(compose_example(example_settings(), example_verdict(), env));
    EXPECT_EQ(r.feedback.headers.count("original-rcpt-to"), limits::kMaxFailureReportRecipients);
    EXPECT_NE(r.parts[0].body.find("Left out: 5 more envelope recipients"), std::string::npos);
}

// Subject: "FW: <original>" as in the RFC 9991 example; the generic one without a Subject or
// with one over the bound; 8-bit bytes never reach the field.
TEST(FailureReportMail, Subject) {
    const struct {
        const char* name;
        std::vector<HeaderField> headers;
        std::string expected;
    } cases[] = {
        {"original", {{"Subject", "Hello"}}, "FW: Hello"},
        {"folded", {{"Subject", "Hello\r\n  world"}}, "FW: Hello world"},
        {"none", {}, "DMARC failure report for consumer.example (65E1A3F0A0)"},
        {"empty", {{"Subject", "  "}}, "DMARC failure report for consumer.example (65E1A3F0A0)"},
        {"too long",
         {{"Subject", std::string(limits::kMaxFailureReportSubjectBytes + 1, 'a')}},
         "DMARC failure report for consumer.example (65E1A3F0A0)"},
        {"8-bit",
         {{"Subject",
           "Gr\xc3\xbc\xc3\x9f"
           "e"}},
         "FW: Gr????e"},
        {"address redacted",
         {{"Subject", "for bob@example.com"}},
         "FW: for " + redact_address("bob@example.com", "secret")},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.name);
        const ReadReport r = read_report(
            compose_example(example_settings(), example_verdict(), example_envelope(), c.headers));
        EXPECT_EQ(r.message.header("subject"), c.expected);
    }
}

// Bcc when given; several To entries; errors for unusable destinations (sendmail -t reads its
// recipients from these fields) and a missing From.
TEST(FailureReportMail, DestinationsAndErrors) {
    const std::vector<std::string> bcc = {"copy@receiver.example"};
    const std::vector<std::string> two = {"a@consumer.example", "b@consumer.example"};
    auto ok = compose_failure_report(example_verdict(), example_envelope(), {}, two, bcc,
                                     example_settings(), kArrival, kNow);
    ASSERT_TRUE(ok.has_value());
    const ReadReport r = read_report(*ok);
    EXPECT_EQ(r.message.header("to"), "a@consumer.example, b@consumer.example");
    EXPECT_EQ(r.message.header("bcc"), "copy@receiver.example");

    struct Bad {
        const char* name;
        std::vector<std::string> to;
        std::vector<std::string> bcc;
        std::string sent_by;
    };
    const Bad bad[] = {
        {"no To", {}, {}, "a@b.example"},
        {"no From", {"a@b.example"}, {}, ""},
        {"From with LF", {"a@b.example"}, {}, "a@b.example\nBcc: c@d.example"},
        {"To with CRLF", {"a@b.example\r\nBcc: c@d.example"}, {}, "x@y.example"},
        {"To with a comma", {"a@b.example,c@d.example"}, {}, "x@y.example"},
        {"To with a display name", {"A <a@b.example>"}, {}, "x@y.example"},
        {"To without @", {"postmaster"}, {}, "x@y.example"},
        {"Bcc with a space", {"a@b.example"}, {"c@d.example e@f.example"}, "x@y.example"},
    };
    for (const Bad& b : bad) {
        SCOPED_TRACE(b.name);
        FailureReportSettings settings = example_settings();
        settings.sent_by = b.sent_by;
        auto mail = compose_failure_report(example_verdict(), example_envelope(), {}, b.to, b.bcc,
                                           settings, kArrival, kNow);
        ASSERT_FALSE(mail.has_value());
        EXPECT_EQ(mail.error().code, Errc::invalid_value);
    }
}

// Identity-Alignment (RFC 9991 item 2) and the DKIM-* fields (item 1) for other inputs, and
// Delivery-Result (RFC 6591 §3.1) for each milter action.
TEST(FailureReportMail, IdentityAlignmentAndDeliveryResult) {
    struct Case {
        const char* name;
        std::vector<DkimAuthResult> dkim;
        SpfAuthResult spf;
        MilterAction action;
        const char* identity_alignment;
        const char* dkim_domain;  // "" = no DKIM-* fields
        const char* delivery_result;
    };
    const Case cases[] = {
        {"no signature, SPF passes for another domain",
         {},
         {"attacker.example", SpfScope::mfrom, SpfResult::pass, false, ""},
         MilterAction::quarantine,
         "none",
         "",
         "policy"},
        {"aligned SPF fails, a subdomain's signature fails (relaxed)",
         {{"mail.consumer.example", "s1", DkimResult::fail, ""}},
         {"bounce.consumer.example", SpfScope::mfrom, SpfResult::fail, false, ""},
         MilterAction::accept,
         "dkim, spf",
         "mail.consumer.example",
         "delivered"},
        {"only an unaligned signature fails",
         {{"other.example", "s1", DkimResult::fail, ""}},
         {"consumer.example", SpfScope::mfrom, SpfResult::softfail, false, ""},
         MilterAction::tempfail,
         "spf",
         "",
         "other"},
        {"temperror is not a failure",
         {{"consumer.example", "s1", DkimResult::temperror, ""}},
         {"consumer.example", SpfScope::mfrom, SpfResult::temperror, false, ""},
         MilterAction::discard,
         "none",
         "",
         "policy"},
    };
    for (const Case& c : cases) {
        SCOPED_TRACE(c.name);
        MessageVerdict v = example_verdict();
        v.dkim = c.dkim;
        v.spf = c.spf;
        v.action = c.action;
        const ReadReport r = read_report(compose_example(example_settings(), v));
        EXPECT_EQ(r.feedback.header("identity-alignment"), c.identity_alignment);
        EXPECT_EQ(r.feedback.header("dkim-domain"), c.dkim_domain);
        EXPECT_EQ(r.feedback.headers.count("dkim-selector"), *c.dkim_domain ? 1U : 0U);
        EXPECT_EQ(r.feedback.header("delivery-result"), c.delivery_result);
    }
}

// SPF-DNS (RFC 6591 §3.2 `txt : domain : quoted-string`; RFC 9991 requires it for an SPF
// failure): one field per record the caller looked up, only when SPF failed; the DNS text cannot
// break the field and a record over its bound is left out and named.
TEST(FailureReportMail, SpfDns) {
    MessageVerdict v = example_verdict();
    v.spf = SpfAuthResult{"consumer.example", SpfScope::mfrom, SpfResult::fail, false, ""};
    FailureReportSettings settings = example_settings();
    settings.spf_dns = {{"consumer.example", "v=spf1 ip4:192.0.2.0/24 -all"}};
    std::string mail = compose_example(settings, v);
    EXPECT_NE(mail.find("\nSPF-DNS: txt : consumer.example : \"v=spf1 ip4:192.0.2.0/24 -all\"\n"),
              std::string::npos)
        << mail;

    // Hostile record text: quotes escaped, CR/LF cannot start a field.
    settings.spf_dns = {{"consumer.example", "v=spf1 \"a\\b\r\nBcc: x@evil.example -all"}};
    mail = compose_example(settings, v);
    EXPECT_NE(mail.find("SPF-DNS: txt : consumer.example : \"v=spf1 \\\"a\\\\b Bcc: "
                        "x@evil.example -all\"\n"),
              std::string::npos)
        << mail;
    std::set<std::string> fields;
    expect_header_lines_well_formed(read_report(mail).parts.at(1).body, fields);
    EXPECT_EQ(fields.count("bcc"), 0U);

    // Over the bound: left out, and the text part says so.
    settings.spf_dns = {{"consumer.example",
                         "v=spf1 " + std::string(limits::kMaxFailureReportSpfRecordBytes, 'a')}};
    mail = compose_example(settings, v);
    EXPECT_EQ(mail.find("SPF-DNS:"), std::string::npos);
    EXPECT_NE(mail.find("Left out: an SPF record of consumer.example over"), std::string::npos);

    // SPF passed (or gave none): no SPF-DNS even with a record at hand.
    settings.spf_dns = {{"consumer.example", "v=spf1 -all"}};
    v.spf->result = SpfResult::pass;
    EXPECT_EQ(compose_example(settings, v).find("SPF-DNS:"), std::string::npos);
}

// Null reverse-path (RFC 5965 §3.2 "<>") and local submission (no client IP: no Source-IP).
TEST(FailureReportMail, NullSenderAndLocalSubmission) {
    Envelope env = example_envelope();
    env.mail_from.clear();
    env.client_ip.reset();
    const ReadReport r = read_report(compose_example(example_settings(), example_verdict(), env));
    EXPECT_EQ(r.feedback.header("original-mail-from"), "<>");
    EXPECT_EQ(r.feedback.headers.count("source-ip"), 0U);
    EXPECT_EQ(r.feedback.headers.count("source-port"), 0U);
    EXPECT_NE(r.parts[0].body.find("(local submission)"), std::string::npos);
    // A client whose port the MTA did not give: Source-IP without Source-Port.
    env = example_envelope();
    env.client_port = 0;
    const ReadReport no_port =
        read_report(compose_example(example_settings(), example_verdict(), env));
    EXPECT_EQ(no_port.feedback.header("source-ip"), "192.0.2.2");
    EXPECT_EQ(no_port.feedback.headers.count("source-port"), 0U);
}

// Non-ASCII domains reach header fields as A-labels (RFC 5890 §2.3.2.1), never as 8-bit bytes.
TEST(FailureReportMail, NonAsciiDomainsAsALabels) {
    MessageVerdict v = example_verdict();
    v.evaluation.rfc5322_from_domain =
        "B\xc3\xbc"
        "cher.example";
    v.evaluation.policy_domain =
        "b\xc3\xbc"
        "cher.example";
    v.dkim = {
        {"b\xc3\xbc"
         "cher.example",
         "s1", DkimResult::fail, ""}};
    FailureReportSettings settings = example_settings();
    settings.reporting_mta = "m\xc3\xa4il.example";
    const std::string mail = compose_example(settings, v);
    const ReadReport r = read_report(mail);
    EXPECT_EQ(r.feedback.header("reported-domain"), "xn--bcher-kva.example");
    EXPECT_EQ(r.feedback.header("dkim-domain"), "xn--bcher-kva.example");
    EXPECT_TRUE(text::iends_with(r.message.header("message-id"), "@xn--mil-qla.example>"));
    const auto copy_start = mail.find("Content-Type: text/rfc822-headers");
    ASSERT_NE(copy_start, std::string::npos);
    for (std::size_t i = 0; i < copy_start; ++i) {
        ASSERT_LT(static_cast<unsigned char>(mail[i]), 0x80U) << "8-bit byte at " << i;
    }
}

// RFC 6591 §3.2 DKIM-Identity is the signature's i=: given by the verifier (header.i), it is
// reported, its local-part redacted as every other address (RFC 6590); without it, "@" d=.
TEST(FailureReport, DkimIdentityFromTheSignatureRedacted) {
    MessageVerdict v = example_verdict();
    for (auto& d : v.dkim) {
        if (d.dkim_d == "consumer.example") d.dkim_i = "newsletter@consumer.example";
    }
    for (bool redact : {true, false}) {
        FailureReportSettings settings = example_settings();
        settings.redact = redact;
        const ReadReport r = read_report(compose_example(settings, v));
        const std::string identity = r.feedback.header("dkim-identity");
        if (redact) {
            EXPECT_TRUE(identity.starts_with("redacted-")) << identity;
            EXPECT_TRUE(identity.ends_with("@consumer.example")) << identity;
            EXPECT_EQ(identity.find("newsletter"), std::string::npos) << identity;
        } else {
            EXPECT_EQ(identity, "newsletter@consumer.example");
        }
    }
}

}  // namespace
}  // namespace dmarc
