// DMARC evaluation (core/policy.hpp): Identifier Alignment (RFC 7489 §3.1, RFC 9989 §4.4),
// pass/fail/temperror (RFC 7489 §6.6.2, RFC 9989 §5.3.5-5.3.6), p/sp/np (RFC 9989 §4.10.1),
// pct (RFC 7489 §6.6.4), t=y (RFC 9989 §4.7), multiple authors (RFC 9989 §5.3.1, §11.5), and
// every alignment.jsonl vector. Policy records are built as structs, or parsed by record.cpp.
#include <gtest/gtest.h>

#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <sstream>

#include "core/limits.hpp"
#include "core/org_domain.hpp"
#include "core/policy.hpp"
#include "core/record.hpp"
#include "core/types.hpp"
#include "tests/support/psl_snapshot.hpp"

namespace dmarc {
namespace {

// An Organizational Domain oracle for tests that need tree-walk answers or DNS failures
// without DNS: domain -> answer; anything else is its own Organizational Domain (what the
// tree walk gives a name with no DMARC record above it, RFC 9989 §4.10.2 last paragraph).
class TableFinder final : public OrgDomainFinder {
  public:
    std::map<std::string, OrgDomainAnswer> table;
    std::vector<std::string> asked;
    OrgDomainAnswer find(std::string_view domain) override {
        asked.emplace_back(domain);
        auto it = table.find(std::string(domain));
        if (it != table.end()) return it->second;
        return {OrgDomainAnswer::Status::found, std::string(domain)};
    }
    DiscoveryMethod method() const noexcept override { return DiscoveryMethod::treewalk; }
};

OrgDomainAnswer found(std::string d) {
    return {OrgDomainAnswer::Status::found, std::move(d)};
}
OrgDomainAnswer temperror_answer() {
    return {OrgDomainAnswer::Status::temperror, {}};
}

DmarcRecord record(Policy p) {
    DmarcRecord r;
    r.p = p;
    return r;
}

PolicyDiscovery found_at(std::string author, std::string policy_domain, DmarcRecord r,
                         PolicySource source = PolicySource::author) {
    PolicyDiscovery d;
    d.rfc5322_from_domain = std::move(author);
    d.status = DiscoveryStatus::found;
    d.policy_domain = std::move(policy_domain);
    d.source = source;
    d.record = std::make_shared<const DmarcRecord>(std::move(r));
    return d;
}

// Sets one tag of the record a discovery holds. Records are shared and const: the discovery gets
// a changed copy.
template <class T, class V>
void set_tag(PolicyDiscovery& d, T DmarcRecord::*member, V value) {
    auto changed = std::make_shared<DmarcRecord>(*d.record);
    (*changed).*member = static_cast<T>(value);
    d.record = std::move(changed);
}

EvaluationInput message(std::vector<std::string> from, std::vector<PolicyDiscovery> discoveries,
                        EvaluationMode mode = EvaluationMode::rfc9989) {
    EvaluationInput in;
    in.rfc5322_from_domains = std::move(from);
    in.discoveries = std::move(discoveries);
    in.mode = mode;
    return in;
}

DkimAuthResult dkim(std::string d, DkimResult result = DkimResult::pass) {
    return {std::move(d), "s1", result, ""};
}

SpfAuthResult spf(std::string domain, SpfResult result = SpfResult::pass,
                  SpfScope scope = SpfScope::mfrom, bool null_sender = false) {
    SpfAuthResult s;
    s.domain = std::move(domain);
    s.result = result;
    s.scope = scope;
    s.null_reverse_path = null_sender;
    return s;
}

// ---- alignment.jsonl --------------------------------------------------------------------------

// Cases whose peer expectation differs from the RFC, with the reason. The test asserts OUR
// answer (the opposite of the vector's) for each.
const std::map<std::string, std::string> kAlignmentExceptions = {
    {"opendmarc-align-5",
     "'.mac.com.' has an empty first label: not a domain name (RFC 1035 §2.3.1 <label> is "
     "1*63 chars; RFC 9989 §5.3.1 extracts a domain). OpenDMARC strips leading dots; a name "
     "that is not a domain never aligns here."},
    {"opendmarc-align-6",
     "'....mac.com....' has empty labels: not a domain name (RFC 1035 §2.3.1), never aligned."},
};

TEST(Alignment, VectorsFromAlignmentJsonl) {
    std::istringstream in(
        test::read_text(std::string(DMARC_TEST_DATA) + "/dmarc-eval/alignment.jsonl"));
    std::string line;
    int passed = 0, excepted = 0, full_record = 0, total = 0;
    PslOrgDomainFinder finder(test::psl_snapshot());
    while (std::getline(in, line)) {
        if (line.empty()) continue;
        auto v = nlohmann::json::parse(line);
        const std::string id = v.at("id");
        ++total;
        SCOPED_TRACE(id);
        if (v.contains("dmarc_record")) {
            // mail-auth verify.rs: a whole record, SPF and DKIM results -> per-mechanism
            // aligned pass and the policy (RFC 7489 §6.6.2, RFC 9989 §5.3.5).
            auto parsed = parse_dmarc_record(v.at("dmarc_record").get<std::string>());
            ASSERT_TRUE(parsed.has_value());
            const std::string author = v.at("header_from");
            auto msg =
                message({author}, {found_at(author, author, *parsed)}, EvaluationMode::rfc7489);
            if (v.contains("spf_domain")) {
                msg.spf = spf(v.at("spf_domain"),
                              *parse_spf_result(v.at("spf_result").get<std::string>()));
            }
            for (const auto& sig : v.at("dkim")) {
                std::string result = sig.at("result");
                msg.dkim.push_back(
                    dkim(sig.at("d"), *parse_dkim_result(result.substr(0, result.find(' ')))));
            }
            Evaluation e = evaluate(msg, finder);
            bool want_dkim = v.at("expect_dkim") == "pass";
            bool want_spf = v.at("expect_spf") == "pass";
            bool ok = e.dkim_aligned == want_dkim && e.spf_aligned == want_spf &&
                      e.applied_policy == parse_policy(v.at("policy").get<std::string>()) &&
                      e.result == (want_dkim || want_spf ? DmarcResult::pass : DmarcResult::fail);
            EXPECT_TRUE(ok) << e.trace;
            if (ok) ++passed;
            ++full_record;
            continue;
        }
        std::optional<bool> expected;
        bool got = false;
        if (v.contains("domain_a")) {
            // OpenDMARC test_alignment.c: two names and a mode (RFC 7489 §3.1).
            AlignMode mode = v.at("mode") == "s" ? AlignMode::strict : AlignMode::relaxed;
            got = check_alignment(v.at("domain_a").get<std::string>(),
                                  v.at("domain_b").get<std::string>(), mode,
                                  finder) == Alignment::aligned;
            expected = v.at("aligned").get<bool>();
        } else if (v.contains("authenticated_identifier")) {
            // RFC 9989 §4.4 Table 1: "strict" aligns in both modes, "relaxed" only relaxed.
            const std::string id_domain = v.at("authenticated_identifier");
            const std::string author = v.at("author_domain");
            const std::string kind = v.at("alignment");
            bool strict =
                check_alignment(author, id_domain, AlignMode::strict, finder) == Alignment::aligned;
            bool relaxed = check_alignment(author, id_domain, AlignMode::relaxed, finder) ==
                           Alignment::aligned;
            std::string ours = strict ? "strict" : relaxed ? "relaxed" : "none";
            EXPECT_EQ(ours, kind);
            if (ours == kind) ++passed;
            continue;
        } else {
            // Mail::DMARC / RFC 7489 §3.1.1-3.1.2 examples: any pass that aligns.
            const std::string author = v.at("header_from");
            if (v.contains("spf_domain")) {
                AlignMode mode =
                    v.value("aspf", "r") == "s" ? AlignMode::strict : AlignMode::relaxed;
                got = v.at("spf_result") == "pass" &&
                      check_alignment(author, v.at("spf_domain").get<std::string>(), mode,
                                      finder) == Alignment::aligned;
            } else {
                AlignMode mode =
                    v.value("adkim", "r") == "s" ? AlignMode::strict : AlignMode::relaxed;
                for (const auto& sig : v.at("dkim")) {
                    if (sig.at("result") != "pass") continue;
                    if (check_alignment(author, sig.at("d").get<std::string>(), mode, finder) ==
                        Alignment::aligned) {
                        got = true;
                    }
                }
            }
            expected = v.at("aligned").get<bool>();
        }
        if (auto ex = kAlignmentExceptions.find(id); ex != kAlignmentExceptions.end()) {
            EXPECT_EQ(got, !*expected) << "exception no longer differs: " << ex->second;
            ++excepted;
            continue;
        }
        EXPECT_EQ(got, *expected);
        if (got == *expected) ++passed;
    }
    EXPECT_EQ(total, 31);
    EXPECT_EQ(passed, 29);
    EXPECT_EQ(excepted, 2);
    EXPECT_EQ(full_record, 4);
    RecordProperty("alignment_vectors_passed", passed);
    RecordProperty("alignment_vectors_excepted", excepted);
}

// RFC 7489 §3.1.1: "d=com would never allow an in-alignment result"; identical names are in
// strict alignment ("exact match between both FQDNs"), so they align in relaxed mode too —
// even a public suffix (policy.hpp explains the choice).
TEST(Alignment, PublicSuffixAlignsOnlyWithItself) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    EXPECT_EQ(check_alignment("example.com", "com", AlignMode::relaxed, finder),
              Alignment::not_aligned);
    EXPECT_EQ(check_alignment("com", "example.com", AlignMode::relaxed, finder),
              Alignment::not_aligned);
    EXPECT_EQ(check_alignment("net", "net", AlignMode::relaxed, finder), Alignment::aligned);
    EXPECT_EQ(check_alignment("github.io", "github.io", AlignMode::strict, finder),
              Alignment::aligned);
    EXPECT_EQ(check_alignment("a.github.io", "b.github.io", AlignMode::relaxed, finder),
              Alignment::not_aligned);
}

// RFC 4343 / RFC 9989 §5.3.1: case-insensitive, A-label comparison; one trailing dot is the
// same name.
TEST(Alignment, NamesAreNormalised) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    EXPECT_EQ(check_alignment("Example.COM.", "example.com", AlignMode::strict, finder),
              Alignment::aligned);
    EXPECT_EQ(check_alignment("bücher.example", "xn--bcher-kva.example", AlignMode::strict, finder),
              Alignment::aligned);
    EXPECT_EQ(check_alignment("", "example.com", AlignMode::relaxed, finder),
              Alignment::not_aligned);
}

// OpenDMARC bug #7 (opendmarc.md §8.2): adkim=s, From strict.com, d=sub.strict.com passed
// because the strict check fell through to the PSL comparison. RFC 7489 §3.1.1: strict is an
// exact match only.
TEST(Alignment, Bug7_StrictAlignmentSubdomain) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    EXPECT_EQ(check_alignment("strict.com", "sub.strict.com", AlignMode::strict, finder),
              Alignment::not_aligned);
    DmarcRecord r = record(Policy::reject);
    r.adkim = AlignMode::strict;
    auto in =
        message({"strict.com"}, {found_at("strict.com", "strict.com", r)}, EvaluationMode::rfc7489);
    in.dkim = {dkim("sub.strict.com")};
    Evaluation e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::fail);
    EXPECT_FALSE(e.dkim_aligned);
    EXPECT_EQ(e.disposition, Disposition::reject);
}

// OpenDMARC bug #8: relaxed d=github.io vs From x.github.io passed (label-prefix compare
// before the PSL). github.io is a PRIVATE-section public suffix: no Organizational Domain, so
// it cannot align with x.github.io (RFC 7489 §3.1.1, §3.2).
TEST(Alignment, Bug8_PrivateSuffixGithubIo) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    EXPECT_EQ(check_alignment("x.github.io", "github.io", AlignMode::relaxed, finder),
              Alignment::not_aligned);
    auto in =
        message({"x.github.io"}, {found_at("x.github.io", "x.github.io", record(Policy::reject))},
                EvaluationMode::rfc7489);
    in.dkim = {dkim("github.io")};
    Evaluation e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::fail);
    EXPECT_EQ(e.disposition, Disposition::reject);
}

// The identifier's Organizational Domain is only looked up when it is under the author's: an
// unrelated d= never costs a (possibly attacker-controlled) DNS walk (RFC 9989 §4.10.2).
TEST(Alignment, UnrelatedIdentifierIsNotWalked) {
    TableFinder finder;
    finder.table["news.example.com"] = found("example.com");
    finder.table["evil.example"] = temperror_answer();
    EXPECT_EQ(check_alignment("news.example.com", "evil.example", AlignMode::relaxed, finder),
              Alignment::not_aligned);
    EXPECT_EQ(finder.asked, std::vector<std::string>{"news.example.com"});
}

// ---- Evaluation -----------------------------------------------------------------------------

// RFC 7489 §6.6.2 step 5 / RFC 9989 §5.3.5: pass = an aligned pass from DKIM or SPF.
TEST(Evaluate, PassFromEitherMechanism) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    auto base =
        message({"example.com"}, {found_at("example.com", "example.com", record(Policy::reject))});
    auto in = base;
    in.dkim = {dkim("mailing-list.example", DkimResult::fail), dkim("example.com")};
    Evaluation e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::pass);
    EXPECT_TRUE(e.dkim_aligned);
    EXPECT_EQ(e.aligned_dkim_index, 1u);
    EXPECT_EQ(e.aligned_dkim_domain, "example.com");
    EXPECT_EQ(e.aligned_dkim_selector, "s1");
    EXPECT_EQ(e.disposition, Disposition::none);  // a pass is never acted on by DMARC
    EXPECT_EQ(e.applied_policy, Policy::reject);
    EXPECT_EQ(e.applied_policy_tag, PolicyTag::p);

    in = base;
    in.spf = spf("bounces.example.com");
    e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::pass);
    EXPECT_TRUE(e.spf_aligned);
    EXPECT_EQ(e.aligned_spf_domain, "bounces.example.com");

    in = base;
    in.spf = spf("example.com", SpfResult::softfail);
    in.dkim = {dkim("example.com", DkimResult::fail)};
    e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::fail);
    EXPECT_EQ(e.disposition, Disposition::reject);
}

// RFC 7208 §2.4 / RFC 9989 §4.3: SPF counts for DMARC through the MAIL FROM identity; the
// HELO domain only for the null reverse-path. CVE-2019-20790: a HELO pass credited to a
// non-null MAIL FROM.
TEST(Evaluate, HeloOnlyForNullSender) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    auto in = message({"victim.example"},
                      {found_at("victim.example", "victim.example", record(Policy::reject))});
    in.spf = spf("victim.example", SpfResult::pass, SpfScope::helo, /*null_sender=*/false);
    Evaluation e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::fail);
    EXPECT_FALSE(e.spf_aligned);
    EXPECT_NE(e.trace.find("HELO result ignored"), std::string::npos) << e.trace;

    in.spf = spf("victim.example", SpfResult::pass, SpfScope::helo, /*null_sender=*/true);
    e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::pass);
    EXPECT_TRUE(e.spf_aligned);
}

// RFC 7489 §6.6.2 / RFC 9989 §5.3.6: nothing passes and a mechanism had a temporary error ->
// temperror, policy not applied. Only an identifier that could have aligned counts (policy.cpp).
TEST(Evaluate, TemperrorOnlyWhenItCouldHaveMattered) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    auto base =
        message({"example.com"}, {found_at("example.com", "example.com", record(Policy::reject))});
    auto in = base;
    in.spf = spf("example.com", SpfResult::temperror);
    in.dkim = {dkim("example.com", DkimResult::fail)};
    Evaluation e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::temperror);
    EXPECT_EQ(e.disposition, Disposition::none);

    in = base;
    in.dkim = {dkim("mail.example.com", DkimResult::temperror)};
    EXPECT_EQ(evaluate(in, finder).result, DmarcResult::temperror);

    // An unaligned signature whose key lookup timed out cannot turn a fail into temperror.
    in = base;
    in.dkim = {dkim("attacker.example", DkimResult::temperror)};
    e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::fail);
    EXPECT_EQ(e.disposition, Disposition::reject);

    // A temperror does not matter once something passes.
    in = base;
    in.spf = spf("example.com", SpfResult::temperror);
    in.dkim = {dkim("example.com")};
    EXPECT_EQ(evaluate(in, finder).result, DmarcResult::pass);
}

// RFC 9989 §5.3.6: a DNS error in a query alignment needs -> no pass/fail conclusion.
TEST(Evaluate, AlignmentWalkTemperror) {
    TableFinder finder;
    finder.table["example.com"] = found("example.com");
    finder.table["mail.example.com"] = temperror_answer();
    auto in =
        message({"example.com"}, {found_at("example.com", "example.com", record(Policy::reject))});
    in.dkim = {dkim("mail.example.com")};
    EXPECT_EQ(evaluate(in, finder).result, DmarcResult::temperror);
    in.spf = spf("example.com");  // identical: aligned without any lookup
    EXPECT_EQ(evaluate(in, finder).result, DmarcResult::pass);
}

// RFC 7489 §6.6.3 step 5 note / RFC 9989 §4.10.1: a DNS error is not "no record".
TEST(Evaluate, DiscoveryOutcomes) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    PolicyDiscovery d;
    d.rfc5322_from_domain = "example.com";
    d.status = DiscoveryStatus::temperror;
    auto in = message({"example.com"}, {d});
    in.dkim = {dkim("example.com")};
    EXPECT_EQ(evaluate(in, finder).result, DmarcResult::temperror);
    in.discoveries[0].status = DiscoveryStatus::no_record;
    EXPECT_EQ(evaluate(in, finder).result, DmarcResult::none);
    in.discoveries[0].status = DiscoveryStatus::invalid_record;
    EXPECT_EQ(evaluate(in, finder).result, DmarcResult::none);
    in.discoveries.clear();  // the caller forgot discovery: an error, not a silent none
    EXPECT_EQ(evaluate(in, finder).result, DmarcResult::permerror);
}

// The trace: written only when asked for (the milter asks at MilterDebug 2 and in -t), the
// same decision either way, and one line whatever bytes the message's From held.
TEST(Evaluate, TraceOnlyWhenAskedAndOneLine) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    auto in =
        message({"example.com"}, {found_at("example.com", "example.com", record(Policy::reject))});
    Evaluation explained = evaluate(in, finder);
    EXPECT_EQ(explained.trace,
              "example.com: policy at example.com (author domain); dkim no aligned pass, spf no "
              "aligned pass; dmarc=fail p=reject disposition=reject");
    in.explain = false;
    Evaluation quiet = evaluate(in, finder);
    EXPECT_TRUE(quiet.trace.empty());
    EXPECT_EQ(quiet.result, explained.result);
    EXPECT_EQ(quiet.disposition, explained.disposition);

    auto odd = message({std::string("bad\x07\n.example")}, {});
    Evaluation e = evaluate(odd, finder);
    EXPECT_EQ(e.result, DmarcResult::permerror);
    EXPECT_EQ(e.trace, "author domain 'bad??.example' is not a domain name");
}

// RFC 9989 §4.10.1 / RFC 7489 §6.6.3 step 6: no valid p but a valid rua -> act as p=none.
TEST(Evaluate, InvalidPolicyWithRuaActsAsNone) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    DmarcRecord r = record(Policy::none);
    r.p_valid = false;
    r.sp = Policy::reject;  // must not leak through
    auto in =
        message({"sub.example.com"},
                {found_at("sub.example.com", "example.com", r, PolicySource::organizational)});
    Evaluation e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::fail);
    EXPECT_EQ(e.applied_policy, Policy::none);
    EXPECT_EQ(e.disposition, Disposition::none);
}

// sp for subdomains (RFC 7489 §6.3), np for non-existent ones (RFC 9989 §4.7, §4.10.1).
TEST(Evaluate, SubdomainAndNonExistentPolicies) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    DmarcRecord r = record(Policy::reject);
    r.sp = Policy::none;
    r.np = Policy::quarantine;
    auto d = found_at("sub.example.com", "example.com", r, PolicySource::organizational);

    d.author_exists = true;
    Evaluation e = evaluate(message({"sub.example.com"}, {d}), finder);
    EXPECT_EQ(e.applied_policy, Policy::none);
    EXPECT_EQ(e.applied_policy_tag, PolicyTag::sp);

    d.author_exists = false;
    e = evaluate(message({"sub.example.com"}, {d}), finder);
    EXPECT_EQ(e.applied_policy, Policy::quarantine);
    EXPECT_EQ(e.applied_policy_tag, PolicyTag::np);
    EXPECT_EQ(e.disposition, Disposition::quarantine);

    // RFC 7489 has no np: sp applies whether or not the name exists.
    e = evaluate(message({"sub.example.com"}, {d}, EvaluationMode::rfc7489), finder);
    EXPECT_EQ(e.applied_policy, Policy::none);
    EXPECT_EQ(e.applied_policy_tag, PolicyTag::sp);

    // Existence unknown (the query failed) and sp/np differ: a fail cannot be acted on.
    d.author_exists.reset();
    d.existence_temperror = true;
    e = evaluate(message({"sub.example.com"}, {d}), finder);
    EXPECT_EQ(e.result, DmarcResult::temperror);
    auto in = message({"sub.example.com"}, {d});
    in.spf = spf("example.com");
    EXPECT_EQ(evaluate(in, finder).result, DmarcResult::pass);

    // np absent: sp, else p, for a non-existent subdomain too.
    DmarcRecord r2 = record(Policy::reject);
    r2.sp = Policy::quarantine;
    auto d2 = found_at("ghost.example.com", "example.com", r2, PolicySource::organizational);
    d2.author_exists = false;
    e = evaluate(message({"ghost.example.com"}, {d2}), finder);
    EXPECT_EQ(e.applied_policy, Policy::quarantine);
    EXPECT_EQ(e.applied_policy_tag, PolicyTag::sp);
}

// OpenDMARC bug #17: with pct=50 half the failures were simply accepted. RFC 7489 §6.6.4: a
// failing message not sampled gets the next policy down (reject -> quarantine, quarantine ->
// none), reported as sampled_out. Sampling is (random mod 100) < pct.
TEST(Evaluate, Bug17_PctDowngradesRejectToQuarantine) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    DmarcRecord r = record(Policy::reject);
    r.pct = 50;
    auto in = message({"example.com"}, {found_at("example.com", "example.com", r)},
                      EvaluationMode::rfc7489);
    in.pct_sample = 49;  // selected
    Evaluation e = evaluate(in, finder);
    EXPECT_EQ(e.disposition, Disposition::reject);
    EXPECT_TRUE(e.overrides.empty());

    in.pct_sample = 50;  // not selected
    e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::fail);
    EXPECT_EQ(e.applied_policy, Policy::reject);
    EXPECT_EQ(e.disposition, Disposition::quarantine);
    EXPECT_EQ(e.overrides, std::vector<OverrideReason>{OverrideReason::sampled_out});

    set_tag(in.discoveries[0], &DmarcRecord::p, Policy::quarantine);
    e = evaluate(in, finder);
    EXPECT_EQ(e.disposition, Disposition::none);
    EXPECT_EQ(e.overrides, std::vector<OverrideReason>{OverrideReason::sampled_out});

    set_tag(in.discoveries[0], &DmarcRecord::p, Policy::none);  // nothing to sample
    e = evaluate(in, finder);
    EXPECT_EQ(e.disposition, Disposition::none);
    EXPECT_TRUE(e.overrides.empty());

    // pct=0: never enacted; pct=100: always.
    set_tag(in.discoveries[0], &DmarcRecord::p, Policy::reject);
    set_tag(in.discoveries[0], &DmarcRecord::pct, 0);
    in.pct_sample = 0;
    EXPECT_EQ(evaluate(in, finder).disposition, Disposition::quarantine);
    set_tag(in.discoveries[0], &DmarcRecord::pct, 100);
    in.pct_sample = 99;
    EXPECT_EQ(evaluate(in, finder).disposition, Disposition::reject);

    // RFC 9989 removed pct (App. A.6): ignored in that mode.
    in.mode = EvaluationMode::rfc9989;
    set_tag(in.discoveries[0], &DmarcRecord::pct, 0);
    e = evaluate(in, finder);
    EXPECT_EQ(e.disposition, Disposition::reject);
    EXPECT_TRUE(e.overrides.empty());
}

// RFC 9989 §4.7 t=y: the policy one level down, reason policy_test_mode (RFC 9990); RFC 7489
// mode does not know t.
TEST(Evaluate, TestModeOneLevelDown) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    DmarcRecord r = record(Policy::reject);
    r.testing = true;
    auto in = message({"example.com"}, {found_at("example.com", "example.com", r)});
    Evaluation e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::fail);
    EXPECT_EQ(e.disposition, Disposition::quarantine);
    EXPECT_EQ(e.overrides, std::vector<OverrideReason>{OverrideReason::policy_test_mode});
    set_tag(in.discoveries[0], &DmarcRecord::p, Policy::quarantine);
    EXPECT_EQ(evaluate(in, finder).disposition, Disposition::none);
    set_tag(in.discoveries[0], &DmarcRecord::p, Policy::reject);
    in.mode = EvaluationMode::rfc7489;
    e = evaluate(in, finder);
    EXPECT_EQ(e.disposition, Disposition::reject);
    EXPECT_TRUE(e.overrides.empty());
}

// CVE-2019-16378: "From: a@example.com, b@thedomain.com" with dkim=pass header.d=thedomain.com
// passed for example.com. RFC 9989 §5.3.1 / §11.5: evaluate each author domain and apply the
// strictest; one author's pass never stands for another.
TEST(Evaluate, Cve_2019_16378_MultiDomainStrictest) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    auto in = message({"example.com", "thedomain.com"},
                      {found_at("example.com", "example.com", record(Policy::reject)),
                       found_at("thedomain.com", "thedomain.com", record(Policy::none))});
    in.dkim = {dkim("thedomain.com")};
    Evaluation e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::fail);
    EXPECT_EQ(e.rfc5322_from_domain, "example.com");
    EXPECT_EQ(e.disposition, Disposition::reject);
    ASSERT_EQ(e.per_author.size(), 2u);
    EXPECT_EQ(e.per_author[0].result, DmarcResult::fail);
    EXPECT_EQ(e.per_author[1].result, DmarcResult::pass);

    // Order does not matter.
    std::swap(in.rfc5322_from_domains[0], in.rfc5322_from_domains[1]);
    EXPECT_EQ(evaluate(in, finder).result, DmarcResult::fail);

    // One author without a policy does not let the other's pass through as "pass".
    in.discoveries[0].status = DiscoveryStatus::no_record;
    e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::none);

    // Configured alternatives.
    in.options.multi_author = MultiAuthorHandling::permerror;
    EXPECT_EQ(evaluate(in, finder).result, DmarcResult::permerror);
    in.options.multi_author = MultiAuthorHandling::none;
    EXPECT_EQ(evaluate(in, finder).result, DmarcResult::none);
}

// The strictest of several: reject over quarantine; temperror over a fail under p=none.
TEST(Evaluate, StrictestOrdering) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    PolicyDiscovery broken;
    broken.rfc5322_from_domain = "c.example";
    broken.status = DiscoveryStatus::temperror;
    auto in = message({"a.example", "b.example", "c.example"},
                      {found_at("a.example", "a.example", record(Policy::quarantine)),
                       found_at("b.example", "b.example", record(Policy::none)), broken});
    Evaluation e = evaluate(in, finder);
    EXPECT_EQ(e.rfc5322_from_domain, "a.example");
    EXPECT_EQ(e.disposition, Disposition::quarantine);
    set_tag(in.discoveries[0], &DmarcRecord::p, Policy::none);
    e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::temperror);
    EXPECT_EQ(e.rfc5322_from_domain, "c.example");
}

// Identical domains are one author (RFC 9989 §5.3.1); the count is capped (§11.5, limits.hpp);
// no author at all -> validation not possible.
TEST(Evaluate, AuthorDomainCountAndCap) {
    PslOrgDomainFinder finder(test::psl_snapshot());
    auto in = message({"Example.com", "example.COM."},
                      {found_at("example.com", "example.com", record(Policy::reject))});
    in.dkim = {dkim("example.com")};
    Evaluation e = evaluate(in, finder);
    EXPECT_EQ(e.result, DmarcResult::pass);
    EXPECT_TRUE(e.per_author.empty());

    std::vector<std::string> many;
    for (std::size_t i = 0; i <= limits::kMaxAuthorDomains; ++i) {
        many.push_back("d" + std::to_string(i) + ".example");
    }
    e = evaluate(message(many, {}), finder);
    EXPECT_EQ(e.result, DmarcResult::permerror);
    EXPECT_NE(e.trace.find("limit"), std::string::npos);

    EXPECT_EQ(evaluate(message({}, {}), finder).result, DmarcResult::none);
    EXPECT_EQ(evaluate(message({"bad..name"}, {}), finder).result, DmarcResult::permerror);
}

}  // namespace
}  // namespace dmarc
