// Fuzz target: a whole message header block through the end-of-message decision, over a small
// zone. Whatever arrives, decide() returns; our own field is always a parseable A-R field.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "core/auth_results.hpp"
#include "core/memory_resolver.hpp"
#include "core/verdict.hpp"

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    static const dmarc::MemoryResolver zone = [] {
        auto z = dmarc::MemoryResolver::parse(
            "_dmarc.example.com TXT \"v=DMARC1; p=reject; sp=quarantine; np=reject\"\n"
            "example.com TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n"
            "_dmarc.example.org TXT \"v=DMARC1; p=none; t=y\"\n"
            "_dmarc.broken.example SERVFAIL\n");
        return z ? *z : dmarc::MemoryResolver();
    }();
    static const dmarc::config::MilterConfig config = [] {
        return dmarc::config::parse_milter_config(
                   "AuthservID mx.test\nRejectFailures true\nHoldQuarantinedMessages true\n"
                   "SPFSelfValidate true\nTrustedAuthservIDs mx.test, upstream.test\n")
            .config;
    }();
    dmarc::MemoryResolver dns = zone;
    std::string_view text(reinterpret_cast<const char*>(data), size);
    auto headers = dmarc::parse_header_block(text);
    dmarc::Envelope envelope;
    envelope.client_ip = dmarc::IpAddress::parse("192.0.2.7");
    envelope.helo = "mail.example.com";
    envelope.mail_from = size % 2 ? "bounce@example.com" : "";
    envelope.queue_id = "FUZZ";
    dmarc::VerdictContext ctx(config, dns);
    auto verdict = dmarc::decide(ctx, envelope, headers);
    for (const auto& change : verdict.header_changes) {
        if (change.kind == dmarc::HeaderChange::Kind::insert_first &&
            change.name == "Authentication-Results" &&
            !dmarc::parse_authentication_results(change.value)) {
            std::abort();
        }
    }
    if (verdict.action == dmarc::MilterAction::reject && verdict.reply_code != "550") std::abort();
    return 0;
}
