// io::SharedRecordCache: DMARC (RFC 7489 §6.3, RFC 9989 §4.7) and SPF (RFC 7208 §4.5-§4.6)
// parses kept by their TXT text. What it hands out must be exactly what the parsers give for
// that text (valid, invalid and rejected records alike); it stays within its bound; many
// threads may use it at once.
#include "io/record_cache.hpp"

#include <gtest/gtest.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

namespace dmarc::io {
namespace {

// A readable form of a parse, to compare a cached parse with a fresh one.
std::string describe(const RecordResult& r) {
    if (r) {
        std::string out = to_string(*r);
        for (const auto& w : r->warnings) out += " | warning " + w;
        return out;
    }
    std::string out =
        "rejected " + std::to_string(static_cast<int>(r.error().kind)) + " " + r.error().reason;
    if (r.error().partial) out += " partial " + to_string(*r.error().partial);
    return out;
}

std::string describe(const Result<SpfRecord>& r) {
    if (!r) return "error " + r.error().message;
    std::string out;
    for (const auto& m : r->mechanisms) out += m.text + " ";
    if (r->redirect) out += "redirect=" + *r->redirect + " ";
    if (r->exp) out += "exp=" + *r->exp;
    return out;
}

TEST(SharedRecordCache, GivesWhatTheParsersGive) {
    // RFC 7489 §6.3 / RFC 9989 §4.7: valid, with warnings, invalid (no p, no rua), not DMARC.
    const std::vector<std::string> dmarc_texts = {
        "v=DMARC1; p=reject; rua=mailto:d@example.com",
        "v=DMARC1; p=quarantine; pct=50; sp=none; fo=1:d; adkim=s",
        "v=DMARC1; p=bogus; rua=mailto:d@example.com",  // acts as p=none (RFC 9989 §4.10.1)
        "v=DMARC1; p=bogus",                            // invalid
        "v=DMARC1; psd=y",
        "v=spf1 -all",  // not a DMARC record
        "",
    };
    // RFC 7208 §4.6: a syntax error anywhere is permerror.
    const std::vector<std::string> spf_texts = {
        "v=spf1 ip4:192.0.2.0/24 include:_spf.example.com -all",
        "v=spf1 a mx/24 ~all exp=explain.example.com",
        "v=spf1 redirect=_spf.example.net",
        "v=spf1 ip4:999.0.0.1 -all",
        "v=spf1 redirect=a.example redirect=b.example",
    };
    SharedRecordCache cache;
    for (int round = 0; round < 2; ++round) {
        for (const auto& t : dmarc_texts) {
            SCOPED_TRACE(t);
            EXPECT_EQ(describe(*cache.dmarc(t)), describe(parse_dmarc_record(t)));
        }
        for (const auto& t : spf_texts) {
            SCOPED_TRACE(t);
            EXPECT_EQ(describe(*cache.spf(t)), describe(parse_spf_record(t)));
        }
    }
    EXPECT_EQ(cache.size(), dmarc_texts.size() + spf_texts.size());
}

TEST(SharedRecordCache, ASecondLookupIsAHit) {
    SharedRecordCache cache;
    auto first = cache.dmarc("v=DMARC1; p=none");
    EXPECT_EQ(cache.dmarc("v=DMARC1; p=none"), first);
    EXPECT_NE(cache.dmarc("v=DMARC1; p=none "), first);  // the key is the exact text
    // The two kinds are kept apart: the same text is a DMARC and an SPF entry.
    auto spf = cache.spf("v=DMARC1; p=none");
    EXPECT_FALSE(*spf);
    EXPECT_EQ(cache.size(), 3u);
}

TEST(SharedRecordCache, StaysWithinTwoGenerationsAndKeepsWhatIsInUse) {
    SharedRecordCache cache(4);
    auto hot = cache.spf("v=spf1 -all");
    for (int i = 0; i < 100; ++i) {
        cache.spf("v=spf1 ip4:192.0.2." + std::to_string(i) + " -all");
        // A record every message uses survives a flood of distinct ones.
        EXPECT_EQ(cache.spf("v=spf1 -all"), hot) << i;
        EXPECT_LE(cache.size(), 2u * 4u);
    }
}

TEST(SharedRecordCache, LongTextsAreParsedButNotKept) {
    SharedRecordCache cache;
    std::string text = "v=DMARC1; p=reject; rua=mailto:d@example.com";
    while (text.size() <= limits::kMaxCachedRecordBytes) text += "; x=" + std::string(50, 'y');
    auto a = cache.dmarc(text);
    auto b = cache.dmarc(text);
    EXPECT_NE(a, b);
    EXPECT_EQ(describe(*a), describe(parse_dmarc_record(text)));
    EXPECT_EQ(cache.size(), 0u);
}

TEST(SharedRecordCache, ManyThreadsAtOnce) {
    SharedRecordCache cache(8);  // small, so generations turn over while threads read
    std::vector<std::string> texts;
    for (int i = 0; i < 40; ++i) {
        texts.push_back("v=DMARC1; p=reject; pct=" + std::to_string(i) +
                        "; rua=mailto:d@example.com");
    }
    std::vector<std::string> expected;
    for (const auto& t : texts) expected.push_back(describe(parse_dmarc_record(t)));
    std::atomic<int> wrong{0};
    std::vector<std::thread> threads;
    for (int t = 0; t < 4; ++t) {
        threads.emplace_back([&, t] {
            for (int i = 0; i < 2000; ++i) {
                const std::size_t k = static_cast<std::size_t>(i * (t + 1)) % texts.size();
                if (describe(*cache.dmarc(texts[k])) != expected[k]) ++wrong;
            }
        });
    }
    for (auto& th : threads) th.join();
    EXPECT_EQ(wrong.load(), 0);
    EXPECT_LE(cache.size(), 2u * 8u);
}

}  // namespace
}  // namespace dmarc::io
