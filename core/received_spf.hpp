// Received-SPF (RFC 7208 §9.1): parses the trace field an upstream SPF checker (policyd-spf,
// libspf2) adds, so the milter can use its result. It exposes `identity` because a HELO result
// must not be credited to the MAIL FROM domain (CVE-2019-20790), and reads VERP envelope-from
// values with '=' in them whole (OpenDMARC #206).
#pragma once

#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "core/result.hpp"
#include "core/types.hpp"

namespace dmarc {

struct ReceivedSpfPair {
    std::string key;    // lower-cased
    std::string value;  // decoded: quotes and quoted-pairs removed, folding removed

    friend bool operator==(const ReceivedSpfPair&, const ReceivedSpfPair&) = default;
};

struct ReceivedSpf {
    SpfResult result = SpfResult::none;  // "hardfail" (RFC 4408 era) reads as fail
    std::string comment;                 // decoded text of the comment after the result
    std::vector<ReceivedSpfPair> pairs;  // in field order; unknown keys kept
    std::vector<std::string> skipped;    // pairs that could not be read, as they appeared

    // Value of the first pair with this key (case-insensitive); nullopt if absent.
    std::optional<std::string_view> find(std::string_view key) const noexcept;
    std::optional<std::string_view> client_ip() const noexcept { return find("client-ip"); }
    std::optional<std::string_view> envelope_from() const noexcept { return find("envelope-from"); }
    std::optional<std::string_view> helo() const noexcept { return find("helo"); }
    std::optional<std::string_view> receiver() const noexcept { return find("receiver"); }
    std::optional<std::string_view> identity() const noexcept { return find("identity"); }
    std::optional<std::string_view> mechanism() const noexcept { return find("mechanism"); }
    std::optional<std::string_view> problem() const noexcept { return find("problem"); }

    // identity=mailfrom -> mfrom, identity=helo -> helo; nullopt when absent or another
    // identity. A caller crediting SPF to the RFC5321.MailFrom domain must require mfrom
    // (or helo with a null reverse-path, RFC 7208 §2.4): CVE-2019-20790.
    std::optional<SpfScope> identity_scope() const noexcept;

    // The domain of envelope-from ("user@d", "<user@d>", "d") as a lower-case A-label.
    // Errc::not_found if envelope-from is absent or the null reverse-path ("", "<>").
    Result<std::string> envelope_from_domain() const;
};

// Parses a Received-SPF field body; a leading "Received-SPF:" (any case) is dropped.
// Errc::syntax: no result word, or a §9.1 key given twice (ambiguous: which identity or
// envelope-from did the checker mean?). Errc::invalid_value: the first word is not an RFC 7208
// §2.6 result. Errc::limit: over kMaxHeaderFieldBytes, kMaxReceivedSpfPairs pairs (read and
// unreadable together) or kMaxCommentDepth. A pair that cannot be read is skipped and recorded.
Result<ReceivedSpf> parse_received_spf(std::string_view field);

}  // namespace dmarc
