// core/report_destinations: RFC 7489 §7.1 / RFC 9990 §4 external destination verification over
// MemoryResolver, mailto only (RFC 7489 §6.3), the bound on destinations, suppressions, backoff;
// and core/reporter_config (the `Name value` file and its reference table).
#include "core/report_destinations.hpp"

#include <gtest/gtest.h>

#include "core/limits.hpp"
#include "core/memory_resolver.hpp"
#include "core/reporter_config.hpp"
#include "tests/support/psl_snapshot.hpp"

namespace dmarc {
namespace {

struct Case {
    const char* name;
    const char* rfc;
    const char* zone;
    const char* uri;
    DestinationStatus status;
    const char* address;  // "" when none
};

TEST(ReportDestinations, Rfc7489Section7_1Table) {
    const Case cases[] = {
        {"same org domain needs no query", "7489 §7.1 (OrgDomains equal)", "",
         "mailto:dmarc@reports.blue.example.com", DestinationStatus::deliver,
         "dmarc@reports.blue.example.com"},
        {"external without record", "7489 §7.1 step 3", "", "mailto:rua@red.example.net",
         DestinationStatus::unauthorised, ""},
        {"external with v=DMARC1", "7489 §7.1 step 3",
         "blue.example.com._report._dmarc.red.example.net TXT \"v=DMARC1\"",
         "mailto:rua@red.example.net", DestinationStatus::deliver, "rua@red.example.net"},
        {"wildcard authorises any domain", "7489 §7.1 (wildcard example)",
         "*._report._dmarc.red.example.net TXT \"v=DMARC1\"", "mailto:rua@red.example.net",
         DestinationStatus::deliver, "rua@red.example.net"},
        {"a TXT that is not DMARC does not authorise", "7489 §7.1 step 3",
         "blue.example.com._report._dmarc.red.example.net TXT \"v=spf1 -all\"",
         "mailto:rua@red.example.net", DestinationStatus::unauthorised, ""},
        {"replacement on the same host", "7489 §7.1 step 4",
         "blue.example.com._report._dmarc.red.example.net TXT \"v=DMARC1; "
         "rua=mailto:other@red.example.net!5m\"",
         "mailto:rua@red.example.net", DestinationStatus::deliver, "other@red.example.net"},
        {"replacement on another host: neither", "7489 §7.1 step 4",
         "blue.example.com._report._dmarc.red.example.net TXT \"v=DMARC1; "
         "rua=mailto:x@evil.example\"",
         "mailto:rua@red.example.net", DestinationStatus::unauthorised, ""},
        {"temperror is retried later", "7489 §7.1 step 5",
         "blue.example.com._report._dmarc.red.example.net SERVFAIL", "mailto:rua@red.example.net",
         DestinationStatus::temperror, ""},
        {"non-mailto ignored", "7489 §6.3 / 9990 §3", "", "https://red.example.net/rua",
         DestinationStatus::ignored, ""},
        {"malformed ignored", "9990 §3 (malformed URIs SHOULD be ignored)", "",
         "mailto:", DestinationStatus::ignored, ""},
    };
    int passed = 0;
    for (const auto& c : cases) {
        auto zone = MemoryResolver::parse(c.zone);
        ASSERT_TRUE(zone) << c.name;
        PslOrgDomainFinder finder(test::psl_snapshot());
        const auto out = verify_report_destination("blue.example.com", c.uri, finder, *zone);
        ASSERT_EQ(out.size(), 1u) << c.name;
        EXPECT_EQ(out[0].status, c.status) << c.name << " (" << c.rfc << "): " << out[0].detail;
        EXPECT_EQ(out[0].address, c.address) << c.name;
        EXPECT_EQ(out[0].uri, c.uri) << c.name;
        passed += out[0].status == c.status;
    }
    EXPECT_EQ(passed, 10);
}

// RFC 7489 §7.1: the name is "<policy domain>._report._dmarc.<host>"; too long for DNS -> not
// authorised (RFC 9990 §4), and no query is made.
TEST(ReportDestinations, AuthorisationNameAndItsLength) {
    EXPECT_EQ(report_authorisation_name("blue.example.com", "red.example.net"),
              "blue.example.com._report._dmarc.red.example.net");
    const std::string long_domain = std::string(60, 'a') + "." + std::string(60, 'b') + "." +
                                    std::string(60, 'c') + "." + std::string(60, 'd') + ".example";
    EXPECT_FALSE(report_authorisation_name(long_domain, "red.example.net"));
    MemoryResolver none;
    PslOrgDomainFinder finder(test::psl_snapshot());
    const auto out =
        verify_report_destination(long_domain, "mailto:rua@red.example.net", finder, none);
    EXPECT_EQ(out[0].status, DestinationStatus::unauthorised);
    EXPECT_TRUE(none.queries().empty());
}

// RFC 7489 §6.2: !size is kept with the URI actually used (here the replacement's).
TEST(ReportDestinations, SizeLimitTravelsWithTheUri) {
    auto zone = MemoryResolver::parse(
        "blue.example.com._report._dmarc.red.example.net TXT \"v=DMARC1; "
        "rua=mailto:other@red.example.net!5m\"");
    PslOrgDomainFinder finder(test::psl_snapshot());
    auto out = verify_report_destination("blue.example.com", "mailto:rua@red.example.net!1k",
                                         finder, *zone);
    EXPECT_EQ(out[0].max_size, 5u * 1024 * 1024);
    out = verify_report_destination("blue.example.com", "mailto:d@blue.example.com!2k", finder,
                                    *zone);
    EXPECT_EQ(out[0].max_size, 2048u);
}

// Issue 6 item 4: a bound on destinations per report, explicit (recorded as ignored), and one
// message per address.
TEST(ReportDestinations, BoundAndDuplicates) {
    std::vector<std::string> rua;
    for (std::size_t i = 0; i < limits::kMaxReportDestinations + 3; ++i) {
        rua.push_back("mailto:r" + std::to_string(i) + "@blue.example.com");
    }
    rua.push_back("mailto:R0@blue.example.com");
    MemoryResolver none;
    PslOrgDomainFinder finder(test::psl_snapshot());
    const auto out = resolve_report_destinations("blue.example.com", rua, finder, none);
    ASSERT_EQ(out.size(), limits::kMaxReportDestinations + 3);
    std::size_t deliver = 0, ignored = 0;
    for (const auto& d : out) {
        deliver += d.status == DestinationStatus::deliver;
        ignored += d.status == DestinationStatus::ignored;
    }
    EXPECT_EQ(deliver, limits::kMaxReportDestinations);
    EXPECT_EQ(ignored, 3u);
    EXPECT_NE(out.back().detail.find("over the bound"), std::string::npos);
}

// With the RFC 9989 tree walk, a DNS failure while finding the org domain is a temperror.
TEST(ReportDestinations, TreeWalkTemperrorIsRetried) {
    auto zone = MemoryResolver::parse("_dmarc.red.example.net SERVFAIL\n");
    ASSERT_TRUE(zone);
    DmarcRecordFetcher fetcher(*zone);
    TreeWalkOrgDomainFinder finder(fetcher);
    const auto out =
        verify_report_destination("blue.example.com", "mailto:rua@red.example.net", finder, *zone);
    EXPECT_EQ(out[0].status, DestinationStatus::temperror);
}

TEST(Suppressions, AddressDomainAndExpiry) {
    const Suppression domain{"dead.example", "", 0, std::nullopt};
    EXPECT_TRUE(suppression_matches(domain, "rua@dead.example", 10));
    EXPECT_TRUE(suppression_matches(domain, "rua@mx.Dead.Example", 10));
    EXPECT_FALSE(suppression_matches(domain, "rua@notdead.example", 10));
    const Suppression address{"a@b.example", "", 0, 100};
    EXPECT_TRUE(suppression_matches(address, "A@B.example", 99));
    EXPECT_FALSE(suppression_matches(address, "c@b.example", 99));
    EXPECT_FALSE(suppression_matches(address, "a@b.example", 100));  // expired
    EXPECT_EQ(normalise_suppression_pattern(" Dead.Example "), "dead.example");
    EXPECT_EQ(normalise_suppression_pattern("Rua@Dead.Example"), "rua@dead.example");
    EXPECT_FALSE(normalise_suppression_pattern("not an address"));
    EXPECT_FALSE(normalise_suppression_pattern("@dead.example"));
}

TEST(RetryDelay, DoublesFromFifteenMinutesUpToTwelveHours) {
    EXPECT_EQ(retry_delay_seconds(1), 900);
    EXPECT_EQ(retry_delay_seconds(2), 1800);
    EXPECT_EQ(retry_delay_seconds(3), 3600);
    EXPECT_EQ(retry_delay_seconds(kMaxDeliveryAttempts), 12 * 3600);
}

TEST(ReporterConfig, KeysOverrideDefaultsAndErrorsNameTheLine) {
    auto loaded = config::parse_reporter_config(
        "# comment\n"
        "database postgresql://dmarc@db/dmarc\n"
        "ReportFormat rfc9990\n"
        "ReportCompression zip\n"
        "ReportInterval 3600\n"
        "SmtpPort 2525\n"
        "SplitOversizedReports yes\n"
        "Nameservers 192.0.2.53, 2001:db8::53@5353\n");
    EXPECT_TRUE(loaded.ok());
    EXPECT_EQ(loaded.config.database, "postgresql://dmarc@db/dmarc");
    EXPECT_EQ(loaded.config.format, ReportFormat::rfc9990);
    EXPECT_EQ(loaded.config.compression, ReportCompression::zip);
    EXPECT_EQ(loaded.config.interval, 3600u);
    EXPECT_EQ(loaded.config.smtp_port, 2525);
    EXPECT_TRUE(loaded.config.split_oversized);
    EXPECT_EQ(loaded.config.nameservers.size(), 2u);
    auto bad = config::parse_reporter_config("SmtpPort 0\nNoSuchKey 1\nReportFormat xml\n");
    EXPECT_FALSE(bad.ok());
    ASSERT_EQ(bad.diagnostics.size(), 3u);
    EXPECT_EQ(bad.diagnostics[0].line, 1u);
    EXPECT_EQ(bad.diagnostics[1].message, "unknown configuration key");
    EXPECT_EQ(bad.config.smtp_port, 25);  // a wrong value keeps the default
}

TEST(ReporterConfig, ReferenceListsEveryKey) {
    const std::string md = config::render_reporter_reference_markdown();
    for (const auto& key : config::reporter_keys()) {
        EXPECT_NE(md.find("| `" + std::string(key.name) + "` |"), std::string::npos) << key.name;
    }
    EXPECT_GE(config::reporter_keys().size(), 20u);
}

}  // namespace
}  // namespace dmarc
