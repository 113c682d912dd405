// Test support: aggregate reports of several shapes built through build_aggregate_report, for
// the XML, XSD, Mail::DMARC and mail tests. Shapes cover what Appendix C and RFC 9990 make hard:
// IPv6 sources, null reverse-paths, HELO-scoped SPF, no SPF, no DKIM, every override reason,
// many DKIM results, a policy change, and hostile text (markup, quotes, controls, bad UTF-8).
#pragma once

#include <string>
#include <vector>

#include "core/aggregate.hpp"

namespace dmarc::test_support {

inline constexpr std::int64_t kSampleDay = 1700006400;  // 2023-11-15T00:00:00Z

inline ReportIdentity sample_identity() {
    return ReportIdentity{"mx.receiver.example", "receiver.example",
                          "dmarc-reports@receiver.example", "https://receiver.example/dmarc",
                          "dmarc-reporter 0.1.0"};
}

inline AggregateInput sample_row() {
    AggregateInput row;
    row.received = kSampleDay + 3600;
    row.source_ip = "192.0.2.10";
    row.rfc5322_from_domain = "example.com";
    row.rfc5321_mail_from_domain = "example.com";
    row.envelope_to_domain = "receiver.example";
    row.dkim_aligned = true;
    row.spf_aligned = true;
    row.dkim = {AggregateDkim{"example.com", "s2023", DkimResult::pass, "", DkimAlignment::strict}};
    row.spf = AggregateSpf{"example.com", SpfScope::mfrom, SpfResult::pass};
    row.policy.domain = "example.com";
    row.policy.p = Policy::reject;
    row.policy.sp = Policy::quarantine;
    row.policy.np = Policy::reject;
    row.policy.adkim = AlignMode::strict;
    row.policy.fo = "d:s";
    return row;
}

struct SampleShape {
    const char* name;
    std::vector<AggregateInput> rows;
};

inline std::vector<SampleShape> sample_shapes() {
    std::vector<SampleShape> shapes;
    shapes.push_back({"single", {sample_row()}});

    std::vector<AggregateInput> mixed;
    for (int i = 0; i < 40; ++i) {
        AggregateInput row = sample_row();
        row.received = kSampleDay + i * 600;
        row.source_ip = i % 4 == 0 ? "2001:db8::1"
                                   : (i % 4 == 1 ? "::ffff:198.51.100.7"
                                                 : "198.51.100." + std::to_string(i % 3));
        if (i % 5 == 0) {
            row.dkim_aligned = row.spf_aligned = false;
            row.disposition = Disposition::reject;
            row.dkim = {AggregateDkim{"attacker.example", "x", DkimResult::fail, "bad signature",
                                      DkimAlignment::none}};
            row.spf->domain = "attacker.example";
            row.spf->result = SpfResult::softfail;
            row.rfc5321_mail_from_domain = "attacker.example";
        }
        mixed.push_back(row);
    }
    AggregateInput bounce = sample_row();  // null reverse-path: SPF checked the HELO name
    bounce.rfc5321_mail_from_domain = "";
    bounce.spf = AggregateSpf{"mail.example.com", SpfScope::helo, SpfResult::pass};
    bounce.spf_aligned = false;
    mixed.push_back(bounce);
    AggregateInput no_auth = sample_row();  // nothing evaluated but DMARC itself
    no_auth.dkim.clear();
    no_auth.spf.reset();
    no_auth.dkim_aligned = no_auth.spf_aligned = false;
    no_auth.disposition = Disposition::quarantine;
    no_auth.rfc5322_from_domain = "sub.example.com";
    no_auth.envelope_to_domain = "";
    mixed.push_back(no_auth);
    for (OverrideReason reason :
         {OverrideReason::forwarded, OverrideReason::sampled_out, OverrideReason::trusted_forwarder,
          OverrideReason::mailing_list, OverrideReason::local_policy,
          OverrideReason::policy_test_mode, OverrideReason::other}) {
        AggregateInput row = sample_row();
        row.dkim_aligned = row.spf_aligned = false;
        row.reasons = {ReportReason{reason, reason == OverrideReason::other ? "why not" : ""}};
        row.source_ip = "203.0.113.5";
        mixed.push_back(row);
    }
    AggregateInput signatures = sample_row();
    signatures.source_ip = "2001:db8:0:1::25";
    for (int i = 0; i < 120; ++i) {
        signatures.dkim.push_back(AggregateDkim{"esp" + std::to_string(i) + ".example", "k",
                                                i % 2 ? DkimResult::pass : DkimResult::neutral, "",
                                                DkimAlignment::unknown});
    }
    mixed.push_back(signatures);
    AggregateInput changed = sample_row();  // the record changed late in the day
    changed.received = kSampleDay + 86000;
    changed.policy.p = Policy::quarantine;
    changed.policy.pct = 25;
    changed.policy.testing = true;
    mixed.push_back(changed);
    shapes.push_back({"mixed", mixed});

    AggregateInput hostile = sample_row();
    hostile.source_ip = "fe80::1:2:3:4";
    hostile.rfc5322_from_domain = "ex<script>alert(1)</script>.example";
    hostile.rfc5321_mail_from_domain = "\"quoted\" & 'apos'";
    hostile.envelope_to_domain = std::string("ctl\x01\x07\x1b[31m", 9) + std::string(1, '\0') + "x";
    hostile.reasons = {
        ReportReason{OverrideReason::other, "]]><!-- \xff\xfe invalid \xc3\x28 utf8"}};
    hostile.dkim = {
        AggregateDkim{"example.com", "sel\">&lt;", DkimResult::fail,
                      "\xed\xa0\x80 surrogate \xf4\x90\x80\x80 too big \xc0\xaf overlong",
                      DkimAlignment::unknown}};
    hostile.spf = AggregateSpf{"<&>", SpfScope::mfrom, SpfResult::permerror};
    shapes.push_back({"hostile", {hostile}});
    return shapes;
}

inline ReportIdentity hostile_identity() {
    ReportIdentity id = sample_identity();
    id.org_name = "Org <b>&amp; \"Co\"</b>\x02";
    id.extra_contact_info = "<?xml-stylesheet?> \xe2\x82\xac \x80";
    id.generator = "gen ]]> & <x/>";
    return id;
}

}  // namespace dmarc::test_support
