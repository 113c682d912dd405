// Report containers (RFC 7489 §7.2.1.1, RFC 9990 §5: gzip; zip as Google sends it): round trips,
// determinism (a resend is byte-identical), peers' files, magic-byte sniffing (standards §1.12),
// and bounded decompression (RFC 9990 §6: "protect against zip bombs").
#include "io/archive.hpp"

#include <gtest/gtest.h>

#include <fstream>
#include <sstream>

namespace dmarc::io {
namespace {

std::string slurp(const std::string& path) {
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    return ss.str();
}

const std::string kXml = "<?xml version=\"1.0\"?>\n<feedback><version>1.0</version></feedback>\n";

TEST(Archive, GzipRoundTripAndDeterminism) {
    for (const std::string& data : {std::string(), kXml, std::string(300000, 'x')}) {
        auto packed = gzip_compress(data);
        ASSERT_TRUE(packed);
        EXPECT_EQ(sniff_archive(*packed), ArchiveKind::gzip);
        EXPECT_EQ(*gzip_compress(data), *packed);  // same bytes every time
        auto unpacked = gzip_decompress(*packed);
        ASSERT_TRUE(unpacked) << unpacked.error().message;
        EXPECT_EQ(*unpacked, data);
    }
}

TEST(Archive, ZipRoundTripAndDeterminism) {
    auto packed = zip_compress(kXml, "r!example.com!1!2!id.xml");
    ASSERT_TRUE(packed) << packed.error().message;
    EXPECT_EQ(sniff_archive(*packed), ArchiveKind::zip);
    EXPECT_EQ(*zip_compress(kXml, "r!example.com!1!2!id.xml"), *packed);
    auto unpacked = zip_decompress(*packed);
    ASSERT_TRUE(unpacked) << unpacked.error().message;
    EXPECT_EQ(*unpacked, kXml);
    EXPECT_NE(packed->find("r!example.com!1!2!id.xml"), std::string::npos);
}

// Mail::DMARC's fixture in three containers: every container gives the same XML.
TEST(Archive, PeerContainers) {
    const std::string xml = slurp(DMARC_TEST_DATA "/aggregate/test_dmarc.xml");
    ASSERT_FALSE(xml.empty());
    for (const char* name : {"test_dmarc.xml", "test_dmarc.xml.gz", "test_dmarc.xml.zip"}) {
        auto out = decompress_report(slurp(std::string(DMARC_TEST_DATA "/aggregate/") + name));
        ASSERT_TRUE(out) << name << ": " << out.error().message;
        EXPECT_EQ(*out, xml) << name;
    }
}

TEST(Archive, ConcatenatedGzipMembersAreOneFile) {
    auto a = gzip_compress("first ");
    auto b = gzip_compress("second");
    ASSERT_TRUE(a && b);
    auto out = gzip_decompress(*a + *b);
    ASSERT_TRUE(out);
    EXPECT_EQ(*out, "first second");
}

// A small input that inflates past the cap is refused, not truncated (zip bomb).
TEST(Archive, BombsHitTheCap) {
    const std::string zeros(8 * 1024 * 1024, '\0');
    auto gz = gzip_compress(zeros);
    ASSERT_TRUE(gz);
    EXPECT_LT(gz->size(), 64u * 1024);
    EXPECT_EQ(gzip_decompress(*gz, 1024 * 1024).error().code, Errc::limit);
    EXPECT_TRUE(gzip_decompress(*gz, zeros.size()));  // exactly at the cap is fine
    auto zip = zip_compress(zeros, "bomb.xml");
    ASSERT_TRUE(zip);
    EXPECT_EQ(zip_decompress(*zip, 1024 * 1024).error().code, Errc::limit);
    EXPECT_EQ(decompress_report(*zip, 1024 * 1024).error().code, Errc::limit);
    EXPECT_EQ(decompress_report(zeros, 1024).error().code, Errc::limit);
}

TEST(Archive, CorruptInputIsAnError) {
    auto gz = gzip_compress(std::string(100000, 'a') + kXml);
    ASSERT_TRUE(gz);
    EXPECT_FALSE(gzip_decompress(gz->substr(0, gz->size() / 2)));  // truncated
    std::string flipped = *gz;
    flipped[flipped.size() - 6] ^= 0x55;  // CRC32 trailer
    EXPECT_FALSE(gzip_decompress(flipped));
    auto zip = zip_compress(kXml, "a.xml");
    ASSERT_TRUE(zip);
    EXPECT_FALSE(zip_decompress(zip->substr(0, zip->size() - 10)));
    EXPECT_FALSE(zip_decompress("PK\x03\x04garbage"));
    EXPECT_EQ(sniff_archive("<feedback/>"), ArchiveKind::plain);
    EXPECT_EQ(*decompress_report("<feedback/>"), "<feedback/>");
}

}  // namespace
}  // namespace dmarc::io
