// opendmarc.conf compatibility (opendmarc.conf(5); reference opendmarc.md §1): every OpenDMARC key
// is known, implemented keys take typed values, the rest are reported by name and line.
#include "core/config.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <fstream>
#include <set>
#include <string>

namespace dmarc::config {
namespace {

bool has(const LoadResult& r, Diagnostic::Level level, std::string_view key) {
    return std::any_of(r.diagnostics.begin(), r.diagnostics.end(),
                       [&](const Diagnostic& d) { return d.level == level && d.key == key; });
}

// Every key of OpenDMARC's opendmarc.conf(5), 1.4.2 and the develop branch (the list is shared
// with tests/integration/config_reference_test.cpp).
TEST(Config, KnowsEveryOpenDmarcKey) {
    std::ifstream in(std::string(DMARC_TEST_DATA) + "/migration/opendmarc-keys.txt");
    std::set<std::string> known;
    for (const auto& k : milter_keys()) known.insert(std::string(k.name));
    int checked = 0;
    for (std::string key; std::getline(in, key);) {
        if (key.empty() || key[0] == '#') continue;
        EXPECT_TRUE(known.count(key)) << key;
        ++checked;
    }
    EXPECT_EQ(checked, 45);
}

// The classic tutorial's opendmarc.conf (keys marked ★ and ☆ in opendmarc.md §1) loads clean.
TEST(Config, TutorialConfigLoadsUnchanged) {
    auto r = parse_milter_config(R"(# tutorial
AuthservID mx.example.com
PidFile /var/run/opendmarc/opendmarc.pid
RejectFailures true
Syslog true
TrustedAuthservIDs mx.example.com,MX2.Example.com
UMask 0002
UserID opendmarc:mail
IgnoreHosts /etc/opendmarc/ignore.hosts
HistoryFile /var/run/opendmarc/opendmarc.dat
Socket inet:8893@localhost
SPFSelfValidate true
SPFIgnoreResults false
RequiredHeaders true
IgnoreAuthenticatedClients true
PublicSuffixList /usr/share/publicsuffix/public_suffix_list.dat
)");
    EXPECT_TRUE(r.ok());
    for (const auto& d : r.diagnostics) ADD_FAILURE() << to_string(d);
    EXPECT_EQ(r.config.authserv_id, "mx.example.com");
    EXPECT_TRUE(r.config.reject_failures);
    EXPECT_EQ(r.config.umask, 02u);
    EXPECT_EQ(r.config.socket, "inet:8893@localhost");
    // opendmarc.md §8.2 #31: authserv-ids are domain names, compared case-insensitively.
    ASSERT_EQ(r.config.trusted_authserv_ids.size(), 2u);
    EXPECT_EQ(r.config.trusted_authserv_ids[1], "mx2.example.com");
}

// opendmarc.conf(5): names case-insensitive; booleans by first character.
TEST(Config, NamesAndBooleansAsOpenDmarc) {
    auto r = parse_milter_config(
        "rejectfailures Yes\nuserid opendmarc\nSOFTWAREHEADER 1\n"
        "Background no\n");
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(r.config.reject_failures);
    EXPECT_TRUE(r.config.software_header);
    EXPECT_FALSE(r.config.background);
    EXPECT_EQ(r.config.user_id, "opendmarc");
    EXPECT_EQ(parse_boolean("TRUE"), true);
    EXPECT_EQ(parse_boolean("0"), false);
    EXPECT_FALSE(parse_boolean("maybe").has_value());
}

TEST(Config, ErrorsNameTheKeyAndLine) {
    auto r = parse_milter_config(
        "Socket inet:8893@localhost\nRejectFaliures true\n"
        "DNSTimeout 0\nRejectString bad %d\nUMask 9\n");
    EXPECT_FALSE(r.ok());
    ASSERT_EQ(r.diagnostics.size(), 4u);
    EXPECT_EQ(r.diagnostics[0].line, 2u);
    EXPECT_EQ(r.diagnostics[0].key, "RejectFaliures");
    EXPECT_EQ(to_string(r.diagnostics[0]),
              "line 2: error: RejectFaliures: unknown configuration key");
    EXPECT_EQ(r.diagnostics[1].key, "DNSTimeout");  // 0 = "wait forever" is refused
    EXPECT_EQ(r.diagnostics[2].key, "RejectString");
    EXPECT_EQ(r.diagnostics[3].key, "UMask");
    EXPECT_EQ(r.config.dns_timeout_s, 5u);  // defaults kept for the bad lines
}

TEST(Config, UnimplementedKeysAreReportedNotIgnored) {
    auto r = parse_milter_config(
        "ChangeRootDirectory /var/lib/dmarc\nAutoRestart true\nFailureReports true\n");
    EXPECT_TRUE(r.ok());
    EXPECT_TRUE(has(r, Diagnostic::Level::warning, "ChangeRootDirectory"));
    EXPECT_TRUE(has(r, Diagnostic::Level::notice, "AutoRestart"));
    EXPECT_FALSE(has(r, Diagnostic::Level::warning, "FailureReports"));  // implemented now
    EXPECT_TRUE(r.config.failure_reports);
}

TEST(Config, FailureReportKeys) {
    auto r = parse_milter_config(
        "FailureReports yes\nFailureReportsBcc postmaster@example.net, abuse@example.net\n"
        "FailureReportsOnNone true\nFailureReportsSentBy DMARC <dmarc@example.net>\n"
        "FailureReportsRedact no\nFailureReportsRate 3\nNoReportsList /etc/dmarc/no-reports\n"
        "ReportCommand /usr/sbin/sendmail -t -odq -f dmarc@example.net\n");
    ASSERT_TRUE(r.ok());
    EXPECT_TRUE(r.config.failure_reports);
    EXPECT_EQ(r.config.failure_reports_bcc,
              (std::vector<std::string>{"postmaster@example.net", "abuse@example.net"}));
    EXPECT_TRUE(r.config.failure_reports_on_none);
    EXPECT_EQ(r.config.failure_reports_sent_by, "DMARC <dmarc@example.net>");
    EXPECT_FALSE(r.config.failure_reports_redact);
    EXPECT_EQ(r.config.failure_reports_rate, 3u);
    EXPECT_EQ(r.config.no_reports_list, "/etc/dmarc/no-reports");
    EXPECT_EQ(r.config.report_command, "/usr/sbin/sendmail -t -odq -f dmarc@example.net");
    // Defaults: off, redacted, 10 an hour, OpenDMARC's command.
    auto d = parse_milter_config("");
    EXPECT_FALSE(d.config.failure_reports);
    EXPECT_TRUE(d.config.failure_reports_redact);
    EXPECT_EQ(d.config.failure_reports_rate, 10u);
    EXPECT_EQ(d.config.report_command, "/usr/sbin/sendmail -t -odq");
    // RFC 9991 makes a rate limit a MUST: 0 ("none") is refused, as are header injections.
    EXPECT_FALSE(parse_milter_config("FailureReportsRate 0\n").ok());
    EXPECT_FALSE(parse_milter_config("FailureReportsBcc postmaster\n").ok());
    EXPECT_FALSE(parse_milter_config("FailureReportsBcc <a@example.net>\n").ok());
}

TEST(Config, RejectStringIsSafeSmtpText) {
    EXPECT_TRUE(parse_milter_config("RejectString DMARC says no for %s").ok());
    EXPECT_TRUE(parse_milter_config("RejectString 100%% sure: %s").ok());
    EXPECT_FALSE(parse_milter_config("RejectString %s and %s").ok());
    EXPECT_FALSE(parse_milter_config("RejectString %n").ok());
    EXPECT_FALSE(parse_milter_config("RejectString caf\xc3\xa9 %s").ok());
}

TEST(Config, SocketsAndNameservers) {
    EXPECT_TRUE(parse_socket_spec("local:/run/dmarc/milter.sock").has_value());
    EXPECT_TRUE(parse_socket_spec("unix:/run/dmarc/milter.sock").has_value());
    EXPECT_TRUE(parse_socket_spec("inet:8893@127.0.0.1").has_value());
    EXPECT_TRUE(parse_socket_spec("inet:8893").has_value());
    EXPECT_TRUE(parse_socket_spec("inet6:8893@[::1]").has_value());
    EXPECT_FALSE(parse_socket_spec("inet:0@127.0.0.1").has_value());
    EXPECT_FALSE(parse_socket_spec("inet:99999@127.0.0.1").has_value());
    EXPECT_FALSE(parse_socket_spec("inet6:8893@localhost").has_value());
    EXPECT_FALSE(parse_socket_spec("local:relative.sock").has_value());
    EXPECT_FALSE(parse_socket_spec("8893").has_value());
    auto r = parse_milter_config("Nameservers 127.0.0.1@5353, ::1\n");
    EXPECT_TRUE(r.ok());
    EXPECT_EQ(r.config.nameservers.size(), 2u);
    EXPECT_FALSE(parse_milter_config("Nameservers dns.example\n").ok());
    EXPECT_FALSE(parse_milter_config("Nameservers 127.0.0.1@70000\n").ok());
}

TEST(Config, IgnoreMailFromIsNormalised) {
    auto r = parse_milter_config("IgnoreMailFrom Example.COM, bücher.example\n");
    EXPECT_TRUE(r.ok());
    ASSERT_EQ(r.config.ignore_mail_from.size(), 2u);
    EXPECT_EQ(r.config.ignore_mail_from[1], "xn--bcher-kva.example");
    EXPECT_FALSE(parse_milter_config("IgnoreMailFrom bad>domain\n").ok());
}

TEST(Config, OverlongLineIsAnErrorNotATruncation) {
    std::string text = "AuthservID " + std::string(5000, 'a') + "\n";
    auto r = parse_milter_config(text);
    EXPECT_FALSE(r.ok());
    EXPECT_TRUE(r.config.authserv_id.empty());
}

TEST(Config, ReferenceListsEveryKey) {
    auto md = render_reference_markdown();
    for (const auto& k : milter_keys()) {
        EXPECT_NE(md.find("`" + std::string(k.name) + "`"), std::string::npos) << k.name;
    }
}

}  // namespace
}  // namespace dmarc::config
