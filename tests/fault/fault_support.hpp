// Shared pieces of the fault-injection tests (tests/fault/README.md): where the binaries are, a
// private unbound serving the fault zone, the real dmarc-milter started on a configuration,
// messages for it and a timed send.
#pragma once

#include <gtest/gtest.h>

#include <chrono>
#include <filesystem>
#include <memory>
#include <string>

#include "tests/support/local_unbound.hpp"
#include "tests/support/milter_client.hpp"
#include "tests/support/milter_process.hpp"

namespace dmarc::fault {

namespace fs = std::filesystem;
namespace mc = milter_client;
using Clock = std::chrono::steady_clock;

inline std::string milter_binary() {
    return DMARC_MILTER_BIN;
}
inline std::string collector_binary() {
    return DMARC_COLLECTOR_BIN;
}

// The zone every milter fault test resolves in, served from the TLD down (the RFC 9989 §4.10
// tree walk asks _dmarc.example too): bank.fault.example publishes p=reject (its subdomains
// inherit it, RFC 7489 §6.6.3); news.fault.example p=none. `extra` adds records (relative to
// fault.example).
inline std::string fault_zone(const std::string& extra = "") {
    return "$ORIGIN example.\n"
           "$TTL 300\n"
           "@ IN SOA ns.fault.example. hostmaster.fault.example. 1 3600 600 86400 60\n"
           "@ IN NS ns.fault.example.\n"
           "$ORIGIN fault.example.\n"
           "ns IN A 127.0.0.1\n"
           "bank IN A 192.0.2.10\n"
           "_dmarc.bank IN TXT \"v=DMARC1; p=reject; rua=mailto:dmarc@bank.fault.example\"\n"
           "news IN A 192.0.2.11\n"
           "_dmarc.news IN TXT \"v=DMARC1; p=none\"\n" +
           extra;
}

inline std::unique_ptr<test_support::LocalUnbound> start_unbound(const std::string& zone) {
    test_support::LocalUnboundConfig config;
    config.auth_zones["example."] = zone;
    std::string error;
    auto server = test_support::LocalUnbound::start(config, &error);
    EXPECT_TRUE(server) << error;
    return server;
}

// A milter configuration over real DNS (io/dns, libunbound) at `nameserver`.
inline std::string dns_config(const fs::path& dir, const std::string& nameserver,
                              unsigned dns_timeout_s, bool tempfail_on_dns_error) {
    return "AuthservID mx.fault.example\n"
           "RejectFailures true\n"
           "SPFSelfValidate true\n"
           "DNSTimeout " +
           std::to_string(dns_timeout_s) +
           "\n"
           "Nameservers " +
           nameserver +
           "\n"
           "TempFailOnDNSError " +
           (tempfail_on_dns_error ? "true" : "false") + "\nHistoryDatabase " +
           (dir / "spool.db").string() + "\n";
}

// A spoof of <label>.bank.fault.example: no DKIM, SPF from a client the domain does not list.
// Unique labels keep every message's first DNS query out of the resolver's cache.
inline mc::Message spoof_message(const std::string& label, const std::string& queue_id) {
    mc::Message m;
    const std::string domain = label + ".bank.fault.example";
    m.client_host = "attacker.example";
    m.client_ip = "203.0.113.7";
    m.helo = "attacker.example";
    m.mail_from = "bounce@" + domain;
    m.rcpt_to = {"ana@mx.fault.example"};
    m.headers = {{"From", "Bank <service@" + domain + ">"},
                 {"To", "ana@mx.fault.example"},
                 {"Subject", "fault test " + queue_id},
                 {"Message-ID", "<" + queue_id + "@attacker.example>"}};
    m.connect_macros = {{"j", "mx.fault.example"}};
    m.eom_macros = {{"i", queue_id}};
    return m;
}

// The demo's spoof of bank.example (p=reject, demo/zone.txt) with its own queue id.
inline mc::Message demo_spoof(const std::string& queue_id) {
    mc::Message m;
    auto [headers, body] = mc::split_message(test_support::read_text_file(
        fs::path(DMARC_SOURCE_DIR) / "demo/messages/02-bank-spoofed.eml"));
    m.headers = std::move(headers);
    m.body = std::move(body);
    m.client_host = m.helo = "attacker.example";
    m.client_ip = "203.0.113.99";
    m.mail_from = "bounce@attacker.example";
    m.rcpt_to = {"ana@demo.example"};
    m.connect_macros = {{"j", "mx.demo.example"}};
    m.eom_macros = {{"i", queue_id}};
    return m;
}

// A rejecting milter configuration over the demo's zone file, its spool at `spool`.
inline std::string demo_config(const std::string& spool) {
    return "AuthservID mx.demo.example\nTestDNSData " +
           (fs::path(DMARC_SOURCE_DIR) / "demo/zone.txt").string() +
           "\nRejectFailures true\nHistoryDatabase " + spool + "\n";
}

// The real dmarc-milter on `config_text`, its files in `dir`: <name>.conf, the socket
// <name>.sock and its log <name>.log. Callers wait_ready() before sending.
class FaultMilter : public test_support::MilterProcess {
  public:
    FaultMilter(const fs::path& dir, const std::string& config_text,
                const std::string& name = "milter")
        : MilterProcess(milter_binary(), write_config(dir / (name + ".conf"), config_text),
                        "local:" + (dir / (name + ".sock")).string(), dir / (name + ".log")),
          socket_path_((dir / (name + ".sock")).string()) {}

    // As milter_client::Client::open takes it ("local:/path").
    std::string socket() const { return "local:" + socket_path_; }
    const std::string& socket_path() const { return socket_path_; }

  private:
    static fs::path write_config(const fs::path& path, const std::string& text) {
        test_support::write_text_file(path, text);
        return path;
    }
    std::string socket_path_;
};

struct TimedResponse {
    Result<mc::Response> response = make_error(Errc::internal, "not sent");
    double ms = 0;
};

// One message on a new connection, timed from connect to the final reply.
inline TimedResponse send_timed(const std::string& socket, const mc::Message& message,
                                std::chrono::milliseconds timeout = std::chrono::seconds(60)) {
    TimedResponse out;
    auto start = Clock::now();
    auto client = mc::Client::open(socket, timeout);
    if (!client) {
        out.response = tl::unexpected(client.error());
        return out;
    }
    if (auto n = client->negotiate(); !n) {
        out.response = tl::unexpected(n.error());
        return out;
    }
    out.response = client->send_message(message);
    out.ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    return out;
}

// The dmarc= result in our Authentication-Results field, or "" when none was inserted.
inline std::string dmarc_result_of(const mc::Response& r) {
    for (const auto* h : r.headers_inserted()) {
        auto at = h->value.find("dmarc=");
        if (at == std::string::npos) continue;
        auto end = h->value.find_first_of(" ;", at);
        return h->value.substr(at + 6, end == std::string::npos ? std::string::npos : end - at - 6);
    }
    return "";
}

}  // namespace dmarc::fault
