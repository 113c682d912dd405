// libmilter's SMFIF_* action and SMFIP_* protocol bits (milter protocol version 6), spelled out
// for the session logic and server.cpp; tests/milter/server_test.cpp static_asserts they match
// the client's table (tests/support/milter_client.hpp).
#pragma once

#include <cstdint>

namespace dmarc::milter::bits {
inline constexpr std::uint32_t kAddHeaders = 0x01, kAddRecipient = 0x04, kChangeHeaders = 0x10,
                               kQuarantine = 0x20, kSetSymList = 0x100;
inline constexpr std::uint32_t kNoBody = 0x10, kNoEoh = 0x40, kNoReplyHeader = 0x80,
                               kNoUnknown = 0x100, kNoData = 0x200, kNoReplyConnect = 0x1000,
                               kNoReplyHelo = 0x2000, kNoReplyMail = 0x4000, kNoReplyRcpt = 0x8000,
                               kNoReplyData = 0x10000, kNoReplyUnknown = 0x20000,
                               kNoReplyEoh = 0x40000, kNoReplyBody = 0x80000;
}  // namespace dmarc::milter::bits
