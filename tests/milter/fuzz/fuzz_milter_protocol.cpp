// Fuzz target: bytes from the MTA into one milter-protocol connection (milter/server.cpp), the
// way the event threads feed it: in reads of any size, through the no-wait path and its
// resume(), and through the blocking path. Whatever arrives, the connection answers with
// well-formed reply packets and never crashes; an end-of-message that needs the network is
// finished by resume(). The first byte chooses the read size and the path; the rest is the
// stream.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <string>
#include <string_view>

#include "core/memory_resolver.hpp"
#include "milter/server.hpp"
#include "milter/session.hpp"

namespace {

using namespace dmarc;
using namespace dmarc::milter;

class FuzzServices final : public Services {
  public:
    explicit FuzzServices(std::shared_ptr<const Snapshot> s) : snap_(std::move(s)) {}
    std::shared_ptr<const Snapshot> snapshot() override { return snap_; }
    void log(LogLevel, std::string_view) noexcept override {}
    void record(const MessageVerdict&, const Envelope&, std::int64_t) noexcept override {}
    std::int64_t now() noexcept override { return 1'790'000'000; }
    std::uint64_t now_ms() noexcept override { return 1000; }
    std::uint8_t pct_sample() noexcept override { return 50; }

  private:
    std::shared_ptr<const Snapshot> snap_;
};

// A resolver that has nothing at hand: every end-of-message that looks something up goes
// through the would-block path and resume(), as on a cold cache.
class ColdResolver final : public DnsResolver {
  public:
    explicit ColdResolver(std::shared_ptr<MemoryResolver> zone) : zone_(std::move(zone)) {}
    DnsResponse lookup(std::string_view name, RrType type) override {
        return zone_->lookup(name, type);
    }

  private:
    std::shared_ptr<MemoryResolver> zone_;
};

// The zone both snapshots answer from; its query log is cleared after each input (it would
// otherwise grow over a fuzzing run).
std::shared_ptr<MemoryResolver> zone_resolver() {
    static const auto shared = [] {
        auto zone = MemoryResolver::parse(
            "_dmarc.example.com TXT \"v=DMARC1; p=reject; sp=quarantine; np=reject\"\n"
            "example.com TXT \"v=spf1 ip4:192.0.2.0/24 -all\"\n"
            "_dmarc.example.org TXT \"v=DMARC1; p=quarantine; t=y\"\n"
            "_dmarc.broken.example SERVFAIL\n");
        return std::make_shared<MemoryResolver>(zone ? *zone : MemoryResolver());
    }();
    return shared;
}

std::shared_ptr<const Snapshot> make_snapshot(bool cold) {
    auto snap = std::make_shared<Snapshot>();
    auto parsed = config::parse_milter_config(
        "AuthservID mx.test\nRejectFailures true\nHoldQuarantinedMessages true\n"
        "SPFSelfValidate true\nTrustedAuthservIDs mx.test, upstream.test\n"
        "IgnoreAuthenticatedClients true\nRequiredHeaders true\n");
    snap->config = parsed.config;
    if (cold) {
        snap->dns = std::make_shared<ColdResolver>(zone_resolver());
    } else {
        snap->dns = zone_resolver();
    }
    return snap;
}

// Every reply is a whole packet: a 4-byte length (1 .. 64 KiB here) and that many bytes.
void check_replies(const std::string& out) {
    std::size_t at = 0;
    while (at < out.size()) {
        if (out.size() - at < 5) std::abort();
        const auto* p = reinterpret_cast<const unsigned char*>(out.data() + at);
        const std::uint32_t len = (std::uint32_t{p[0]} << 24) | (std::uint32_t{p[1]} << 16) |
                                  (std::uint32_t{p[2]} << 8) | std::uint32_t{p[3]};
        if (len == 0 || len > 65536 || out.size() - at - 4 < len) std::abort();
        at += 4 + len;
    }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
    if (size == 0) return 0;
    static const auto warm = make_snapshot(false);
    static const auto cold = make_snapshot(true);
    const std::uint8_t mode = data[0];
    std::string_view stream(reinterpret_cast<const char*>(data + 1), size - 1);
    const std::size_t chunk = 1 + (mode & 0x3f) * 7;  // 1 .. 442 bytes per read
    const bool no_wait = (mode & 0x40) != 0;
    FuzzServices services((mode & 0x80) != 0 ? cold : warm);
    ProtocolConnection connection(services);
    std::string out;
    bool open = true;
    while (open && !stream.empty()) {
        const std::string_view read = stream.substr(0, chunk);
        stream.remove_prefix(read.size());
        if (no_wait) {
            auto fed = connection.feed_no_wait(read, out);
            if (fed == ProtocolConnection::Fed::blocked) {
                open = connection.resume(out);
            } else {
                open = fed == ProtocolConnection::Fed::more;
            }
        } else {
            open = connection.feed(read, out);
        }
        check_replies(out);
        out.clear();
    }
    connection.close();
    zone_resolver()->clear_queries();
    return 0;
}
