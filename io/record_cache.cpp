// SharedRecordCache: two generations of parses per record kind behind one mutex each (see
// record_cache.hpp). Parsing happens outside the lock; the lock covers a hash lookup.
#include "io/record_cache.hpp"

#include <functional>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace dmarc::io {

template <typename Parsed>
class SharedRecordCache::Store {
  public:
    explicit Store(std::size_t entries) : entries_(entries == 0 ? 1 : entries) {}

    template <typename Parse>
    std::shared_ptr<const Parsed> get(std::string_view text, Parse parse) {
        if (text.size() > limits::kMaxCachedRecordBytes) {
            return std::make_shared<const Parsed>(parse(text));
        }
        Map dropped;  // a generation pushed out: freed after the lock is released
        {
            std::lock_guard lock(mutex_);
            if (auto it = current_.find(text); it != current_.end()) return it->second;
            if (auto it = previous_.find(text); it != previous_.end()) {
                auto parsed = it->second;
                keep(text, parsed, dropped);
                return parsed;
            }
        }
        auto parsed = std::make_shared<const Parsed>(parse(text));
        std::lock_guard lock(mutex_);
        keep(text, parsed, dropped);
        return parsed;
    }

    std::size_t size() const {
        std::lock_guard lock(mutex_);
        return current_.size() + previous_.size();
    }

  private:
    struct Hash {
        using is_transparent = void;
        std::size_t operator()(std::string_view s) const noexcept {
            return std::hash<std::string_view>{}(s);
        }
    };
    using Map =
        std::unordered_map<std::string, std::shared_ptr<const Parsed>, Hash, std::equal_to<>>;

    // Under the lock. Another thread may have kept the same text meanwhile: the first stays
    // (both parses are equal).
    void keep(std::string_view text, const std::shared_ptr<const Parsed>& parsed, Map& dropped) {
        current_.try_emplace(std::string(text), parsed);
        if (current_.size() >= entries_) {
            dropped.swap(previous_);
            previous_.swap(current_);
        }
    }

    const std::size_t entries_;
    mutable std::mutex mutex_;
    Map current_;
    Map previous_;
};

SharedRecordCache::SharedRecordCache(std::size_t entries)
    : dmarc_(std::make_unique<Store<RecordResult>>(entries)),
      spf_(std::make_unique<Store<Result<SpfRecord>>>(entries)) {}

SharedRecordCache::~SharedRecordCache() = default;

std::shared_ptr<const RecordResult> SharedRecordCache::dmarc(std::string_view text) {
    return dmarc_->get(text, [](std::string_view t) { return parse_dmarc_record(t); });
}

std::shared_ptr<const Result<SpfRecord>> SharedRecordCache::spf(std::string_view text) {
    return spf_->get(text, [](std::string_view t) { return parse_spf_record(t); });
}

std::size_t SharedRecordCache::size() const {
    return dmarc_->size() + spf_->size();
}

}  // namespace dmarc::io
