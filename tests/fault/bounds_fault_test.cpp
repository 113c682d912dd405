// Resource bounds (issue 8 item 4): hostile sizes through the milter protocol against the real
// dmarc-milter over real DNS (a private unbound serving a 62 KB DMARC TXT record), and hostile
// aggregate-report XML through the parser and the decompressor. What must be kept, per input: a
// clear outcome (the action the MTA gets, the dmarc= result, the log line naming the bound),
// bounded time, and bounded memory (the milter's RSS from /proc, the test's own peak RSS for the
// XML; checked in unsanitized builds, where it means something).
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/limits.hpp"
#include "core/report_xml.hpp"
#include "io/archive.hpp"
#include "tests/fault/fault_support.hpp"

#if defined(__SANITIZE_ADDRESS__)
#define DMARC_SANITIZED 1
#else
#define DMARC_SANITIZED 0
#endif

namespace dmarc::fault {
namespace {

using namespace std::chrono_literals;

// Sanitizer builds are several times slower; the bound is on the order of magnitude.
constexpr double kMessageBoundMs = DMARC_SANITIZED ? 20000.0 : 5000.0;
// Growth of the milter's RSS across all the hostile messages of one test.
constexpr long kMilterGrowthBoundKb = 64 * 1024;

// 250 strings of 250 bytes: 62,750 bytes of RDATA, the largest TXT record a 64 KB DNS message
// holds with room for its header and question (RFC 1035 §3.3.14, §4.2.2 over TCP).
std::string huge_txt_record() {
    std::string rr = "_dmarc.huge IN TXT \"v=DMARC1; p=reject; rua=mailto:a@huge.fault.example;";
    rr += std::string(250 - 70, 'x') + "\"";
    for (int i = 1; i < 250; ++i)
        rr += " \"" + std::string(250, static_cast<char>('a' + i % 26)) + "\"";
    return rr + "\nhuge IN A 192.0.2.12\n";
}

class Bounds : public ::testing::Test {
  protected:
    void SetUp() override {
        unbound_ = start_unbound(fault_zone(huge_txt_record()));
        ASSERT_TRUE(unbound_);
        milter_ = std::make_unique<FaultMilter>(
            dir_.path(), dns_config(dir_.path(), unbound_->address(), 5, false));
        ASSERT_TRUE(milter_->wait_ready()) << milter_->log();
        socket_ = milter_->socket();
        // Warm-up (resolver, allocator), then the baseline.
        for (int i = 0; i < 5; ++i) {
            auto t = send_timed(socket_, spoof_message("warm" + std::to_string(i), "QW"));
            ASSERT_TRUE(t.response && t.response->is_reject());
        }
        baseline_kb_ = milter_->rss_kb();
    }
    void TearDown() override {
        if (!milter_) return;
        const long after = milter_->rss_kb();
        RecordProperty("milter_rss_growth_kb", static_cast<int>(after - baseline_kb_));
        if (!DMARC_SANITIZED) {
            EXPECT_LT(after - baseline_kb_, kMilterGrowthBoundKb);
        }
        // Still serving, with the same verdict.
        auto t = send_timed(socket_, spoof_message("after", "QAFTER"));
        ASSERT_TRUE(t.response) << t.response.error().message << milter_->log();
        EXPECT_TRUE(t.response->is_reject());
        EXPECT_EQ(milter_->stop(), 0) << milter_->log();
    }
    TimedResponse send(const mc::Message& m) {
        auto t = send_timed(socket_, m);
        EXPECT_TRUE(t.response) << t.response.error().message << "\n" << milter_->log();
        EXPECT_LT(t.ms, kMessageBoundMs);
        return t;
    }
    std::string log_line(const std::string& queue_id) {
        const std::string log = milter_->log();
        const auto at = log.find(queue_id + ": ");
        if (at == std::string::npos) return "";
        return log.substr(at, log.find('\n', at) - at);
    }

    std::unique_ptr<test_support::LocalUnbound> unbound_;
    test_support::MilterTempDir dir_;
    std::string socket_;
    std::unique_ptr<FaultMilter> milter_;
    long baseline_kb_ = 0;
};

// 10,000 header fields with the From last: the fields past limits::kMaxHeaderFields are dropped,
// the From is kept, the spoof is rejected as without the filler (before: accepted unevaluated).
TEST_F(Bounds, TenThousandHeaderFieldsCannotHideTheFrom) {
    for (int fields : {9990, 10000, 20000}) {
        auto m = spoof_message("hf" + std::to_string(fields), "QHF" + std::to_string(fields));
        auto from = m.headers.front();
        m.headers.erase(m.headers.begin());
        for (int i = 0; i < fields; ++i) m.headers.push_back({"X-Filler", std::to_string(i)});
        m.headers.push_back(from);
        auto t = send(m);
        ASSERT_TRUE(t.response);
        EXPECT_TRUE(t.response->is_reject()) << fields << " fields: " << t.response->code;
        EXPECT_NE(milter_->log().find("QHF" + std::to_string(fields) + ": hf" +
                                      std::to_string(fields) + ".bank.fault.example fail"),
                  std::string::npos);
        RecordProperty("ms_" + std::to_string(fields) + "_fields", static_cast<int>(t.ms));
    }
    EXPECT_NE(milter_->log().find("QHF20000: header block over"), std::string::npos)
        << milter_->log();
}

// A 1 MB From field (Postfix itself cuts header fields at 102,400 bytes; another MTA may not): the
// milter protocol server takes packets up to limits::kMaxMilterPacketBytes, so the field is read,
// refused by the From parser's bound and the message gets a clear answer in bounded time. A
// field over the packet bound (3 MB) closes that connection: the MTA applies
// milter_default_action to the message and the milter carries on. A From of 60,000 bytes of
// display name is evaluated as any other: the spoof is rejected.
TEST_F(Bounds, OneMegabyteFromField) {
    auto m = spoof_message("bigfrom", "QBIGFROM");
    m.headers.front().second =
        "\"" + std::string(1000000, 'A') + "\" <service@bigfrom.bank.fault.example>";
    auto t = send_timed(socket_, m);
    ASSERT_TRUE(t.response) << "no answer to a 1 MB From";
    // Over limits::kMaxHeaderFieldBytes the From parser refuses the field: dmarc=permerror
    // (RFC 7489 §11), accepted as OpenDMARC does unless RequiredFrom asks for a reject.
    EXPECT_FALSE(t.response->is_reject()) << t.response->code;
    EXPECT_NE(milter_->log().find("unable to parse From field"), std::string::npos)
        << milter_->log();
    EXPECT_LT(t.ms, kMessageBoundMs);
    EXPECT_TRUE(milter_->alive());

    auto huge = spoof_message("hugefrom", "QHUGEFROM");
    huge.headers.front().second =
        "\"" + std::string(3000000, 'A') + "\" <service@hugefrom.bank.fault.example>";
    auto t3 = send_timed(socket_, huge);
    EXPECT_FALSE(t3.response) << "a 3 MB packet was taken: " << t3.response->code;
    EXPECT_LT(t3.ms, kMessageBoundMs);
    EXPECT_TRUE(milter_->alive());

    auto near = spoof_message("nearfrom", "QNEARFROM");
    near.headers.front().second =
        "\"" + std::string(60000, 'A') + "\" <service@nearfrom.bank.fault.example>";
    auto t2 = send(near);
    ASSERT_TRUE(t2.response);
    EXPECT_TRUE(t2.response->is_reject()) << t2.response->code;
}

// 1,000 Authentication-Results fields claiming our authserv-id below the MTA's Received field,
// each saying dkim=pass for the spoofed domain: none is believed (the spoof is rejected), and
// with RejectFailures off every one is removed (RFC 8601 §5), not only the first
// limits::kMaxAuthResFields.
TEST_F(Bounds, ThousandForgedAuthenticationResults) {
    auto m = spoof_message("ar", "QAR");
    m.headers.insert(m.headers.begin(),
                     {"Received", "from attacker.example by mx.fault.example; Sun, 29 Nov 2026"});
    for (int i = 0; i < 1000; ++i) {
        m.headers.push_back({"Authentication-Results",
                             "mx.fault.example; dkim=pass header.d=ar.bank.fault.example "
                             "header.s=s" +
                                 std::to_string(i) +
                                 "; spf=pass smtp.mailfrom=ar.bank.fault.example"});
    }
    auto t = send(m);
    ASSERT_TRUE(t.response);
    EXPECT_TRUE(t.response->is_reject());

    // The same message to a milter that only marks failures: all 1,000 fields removed.
    fs::create_directories(dir_.path() / "acc");
    FaultMilter accepting(
        dir_.path(),
        dns_config(dir_.path() / "acc", unbound_->address(), 5, false) + "RejectFailures false\n",
        "acc");
    ASSERT_TRUE(accepting.wait_ready()) << accepting.log();
    const std::string socket = accepting.socket();
    m.eom_macros = {{"i", "QAR2"}};
    auto t2 = send_timed(socket, m);
    ASSERT_TRUE(t2.response) << t2.response.error().message;
    EXPECT_EQ(t2.response->code, 'a');
    std::size_t removed = 0;
    for (const auto& mod : t2.response->modifications) {
        removed += mod.code == 'm' && mod.name == "Authentication-Results" && mod.value.empty();
    }
    EXPECT_EQ(removed, 1000u);
    EXPECT_EQ(dmarc_result_of(*t2.response), "fail");
    EXPECT_EQ(accepting.stop(), 0);
}

// A 62 KB DMARC TXT record (over limits::kMaxDmarcRecordBytes, fetched over TCP after a
// truncated UDP answer): refused as over the limit, so the domain has no usable record
// (dmarc=none), answered promptly; never a partial record.
TEST_F(Bounds, SixtyFourKilobyteDmarcRecord) {
    mc::Message m = spoof_message("x", "QHUGE");
    m.mail_from = "bounce@huge.fault.example";
    m.headers.front().second = "Huge <service@huge.fault.example>";
    auto t = send(m);
    ASSERT_TRUE(t.response);
    EXPECT_EQ(t.response->code, 'a');
    EXPECT_EQ(dmarc_result_of(*t.response), "none");
    EXPECT_NE(log_line("QHUGE").find("huge.fault.example none"), std::string::npos)
        << log_line("QHUGE");
}

// ---- aggregate report XML ------------------------------------------------------------------

long peak_rss_kb() {
    return test_support::proc_status_value(::getpid(), "VmHWM");
}
void reset_peak_rss() {
    std::ofstream("/proc/self/clear_refs") << "5";
}

struct XmlOutcome {
    Result<ParsedReport> parsed = make_error(Errc::internal, "not run");
    double ms = 0;
    long peak_growth_kb = 0;
};

XmlOutcome parse_measured(const std::string& xml) {
    reset_peak_rss();
    const long before = test_support::proc_status_value(::getpid(), "VmRSS");
    XmlOutcome out;
    const auto start = Clock::now();
    out.parsed = parse_report_xml(xml);
    out.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    out.peak_growth_kb = peak_rss_kb() - before;
    return out;
}

std::string report_head() {
    return "<?xml version=\"1.0\"?><feedback><report_metadata><org_name>x</org_name>"
           "<email>a@x.example</email><report_id>1</report_id><date_range><begin>1</begin>"
           "<end>2</end></date_range></report_metadata><policy_published><domain>x.example"
           "</domain><p>none</p></policy_published>";
}

// Over limits::kMaxReportXmlBytes: refused before parsing, at once.
TEST(XmlBounds, OversizedDocumentRefusedBeforeParsing) {
    std::string xml = report_head();
    xml.resize(limits::kMaxReportXmlBytes + 1, ' ');
    auto r = parse_measured(xml);
    ASSERT_FALSE(r.parsed);
    EXPECT_EQ(r.parsed.error().code, Errc::limit);
    EXPECT_LT(r.ms, 100.0);
}

// One million nested elements inside a record (pugixml's parser is iterative; nothing of ours
// recurses over unknown elements): a clear outcome, bounded time and memory.
TEST(XmlBounds, DeeplyNestedDocument) {
    constexpr int kDepth = 1000000;
    std::string xml = report_head() +
                      "<record><row><source_ip>192.0.2.1</source_ip><count>1"
                      "</count></row>";
    xml.reserve(xml.size() + kDepth * 7 + 100);
    for (int i = 0; i < kDepth; ++i) xml += "<a>";
    for (int i = 0; i < kDepth; ++i) xml += "</a>";
    xml += "</record></feedback>";
    auto r = parse_measured(xml);
    RecordProperty("ms", static_cast<int>(r.ms));
    RecordProperty("peak_growth_kb", static_cast<int>(r.peak_growth_kb));
    // Unknown elements are skipped: the record is read, the nesting costs only time and memory.
    ASSERT_TRUE(r.parsed) << r.parsed.error().message;
    EXPECT_EQ(r.parsed->report.records.size(), 1u);
    EXPECT_LT(r.ms, DMARC_SANITIZED ? 30000.0 : 5000.0);
    if (!DMARC_SANITIZED) {
        EXPECT_LT(r.peak_growth_kb, 256 * 1024);
    }
}

// Records past limits::kMaxReportRecords: an Errc::limit error, not a partial report.
TEST(XmlBounds, TooManyRecords) {
    std::string xml = report_head();
    const std::string record =
        "<record><row><source_ip>192.0.2.1</source_ip><count>1</count>"
        "</row></record>";
    const std::size_t n = limits::kMaxReportRecords + 1;
    if ((xml.size() + n * record.size()) > limits::kMaxReportXmlBytes) {
        // The byte bound comes first for records this small: show that instead.
        const std::string tiny = "<record/>";
        xml.reserve(xml.size() + n * tiny.size() + 16);
        for (std::size_t i = 0; i < n; ++i) xml += tiny;
    } else {
        for (std::size_t i = 0; i < n; ++i) xml += record;
    }
    xml += "</feedback>";
    ASSERT_LE(xml.size(), limits::kMaxReportXmlBytes);
    auto r = parse_measured(xml);
    RecordProperty("ms", static_cast<int>(r.ms));
    RecordProperty("peak_growth_kb", static_cast<int>(r.peak_growth_kb));
    ASSERT_FALSE(r.parsed);
    EXPECT_EQ(r.parsed.error().code, Errc::limit) << r.parsed.error().message;
    EXPECT_LT(r.ms, DMARC_SANITIZED ? 60000.0 : 10000.0);
    if (!DMARC_SANITIZED) {
        EXPECT_LT(r.peak_growth_kb, 512 * 1024);
    }
}

// 100,000 empty records: each one warns several times; limits::kMaxReportWarnings keeps the
// list short, with one last line counting the rest.
TEST(XmlBounds, WarningsAreBounded) {
    std::string xml = report_head();
    for (int i = 0; i < 100000; ++i) xml += "<record/>";
    xml += "</feedback>";
    auto r = parse_measured(xml);
    ASSERT_TRUE(r.parsed) << r.parsed.error().message;
    EXPECT_EQ(r.parsed->report.records.size(), 100000u);
    ASSERT_EQ(r.parsed->warnings.size(), limits::kMaxReportWarnings + 1);
    EXPECT_NE(r.parsed->warnings.back().find("more warnings not listed"), std::string::npos);
}

// A gzip bomb (1 GiB of zeros, about 1 MB compressed): decompression stops at
// limits::kMaxDecompressedBytes with Errc::limit.
TEST(XmlBounds, GzipBombStopsAtTheBound) {
    std::string zeros(64 * 1024 * 1024, '\0');
    auto gz = io::gzip_compress(zeros);
    ASSERT_TRUE(gz);
    // 16 members of 64 MiB each is 1 GiB (concatenated gzip members are one stream, RFC 1952).
    std::string bomb;
    for (int i = 0; i < 16; ++i) bomb += *gz;
    zeros.clear();
    zeros.shrink_to_fit();
    reset_peak_rss();
    const long before = test_support::proc_status_value(::getpid(), "VmRSS");
    const auto start = Clock::now();
    auto out = io::decompress_report(bomb);
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    ASSERT_FALSE(out);
    EXPECT_EQ(out.error().code, Errc::limit) << out.error().message;
    EXPECT_LT(ms, DMARC_SANITIZED ? 30000.0 : 5000.0);
    if (!DMARC_SANITIZED) {
        EXPECT_LT(peak_rss_kb() - before, 128 * 1024);
    }
}

}  // namespace
}  // namespace dmarc::fault
