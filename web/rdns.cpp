// The background PTR resolver and its bounded cache (see rdns.hpp).
#include "web/rdns.hpp"

#include <algorithm>

#include "core/ip.hpp"
#include "core/limits.hpp"
#include "io/thread_name.hpp"

namespace dmarc::web {

ReverseDnsCache::ReverseDnsCache(DnsResolver& resolver, ReverseDnsOptions options)
    : resolver_(resolver), options_(options) {
    worker_ = std::thread([this] {
        io::name_this_thread("dmarc-web-rdns");
        run();
    });
}

ReverseDnsCache::~ReverseDnsCache() {
    {
        std::lock_guard lock(mutex_);
        stop_ = true;
    }
    wake_.notify_all();
    if (worker_.joinable()) worker_.join();
}

std::size_t ReverseDnsCache::size() const {
    std::lock_guard lock(mutex_);
    return entries_.size();
}

ReverseDnsCache::Answer ReverseDnsCache::lookup(const std::string& ip, std::int64_t now) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(ip);
    if (it != entries_.end() && it->second.state != State::resolving && it->second.expires > now) {
        it->second.used = ++clock_;
        return {it->second.state, it->second.name};
    }
    if (!queued_.contains(ip) && queue_.size() < options_.max_queue) {
        queued_.insert(ip);
        queue_.emplace_back(ip, now);
        wake_.notify_one();
    }
    // An expired answer is still shown while it is refreshed.
    if (it != entries_.end() && it->second.state != State::resolving) {
        return {it->second.state, it->second.name};
    }
    return {};
}

void ReverseDnsCache::evict_locked(std::int64_t now) {
    if (entries_.size() < options_.max_entries) return;
    for (auto it = entries_.begin(); it != entries_.end();) {
        it = it->second.expires <= now ? entries_.erase(it) : std::next(it);
    }
    while (entries_.size() >= options_.max_entries) {
        auto oldest = std::min_element(entries_.begin(), entries_.end(), [](auto& a, auto& b) {
            return a.second.used < b.second.used;
        });
        entries_.erase(oldest);
    }
}

bool ReverseDnsCache::wait_idle(std::chrono::milliseconds timeout) {
    std::unique_lock lock(mutex_);
    return idle_.wait_for(lock, timeout, [this] { return queue_.empty() && !busy_; });
}

void ReverseDnsCache::run() {
    std::unique_lock lock(mutex_);
    for (;;) {
        wake_.wait(lock, [this] { return stop_ || !queue_.empty(); });
        if (stop_) return;
        auto [ip, now] = queue_.front();
        queue_.pop_front();
        busy_ = true;
        lock.unlock();

        Entry entry;
        entry.state = State::none;
        entry.expires = now + options_.negative_ttl_seconds;
        if (auto address = IpAddress::parse(ip)) {
            DnsResponse r = resolver_.lookup(address->to_reverse_name(), RrType::ptr);
            if (r.status == DnsStatus::answer && !r.names.empty() &&
                r.names.front().size() <= limits::kMaxPtrNameBytes) {
                entry.state = State::found;
                entry.name = r.names.front();
                std::int64_t ttl = options_.ttl_seconds;
                if (r.ttl > 0) ttl = std::min<std::int64_t>(ttl, r.ttl);
                entry.expires = now + std::max<std::int64_t>(ttl, 60);
            }
        }

        lock.lock();
        queued_.erase(ip);
        evict_locked(now);
        entry.used = ++clock_;
        entries_[ip] = std::move(entry);
        busy_ = false;
        if (queue_.empty()) idle_.notify_all();
    }
}

}  // namespace dmarc::web
