// opendmarc.conf parsing (see config.hpp). The table below is the one place a key is defined:
// its type, default, meaning, support level and how its value is applied.
#include "core/config.hpp"

#include <algorithm>
#include <charconv>

#include <fmt/format.h>

#include "core/domain_name.hpp"
#include "core/ip.hpp"
#include "core/limits.hpp"
#include "core/text.hpp"

namespace dmarc::config {
namespace {

using Apply = Result<void> (*)(MilterConfig&, std::string_view);

struct Entry {
    KeyInfo info;
    Apply apply;  // nullptr for keys that are accepted or unimplemented
};

Result<void> fail(std::string message) {
    return make_error(Errc::invalid_value, std::move(message));
}

Result<bool> boolean_value(std::string_view v) {
    auto b = parse_boolean(v);
    if (!b) return make_error(Errc::invalid_value, "not a boolean (true/false, yes/no, 1/0)");
    return *b;
}

Result<std::uint32_t> unsigned_value(std::string_view v, int base = 10) {
    std::uint32_t out = 0;
    auto res = std::from_chars(v.data(), v.data() + v.size(), out, base);
    if (v.empty() || res.ec != std::errc{} || res.ptr != v.data() + v.size()) {
        return make_error(Errc::invalid_value,
                          base == 8 ? "not an octal number" : "not a non-negative integer");
    }
    return out;
}

// Comma- (and whitespace-) separated list, empty items dropped.
std::vector<std::string> list_value(std::string_view v) {
    std::vector<std::string> out;
    std::size_t start = 0;
    while (start <= v.size()) {
        std::size_t end = v.find_first_of(", \t", start);
        if (end == std::string_view::npos) end = v.size();
        auto item = text::trim(v.substr(start, end - start));
        if (!item.empty()) out.emplace_back(item);
        start = end + 1;
    }
    return out;
}

Result<std::vector<std::string>> domain_list(std::string_view v) {
    std::vector<std::string> out;
    for (const auto& item : list_value(v)) {
        auto d = to_a_label_domain(item);
        if (!d) return make_error(Errc::invalid_value, "'" + item + "': " + d.error().message);
        out.push_back(*d);
    }
    return out;
}

// SMTP reply text must be one line of printable ASCII; RejectString may hold one %s.
Result<void> check_reply_text(std::string_view v) {
    if (v.size() > 400) return fail("longer than 400 characters");
    std::size_t placeholders = 0;
    for (std::size_t i = 0; i < v.size(); ++i) {
        auto c = static_cast<unsigned char>(v[i]);
        if (c < 0x20 || c > 0x7e) return fail("only printable ASCII is allowed in an SMTP reply");
        if (v[i] == '%') {
            if (i + 1 < v.size() && v[i + 1] == 's') {
                ++placeholders;
                ++i;
            } else if (i + 1 < v.size() && v[i + 1] == '%') {
                ++i;
            } else {
                return fail("'%' must be followed by 's' (policy domain) or '%'");
            }
        }
    }
    if (placeholders > 1) return fail("more than one %s");
    return {};
}

#define SET_BOOL(field)                                       \
    [](MilterConfig& c, std::string_view v) -> Result<void> { \
        auto b = boolean_value(v);                            \
        if (!b) return tl::unexpected(b.error());             \
        c.field = *b;                                         \
        return {};                                            \
    }
#define SET_STRING(field)                                     \
    [](MilterConfig& c, std::string_view v) -> Result<void> { \
        c.field = std::string(v);                             \
        return {};                                            \
    }

const Entry kEntries[] = {
    // ---- identity and trust
    {{"AuthservID", ValueType::string, "the MTA's host name",
      "authserv-id of the Authentication-Results field we add; HOSTNAME means the host name. "
      "Results carrying it are trusted; inbound fields that claim it are removed.",
      Support::implemented, true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         if (v.find_first_of(" \t;()\"") != std::string_view::npos) {
             return fail("must be a single token (no spaces, ';', '(' or quotes)");
         }
         c.authserv_id = std::string(v);
         return {};
     }},
    {{"AuthservIDWithJobID", ValueType::boolean, "false",
      "Writes authserv-id/queue-id in our header and accepts trusted headers of that form only "
      "with the matching queue id. Fields with our own authserv-id and no or another queue id "
      "are then removed as forged: turn on the same option in OpenDKIM. Recommended: Postfix "
      "never shows milters its own Received field, so without job ids a forged field above "
      "every Received cannot be told from an upstream milter's.",
      Support::implemented, true, true},
     SET_BOOL(authserv_id_with_job_id)},
    {{"TrustedAuthservIDs", ValueType::list, "AuthservID",
      "Comma list of authserv-ids whose Authentication-Results (OpenDKIM, SPF filters, ARC) are "
      "trusted. Compared case-insensitively.",
      Support::implemented, true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         c.trusted_authserv_ids.clear();
         for (auto& id : list_value(v)) c.trusted_authserv_ids.push_back(text::lower(id));
         return {};
     }},
    {{"SPFIgnoreResults", ValueType::boolean, "false",
      "Ignores SPF results in Authentication-Results and Received-SPF fields.",
      Support::implemented, true, true},
     SET_BOOL(spf_ignore_results)},
    {{"SPFSelfValidate", ValueType::boolean, "false",
      "Checks SPF (RFC 7208) ourselves when no usable upstream result exists, and adds spf= to "
      "our header.",
      Support::implemented, true, true},
     SET_BOOL(spf_self_validate)},
    // ---- enforcement
    {{"RejectFailures", ValueType::boolean, "false",
      "Rejects (550 5.7.1) mail that fails DMARC under p=reject. Without it, failures are only "
      "marked in the header.",
      Support::implemented, true, true},
     SET_BOOL(reject_failures)},
    {{"HoldQuarantinedMessages", ValueType::boolean, "false",
      "Puts mail that fails DMARC under p=quarantine into Postfix's hold queue. Independent of "
      "RejectFailures (unlike OpenDMARC 1.4.2).",
      Support::implemented, true, true},
     SET_BOOL(hold_quarantined_messages)},
    {{"RequiredHeaders", ValueType::boolean, "false",
      "Rejects messages that break RFC 5322 §3.6 header counts (exactly one From and Date; at "
      "most one Reply-To, To, Cc, Bcc, Message-ID, In-Reply-To, References, Subject).",
      Support::implemented, true, true},
     SET_BOOL(required_headers)},
    {{"RequiredFrom", ValueType::boolean, "false",
      "Rejects messages whose From field is missing or cannot be parsed.", Support::implemented,
      true, true},
     SET_BOOL(required_from)},
    {{"RejectMultiValueFrom", ValueType::boolean, "false",
      "Rejects a From field with addresses in several domains. Otherwise each domain is "
      "evaluated and the strictest result applies.",
      Support::implemented, true, true},
     SET_BOOL(reject_multi_value_from)},
    {{"TempFailOnDNSError", ValueType::boolean, "false",
      "Answers 451 4.7.1 when the DMARC policy cannot be retrieved (DNS temperror), so the "
      "sender retries. Otherwise such mail is accepted with dmarc=temperror.",
      Support::implemented, true, false},
     SET_BOOL(tempfail_on_dns_error)},
    {{"RejectString", ValueType::string, "rejected by DMARC policy for %s",
      "Text of the 550 5.7.1 reply; %s is replaced by the policy domain.", Support::implemented,
      true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         auto ok = check_reply_text(v);
         if (!ok) return ok;
         c.reject_string = std::string(v);
         return {};
     }},
    {{"CopyFailuresTo", ValueType::string, "(none)",
      "Adds this envelope recipient to mail that fails DMARC under p=quarantine or p=reject.",
      Support::implemented, true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         if (v.find('@') == std::string_view::npos || v.find_first_of(" \t<>,") != v.npos) {
             return fail("must be one address (user@domain)");
         }
         c.copy_failures_to = std::string(v);
         return {};
     }},
    {{"IgnoreMailFrom", ValueType::list, "(none)",
      "From domains never evaluated (comma list); their subdomains are ignored too.",
      Support::implemented, true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         auto d = domain_list(v);
         if (!d) return tl::unexpected(d.error());
         c.ignore_mail_from = *d;
         return {};
     }},
    {{"IgnoreMailTo", ValueType::list, "(none)",
      "Recipient addresses or domains whose mail is evaluated but not written to history "
      "(breaks report loops).",
      Support::implemented, true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         c.ignore_mail_to.clear();
         for (auto& item : list_value(v)) c.ignore_mail_to.push_back(text::lower(item));
         return {};
     }},
    {{"IgnoreHosts", ValueType::path, "127.0.0.1 and ::1",
      "File of client IP addresses, CIDR networks and host names whose mail is accepted "
      "unevaluated. Re-read on reload.",
      Support::implemented, true, true},
     SET_STRING(ignore_hosts)},
    {{"IgnoreAuthenticatedClients", ValueType::boolean, "false",
      "Accepts mail from SMTP-authenticated clients ({auth_authen} set) unevaluated.",
      Support::implemented, true, true},
     SET_BOOL(ignore_authenticated_clients)},
    {{"DomainWhitelist", ValueType::list, "(none)",
      "ARC sealer domains trusted for the ARC override: a DMARC failure whose trusted arc=pass "
      "chain consists only of these domains is not enforced.",
      Support::implemented, true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         auto d = domain_list(v);
         if (!d) return tl::unexpected(d.error());
         c.domain_whitelist = *d;
         return {};
     }},
    {{"DomainWhitelistFile", ValueType::path, "(none)",
      "File of ARC sealer domains, one per line, added to DomainWhitelist.", Support::implemented,
      true, true},
     SET_STRING(domain_whitelist_file)},
    {{"DomainWhitelistSize", ValueType::integer, "3000",
      "Capacity hint of OpenDMARC's hash table; not needed here.", Support::accepted, true, true},
     nullptr},
    // ---- discovery and DNS
    {{"PolicyDiscovery", ValueType::string, "treewalk",
      "How the organizational domain is found: treewalk (RFC 9989 DNS tree walk) or psl "
      "(RFC 7489 public suffix list, needs PublicSuffixList).",
      Support::implemented, true, false},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         if (text::iequals(v, "treewalk")) {
             c.policy_discovery = PolicyDiscovery::treewalk;
         } else if (text::iequals(v, "psl")) {
             c.policy_discovery = PolicyDiscovery::psl;
         } else {
             return fail("must be treewalk or psl");
         }
         return {};
     }},
    {{"PublicSuffixList", ValueType::path, "(none)",
      "Public suffix list file (Debian: /usr/share/publicsuffix/public_suffix_list.dat) for "
      "PolicyDiscovery psl. Re-read on reload.",
      Support::implemented, true, true},
     SET_STRING(public_suffix_list)},
    {{"DNSTimeout", ValueType::integer, "5",
      "Seconds a DNS query may take before it counts as a temporary error (1-60).",
      Support::implemented, true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         auto n = unsigned_value(v);
         if (!n) return tl::unexpected(n.error());
         // OpenDMARC documents 0 as "wait forever"; a mail filter must never wait forever.
         if (*n == 0 || *n > 60) return fail("must be between 1 and 60 seconds");
         c.dns_timeout_s = *n;
         return {};
     }},
    {{"Nameservers", ValueType::list, "the system's resolv.conf",
      "Comma list of DNS servers to ask, host[@port] (IPv4 or IPv6).", Support::implemented, false,
      false},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         std::vector<std::string> out;
         for (auto& item : list_value(v)) {
             auto at = item.rfind('@');
             auto host = std::string_view(item).substr(0, at);
             if (!IpAddress::parse(host)) return fail("'" + item + "': not an IP address");
             if (at != std::string::npos) {
                 auto port = unsigned_value(std::string_view(item).substr(at + 1));
                 if (!port || *port == 0 || *port > 65535) {
                     return fail("'" + item + "': bad port");
                 }
             }
             out.push_back(item);
         }
         c.nameservers = out;
         return {};
     }},
    {{"TrustAnchorFile", ValueType::path, "(none)",
      "DNSSEC trust anchor file; when set, answers are validated and history records whether "
      "the policy was DNSSEC-secure.",
      Support::implemented, false, false},
     SET_STRING(trust_anchor_file)},
    {{"TestDNSData", ValueType::path, "(none)",
      "Zone file answered instead of the DNS (tests and -t mode only).", Support::implemented, true,
      true},
     SET_STRING(test_dns_data)},
    // ---- history
    {{"HistoryFile", ValueType::path, "(none)",
      "Appends each verdict in OpenDMARC's history text format (readable by opendmarc-import "
      "and dmarc-collector). A write failure is logged; it never delays mail.",
      Support::implemented, true, true},
     SET_STRING(history_file)},
    {{"HistoryDatabase", ValueType::path, "(none)",
      "The local SQLite spool (WAL) of every evaluated message, which dmarc-collector imports "
      "(e.g. /var/lib/dmarc/spool.db). A write failure is logged and counted; it never delays "
      "mail. Unset: no spool.",
      Support::implemented, false, false},
     SET_STRING(history_database)},
    {{"RecordAllMessages", ValueType::boolean, "false",
      "Also records messages whose From domain publishes no DMARC record.", Support::implemented,
      true, true},
     SET_BOOL(record_all_messages)},
    // ---- failure reports (RFC 6591 as updated by RFC 9991; milter/failure_reports.hpp)
    {{"FailureReports", ValueType::boolean, "false",
      "Sends failure (ruf) reports for messages whose DMARC record asks for them (fo=), through "
      "ReportCommand, after verifying external destinations (RFC 9991) and within "
      "FailureReportsRate. Never delays mail: reports are sent by a background thread.",
      Support::implemented, true, true},
     SET_BOOL(failure_reports)},
    {{"FailureReportsBcc", ValueType::list, "(none)",
      "Addresses that get a copy of every failure report (in Bcc; in To when the record has no "
      "ruf). Not rate-limited and not verified: they are your own.",
      Support::implemented, true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         c.failure_reports_bcc.clear();
         for (auto& item : list_value(v)) {
             if (item.find('@') == std::string::npos ||
                 item.find_first_of("<>\"\r\n") != std::string::npos) {
                 return fail("not an address: " + item);
             }
             c.failure_reports_bcc.push_back(std::move(item));
         }
         return {};
     }},
    {{"FailureReportsOnNone", ValueType::boolean, "false",
      "Also reports failures of domains whose policy is none.", Support::implemented, true, true},
     SET_BOOL(failure_reports_on_none)},
    {{"FailureReportsSentBy", ValueType::string, "dmarc-milter <postmaster@(host name)>",
      "From: of failure reports.", Support::implemented, true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         if (v.find_first_of("\r\n") != std::string_view::npos) return fail("one line only");
         c.failure_reports_sent_by = std::string(v);
         return {};
     }},
    {{"FailureReportsRedact", ValueType::boolean, "true",
      "dmarc-milter: replaces the local-parts of addresses in failure reports by a keyed hash "
      "(RFC 6590, RFC 9991 privacy); false sends them as received, as OpenDMARC does.",
      Support::implemented, true, false},
     SET_BOOL(failure_reports_redact)},
    {{"FailureReportsRate", ValueType::integer, "10",
      "dmarc-milter: at most this many failure reports per destination address per hour "
      "(RFC 9991 requires a rate limit); the rest are counted and logged.",
      Support::implemented, true, false},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         auto n = unsigned_value(v);
         if (!n) return tl::unexpected(n.error());
         if (*n == 0 || *n > 100000) return fail("must be 1 to 100000");
         c.failure_reports_rate = *n;
         return {};
     }},
    {{"NoReportsList", ValueType::path, "(none)",
      "File of addresses and domains (a domain covers its subdomains) never sent failure "
      "reports, one per line, # comments.",
      Support::implemented, true, true},
     SET_STRING(no_reports_list)},
    {{"ReportCommand", ValueType::string, "/usr/sbin/sendmail -t -odq",
      "Command (run by /bin/sh) that failure reports are piped to; it reads the recipients from "
      "the header (-t).",
      Support::implemented, true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         if (text::trim(v).empty()) return fail("needs a command");
         c.report_command = std::string(v);
         return {};
     }},
    // ---- process
    {{"Socket", ValueType::socket, "inet:8893@127.0.0.1",
      "Where Postfix connects: local:/path, inet:port@host or inet6:port@[address].",
      Support::implemented, false, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         auto s = parse_socket_spec(v);
         if (!s) return tl::unexpected(s.error());
         c.socket = *s;
         return {};
     }},
    {{"IoUring", ValueType::boolean, "true",
      "Serves connections from an io_uring event thread (Linux 6.1 or later): about a third "
      "less CPU per message than a thread per connection. Where the kernel refuses io_uring "
      "(kernel.io_uring_disabled, a seccomp profile, an older kernel) the milter says so at "
      "start-up and uses threads; false always uses threads.",
      Support::implemented, false, false},
     SET_BOOL(io_uring)},
    {{"PidFile", ValueType::path, "(none)", "Writes the process id to this file.",
      Support::implemented, false, true},
     SET_STRING(pid_file)},
    {{"UserID", ValueType::string, "(unchanged)",
      "user[:group] to run as after opening the socket.", Support::implemented, false, true},
     SET_STRING(user_id)},
    {{"UMask", ValueType::integer, "(unchanged)", "Octal file creation mask (e.g. 0002).",
      Support::implemented, false, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         auto n = unsigned_value(v, 8);
         if (!n) return tl::unexpected(n.error());
         if (*n > 0777) return fail("must be at most 0777");
         c.umask = *n;
         return {};
     }},
    {{"Background", ValueType::boolean, "true",
      "Forks into the background (false, or -f, for systemd Type=simple).", Support::implemented,
      false, true},
     SET_BOOL(background)},
    {{"Syslog", ValueType::boolean, "false", "Logs to syslog (otherwise to stderr).",
      Support::implemented, true, true},
     SET_BOOL(syslog)},
    {{"SyslogFacility", ValueType::string, "mail", "syslog facility (mail, daemon, local0-7...).",
      Support::implemented, true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         static constexpr std::string_view kFacilities[] = {"mail",   "daemon", "user",   "local0",
                                                            "local1", "local2", "local3", "local4",
                                                            "local5", "local6", "local7"};
         std::string f = text::lower(v);
         if (std::find(std::begin(kFacilities), std::end(kFacilities), f) ==
             std::end(kFacilities)) {
             return fail("unknown syslog facility");
         }
         c.syslog_facility = f;
         return {};
     }},
    {{"MilterDebug", ValueType::integer, "0",
      "Milter protocol trace in the log: 1 negotiation and one line per message, 2 also every "
      "protocol step with our reply and each message's evaluation trace, 3 also header fields "
      "and macro values.",
      Support::implemented, true, true},
     [](MilterConfig& c, std::string_view v) -> Result<void> {
         auto n = unsigned_value(v);
         if (!n) return tl::unexpected(n.error());
         c.milter_debug = *n;
         return {};
     }},
    {{"SoftwareHeader", ValueType::boolean, "false",
      "Adds a DMARC-Filter header naming this software and the queue id.", Support::implemented,
      true, true},
     SET_BOOL(software_header)},
    {{"AutoRestart", ValueType::boolean, "false",
      "Use the service manager (systemd Restart=) instead.", Support::accepted, false, true},
     nullptr},
    {{"AutoRestartCount", ValueType::integer, "0", "See AutoRestart.", Support::accepted, false,
      true},
     nullptr},
    {{"AutoRestartRate", ValueType::string, "(none)", "See AutoRestart.", Support::accepted, false,
      true},
     nullptr},
    {{"BaseDirectory", ValueType::path, "(none)",
      "Changes to this directory at start-up, before any other file is opened, so relative "
      "paths in this file are taken from it (as OpenDMARC's chdir(2)). A reload keeps the "
      "directory of the start.",
      Support::implemented, false, true},
     SET_STRING(base_directory)},
    {{"ChangeRootDirectory", ValueType::path, "(none)",
      "Not supported: use systemd's RootDirectory= or ProtectSystem=.", Support::unimplemented,
      false, true},
     nullptr},
    {{"EnableCoredumps", ValueType::boolean, "false",
      "Use the service manager's core dump settings instead.", Support::accepted, false, true},
     nullptr},
};

#undef SET_BOOL
#undef SET_STRING

const Entry* find_entry(std::string_view name) {
    for (const auto& e : kEntries) {
        if (text::iequals(e.info.name, name)) return &e;
    }
    // OpenDMARC's own table spells it "Userid"; iequals already covers that.
    return nullptr;
}

}  // namespace

std::span<const KeyInfo> milter_keys() {
    static const std::vector<KeyInfo> keys = [] {
        std::vector<KeyInfo> out;
        for (const auto& e : kEntries) out.push_back(e.info);
        return out;
    }();
    return keys;
}

std::optional<bool> parse_boolean(std::string_view t) {
    t = text::trim(t);
    if (t.empty()) return std::nullopt;
    switch (t.front()) {
        case 'T':
        case 't':
        case 'Y':
        case 'y':
        case '1':
            return true;
        case 'F':
        case 'f':
        case 'N':
        case 'n':
        case '0':
            return false;
        default:
            return std::nullopt;
    }
}

Result<std::string> parse_socket_spec(std::string_view t) {
    auto colon = t.find(':');
    if (colon == std::string_view::npos) {
        return make_error(Errc::syntax,
                          "socket must be local:/path, inet:port@host or "
                          "inet6:port@[address]");
    }
    std::string type = text::lower(t.substr(0, colon));
    std::string_view rest = t.substr(colon + 1);
    if (type == "local" || type == "unix") {
        if (rest.empty() || rest.front() != '/' || rest.size() > 100) {
            return make_error(Errc::syntax, "a local socket needs an absolute path (< 100 bytes)");
        }
        return std::string(t);
    }
    if (type == "inet" || type == "inet6") {
        auto at = rest.find('@');
        auto port_text = rest.substr(0, at);
        std::uint32_t port = 0;
        auto res = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
        if (port_text.empty() || res.ec != std::errc{} ||
            res.ptr != port_text.data() + port_text.size() || port == 0 || port > 65535) {
            return make_error(Errc::syntax, "bad port in socket specification");
        }
        if (at != std::string_view::npos) {
            auto host = rest.substr(at + 1);
            if (host.empty()) return make_error(Errc::syntax, "empty host in socket specification");
            if (type == "inet6" && !IpAddress::parse(host)) {
                return make_error(Errc::syntax, "inet6 needs an IPv6 address: inet6:port@[addr]");
            }
        }
        return std::string(t);
    }
    return make_error(Errc::syntax, "unknown socket type '" + type + "'");
}

bool LoadResult::ok() const {
    return std::none_of(diagnostics.begin(), diagnostics.end(),
                        [](const Diagnostic& d) { return d.level == Diagnostic::Level::error; });
}

LoadResult parse_milter_config(std::string_view input) {
    LoadResult out;
    std::size_t line_no = 0;
    bool trusted_set = false;
    std::vector<std::string> seen;
    while (!input.empty()) {
        ++line_no;
        auto nl = input.find('\n');
        std::string_view line = input.substr(0, nl);
        input = nl == std::string_view::npos ? std::string_view() : input.substr(nl + 1);
        auto add = [&](Diagnostic::Level level, std::string key, std::string message) {
            out.diagnostics.push_back({level, line_no, std::move(key), std::move(message)});
        };
        if (line.size() > limits::kMaxConfigLineBytes) {
            add(Diagnostic::Level::error, "",
                "line longer than " + std::to_string(limits::kMaxConfigLineBytes) + " bytes");
            continue;
        }
        auto hash = line.find('#');
        line = text::trim(line.substr(0, hash));
        if (line.empty()) continue;
        std::size_t split = 0;
        while (split < line.size() && !text::is_wsp(line[split])) ++split;
        std::string_view name = line.substr(0, split);
        std::string_view value = text::trim(line.substr(split));
        const Entry* entry = find_entry(name);
        if (entry == nullptr) {
            add(Diagnostic::Level::error, std::string(name), "unknown configuration key");
            continue;
        }
        std::string key(entry->info.name);
        if (std::find(seen.begin(), seen.end(), key) != seen.end()) {
            add(Diagnostic::Level::warning, key, "set more than once; the last value wins");
        }
        seen.push_back(key);
        switch (entry->info.support) {
            case Support::unimplemented:
                // Only worth a warning when it asks for the feature.
                if (entry->info.type != ValueType::boolean || parse_boolean(value).value_or(true)) {
                    add(Diagnostic::Level::warning, key,
                        "not implemented: " + std::string(entry->info.meaning));
                }
                continue;
            case Support::accepted:
                add(Diagnostic::Level::notice, key,
                    "accepted, no effect: " + std::string(entry->info.meaning));
                continue;
            case Support::implemented:
                break;
        }
        if (value.empty() && entry->info.type != ValueType::string &&
            entry->info.type != ValueType::list) {
            add(Diagnostic::Level::error, key, "needs a value");
            continue;
        }
        auto applied = entry->apply(out.config, value);
        if (!applied) {
            add(Diagnostic::Level::error, key, applied.error().message);
            continue;
        }
        if (key == "TrustedAuthservIDs") trusted_set = true;
    }
    // OpenDMARC: TrustedAuthservIDs defaults to AuthservID. Our own id is always trusted, so the
    // list only needs the others; keep the documented default visible in the config.
    if (!trusted_set && !out.config.authserv_id.empty()) {
        out.config.trusted_authserv_ids = {text::lower(out.config.authserv_id)};
    }
    return out;
}

std::string to_string(const Diagnostic& d) {
    std::string_view level = d.level == Diagnostic::Level::error     ? "error"
                             : d.level == Diagnostic::Level::warning ? "warning"
                                                                     : "notice";
    std::string out = d.line ? fmt::format("line {}: ", d.line) : std::string();
    out += fmt::format("{}: ", level);
    if (!d.key.empty()) out += d.key + ": ";
    return out + d.message;
}

std::string render_reference_markdown() {
    static constexpr std::string_view kTypes[] = {"boolean", "integer", "string",
                                                  "list",    "path",    "socket"};
    std::string out =
        "| Key | Type | Default | Meaning | Reload | Origin |\n|---|---|---|---|---|---|\n";
    for (const auto& e : kEntries) {
        const auto& k = e.info;
        std::string meaning(k.meaning);
        if (k.support == Support::unimplemented) meaning = "**Not implemented.** " + meaning;
        if (k.support == Support::accepted) meaning = "*Accepted, no effect.* " + meaning;
        out +=
            fmt::format("| `{}` | {} | {} | {} | {} | {} |\n", k.name,
                        kTypes[static_cast<int>(k.type)], k.default_text, meaning,
                        k.reloadable ? "yes" : "restart", k.from_opendmarc ? "OpenDMARC" : "new");
    }
    return out;
}

}  // namespace dmarc::config
