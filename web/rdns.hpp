// Reverse DNS of the sources page (issue 7 item 2): PTR names resolved by one background thread
// and cached (bounded, with a TTL), so a page never waits on DNS: an address not yet known shows
// "resolving…" and is queued. PTR (RFC 1035 §3.5) names are unverified text from the address
// owner's zone: shown escaped, never trusted as an identity.
#pragma once

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <deque>
#include <map>
#include <mutex>
#include <set>
#include <string>
#include <thread>

#include "core/dns.hpp"

namespace dmarc::web {

struct ReverseDnsOptions {
    std::size_t max_entries = 10000;  // cache bound; the least recently used go first
    std::size_t max_queue = 1024;     // pending lookups; more are dropped and asked again later
    std::int64_t ttl_seconds = 3600;  // a found name (capped by the answer's TTL when lower)
    std::int64_t negative_ttl_seconds = 300;  // no PTR, or a failure
};

class ReverseDnsCache {
  public:
    enum class State { resolving, found, none };
    struct Answer {
        State state = State::resolving;
        std::string name;  // found: the first PTR target
    };

    ReverseDnsCache(DnsResolver& resolver, ReverseDnsOptions options = {});
    ~ReverseDnsCache();
    ReverseDnsCache(const ReverseDnsCache&) = delete;
    ReverseDnsCache& operator=(const ReverseDnsCache&) = delete;

    // Never blocks on DNS: the cached answer, or `resolving` with the address queued.
    Answer lookup(const std::string& ip, std::int64_t now);
    // Waits until the queue is empty and the worker idle (tests, the browser seed); false on
    // timeout.
    bool wait_idle(std::chrono::milliseconds timeout);
    std::size_t size() const;

  private:
    struct Entry {
        State state = State::resolving;
        std::string name;
        std::int64_t expires = 0;
        std::uint64_t used = 0;
    };
    void run();
    void evict_locked(std::int64_t now);

    DnsResolver& resolver_;
    ReverseDnsOptions options_;
    mutable std::mutex mutex_;
    std::condition_variable wake_, idle_;
    std::map<std::string, Entry> entries_;
    std::deque<std::pair<std::string, std::int64_t>> queue_;  // address, time asked
    std::set<std::string> queued_;
    std::uint64_t clock_ = 0;
    bool busy_ = false;
    bool stop_ = false;
    std::thread worker_;
};

}  // namespace dmarc::web
