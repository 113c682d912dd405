// A small result cache for the dashboard's aggregates (issue 7: the overview on a store of 10 M
// messages). The aggregation still runs in the store; its answer is kept for `ttl` seconds per
// filter, and while one request recomputes an entry whose window moved or whose time ran out,
// the others get the previous answer (stale-while-revalidate), so 50 concurrent dashboards cost
// one query, not fifty. Bounded: at most max_entries filters, the least recently used go first.
// With refresh_in_background, the request that finds an entry stale gets the previous answer too,
// and the cache's own thread recomputes it: only a filter's first computation is ever waited for
// (10 M messages: the overview's ~13 s would otherwise fall on one user every minute).
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>

#include "core/result.hpp"

namespace dmarc::web {

// An answer with the time it was computed (epoch seconds): a page shows an old one's time while
// the cache computes a newer one.
template <typename T>
struct Computed {
    T value;
    std::int64_t at = 0;
};

template <typename T>
Result<Computed<T>> computed_at(Result<T> answer, std::int64_t now) {
    if (!answer) return tl::unexpected(answer.error());
    return Computed<T>{std::move(*answer), now};
}

template <typename T>
class ResultCache {
  public:
    explicit ResultCache(std::int64_t ttl_seconds, std::size_t max_entries = 256,
                         bool refresh_in_background = false)
        : ttl_(ttl_seconds), max_entries_(max_entries), background_(refresh_in_background) {}

    ResultCache(const ResultCache&) = delete;
    ResultCache& operator=(const ResultCache&) = delete;

    // Waits for a refresh under way (compute may hold references the owner is about to drop).
    ~ResultCache() {
        {
            std::lock_guard lock(mutex_);
            stopping_ = true;
            jobs_.clear();
        }
        jobs_ready_.notify_all();
        if (worker_.joinable()) worker_.join();
    }

    // key: what the answer depends on except the window; window: the exact [from, to) asked.
    // compute runs without the lock held; an error is returned, never cached. In background
    // mode compute may run after get returned, on the cache's thread: it must not refer to
    // anything of the caller's that dies sooner than the cache.
    Result<std::shared_ptr<const T>> get(const std::string& key, const std::string& window,
                                         std::int64_t now,
                                         const std::function<Result<T>()>& compute) {
        {
            std::unique_lock lock(mutex_);
            // A first computation under way: wait for it rather than start another.
            done_.wait(lock, [&] {
                auto it = entries_.find(key);
                return it == entries_.end() || it->second.value || !it->second.computing;
            });
            Entry& e = entries_[key];
            e.used = ++clock_;
            const bool fresh = e.value && e.window == window && now - e.computed < ttl_;
            if (fresh || (e.value && e.computing)) return e.value;
            if (background_ && e.value && ttl_ > 0 && !stopping_) {
                e.computing = true;
                jobs_.push_back([this, key, window, now, compute] {
                    std::optional<Result<T>> value;
                    try {
                        value.emplace(compute());
                    } catch (...) {
                        value.emplace(make_error(Errc::io, "refresh failed"));
                    }
                    store(key, window, now, *value);
                });
                if (!worker_.joinable()) worker_ = std::thread([this] { run_jobs(); });
                jobs_ready_.notify_one();
                return e.value;
            }
            if (ttl_ <= 0 && !e.value) {
                // Caching off: compute every time.
            } else {
                e.computing = true;
            }
        }
        std::optional<Result<T>> computed;
        try {
            computed.emplace(compute());
        } catch (...) {
            std::lock_guard lock(mutex_);
            entries_[key].computing = false;
            done_.notify_all();
            throw;
        }
        return store(key, window, now, *computed);
    }

  private:
    // Ends a computation: keeps a good answer (an error leaves the previous one in place).
    Result<std::shared_ptr<const T>> store(const std::string& key, const std::string& window,
                                           std::int64_t now, Result<T>& value) {
        std::lock_guard lock(mutex_);
        Entry& e = entries_[key];
        e.computing = false;
        done_.notify_all();
        if (!value) return tl::unexpected(value.error());
        auto shared = std::make_shared<const T>(std::move(*value));
        if (ttl_ > 0) {
            e.value = shared;
            e.window = window;
            e.computed = now;
            evict_locked();
        }
        return shared;
    }

    void run_jobs() {
        std::unique_lock lock(mutex_);
        for (;;) {
            jobs_ready_.wait(lock, [&] { return stopping_ || !jobs_.empty(); });
            if (stopping_) return;
            auto job = std::move(jobs_.front());
            jobs_.pop_front();
            lock.unlock();
            job();
            lock.lock();
        }
    }

    struct Entry {
        std::shared_ptr<const T> value;
        std::string window;
        std::int64_t computed = 0;
        std::uint64_t used = 0;
        bool computing = false;
    };
    void evict_locked() {
        while (entries_.size() > max_entries_) {
            auto oldest = entries_.begin();
            for (auto it = entries_.begin(); it != entries_.end(); ++it) {
                if (!it->second.computing && it->second.used < oldest->second.used) oldest = it;
            }
            entries_.erase(oldest);
        }
    }

    std::int64_t ttl_;
    std::size_t max_entries_;
    std::mutex mutex_;
    std::condition_variable done_;
    std::map<std::string, Entry> entries_;
    std::uint64_t clock_ = 0;
    bool background_ = false;
    bool stopping_ = false;
    std::deque<std::function<void()>> jobs_;
    std::condition_variable jobs_ready_;
    std::thread worker_;  // started by the first background refresh
};

}  // namespace dmarc::web
