// RDATA decoding (RFC 1035 §3.3.9 MX, §3.3.12 PTR, §3.3.14 TXT, §3.4.1 A; RFC 3596 §2.2 AAAA)
// and the mapping of resolver outcomes to the four DnsStatus values (RFC 1035 §4.1.1 RCODE,
// RFC 2308 negative answers, RFC 4035 §5.5 bogus). Malformed RDATA is an error, never a read
// past the buffer (these run under ASan in the asan preset).
#include "core/dns_wire.hpp"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "core/limits.hpp"

namespace dmarc::dns_wire {
namespace {

using Bytes = std::vector<std::uint8_t>;

Bytes bytes(std::string_view text) {
    return Bytes(text.begin(), text.end());
}

struct TxtCase {
    const char* rfc;
    Bytes rdata;
    const char* expected;  // nullptr: malformed
};

TEST(DnsWire, TxtCharacterStrings) {
    const TxtCase cases[] = {
        {"RFC 1035 §3.3.14 one string", bytes("\x06v=spf1"), "v=spf1"},
        {"RFC 7208 §3.3 strings joined without separator", bytes("\x07v=spf1 \x04-all"),
         "v=spf1 -all"},
        {"RFC 1035 §3.3 empty character-string", bytes(std::string_view("\x00", 1)), ""},
        {"RFC 1035 §3.3 empty strings between",
         bytes(std::string_view("\x01"
                                "a\x00\x01"
                                "b",
                                5)),
         "ab"},
        {"RFC 1035 §3.3.14 no string at all", Bytes{}, nullptr},
        {"RFC 1035 §3.3 length past the end",
         bytes("\x05"
               "abc"),
         nullptr},
        {"RFC 1035 §3.3 second length past the end",
         bytes("\x01"
               "a\x02"
               "b"),
         nullptr},
        {"RFC 1035 §3.3 lone length octet", Bytes{0x01}, nullptr},
    };
    for (const auto& c : cases) {
        auto r = decode_txt(c.rdata);
        if (c.expected == nullptr) {
            EXPECT_FALSE(r.has_value()) << c.rfc;
        } else {
            ASSERT_TRUE(r.has_value()) << c.rfc << ": " << r.error().message;
            EXPECT_EQ(*r, c.expected) << c.rfc;
        }
    }
}

TEST(DnsWire, TxtKeepsArbitraryBytes) {
    // RFC 1035 §3.3: a <character-string> is any octets; DMARC's parser judges them, not us.
    const Bytes rdata = {0x03, 0x00, 0xff, '"'};
    auto r = decode_txt(rdata);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, std::string("\x00\xff\"", 3));
}

TEST(DnsWire, TxtOf255ByteStringsAtTheMaximum) {
    // RFC 1035 §3.3: 255 octets per string; a long SPF record spans several.
    Bytes rdata;
    std::string expected;
    for (int s = 0; s < 3; ++s) {
        rdata.push_back(255);
        for (int i = 0; i < 255; ++i) rdata.push_back(static_cast<std::uint8_t>('a' + s));
        expected += std::string(255, static_cast<char>('a' + s));
    }
    auto r = decode_txt(rdata);
    ASSERT_TRUE(r);
    EXPECT_EQ(*r, expected);
}

TEST(DnsWire, Addresses) {
    // RFC 1035 §3.4.1: exactly 4 octets; RFC 3596 §2.2: exactly 16.
    auto a = decode_a(Bytes{192, 0, 2, 1});
    ASSERT_TRUE(a);
    EXPECT_EQ(a->to_string(), "192.0.2.1");
    EXPECT_FALSE(decode_a(Bytes{192, 0, 2}));
    EXPECT_FALSE(decode_a(Bytes{192, 0, 2, 1, 0}));
    EXPECT_FALSE(decode_a(Bytes{}));
    Bytes v6 = {0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x25};
    auto aaaa = decode_aaaa(v6);
    ASSERT_TRUE(aaaa);
    EXPECT_EQ(aaaa->to_string(), "2001:db8::25");
    v6.pop_back();
    EXPECT_FALSE(decode_aaaa(v6));
    EXPECT_FALSE(decode_aaaa(Bytes{192, 0, 2, 1}));
}

struct NameCase {
    const char* rfc;
    Bytes wire;
    const char* expected;  // nullptr: malformed
};

TEST(DnsWire, Names) {
    const NameCase cases[] = {
        {"RFC 1035 §3.1 two labels",
         bytes(std::string_view("\x04mail\x07"
                                "example\x00",
                                14)),
         "mail.example"},
        {"RFC 4343 §3 case folded",
         bytes(std::string_view("\x04MAIL\x02"
                                "Ex\x00",
                                9)),
         "mail.ex"},
        {"RFC 1035 §3.1 root", Bytes{0x00}, ""},
        {"RFC 1035 §5.1 dot inside a label escaped",
         bytes(std::string_view("\x03"
                                "a.b\x00",
                                5)),
         "a\\046b"},
        {"RFC 1035 §5.1 space and backslash escaped",
         bytes(std::string_view("\x03"
                                "a \\\x00",
                                5)),
         "a\\032\\092"},
        {"RFC 1035 §5.1 non-ASCII escaped", Bytes{0x01, 0xc3, 0x00}, "\\195"},
        {"RFC 1035 §4.1.4 compression pointer refused", Bytes{0xc0, 0x0c}, nullptr},
        {"RFC 6891 §5 extended label type refused", Bytes{0x41, 0x00}, nullptr},
        {"RFC 1035 §3.1 label past the end",
         bytes("\x05"
               "abc"),
         nullptr},
        {"RFC 1035 §3.1 no terminating root label",
         bytes("\x03"
               "abc"),
         nullptr},
        {"RFC 1035 §3.1 empty", Bytes{}, nullptr},
    };
    for (const auto& c : cases) {
        std::size_t offset = 0;
        auto r = decode_name(c.wire, offset);
        if (c.expected == nullptr) {
            EXPECT_FALSE(r.has_value()) << c.rfc;
        } else {
            ASSERT_TRUE(r.has_value()) << c.rfc << ": " << r.error().message;
            EXPECT_EQ(*r, c.expected) << c.rfc;
            EXPECT_EQ(offset, c.wire.size()) << c.rfc;
        }
    }
}

TEST(DnsWire, NameOver255WireBytesIsALimitError) {
    // RFC 1035 §3.1: 255 octets or less, length octets included.
    Bytes wire;
    for (int i = 0; i < 4; ++i) {
        wire.push_back(63);
        for (int j = 0; j < 63; ++j) wire.push_back('a');
    }
    wire.push_back(0);  // 4 * 64 + 1 = 257 bytes
    std::size_t offset = 0;
    auto r = decode_name(wire, offset);
    ASSERT_FALSE(r);
    EXPECT_EQ(r.error().code, Errc::limit);
    // 3 * 64 + 62 + 1 = 255: allowed.
    Bytes ok;
    for (int i = 0; i < 3; ++i) {
        ok.push_back(63);
        for (int j = 0; j < 63; ++j) ok.push_back('a');
    }
    ok.push_back(61);
    for (int j = 0; j < 61; ++j) ok.push_back('b');
    ok.push_back(0);
    ASSERT_EQ(ok.size(), limits::kMaxDnsWireNameBytes);
    offset = 0;
    EXPECT_TRUE(decode_name(ok, offset));
}

TEST(DnsWire, MxAndPtr) {
    // RFC 1035 §3.3.9: 16-bit preference, then the exchange.
    auto mx =
        decode_mx(bytes(std::string_view("\x00\x0a\x04mail\x02"
                                         "ex\x00",
                                         11)));
    ASSERT_TRUE(mx) << mx.error().message;
    EXPECT_EQ(mx->preference, 10);
    EXPECT_EQ(mx->exchange, "mail.ex");
    auto high = decode_mx(Bytes{0xff, 0xfe, 0x00});  // RFC 7505 null MX has exchange "."
    ASSERT_TRUE(high);
    EXPECT_EQ(high->preference, 65534);
    EXPECT_EQ(high->exchange, "");
    EXPECT_FALSE(decode_mx(Bytes{0x00, 0x0a}));                  // no exchange
    EXPECT_FALSE(decode_mx(Bytes{0x00, 0x0a, 0x00, 0x00}));      // bytes after the name
    EXPECT_FALSE(decode_mx(Bytes{0x00, 0x0a, 0x03, 'a', 'b'}));  // name runs out
    // RFC 1035 §3.3.12: PTRDNAME fills the RDATA.
    auto ptr =
        decode_ptr(bytes(std::string_view("\x04host\x02"
                                          "ex\x00",
                                          9)));
    ASSERT_TRUE(ptr);
    EXPECT_EQ(*ptr, "host.ex");
    EXPECT_FALSE(decode_ptr(bytes(std::string_view("\x04host\x00\x00", 7))));
    EXPECT_FALSE(decode_ptr(Bytes{}));
}

TEST(DnsWire, TypeCodes) {
    // RFC 1035 §3.2.2, RFC 3596 §2.1.
    EXPECT_EQ(rr_type_code(RrType::a), 1);
    EXPECT_EQ(rr_type_code(RrType::ptr), 12);
    EXPECT_EQ(rr_type_code(RrType::mx), 15);
    EXPECT_EQ(rr_type_code(RrType::txt), 16);
    EXPECT_EQ(rr_type_code(RrType::aaaa), 28);
}

RawAnswer raw(int rcode, bool havedata, std::vector<Bytes>* storage = nullptr) {
    RawAnswer r;
    r.rcode = rcode;
    r.havedata = havedata;
    r.nxdomain = rcode == 3;
    r.ttl = 120;
    if (storage != nullptr) {
        for (const auto& b : *storage) r.rdata.emplace_back(b);
    }
    return r;
}

struct OutcomeCase {
    const char* rfc;
    int rcode;
    bool havedata;
    DnsStatus expected;
    const char* why;  // substring of `why` for temperror
};

TEST(DnsWire, OutcomeMapping) {
    std::vector<Bytes> txt = {bytes("\x08v=DMARC1")};
    const OutcomeCase cases[] = {
        {"RFC 1035 §4.1.1 NOERROR with data", 0, true, DnsStatus::answer, ""},
        {"RFC 2308 §2.2 NOERROR, no data: NODATA", 0, false, DnsStatus::nodata, ""},
        {"RFC 2308 §2.1 NXDOMAIN", 3, false, DnsStatus::nxdomain, ""},
        {"RFC 1035 §4.1.1 SERVFAIL", 2, false, DnsStatus::temperror, "SERVFAIL"},
        {"RFC 1035 §4.1.1 REFUSED", 5, false, DnsStatus::temperror, "REFUSED"},
        {"RFC 1035 §4.1.1 FORMERR", 1, false, DnsStatus::temperror, "RCODE 1"},
        {"RFC 1035 §4.1.1 NOTIMP", 4, false, DnsStatus::temperror, "RCODE 4"},
    };
    for (const auto& c : cases) {
        auto r = to_response(RrType::txt, raw(c.rcode, c.havedata, c.havedata ? &txt : nullptr));
        EXPECT_EQ(r.status, c.expected) << c.rfc;
        if (c.expected == DnsStatus::temperror) {
            EXPECT_NE(r.why.find(c.why), std::string::npos) << c.rfc << ": " << r.why;
        } else {
            EXPECT_EQ(r.ttl, 120u) << c.rfc;
        }
    }
    auto answer = to_response(RrType::txt, raw(0, true, &txt));
    EXPECT_EQ(answer.txt, (std::vector<std::string>{"v=DMARC1"}));
}

TEST(DnsWire, BogusIsTemperrorEvenWithData) {
    // RFC 4035 §5.5: a bogus answer must not be used.
    std::vector<Bytes> a = {Bytes{192, 0, 2, 1}};
    RawAnswer r = raw(0, true, &a);
    r.bogus = true;
    r.why_bogus = "signature expired";
    auto response = to_response(RrType::a, r);
    EXPECT_EQ(response.status, DnsStatus::temperror);
    EXPECT_NE(response.why.find("signature expired"), std::string::npos);
    EXPECT_TRUE(response.addresses.empty());
    RawAnswer secure = raw(0, true, &a);
    secure.secure = true;
    EXPECT_TRUE(to_response(RrType::a, secure).secure);
}

TEST(DnsWire, OneMalformedRecordMakesTheAnswerTemperror) {
    // A half-decoded RRset must not read as the full set (SPF would judge on part of it).
    std::vector<Bytes> mixed = {Bytes{192, 0, 2, 1}, Bytes{192, 0, 2}};
    auto r = to_response(RrType::a, raw(0, true, &mixed));
    EXPECT_EQ(r.status, DnsStatus::temperror);
    EXPECT_NE(r.why.find("malformed A"), std::string::npos) << r.why;
    EXPECT_TRUE(r.addresses.empty());
    std::vector<Bytes> bad_txt = {bytes("\x09short")};
    EXPECT_EQ(to_response(RrType::txt, raw(0, true, &bad_txt)).status, DnsStatus::temperror);
    std::vector<Bytes> bad_mx = {Bytes{0x00}};
    EXPECT_EQ(to_response(RrType::mx, raw(0, true, &bad_mx)).status, DnsStatus::temperror);
    std::vector<Bytes> bad_ptr = {Bytes{0xc0, 0x00}};
    EXPECT_EQ(to_response(RrType::ptr, raw(0, true, &bad_ptr)).status, DnsStatus::temperror);
    std::vector<Bytes> aaaa_as_a = {Bytes(16, 0)};
    EXPECT_EQ(to_response(RrType::a, raw(0, true, &aaaa_as_a)).status, DnsStatus::temperror);
}

TEST(DnsWire, TooManyRecordsIsALimitTemperror) {
    std::vector<Bytes> many(limits::kMaxDnsAnswerRecords + 1, Bytes{192, 0, 2, 1});
    auto r = to_response(RrType::a, raw(0, true, &many));
    EXPECT_EQ(r.status, DnsStatus::temperror);
    EXPECT_NE(r.why.find("limit"), std::string::npos);
    many.pop_back();
    EXPECT_EQ(to_response(RrType::a, raw(0, true, &many)).addresses.size(),
              limits::kMaxDnsAnswerRecords);
}

TEST(DnsWire, TtlIsClampedToUnsigned) {
    RawAnswer r = raw(3, false);
    r.ttl = -5;
    EXPECT_EQ(to_response(RrType::txt, r).ttl, 0u);
    r.ttl = 1LL << 40;
    EXPECT_EQ(to_response(RrType::txt, r).ttl, 0x7fffffffu);  // RFC 2181 §8: 2^31 - 1 at most
}

TEST(DnsWire, NoerrorWithNxdomainFlagIsInconsistent) {
    RawAnswer r = raw(0, false);
    r.nxdomain = true;
    EXPECT_EQ(to_response(RrType::txt, r).status, DnsStatus::temperror);
}

}  // namespace
}  // namespace dmarc::dns_wire
