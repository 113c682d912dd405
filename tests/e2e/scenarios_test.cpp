// Issue 4 §5: every DMARC scenario through a real Postfix (private instance, XCLIENT client
// addresses from RFC 5737), real OpenDKIM signing and verifying, real unbound, and dmarc-milter.
// Each case checks the SMTP reply, the delivered header (smtp-sink) or the hold queue, the
// milter's OpenDMARC-shaped log line and the spool row. RFC 7489 sections are cited per case.
#include <gtest/gtest.h>

#include <algorithm>
#include <string>
#include <vector>

#include "tests/e2e/e2e_chain.hpp"
#include "tests/support/milter_client.hpp"

namespace dmarc::e2e {
namespace {

struct Case {
    std::string name;
    std::string client_ip;
    std::string helo;
    std::string mail_domain;   // envelope sender's domain (local part is the unique token)
    std::string from_fields;   // From field(s), each ending in "\n"
    std::string extra_fields;  // fields above From (e.g. a forged Authentication-Results)
    char outcome;              // 'd' delivered, 'r' rejected (5xx), 't' tempfail (4xx), 'h' held
    std::string reply;         // reject / tempfail: the exact reply text after the code
    std::string our_header;    // delivered / held: text in our A-R ("" = no A-R of ours at all)
    std::string log_result;    // "<from-domain> <result>" in the log line; "" = not evaluated
    std::optional<DmarcResult> row_result;  // nullopt: no spool row (not evaluated)
    Disposition row_disposition = Disposition::none;
    MilterAction row_action = MilterAction::accept;
};

std::vector<Case> cases() {
    const std::string spoofer = "203.0.113.99";
    return {
        // RFC 7489 §3.1.2, §4.2: SPF pass for the envelope domain, which is the From domain.
        {"aligned_spf_pass", "203.0.113.10", "mx.aligned.example", "aligned.example",
         "From: Alerts <alerts@aligned.example>\n", "", 'd', "",
         "dmarc=pass (p=reject dis=none) header.from=aligned.example", "aligned.example pass",
         DmarcResult::pass, Disposition::none, MilterAction::accept},
        // RFC 7489 §6.6.4: fail under p=reject -> 550 with the configured text.
        {"spoof_of_p_reject", spoofer, "attacker.example", "attacker.example",
         "From: Bank <alerts@bank.example>\n", "", 'r',
         "550 5.7.1 rejected by DMARC policy for bank.example", "", "bank.example fail",
         DmarcResult::fail, Disposition::reject, MilterAction::reject},
        // RFC 7489 §6.3 p=quarantine: held in Postfix's hold queue (smfi_quarantine).
        {"p_quarantine_is_held", spoofer, "attacker.example", "attacker.example",
         "From: Shop <offers@shop.example>\n", "", 'h', "",
         "dmarc=fail (p=quarantine dis=quarantine) header.from=shop.example", "shop.example fail",
         DmarcResult::fail, Disposition::quarantine, MilterAction::quarantine},
        // RFC 7489 §6.3 p=none: delivered, with our result first.
        {"p_none_fail_delivered", spoofer, "attacker.example", "attacker.example",
         "From: News <letter@news.example>\n", "", 'd', "",
         "dmarc=fail (p=none dis=none) header.from=news.example", "news.example fail",
         DmarcResult::fail, Disposition::none, MilterAction::accept},
        // RFC 7489 §6.6.3: no record anywhere -> none, delivered.
        {"no_record", spoofer, "attacker.example", "attacker.example",
         "From: <info@norecord.example>\n", "", 'd', "", "dmarc=none", "norecord.example none",
         DmarcResult::none, Disposition::none, MilterAction::accept},
        // RFC 7489 §6.3 sp=: an existing subdomain takes the organizational domain's sp.
        {"subdomain_under_sp", spoofer, "attacker.example", "attacker.example",
         "From: <it@sub.corp.example>\n", "", 'h', "",
         "dmarc=fail (p=quarantine dis=quarantine) header.from=sub.corp.example",
         "sub.corp.example fail", DmarcResult::fail, Disposition::quarantine,
         MilterAction::quarantine},
        // RFC 9989 np=: a From domain that does not exist (NXDOMAIN) takes np=reject.
        {"subdomain_under_np_nxdomain", spoofer, "attacker.example", "attacker.example",
         "From: <it@helpdesk.corp.example>\n", "", 'r',
         "550 5.7.1 rejected by DMARC policy for corp.example", "", "helpdesk.corp.example fail",
         DmarcResult::fail, Disposition::reject, MilterAction::reject},
        // RFC 5322 §3.6 allows one From; OpenDMARC §8 CVE-2019-16378: a second From field must
        // not hide the failing one. Every domain is evaluated; the strictest decides.
        {"two_from_fields", spoofer, "attacker.example", "attacker.example",
         "From: <letter@news.example>\nFrom: <alerts@bank.example>\n", "", 'r',
         "550 5.7.1 rejected by DMARC policy for bank.example", "", "bank.example fail",
         DmarcResult::fail, Disposition::reject, MilterAction::reject},
        // CVE-2019-16378: one From field with two mailboxes in two domains.
        {"one_from_two_domains", spoofer, "attacker.example", "attacker.example",
         "From: <letter@news.example>, <alerts@bank.example>\n", "", 'r',
         "550 5.7.1 rejected by DMARC policy for bank.example", "", "bank.example fail",
         DmarcResult::fail, Disposition::reject, MilterAction::reject},
        // RFC 7489 §6.6.1: no author domain, nothing to evaluate (RequiredFrom off): delivered
        // without our result and without a spool row.
        {"no_from", spoofer, "attacker.example", "attacker.example", "", "", 'd', "", "", "",
         std::nullopt},
        // RFC 8601 §5: a result claiming our authserv-id that came with the message is removed
        // and not believed (its dkim=pass would otherwise align). In this chain OpenDKIM, which
        // shares the authserv-id, strips it before dmarc-milter sees it (see the finding below).
        {"forged_results_removed", spoofer, "attacker.example", "attacker.example",
         "From: <letter@news.example>\n",
         "Authentication-Results: mx.e2e.example; dkim=pass header.d=news.example "
         "header.s=forged\n",
         'd', "", "dmarc=fail (p=none dis=none) header.from=news.example", "news.example fail",
         DmarcResult::fail, Disposition::none, MilterAction::accept},
        // RFC 7489 §6.6.3 / §11.2: SERVFAIL is temperror (never "no policy"); TempFailOnDNSError
        // turns it into 451.
        {"dns_servfail_temperror", spoofer, "attacker.example", "attacker.example",
         "From: <info@flaky.example>\n", "", 't',
         "451 4.7.1 DMARC policy for flaky.example could not be retrieved; try again later", "",
         "flaky.example temperror", DmarcResult::temperror, Disposition::none,
         MilterAction::tempfail},
        // IgnoreHosts: the spoof from an ignored client is not evaluated at all.
        {"ignore_hosts", kIgnoredClient, "relay.example", "attacker.example",
         "From: Bank <alerts@bank.example>\n", "", 'd', "", "", "", std::nullopt},
        // RFC 9989 App. A.6 (PolicyDiscovery treewalk, the default): pct is no longer a tag and
        // is ignored, so p=reject is enforced whatever pct says (t=y is its replacement, below;
        // pct under RFC 7489 is PctZeroDowngradesUnderRfc7489).
        {"pct_ignored_under_rfc9989", spoofer, "attacker.example", "attacker.example",
         "From: <hello@pct.example>\n", "", 'r',
         "550 5.7.1 rejected by DMARC policy for pct.example", "", "pct.example fail",
         DmarcResult::fail, Disposition::reject, MilterAction::reject},
        // RFC 9989 t=y: test mode applies one level down (quarantine -> none).
        {"t_y_downgrades_quarantine", spoofer, "attacker.example", "attacker.example",
         "From: <hello@trial.example>\n", "", 'd', "",
         "dmarc=fail (p=quarantine dis=none) header.from=trial.example", "trial.example fail",
         DmarcResult::fail, Disposition::none, MilterAction::accept},
    };
}

std::string our_results_field(const std::string& delivered) {
    for (const auto& [name, value] : header_fields(delivered)) {
        if (name == "Authentication-Results" && value.find("dmarc=") != std::string::npos) {
            return value;
        }
    }
    return {};
}

void check_case(const Case& c) {
    SCOPED_TRACE(c.name);
    MailChain& mc = chain();
    const std::string token = unique_token(c.name);
    Submission s;
    s.client_ip = c.client_ip;
    s.helo = c.helo;
    s.mail_from = token + "@" + c.mail_domain;
    s.message = message(token, c.from_fields, c.extra_fields);
    const SmtpOutcome o = mc.send(s);
    ASSERT_TRUE(o.connected);

    // 1. The SMTP reply.
    switch (c.outcome) {
        case 'd':
        case 'h':
            EXPECT_EQ(o.code, 250) << o.stage << ": " << o.reply;
            break;
        case 'r':
        case 't':
            EXPECT_EQ(o.stage, "eod");
            EXPECT_EQ(o.reply, c.reply);
            break;
    }
    const std::string qid = o.queue_id.empty() ? queue_id_for(s.mail_from) : o.queue_id;
    ASSERT_FALSE(qid.empty()) << mc.postfix_log();

    // 2. What was delivered, or held.
    std::string delivered;
    if (c.outcome == 'd') {
        delivered = mc.wait_delivered("Message-ID: <" + token + "@");
        ASSERT_FALSE(delivered.empty()) << mc.postfix_log();
        const auto fields = header_fields(delivered);
        if (c.our_header.empty()) {
            EXPECT_EQ(our_results_field(delivered), "") << delivered;
        } else {
            // Ours is the first field of the message (RFC 8601 §5: results go on top), above
            // Postfix's Received.
            ASSERT_FALSE(fields.empty());
            EXPECT_EQ(fields[0].first, "Authentication-Results") << delivered;
            EXPECT_TRUE(fields[0].second.starts_with(std::string(MailChain::kAuthservId) + ";"))
                << fields[0].second;
            EXPECT_NE(fields[0].second.find(c.our_header), std::string::npos) << fields[0].second;
        }
        // Nothing claiming our authserv-id survives unless we (or OpenDKIM here) added it.
        for (const auto& [name, value] : fields) {
            if (name == "Authentication-Results") {
                EXPECT_EQ(value.find("header.s=forged"), std::string::npos) << delivered;
            }
        }
    } else {
        EXPECT_TRUE(mc.wait_delivered("Message-ID: <" + token + "@", 300ms).empty());
    }
    const auto queued = mc.queue();
    const bool held = std::any_of(queued.begin(), queued.end(), [&](const auto& q) {
        return q.queue_id == qid && q.queue_name == "hold";
    });
    EXPECT_EQ(held, c.outcome == 'h') << mc.postfix_command("postqueue", "-p");
    if (held) {
        // The held copy carries our result too (postcat of the queue file).
        const std::string file = mc.postfix_command("postcat", "-h -q " + qid);
        EXPECT_NE(file.find(c.our_header), std::string::npos) << file;
    }

    // 3. The log line, OpenDMARC's shape "<queue-id>: <from-domain> <result>".
    if (!c.log_result.empty()) {
        EXPECT_TRUE(mc.wait_for_milter_log(qid + ": " + c.log_result + "\n")) << qid << "\n"
                                                                              << mc.milter_log();
    } else {
        EXPECT_EQ(mc.milter_log().find(qid + ": " + std::string("bank.example")),
                  std::string::npos);
    }

    // 4. The spool row.
    auto row = spool_row(qid, c.row_result ? 5s : 300ms);
    ASSERT_EQ(row.has_value(), c.row_result.has_value()) << qid;
    if (row) {
        EXPECT_EQ(row->dmarc_result, *c.row_result);
        EXPECT_EQ(row->disposition, c.row_disposition);
        EXPECT_EQ(row->action, c.row_action);
        EXPECT_EQ(row->client_ip, c.client_ip);
        EXPECT_EQ(row->helo, c.helo);
        EXPECT_EQ(row->rfc5321_mail_from, s.mail_from);
        EXPECT_EQ(row->rfc5321_rcpt_to, std::vector<std::string>{s.rcpt_to});
        EXPECT_EQ(row->reporter_host, MailChain::kAuthservId);
    }
}

TEST(EndToEnd, Scenarios) {
    for (const auto& c : cases()) check_case(c);
}

// Postfix keeps one milter connection for a whole SMTP session: between transactions it sends
// ABORT and then MAIL again (milter8.c). Nothing of one transaction may reach the next: not the
// envelope sender SPF was checked for (RFC 7489 §4.1: the RFC 5321.MailFrom of *this* message),
// not the recipients, not a quarantine. From 203.0.113.10, where both aligned.example and
// attacker.example pass SPF: a pass, a spoof rejected at end of data, a transaction reset after
// RCPT with aligned.example as sender, a From: aligned.example sent as attacker.example (must
// fail: the reset sender must not align it), a quarantine, and a pass that must not be held.
TEST(EndToEnd, SeveralMessagesInOneSmtpSession) {
    MailChain& mc = chain();
    const std::string ip = "203.0.113.10";
    const std::string helo = "mx.aligned.example";
    std::vector<std::string> tokens;
    for (int i = 1; i <= 6; ++i) tokens.push_back(unique_token("session-" + std::to_string(i)));
    auto tx = [&](int i, const std::string& mail_domain, const std::string& from_fields) {
        Transaction t;
        t.mail_from = tokens[static_cast<std::size_t>(i - 1)] + "@" + mail_domain;
        t.message = message(tokens[static_cast<std::size_t>(i - 1)], from_fields);
        return t;
    };
    std::vector<Transaction> session{
        tx(1, "aligned.example", "From: <alerts@aligned.example>\n"),
        tx(2, "attacker.example", "From: Bank <alerts@bank.example>\n"),
        tx(3, "aligned.example", ""),
        tx(4, "attacker.example", "From: <alerts@aligned.example>\n"),
        tx(5, "attacker.example", "From: Shop <offers@shop.example>\n"),
        tx(6, "aligned.example", "From: <alerts@aligned.example>\n"),
    };
    session[2].rset = true;
    session[4].rcpt_to = {"ana@dest.example", "bob@dest.example"};
    const auto outcomes = mc.send_session(ip, helo, session);
    ASSERT_EQ(outcomes.size(), session.size());

    struct Want {
        int code;
        std::string reply;       // rejected: the whole reply
        std::string log_result;  // "<from-domain> <result>"
        DmarcResult result;
        Disposition disposition;
        MilterAction action;
        bool held;
    };
    const std::vector<std::optional<Want>> want{
        Want{250, "", "aligned.example pass", DmarcResult::pass, Disposition::none,
             MilterAction::accept, false},
        Want{550, "550 5.7.1 rejected by DMARC policy for bank.example", "bank.example fail",
             DmarcResult::fail, Disposition::reject, MilterAction::reject, false},
        std::nullopt,  // reset after RCPT: never evaluated
        Want{550, "550 5.7.1 rejected by DMARC policy for aligned.example", "aligned.example fail",
             DmarcResult::fail, Disposition::reject, MilterAction::reject, false},
        Want{250, "", "shop.example fail", DmarcResult::fail, Disposition::quarantine,
             MilterAction::quarantine, true},
        Want{250, "", "aligned.example pass", DmarcResult::pass, Disposition::none,
             MilterAction::accept, false},
    };
    const auto queued = mc.queue();
    for (std::size_t i = 0; i < session.size(); ++i) {
        SCOPED_TRACE("transaction " + std::to_string(i + 1));
        const SmtpOutcome& o = outcomes[i];
        ASSERT_TRUE(o.connected);
        if (!want[i]) {
            EXPECT_EQ(o.stage, "rset");
            EXPECT_EQ(o.code, 250) << o.reply;
            continue;
        }
        const Want& w = *want[i];
        EXPECT_EQ(o.code, w.code) << o.stage << ": " << o.reply;
        if (!w.reply.empty()) {
            EXPECT_EQ(o.reply, w.reply);
        }
        const std::string qid =
            o.queue_id.empty() ? queue_id_for(session[i].mail_from) : o.queue_id;
        ASSERT_FALSE(qid.empty()) << mc.postfix_log();
        EXPECT_TRUE(mc.wait_for_milter_log(qid + ": " + w.log_result + "\n")) << mc.milter_log();
        auto row = spool_row(qid);
        ASSERT_TRUE(row) << qid;
        EXPECT_EQ(row->dmarc_result, w.result);
        EXPECT_EQ(row->disposition, w.disposition);
        EXPECT_EQ(row->action, w.action);
        EXPECT_EQ(row->client_ip, ip);
        EXPECT_EQ(row->helo, helo);
        EXPECT_EQ(row->rfc5321_mail_from, session[i].mail_from);
        EXPECT_EQ(row->rfc5321_rcpt_to, session[i].rcpt_to);
        const bool held = std::any_of(queued.begin(), queued.end(), [&](const auto& q) {
            return q.queue_id == qid && q.queue_name == "hold";
        });
        EXPECT_EQ(held, w.held) << mc.postfix_command("postqueue", "-p");
        if (w.code == 250 && !w.held) {
            const std::string delivered = mc.wait_delivered("Message-ID: <" + tokens[i] + "@");
            ASSERT_FALSE(delivered.empty()) << mc.postfix_log();
            EXPECT_NE(our_results_field(delivered).find("dmarc=pass (p=reject dis=none)"),
                      std::string::npos)
                << delivered;
        }
    }
    // The reset transaction left no row (the rows of the later ones are in by now).
    auto reader = io::SpoolReader::open(mc.spool_path());
    ASSERT_TRUE(reader);
    auto batch = reader->read_after(0, 100000);
    ASSERT_TRUE(batch);
    std::size_t rows_of_session = 0;
    for (const auto& e : batch->entries) {
        EXPECT_NE(e.row.rfc5321_mail_from, session[2].mail_from);
        for (const auto& t : session) rows_of_session += e.row.rfc5321_mail_from == t.mail_from;
    }
    EXPECT_EQ(rows_of_session, 5u);
}

TEST(EndToEnd, SubdomainRowNamesTheOrganizationalPolicy) {
    MailChain& mc = chain();
    const std::string token = unique_token("sp-row");
    Submission s{"203.0.113.99", "attacker.example", token + "@attacker.example",
                 "ana@dest.example", message(token, "From: <it@sub.corp.example>\n")};
    ASSERT_EQ(mc.send(s).code, 250);
    auto row = spool_row(queue_id_for(s.mail_from));
    ASSERT_TRUE(row);
    // RFC 7489 §6.6.3: found at the organizational domain; sp= applied.
    EXPECT_EQ(row->policy_domain, "corp.example");
    ASSERT_TRUE(row->policy_applied);
    EXPECT_EQ(*row->policy_applied, Policy::quarantine);
    ASSERT_TRUE(row->record);
}

// RFC 7489 §6.6.4 (PolicyDiscovery psl: the RFC 7489 evaluation): pct=0 is never sampled, so
// p=reject is applied one level down: quarantine, Postfix's hold queue, reason sampled_out.
TEST(EndToEnd, PctZeroDowngradesUnderRfc7489) {
    MailChain& mc = chain();
    std::string error;
    ASSERT_TRUE(mc.reconfigure_milter(
        std::string(kMilterExtra) + "PolicyDiscovery psl\nPublicSuffixList " DMARC_TEST_PSL "\n",
        &error))
        << error;
    const std::string token = unique_token("pct");
    Submission s{"203.0.113.99", "attacker.example", token + "@attacker.example",
                 "ana@dest.example", message(token, "From: <hello@pct.example>\n")};
    const SmtpOutcome o = mc.send(s);
    ASSERT_TRUE(mc.reconfigure_milter(kMilterExtra, &error)) << error;
    ASSERT_EQ(o.code, 250) << o.reply;
    const auto queued = mc.queue();
    EXPECT_TRUE(std::any_of(queued.begin(), queued.end(), [&](const auto& q) {
        return q.queue_id == o.queue_id && q.queue_name == "hold";
    }));
    EXPECT_TRUE(mc.wait_for_milter_log(o.queue_id + ": pct.example fail\n"));
    auto row = spool_row(o.queue_id);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->disposition, Disposition::quarantine);
    EXPECT_EQ(row->action, MilterAction::quarantine);
    ASSERT_TRUE(row->record);
    EXPECT_EQ(row->record->pct, 0);
    EXPECT_EQ(row->override_reasons, std::vector<OverrideReason>{OverrideReason::sampled_out});
}

// RejectString through Postfix: '%%' in the configuration is a literal '%' (OpenDMARC's printf
// convention), and the SMTP client sees the text exactly, though Postfix reads the milter's reply
// as a format ("%%" -> "%", a lone '%' dropped: milter8.c). MilterDebug 2 traces the same
// message in the milter's log, with what Postfix offered at negotiation.
TEST(EndToEnd, RejectStringPercentReachesTheClient) {
    MailChain& mc = chain();
    std::string error;
    ASSERT_TRUE(mc.reconfigure_milter(
        std::string(kMilterExtra) +
            "RejectString DMARC: 100%% sure %s is forged (50%% of 2%%)\nMilterDebug 2\n",
        &error))
        << error;
    const std::string token = unique_token("percent");
    Submission s{"203.0.113.99", "attacker.example", token + "@attacker.example",
                 "ana@dest.example", message(token, "From: Bank <alerts@bank.example>\n")};
    const SmtpOutcome o = mc.send(s);
    const bool traced =
        mc.wait_for_milter_log("eom -> reject DMARC: 100% sure bank.example is forged (50% of 2%)");
    const std::string log = mc.milter_log();
    ASSERT_TRUE(mc.reconfigure_milter(kMilterExtra, &error)) << error;
    EXPECT_EQ(o.stage, "eod");
    EXPECT_EQ(o.reply, "550 5.7.1 DMARC: 100% sure bank.example is forged (50% of 2%)");
    EXPECT_TRUE(traced) << log;
    EXPECT_NE(log.find("milter-debug: connection "), std::string::npos);
    // Postfix 3.7 offers every protocol-6 step (0x1fffff); a reply at MAIL FROM is kept because
    // of IgnoreAuthenticatedClients (kMilterExtra), so no NR_MAIL here.
    EXPECT_NE(log.find("MTA offers actions 0x1ff, steps 0x1fffff; we ask actions 0x131, steps "
                       "0xb3d0 (NOBODY NOEOH NR_HDR NOUNKNOWN NODATA NR_CONN NR_HELO NR_RCPT)"),
              std::string::npos)
        << log;
    EXPECT_NE(log.find("header From (26 bytes)"), std::string::npos) << log;
}

// FailureReports (RFC 9991) through real parts: the spoof is rejected, and its failure report
// goes through Postfix's own sendmail (ReportCommand, the private instance's configuration),
// pickup and the queue to the sink, addressed to the record's ruf.
TEST(EndToEnd, FailureReportThroughPostfixSendmail) {
    MailChain& mc = chain();
    std::string error;
    ASSERT_TRUE(mc.reconfigure_milter(std::string(kMilterExtra) +
                                          "FailureReports true\nReportCommand /usr/sbin/sendmail "
                                          "-C " +
                                          mc.directory() + "/postfix -t -odq\n",
                                      &error))
        << error;
    const std::string token = unique_token("ruf");
    // The envelope names ruf.example too: SPF fails for it, so the report carries SPF-DNS.
    Submission s{"203.0.113.99", "attacker.example", token + "@ruf.example", "ana@dest.example",
                 message(token, "From: Payroll <payroll@ruf.example>\n")};
    const SmtpOutcome o = mc.send(s);
    const std::string report = mc.wait_delivered("Subject: FW: e2e " + token, 20s);
    const std::string log = mc.milter_log();
    ASSERT_TRUE(mc.reconfigure_milter(kMilterExtra, &error)) << error;
    EXPECT_EQ(o.stage, "eod");
    EXPECT_EQ(o.reply, "550 5.7.1 rejected by DMARC policy for ruf.example");
    ASSERT_FALSE(report.empty()) << log << mc.postfix_log();
    EXPECT_NE(report.find("To: dmarc-failures@ruf.example"), std::string::npos) << report;
    EXPECT_NE(report.find("report-type=feedback-report"), std::string::npos) << report;
    EXPECT_NE(report.find("Feedback-Type: auth-failure"), std::string::npos) << report;
    EXPECT_NE(report.find("Source-IP: 203.0.113.99"), std::string::npos) << report;
    EXPECT_NE(report.find("Reported-Domain: ruf.example"), std::string::npos) << report;
    EXPECT_NE(report.find("SPF-DNS: txt : ruf.example : \"v=spf1 ip4:192.0.2.60 -all\""),
              std::string::npos)
        << report;
    EXPECT_NE(report.find("Message-ID: <" + token + "@e2e.example>"), std::string::npos);
    EXPECT_EQ(report.find("payroll@ruf.example"), std::string::npos) << report;  // redacted
    EXPECT_EQ(report.find(token + "@ruf.example"), std::string::npos) << report;
    EXPECT_EQ(report.find("body of " + token), std::string::npos) << report;  // headers only
    EXPECT_NE(log.find("failure report about ruf.example sent to dmarc-failures@ruf.example"),
              std::string::npos)
        << log;
}

// Pass 1 of the DKIM cases: OpenDKIM signs for signed.example (the signing client is an
// InternalHost and SPF-authorised); the signed message is taken from the sink from its
// DKIM-Signature down (OpenDKIM's field, Postfix's Received, the message).
std::string opendkim_signed(const std::string& token) {
    MailChain& mc = chain();
    Submission sign{MailChain::kSigningClient, "mx.signed.example", token + "@signed.example",
                    "ana@dest.example", message(token, "From: Signed <news@signed.example>\n")};
    EXPECT_EQ(mc.send(sign).code, 250);
    const std::string copy = mc.wait_delivered("Message-ID: <" + token + "@");
    const auto at =
        copy.find("DKIM-Signature: v=1; a=rsa-sha256; c=simple/simple; d=signed.example; s=e2e");
    EXPECT_NE(at, std::string::npos) << copy;
    return at == std::string::npos ? std::string() : copy.substr(at);
}

// Pass 2: the signed message from a client SPF does not authorise for signed.example, under a
// foreign envelope sender; the delivered copy that went through relay.example.
std::pair<SmtpOutcome, std::string> resend(const std::string& token, const std::string& text,
                                           const std::string& mail_from) {
    MailChain& mc = chain();
    Submission again{"203.0.113.20", "relay.example", mail_from, "ana@dest.example", text};
    const SmtpOutcome o = mc.send(again);
    std::string delivered;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (o.code == 250 && delivered.empty() && std::chrono::steady_clock::now() < deadline) {
        for (const auto& m : mc.delivered()) {
            if (m.find("Message-ID: <" + token + "@") != std::string::npos &&
                m.find("from relay.example") != std::string::npos) {
                delivered = m;
            }
        }
        std::this_thread::sleep_for(50ms);
    }
    return {o, delivered};
}

// RFC 7489 §3.1.1: DKIM alone aligns. Signed by OpenDKIM, sent again from a client SPF does not
// authorise for the From domain (e2e-notes 1: a relay hop from loopback would pass SPF and hide
// DKIM). OpenDKIM verifies and adds its result; the milter trusts it (our authserv-id, added by
// this MTA) and passes DMARC on DKIM alone.
TEST(EndToEnd, AlignedDkimPassOpenDkimSigned) {
    MailChain& mc = chain();
    const std::string token = unique_token("dkim");
    const std::string signed_text = opendkim_signed(token);
    ASSERT_FALSE(signed_text.empty());
    const std::string mail_from = token + "-resent@attacker.example";
    auto [o, delivered] = resend(token, signed_text, mail_from);
    ASSERT_EQ(o.code, 250) << o.reply;
    ASSERT_FALSE(delivered.empty());
    const auto fields = header_fields(delivered);
    ASSERT_GE(fields.size(), 3u);
    EXPECT_EQ(fields[0].first, "Authentication-Results");
    EXPECT_NE(fields[0].second.find("dmarc=pass (p=reject dis=none) header.from=signed.example"),
              std::string::npos)
        << delivered;
    // The relay is authorised for its own envelope domain: SPF passes, unaligned.
    EXPECT_NE(fields[0].second.find("spf=pass smtp.mailfrom=" + mail_from), std::string::npos)
        << fields[0].second;
    EXPECT_EQ(fields[1].first, "Authentication-Results");
    EXPECT_NE(fields[1].second.find("dkim=pass"), std::string::npos) << fields[1].second;
    EXPECT_NE(fields[1].second.find("header.d=signed.example"), std::string::npos);
    EXPECT_TRUE(mc.wait_for_milter_log(o.queue_id + ": signed.example pass\n")) << mc.milter_log();
    auto row = spool_row(o.queue_id);
    ASSERT_TRUE(row);
    EXPECT_EQ(row->dmarc_result, DmarcResult::pass);
    EXPECT_TRUE(row->dkim_aligned);
    EXPECT_FALSE(row->spf_aligned);
    EXPECT_EQ(row->spf_result, SpfResult::pass);
    ASSERT_EQ(row->dkim.size(), 1u);
    EXPECT_EQ(row->dkim[0].dkim_d, "signed.example");
    EXPECT_EQ(row->dkim[0].dkim_s, "e2e");
    EXPECT_EQ(row->dkim[0].result, DkimResult::pass);
}

// RFC 8601 §5 through the real chain, where the milter cannot tell a forgery from an upstream
// milter's result: Postfix never passes a milter the Received field it adds for this hop
// (milter8.c skips the first header of the queue file), and OpenDKIM's field, inserted below
// that Received, arrives at the top of the same header list as the client's own fields. So a
// forged field with our authserv-id placed above every earlier Received looks exactly like
// OpenDKIM's. With the shared id (tutorial set-up) it is OpenDKIM that must remove it: with
// `RemoveARAll yes` (kOpenDkimExtra) it deletes every field with its id, spf/dmarc-only ones too
// (without it only those with a dkim result: this spf/dmarc forgery was kept, delivered and
// believed). A field naming another queue id is removed by the milter itself. In every variant
// OpenDKIM's own dkim=pass is still trusted (DMARC passes on it) and the forged SPF is not.
TEST(EndToEnd, ForgedResultsAfterAnotherMiltersResult) {
    const std::vector<std::string> forged_ids = {
        "mx.e2e.example",                // the exact id
        "(forged) MX.E2E.Example",       // CFWS and case (ids compare case-insensitively)
        "mx.e2e.example 1",              // RFC 8601 §2.2 authres-version
        "mx.e2e.example/4AFAKEQUEUEID",  // a job id that is not this message's
    };
    for (const auto& id : forged_ids) {
        SCOPED_TRACE(id);
        const std::string token = unique_token("forged-ar");
        std::string text = opendkim_signed(token);
        ASSERT_FALSE(text.empty());
        const std::string mail_from = token + "-resent@attacker.example";
        text.insert(0, "Authentication-Results: " + id +
                           "; spf=pass smtp.mailfrom=forger@signed.example; dmarc=pass "
                           "header.from=signed.example\r\n");
        auto [o, delivered] = resend(token, text, mail_from);
        ASSERT_EQ(o.code, 250) << o.reply;
        ASSERT_FALSE(delivered.empty());
        EXPECT_EQ(delivered.find("smtp.mailfrom=forger@signed.example"), std::string::npos)
            << delivered;
        EXPECT_NE(delivered.find("dmarc=pass (p=reject dis=none) header.from=signed.example"),
                  std::string::npos)
            << delivered;
        auto row = spool_row(o.queue_id);
        ASSERT_TRUE(row);
        EXPECT_EQ(row->dmarc_result, DmarcResult::pass);
        EXPECT_TRUE(row->dkim_aligned);
        EXPECT_FALSE(row->spf_aligned);
        EXPECT_NE(row->spf_domain, "signed.example");
    }
}

// IgnoreAuthenticatedClients (issue 4 §5): through the milter protocol with {auth_authen} at
// MAIL FROM, on the chain's own milter: accepted at MAIL, no changes; without it, rejected.
TEST(EndToEnd, IgnoreAuthenticatedClientsOverTheMilterProtocol) {
    namespace mcl = milter_client;
    MailChain& mc = chain();
    mcl::Message m;
    m.client_ip = "203.0.113.99";
    m.client_host = "attacker.example";
    m.helo = "attacker.example";
    m.mail_from = "auth@attacker.example";
    m.rcpt_to = {"ana@dest.example"};
    m.headers = {{"From", "Bank <alerts@bank.example>"}, {"Subject", "hi"}};
    m.connect_macros = {{"j", MailChain::kAuthservId}};
    m.mail_macros = {{"{auth_authen}", "ana"}, {"{auth_type}", "PLAIN"}};
    m.eom_macros = {{"i", "AUTH01"}};
    auto client = mcl::Client::open(mc.milter_socket());
    ASSERT_TRUE(client) << client.error().message;
    ASSERT_TRUE(client->negotiate());
    EXPECT_FALSE(client->negotiated().no_reply(mcl::proto::kNoReplyMail));
    auto r = client->send_message(m);
    ASSERT_TRUE(r) << r.error().message;
    EXPECT_EQ(r->code, 'a');
    EXPECT_TRUE(r->modifications.empty());
    EXPECT_TRUE(mc.wait_for_milter_log("ignoring authenticated client attacker.example"));

    m.mail_macros.clear();
    m.eom_macros = {{"i", "AUTH02"}};
    auto client2 = mcl::Client::open(mc.milter_socket());
    ASSERT_TRUE(client2 && client2->negotiate());
    auto r2 = client2->send_message(m);
    ASSERT_TRUE(r2);
    EXPECT_EQ(r2->code, 'y');
    EXPECT_EQ(r2->reply, "550 5.7.1 rejected by DMARC policy for bank.example");
    EXPECT_TRUE(spool_row("AUTH02").has_value());
    EXPECT_FALSE(spool_row("AUTH01", 200ms).has_value());
}

// The same through Postfix: XCLIENT LOGIN= sets the SASL login name Postfix sends as
// {auth_authen}; the spoof is then delivered unevaluated.
TEST(EndToEnd, IgnoreAuthenticatedClientsThroughPostfix) {
    MailChain& mc = chain();
    const std::string token = unique_token("login");
    Submission s{"203.0.113.99 LOGIN=ana", "attacker.example", token + "@attacker.example",
                 "ana@dest.example", message(token, "From: Bank <alerts@bank.example>\n")};
    const SmtpOutcome o = mc.send(s);
    ASSERT_EQ(o.code, 250) << o.stage << ": " << o.reply;
    const std::string delivered = mc.wait_delivered("Message-ID: <" + token + "@");
    ASSERT_FALSE(delivered.empty());
    EXPECT_EQ(our_results_field(delivered), "");
    EXPECT_FALSE(spool_row(o.queue_id, 300ms).has_value());
}

}  // namespace
}  // namespace dmarc::e2e
