// The decision dmarc-milter makes at end-of-message, with no libmilter in sight, so the same code
// runs in the milter, in `dmarc-milter -t` and in the demo: RFC 5322 §3.6 header checks, which
// upstream Authentication-Results to trust (RFC 8601 §5: ours only when added here), SPF from
// A-R, Received-SPF (RFC 7208 §9.1) or our own check, policy discovery and evaluation, the action
// the configuration asks for, our Authentication-Results field (RFC 7489 §11, RFC 9989 §9.1),
// OpenDMARC-shaped log lines, and the OpenDMARC history record.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "core/dns.hpp"
#include "core/history_text.hpp"
#include "core/ip.hpp"
#include "core/org_domain.hpp"
#include "core/policy.hpp"
#include "core/spool_row.hpp"
#include "core/types.hpp"

namespace dmarc {

struct HeaderField {
    std::string name;
    std::string value;  // as the MTA passed it (may be folded)
};

struct Envelope {
    std::optional<IpAddress> client_ip;  // nullopt: no network client (local submission)
    std::string client_name;
    std::string helo;
    std::string mail_from;  // without angle brackets; empty = the null reverse-path
    std::vector<std::string> rcpt_to;
    std::string queue_id;         // milter macro i; empty when unknown
    std::string mta_hostname;     // milter macro j: the implicit authserv-id and history reporter
    bool authenticated = false;   // SMTP AUTH ({auth_authen} set)
    std::uint16_t client_port{};  // the client's TCP port, 0 when unknown (failure reports)
};

struct VerdictContext {
    VerdictContext(const config::MilterConfig& c, DnsResolver& d) : config(c), dns(d) {}

    const config::MilterConfig& config;
    DnsResolver& dns;
    const PublicSuffixList* psl = nullptr;  // required for PolicyDiscovery psl
    std::uint8_t pct_sample = 0;            // uniform 0..99, drawn by the caller
    std::int64_t now = 0;                   // epoch seconds, for history and SPF %{t}
    std::function<std::uint64_t()> now_ms;  // monotonic ms for the SPF time budget
    std::string software = "dmarc-milter";  // for SoftwareHeader
    // Parsed DMARC and SPF records shared across messages (record_cache.hpp); null: each
    // record is parsed.
    RecordParseCache* records = nullptr;
    // Whether Evaluation::trace is written (EvaluationInput::explain).
    bool explain = true;
};

struct HeaderChange {
    enum class Kind : std::uint8_t { insert_first, remove } kind = Kind::insert_first;
    std::string name;
    std::string value;           // insert_first: the field body
    std::size_t occurrence = 0;  // remove: 1-based among fields of that name (smfi_chgheader)
};

enum class SpfSource : std::uint8_t { none, authentication_results, received_spf, self };
std::string_view to_string(SpfSource source) noexcept;

struct MessageVerdict {
    bool evaluated = false;  // false: the message was not evaluated (why: note)
    MilterAction action = MilterAction::accept;
    std::string reply_code;   // reject / tempfail: "550", "451"
    std::string reply_xcode;  // "5.7.1"
    std::string reply_text;
    std::string quarantine_reason;
    std::vector<HeaderChange> header_changes;  // in order: removals, then our field first
    std::string add_recipient;                 // CopyFailuresTo
    std::vector<std::string> author_domains;   // the From field's domains (A-labels)
    Evaluation evaluation;
    std::vector<DkimAuthResult> dkim;  // every trusted DKIM result
    std::optional<SpfAuthResult> spf;
    SpfSource spf_source = SpfSource::none;
    bool arc_pass = false;      // a trusted arc=pass
    bool arc_override = false;  // the failure was not enforced because of it
    // Disposition actually applied (what the aggregate report shows) and why it differs from
    // what DMARC asked for.
    Disposition applied_disposition = Disposition::none;
    std::vector<OverrideReason> applied_overrides;
    std::size_t forged_results_removed = 0;
    bool is_dmarc_report = false;  // the message is itself a DMARC report
    std::string authserv_id;
    std::string note;         // one line: why not evaluated, or what was odd
    std::string log_line;     // OpenDMARC shape: "<queue-id>: <from-domain> <result>"
    std::string detail_line;  // key=value details of the same decision
};

MessageVerdict decide(const VerdictContext& context, const Envelope& envelope,
                      const std::vector<HeaderField>& headers);

// The header fields of a message in RFC 5322 form (for -t mode, the demo and tests): lines up
// to the first empty line, continuation lines kept in the value with their line break. A line
// without a colon ends the header block (as MTAs treat it). At most limits::kMaxHeaderFields.
std::vector<HeaderField> parse_header_block(std::string_view message);

// The OpenDMARC HistoryFile record for a verdict (RecordAllMessages decides whether messages
// without a policy are written; the caller asks should_record first).
bool should_record(const MessageVerdict& verdict, const config::MilterConfig& config);
HistoryRecord to_history_record(const MessageVerdict& verdict, const Envelope& envelope,
                                std::int64_t received);

// The spool row for an evaluated message (issue 4: every evaluated message is recorded, with
// or without a policy; the reporter decides what goes into which report).
SpoolRow to_spool_row(const MessageVerdict& verdict, const Envelope& envelope,
                      std::int64_t received);

}  // namespace dmarc
