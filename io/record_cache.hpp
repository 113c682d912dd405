// The milter's RecordParseCache (core/record_cache.hpp): DMARC (RFC 7489 §6.3) and SPF
// (RFC 7208 §4.5) record parses by their TXT text, shared by every connection thread. Bounded:
// per record kind, two generations of at most `entries` texts; when the current one fills up it
// becomes the old one and the old one is dropped. A text found in the old generation moves to
// the current one, so the records in use stay while a flood of distinct ones costs at most two
// generations. Texts over limits::kMaxCachedRecordBytes are parsed every time.
#pragma once

#include <cstddef>
#include <memory>
#include <string_view>

#include "core/limits.hpp"
#include "core/record_cache.hpp"

namespace dmarc::io {

class SharedRecordCache final : public RecordParseCache {
  public:
    explicit SharedRecordCache(std::size_t entries = limits::kRecordCacheEntries);
    ~SharedRecordCache() override;
    SharedRecordCache(const SharedRecordCache&) = delete;
    SharedRecordCache& operator=(const SharedRecordCache&) = delete;

    std::shared_ptr<const RecordResult> dmarc(std::string_view text) override;
    std::shared_ptr<const Result<SpfRecord>> spf(std::string_view text) override;

    // Texts held now, both kinds and generations together (at most 4 x entries).
    std::size_t size() const;

  private:
    template <typename Parsed>
    class Store;  // record_cache.cpp
    std::unique_ptr<Store<RecordResult>> dmarc_;
    std::unique_ptr<Store<Result<SpfRecord>>> spf_;
};

}  // namespace dmarc::io
