// Configuration in OpenDMARC's `Name value` format (opendmarc.conf(5)): names case-insensitive,
// '#' comments, booleans by their first character (TtYy1 / FfNn0). Every OpenDMARC key is known:
// implemented keys fill typed, bounded settings; keys we do not implement are reported by name
// and line. The key table is the single source of the configuration reference (docs are
// generated from it, so they cannot drift).
#pragma once

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"

namespace dmarc::config {

enum class ValueType : std::uint8_t { boolean, integer, string, list, path, socket };

enum class Support : std::uint8_t {
    implemented,    // behaves as documented
    accepted,       // accepted for compatibility; has no effect here (reported as a notice)
    unimplemented,  // OpenDMARC feature we do not provide (reported as a warning)
};

struct KeyInfo {
    std::string_view name;  // canonical spelling
    ValueType type;
    std::string_view default_text;
    std::string_view meaning;
    Support support;
    bool reloadable;      // takes effect on SIGHUP/SIGUSR1 (socket, user etc. need a restart)
    bool from_opendmarc;  // false: a key new in this project
};

// Every key the milter accepts, in documentation order.
std::span<const KeyInfo> milter_keys();

enum class PolicyDiscovery : std::uint8_t { treewalk, psl };

struct MilterConfig {
    // Identity and trust of upstream results.
    std::string authserv_id;  // empty: the MTA's hostname (milter macro j)
    bool authserv_id_with_job_id = false;
    std::vector<std::string> trusted_authserv_ids;  // lower case
    bool spf_ignore_results = false;
    bool spf_self_validate = false;
    // Enforcement.
    bool reject_failures = false;
    bool hold_quarantined_messages = false;
    bool required_headers = false;
    bool required_from = false;
    bool reject_multi_value_from = false;
    bool tempfail_on_dns_error = false;
    std::string reject_string = "rejected by DMARC policy for %s";
    std::string copy_failures_to;
    std::vector<std::string> ignore_mail_from;  // lower case; subdomains match too
    std::vector<std::string> ignore_mail_to;
    std::string ignore_hosts;  // path; empty: 127.0.0.1 and ::1
    bool ignore_authenticated_clients = false;
    std::vector<std::string> domain_whitelist;
    std::string domain_whitelist_file;
    // Discovery and DNS.
    PolicyDiscovery policy_discovery = PolicyDiscovery::treewalk;
    std::string public_suffix_list;
    std::uint32_t dns_timeout_s = 5;
    std::vector<std::string> nameservers;
    std::string trust_anchor_file;
    std::string test_dns_data;
    // History.
    std::string history_file;
    std::string history_database;
    bool record_all_messages = false;
    // Failure reports (milter/failure_reports.hpp).
    bool failure_reports = false;
    std::vector<std::string> failure_reports_bcc;
    bool failure_reports_on_none = false;
    std::string failure_reports_sent_by;  // empty: "dmarc-milter <postmaster@(host name)>"
    bool failure_reports_redact = true;
    std::uint32_t failure_reports_rate = 10;  // per destination address per hour
    std::string no_reports_list;              // path
    std::string report_command = "/usr/sbin/sendmail -t -odq";
    // Process.
    std::string socket = "inet:8893@127.0.0.1";
    bool io_uring = true;  // serve from an io_uring event thread when the kernel allows it
    std::string pid_file;
    std::string base_directory;  // chdir at start-up (relative paths are taken from it)
    std::string user_id;
    std::optional<std::uint32_t> umask;
    bool background = true;
    bool syslog = false;
    std::string syslog_facility = "mail";
    std::uint32_t milter_debug = 0;
    bool software_header = false;
};

struct Diagnostic {
    enum class Level : std::uint8_t { error, warning, notice } level = Level::error;
    std::size_t line = 0;  // 0: not tied to a line
    std::string key;
    std::string message;
};

struct LoadResult {
    MilterConfig config;
    std::vector<Diagnostic> diagnostics;
    bool ok() const;  // no errors (warnings and notices allowed)
};

// Parses configuration text. Never fails as a whole: every problem is a diagnostic with its
// line, and the config holds defaults for keys that were wrong.
LoadResult parse_milter_config(std::string_view text);

// One line for humans: "line 12: error: RejectString: more than one %s".
std::string to_string(const Diagnostic& diagnostic);

// Parses a boolean the way OpenDMARC does (first character), or nullopt.
std::optional<bool> parse_boolean(std::string_view text);

// Validates a milter socket specification: local:/path, unix:/path, inet:port@host,
// inet6:port@[addr] (host optional for inet: any address).
Result<std::string> parse_socket_spec(std::string_view text);

// Renders the key table as a Markdown reference (used by docs generation and its test).
std::string render_reference_markdown();

}  // namespace dmarc::config
