// Test and benchmark support: a whole mail chain on loopback, private to one temporary directory:
// unbound serving test zones (tests/support/local_unbound.hpp), a SERVFAIL-only DNS server, Debian
// OpenDKIM (signs for signed.example with a key generated here and published in the zone, verifies
// everything else and adds its Authentication-Results), a DMARC milter (dmarc-milter, or Debian
// opendmarc for the benchmark baseline), a private Postfix instance (own config, queue and data
// directories, XCLIENT from loopback, milter_default_action) and smtp-sink or discard delivery.
// Nothing of the machine's own mail set-up is read or touched; everything is stopped by the
// destructor, and by a watchdog process if the owner dies without it (a crash, a ctest timeout).
#pragma once

#include <sys/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace dmarc::test_support {

enum class DmarcFilter { dmarc_milter, opendmarc };

struct MailChainOptions {
    DmarcFilter filter = DmarcFilter::dmarc_milter;
    std::string milter_binary;        // dmarc-milter (required for DmarcFilter::dmarc_milter)
    std::string milter_extra_config;  // lines appended to the filter's configuration
    bool deliver_to_sink = true;      // false: Postfix's discard transport (benchmarks)
    bool with_opendkim = true;        // false: the DMARC filter is Postfix's only milter
    // OpenDKIM's libunbound configured for the private unbound (needed to verify signatures).
    bool opendkim_resolver = true;
    std::string opendkim_extra_config;  // lines appended to opendkim.conf
    std::string milter_default_action = "tempfail";
    std::string zone_extra;             // more records for the root zone, in zone-file syntax
    std::string postfix_extra_main_cf;  // more main.cf lines
    std::string ignore_hosts;           // IgnoreHosts file content (default: empty, none)
};

// One SMTP transaction's outcome: the reply to the last command that was sent.
struct SmtpOutcome {
    bool connected = false;
    std::string stage;     // "connect", "xclient", "mail", "rcpt", "data", "eod" (end of data)
    int code = 0;          // e.g. 250, 550; 0 when the connection failed
    std::string reply;     // the whole last reply, lines joined with '\n', "550 5.7.1 text"
    std::string queue_id;  // from "250 2.0.0 Ok: queued as ID"
};

struct Submission {
    std::string client_ip;  // XCLIENT ADDR (data only, never connected to); empty: no XCLIENT
    std::string helo = "client.example";
    std::string mail_from;  // without brackets
    std::string rcpt_to = "ana@dest.example";
    std::string message;  // RFC 5322 text, LF or CRLF line ends
};

// One transaction of an SMTP session that carries several (send_session).
struct Transaction {
    std::string mail_from;                                 // without brackets
    std::vector<std::string> rcpt_to{"ana@dest.example"};  // one RCPT each
    std::string message;  // RFC 5322 text; empty with rset: RSET after the RCPTs, no DATA
    bool rset = false;
};

// A message Postfix holds (quarantine): postqueue -j of the private instance.
struct QueuedMessage {
    std::string queue_name;  // "hold", "active", "deferred", "incoming"
    std::string queue_id;
    std::string sender;
};

class MailChain {
  public:
    // Starts everything (about 3 s); nullptr with *error on failure (with what was logged).
    static std::unique_ptr<MailChain> start(const MailChainOptions& options, std::string* error);
    ~MailChain();
    MailChain(const MailChain&) = delete;
    MailChain& operator=(const MailChain&) = delete;

    // One message over SMTP to the private Postfix (XCLIENT first when client_ip is set).
    SmtpOutcome send(const Submission& submission,
                     std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

    // Several transactions in one SMTP session (one milter connection: Postfix sends ABORT,
    // then MAIL again between them). A transaction whose reply is not the expected one ends only
    // itself (RSET), not the session; one outcome per transaction.
    std::vector<SmtpOutcome> send_session(
        const std::string& client_ip, const std::string& helo,
        const std::vector<Transaction>& transactions,
        std::chrono::milliseconds timeout = std::chrono::seconds(30)) const;

    // Delivered messages (smtp-sink dumps with smtp-sink's own lines taken off, CRLF), and the
    // first one containing needle, waiting up to limit for it to arrive.
    std::vector<std::string> delivered() const;
    std::string wait_delivered(const std::string& needle,
                               std::chrono::milliseconds limit = std::chrono::seconds(10)) const;
    std::vector<QueuedMessage> queue() const;

    // The DMARC filter's log (dmarc-milter's stderr; opendmarc logs nowhere), Postfix's log.
    std::string milter_log() const;
    std::string postfix_log() const;
    bool wait_for_milter_log(const std::string& needle,
                             std::chrono::milliseconds limit = std::chrono::seconds(10)) const;

    // The filter process: SIGKILL, SIGTERM (waits), start again (same configuration).
    pid_t milter_pid() const { return milter_pid_; }
    void kill_milter(int signal);
    bool stop_milter(std::chrono::milliseconds limit = std::chrono::seconds(20));
    bool start_milter(std::string* error);
    bool milter_alive();
    // Replaces MailChainOptions::milter_extra_config in the file and reloads (SIGHUP).
    bool reconfigure_milter(const std::string& extra_config, std::string* error);
    // Postfix: "postfix stop" then "postfix start" of the private instance.
    bool restart_postfix(std::string* error);
    // Runs postfix/postqueue/postsuper of the private instance; their output.
    std::string postfix_command(const std::string& program, const std::string& args) const;

    std::string directory() const { return dir_; }
    std::string spool_path() const { return dir_ + "/spool/spool.db"; }
    std::string milter_socket() const;  // "inet:port@127.0.0.1"
    std::uint16_t milter_port() const { return milter_port_; }
    std::uint16_t smtp_port() const { return smtp_port_; }
    std::uint16_t dns_port() const;
    // The signing client: mail from this XCLIENT address with From: @signed.example is signed.
    static constexpr const char* kSigningClient = "198.51.100.250";
    static constexpr const char* kAuthservId = "mx.e2e.example";

  private:
    MailChain() = default;
    bool start_all(std::string* error);
    bool start_unbound(std::string* error);
    bool start_opendkim(std::string* error);
    bool start_postfix(std::string* error);
    void stop_all() noexcept;
    void record_pid(const std::string& name, pid_t pid) const;

    struct Impl;
    std::unique_ptr<Impl> impl_;
    MailChainOptions options_;
    std::string dir_;
    std::uint16_t smtp_port_ = 0;
    std::uint16_t milter_port_ = 0;
    std::uint16_t dkim_port_ = 0;
    pid_t milter_pid_ = -1;
    pid_t dkim_pid_ = -1;
    pid_t watchdog_pid_ = -1;
    int watchdog_fd_ = -1;
    bool postfix_started_ = false;
};

// The standard test zone (root zone text, without the DKIM key), for tests that want to name
// what it holds. Domains under .example (RFC 2606); addresses from RFC 5737.
const char* mail_chain_zone();

}  // namespace dmarc::test_support
