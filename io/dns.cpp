// UnboundResolver: libunbound in threaded asynchronous mode, one event thread draining its
// answer pipe, each caller waiting on its own completion with a deadline (so DNSTimeout holds
// whatever unbound's retry schedule is), and a sharded LRU cache in front that honours TTLs and
// caches NXDOMAIN/NODATA (RFC 2308 §5) but never temperror.
#include "io/dns.hpp"

#include <poll.h>
#include <sys/eventfd.h>
#include <unbound.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <condition_variable>
#include <functional>
#include <list>
#include <mutex>
#include <optional>
#include <thread>
#include <unordered_map>
#include <utility>

#include "core/dns_wire.hpp"
#include "core/ip.hpp"
#include "core/limits.hpp"
#include "core/text.hpp"
#include "io/thread_name.hpp"

namespace dmarc::io {

using Clock = std::chrono::steady_clock;

// ---- Nameservers -------------------------------------------------------------------------------

Result<std::vector<std::string>> parse_nameservers(std::string_view text) {
    std::vector<std::string> out;
    std::size_t pos = 0;
    while (pos < text.size()) {
        const std::size_t end = text.find_first_of(", \t", pos);
        const std::string_view entry =
            text.substr(pos, end == std::string_view::npos ? std::string_view::npos : end - pos);
        pos = end == std::string_view::npos ? text.size() : end + 1;
        if (entry.empty()) continue;
        auto bad = [&](const std::string& why) {
            return make_error(Errc::syntax, "Nameservers: '" + std::string(entry) + "' " + why);
        };
        std::string_view host = entry;
        std::optional<unsigned> port;
        if (const auto at = entry.rfind('@'); at != std::string_view::npos) {
            host = entry.substr(0, at);
            const std::string_view digits = entry.substr(at + 1);
            unsigned value = 0;
            const auto [ptr, ec] =
                std::from_chars(digits.data(), digits.data() + digits.size(), value);
            if (digits.empty() || ec != std::errc() || ptr != digits.data() + digits.size() ||
                value == 0 || value > 65535) {
                return bad("has no valid port after '@' (1-65535)");
            }
            port = value;
        }
        // A literal only: unbound forwards to addresses, and resolving a server's name would need
        // the resolver being configured.
        auto ip = IpAddress::parse(host);
        if (!ip || text::istarts_with(host, "ipv6:")) return bad("is not an IPv4 or IPv6 address");
        if (out.size() == limits::kMaxNameservers) {
            std::string message = "Nameservers: more than ";
            message += std::to_string(limits::kMaxNameservers);
            message += " servers";
            return make_error(Errc::limit, std::move(message));
        }
        std::string server = ip->to_string();
        if (port) {
            server += '@';
            server += std::to_string(*port);
        }
        out.push_back(std::move(server));
    }
    if (out.empty()) return make_error(Errc::syntax, "Nameservers: no server given");
    return out;
}

// ---- Cache -------------------------------------------------------------------------------------

struct UnboundResolver::Cache {
    static constexpr std::size_t kShards = 32;

    struct Entry {
        std::shared_ptr<const DnsResponse> response;
        Clock::time_point expires;
        std::list<std::string>::iterator lru;
    };
    struct Shard {
        std::mutex mutex;
        std::unordered_map<std::string, Entry> map;
        std::list<std::string> lru;  // front: most recently used
    };

    explicit Cache(std::size_t entries) : per_shard((entries + kShards - 1) / kShards) {}

    Shard& shard_for(const std::string& key) {
        return shards[std::hash<std::string>{}(key) % kShards];
    }

    std::optional<DnsResponse> get(const std::string& key, Clock::time_point now) {
        Shard& shard = shard_for(key);
        std::shared_ptr<const DnsResponse> hit;
        Clock::time_point expires;
        {
            std::lock_guard lock(shard.mutex);
            auto it = shard.map.find(key);
            if (it == shard.map.end()) return std::nullopt;
            if (it->second.expires <= now) {
                shard.lru.erase(it->second.lru);
                shard.map.erase(it);
                return std::nullopt;
            }
            shard.lru.splice(shard.lru.begin(), shard.lru, it->second.lru);
            hit = it->second.response;
            expires = it->second.expires;
        }
        // The copy happens outside the lock so threads hitting one shard do not queue on it,
        // made straight into the returned optional (no move of a local after it).
        std::optional<DnsResponse> response(std::in_place, *hit);
        response->ttl = static_cast<std::uint32_t>(
            std::chrono::duration_cast<std::chrono::seconds>(expires - now).count());
        return response;
    }

    void put(const std::string& key, const DnsResponse& response, std::chrono::seconds ttl,
             Clock::time_point now) {
        if (ttl.count() <= 0) return;  // TTL 0: use once, never cache (RFC 1035 §3.2.1)
        auto stored = std::make_shared<const DnsResponse>(response);
        Shard& shard = shard_for(key);
        std::lock_guard lock(shard.mutex);
        auto it = shard.map.find(key);
        if (it != shard.map.end()) {
            it->second.response = std::move(stored);
            it->second.expires = now + ttl;
            shard.lru.splice(shard.lru.begin(), shard.lru, it->second.lru);
            return;
        }
        shard.lru.push_front(key);
        shard.map.emplace(key, Entry{std::move(stored), now + ttl, shard.lru.begin()});
        while (shard.map.size() > per_shard) {
            shard.map.erase(shard.lru.back());
            shard.lru.pop_back();
        }
    }

    std::size_t size() {
        std::size_t total = 0;
        for (auto& shard : shards) {
            std::lock_guard lock(shard.mutex);
            total += shard.map.size();
        }
        return total;
    }

    void clear() {
        for (auto& shard : shards) {
            std::lock_guard lock(shard.mutex);
            shard.map.clear();
            shard.lru.clear();
        }
    }

    std::size_t per_shard;
    std::array<Shard, kShards> shards;
};

// ---- Event thread and queries ------------------------------------------------------------------

struct UnboundResolver::Thread {
    std::thread thread;
};

namespace {

DnsResponse temperror(std::string why) {
    DnsResponse r = DnsResponse::make(DnsStatus::temperror);
    r.why = std::move(why);
    return r;
}

// One outstanding query. Shared between the caller and libunbound's callback argument, so
// whichever finishes last frees it (the caller may have given up at its deadline).
struct Pending {
    std::mutex mutex;
    std::condition_variable done_cv;
    bool done = false;
    RrType type = RrType::a;
    DnsResponse response;
    bool local_failure = false;  // libunbound itself failed; no server answered
};

extern "C" void on_unbound_result(void* arg, int err, ub_result* result) {
    std::unique_ptr<std::shared_ptr<Pending>> holder(static_cast<std::shared_ptr<Pending>*>(arg));
    Pending& pending = **holder;
    DnsResponse response;
    const bool local_failure = err != 0 || result == nullptr;
    if (local_failure) {
        response = temperror(std::string("resolver: ") + ub_strerror(err));
    } else {
        dns_wire::RawAnswer raw;
        raw.rcode = result->rcode;
        raw.havedata = result->havedata != 0;
        raw.nxdomain = result->nxdomain != 0;
        raw.secure = result->secure != 0;
        raw.bogus = result->bogus != 0;
        if (result->why_bogus != nullptr) raw.why_bogus = result->why_bogus;
        raw.ttl = result->ttl;
        if (result->data != nullptr) {
            for (std::size_t i = 0; result->data[i] != nullptr; ++i) {
                const int len = result->len[i];
                raw.rdata.emplace_back(reinterpret_cast<const std::uint8_t*>(result->data[i]),
                                       static_cast<std::size_t>(std::max(len, 0)));
            }
        }
        response = dns_wire::to_response(pending.type, raw);
    }
    if (result != nullptr) ub_resolve_free(result);
    {
        std::lock_guard lock(pending.mutex);
        pending.response = std::move(response);
        pending.local_failure = local_failure;
        pending.done = true;
    }
    pending.done_cv.notify_all();
}

// The name in unbound's presentation form: '.' separates labels; every other byte that is not
// a letter, digit, '-' or '_' is written \DDD (RFC 1035 §5.1), so SPF-macro names with odd
// bytes are asked for literally instead of being misread as escapes or cut at a NUL. The result
// starts with `prefix`.
// Each byte as written in a label: itself lower-cased for a letter, digit, '-' or '_', else 0
// (written \DDD).
constexpr std::array<char, 256> kPlainLabelByte = [] {
    std::array<char, 256> table{};
    for (int b = 0; b < 256; ++b) {
        const char c = static_cast<char>(b);
        if (text::is_alpha(c) || text::is_digit(c) || c == '-' || c == '_') {
            table[static_cast<std::size_t>(b)] = text::to_lower(c);
        }
    }
    return table;
}();

Result<std::string> presentation_name(std::string_view name, char prefix) {
    if (!name.empty() && name.back() == '.') name.remove_suffix(1);
    if (name.empty()) return make_error(Errc::syntax, "empty query name");
    if (name.size() > limits::kMaxDomainBytes) {
        return make_error(Errc::limit, "query name over 253 bytes");
    }
    // One pass, for every lookup, cached ones included, into a string sized for the usual name
    // (letters, digits, '-', '_'); each byte to escape grows it by three.
    Result<std::string> result(tl::in_place, 1 + name.size(), prefix);
    std::string& out = *result;
    std::size_t at = 1;
    std::size_t label = 0;
    for (const char c : name) {
        if (c == '.') {
            if (label == 0) return make_error(Errc::syntax, "empty label in query name");
            label = 0;
            out[at++] = '.';
            continue;
        }
        if (++label > limits::kMaxLabelBytes) {
            return make_error(Errc::limit, "label over 63 bytes in query name");
        }
        const auto byte = static_cast<unsigned char>(c);
        if (const char plain = kPlainLabelByte[byte]; plain != 0) {
            out[at++] = plain;
            continue;
        }
        out.resize(out.size() + 3);
        out[at++] = '\\';
        out[at++] = static_cast<char>('0' + byte / 100);
        out[at++] = static_cast<char>('0' + (byte / 10) % 10);
        out[at++] = static_cast<char>('0' + byte % 10);
    }
    if (label == 0) return make_error(Errc::syntax, "empty label in query name");
    return result;
}

}  // namespace

Result<std::unique_ptr<UnboundResolver>> make_unbound_resolver(const DnsOptions& options) {
    if (options.timeout.count() <= 0) {
        return make_error(Errc::invalid_value, "DNSTimeout must be positive");
    }
    if (options.cache && options.cache_entries == 0) {
        return make_error(Errc::invalid_value, "DNS cache size must be positive");
    }
    if (!options.trust_anchor_file.empty() &&
        ::access(options.trust_anchor_file.c_str(), R_OK) != 0) {
        return make_error(
            Errc::io, "DNS trust anchor file " + options.trust_anchor_file + " is not readable");
    }
    std::unique_ptr<ub_ctx, void (*)(ub_ctx*)> ctx(ub_ctx_create(), ub_ctx_delete);
    if (!ctx) return make_error(Errc::internal, "libunbound: cannot create a context");
    auto check = [](int rc, const std::string& what) -> Result<void> {
        if (rc == 0) return {};
        return make_error(Errc::invalid_value, what + ": " + ub_strerror(rc));
    };
    // Threads, not the default forked process: callbacks must run in our process.
    if (auto r = check(ub_ctx_async(ctx.get(), 1), "libunbound async mode"); !r) {
        return tl::unexpected(r.error());
    }
    // Forwarders and resolv.conf servers on loopback (a local cache, the tests) must be usable.
    if (auto r = check(ub_ctx_set_option(ctx.get(), "do-not-query-localhost:", "no"),
                       "libunbound do-not-query-localhost");
        !r) {
        return tl::unexpected(r.error());
    }
    for (const auto& [name, value] : options.unbound_options) {
        if (auto r = check(ub_ctx_set_option(ctx.get(), name.c_str(), value.c_str()),
                           "libunbound option " + name + " " + value);
            !r) {
            return tl::unexpected(r.error());
        }
    }
    if (options.trust_anchor_file.empty()) {
        // No anchor: the validator could only ever say "insecure"; skip its work.
        if (auto r = check(ub_ctx_set_option(ctx.get(), "module-config:", "iterator"),
                           "libunbound module-config");
            !r) {
            return tl::unexpected(r.error());
        }
    } else if (auto r = check(ub_ctx_add_ta_file(ctx.get(), options.trust_anchor_file.c_str()),
                              "DNS trust anchor file " + options.trust_anchor_file);
               !r) {
        return tl::unexpected(r.error());
    }
    if (!options.nameservers.empty()) {
        for (const auto& server : options.nameservers) {
            if (auto r = check(ub_ctx_set_fwd(ctx.get(), server.c_str()), "nameserver " + server);
                !r) {
                return tl::unexpected(r.error());
            }
        }
    } else {
        const char* path =
            options.resolv_conf_path.empty() ? nullptr : options.resolv_conf_path.c_str();
        if (auto r = check(ub_ctx_resolvconf(ctx.get(), path),
                           "resolver configuration " + (options.resolv_conf_path.empty()
                                                            ? std::string("/etc/resolv.conf")
                                                            : options.resolv_conf_path));
            !r) {
            return tl::unexpected(r.error());
        }
    }
    // Configuration errors (a trust anchor that does not parse) surface only when libunbound
    // finalises its context; make that happen now with a query its built-in localhost zone
    // answers without any network traffic.
    ub_result* probe = nullptr;
    const int rc = ub_resolve(ctx.get(), "localhost.", 1, 1, &probe);
    if (probe != nullptr) ub_resolve_free(probe);
    if (rc != 0) {
        return make_error(Errc::invalid_value,
                          std::string("libunbound configuration: ") + ub_strerror(rc));
    }
    const int wake_fd = ::eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK);
    if (wake_fd < 0) return make_error(Errc::io, "eventfd failed");
    return std::unique_ptr<UnboundResolver>(new UnboundResolver(options, ctx.release(), wake_fd));
}

UnboundResolver::UnboundResolver(const DnsOptions& options, ub_ctx* ctx, int wake_fd)
    : options_(options),
      ctx_(ctx),
      wake_fd_(wake_fd),
      cache_(options.cache ? std::make_unique<Cache>(options.cache_entries) : nullptr),
      thread_(std::make_unique<Thread>()) {
    thread_->thread = std::thread([this] {
        name_this_thread("dmarc-dns");
        event_loop();
    });
}

UnboundResolver::~UnboundResolver() {
    const std::uint64_t one = 1;
    // A failed write leaves nothing to fall back on; the event thread would never end.
    while (::write(wake_fd_, &one, sizeof one) < 0 && errno == EINTR) {
    }
    thread_->thread.join();
    // Deletes queries still running (only ones callers cancelled at their deadline).
    ub_ctx_delete(ctx_);
    ::close(wake_fd_);
}

void UnboundResolver::event_loop() {
    std::array<pollfd, 2> fds{};
    fds[0].fd = ub_fd(ctx_);
    fds[0].events = POLLIN;
    fds[1].fd = wake_fd_;
    fds[1].events = POLLIN;
    for (;;) {
        const int n = ::poll(fds.data(), fds.size(), -1);
        if (n < 0 && errno == EINTR) continue;
        if (fds[1].revents != 0) return;  // shutdown
        // A broken answer pipe (libunbound's worker gone) would otherwise spin this loop: stop,
        // and let queries answer temperror at once (never a wrong answer).
        if (n < 0 || (fds[0].revents & (POLLERR | POLLHUP | POLLNVAL)) != 0 ||
            (fds[0].revents != 0 && ub_process(ctx_) != 0)) {
            broken_.store(true, std::memory_order_release);
            return;
        }
    }
}

UnboundResolver::Upstream UnboundResolver::query_upstream(const char* name, RrType type) {
    const auto deadline = Clock::now() + options_.timeout;
    if (broken_.load(std::memory_order_acquire)) {
        return {temperror("resolver: libunbound event loop stopped")};
    }
    upstream_.fetch_add(1, std::memory_order_relaxed);
    auto pending = std::make_shared<Pending>();
    pending->type = type;
    auto* arg = new std::shared_ptr<Pending>(pending);
    int id = 0;
    const int rc =
        ub_resolve_async(ctx_, name, dns_wire::rr_type_code(type), 1, arg, on_unbound_result, &id);
    if (rc != 0) {
        delete arg;
        return {temperror(std::string("resolver: ") + ub_strerror(rc))};
    }
    auto answered = [&pending] {
        const bool server =
            pending->response.status == DnsStatus::temperror && !pending->local_failure;
        return Upstream{std::move(pending->response), server};
    };
    std::unique_lock lock(pending->mutex);
    if (pending->done_cv.wait_until(lock, deadline, [&] { return pending->done; })) {
        return answered();
    }
    lock.unlock();
    // libunbound checks "cancelled" and takes the callback under one lock: UB_NOERROR means the
    // callback will never run (the argument is ours to free); UB_NOID means it is running or ran.
    if (ub_cancel(ctx_, id) == UB_NOERROR) {
        delete arg;
        timeouts_.fetch_add(1, std::memory_order_relaxed);
        return {temperror("timeout"), true};
    }
    lock.lock();
    pending->done_cv.wait(lock, [&] { return pending->done; });
    return answered();
}

DnsResponse UnboundResolver::lookup(std::string_view name, RrType type) {
    lookups_.fetch_add(1, std::memory_order_relaxed);
    // One string serves as cache key (a type octet, then the name) and, past that octet, as
    // the name libunbound is asked for: one allocation on the cached path.
    auto key = presentation_name(name, static_cast<char>('0' + static_cast<int>(type)));
    if (!key) {
        cache_hits_.fetch_add(1, std::memory_order_relaxed);  // answered without a query
        return temperror("invalid query name: " + key.error().message);
    }
    const Clock::time_point start = Clock::now();
    if (cache_) {
        if (auto hit = cache_->get(*key, start)) {
            cache_hits_.fetch_add(1, std::memory_order_relaxed);
            return std::move(*hit);
        }
    }
    auto [response, server_failure] = query_upstream(key->c_str() + 1, type);
    std::chrono::seconds ttl{response.ttl};
    if (response.status == DnsStatus::temperror) {
        if (!server_failure) return response;
        ttl = std::min(options_.server_failure_ttl, std::chrono::seconds(300));
    } else if (response.status == DnsStatus::answer) {
        ttl = std::min(ttl, options_.max_ttl);
    } else if (ttl.count() <= 0) {
        // No SOA came with the negative answer (RFC 2308 §5 leaves the time to us).
        ttl = std::min(options_.default_negative_ttl, options_.max_negative_ttl);
    } else {
        ttl = std::min(ttl, options_.max_negative_ttl);
    }
    response.ttl = static_cast<std::uint32_t>(ttl.count());
    if (cache_) cache_->put(*key, response, ttl, start);
    return response;
}

std::optional<DnsResponse> UnboundResolver::lookup_now(std::string_view name, RrType type) {
    auto key = presentation_name(name, static_cast<char>('0' + static_cast<int>(type)));
    if (!key) return temperror("invalid query name: " + key.error().message);
    if (!cache_) return std::nullopt;
    return cache_->get(*key, Clock::now());
}

void UnboundResolver::count_answered_now(std::uint64_t answers) {
    lookups_.fetch_add(answers, std::memory_order_relaxed);
    cache_hits_.fetch_add(answers, std::memory_order_relaxed);
}

DnsStats UnboundResolver::stats() const noexcept {
    DnsStats s;
    s.lookups = lookups_.load(std::memory_order_relaxed);
    s.cache_hits = cache_hits_.load(std::memory_order_relaxed);
    s.upstream = upstream_.load(std::memory_order_relaxed);
    s.timeouts = timeouts_.load(std::memory_order_relaxed);
    return s;
}

std::size_t UnboundResolver::cache_size() const {
    return cache_ ? cache_->size() : 0;
}

void UnboundResolver::clear_cache() {
    if (cache_) cache_->clear();
}

}  // namespace dmarc::io
