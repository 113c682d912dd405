// Parsed DMARC (RFC 7489 §6.3, RFC 9989 §4.7) and SPF (RFC 7208 §4.5-§6) records by their TXT
// text. A milter sees the same few records in message after message; parsing one costs more
// than the DNS cache hit that found it. Parsing is a function of the text alone, so a parse
// kept from an earlier message is the parse. core only declares the interface: the shared,
// bounded, thread-safe store is io/record_cache.hpp.
#pragma once

#include <memory>
#include <string_view>

#include "core/record.hpp"
#include "core/result.hpp"
#include "core/spf_record.hpp"

namespace dmarc {

class RecordParseCache {
  public:
    virtual ~RecordParseCache() = default;
    // parse_dmarc_record(text), perhaps from an earlier call. Never null.
    virtual std::shared_ptr<const RecordResult> dmarc(std::string_view text) = 0;
    // parse_spf_record(text), perhaps from an earlier call. Never null.
    virtual std::shared_ptr<const Result<SpfRecord>> spf(std::string_view text) = 0;
};

}  // namespace dmarc
