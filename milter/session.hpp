// One milter connection as a state machine over plain values: what each protocol step means for
// DMARC (RFC 7489 §6.6: the decision needs the From field, the envelope and upstream results,
// so everything is gathered until end-of-message, where core's decide() runs). server.cpp
// maps protocol commands onto these methods and their Status back onto reply packets.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/dns.hpp"
#include "core/ignore_hosts.hpp"
#include "core/ip.hpp"
#include "core/memory_resolver.hpp"
#include "core/org_domain.hpp"
#include "core/record_cache.hpp"
#include "core/report_destinations.hpp"
#include "core/verdict.hpp"
#include "milter/actions.hpp"

namespace dmarc::milter {

// Everything a message is decided with, immutable once built. A reload builds a new one and
// swaps it in; a message keeps the snapshot it started with.
struct Snapshot {
    config::MilterConfig config;
    IgnoreHostList ignore_hosts = IgnoreHostList::defaults();
    std::shared_ptr<const PublicSuffixList> psl;  // null: none configured
    std::shared_ptr<DnsResolver> dns;             // thread-safe (io/dns, MemoryResolver)
    // TestDNSData: the same object as dns. Its query log (kept for tests) is cleared now and
    // then so a long benchmark does not grow it without bound.
    MemoryResolver* test_resolver = nullptr;
    // Record parses shared by every message (io/record_cache), kept across reloads: a parse
    // depends on the record text alone. Null: each message parses its records.
    std::shared_ptr<RecordParseCache> records;
    std::vector<Suppression> no_reports;  // NoReportsList
    std::uint64_t generation = 0;
};

enum class LogLevel : std::uint8_t { error, warning, notice, info, debug };

// What sessions need from the process: the current snapshot, logging, history, the clock and
// the pct sample. Implemented by Runtime (runtime.hpp) and by fakes in tests.
class Services {
  public:
    virtual ~Services() = default;
    virtual std::shared_ptr<const Snapshot> snapshot() = 0;
    virtual void log(LogLevel level, std::string_view line) noexcept = 0;
    // Hands a decided message to history (HistoryFile text, later the spool). Never blocks on
    // a failing disk and never fails the message.
    virtual void record(const MessageVerdict& verdict, const Envelope& envelope,
                        std::int64_t received) noexcept = 0;
    // FailureReports: offered every evaluated message with its header block; sends nothing
    // unless the configuration and the record ask for a report (failure_reports.hpp), and never
    // blocks.
    virtual void report_failure(const MessageVerdict& /*verdict*/, const Envelope& /*envelope*/,
                                const std::vector<HeaderField>& /*headers*/,
                                std::int64_t /*received*/) noexcept {}
    virtual std::int64_t now() noexcept = 0;         // epoch seconds
    virtual std::uint64_t now_ms() noexcept = 0;     // monotonic milliseconds
    virtual std::uint8_t pct_sample() noexcept = 0;  // uniform 0..99
    // Messages between MAIL FROM and end-of-message/abort, by sequence number: SIGTERM waits
    // for the ones that had started when it arrived.
    virtual std::uint64_t message_started() noexcept { return 0; }
    virtual void message_finished(std::uint64_t /*sequence*/) noexcept {}
    // SIGTERM received: new connections are answered with a temporary failure.
    virtual bool draining() noexcept { return false; }
    virtual void count_internal_error() noexcept {}
    // The io_uring engine handed an end-of-message to a worker: its DNS was not cached.
    virtual void count_dns_wait() noexcept {}
};

// The reply a step gives the MTA.
// would_block: only from on_eom(actions, false): the decision needs the network; nothing was
// done, and the caller calls on_eom again on a thread that may wait.
enum class Status : std::uint8_t { proceed, accept, reject, tempfail, no_reply, would_block };
std::string_view to_string(Status status) noexcept;

// Negotiation (milter protocol version 6). Bits are libmilter's SMFIF_* / SMFIP_* values.
struct Negotiation {
    bool ok = true;             // false: the MTA lacks an action we need; refuse the connection
    std::uint32_t actions = 0;  // SMFIF_*
    std::uint32_t steps = 0;    // SMFIP_NO* steps switched off and SMFIP_NR_* no-reply steps
    std::string problem;
};
// Asks only for the steps the decision needs (connect, helo, mail, rcpt, headers, eom) and for
// no reply wherever the milter never has anything to say (helo, rcpt, headers; mail unless
// IgnoreAuthenticatedClients may accept there), so the MTA does not wait for us: every round
// trip costs Postfix CPU (e2e-notes). Only bits the MTA offered are asked for.
Negotiation negotiate(const config::MilterConfig& config, std::uint32_t offered_actions,
                      std::uint32_t offered_steps);

// Names of the SMFIP_* bits set in `steps` ("NOBODY NR_HDR ..."), for MilterDebug traces.
std::string describe_steps(std::uint32_t steps);

class Session {
  public:
    explicit Session(Services& services);

    Status on_negotiate(std::uint32_t offered_actions, std::uint32_t offered_steps,
                        Negotiation& out) noexcept;
    // client_ip nullopt: not a network connection (local submission, "unspec" family).
    // client_port: the client's TCP port (0 when unknown), for failure reports' Source-Port.
    Status on_connect(std::string_view host_name, const std::optional<IpAddress>& client_ip,
                      Actions& actions, std::uint16_t client_port = 0) noexcept;
    Status on_helo(std::string_view helo) noexcept;
    // args: views into the MTA's packet, valid for the call.
    Status on_envfrom(const std::vector<std::string_view>& args, Actions& actions) noexcept;
    Status on_envrcpt(const std::vector<std::string_view>& args) noexcept;
    Status on_header(std::string_view name, std::string_view value) noexcept;
    // may_wait false (an event thread): decides only if every DNS answer it needs is at hand
    // (DnsResolver::lookup_now), else returns Status::would_block having done nothing that
    // shows (no log line, history row or header): the message is then decided again.
    Status on_eom(Actions& actions, bool may_wait = true) noexcept;
    Status on_abort() noexcept;
    void on_close() noexcept;

    // The last verdict (tests, -t mode).
    const std::optional<MessageVerdict>& last_verdict() const { return last_verdict_; }
    // Whether verdicts carry their evaluation trace: always in -t mode; otherwise only at
    // MilterDebug 2 and up, which logs it.
    void set_explain(bool on) noexcept { explain_ = on; }

  private:
    Status no_reply_or(std::uint32_t nr_flag, Status otherwise) const;
    // `status` at connect, or (SMFIP_NR_CONN negotiated) no reply now and `status` kept for
    // the next step that has a reply.
    Status connect_answer(Status status) noexcept;
    Status answer_deferred(Actions& actions);
    // MilterDebug: a protocol trace in the log, more with each level (config.cpp).
    std::uint32_t trace_level() const { return snapshot_ ? snapshot_->config.milter_debug : 0; }
    void trace(std::uint32_t level, std::string_view line) noexcept;
    // Level 2: "step detail -> status". detail is text or a callable that returns it, so the
    // text (every MAIL/RCPT argument made printable) is built only when the trace is on.
    template <typename Detail>
    Status traced(std::string_view step, const Detail& detail, Status status) noexcept;
    void reset_message() noexcept;
    void end_message() noexcept;
    Status apply(const MessageVerdict& verdict, Actions& actions);

    Services& services_;
    std::shared_ptr<const Snapshot> snapshot_;
    std::uint32_t steps_ = 0;  // as negotiated
    std::uint32_t actions_ = 0;
    bool negotiated_ = false;
    // Connection.
    std::optional<IpAddress> client_ip_;
    std::uint16_t client_port_ = 0;
    std::string client_name_;
    std::string helo_;
    std::string mta_hostname_;
    // The connection's own answer (accept: IgnoreHosts or an internal error at connect;
    // tempfail: shutting down). With SMFIP_NR_CONN there is no reply at connect: it is given at
    // the next step that has one (MAIL FROM or end-of-message), without evaluating anything.
    Status connect_verdict_ = Status::proceed;
    // Message.
    bool in_message_ = false;
    std::uint64_t message_sequence_ = 0;
    Envelope envelope_;
    std::vector<HeaderField> headers_;
    std::size_t header_bytes_ = 0;
    std::size_t recipients_seen_ = 0;
    bool headers_overflowed_ = false;
    std::size_t from_fields_past_bound_ = 0;
    bool failed_ = false;  // an internal error in a no-reply step: accept at end-of-message
    std::optional<MessageVerdict> last_verdict_;
    bool explain_ = false;
    // MilterDebug: this connection's number in the trace, steps seen in the current message.
    std::uint64_t trace_id_ = 0;
    std::size_t trace_headers_ = 0;
    bool trace_helo_ = false;
};

// The reply text as sent in SMFIR_REPLYCODE. The MTA reads it as a format: sendmail formats it,
// Postfix (milter8.c) turns "%%" into "%" and drops a lone "%". So every '%' is doubled and the
// SMTP client sees exactly the configured text (tests/e2e RejectStringPercentReachesTheClient);
// CR/LF and other controls would end or corrupt the reply line.
std::string sanitize_reply_text(std::string_view text);

}  // namespace dmarc::milter
