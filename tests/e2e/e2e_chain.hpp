// The one mail chain the e2e test binary shares (started on first use, about 3 s, stopped at
// exit), and what every scenario checks: the SMTP reply, the delivered header, the milter's log
// line and the spool row.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <optional>
#include <string>
#include <thread>

#include "io/spool.hpp"
#include "tests/support/mail_chain.hpp"

namespace dmarc::e2e {

using test_support::MailChain;
using test_support::SmtpOutcome;
using test_support::Submission;
using test_support::Transaction;
using namespace std::chrono_literals;

// Configuration of the milter under test beyond the chain's defaults (AuthservID, RejectFailures,
// HoldQuarantinedMessages, SPFSelfValidate, Nameservers, HistoryDatabase, IgnoreHosts).
inline constexpr const char* kMilterExtra =
    "TempFailOnDNSError true\n"
    "IgnoreAuthenticatedClients true\n";
// OpenDKIM shares our authserv-id (the tutorial set-up: both use the host name). RemoveARAll
// makes it delete every Authentication-Results field the client sent with that id, not only
// those with a dkim result: the milter cannot tell such a field from OpenDKIM's own
// (milter/README.md, Forged Authentication-Results).
inline constexpr const char* kOpenDkimExtra = "RemoveARAll yes\n";
// IgnoreHosts file content: this client is never evaluated.
inline constexpr const char* kIgnoredClient = "192.0.2.77";

inline MailChain& chain() {
    static std::unique_ptr<MailChain> instance = [] {
        test_support::MailChainOptions options;
        options.milter_binary = DMARC_MILTER_BIN;
        options.milter_extra_config = kMilterExtra;
        options.ignore_hosts = std::string(kIgnoredClient) + "\n";
        options.opendkim_extra_config = kOpenDkimExtra;
        std::string error;
        auto c = MailChain::start(options, &error);
        if (!c) {
            ADD_FAILURE() << "mail chain did not start: " << error;
            return c;
        }
        return c;
    }();
    if (!instance) {
        throw std::runtime_error("no mail chain");
    }
    return *instance;
}

// A unique token per message (Message-ID, envelope sender) so each scenario finds its own.
inline std::string unique_token(const std::string& name) {
    static int n = 0;
    return name + "-" + std::to_string(++n) + "-" +
           std::to_string(std::chrono::steady_clock::now().time_since_epoch().count() % 1000000);
}

inline std::string message(const std::string& token, const std::string& from_fields,
                           const std::string& extra_fields = "") {
    return extra_fields + from_fields + "To: ana@dest.example\nSubject: e2e " + token +
           "\nDate: Sun, 29 Nov 2026 22:00:00 +0000\nMessage-ID: <" + token +
           "@e2e.example>\n\nbody of " + token + "\n";
}

// The Postfix queue id of the transaction whose envelope sender was mail_from (from Postfix's
// own log, so rejected messages have one too).
inline std::string queue_id_for(const std::string& mail_from,
                                std::chrono::milliseconds limit = 10s) {
    // Postfix log lines "<QUEUE-ID>: ... from=<mail_from>" (cleanup, qmgr, milter-reject).
    const std::string needle = "from=<" + mail_from + ">";
    const auto deadline = std::chrono::steady_clock::now() + limit;
    do {
        const std::string log = chain().postfix_log();
        if (const auto at = log.find(needle); at != std::string::npos) {
            const auto line = log.rfind('\n', at) + 1;   // npos + 1 == 0: the first line
            const auto program = log.find("]: ", line);  // "postfix/cleanup[pid]: "
            const auto start = program == std::string::npos ? program : program + 3;
            const auto colon = start < at ? log.find(": ", start) : std::string::npos;
            if (colon != std::string::npos && colon < at) return log.substr(start, colon - start);
        }
        std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return {};
}

// The spool row with this queue id, waiting for the writer's next batch.
inline std::optional<SpoolRow> spool_row(const std::string& queue_id,
                                         std::chrono::milliseconds limit = 5s) {
    const auto deadline = std::chrono::steady_clock::now() + limit;
    do {
        if (auto reader = io::SpoolReader::open(chain().spool_path())) {
            if (auto batch = reader->read_after(0, 100000)) {
                for (const auto& e : batch->entries) {
                    if (e.row.queue_id == queue_id) return e.row;
                }
            }
        }
        std::this_thread::sleep_for(50ms);
    } while (std::chrono::steady_clock::now() < deadline);
    return std::nullopt;
}

// Header fields of a delivered message, in order (unfolded values).
inline std::vector<std::pair<std::string, std::string>> header_fields(const std::string& msg) {
    std::vector<std::pair<std::string, std::string>> out;
    std::size_t at = 0;
    while (at < msg.size()) {
        auto eol = msg.find("\r\n", at);
        if (eol == std::string::npos || eol == at) break;
        std::string line = msg.substr(at, eol - at);
        at = eol + 2;
        if ((line[0] == ' ' || line[0] == '\t') && !out.empty()) {
            out.back().second += " " + line.substr(line.find_first_not_of(" \t"));
            continue;
        }
        auto colon = line.find(':');
        if (colon == std::string::npos) break;
        std::string value = line.substr(colon + 1);
        if (!value.empty() && value[0] == ' ') value.erase(0, 1);
        out.emplace_back(line.substr(0, colon), value);
    }
    return out;
}

}  // namespace dmarc::e2e
