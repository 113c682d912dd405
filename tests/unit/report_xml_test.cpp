// Aggregate report XML: the strict writer (RFC 7489 Appendix C, RFC 9990 §2 / its XSD), escaping
// of hostile values (opendmarc.md §8.3: "nothing is XML-escaped"), and the lenient bounded reader
// (standards §1.13, §3 "protect against XML bombs", §8 item 6) over real peers' reports.
// XSD validation and Mail::DMARC are in tests/integration/report_validation_test.cpp.
#include "core/report_xml.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

#include "core/ip.hpp"
#include "core/limits.hpp"
#include "tests/support/report_samples.hpp"

namespace dmarc {
namespace {

using test_support::sample_identity;
using test_support::sample_shapes;

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

AggregateReport build_shape(const test_support::SampleShape& shape, ReportFormat format,
                            const ReportIdentity& id = sample_identity()) {
    auto report = build_aggregate_report(
        id, "example.com", period_containing(test_support::kSampleDay, 86400), shape.rows, format);
    EXPECT_TRUE(report) << shape.name << ": " << report.error().message;
    return *report;
}

bool contains(const std::string& text, std::string_view needle) {
    return text.find(needle) != std::string::npos;
}

// XML 1.0 §2.2 Char: what may appear in a document; xml_safe_text must produce only that.
TEST(XmlSafeText, ReplacesWhatXmlCannotCarry) {
    const std::pair<std::string, std::string> cases[] = {
        {"plain", "plain"},
        {"tab\tlf\ncr\r", "tab\tlf\ncr\r"},
        {std::string("nul\0x", 5), "nul\xEF\xBF\xBDx"},
        {"\x01\x1f", "\xEF\xBF\xBD\xEF\xBF\xBD"},
        {"\x7f", "\x7f"},  // DEL is an XML Char
        {"caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80", "caf\xc3\xa9 \xe2\x82\xac \xf0\x9f\x98\x80"},
        {"\xff", "\xEF\xBF\xBD"},                                  // never a UTF-8 byte
        {"\xc3", "\xEF\xBF\xBD"},                                  // truncated sequence
        {"\xc3\x28", "\xEF\xBF\xBD("},                             // bad continuation
        {"\xc0\xaf", "\xEF\xBF\xBD\xEF\xBF\xBD"},                  // overlong '/'
        {"\xe0\x80\xaf", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // overlong, 3 bytes
        {"\xed\xa0\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // surrogate U+D800
        {"\xef\xbf\xbe", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // U+FFFE
        {"\xf4\x90\x80\x80", "\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD\xEF\xBF\xBD"},  // > U+10FFFF
    };
    for (const auto& [input, expected] : cases) {
        EXPECT_EQ(xml_safe_text(input), expected) << input;
    }
}

// RFC 7489 Appendix C: no namespace, version, sp/pct/fo required, envelope_from and spf+.
TEST(ReportXmlWriter, Rfc7489Shape) {
    const auto shapes = sample_shapes();
    const AggregateReport report = build_shape(shapes[1], ReportFormat::rfc7489);
    auto xml = write_report_xml(report);
    ASSERT_TRUE(xml) << xml.error().message;
    EXPECT_EQ(xml->rfind("<?xml version=\"1.0\" encoding=\"UTF-8\"?>", 0), 0u);
    EXPECT_TRUE(contains(*xml, "<feedback>\n"));
    EXPECT_FALSE(contains(*xml, "xmlns"));
    EXPECT_TRUE(contains(*xml, "<version>1.0</version>"));
    EXPECT_TRUE(contains(*xml, "<sp>quarantine</sp>"));
    EXPECT_TRUE(contains(*xml, "<pct>25</pct>"));  // the last policy in force
    EXPECT_TRUE(contains(*xml, "<fo>d:s</fo>"));
    EXPECT_FALSE(contains(*xml, "<np>"));
    EXPECT_FALSE(contains(*xml, "<testing>"));
    EXPECT_FALSE(contains(*xml, "<generator>"));
    EXPECT_FALSE(contains(*xml, "<disposition>pass</disposition>"));
    EXPECT_FALSE(contains(*xml, "policy_test_mode</type>"));
    // Appendix C's IPAddress pattern takes only eight uncompressed groups.
    EXPECT_TRUE(contains(*xml, "<source_ip>2001:db8:0:0:0:0:0:1</source_ip>"));
    EXPECT_TRUE(contains(*xml, "<source_ip>2001:db8:0:1:0:0:0:25</source_ip>"));
    EXPECT_FALSE(contains(*xml, "::"));
    EXPECT_TRUE(contains(*xml, "<source_ip>198.51.100.7</source_ip>"));  // mapped -> IPv4
    EXPECT_TRUE(contains(*xml, "<envelope_from></envelope_from>"));      // null reverse-path
    EXPECT_TRUE(contains(*xml, "<scope>helo</scope>"));
    // Every record has at least one spf (the one without an evaluation gets "none").
    auto parsed = parse_report_xml(*xml);
    ASSERT_TRUE(parsed) << parsed.error().message;
    for (const auto& record : parsed->report.records) EXPECT_TRUE(record.spf.has_value());
}

// RFC 9990 §2 / XSD: namespace, generator, np, testing, discovery_method, selector, no pct.
TEST(ReportXmlWriter, Rfc9990Shape) {
    const auto shapes = sample_shapes();
    const AggregateReport report = build_shape(shapes[1], ReportFormat::rfc9990);
    auto xml = write_report_xml(report);
    ASSERT_TRUE(xml) << xml.error().message;
    EXPECT_TRUE(contains(*xml, "<feedback xmlns=\"urn:ietf:params:xml:ns:dmarc-2.0\">"));
    EXPECT_TRUE(contains(*xml, "<generator>dmarc-reporter 0.1.0</generator>"));
    EXPECT_TRUE(contains(*xml, "<np>reject</np>"));
    EXPECT_TRUE(contains(*xml, "<testing>y</testing>"));
    EXPECT_TRUE(contains(*xml, "<discovery_method>treewalk</discovery_method>"));
    EXPECT_FALSE(contains(*xml, "<pct>"));
    EXPECT_FALSE(contains(*xml, "<scope>helo</scope>"));
    EXPECT_FALSE(contains(*xml, "<type>forwarded</type>"));
    EXPECT_FALSE(contains(*xml, "<type>sampled_out</type>"));
    EXPECT_TRUE(contains(*xml, "<type>policy_test_mode</type>"));
    EXPECT_TRUE(contains(*xml, "<disposition>pass</disposition>"));
    EXPECT_TRUE(contains(*xml, "<source_ip>2001:db8::1</source_ip>"));
    // One <error> at most in the 9990 schema.
    const auto first = xml->find("<error>");
    ASSERT_NE(first, std::string::npos);
    EXPECT_EQ(xml->find("<error>", first + 1), std::string::npos);
    // The selector is required in 9990 even when unknown.
    AggregateInput row = test_support::sample_row();
    row.dkim[0].selector = "";
    auto no_selector = build_aggregate_report(
        sample_identity(), "example.com", period_containing(test_support::kSampleDay, 86400),
        std::vector<AggregateInput>{row}, ReportFormat::rfc9990);
    ASSERT_TRUE(no_selector);
    EXPECT_TRUE(contains(*write_report_xml(*no_selector), "<selector></selector>"));
}

// What is written is what is read back: every field of every record, both formats.
TEST(ReportXmlRoundTrip, EveryShapeBothFormats) {
    for (const auto& shape : sample_shapes()) {
        for (ReportFormat format : {ReportFormat::rfc7489, ReportFormat::rfc9990}) {
            SCOPED_TRACE(std::string(shape.name) + " " + std::string(to_string(format)));
            const AggregateReport report = build_shape(shape, format);
            auto xml = write_report_xml(report);
            ASSERT_TRUE(xml) << xml.error().message;
            auto parsed = parse_report_xml(*xml);
            ASSERT_TRUE(parsed) << parsed.error().message;
            const AggregateReport& back = parsed->report;
            EXPECT_TRUE(parsed->warnings.empty()) << parsed->warnings.front();
            EXPECT_EQ(back.format, format);
            EXPECT_EQ(parsed->version, "1.0");
            EXPECT_EQ(back.metadata.report_id, report.metadata.report_id);
            EXPECT_EQ(back.metadata.period, report.metadata.period);
            EXPECT_EQ(back.policy_published.p, report.policy_published.p);
            EXPECT_EQ(back.policy_published.fo, report.policy_published.fo);
            ASSERT_EQ(back.records.size(), report.records.size());
            EXPECT_EQ(back.message_count(), report.message_count());
            for (std::size_t i = 0; i < report.records.size(); ++i) {
                const ReportRecord& want = report.records[i];
                const ReportRecord& got = back.records[i];
                EXPECT_EQ(IpAddress::parse(got.source_ip), IpAddress::parse(want.source_ip));
                EXPECT_EQ(got.count, want.count);
                EXPECT_EQ(got.disposition, want.disposition);
                EXPECT_EQ(got.dkim_aligned, want.dkim_aligned);
                EXPECT_EQ(got.spf_aligned, want.spf_aligned);
                ASSERT_EQ(got.reasons.size(), want.reasons.size());
                for (std::size_t k = 0; k < want.reasons.size(); ++k) {
                    EXPECT_EQ(got.reasons[k].type, want.reasons[k].type);
                    EXPECT_EQ(got.reasons[k].comment, xml_safe_text(want.reasons[k].comment));
                }
                EXPECT_EQ(got.header_from, xml_safe_text(want.header_from));
                EXPECT_EQ(got.envelope_from, xml_safe_text(want.envelope_from));
                ASSERT_EQ(got.dkim.size(), want.dkim.size());
                for (std::size_t k = 0; k < want.dkim.size(); ++k) {
                    EXPECT_EQ(got.dkim[k].dkim_d, want.dkim[k].dkim_d);
                    EXPECT_EQ(got.dkim[k].selector, xml_safe_text(want.dkim[k].selector));
                    EXPECT_EQ(got.dkim[k].result, want.dkim[k].result);
                }
                if (want.spf) {
                    ASSERT_TRUE(got.spf);
                    EXPECT_EQ(got.spf->domain, xml_safe_text(want.spf->domain));
                    EXPECT_EQ(got.spf->result, want.spf->result);
                }
            }
        }
    }
}

// opendmarc.md §5.3: "Nothing is XML-escaped". Markup, quotes, controls and invalid UTF-8 in any
// value leave a well-formed document whose text reads back as the (replaced) value.
TEST(ReportXmlWriter, HostileValuesAreEscaped) {
    const auto shapes = sample_shapes();
    for (ReportFormat format : {ReportFormat::rfc7489, ReportFormat::rfc9990}) {
        const AggregateReport report =
            build_shape(shapes[2], format, test_support::hostile_identity());
        auto xml = write_report_xml(report);
        ASSERT_TRUE(xml);
        EXPECT_FALSE(contains(*xml, "<script>"));
        EXPECT_FALSE(contains(*xml, "<b>"));
        EXPECT_FALSE(contains(*xml, "<!--"));
        EXPECT_FALSE(contains(*xml, "<x/>"));
        EXPECT_FALSE(contains(*xml, "&#1;"));
        EXPECT_EQ(xml_safe_text(*xml), *xml) << "bytes XML 1.0 cannot carry";
        auto parsed = parse_report_xml(*xml);
        ASSERT_TRUE(parsed) << parsed.error().message;
        const auto& back = parsed->report;
        EXPECT_EQ(back.metadata.org_name, xml_safe_text(test_support::hostile_identity().org_name));
        EXPECT_EQ(back.records[0].header_from, "ex<script>alert(1)</script>.example");
        EXPECT_EQ(back.records[0].envelope_from, "\"quoted\" & 'apos'");
        EXPECT_EQ(back.records[0].dkim[0].selector, "sel\">&lt;");
        EXPECT_EQ(back.records[0].reasons[0].comment,
                  xml_safe_text("]]><!-- \xff\xfe invalid \xc3\x28 utf8"));
        EXPECT_EQ(back.records[0].spf->domain, "<&>");
    }
}

TEST(ReportXmlWriter, BadSourceIpIsAnError) {
    AggregateReport report = build_shape(sample_shapes()[0], ReportFormat::rfc7489);
    report.records[0].source_ip = "999.1.1.1";
    EXPECT_EQ(write_report_xml(report).error().code, Errc::invalid_value);
}

// The lenient reader over peers' reports (standards §1.13 "what real reports do").
TEST(ReportXmlReader, PeerReports) {
    auto b = parse_report_xml(slurp(DMARC_TEST_DATA "/aggregate/rfc9990-appendix-b.xml"));
    ASSERT_TRUE(b) << b.error().message;
    EXPECT_EQ(b->report.format, ReportFormat::rfc9990);
    ASSERT_EQ(b->report.records.size(), 1u);
    EXPECT_EQ(b->report.records[0].count, 123u);
    EXPECT_EQ(b->report.records[0].disposition, Disposition::pass);
    EXPECT_EQ(b->report.policy_published.np, Policy::none);
    EXPECT_EQ(b->report.records[0].dkim[0].selector, "abc123");
    EXPECT_EQ(b->report.metadata.generator, "Example DMARC Aggregate Reporter v1.2");

    // Pass / None capitalised, no version, no envelope_from (parsedmarc invalid sample).
    auto upper = parse_report_xml(slurp(DMARC_TEST_DATA "/aggregate/upper_cased_pass.xml"));
    ASSERT_TRUE(upper) << upper.error().message;
    EXPECT_EQ(upper->report.format, ReportFormat::rfc7489);
    EXPECT_TRUE(upper->version.empty());
    ASSERT_EQ(upper->report.records.size(), 1u);
    EXPECT_TRUE(upper->report.records[0].dkim_aligned);
    EXPECT_EQ(upper->report.records[0].dkim[0].result, DkimResult::pass);
    EXPECT_EQ(upper->report.metadata.org_name, "example.com");  // trimmed

    // AOL 2012: ns1: prefix on the root, declared windows-1252, and "<header_from>example.com<foo
    // </header_from>" and no closing root tag: not well-formed, so refused as xmllint refuses it
    // (lenient about shape, not about XML itself). Repaired, the ns1: root reads.
    std::string aol_text = slurp(DMARC_TEST_DATA "/aggregate/aol-ns1-prefix.xml");
    EXPECT_EQ(parse_report_xml(aol_text).error().code, Errc::syntax);
    const auto stray = aol_text.find("<foo");
    ASSERT_NE(stray, std::string::npos);
    aol_text.erase(stray, 4);
    aol_text += "</ns1:feedback>";
    auto aol = parse_report_xml(aol_text);
    ASSERT_TRUE(aol) << aol.error().message;
    EXPECT_EQ(aol->report.records.size(), 3u);
    EXPECT_EQ(aol->report.metadata.org_name, "AOL");

    auto legacy = parse_report_xml(slurp(DMARC_TEST_DATA "/aggregate/stalwart-005-helo.xml"));
    ASSERT_TRUE(legacy) << legacy.error().message;
    ASSERT_EQ(legacy->report.records.size(), 1u);
    EXPECT_EQ(legacy->report.records[0].reasons[0].type, OverrideReason::sampled_out);

    auto md = parse_report_xml(slurp(DMARC_TEST_DATA "/aggregate/test_dmarc.xml"));
    ASSERT_TRUE(md);
    EXPECT_EQ(md->report.records.size(), 1u);
    EXPECT_EQ(md->report.metadata.period.begin, 1609459200);
}

TEST(ReportXmlReader, UnknownValuesAreWarnings) {
    const std::string xml =
        "<feedback><policy_published><domain>Example.COM</domain><p>bogus</p></policy_published>"
        "<record><row><source_ip>192.0.2.1</source_ip><count>x</count><policy_evaluated>"
        "<disposition></disposition><dkim>PASS</dkim><spf>maybe</spf></policy_evaluated></row>"
        "<identifiers><header_from>A.example</header_from></identifiers></record></feedback>";
    auto parsed = parse_report_xml(xml);
    ASSERT_TRUE(parsed) << parsed.error().message;
    EXPECT_EQ(parsed->report.policy_published.domain, "example.com");
    EXPECT_EQ(parsed->report.records[0].header_from, "a.example");
    EXPECT_TRUE(parsed->report.records[0].dkim_aligned);
    EXPECT_GE(parsed->warnings.size(), 4u);
}

// RFC 9990 §6 / standards §3: no DTD, no entity expansion (billion laughs, XXE).
TEST(ReportXmlReader, DoctypeAndEntitiesAreNotExpanded) {
    const std::string laughs =
        "<?xml version=\"1.0\"?><!DOCTYPE lolz [<!ENTITY lol \"lol\">"
        "<!ENTITY lol2 \"&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;\">"
        "<!ENTITY lol3 \"&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;\">]>"
        "<feedback><report_metadata><org_name>&lol3;</org_name></report_metadata></feedback>";
    EXPECT_EQ(parse_report_xml(laughs).error().code, Errc::invalid_value);
    const std::string xxe =
        "<?xml version=\"1.0\"?><!DOCTYPE feedback [<!ENTITY xxe SYSTEM \"file:///etc/passwd\">]>"
        "<feedback><report_metadata><org_name>&xxe;</org_name></report_metadata></feedback>";
    EXPECT_EQ(parse_report_xml(xxe).error().code, Errc::invalid_value);
    // Without a DOCTYPE an unknown entity reference stays literal text.
    const std::string bare =
        "<feedback><report_metadata><org_name>&xxe;&amp;&#65;</org_name></report_metadata>"
        "</feedback>";
    auto parsed = parse_report_xml(bare);
    ASSERT_TRUE(parsed);
    EXPECT_EQ(parsed->report.metadata.org_name, "&xxe;&A");
}

TEST(ReportXmlReader, Bounds) {
    std::string big(limits::kMaxReportXmlBytes + 1, ' ');
    EXPECT_EQ(parse_report_xml(big).error().code, Errc::limit);

    std::string many = "<feedback><record><auth_results>";
    for (std::size_t i = 0; i <= limits::kMaxReportDkimPerRecord; ++i) {
        many += "<dkim><domain>d.example</domain><result>pass</result></dkim>";
    }
    many += "</auth_results></record></feedback>";
    EXPECT_EQ(parse_report_xml(many).error().code, Errc::limit);

    EXPECT_EQ(parse_report_xml("").error().code, Errc::syntax);
    EXPECT_EQ(parse_report_xml("<feedback><record>").error().code, Errc::syntax);
    EXPECT_EQ(parse_report_xml("<html/>").error().code, Errc::invalid_value);
}

}  // namespace
}  // namespace dmarc
