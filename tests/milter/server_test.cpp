// The milter protocol server's byte level (milter/server.cpp), without sockets: packets as
// Postfix's milter8 client writes them (4-byte big-endian length counting the command byte,
// command, data; libmilter mfdef.h, protocol version 6), split across reads in every way, and
// the replies: negotiation with our steps and symbol lists, no reply where negotiated, end-of-
// message modifications before the final reply, reply text with reject, connection ends.
#include "milter/server.hpp"

#include <gtest/gtest.h>

#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "core/limits.hpp"
#include "core/memory_resolver.hpp"
#include "milter/protocol_bits.hpp"
#include "tests/support/milter_client.hpp"

namespace dmarc::milter {
namespace {

namespace proto = milter_client::proto;

// The bits protocol_bits.hpp spells out are the protocol's (the client's table is written from
// libmilter's mfdef.h independently).
static_assert(bits::kAddHeaders == proto::kAddHeaders &&
              bits::kAddRecipient == proto::kAddRecipient &&
              bits::kChangeHeaders == proto::kChangeHeaders &&
              bits::kQuarantine == proto::kQuarantine && bits::kSetSymList == proto::kSetSymList);
static_assert(bits::kNoBody == proto::kNoBody && bits::kNoEoh == proto::kNoEoh &&
              bits::kNoReplyHeader == proto::kNoReplyHeader &&
              bits::kNoUnknown == proto::kNoUnknown && bits::kNoData == proto::kNoData &&
              bits::kNoReplyConnect == proto::kNoReplyConnect &&
              bits::kNoReplyHelo == proto::kNoReplyHelo &&
              bits::kNoReplyMail == proto::kNoReplyMail &&
              bits::kNoReplyRcpt == proto::kNoReplyRcpt &&
              bits::kNoReplyData == proto::kNoReplyData &&
              bits::kNoReplyUnknown == proto::kNoReplyUnknown &&
              bits::kNoReplyEoh == proto::kNoReplyEoh && bits::kNoReplyBody == proto::kNoReplyBody);

class Services1 final : public Services {
  public:
    std::shared_ptr<const Snapshot> current;
    std::vector<std::string> lines;
    int recorded = 0, started = 0, finished = 0;
    std::shared_ptr<const Snapshot> snapshot() override { return current; }
    void log(LogLevel, std::string_view line) noexcept override { lines.emplace_back(line); }
    void record(const MessageVerdict&, const Envelope&, std::int64_t) noexcept override {
        ++recorded;
    }
    std::int64_t now() noexcept override { return 1'790'000'000; }
    std::uint64_t now_ms() noexcept override { return 1000; }
    std::uint8_t pct_sample() noexcept override { return 0; }
    std::uint64_t message_started() noexcept override {
        return static_cast<std::uint64_t>(++started);
    }
    void message_finished(std::uint64_t) noexcept override { ++finished; }
};

std::string u32(std::uint32_t v) {
    return {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
            static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
}

std::string packet(char code, const std::string& data = "") {
    return u32(static_cast<std::uint32_t>(data.size() + 1)) + code + data;
}

std::string z(const std::string& s) {
    return s + '\0';
}

struct Reply {
    char code;
    std::string data;
};

// Splits a reply stream into packets; a malformed stream fails the test.
std::vector<Reply> replies(const std::string& bytes) {
    std::vector<Reply> out;
    std::size_t at = 0;
    while (at < bytes.size()) {
        EXPECT_GE(bytes.size() - at, 5u);
        if (bytes.size() - at < 5) break;
        auto b = [&](std::size_t i) {
            return static_cast<std::uint32_t>(static_cast<unsigned char>(bytes[at + i]));
        };
        std::uint32_t len = (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
        EXPECT_LE(at + 4 + len, bytes.size());
        out.push_back({bytes[at + 4], bytes.substr(at + 5, len - 1)});
        at += 4 + len;
    }
    return out;
}

constexpr std::uint32_t kPostfixSteps = proto::kPostfixSteps;

// A Postfix-like session for one message: negotiate, connect, helo, mail, rcpt, headers, eom.
std::string postfix_message(const std::string& from, const std::string& ip,
                            const std::string& queue_macro = "i") {
    std::string s = packet('O', u32(6) + u32(proto::kAllActions) + u32(kPostfixSteps));
    s += packet('D', "C" + z("j") + z("mx.test"));
    s += packet('C', z("client.example") + "4" + std::string("\x61\xa8", 2) + z(ip));
    s += packet('H', z("client.example"));
    s += packet('D', "M" + z("{auth_authen}") + z(""));
    s += packet('M', z("<bounce@attacker.example>") + z("SIZE=100"));
    s += packet('R', z("<ana@mx.test>"));
    s += packet('L', z("Received") + z(" from client.example by mx.test"));
    s += packet('L', z("From") + z(" <a@" + from + ">"));
    s += packet('L', z("Date") + z(" Mon, 23 Nov 2026 09:12:00 +0000"));
    s += packet('D', "E" + z(queue_macro) + z("4QSRV1"));
    s += packet('E');
    return s;
}

class ServerTest : public ::testing::Test {
  protected:
    Services1 services;
    void SetUp() override {
        auto snap = std::make_shared<Snapshot>();
        snap->config.authserv_id = "mx.test";
        snap->config.reject_failures = true;
        snap->config.hold_quarantined_messages = true;
        snap->dns = std::make_shared<MemoryResolver>(
            *MemoryResolver::parse("_dmarc.bank.example TXT \"v=DMARC1; p=reject\"\n"
                                   "_dmarc.shop.example TXT \"v=DMARC1; p=quarantine\"\n"));
        services.current = snap;
    }
};

// Negotiation (protocol 6): our actions, the steps switched off and the no-reply steps (as
// session.cpp decides), and the symbol lists: connect "j", mail "{auth_authen}", eom "i j".
TEST_F(ServerTest, NegotiationReplyCarriesStepsAndSymbolLists) {
    ProtocolConnection c(services);
    std::string out;
    ASSERT_TRUE(c.feed(packet('O', u32(6) + u32(proto::kAllActions) + u32(kPostfixSteps)), out));
    auto r = replies(out);
    ASSERT_EQ(r.size(), 1u);
    EXPECT_EQ(r[0].code, 'O');
    const std::string& d = r[0].data;
    ASSERT_GE(d.size(), 12u);
    EXPECT_EQ(d.substr(0, 4), u32(6));
    EXPECT_EQ(d.substr(4, 4), u32(bits::kAddHeaders | bits::kChangeHeaders | bits::kQuarantine |
                                  bits::kSetSymList));
    EXPECT_EQ(d.substr(8, 4),
              u32(negotiate(services.current->config, proto::kAllActions, kPostfixSteps).steps));
    EXPECT_EQ(d.substr(12), u32(0) + z("j") + u32(2) + z("{auth_authen}") + u32(5) + z("i j"));
}

// RFC 7489 §6.6 at end-of-message, over the protocol: a spoof of p=reject gets one 'y' reply
// "550 5.7.1 <text>" and nothing else (no reply for connect/helo/mail/rcpt/headers: negotiated NR).
TEST_F(ServerTest, RejectCarriesReplyTextAndNoReplyStepsStaySilent) {
    ProtocolConnection c(services);
    std::string out;
    ASSERT_TRUE(c.feed(postfix_message("bank.example", "203.0.113.99"), out));
    auto r = replies(out);
    ASSERT_EQ(r.size(), 2u);  // O, end-of-message 'y'
    EXPECT_EQ(r[1].code, 'y');
    EXPECT_EQ(r[1].data, z("550 5.7.1 rejected by DMARC policy for bank.example"));
    EXPECT_EQ(services.recorded, 1);
    EXPECT_FALSE(c.feed(packet('Q'), out));
}

// The same bytes in any split across reads give the same replies (partial packets carried).
TEST_F(ServerTest, AnySplitOfTheStreamGivesTheSameReplies) {
    const std::string stream = postfix_message("shop.example", "203.0.113.7");
    std::string whole;
    {
        ProtocolConnection c(services);
        ASSERT_TRUE(c.feed(stream, whole));
    }
    for (std::size_t cut = 1; cut < stream.size(); cut += 7) {
        ProtocolConnection c(services);
        std::string out;
        ASSERT_TRUE(c.feed(std::string_view(stream).substr(0, cut), out));
        ASSERT_TRUE(c.feed(std::string_view(stream).substr(cut), out));
        EXPECT_EQ(out, whole) << "cut at " << cut;
    }
    // One byte at a time.
    ProtocolConnection c(services);
    std::string out;
    for (char ch : stream) ASSERT_TRUE(c.feed(std::string_view(&ch, 1), out));
    EXPECT_EQ(out, whole);
}

// p=quarantine: our Authentication-Results inserted at index 0 ('i'), quarantine ('q'), then
// the final accept: modifications come before the final reply (milter protocol).
TEST_F(ServerTest, EndOfMessageModificationsPrecedeTheFinalReply) {
    ProtocolConnection c(services);
    std::string out;
    ASSERT_TRUE(c.feed(postfix_message("shop.example", "203.0.113.7"), out));
    auto r = replies(out);
    ASSERT_EQ(r.size(), 4u);
    EXPECT_EQ(r[1].code, 'i');
    EXPECT_EQ(r[1].data.substr(0, 4), u32(0));
    EXPECT_TRUE(r[1].data.substr(4).starts_with(z("Authentication-Results") + " mx.test;") ||
                r[1].data.substr(4).starts_with(z("Authentication-Results") + "mx.test;"))
        << r[1].data;
    EXPECT_NE(r[1].data.find("dmarc=fail"), std::string::npos);
    EXPECT_EQ(r[2].code, 'q');
    EXPECT_EQ(r[3].code, 'a');
}

// RFC 8601 §5: a forged field with our id (here in OpenDMARC's `id/jobid` form) is removed
// with a change-header packet carrying an empty value (a rejected message is not changed, so
// the quarantine domain shows it).
TEST_F(ServerTest, ForgedFieldIsRemovedWithChangeHeader) {
    ProtocolConnection c(services);
    std::string out;
    // The forged field comes below Received: put Received first.
    std::string s = postfix_message("shop.example", "203.0.113.7");
    std::string received = packet('L', z("Received") + z(" from client.example by mx.test"));
    std::string forged =
        packet('L', z("Authentication-Results") + z(" mx.test/4QSRV1; dmarc=pass"));
    s.insert(s.find(received) + received.size(), forged);
    ASSERT_TRUE(c.feed(s, out));
    auto r = replies(out);
    ASSERT_GE(r.size(), 2u);
    EXPECT_EQ(r[1].code, 'm');
    EXPECT_EQ(r[1].data, u32(1) + z("Authentication-Results") + z(""));
    EXPECT_EQ(r.back().code, 'a');  // quarantined: delivered to the hold queue
}

// Macros: "{name}" and "name" are the same macro (as smfi_getsymval); the queue id comes from
// the end-of-message macros and lands in the log line.
TEST_F(ServerTest, MacrosAreFoundBracedOrNot) {
    ProtocolConnection c(services);
    std::string out;
    std::string s = postfix_message("bank.example", "203.0.113.99", "{i}");
    ASSERT_TRUE(c.feed(s, out));
    bool found = false;
    for (const auto& line : services.lines) found |= line.starts_with("4QSRV1: bank.example fail");
    EXPECT_TRUE(found);
}

// Protocol errors end the connection: a zero length, a length over kMaxMilterPacketBytes, an
// unknown command; quit ends it normally. An abort leaves the connection usable.
TEST_F(ServerTest, ProtocolErrorsAndQuitEndTheConnection) {
    for (const std::string& bad :
         {u32(0) + "x", u32(static_cast<std::uint32_t>(limits::kMaxMilterPacketBytes + 1)) + "L",
          packet('Z'), packet('Q')}) {
        ProtocolConnection c(services);
        std::string out;
        EXPECT_FALSE(c.feed(bad, out));
    }
    ProtocolConnection c(services);
    std::string out;
    std::string s = postfix_message("bank.example", "203.0.113.99");
    s.insert(s.find(packet('E')), packet('A'));  // abort instead of the first end-of-message
    ASSERT_TRUE(c.feed(s, out));
    EXPECT_EQ(services.started, 1);
    EXPECT_EQ(services.finished, 1);
}

// SMFIC_QUIT_NC: the socket is reused for a new SMTP session with the same negotiation.
TEST_F(ServerTest, QuitNewConnectionKeepsTheNegotiation) {
    ProtocolConnection c(services);
    std::string out;
    ASSERT_TRUE(c.feed(postfix_message("bank.example", "203.0.113.99"), out));
    std::string second = postfix_message("bank.example", "203.0.113.99");
    second.erase(0, packet('O', std::string(12, '\0')).size());  // no new negotiation
    out.clear();
    ASSERT_TRUE(c.feed(packet('K') + second, out));
    auto r = replies(out);
    ASSERT_EQ(r.size(), 1u);  // eom 'y': connect..headers still without replies
    EXPECT_EQ(r[0].code, 'y');
}

// Answers lookup_now for the names in `at_hand` only, and counts as a resolver's statistics
// would: a lookup() each, and the lookup_now answers a kept decision reports.
class PartlyCachedResolver final : public DnsResolver {
  public:
    PartlyCachedResolver(std::shared_ptr<DnsResolver> zone,
                         std::function<bool(std::string_view)> at_hand)
        : zone_(std::move(zone)), at_hand_(std::move(at_hand)) {}
    DnsResponse lookup(std::string_view name, RrType type) override {
        ++counted;
        return zone_->lookup(name, type);
    }
    std::optional<DnsResponse> lookup_now(std::string_view name, RrType type) override {
        if (!at_hand_(name)) return std::nullopt;
        return zone_->lookup(name, type);
    }
    void count_answered_now(std::uint64_t answers) override { counted += answers; }
    std::uint64_t counted = 0;

  private:
    std::shared_ptr<DnsResolver> zone_;
    std::function<bool(std::string_view)> at_hand_;
};

// An event thread (ring_server.cpp) feeds without waiting: an end-of-message that needs DNS
// stops the feed at that packet with nothing shown (no reply, log line or history row), and
// resume() on a thread that may wait gives exactly the replies a plain feed gives, then goes on
// with the bytes that followed the end-of-message (here a quit).
TEST_F(ServerTest, EndOfMessageThatNeedsDnsIsFinishedByResume) {
    const std::string stream = postfix_message("bank.example", "203.0.113.99");
    std::string whole;
    {
        ProtocolConnection c(services);
        ASSERT_TRUE(c.feed(stream, whole));
    }
    const std::size_t lines_before = services.lines.size();
    const int recorded_before = services.recorded;

    auto snap = std::make_shared<Snapshot>(*services.current);
    // Nothing at hand: every answer needs "the network" (the zone behind it).
    auto uncached = std::make_shared<PartlyCachedResolver>(services.current->dns,
                                                           [](std::string_view) { return false; });
    snap->dns = uncached;
    services.current = snap;
    ProtocolConnection c(services);
    std::string out;
    ASSERT_EQ(c.feed_no_wait(stream + packet('Q'), out), ProtocolConnection::Fed::blocked);
    auto r = replies(out);
    ASSERT_EQ(r.size(), 1u);  // the negotiation only
    EXPECT_EQ(r[0].code, 'O');
    EXPECT_EQ(uncached->counted, 0u);  // nothing waited for on the event thread
    EXPECT_EQ(services.lines.size(), lines_before);
    EXPECT_EQ(services.recorded, recorded_before);

    EXPECT_FALSE(c.resume(out));  // decided, then the quit ends the connection
    EXPECT_EQ(out, whole);
    EXPECT_GT(uncached->counted, 0u);
    EXPECT_EQ(services.recorded, recorded_before + 1);
    EXPECT_EQ(services.started, services.finished);
}

// A message dropped at a missing answer and decided again counts each of its lookups once, as
// a message decided in one go does (before, the answers taken at hand were counted twice).
TEST_F(ServerTest, MessageDecidedAgainCountsItsLookupsOnce) {
    const std::string stream = postfix_message("bank.example", "203.0.113.99") + packet('Q');
    auto count = [&](std::function<bool(std::string_view)> at_hand, bool blocks) {
        auto snap = std::make_shared<Snapshot>(*services.current);
        auto dns =
            std::make_shared<PartlyCachedResolver>(services.current->dns, std::move(at_hand));
        snap->dns = dns;
        snap->config.spf_self_validate = true;  // SPF's lookups first, then DMARC's
        auto saved = std::exchange(services.current, snap);
        ProtocolConnection c(services);
        std::string out;
        const auto fed = c.feed_no_wait(stream, out);
        EXPECT_EQ(fed, blocks ? ProtocolConnection::Fed::blocked : ProtocolConnection::Fed::closed);
        if (fed == ProtocolConnection::Fed::blocked) {
            EXPECT_FALSE(c.resume(out));
        }
        services.current = saved;
        return dns->counted;
    };
    const auto all_at_hand = count([](std::string_view) { return true; }, false);
    ASSERT_GT(all_at_hand, 1u);
    // The DMARC record at hand, everything else (SPF) not: blocked after some answers.
    const auto partly =
        count([](std::string_view name) { return name.starts_with("_dmarc."); }, true);
    EXPECT_EQ(partly, all_at_hand);
    const auto none = count([](std::string_view) { return false; }, true);
    EXPECT_EQ(none, all_at_hand);
}

// With every answer at hand (MemoryResolver never waits) the feed decides at once.
TEST_F(ServerTest, EndOfMessageWithAnswersAtHandIsDecidedWithoutWaiting) {
    const std::string stream = postfix_message("shop.example", "203.0.113.7");
    std::string whole;
    {
        ProtocolConnection c(services);
        ASSERT_TRUE(c.feed(stream, whole));
    }
    ProtocolConnection c(services);
    std::string out;
    // Split mid-stream too: the partial packet is carried as with feed().
    const std::size_t cut = stream.size() / 2;
    ASSERT_EQ(c.feed_no_wait(std::string_view(stream).substr(0, cut), out),
              ProtocolConnection::Fed::more);
    ASSERT_EQ(c.feed_no_wait(std::string_view(stream).substr(cut), out),
              ProtocolConnection::Fed::more);
    EXPECT_EQ(out, whole);
    EXPECT_EQ(c.feed_no_wait(packet('Q'), out), ProtocolConnection::Fed::closed);
}

}  // namespace
}  // namespace dmarc::milter
