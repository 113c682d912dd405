// The production DnsResolver: libunbound behind an in-process TTL cache (RFC 1035 §7.3 TTLs,
// RFC 2308 §5 negative caching of NXDOMAIN/NODATA), a per-query deadline that holds whatever
// unbound's retry schedule is, upstream servers from resolv.conf or `Nameservers`, and optional
// DNSSEC validation (RFC 4033-4035) from a trust-anchor file. Safe from many threads at once.
#pragma once

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/dns.hpp"
#include "core/result.hpp"

struct ub_ctx;

namespace dmarc::io {

struct DnsOptions {
    // Per query (`DNSTimeout`); past it the query answers temperror with why = "timeout".
    std::chrono::milliseconds timeout{5000};
    // "host[@port]" IPv4/IPv6 literals (parse_nameservers); empty: the servers of resolv.conf.
    std::vector<std::string> nameservers;
    std::string resolv_conf_path;   // empty: /etc/resolv.conf (tests point elsewhere)
    std::string trust_anchor_file;  // empty: no DNSSEC validation
    bool cache = true;
    std::size_t cache_entries = 100000;   // bound; least recently used entries go first
    std::chrono::seconds max_ttl{86400};  // TTLs are capped here (a day)
    // Negative answers: the TTL the server gave (SOA minimum, RFC 2308 §5), else the default,
    // never over the cap (unbound's own cache-max-negative-ttl default is an hour).
    std::chrono::seconds default_negative_ttl{300};
    std::chrono::seconds max_negative_ttl{3600};
    // A server failure (SERVFAIL, REFUSED, other RCODEs, a bogus DNSSEC answer) or a timeout is
    // kept this long (RFC 2308 §7: at most five minutes), so a broken zone costs one query, or
    // one DNSTimeout, per name every few seconds instead of one per message. Failures of our
    // own (a bad name, libunbound refusing) are never kept. 0 turns this off.
    std::chrono::seconds server_failure_ttl{5};
    // Further libunbound settings as ub_ctx_set_option takes them ("edns-buffer-size:", "1232").
    // Note that libunbound, like unbound, answers the RFC 6303 locally served zones (private and
    // documentation reverse zones) itself unless told {"local-zone:", "<zone> transparent"}.
    std::vector<std::pair<std::string, std::string>> unbound_options;
};

// The `Nameservers` key: comma- and/or space-separated IPv4/IPv6 literals, each with an optional
// "@port". Returns them in unbound's "address[@port]" form; an error names the bad entry.
Result<std::vector<std::string>> parse_nameservers(std::string_view text);

struct DnsStats {
    std::uint64_t lookups = 0;     // calls to lookup(), and lookup_now answers kept
    std::uint64_t cache_hits = 0;  // answered without a query: our cache, or a bad name refused
    std::uint64_t upstream = 0;    // queries handed to libunbound
    std::uint64_t timeouts = 0;    // queries cut off at the deadline
};

class UnboundResolver final : public DnsResolver {
  public:
    ~UnboundResolver() override;
    UnboundResolver(const UnboundResolver&) = delete;
    UnboundResolver& operator=(const UnboundResolver&) = delete;

    DnsResponse lookup(std::string_view name, RrType type) override;
    // A cached answer or a bad name's refusal, counted only by count_answered_now; nullopt
    // when only the upstream servers could answer.
    std::optional<DnsResponse> lookup_now(std::string_view name, RrType type) override;
    void count_answered_now(std::uint64_t answers) override;

    DnsStats stats() const noexcept;
    // Entries now held: at most cache_entries rounded up to a multiple of the shard count (32).
    std::size_t cache_size() const;
    // Forgets every cached answer (configuration reload, tests).
    void clear_cache();

  private:
    friend Result<std::unique_ptr<UnboundResolver>> make_unbound_resolver(const DnsOptions&);
    struct Cache;
    UnboundResolver(const DnsOptions& options, ub_ctx* ctx, int wake_fd);
    void event_loop();
    struct Upstream {
        DnsResponse response;
        bool server_failure = false;  // a temperror the servers gave (or a timeout), cacheable
    };
    Upstream query_upstream(const char* name, RrType type);

    DnsOptions options_;
    ub_ctx* ctx_;
    int wake_fd_;  // eventfd that ends the event thread
    std::unique_ptr<Cache> cache_;
    struct Thread;
    std::unique_ptr<Thread> thread_;
    std::atomic<std::uint64_t> lookups_{0};
    std::atomic<std::uint64_t> cache_hits_{0};
    std::atomic<std::uint64_t> upstream_{0};
    std::atomic<std::uint64_t> timeouts_{0};
    std::atomic<bool> broken_{false};  // the event thread gave up (libunbound's pipe failed)
};

// Sets up the libunbound context (threaded asynchronous mode), its forwarders and trust anchor,
// and starts the event thread. Errors: a bad option, an unreadable file, libunbound refusing.
Result<std::unique_ptr<UnboundResolver>> make_unbound_resolver(const DnsOptions& options);

}  // namespace dmarc::io
