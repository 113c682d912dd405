// Per-connection milter logic (see session.hpp).
#include "milter/session.hpp"

#include <atomic>
#include <exception>
#include <type_traits>
#include <utility>

#include <fmt/format.h>

#include "core/from_header.hpp"
#include "core/limits.hpp"
#include "core/text.hpp"
#include "milter/message_resolver.hpp"
#include "milter/protocol_bits.hpp"

namespace dmarc::milter {
namespace {

std::atomic<std::uint64_t> g_trace_connections{0};

// A value in a MilterDebug trace: one line (controls shown as '?'), at most 200 bytes.
std::string printable(std::string_view v) {
    std::string out;
    for (char c : v.substr(0, 200)) {
        auto u = static_cast<unsigned char>(c);
        out += (u < 0x20 || u == 0x7f) ? '?' : c;
    }
    if (v.size() > 200) out += "...";
    return out;
}

std::string joined(const std::vector<std::string_view>& args) {
    std::string out;
    for (const auto& a : args) {
        if (!out.empty()) out += ' ';
        out += printable(a);
    }
    return out;
}

std::string strip_angle_brackets(std::string_view address) {
    address = text::trim(address);
    if (address.size() >= 2 && address.front() == '<' && address.back() == '>') {
        address = address.substr(1, address.size() - 2);
    }
    return std::string(address);
}

}  // namespace

std::string_view to_string(Status s) noexcept {
    switch (s) {
        case Status::proceed:
            return "continue";
        case Status::accept:
            return "accept";
        case Status::reject:
            return "reject";
        case Status::tempfail:
            return "tempfail";
        case Status::no_reply:
            return "noreply";
        case Status::would_block:
            return "wouldblock";
    }
    return "unknown";
}

std::string sanitize_reply_text(std::string_view text) {
    std::string out;
    out.reserve(text.size());
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (c == '%') {
            out += "%%";
        } else if (u < 0x20 || u == 0x7f) {
            out += ' ';
        } else {
            out += c;
        }
    }
    return out;
}

std::string describe_steps(std::uint32_t steps) {
    static constexpr std::pair<std::uint32_t, std::string_view> kNames[] = {
        {0x1, "NOCONNECT"},
        {0x2, "NOHELO"},
        {0x4, "NOMAIL"},
        {0x8, "NORCPT"},
        {bits::kNoBody, "NOBODY"},
        {0x20, "NOHDRS"},
        {bits::kNoEoh, "NOEOH"},
        {bits::kNoReplyHeader, "NR_HDR"},
        {bits::kNoUnknown, "NOUNKNOWN"},
        {bits::kNoData, "NODATA"},
        {0x400, "SKIP"},
        {0x800, "RCPT_REJ"},
        {bits::kNoReplyConnect, "NR_CONN"},
        {bits::kNoReplyHelo, "NR_HELO"},
        {bits::kNoReplyMail, "NR_MAIL"},
        {bits::kNoReplyRcpt, "NR_RCPT"},
        {bits::kNoReplyData, "NR_DATA"},
        {bits::kNoReplyUnknown, "NR_UNKN"},
        {bits::kNoReplyEoh, "NR_EOH"},
        {bits::kNoReplyBody, "NR_BODY"},
        {0x100000, "HDR_LEADSPC"},
    };
    std::string out;
    for (const auto& [bit, name] : kNames) {
        if ((steps & bit) == 0) continue;
        if (!out.empty()) out += ' ';
        out += name;
    }
    return out.empty() ? "none" : out;
}

Session::Session(Services& services) : services_(services), trace_id_(++g_trace_connections) {}

void Session::trace(std::uint32_t level, std::string_view line) noexcept {
    if (trace_level() < level) return;
    try {
        services_.log(LogLevel::info,
                      fmt::format("milter-debug: connection {}: {}", trace_id_, line));
    } catch (...) {
        // A trace line is never worth failing a message.
    }
}

template <typename Detail>
Status Session::traced(std::string_view step, const Detail& detail, Status status) noexcept {
    if (trace_level() >= 2) {
        try {
            std::string text;
            if constexpr (std::is_invocable_v<const Detail&>) {
                text = detail();
            } else {
                text = detail;
            }
            trace(2, fmt::format("{}{}{} -> {}", step, text.empty() ? "" : " ", text,
                                 to_string(status)));
        } catch (...) {
        }
    }
    return status;
}

Negotiation negotiate(const config::MilterConfig& config, std::uint32_t offered_actions,
                      std::uint32_t offered_steps) {
    Negotiation n;
    if ((offered_actions & bits::kAddHeaders) == 0) {
        n.ok = false;
        n.problem = "the MTA does not allow adding header fields";
        return n;
    }
    n.actions = bits::kAddHeaders;
    // Optional abilities: without them the milter still decides, it just cannot act that way
    // (the verdict ignores forged results even when it cannot remove them).
    for (std::uint32_t a : {bits::kChangeHeaders, bits::kQuarantine}) {
        if (offered_actions & a) n.actions |= a;
    }
    if (!config.copy_failures_to.empty() && (offered_actions & bits::kAddRecipient)) {
        n.actions |= bits::kAddRecipient;
    }
    if (offered_actions & bits::kSetSymList) n.actions |= bits::kSetSymList;

    // No reply at connect either: only IgnoreHosts (and a shutdown) has something to say there,
    // and that answer waits for the next reply (session.hpp, connect_verdict_). An ignored
    // client then costs two round trips (negotiate, end-of-message) as it did with an accept at
    // connect, and every other client one round trip less per connection.
    std::uint32_t wanted = bits::kNoBody | bits::kNoEoh | bits::kNoUnknown | bits::kNoData |
                           bits::kNoReplyConnect | bits::kNoReplyHelo | bits::kNoReplyRcpt |
                           bits::kNoReplyHeader;
    if (!config.ignore_authenticated_clients) wanted |= bits::kNoReplyMail;
    n.steps = wanted & offered_steps;
    return n;
}

Status Session::no_reply_or(std::uint32_t nr_flag, Status otherwise) const {
    return (steps_ & nr_flag) != 0 ? Status::no_reply : otherwise;
}

Status Session::on_negotiate(std::uint32_t offered_actions, std::uint32_t offered_steps,
                             Negotiation& out) noexcept {
    try {
        snapshot_ = services_.snapshot();
        out = negotiate(snapshot_->config, offered_actions, offered_steps);
        if (!out.ok) {
            services_.log(LogLevel::error, "refusing the MTA: " + out.problem);
            return Status::reject;
        }
        steps_ = out.steps;
        actions_ = out.actions;
        negotiated_ = true;
        if (trace_level() >= 1) {
            trace(1, fmt::format("MTA offers actions {:#x}, steps {:#x}; we ask actions {:#x}, "
                                 "steps {:#x} ({})",
                                 offered_actions, offered_steps, out.actions, out.steps,
                                 describe_steps(out.steps)));
        }
        return Status::proceed;
    } catch (...) {
        services_.count_internal_error();
        out = Negotiation{};
        return Status::proceed;  // the server then asks for every step, with replies
    }
}

Status Session::on_connect(std::string_view host_name, const std::optional<IpAddress>& client_ip,
                           Actions& actions, std::uint16_t client_port) noexcept {
    try {
        if (!snapshot_) snapshot_ = services_.snapshot();
        client_ip_ = client_ip;
        client_port_ = client_ip ? client_port : 0;
        client_name_ = std::string(host_name);
        if (auto j = actions.macro("j")) mta_hostname_ = *j;
        if (trace_level() >= 3) trace(3, "macro j=" + printable(mta_hostname_));
        // Only a level-2 trace shows it: not built for every connection otherwise.
        const std::string who =
            trace_level() >= 2
                ? fmt::format("{} [{}]", printable(client_name_),
                              client_ip_ ? client_ip_->to_string() : std::string("local"))
                : std::string();
        if (services_.draining()) {
            // Shutting down: a 4xx now beats a connection cut mid-message later.
            services_.log(LogLevel::info,
                          "shutting down; connection from " + client_name_ + " deferred");
            return traced("connect", who, connect_answer(Status::tempfail));
        }
        if (snapshot_->ignore_hosts.matches(client_ip_, client_name_)) {
            services_.log(LogLevel::info,
                          fmt::format("ignoring connection from {} [{}]", client_name_,
                                      client_ip_ ? client_ip_->to_string() : "local"));
            return traced("connect", who, connect_answer(Status::accept));
        }
        return traced("connect", who, no_reply_or(bits::kNoReplyConnect, Status::proceed));
    } catch (...) {
        services_.count_internal_error();
        services_.log(LogLevel::error, "internal error at connect; accepting the connection");
        return connect_answer(Status::accept);
    }
}

Status Session::connect_answer(Status status) noexcept {
    if ((steps_ & bits::kNoReplyConnect) == 0) return status;
    connect_verdict_ = status;
    return Status::no_reply;
}

Status Session::answer_deferred(Actions& actions) {
    if (connect_verdict_ == Status::tempfail) {
        actions.set_reply("451", "4.7.1", "dmarc-milter is shutting down; try again later");
    }
    return connect_verdict_;
}

Status Session::on_helo(std::string_view helo) noexcept {
    try {
        helo_ = std::string(text::trim(helo));
        trace_helo_ = true;
    } catch (...) {
        failed_ = true;
        services_.count_internal_error();
    }
    return traced(
        "helo", [this] { return printable(helo_); },
        no_reply_or(bits::kNoReplyHelo, Status::proceed));
}

void Session::reset_message() noexcept {
    envelope_ = Envelope{};
    headers_.clear();
    header_bytes_ = 0;
    recipients_seen_ = 0;
    headers_overflowed_ = false;
    from_fields_past_bound_ = 0;
    failed_ = false;
    trace_headers_ = 0;
}

void Session::end_message() noexcept {
    if (in_message_) {
        in_message_ = false;
        services_.message_finished(message_sequence_);
    }
    headers_.clear();
    // Keep the usual capacity for the next message on this connection; give back only what a
    // huge header block took.
    if (headers_.capacity() > 256) headers_.shrink_to_fit();
}

Status Session::on_envfrom(const std::vector<std::string_view>& args, Actions& actions) noexcept {
    try {
        end_message();
        reset_message();
        if (connect_verdict_ != Status::proceed) {
            // Answered at connect (no reply there): nothing of this message is kept or counted.
            return traced(
                "mail", [&args] { return joined(args); },
                (steps_ & bits::kNoReplyMail) != 0 ? Status::no_reply : answer_deferred(actions));
        }
        // A new message takes the newest configuration; the one it starts with stays its own
        // until end-of-message (a reload mid-message never mixes two configurations).
        snapshot_ = services_.snapshot();
        in_message_ = true;
        message_sequence_ = services_.message_started();
        envelope_.mail_from = args.empty() ? std::string() : strip_angle_brackets(args.front());
        auto auth = actions.macro("{auth_authen}");
        envelope_.authenticated = auth.has_value() && !auth->empty();
        if (trace_level() >= 3) trace(3, "macro {auth_authen}=" + printable(auth.value_or("")));
        if (envelope_.authenticated && snapshot_->config.ignore_authenticated_clients &&
            (steps_ & bits::kNoReplyMail) == 0) {
            services_.log(LogLevel::info,
                          fmt::format("ignoring authenticated client {} [{}]", client_name_,
                                      client_ip_ ? client_ip_->to_string() : "local"));
            end_message();
            return traced(
                "mail", [&args] { return joined(args); }, Status::accept);
        }
    } catch (...) {
        failed_ = true;
        services_.count_internal_error();
    }
    return traced(
        "mail", [&args] { return joined(args); }, no_reply_or(bits::kNoReplyMail, Status::proceed));
}

Status Session::on_envrcpt(const std::vector<std::string_view>& args) noexcept {
    try {
        ++recipients_seen_;
        if (connect_verdict_ != Status::proceed) {
            return no_reply_or(bits::kNoReplyRcpt, Status::proceed);
        }
        if (!args.empty() && envelope_.rcpt_to.size() < limits::kMaxMilterRecipients) {
            envelope_.rcpt_to.push_back(strip_angle_brackets(args.front()));
        }
    } catch (...) {
        failed_ = true;
        services_.count_internal_error();
    }
    return traced(
        "rcpt", [&args] { return joined(args); }, no_reply_or(bits::kNoReplyRcpt, Status::proceed));
}

Status Session::on_header(std::string_view name, std::string_view value) noexcept {
    ++trace_headers_;
    if (trace_level() >= 2) {
        try {
            trace(2, trace_level() >= 3
                         ? fmt::format("header {}: {}", printable(name), printable(value))
                         : fmt::format("header {} ({} bytes)", printable(name), value.size()));
        } catch (...) {
        }
    }
    if (connect_verdict_ != Status::proceed)
        return no_reply_or(bits::kNoReplyHeader, Status::proceed);
    try {
        std::size_t bytes = name.size() + value.size();
        if (headers_overflowed_ || header_bytes_ + bytes > limits::kMaxMilterHeaderBytes ||
            headers_.size() >= limits::kMaxHeaderFields - limits::kMaxMilterFromFieldsPastBound) {
            headers_overflowed_ = true;
            // Filler must not hide the author (RFC 7489 §6.6.1): From fields past the bound are
            // still kept, each cut one byte past what the From parser takes, so an oversized
            // one fails there as over its limit (permerror) instead of being read in part.
            if (is_from_field_name(name) &&
                from_fields_past_bound_ < limits::kMaxMilterFromFieldsPastBound) {
                ++from_fields_past_bound_;
                headers_.push_back(
                    HeaderField{std::string(name),
                                std::string(value.substr(0, limits::kMaxHeaderFieldBytes + 1))});
            }
        } else {
            header_bytes_ += bytes;
            // A message has a dozen or two fields: one allocation instead of growing 1, 2, 4...
            if (headers_.capacity() == 0) headers_.reserve(32);
            headers_.push_back(HeaderField{std::string(name), std::string(value)});
        }
    } catch (...) {
        failed_ = true;
        services_.count_internal_error();
    }
    return no_reply_or(bits::kNoReplyHeader, Status::proceed);
}

Status Session::apply(const MessageVerdict& v, Actions& actions) {
    switch (v.action) {
        case MilterAction::reject:
            actions.set_reply(v.reply_code.empty() ? "550" : v.reply_code,
                              v.reply_xcode.empty() ? "5.7.1" : v.reply_xcode,
                              sanitize_reply_text(v.reply_text));
            return Status::reject;
        case MilterAction::tempfail:
            actions.set_reply(v.reply_code.empty() ? "451" : v.reply_code,
                              v.reply_xcode.empty() ? "4.7.1" : v.reply_xcode,
                              sanitize_reply_text(v.reply_text));
            return Status::tempfail;
        case MilterAction::accept:
        case MilterAction::quarantine:
        case MilterAction::discard:  // never decided (types.hpp); handled as accept
            break;
    }
    // Header changes in the verdict's order: removals (highest occurrence first, so the
    // numbers stay valid), then our fields, each inserted at the top.
    for (const auto& change : v.header_changes) {
        bool ok = true;
        if (change.kind == HeaderChange::Kind::remove) {
            if ((actions_ & bits::kChangeHeaders) == 0) continue;
            ok = actions.remove_header(change.name, change.occurrence);
        } else {
            ok = actions.insert_header(0, change.name, change.value);
        }
        if (!ok) {
            services_.log(LogLevel::warning, fmt::format("{}: could not change header field {}",
                                                         envelope_.queue_id, change.name));
        }
    }
    if (!v.add_recipient.empty() && (actions_ & bits::kAddRecipient) != 0) {
        if (!actions.add_recipient(v.add_recipient)) {
            services_.log(LogLevel::warning, fmt::format("{}: could not add recipient {}",
                                                         envelope_.queue_id, v.add_recipient));
        }
    }
    if (v.action == MilterAction::quarantine) {
        if ((actions_ & bits::kQuarantine) == 0 || !actions.quarantine(v.quarantine_reason)) {
            services_.log(LogLevel::warning,
                          fmt::format("{}: the MTA refused quarantine", envelope_.queue_id));
        }
    }
    return Status::accept;
}

Status Session::on_eom(Actions& actions, bool may_wait) noexcept {
    Status status = Status::accept;
    if (connect_verdict_ != Status::proceed) {
        try {
            status = answer_deferred(actions);
        } catch (...) {
            services_.count_internal_error();
        }
        if (trace_level() >= 1) {
            try {
                trace(1, fmt::format("eom -> {} (answered at connect)", to_string(status)));
            } catch (...) {
            }
        }
        end_message();
        reset_message();
        return status;
    }
    try {
        if (!snapshot_) snapshot_ = services_.snapshot();
        envelope_.client_ip = client_ip_;
        envelope_.client_port = client_port_;
        envelope_.client_name = client_name_;
        envelope_.helo = helo_;
        // Postfix assigns the queue id late: read it now, not at MAIL FROM (OpenDMARC §2.1).
        if (auto i = actions.macro("i"); i && !i->empty()) envelope_.queue_id = *i;
        if (mta_hostname_.empty()) {
            if (auto j = actions.macro("j")) mta_hostname_ = *j;
        }
        if (trace_level() >= 3) {
            trace(3, fmt::format("macro i={} j={}", printable(envelope_.queue_id),
                                 printable(mta_hostname_)));
        }
        envelope_.mta_hostname = mta_hostname_;
        std::string qid = envelope_.queue_id.empty() ? "(unknown-jobid)" : envelope_.queue_id;
        if (failed_) {
            services_.log(LogLevel::error,
                          qid + ": internal error while receiving the message; accepting");
        } else {
            const Snapshot& snap = *snapshot_;
            MessageResolver dns(*snap.dns, std::uint64_t{snap.config.dns_timeout_s} * 1000,
                                [this] { return services_.now_ms(); });
            dns.set_no_wait(!may_wait);
            VerdictContext context(snap.config, dns);
            context.psl = snap.psl.get();
            context.pct_sample = services_.pct_sample();
            context.now = services_.now();
            context.now_ms = [this] { return services_.now_ms(); };
            context.software = "dmarc-milter";
            context.records = snap.records.get();
            context.explain = explain_ || trace_level() >= 2;
            MessageVerdict verdict = decide(context, envelope_, headers_);
            // decide() only reads and looks up: a verdict made without an answer it needed is
            // dropped unseen, and the message stays as it was for the second call.
            if (dns.would_block()) return Status::would_block;
            dns.keep_answers();
            if (headers_overflowed_) {
                services_.log(
                    LogLevel::warning,
                    fmt::format("{}: header block over {} bytes or {} fields; evaluated "
                                "on the fields before the bound and every From field",
                                qid, limits::kMaxMilterHeaderBytes, limits::kMaxHeaderFields));
            }
            status = apply(verdict, actions);
            services_.log(LogLevel::info, verdict.log_line);
            services_.log(LogLevel::info, verdict.detail_line);
            if (trace_level() >= 2 && !verdict.evaluation.trace.empty()) {
                trace(2, qid + ": evaluation: " + verdict.evaluation.trace);
            }
            if (verdict.evaluated) {
                services_.record(verdict, envelope_, context.now);
                if (snap.config.failure_reports) {
                    services_.report_failure(verdict, envelope_, headers_, context.now);
                }
            }
            last_verdict_ = std::move(verdict);
            if (snap.test_resolver != nullptr && snap.test_resolver->query_count() > 10000) {
                snap.test_resolver->clear_queries();
            }
        }
    } catch (const std::exception& e) {
        services_.count_internal_error();
        services_.log(LogLevel::error, fmt::format("{}: internal error: {}; accepting",
                                                   envelope_.queue_id, e.what()));
        status = Status::accept;
    } catch (...) {
        services_.count_internal_error();
        services_.log(LogLevel::error, "internal error at end-of-message; accepting");
        status = Status::accept;
    }
    if (trace_level() >= 1) {
        try {
            trace(1,
                  fmt::format("{}: connect{}, mail, rcpt x{}, header x{}, eom -> {}{}",
                              envelope_.queue_id.empty() ? "(unknown-jobid)" : envelope_.queue_id,
                              trace_helo_ ? ", helo" : "", recipients_seen_, trace_headers_,
                              to_string(status),
                              last_verdict_ && !last_verdict_->reply_text.empty() &&
                                      (status == Status::reject || status == Status::tempfail)
                                  ? " " + last_verdict_->reply_text
                                  : std::string()));
        } catch (...) {
        }
    }
    end_message();
    reset_message();
    return status;
}

Status Session::on_abort() noexcept {
    trace(2, "abort");
    end_message();
    reset_message();
    return Status::proceed;
}

void Session::on_close() noexcept {
    end_message();
}

}  // namespace dmarc::milter
