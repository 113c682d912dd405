// The end-of-message decision over the demo zone and messages (demo/): every kind of policy,
// forged Authentication-Results (RFC 8601 §5), several authors (CVE-2019-16378), np for a
// non-existent subdomain (RFC 9989 §4.7), t=y (RFC 9989 §4.7), DNS SERVFAIL (RFC 7489 §6.6.2),
// a mailing list, and the configuration switches that turn requests into actions.
#include "core/verdict.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <sstream>

#include "core/memory_resolver.hpp"
#include "core/record_cache.hpp"

namespace dmarc {
namespace {

const std::string kDemo = DMARC_TEST_DATA "/../../demo";

std::string slurp(const std::string& path) {
    std::ifstream in(path);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

struct Scenario {
    std::vector<HeaderField> headers;
    Envelope envelope;
};

std::map<std::string, Scenario> load_scenarios() {
    std::map<std::string, Scenario> out;
    std::istringstream lines(slurp(kDemo + "/scenarios.txt"));
    std::string line;
    while (std::getline(lines, line)) {
        if (line.empty() || line[0] == '#') continue;
        std::istringstream fields(line);
        std::string file, ip, helo, mail_from;
        fields >> file >> ip >> helo >> mail_from;
        Scenario s;
        s.headers = parse_header_block(slurp(kDemo + "/messages/" + file));
        s.envelope.client_ip = IpAddress::parse(ip);
        s.envelope.helo = helo;
        s.envelope.mail_from = mail_from;
        s.envelope.queue_id = "Q" + file.substr(0, 2);
        s.envelope.mta_hostname = "mx.demo.example";
        out[file.substr(0, 2)] = s;
    }
    return out;
}

class Verdicts : public ::testing::Test {
  protected:
    void SetUp() override {
        auto z = MemoryResolver::parse(slurp(kDemo + "/zone.txt"));
        ASSERT_TRUE(z.has_value()) << z.error().message;
        zone_ = *z;
        auto loaded = config::parse_milter_config(
            "AuthservID mx.demo.example\nRejectFailures true\nHoldQuarantinedMessages true\n"
            "SPFSelfValidate true\n");
        ASSERT_TRUE(loaded.ok());
        config_ = loaded.config;
        scenarios_ = load_scenarios();
        ASSERT_EQ(scenarios_.size(), 12u);
    }

    MessageVerdict run(const std::string& id) {
        const auto& s = scenarios_.at(id);
        VerdictContext ctx{config_, zone_};
        ctx.now = 1764000000;
        return decide(ctx, s.envelope, s.headers);
    }

    static std::string our_field(const MessageVerdict& v) {
        for (const auto& c : v.header_changes) {
            if (c.kind == HeaderChange::Kind::insert_first && c.name == "Authentication-Results") {
                return c.value;
            }
        }
        return "";
    }

    MemoryResolver zone_;
    config::MilterConfig config_;
    std::map<std::string, Scenario> scenarios_;
};

// RFC 7489 §3.1: an aligned DKIM pass (and an aligned SPF pass) is a DMARC pass.
TEST_F(Verdicts, LegitimateMailPasses) {
    auto v = run("01");
    EXPECT_EQ(v.evaluation.result, DmarcResult::pass);
    EXPECT_EQ(v.action, MilterAction::accept);
    EXPECT_TRUE(v.evaluation.dkim_aligned);
    EXPECT_TRUE(v.evaluation.spf_aligned);
    EXPECT_EQ(v.spf_source, SpfSource::self);
    EXPECT_EQ(our_field(v),
              "mx.demo.example; spf=pass smtp.mailfrom=alerts@bank.example; dmarc=pass (p=reject "
              "dis=none) header.from=bank.example policy.dmarc=reject");
    EXPECT_EQ(v.log_line, "Q01: bank.example pass");
}

// RFC 6376 §3.5, RFC 6591 §3.2 DKIM-Identity: the verifier's header.i is kept for reports when
// its domain is d= or below it; never used to align (d= is the SDID, §3.5 alignment is on d=).
TEST_F(Verdicts, DkimIdentityKeptFromHeaderI) {
    struct Case {
        std::string header_i;  // "" = no header.i
        std::string kept;
    };
    const std::vector<Case> cases = {
        {"", ""},
        {"alerts@bank.example", "alerts@bank.example"},
        {"@Mail.BANK.example", "@mail.bank.example"},  // a subdomain of d, lower-cased
        {"alerts@other.example", ""},                  // not d or below: not believed
        {"\"a b\"@bank.example", ""},  // a space cannot stay one token in a report field
    };
    for (const auto& c : cases) {
        Scenario s = scenarios_.at("01");
        for (auto& h : s.headers) {
            if (h.name == "Authentication-Results") {
                h.value = " mx.demo.example; dkim=pass header.d=bank.example header.s=s2026" +
                          (c.header_i.empty() ? "" : " header.i=" + c.header_i);
            }
        }
        VerdictContext ctx{config_, zone_};
        ctx.now = 1764000000;
        auto v = decide(ctx, s.envelope, s.headers);
        ASSERT_EQ(v.dkim.size(), 1u) << c.header_i;
        EXPECT_EQ(v.dkim[0].dkim_d, "bank.example");
        EXPECT_EQ(v.dkim[0].dkim_i, c.kept) << c.header_i;
        EXPECT_EQ(v.evaluation.result, DmarcResult::pass) << c.header_i;
    }
}

// RFC 7489 §6.6.2 / issue 4: a spoof of a p=reject domain is refused with 550 5.7.1.
TEST_F(Verdicts, SpoofOfRejectDomainIsRejected) {
    auto v = run("02");
    EXPECT_EQ(v.evaluation.result, DmarcResult::fail);
    EXPECT_EQ(v.action, MilterAction::reject);
    EXPECT_EQ(v.reply_code, "550");
    EXPECT_EQ(v.reply_xcode, "5.7.1");
    EXPECT_EQ(v.reply_text, "rejected by DMARC policy for bank.example");
    EXPECT_EQ(v.applied_disposition, Disposition::reject);
    EXPECT_EQ(v.log_line, "Q02: bank.example fail");
}

// RFC 8601 §5, OpenDMARC §8.2 #19: a field claiming our authserv-id that arrived with the
// message is removed and not believed.
TEST_F(Verdicts, ForgedResultsWithOurIdAreRemovedAndIgnored) {
    auto v = run("03");
    EXPECT_EQ(v.forged_results_removed, 1u);
    ASSERT_FALSE(v.header_changes.empty());
    EXPECT_EQ(v.header_changes[0].kind, HeaderChange::Kind::remove);
    EXPECT_EQ(v.header_changes[0].occurrence, 1u);
    EXPECT_TRUE(v.dkim.empty());
    EXPECT_EQ(v.evaluation.result, DmarcResult::fail);
    EXPECT_EQ(v.action, MilterAction::reject);
}

// OpenDMARC with AuthservIDWithJobID writes `id/jobid` unquoted; "/" is an RFC 2045 tspecial,
// so this is not an RFC 8601 §2.2 token, and the parser accepts it in the authserv-id position
// only (auth_results.cpp). RFC 8601 §5: such a field carrying our id that came with the
// message is still a forgery of our results: removed and not believed, option on or off.
TEST_F(Verdicts, ForgedResultsWithOurIdAndJobIdAreRemoved) {
    for (bool with_job_id : {false, true}) {
        config_.authserv_id_with_job_id = with_job_id;
        Scenario s = scenarios_.at("03");
        for (auto& h : s.headers) {
            if (h.name == "Authentication-Results") {
                h.value =
                    " mx.demo.example/4Q1xYz0AbE; dkim=pass header.d=bank.example "
                    "header.s=fake; dmarc=pass header.from=bank.example";
            }
        }
        VerdictContext ctx{config_, zone_};
        ctx.now = 1764000000;
        auto v = decide(ctx, s.envelope, s.headers);
        EXPECT_EQ(v.forged_results_removed, 1u) << with_job_id;
        EXPECT_TRUE(v.dkim.empty()) << with_job_id;
        EXPECT_EQ(v.action, MilterAction::reject) << with_job_id;
    }
}

// RFC 8601 §5 through Postfix: the milter never sees the Received field Postfix adds, so a forgery
// with our id at the very top looks like an upstream milter's. With AuthservIDWithJobID only a
// field naming this message's queue id is ours; a bare id or another queue id is removed.
TEST_F(Verdicts, ForgedResultsAboveEveryReceivedNeedTheJobId) {
    struct Case {
        bool with_job_id;
        std::string suffix;  // appended to our authserv-id; "=" means this message's queue id
        bool trusted;
    };
    // Without AuthservIDWithJobID a field with our id and no job id may be an upstream milter's
    // (OpenDKIM sharing the id), but one naming another queue id cannot come from this hop.
    const Case cases[] = {{true, "", false}, {true, "/OTHERQ", false},  {true, "=", true},
                          {false, "", true}, {false, "/OTHERQ", false}, {false, "=", true}};
    for (const auto& c : cases) {
        config_.authserv_id_with_job_id = c.with_job_id;
        Scenario s = scenarios_.at("03");
        std::erase_if(s.headers,
                      [](const HeaderField& h) { return h.name == "Authentication-Results"; });
        std::string id =
            "mx.demo.example" + (c.suffix == "=" ? "/" + s.envelope.queue_id : c.suffix);
        s.headers.insert(s.headers.begin(),
                         HeaderField{"Authentication-Results",
                                     " " + id + "; dkim=pass header.d=bank.example header.s=fake"});
        VerdictContext ctx{config_, zone_};
        ctx.now = 1764000000;
        auto v = decide(ctx, s.envelope, s.headers);
        EXPECT_EQ(v.forged_results_removed, c.trusted ? 0u : 1u) << id;
        EXPECT_EQ(!v.dkim.empty(), c.trusted) << id;
        EXPECT_EQ(v.action, c.trusted ? MilterAction::accept : MilterAction::reject) << id;
    }
}

// TrustedAuthservIDs against an upstream OpenDMARC-style `id/jobid`: the id before the '/' is
// what is matched; with AuthservIDWithJobID the job id must also be this message's queue id
// (OpenDMARC §1.1), without it the job id is not compared.
TEST_F(Verdicts, TrustedAuthservIdWithJobId) {
    struct Case {
        bool with_job_id;
        std::string job;
        bool trusted;
    };
    const Case cases[] = {
        {true, "Q02", true}, {true, "q02", true}, {true, "OTHER", false}, {false, "OTHER", true}};
    for (const auto& c : cases) {
        config_.authserv_id_with_job_id = c.with_job_id;
        config_.trusted_authserv_ids = {"mx.demo.example", "relay.upstream.example"};
        Scenario s = scenarios_.at("02");
        s.headers.insert(s.headers.begin(),
                         HeaderField{"Authentication-Results",
                                     " Relay.Upstream.Example/" + c.job +
                                         "; dkim=pass header.d=bank.example header.s=sel"});
        VerdictContext ctx{config_, zone_};
        ctx.now = 1764000000;
        auto v = decide(ctx, s.envelope, s.headers);
        EXPECT_EQ(v.forged_results_removed, 0u) << c.job;
        EXPECT_EQ(!v.dkim.empty(), c.trusted) << c.with_job_id << " " << c.job;
        EXPECT_EQ(v.evaluation.result, c.trusted ? DmarcResult::pass : DmarcResult::fail)
            << c.with_job_id << " " << c.job;
    }
}

TEST_F(Verdicts, SpfThroughIncludeAligns) {
    auto v = run("04");
    EXPECT_EQ(v.evaluation.result, DmarcResult::pass);
    ASSERT_TRUE(v.spf.has_value());
    EXPECT_EQ(v.spf->result, SpfResult::pass);
    EXPECT_TRUE(v.evaluation.spf_aligned);
}

// adkim=s (RFC 7489 §3.1.1): d=mailer.shop.example is not aligned with shop.example.
TEST_F(Verdicts, StrictDkimAlignmentQuarantines) {
    auto v = run("05");
    EXPECT_EQ(v.evaluation.result, DmarcResult::fail);
    EXPECT_FALSE(v.evaluation.dkim_aligned);
    EXPECT_EQ(v.action, MilterAction::quarantine);
    EXPECT_EQ(v.quarantine_reason, "quarantined by DMARC policy for shop.example");
}

// p=none (RFC 9989 §5.4: MUST NOT change handling): delivered with our header.
TEST_F(Verdicts, PolicyNoneFailureIsDeliveredMarked) {
    auto v = run("06");
    EXPECT_EQ(v.evaluation.result, DmarcResult::fail);
    EXPECT_EQ(v.action, MilterAction::accept);
    EXPECT_NE(our_field(v).find("dmarc=fail (p=none dis=none) header.from=news.example"),
              std::string::npos);
}

// RFC 9989 §4.7 np: helpdesk.corp.example does not exist (NXDOMAIN).
TEST_F(Verdicts, NonExistentSubdomainGetsNp) {
    auto v = run("07");
    EXPECT_EQ(v.evaluation.applied_policy_tag, PolicyTag::np);
    EXPECT_EQ(v.action, MilterAction::reject);
    EXPECT_EQ(v.reply_text, "rejected by DMARC policy for corp.example");
}

TEST_F(Verdicts, ExistingSubdomainGetsSp) {
    auto v = run("08");
    EXPECT_EQ(v.evaluation.applied_policy_tag, PolicyTag::sp);
    EXPECT_EQ(v.action, MilterAction::quarantine);
}

// RFC 9989 §4.7 t=y: one level down, reported as policy_test_mode.
TEST_F(Verdicts, TestModeAppliesOneLevelDown) {
    auto v = run("09");
    EXPECT_EQ(v.action, MilterAction::quarantine);
    EXPECT_NE(std::find(v.applied_overrides.begin(), v.applied_overrides.end(),
                        OverrideReason::policy_test_mode),
              v.applied_overrides.end());
}

// CVE-2019-16378: a DKIM pass for one author must not make the other pass.
TEST_F(Verdicts, Cve_2019_16378_TwoAuthorsStrictestWins) {
    auto v = run("10");
    EXPECT_EQ(v.author_domains.size(), 2u);
    EXPECT_EQ(v.evaluation.result, DmarcResult::fail);
    EXPECT_EQ(v.action, MilterAction::reject);
    EXPECT_EQ(v.reply_text, "rejected by DMARC policy for bank.example");
    // The header and the log name the author whose result decided, whatever its position.
    Scenario s = scenarios_.at("10");
    for (auto& f : s.headers) {
        if (f.name == "From")
            f.value = "News <letter@news.example>, Support <support@bank.example>";
    }
    VerdictContext ctx(config_, zone_);
    v = decide(ctx, s.envelope, s.headers);
    EXPECT_EQ(v.log_line, "Q10: bank.example fail");
    EXPECT_NE(our_field(v).find("header.from=bank.example"), std::string::npos);
}

// OpenDMARC §8.2 #10: SERVFAIL is temperror, accepted by default, 451 on request.
TEST_F(Verdicts, DnsFailureIsTemperror) {
    auto v = run("11");
    EXPECT_EQ(v.evaluation.result, DmarcResult::temperror);
    EXPECT_EQ(v.action, MilterAction::accept);
    EXPECT_NE(our_field(v).find("dmarc=temperror"), std::string::npos);
    config_.tempfail_on_dns_error = true;
    v = run("11");
    EXPECT_EQ(v.action, MilterAction::tempfail);
    EXPECT_EQ(v.reply_code, "451");
}

TEST_F(Verdicts, MailingListBreaksAlignmentButPNoneDelivers) {
    auto v = run("12");
    EXPECT_EQ(v.evaluation.result, DmarcResult::fail);
    EXPECT_EQ(v.dkim.size(), 2u);
    EXPECT_EQ(v.action, MilterAction::accept);
}

// Without RejectFailures / HoldQuarantinedMessages, the request is recorded, not enacted, and
// the report reason says why (RFC 7489 App. C local_policy).
TEST_F(Verdicts, EnforcementIsALocalDecision) {
    config_.reject_failures = false;
    config_.hold_quarantined_messages = false;
    auto v = run("02");
    EXPECT_EQ(v.action, MilterAction::accept);
    EXPECT_EQ(v.applied_disposition, Disposition::none);
    EXPECT_NE(std::find(v.applied_overrides.begin(), v.applied_overrides.end(),
                        OverrideReason::local_policy),
              v.applied_overrides.end());
    EXPECT_NE(our_field(v).find("(p=reject dis=none)"), std::string::npos);
    // HoldQuarantinedMessages alone holds (OpenDMARC §8.2 #25: it needed RejectFailures).
    config_.hold_quarantined_messages = true;
    EXPECT_EQ(run("05").action, MilterAction::quarantine);
}

TEST_F(Verdicts, RejectStringAndCopyFailuresTo) {
    config_.reject_string = "DMARC: %s says no";
    config_.copy_failures_to = "dmarc-copies@demo.example";
    auto v = run("02");
    EXPECT_EQ(v.reply_text, "DMARC: bank.example says no");
    EXPECT_EQ(v.add_recipient, "dmarc-copies@demo.example");
    EXPECT_TRUE(run("06").add_recipient.empty());  // p=none: nothing to copy
}

TEST_F(Verdicts, FromFieldProblems) {
    Scenario s = scenarios_.at("02");
    auto with_from = [&](std::vector<HeaderField> extra_or_replacement, bool replace) {
        Scenario t = s;
        if (replace) {
            t.headers.erase(std::remove_if(t.headers.begin(), t.headers.end(),
                                           [](const HeaderField& f) { return f.name == "From"; }),
                            t.headers.end());
        }
        for (auto& f : extra_or_replacement) t.headers.push_back(f);
        VerdictContext ctx{config_, zone_};
        return decide(ctx, t.envelope, t.headers);
    };
    // No From: not evaluated (or rejected with RequiredFrom).
    auto v = with_from({}, true);
    EXPECT_FALSE(v.evaluated);
    EXPECT_EQ(v.action, MilterAction::accept);
    // Two From fields (RFC 5322 §3.6 allows one): both domains are evaluated.
    v = with_from({{"From", "a@news.example"}}, false);
    EXPECT_EQ(v.author_domains.size(), 2u);
    EXPECT_EQ(v.action, MilterAction::reject);
    // "From :" (obs-from) is a From field too.
    v = with_from({{"From ", "a@news.example"}}, true);
    EXPECT_EQ(v.author_domains, std::vector<std::string>{"news.example"});
    // OpenDMARC §8.2 #3: "user@victim>" is not a From we can evaluate: permerror, never none.
    v = with_from({{"From", "user@bank.example>"}}, true);
    EXPECT_EQ(v.evaluation.result, DmarcResult::permerror);
    config_.required_from = true;
    v = with_from({{"From", "user@bank.example>"}}, true);
    EXPECT_EQ(v.action, MilterAction::reject);
    v = with_from({}, true);
    EXPECT_EQ(v.action, MilterAction::reject);
    config_.required_from = false;
    config_.reject_multi_value_from = true;
    v = with_from({{"From", "a@bank.example, b@news.example"}}, true);
    EXPECT_EQ(v.action, MilterAction::reject);
}

TEST_F(Verdicts, RequiredHeadersCountsFields) {
    config_.required_headers = true;
    auto v = run("01");  // the demo messages have one From and one Date
    EXPECT_EQ(v.action, MilterAction::accept);
    Scenario s = scenarios_.at("01");
    s.headers.push_back({"Subject", "second subject"});
    VerdictContext ctx{config_, zone_};
    v = decide(ctx, s.envelope, s.headers);
    EXPECT_EQ(v.action, MilterAction::reject);
    EXPECT_NE(v.reply_text.find("Subject"), std::string::npos);
}

// IgnoreMailFrom matches subdomains too (opendmarc.md §1.2 notes OpenDMARC does not).
TEST_F(Verdicts, IgnoreMailFromCoversSubdomains) {
    config_.ignore_mail_from = {"corp.example"};
    EXPECT_FALSE(run("07").evaluated);
    EXPECT_TRUE(run("02").evaluated);
}

// CVE-2019-20790: a trusted upstream SPF pass for the HELO identity does not count for a
// non-null MAIL FROM; OpenDMARC §8.2 #1: smtp.mailfrom as an address matches.
TEST_F(Verdicts, UpstreamSpfResultsAreMatchedToTheEnvelope) {
    config_.spf_self_validate = false;
    Scenario s = scenarios_.at("02");
    s.envelope.mail_from = "bounce@bank.example";
    auto decide_with = [&](const std::string& ar) {
        Scenario t = s;
        t.headers.insert(t.headers.begin(), {"Authentication-Results", ar});
        VerdictContext ctx{config_, zone_};
        return decide(ctx, t.envelope, t.headers);
    };
    auto v = decide_with("mx.demo.example; spf=pass smtp.helo=bank.example");
    EXPECT_FALSE(v.spf.has_value());
    EXPECT_EQ(v.evaluation.result, DmarcResult::fail);
    v = decide_with("mx.demo.example; spf=pass smtp.mailfrom=bounce@bank.example");
    ASSERT_TRUE(v.spf.has_value());
    EXPECT_EQ(v.spf_source, SpfSource::authentication_results);
    EXPECT_EQ(v.evaluation.result, DmarcResult::pass);
    // An untrusted authserv-id is ignored.
    v = decide_with("elsewhere.example; spf=pass smtp.mailfrom=bounce@bank.example");
    EXPECT_FALSE(v.spf.has_value());
}

TEST_F(Verdicts, HistoryRecordMatchesOpenDmarcShape) {
    auto v = run("02");
    ASSERT_TRUE(should_record(v, config_));
    auto r = to_history_record(v, scenarios_.at("02").envelope, 1764000000);
    EXPECT_EQ(r.job, "Q02");
    EXPECT_EQ(r.from, "bank.example");
    EXPECT_EQ(r.mfrom, "attacker.example");
    EXPECT_EQ(r.pdomain, "bank.example");
    EXPECT_EQ(r.policy, history_policy::kReject);
    EXPECT_EQ(r.action, history_action::kReject);
    EXPECT_EQ(r.p, 'r');
    EXPECT_EQ(r.align_spf, 5);
    auto text = to_history_text(r);
    auto back = parse_history_text(text);
    EXPECT_TRUE(back.issues.empty());
    ASSERT_EQ(back.records.size(), 1u);
    // twice.example-style "no policy" is not recorded unless RecordAllMessages.
    EXPECT_FALSE(should_record(MessageVerdict{}, config_));
}

// Issue 4 item 4: every evaluated message becomes one spool row with the whole evaluation.
TEST_F(Verdicts, SpoolRowHoldsTheWholeEvaluation) {
    auto env = scenarios_.at("07").envelope;
    env.rcpt_to = {"ana@demo.example"};
    auto v = run("07");
    auto row = to_spool_row(v, env, 1764000123);
    EXPECT_EQ(row.time, 1764000123);
    EXPECT_EQ(row.queue_id, "Q07");
    EXPECT_EQ(row.reporter_host, "mx.demo.example");
    EXPECT_EQ(row.client_ip, "203.0.113.99");
    EXPECT_EQ(row.rfc5321_mail_from, "it@helpdesk.corp.example");
    EXPECT_EQ(row.rfc5321_rcpt_to, std::vector<std::string>{"ana@demo.example"});
    EXPECT_EQ(row.rfc5322_from_domain, "helpdesk.corp.example");
    EXPECT_EQ(row.policy_domain, "corp.example");
    EXPECT_EQ(row.discovery_method, DiscoveryMethod::treewalk);
    ASSERT_TRUE(row.record.has_value());
    EXPECT_EQ(row.record->p, Policy::reject);
    EXPECT_EQ(row.record->np, Policy::reject);
    EXPECT_EQ(row.record->rua, std::vector<std::string>{"mailto:dmarc@corp.example"});
    EXPECT_EQ(row.record->ri, 86400u);  // RFC 7489 §6.3: not published, the default
    EXPECT_EQ(row.spf_result, SpfResult::none);
    EXPECT_EQ(row.dmarc_result, DmarcResult::fail);
    EXPECT_EQ(row.policy_applied, Policy::reject);
    EXPECT_EQ(row.disposition, Disposition::reject);
    EXPECT_EQ(row.action, MilterAction::reject);
    EXPECT_FALSE(row.is_report);
    // ri= as published reaches the spool row (dmarc-reporter's period length follows it).
    {
        std::string zone = slurp(kDemo + "/zone.txt");
        const std::string record = "rua=mailto:dmarc@corp.example\"";
        const auto at = zone.find(record);
        ASSERT_NE(at, std::string::npos);
        zone.replace(at, record.size(), "rua=mailto:dmarc@corp.example; ri=7200\"");
        auto with_ri = MemoryResolver::parse(zone);
        ASSERT_TRUE(with_ri);
        VerdictContext ctx(config_, *with_ri);
        ctx.now = 1764000000;
        const Scenario& s07 = scenarios_.at("07");
        auto hourly = to_spool_row(decide(ctx, s07.envelope, s07.headers), s07.envelope, 1);
        ASSERT_TRUE(hourly.record);
        EXPECT_EQ(hourly.record->ri, 7200u);
    }
    // A message from a domain without a policy is still a row (no record, result none).
    auto none = to_spool_row(run("06"), scenarios_.at("06").envelope, 1);
    EXPECT_TRUE(none.record.has_value());
    Scenario s = scenarios_.at("01");
    for (auto& f : s.headers) {
        if (f.name == "From") f.value = "someone@nopolicy.example";
        if (f.name == "Subject") f.value = "Report Domain: bank.example Submitter: x Report-ID: 1";
    }
    VerdictContext ctx(config_, zone_);
    auto row2 = to_spool_row(decide(ctx, s.envelope, s.headers), s.envelope, 1);
    EXPECT_FALSE(row2.record.has_value());
    EXPECT_EQ(row2.dmarc_result, DmarcResult::none);
    EXPECT_TRUE(row2.is_report);
}

// A RecordParseCache (core/record_cache.hpp) only saves parsing: the milter's shared parses
// must give every message the verdict it gets when its records are parsed for it (RFC 7489
// §6.6.3 record selection and RFC 7208 §4.5-§4.6 are functions of the TXT text alone).
class CountingParseCache final : public RecordParseCache {
  public:
    std::shared_ptr<const RecordResult> dmarc(std::string_view text) override {
        ++dmarc_calls;
        auto [it, added] = dmarc_.try_emplace(std::string(text));
        if (added) it->second = std::make_shared<const RecordResult>(parse_dmarc_record(text));
        return it->second;
    }
    std::shared_ptr<const Result<SpfRecord>> spf(std::string_view text) override {
        ++spf_calls;
        auto [it, added] = spf_.try_emplace(std::string(text));
        if (added) it->second = std::make_shared<const Result<SpfRecord>>(parse_spf_record(text));
        return it->second;
    }
    std::size_t distinct() const { return dmarc_.size() + spf_.size(); }
    std::size_t dmarc_calls = 0;
    std::size_t spf_calls = 0;

  private:
    std::map<std::string, std::shared_ptr<const RecordResult>, std::less<>> dmarc_;
    std::map<std::string, std::shared_ptr<const Result<SpfRecord>>, std::less<>> spf_;
};

TEST_F(Verdicts, SharedRecordParsesGiveTheSameVerdicts) {
    CountingParseCache cache;
    for (int round = 0; round < 2; ++round) {  // the second round is all cache hits
        for (const auto& [id, s] : scenarios_) {
            SCOPED_TRACE(id + " round " + std::to_string(round));
            VerdictContext plain{config_, zone_};
            plain.now = 1764000000;
            VerdictContext shared{config_, zone_};
            shared.now = 1764000000;
            shared.records = &cache;
            const MessageVerdict a = decide(plain, s.envelope, s.headers);
            const MessageVerdict b = decide(shared, s.envelope, s.headers);
            EXPECT_EQ(a.log_line, b.log_line);
            EXPECT_EQ(a.detail_line, b.detail_line);
            EXPECT_EQ(our_field(a), our_field(b));
            EXPECT_EQ(a.action, b.action);
            EXPECT_EQ(a.reply_text, b.reply_text);
            EXPECT_EQ(a.evaluation.trace, b.evaluation.trace);
            EXPECT_TRUE(to_spool_row(a, s.envelope, 1) == to_spool_row(b, s.envelope, 1));
        }
    }
    // Both kinds were read through the cache (the demo has SPF self-validation on), and the
    // second round added no parse.
    EXPECT_GT(cache.dmarc_calls, 0u);
    EXPECT_GT(cache.spf_calls, 0u);
    EXPECT_LT(cache.distinct(), (cache.dmarc_calls + cache.spf_calls) / 2 + 1);
}

// The two log lines of every decided message (what OpenDMARC's "<qid>: <domain> <result>"
// line became, and the detail line operators grep), pinned for every demo scenario: the SPF
// source, several DKIM results, an override (RFC 9989 §4.7 t=y), a note, no policy domain.
TEST_F(Verdicts, LogLinesOfEveryScenario) {
    struct Case {
        std::string id, log_line, detail_line;
    };
    const std::vector<Case> cases = {
        {"01", "Q01: bank.example pass",
         "Q01: dmarc=pass from=bank.example policy_domain=bank.example policy=reject "
         "disposition=none action=accept spf=pass(self:bank.example) dkim=bank.example:pass "
         "aligned=spf:yes,dkim:yes"},
        {"02", "Q02: bank.example fail",
         "Q02: dmarc=fail from=bank.example policy_domain=bank.example policy=reject "
         "disposition=reject action=reject spf=none(self:attacker.example) dkim=none "
         "aligned=spf:no,dkim:no"},
        {"03", "Q03: bank.example fail",
         "Q03: dmarc=fail from=bank.example policy_domain=bank.example policy=reject "
         "disposition=reject action=reject spf=none(self:attacker.example) dkim=none "
         "aligned=spf:no,dkim:no note=\"removed 1 forged Authentication-Results field(s)\""},
        {"04", "Q04: shop.example pass",
         "Q04: dmarc=pass from=shop.example policy_domain=shop.example policy=quarantine "
         "disposition=none action=accept spf=pass(self:shop.example) dkim=none "
         "aligned=spf:yes,dkim:no"},
        {"05", "Q05: shop.example fail",
         "Q05: dmarc=fail from=shop.example policy_domain=shop.example policy=quarantine "
         "disposition=quarantine action=quarantine spf=softfail(self:shop.example) "
         "dkim=mailer.shop.example:pass aligned=spf:no,dkim:no"},
        {"06", "Q06: news.example fail",
         "Q06: dmarc=fail from=news.example policy_domain=news.example policy=none "
         "disposition=none action=accept spf=fail(self:news.example) dkim=none "
         "aligned=spf:no,dkim:no"},
        {"07", "Q07: helpdesk.corp.example fail",
         "Q07: dmarc=fail from=helpdesk.corp.example policy_domain=corp.example policy=reject "
         "disposition=reject action=reject spf=none(self:helpdesk.corp.example) dkim=none "
         "aligned=spf:no,dkim:no"},
        {"08", "Q08: mail.corp.example fail",
         "Q08: dmarc=fail from=mail.corp.example policy_domain=corp.example policy=quarantine "
         "disposition=quarantine action=quarantine spf=fail(self:mail.corp.example) dkim=none "
         "aligned=spf:no,dkim:no"},
        {"09", "Q09: trial.example fail",
         "Q09: dmarc=fail from=trial.example policy_domain=trial.example policy=reject "
         "disposition=quarantine action=quarantine spf=fail(self:trial.example) dkim=none "
         "aligned=spf:no,dkim:no override=policy_test_mode"},
        {"10", "Q10: bank.example fail",
         "Q10: dmarc=fail from=bank.example policy_domain=bank.example policy=reject "
         "disposition=reject action=reject spf=none(self:attacker.example) dkim=news.example:pass "
         "aligned=spf:no,dkim:no"},
        {"11", "Q11: flaky.example temperror",
         "Q11: dmarc=temperror from=flaky.example policy_domain=- policy=- disposition=none "
         "action=accept spf=none(self:flaky.example) dkim=none aligned=spf:no,dkim:no"},
        {"12", "Q12: news.example fail",
         "Q12: dmarc=fail from=news.example policy_domain=news.example policy=none "
         "disposition=none action=accept spf=pass(self:lists.example) "
         "dkim=news.example:fail,lists.example:pass aligned=spf:no,dkim:no"},
    };
    ASSERT_EQ(cases.size(), scenarios_.size());
    for (const auto& c : cases) {
        SCOPED_TRACE(c.id);
        auto v = run(c.id);
        EXPECT_EQ(v.log_line, c.log_line);
        EXPECT_EQ(v.detail_line, c.detail_line);
    }
    // No SPF result at all (no upstream result, no self-validation).
    config_.spf_self_validate = false;
    EXPECT_EQ(
        run("01").detail_line,
        "Q01: dmarc=pass from=bank.example policy_domain=bank.example policy=reject "
        "disposition=none action=accept spf=none dkim=bank.example:pass aligned=spf:no,dkim:yes");
}

}  // namespace
}  // namespace dmarc
