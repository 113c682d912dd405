// The configuration reference (docs/configuration.md, generated from core/config.cpp's key table)
// against the real program, in both directions (issue 9 acceptance): every key the reference
// lists is accepted by `dmarc-milter -n` when set to a valid value, and every key the milter
// accepts — its table, and every key OpenDMARC's opendmarc.conf(5) documents — is in the
// reference. A key outside the reference is refused, so nothing is accepted undocumented.
#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <map>
#include <set>
#include <sstream>

#include "core/config.hpp"
#include "core/reporter_config.hpp"
#include "tests/integration/program_runner.hpp"
#include "tests/io/temp_dir.hpp"

namespace dmarc {
namespace {

const std::string kSourceDir = std::string(DMARC_TEST_DATA) + "/../..";

// Keys of one program's table in the reference: lines "| `Name` | ..." under the heading
// "# Configuration reference: <program>", up to the next top-level heading.
std::vector<std::string> reference_keys(const std::string& program = "dmarc-milter") {
    std::istringstream in(test::read_text(kSourceDir + "/docs/configuration.md"));
    std::vector<std::string> keys;
    std::string line;
    bool inside = false;
    while (std::getline(in, line)) {
        if (line.starts_with("# ")) inside = line == "# Configuration reference: " + program;
        if (!inside || !line.starts_with("| `")) continue;
        auto end = line.find('`', 3);
        keys.push_back(line.substr(3, end - 3));
    }
    return keys;
}

// OpenDMARC's keys (tests/data/migration/opendmarc-keys.txt).
std::vector<std::string> opendmarc_keys() {
    std::istringstream in(
        test::read_text(std::string(DMARC_TEST_DATA) + "/migration/opendmarc-keys.txt"));
    std::vector<std::string> keys;
    for (std::string line; std::getline(in, line);) {
        if (!line.empty() && line[0] != '#') keys.push_back(line);
    }
    return keys;
}

class ConfigReference : public ::testing::Test {
  protected:
    void SetUp() override {
        std::ofstream(dir_.file("ignore-hosts")) << "127.0.0.1\n::1\n10.0.0.0/8\n";
        std::ofstream(dir_.file("arc-sealers")) << "lists.example\n";
        std::ofstream(dir_.file("no-reports")) << "# never sent failure reports\nexample.org\n";
        std::ofstream(dir_.file("zone.txt")) << "_dmarc.example.com TXT \"v=DMARC1; p=none\"\n";
        std::ofstream(dir_.file("trust-anchor"))
            << ". IN DS 20326 8 2 "
               "E06D44B80B8F1D39A95C0B0D7C65D08458E880409BBC683"
               "457104237C7F8EC8D\n";
        // A valid value for every key, by what the key means (not by its type alone).
        valid_ = {
            {"AuthservID", "mx.example.net"},
            {"AuthservIDWithJobID", "true"},
            {"TrustedAuthservIDs", "mx.example.net, dkim.example.net"},
            {"SPFIgnoreResults", "false"},
            {"SPFSelfValidate", "true"},
            {"RejectFailures", "true"},
            {"HoldQuarantinedMessages", "true"},
            {"RequiredHeaders", "true"},
            {"RequiredFrom", "true"},
            {"RejectMultiValueFrom", "true"},
            {"TempFailOnDNSError", "false"},
            {"RejectString", "rejected by DMARC policy for %s"},
            {"CopyFailuresTo", "dmarc-failures@example.net"},
            {"IgnoreMailFrom", "example.org, xn--bcher-kva.example"},
            {"IgnoreMailTo", "dmarc-reports@example.net"},
            {"IgnoreHosts", dir_.file("ignore-hosts")},
            {"IgnoreAuthenticatedClients", "true"},
            {"DomainWhitelist", "lists.example"},
            {"DomainWhitelistFile", dir_.file("arc-sealers")},
            {"DomainWhitelistSize", "3000"},
            {"PolicyDiscovery", "psl"},
            {"PublicSuffixList", std::string(DMARC_TEST_DATA) + "/psl/public_suffix_list.dat"},
            {"DNSTimeout", "5"},
            {"Nameservers", "127.0.0.1@5353, ::1"},
            {"TrustAnchorFile", dir_.file("trust-anchor")},
            {"TestDNSData", dir_.file("zone.txt")},
            {"HistoryFile", dir_.file("history.dat")},
            {"HistoryDatabase", dir_.file("spool.db")},
            {"RecordAllMessages", "true"},
            {"NoReportsList", dir_.file("no-reports")},
            {"FailureReports", "false"},
            {"FailureReportsBcc", "postmaster@example.net"},
            {"FailureReportsOnNone", "false"},
            {"FailureReportsSentBy", "postmaster@example.net"},
            {"FailureReportsRedact", "true"},
            {"FailureReportsRate", "10"},
            {"ReportCommand", "/usr/sbin/sendmail -t -odq"},
            {"Socket", "inet:8893@127.0.0.1"},
            {"IoUring", "true"},
            {"PidFile", dir_.file("milter.pid")},
            {"UserID", "nobody"},
            {"UMask", "0007"},
            {"Background", "false"},
            {"Syslog", "false"},
            {"SyslogFacility", "mail"},
            {"MilterDebug", "0"},
            {"SoftwareHeader", "true"},
            {"AutoRestart", "false"},
            {"AutoRestartCount", "0"},
            {"AutoRestartRate", "10/1h"},
            {"BaseDirectory", dir_.path()},  // chdir: a directory that exists
            {"ChangeRootDirectory", "/var/lib/dmarc"},
            {"EnableCoredumps", "false"},
        };
    }

    // dmarc-milter -n on a file holding `lines`.
    test::ProgramResult check(const std::string& lines) {
        const std::string path = dir_.file("milter.conf");
        std::ofstream(path) << lines;
        return test::run_program("dmarc-milter", {"-n", "-c", path}, dir_.path());
    }

    test::TempDir dir_;
    std::map<std::string, std::string> valid_;
};

TEST_F(ConfigReference, GeneratedReferenceHasEveryKeyOfTheTable) {
    auto keys = reference_keys();
    ASSERT_FALSE(keys.empty());
    std::vector<std::string> table;
    for (const auto& k : config::milter_keys()) table.emplace_back(k.name);
    EXPECT_EQ(keys, table) << "docs/configuration.md is stale: build the dmarc-docs target";
}

// Reference -> program: each documented key alone, set to a valid value, passes -n.
TEST_F(ConfigReference, EveryDocumentedKeyIsAcceptedByTheMilter) {
    auto keys = reference_keys();
    ASSERT_FALSE(keys.empty());
    std::string all;
    for (const auto& key : keys) {
        auto value = valid_.find(key);
        ASSERT_NE(value, valid_.end()) << key << ": documented, but this test has no valid value "
                                       << "for it (add one)";
        std::string line = key + " " + value->second + "\n";
        // psl discovery needs its list; every other key stands alone.
        if (key == "PolicyDiscovery")
            line += "PublicSuffixList " + valid_["PublicSuffixList"] + "\n";
        auto r = check(line);
        EXPECT_EQ(r.status, 0) << key << ": " << r.out << r.err;
        EXPECT_NE(r.out.find("configuration OK"), std::string::npos) << key << ": " << r.out;
        EXPECT_EQ(r.out.find("error"), std::string::npos) << key << ": " << r.out;
        all += line;
    }
    // And all of them in one file (a full opendmarc.conf).
    auto r = check(all);
    EXPECT_EQ(r.status, 0) << r.out << r.err;
}

// Program -> reference: OpenDMARC's documented keys are all known to the milter and documented.
TEST_F(ConfigReference, EveryOpenDmarcKeyIsAcceptedAndDocumented) {
    auto keys = reference_keys();
    std::set<std::string> documented(keys.begin(), keys.end());
    const auto keys_of_opendmarc = opendmarc_keys();
    ASSERT_EQ(keys_of_opendmarc.size(), 45u);
    std::size_t accepted = 0;
    for (const auto& key : keys_of_opendmarc) {
        EXPECT_TRUE(documented.count(key)) << key << " is accepted but not in the reference";
        auto r = check(key + " " + valid_[key] + "\n");
        EXPECT_EQ(r.status, 0) << key << ": " << r.out;
        accepted += r.status == 0;
    }
    EXPECT_EQ(accepted, keys_of_opendmarc.size());
}

// Program -> reference: what is not in the reference is refused (exit 78, named with its line),
// in any spelling the parser would otherwise accept; documented keys work in any case.
TEST_F(ConfigReference, KeysOutsideTheReferenceAreRefused) {
    for (const char* key : {"NoSuchKey", "RejectFailure", "Socket2", "HistoryDB", "WebListen"}) {
        auto r = check(std::string("Syslog false\n") + key + " true\n");
        EXPECT_EQ(r.status, 78) << key;
        EXPECT_NE(r.out.find("line 2: error: " + std::string(key) + ": unknown configuration key"),
                  std::string::npos)
            << r.out;
    }
    auto r = check("rejectfailures TRUE\nSOCKET inet:8893@127.0.0.1\nuserid nobody\n");
    EXPECT_EQ(r.status, 0) << r.out;
}

// The installed sample (dist/dmarc-milter.conf, generated from the same table) names every key
// and passes -n as shipped.
TEST_F(ConfigReference, SampleConfigurationNamesEveryKeyAndIsValid) {
    std::string sample = test::read_text(kSourceDir + "/dist/dmarc-milter.conf");
    for (const auto& key : reference_keys()) {
        EXPECT_NE(sample.find("# " + key + " ("), std::string::npos) << key;
    }
    auto r = test::run_program("dmarc-milter", {"-n", "-c", kSourceDir + "/dist/dmarc-milter.conf"},
                               dir_.path());
    EXPECT_EQ(r.status, 0) << r.out;
}

// dmarc-reporter's settings file, both directions: the reference's section is its key table, each
// documented key set to a valid value is accepted by parse_reporter_config (what
// `dmarc-reporter --config` runs), and a key outside the table is refused.
TEST(ConfigReferenceReporter, SectionIsTheKeyTableAndEveryKeyIsAccepted) {
    auto keys = reference_keys("dmarc-reporter");
    std::vector<std::string> table;
    for (const auto& k : config::reporter_keys()) table.emplace_back(k.name);
    ASSERT_FALSE(table.empty());
    EXPECT_EQ(keys, table) << "docs/configuration.md is stale: build the dmarc-docs target";
    const std::map<std::string, std::string> valid = {
        {"Database", "sqlite:///var/lib/dmarc/dmarc.db"},
        {"ReportEmail", "dmarc-noreply@example.com"},
        {"ReportOrg", "Example Mail"},
        {"ReportContact", "https://example.com/dmarc"},
        {"ReportFormat", "rfc9990"},
        {"ReportCompression", "zip"},
        {"ReportInterval", "3600"},
        {"SmtpServer", "smtp.example.com"},
        {"SmtpPort", "587"},
        {"SmtpTls", "starttls-required"},
        {"SmtpUsername", "reports"},
        {"SmtpPassword", "secret"},
        {"SmtpHelo", "mx.example.com"},
        {"SendPause", "100"},
        {"SplitOversizedReports", "yes"},
        {"ReportEnvelopeTo", "no"},
        {"PublicSuffixList", "/usr/share/publicsuffix/public_suffix_list.dat"},
        {"DNSTimeout", "3"},
        {"Nameservers", "127.0.0.1@53"},
        {"TrustAnchorFile", "/usr/share/dns/root.key"},
        {"TestDNSData", "/dev/null"},
        {"OutputDir", "/var/lib/dmarc/reports"},
    };
    std::string all;
    for (const auto& key : keys) {
        auto value = valid.find(key);
        ASSERT_NE(value, valid.end()) << key << ": documented, but no valid value here (add one)";
        const std::string line = key + " " + value->second + "\n";
        EXPECT_TRUE(config::parse_reporter_config(line).ok()) << line;
        all += line;
    }
    EXPECT_TRUE(config::parse_reporter_config(all).ok());
    EXPECT_FALSE(config::parse_reporter_config("ReportColour blue\n").ok());
}

}  // namespace
}  // namespace dmarc
