// MessageResolver (milter/message_resolver.hpp): after one query of a message times out, the
// message's other queries fail at once, so a dead DNS server costs the MTA one DNSTimeout per
// message, not one per query (RFC 7208 §4.6.4 and RFC 9989 §4.10 queries made in turn).
#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/memory_resolver.hpp"
#include "milter/message_resolver.hpp"

namespace dmarc::milter {
namespace {

// Answers each lookup with the next scripted response and counts the calls.
class ScriptedResolver final : public DnsResolver {
  public:
    explicit ScriptedResolver(std::vector<DnsResponse> script) : script_(std::move(script)) {}
    DnsResponse lookup(std::string_view, RrType) override { return script_.at(calls_++); }
    std::size_t calls() const { return calls_; }

  private:
    std::vector<DnsResponse> script_;
    std::size_t calls_ = 0;
};

DnsResponse temperror(const std::string& why) {
    DnsResponse r = DnsResponse::make(DnsStatus::temperror);
    r.why = why;
    return r;
}

TEST(MessageResolver, TimeoutEndsTheMessagesQueries) {
    ScriptedResolver inner({DnsResponse::make(DnsStatus::nxdomain), temperror("timeout"),
                            DnsResponse::make(DnsStatus::answer)});
    std::uint64_t now = 0;
    MessageResolver dns(inner, 2000, [&] { return now; });
    EXPECT_EQ(dns.lookup("a.example", RrType::txt).status, DnsStatus::nxdomain);
    EXPECT_EQ(dns.lookup("_dmarc.a.example", RrType::txt).status, DnsStatus::temperror);
    EXPECT_TRUE(dns.timed_out());
    auto skipped = dns.lookup("b.example", RrType::txt);
    EXPECT_EQ(skipped.status, DnsStatus::temperror);
    EXPECT_NE(skipped.why.find("timed out"), std::string::npos);
    EXPECT_EQ(inner.calls(), 2u);  // the third was never asked
}

// No-wait mode (the io_uring event thread): only answers the inner resolver has at hand; the
// rest are temperrors that mark the message for deciding again, and nothing is asked.
TEST(MessageResolver, NoWaitModeAsksNothingAndSaysItWouldBlock) {
    ScriptedResolver inner({DnsResponse::make(DnsStatus::answer)});
    MessageResolver dns(inner, 2000, [] { return std::uint64_t{0}; });
    dns.set_no_wait(true);
    auto r = dns.lookup("_dmarc.a.example", RrType::txt);  // ScriptedResolver: nothing at hand
    EXPECT_EQ(r.status, DnsStatus::temperror);
    EXPECT_TRUE(dns.would_block());
    EXPECT_FALSE(dns.timed_out());
    EXPECT_EQ(inner.calls(), 0u);

    auto zone = MemoryResolver::parse("_dmarc.a.example TXT \"v=DMARC1; p=reject\"\n");
    ASSERT_TRUE(zone);
    MessageResolver at_hand(*zone, 2000, [] { return std::uint64_t{0}; });
    at_hand.set_no_wait(true);
    auto answer = at_hand.lookup("_dmarc.a.example", RrType::txt);
    EXPECT_EQ(answer.status, DnsStatus::answer);
    EXPECT_EQ(at_hand.lookup("_dmarc.b.example", RrType::txt).status, DnsStatus::nxdomain);
    EXPECT_FALSE(at_hand.would_block());
}

// Other temporary errors (SERVFAIL, a refused query) answer quickly: later queries still go out.
TEST(MessageResolver, OtherTemporaryErrorsDoNotStopLaterQueries) {
    ScriptedResolver inner({temperror("SERVFAIL"), DnsResponse::make(DnsStatus::answer)});
    std::uint64_t now = 0;
    MessageResolver dns(inner, 2000, [&] { return now; });
    EXPECT_EQ(dns.lookup("a.example", RrType::txt).status, DnsStatus::temperror);
    EXPECT_FALSE(dns.timed_out());
    EXPECT_EQ(dns.lookup("b.example", RrType::txt).status, DnsStatus::answer);
    EXPECT_EQ(inner.calls(), 2u);
}

// A SERVFAIL that came only after most of DNSTimeout (libunbound giving up on a silent server
// itself) counts as a timeout too.
TEST(MessageResolver, SlowTemporaryErrorCountsAsTimeout) {
    std::uint64_t now = 0;
    class Slow final : public DnsResolver {
      public:
        explicit Slow(std::uint64_t& clock) : clock_(clock) {}
        DnsResponse lookup(std::string_view, RrType) override {
            ++calls;
            clock_ += 1900;
            return temperror("SERVFAIL");
        }
        int calls = 0;

      private:
        std::uint64_t& clock_;
    } inner(now);
    MessageResolver dns(inner, 2000, [&] { return now; });
    EXPECT_EQ(dns.lookup("a.example", RrType::txt).status, DnsStatus::temperror);
    EXPECT_TRUE(dns.timed_out());
    EXPECT_EQ(dns.lookup("b.example", RrType::txt).status, DnsStatus::temperror);
    EXPECT_EQ(inner.calls, 1);
}

}  // namespace
}  // namespace dmarc::milter
