// dmarc-milter sessions driven through a fake Actions: the calls a whole message flow
// (negotiate, connect, helo, envfrom, envrcpt, header*, eom) makes on the MTA. RFC 7489 §6.6
// (evaluation at end-of-message), RFC 8601 §5 (our Authentication-Results first, forged ones
// removed), milter protocol 6 negotiation; regressions from opendmarc.md §8.2.
#include "milter/session.hpp"

#include <gtest/gtest.h>

#include <algorithm>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "core/memory_resolver.hpp"
#include "milter/protocol_bits.hpp"
#include "milter/recording_actions.hpp"

namespace dmarc::milter {
namespace {

using Call = RecordingActions::Call;

constexpr std::uint32_t kPostfixActions = 0x1ff;
constexpr std::uint32_t kPostfixSteps = 0x1ff7ff & ~0x800u;

constexpr const char* kZone = R"(
_dmarc.bank.example    TXT "v=DMARC1; p=reject"
bank.example           TXT "v=spf1 ip4:192.0.2.10 -all"
_dmarc.shop.example    TXT "v=DMARC1; p=quarantine"
shop.example           TXT "v=spf1 -all"
_dmarc.news.example    TXT "v=DMARC1; p=none"
_dmarc.flaky.example   SERVFAIL
)";

class ThrowingResolver final : public DnsResolver {
  public:
    DnsResponse lookup(std::string_view, RrType) override {
        throw std::runtime_error("resolver exploded");
    }
};

class FakeServices final : public Services {
  public:
    std::shared_ptr<const Snapshot> current;
    std::vector<std::string> lines;
    std::vector<MessageVerdict> recorded;
    std::uint64_t started = 0;
    int finished = 0, internal_errors = 0;
    std::uint8_t sample = 0;

    std::shared_ptr<const Snapshot> snapshot() override { return current; }
    void log(LogLevel, std::string_view line) noexcept override { lines.emplace_back(line); }
    void record(const MessageVerdict& v, const Envelope&, std::int64_t) noexcept override {
        recorded.push_back(v);
    }
    std::int64_t now() noexcept override { return 1'790'000'000; }
    std::uint64_t now_ms() noexcept override { return 1000; }
    std::uint8_t pct_sample() noexcept override { return sample; }
    std::uint64_t message_started() noexcept override { return ++started; }
    void message_finished(std::uint64_t) noexcept override { ++finished; }
    bool draining() noexcept override { return drain; }
    bool drain = false;
    void count_internal_error() noexcept override { ++internal_errors; }
};

std::shared_ptr<const Snapshot> make_snapshot(config::MilterConfig config,
                                              std::shared_ptr<DnsResolver> dns = nullptr) {
    auto snap = std::make_shared<Snapshot>();
    snap->config = std::move(config);
    if (!dns) dns = std::make_shared<MemoryResolver>(*MemoryResolver::parse(kZone));
    snap->dns = std::move(dns);
    return snap;
}

config::MilterConfig enforcing_config() {
    config::MilterConfig c;
    c.authserv_id = "mx.test";
    c.reject_failures = true;
    c.hold_quarantined_messages = true;
    return c;
}

struct Flow {
    std::string client_ip = "203.0.113.99";
    std::string mail_from = "bounce@attacker.example";
    std::vector<std::pair<std::string, std::string>> headers;
};

std::vector<std::pair<std::string, std::string>> basic_headers(const std::string& from) {
    return {{"Received", "from attacker.example by mx.test"},
            {"From", from},
            {"To", "ana@mx.test"},
            {"Subject", "hello"},
            {"Date", "Mon, 23 Nov 2026 09:12:00 +0000"}};
}

class SessionTest : public ::testing::Test {
  protected:
    FakeServices services;
    RecordingActions actions;
    Negotiation negotiation;

    void SetUp() override {
        services.current = make_snapshot(enforcing_config());
        actions.macros = {{"j", "mx.test"}, {"i", "4QTEST1"}};
    }

    // IgnoreAuthenticatedClients on: a reply at MAIL FROM is kept.
    void ignore_authenticated_clients() {
        auto c = enforcing_config();
        c.ignore_authenticated_clients = true;
        services.current = make_snapshot(c);
    }

    // Negotiates as Postfix does and connects from `ip` (no reply at connect).
    void open(Session& session, const char* ip) {
        ASSERT_EQ(session.on_negotiate(kPostfixActions, kPostfixSteps, negotiation),
                  Status::proceed);
        ASSERT_EQ(session.on_connect("c", IpAddress::parse(ip), actions), Status::no_reply);
    }

    // The whole flow; returns the end-of-message status (or the first non-continue one).
    Status run(Session& session, const Flow& flow) {
        EXPECT_EQ(session.on_negotiate(kPostfixActions, kPostfixSteps, negotiation),
                  Status::proceed);
        Status s = session.on_connect("client.example", IpAddress::parse(flow.client_ip), actions);
        if (s != Status::proceed && s != Status::no_reply) return s;
        EXPECT_EQ(session.on_helo("attacker.example"), Status::no_reply);
        s = session.on_envfrom({"<" + flow.mail_from + ">", "SIZE=100"}, actions);
        if (s != Status::no_reply && s != Status::proceed) return s;
        EXPECT_EQ(session.on_envrcpt({"<ana@mx.test>"}), Status::no_reply);
        for (const auto& [n, v] : flow.headers)
            EXPECT_EQ(session.on_header(n, v), Status::no_reply);
        return session.on_eom(actions);
    }
};

// Milter protocol 6: only the steps we use, no replies where we have nothing to say.
TEST(Negotiate, AsksOnlyForNeededStepsAndNoReplyFlags) {
    config::MilterConfig c;
    auto n = negotiate(c, kPostfixActions, kPostfixSteps);
    ASSERT_TRUE(n.ok);
    EXPECT_EQ(n.actions,
              bits::kAddHeaders | bits::kChangeHeaders | bits::kQuarantine | bits::kSetSymList);
    // No reply at connect: IgnoreHosts answers at end-of-message instead (one round trip less
    // for every other client).
    EXPECT_EQ(n.steps, bits::kNoBody | bits::kNoEoh | bits::kNoUnknown | bits::kNoData |
                           bits::kNoReplyConnect | bits::kNoReplyHelo | bits::kNoReplyRcpt |
                           bits::kNoReplyHeader | bits::kNoReplyMail);
}

TEST(Negotiate, IgnoreAuthenticatedClientsNeedsAReplyAtMailFrom) {
    config::MilterConfig c;
    c.ignore_authenticated_clients = true;
    auto n = negotiate(c, kPostfixActions, kPostfixSteps);
    EXPECT_EQ(n.steps & bits::kNoReplyMail, 0u);
}

TEST(Negotiate, AddRecipientOnlyWithCopyFailuresTo) {
    config::MilterConfig c;
    EXPECT_EQ(negotiate(c, kPostfixActions, kPostfixSteps).actions & bits::kAddRecipient, 0u);
    c.copy_failures_to = "dmarc-failures@mx.test";
    EXPECT_NE(negotiate(c, kPostfixActions, kPostfixSteps).actions & bits::kAddRecipient, 0u);
}

TEST(Negotiate, OnlyWhatTheMtaOffers) {
    config::MilterConfig c;
    // An old MTA: version-2 actions, no no-reply flags at all.
    auto n = negotiate(c, 0x3f, 0x7f);
    ASSERT_TRUE(n.ok);
    EXPECT_EQ(n.actions & ~0x3fu, 0u);
    EXPECT_EQ(n.steps & ~0x7fu, 0u);
    EXPECT_FALSE(negotiate(c, bits::kQuarantine, kPostfixSteps).ok);  // cannot add headers
}

// RFC 7489 §6.6.4/§7 (p=reject enforced when RejectFailures): 550 5.7.1 with the policy
// domain in the text, no header added to mail that is refused.
TEST_F(SessionTest, SpoofOfRejectDomainIsRejectedWith550) {
    Session session(services);
    Flow flow;
    flow.headers = basic_headers("Bank <security@bank.example>");
    EXPECT_EQ(run(session, flow), Status::reject);
    ASSERT_EQ(actions.calls.size(), 1u);
    EXPECT_EQ(actions.calls[0], (Call{Call::Kind::set_reply, 0, "550",
                                      "5.7.1 rejected by DMARC policy for bank.example"}));
    ASSERT_EQ(services.recorded.size(), 1u);
    EXPECT_EQ(services.lines.at(0), "4QTEST1: bank.example fail");
    EXPECT_EQ(services.started, 1);
    EXPECT_EQ(services.finished, 1);
}

// OpenDMARC §8.2 #25: quarantine works with HoldQuarantinedMessages alone.
TEST_F(SessionTest, QuarantineHoldsWithReasonAndAddsHeaderFirst) {
    auto c = enforcing_config();
    c.reject_failures = false;
    services.current = make_snapshot(c);
    Session session(services);
    Flow flow;
    flow.headers = basic_headers("Shop <offers@shop.example>");
    EXPECT_EQ(run(session, flow), Status::accept);
    ASSERT_EQ(actions.calls.size(), 2u);
    EXPECT_EQ(actions.calls[0].kind, Call::Kind::insert_header);
    EXPECT_EQ(actions.calls[0].index, 0u);
    EXPECT_EQ(actions.calls[0].name, "Authentication-Results");
    EXPECT_EQ(actions.calls[0].value,
              "mx.test; dmarc=fail (p=quarantine dis=quarantine) header.from=shop.example "
              "policy.dmarc=quarantine");
    EXPECT_EQ(actions.calls[1], (Call{Call::Kind::quarantine, 0,
                                      "quarantined by DMARC policy for shop.example", ""}));
}

// RFC 8601 §5 and OpenDMARC §8.2 #19: an A-R field with our authserv-id that came with the
// message is removed (by occurrence) before ours is inserted at the top, and never believed.
TEST_F(SessionTest, ForgedResultsAreRemovedBeforeOursIsInserted) {
    auto c = enforcing_config();
    c.reject_failures = false;
    services.current = make_snapshot(c);
    Session session(services);
    Flow flow;
    flow.headers = basic_headers("News <letter@news.example>");
    flow.headers.insert(
        flow.headers.begin() + 1,
        {"Authentication-Results", "mx.test; spf=pass smtp.mailfrom=x@other.example"});
    flow.headers.insert(flow.headers.begin() + 2,
                        {"Authentication-Results", "mx.test; dkim=pass header.d=news.example"});
    EXPECT_EQ(run(session, flow), Status::accept);
    ASSERT_EQ(actions.calls.size(), 3u);
    EXPECT_EQ(actions.calls[0], (Call{Call::Kind::remove_header, 2, "Authentication-Results", ""}));
    EXPECT_EQ(actions.calls[1], (Call{Call::Kind::remove_header, 1, "Authentication-Results", ""}));
    EXPECT_EQ(actions.calls[2].kind, Call::Kind::insert_header);
    EXPECT_EQ(actions.calls[2].index, 0u);
    EXPECT_NE(actions.calls[2].value.find("dmarc=fail"), std::string::npos);
}

// CopyFailuresTo (opendmarc.conf(5)): the failure goes to an extra envelope recipient.
TEST_F(SessionTest, CopyFailuresToAddsRecipient) {
    auto c = enforcing_config();
    c.reject_failures = false;
    c.hold_quarantined_messages = false;
    c.copy_failures_to = "dmarc-copies@mx.test";
    services.current = make_snapshot(c);
    Session session(services);
    Flow flow;
    flow.headers = basic_headers("Bank <security@bank.example>");
    EXPECT_EQ(run(session, flow), Status::accept);
    ASSERT_EQ(actions.calls.size(), 2u);
    EXPECT_EQ(actions.calls[1], (Call{Call::Kind::add_recipient, 0, "dmarc-copies@mx.test", ""}));
}

// Design §6: 127.0.0.1 and ::1 are ignored hosts by default (OpenDMARC §8.2 #28). With no reply
// at connect (SMFIP_NR_CONN) the accept comes at end-of-message, nothing evaluated or recorded.
TEST_F(SessionTest, IgnoredHostIsAcceptedWithoutEvaluation) {
    for (const char* ip : {"127.0.0.1", "::1"}) {
        Session session(services);
        Flow flow;
        flow.client_ip = ip;
        flow.headers = basic_headers("Bank <security@bank.example>");
        EXPECT_EQ(run(session, flow), Status::accept) << ip;
        EXPECT_TRUE(actions.calls.empty());
        EXPECT_TRUE(services.recorded.empty());
        EXPECT_EQ(services.started, 0);
        EXPECT_EQ(services.lines.back(),
                  std::string("ignoring connection from client.example [") + ip + "]");
        // A second message on the connection: accepted the same way.
        EXPECT_EQ(session.on_envfrom({"<x@attacker.example>"}, actions), Status::no_reply);
        for (const auto& [n, v] : flow.headers) session.on_header(n, v);
        EXPECT_EQ(session.on_eom(actions), Status::accept);
        EXPECT_TRUE(services.recorded.empty());
    }
}

// An MTA that cannot skip the connect reply: the accept is given at connect, as before.
TEST_F(SessionTest, IgnoredHostIsAcceptedAtConnectWithoutNoReplyConnect) {
    Session session(services);
    ASSERT_EQ(
        session.on_negotiate(kPostfixActions, kPostfixSteps & ~bits::kNoReplyConnect, negotiation),
        Status::proceed);
    EXPECT_EQ(negotiation.steps & bits::kNoReplyConnect, 0u);
    EXPECT_EQ(session.on_connect("c", IpAddress::parse("127.0.0.1"), actions), Status::accept);
}

// IgnoreAuthenticatedClients keeps a reply at MAIL FROM: an ignored host is answered there.
TEST_F(SessionTest, IgnoredHostIsAcceptedAtMailFromWhenItHasAReply) {
    ignore_authenticated_clients();
    Session session(services);
    open(session, "127.0.0.1");
    EXPECT_EQ(session.on_envfrom({"<x@attacker.example>"}, actions), Status::accept);
    EXPECT_EQ(services.started, 0);
}

// IgnoreAuthenticatedClients: {auth_authen} set at MAIL FROM -> accept there, nothing added.
TEST_F(SessionTest, AuthenticatedClientIsAcceptedAtMailFrom) {
    ignore_authenticated_clients();
    actions.macros["{auth_authen}"] = "ana";
    Session session(services);
    open(session, "203.0.113.9");
    EXPECT_EQ(session.on_envfrom({"<ana@bank.example>"}, actions), Status::accept);
    EXPECT_TRUE(actions.calls.empty());
    EXPECT_EQ(services.started, services.finished);
}

// Unauthenticated clients under the same setting go through normally (mail needs a reply).
TEST_F(SessionTest, UnauthenticatedClientIsEvaluatedWhenIgnoringAuthenticated) {
    ignore_authenticated_clients();
    Session session(services);
    open(session, "203.0.113.9");
    EXPECT_EQ(session.on_envfrom({"<x@attacker.example>"}, actions), Status::proceed);
    for (const auto& [n, v] : basic_headers("b@bank.example")) session.on_header(n, v);
    EXPECT_EQ(session.on_eom(actions), Status::reject);
}

// libmilter treats '%' in smfi_setreply text as a format character: it must be doubled.
TEST_F(SessionTest, RejectStringIsSanitizedForSetReply) {
    auto c = enforcing_config();
    c.reject_string = "100% refused for %s";
    services.current = make_snapshot(c);
    Session session(services);
    Flow flow;
    flow.headers = basic_headers("b@bank.example");
    EXPECT_EQ(run(session, flow), Status::reject);
    EXPECT_EQ(actions.calls.at(0).value, "5.7.1 100%% refused for bank.example");
    EXPECT_EQ(sanitize_reply_text("a\r\nb%"), "a  b%%");
}

// Design §4: nothing unwinds into libmilter; an internal failure accepts and is logged.
TEST_F(SessionTest, InternalFailureAcceptsAndCounts) {
    services.current = make_snapshot(enforcing_config(), std::make_shared<ThrowingResolver>());
    Session session(services);
    Flow flow;
    flow.headers = basic_headers("b@bank.example");
    EXPECT_EQ(run(session, flow), Status::accept);
    EXPECT_TRUE(actions.calls.empty());
    EXPECT_EQ(services.internal_errors, 1);
    EXPECT_NE(services.lines.back().find("resolver exploded"), std::string::npos);
    EXPECT_EQ(services.started, services.finished);
}

// A reload between MAIL FROM and end-of-message does not change the message's configuration.
TEST_F(SessionTest, MessageKeepsTheSnapshotItStartedWith) {
    Session session(services);
    ASSERT_EQ(session.on_negotiate(kPostfixActions, kPostfixSteps, negotiation), Status::proceed);
    ASSERT_EQ(session.on_connect("c", IpAddress::parse("203.0.113.9"), actions), Status::no_reply);
    session.on_envfrom({"<x@attacker.example>"}, actions);
    auto relaxed = enforcing_config();
    relaxed.reject_failures = false;
    services.current = make_snapshot(relaxed);  // the reload
    for (const auto& [n, v] : basic_headers("b@bank.example")) session.on_header(n, v);
    EXPECT_EQ(session.on_eom(actions), Status::reject);
    // The next message on the same connection takes the new configuration.
    actions.calls.clear();
    session.on_envfrom({"<x@attacker.example>"}, actions);
    for (const auto& [n, v] : basic_headers("b@bank.example")) session.on_header(n, v);
    EXPECT_EQ(session.on_eom(actions), Status::accept);
}

// DNS temperror (OpenDMARC §8.2 #10): dmarc=temperror, and 451 4.7.1 with TempFailOnDNSError.
TEST_F(SessionTest, DnsFailureIsTemperrorAndTempfailsWhenConfigured) {
    Flow flow;
    flow.headers = basic_headers("i@flaky.example");
    {
        Session session(services);
        EXPECT_EQ(run(session, flow), Status::accept);
        ASSERT_EQ(actions.calls.size(), 1u);
        EXPECT_NE(actions.calls[0].value.find("dmarc=temperror"), std::string::npos);
    }
    auto c = enforcing_config();
    c.tempfail_on_dns_error = true;
    services.current = make_snapshot(c);
    actions.calls.clear();
    Session session(services);
    EXPECT_EQ(run(session, flow), Status::tempfail);
    ASSERT_EQ(actions.calls.size(), 1u);
    EXPECT_EQ(actions.calls[0].kind, Call::Kind::set_reply);
    EXPECT_EQ(actions.calls[0].name, "451");
}

// The MTA refusing a modification is logged; the verdict still stands.
TEST_F(SessionTest, RefusedModificationIsLoggedNotFatal) {
    auto c = enforcing_config();
    c.reject_failures = false;
    services.current = make_snapshot(c);
    actions.fail_calls = true;
    Session session(services);
    Flow flow;
    flow.headers = basic_headers("o@shop.example");
    EXPECT_EQ(run(session, flow), Status::accept);
    EXPECT_EQ(actions.calls.size(), 2u);
    bool logged = false;
    for (const auto& l : services.lines)
        logged |= l.find("refused quarantine") != std::string::npos;
    EXPECT_TRUE(logged);
}

// Queue id: macro i read at end-of-message (Postfix assigns it late, OpenDMARC §2.1).
TEST_F(SessionTest, QueueIdIsReadAtEndOfMessage) {
    actions.macros.erase("i");
    Session session(services);
    ASSERT_EQ(session.on_negotiate(kPostfixActions, kPostfixSteps, negotiation), Status::proceed);
    ASSERT_EQ(session.on_connect("c", IpAddress::parse("203.0.113.9"), actions), Status::no_reply);
    session.on_envfrom({"<x@attacker.example>"}, actions);
    for (const auto& [n, v] : basic_headers("n@news.example")) session.on_header(n, v);
    actions.macros["i"] = "4LATEQID";
    session.on_eom(actions);
    EXPECT_EQ(services.lines.at(0), "4LATEQID: news.example fail");
}

// A header block over kMaxMilterHeaderBytes is still evaluated: filler cannot hide the From
// field after it (RFC 7489 §6.6.1), nor switch DMARC off for a spoof. Logged.
TEST_F(SessionTest, OversizedHeaderBlockCannotHideTheFrom) {
    Session session(services);
    ASSERT_EQ(session.on_negotiate(kPostfixActions, kPostfixSteps, negotiation), Status::proceed);
    ASSERT_EQ(session.on_connect("c", IpAddress::parse("203.0.113.9"), actions), Status::no_reply);
    session.on_envfrom({"<x@attacker.example>"}, actions);
    std::string big(64 * 1024, 'x');
    for (int i = 0; i < 20; ++i) session.on_header("X-Filler", big);
    session.on_header("From", "b@bank.example");
    EXPECT_EQ(session.on_eom(actions), Status::reject);
    EXPECT_NE(services.lines.at(0).find("header block over"), std::string::npos);
    EXPECT_EQ(services.lines.at(1), "4QTEST1: bank.example fail");
}

// limits::kMaxHeaderFields: 10,000 short fields then the From, same outcome.
TEST_F(SessionTest, TenThousandFieldsCannotHideTheFrom) {
    Session session(services);
    ASSERT_EQ(session.on_negotiate(kPostfixActions, kPostfixSteps, negotiation), Status::proceed);
    ASSERT_EQ(session.on_connect("c", IpAddress::parse("203.0.113.9"), actions), Status::no_reply);
    session.on_envfrom({"<x@attacker.example>"}, actions);
    for (int i = 0; i < 10000; ++i) session.on_header("X-Filler", std::to_string(i));
    session.on_header("From", "b@bank.example");
    EXPECT_EQ(session.on_eom(actions), Status::reject);
    EXPECT_EQ(services.lines.at(1), "4QTEST1: bank.example fail");
}

// Postfix hands folded fields to milters with bare LF line breaks (its queue files have no CR);
// RFC 5322 §2.2.3 unfolding must still see the DKIM result and the From address.
TEST_F(SessionTest, FoldedFieldsWithBareLineFeeds) {
    Session session(services);
    Flow flow;
    flow.headers = {{"Authentication-Results",
                     "mx.test;\n\tdkim=pass (2048-bit key)\n header.d=bank.example header.s=s1"},
                    {"Received", "from mx.bank.example by mx.test"},
                    {"From", "Example Bank\n <alerts@bank.example>"},
                    {"Date", "Mon, 23 Nov 2026 09:12:00 +0000"}};
    EXPECT_EQ(run(session, flow), Status::accept);
    ASSERT_EQ(actions.calls.size(), 1u);
    EXPECT_NE(
        actions.calls[0].value.find("dmarc=pass (p=reject dis=none) header.from=bank.example"),
        std::string::npos)
        << actions.calls[0].value;
}

// Shutting down (SIGTERM): new connections get a temporary failure, not a cut connection.
// With no reply at connect the 4xx comes at end-of-message, the message not evaluated.
TEST_F(SessionTest, DrainingDefersNewConnections) {
    services.drain = true;
    Session session(services);
    ASSERT_EQ(session.on_negotiate(kPostfixActions, kPostfixSteps, negotiation), Status::proceed);
    EXPECT_EQ(session.on_connect("c", IpAddress::parse("203.0.113.9"), actions), Status::no_reply);
    EXPECT_EQ(session.on_envfrom({"<x@attacker.example>"}, actions), Status::no_reply);
    for (const auto& [n, v] : basic_headers("b@bank.example")) session.on_header(n, v);
    EXPECT_EQ(session.on_eom(actions), Status::tempfail);
    ASSERT_EQ(actions.calls.size(), 1u);
    EXPECT_EQ(actions.calls[0], (Call{Call::Kind::set_reply, 0, "451",
                                      "4.7.1 dmarc-milter is shutting down; try again later"}));
    EXPECT_TRUE(services.recorded.empty());

    Session old_mta(services);
    ASSERT_EQ(
        old_mta.on_negotiate(kPostfixActions, kPostfixSteps & ~bits::kNoReplyConnect, negotiation),
        Status::proceed);
    EXPECT_EQ(old_mta.on_connect("c", IpAddress::parse("203.0.113.9"), actions), Status::tempfail);
}

// Abort between messages: the next message starts clean.
TEST_F(SessionTest, AbortDiscardsTheMessage) {
    Session session(services);
    ASSERT_EQ(session.on_negotiate(kPostfixActions, kPostfixSteps, negotiation), Status::proceed);
    ASSERT_EQ(session.on_connect("c", IpAddress::parse("203.0.113.9"), actions), Status::no_reply);
    session.on_envfrom({"<x@attacker.example>"}, actions);
    session.on_header("From", "b@bank.example");
    session.on_abort();
    EXPECT_EQ(services.started, services.finished);
    session.on_envfrom({"<x@attacker.example>"}, actions);
    for (const auto& [n, v] : basic_headers("n@news.example")) session.on_header(n, v);
    EXPECT_EQ(session.on_eom(actions), Status::accept);
    EXPECT_EQ(services.lines.at(0), "4QTEST1: news.example fail");
}

// MilterDebug (OpenDMARC's key; libmilter's smfi_setdbg level before the protocol server): a
// protocol trace in the log, more with each level, nothing at 0.
TEST_F(SessionTest, MilterDebugTracesTheProtocolByLevel) {
    struct Case {
        std::uint32_t level;
        std::size_t lines;
        std::vector<std::string> present, absent;
    };
    const std::vector<Case> cases = {
        {0, 0, {}, {}},
        {1,
         2,
         {"we ask actions 0x131, steps 0xf3d0 (NOBODY NOEOH NR_HDR NOUNKNOWN NODATA NR_CONN "
          "NR_HELO NR_MAIL NR_RCPT)",
          "4QTEST1: connect, helo, mail, rcpt x1, header x5, eom -> reject 100% refused for "
          "bank.example"},
         {"header From", "evaluation:"}},
        // 2: the steps, the headers' sizes and the evaluation trace.
        {2,
         2 + 4 + 5 + 1,
         {"connect client.example [203.0.113.99] -> noreply", "helo attacker.example -> noreply",
          "mail <bounce@attacker.example> SIZE=100 -> noreply", "rcpt <ana@mx.test> -> noreply",
          "header From (14 bytes)",
          "4QTEST1: evaluation: bank.example: policy at bank.example (author domain); dkim no "
          "aligned pass, spf no aligned pass; dmarc=fail p=reject disposition=reject"},
         {"header From: b@bank.example", "macro i="}},
        {3,
         2 + 4 + 5 + 1 + 3,
         {"header From: b@bank.example", "macro i=4QTEST1 j=mx.test", "macro j=mx.test"},
         {}},
    };
    for (const auto& c : cases) {
        SCOPED_TRACE(c.level);
        auto config = enforcing_config();
        config.milter_debug = c.level;
        config.reject_string = "100%% refused for %s";
        services.current = make_snapshot(config);
        services.lines.clear();
        Session session(services);
        Flow flow;
        flow.headers = basic_headers("b@bank.example");
        EXPECT_EQ(run(session, flow), Status::reject);
        std::vector<std::string> trace;
        for (const auto& l : services.lines) {
            if (l.starts_with("milter-debug: connection ")) trace.push_back(l);
        }
        EXPECT_EQ(trace.size(), c.lines) << ::testing::PrintToString(trace);
        auto contains = [&](const std::string& needle) {
            return std::any_of(trace.begin(), trace.end(), [&](const std::string& l) {
                return l.find(needle) != std::string::npos;
            });
        };
        for (const auto& p : c.present) EXPECT_TRUE(contains(p)) << p;
        for (const auto& a : c.absent) EXPECT_FALSE(contains(a)) << a;
    }
}

}  // namespace
}  // namespace dmarc::milter
