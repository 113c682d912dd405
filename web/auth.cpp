// Password hashing, tokens, sessions and the login limiter (issue 7 item 3). argon2id through
// libsodium's crypto_pwhash_str (the hash string carries salt and cost, so costs can rise later).
#include "web/auth.hpp"

#include <sodium.h>

#include <algorithm>

namespace dmarc::web {

bool crypto_init() noexcept {
    return sodium_init() >= 0;
}

Result<std::string> hash_password(std::string_view password) {
    char out[crypto_pwhash_STRBYTES];
    if (crypto_pwhash_str(out, password.data(), password.size(), crypto_pwhash_OPSLIMIT_INTERACTIVE,
                          crypto_pwhash_MEMLIMIT_INTERACTIVE) != 0) {
        return make_error(Errc::io, "crypto_pwhash_str: out of memory");
    }
    return std::string(out);
}

bool verify_password(const std::string& hash, std::string_view password) noexcept {
    if (hash.size() >= crypto_pwhash_STRBYTES) return false;
    return crypto_pwhash_str_verify(hash.c_str(), password.data(), password.size()) == 0;
}

void verify_dummy(std::string_view password) noexcept {
    static const std::string dummy = [] {
        auto h = hash_password("dummy password for timing");
        return h ? *h : std::string();
    }();
    (void)verify_password(dummy, password);
}

std::string random_token(std::size_t bytes) {
    std::string raw(bytes, '\0');
    randombytes_buf(raw.data(), raw.size());
    std::string hex(bytes * 2 + 1, '\0');
    sodium_bin2hex(hex.data(), hex.size(), reinterpret_cast<const unsigned char*>(raw.data()),
                   raw.size());
    hex.pop_back();
    return hex;
}

std::string generate_password() {
    // No 0/O, 1/l/I: it is read off a terminal.
    static constexpr std::string_view kAlphabet =
        "abcdefghijkmnopqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789";
    std::string out;
    for (int i = 0; i < 20; ++i) {
        out += kAlphabet[randombytes_uniform(static_cast<std::uint32_t>(kAlphabet.size()))];
    }
    return out;
}

bool tokens_equal(std::string_view a, std::string_view b) noexcept {
    if (a.size() != b.size() || a.empty()) return false;
    return sodium_memcmp(a.data(), b.data(), a.size()) == 0;
}

std::string credential_tag(std::string_view password_hash) {
    unsigned char digest[16];
    crypto_generichash(digest, sizeof(digest),
                       reinterpret_cast<const unsigned char*>(password_hash.data()),
                       password_hash.size(), nullptr, 0);
    char hex[sizeof(digest) * 2 + 1];
    sodium_bin2hex(hex, sizeof(hex), digest, sizeof(digest));
    return hex;
}

Session SessionStore::create(std::string user, std::int64_t now, std::string credential) {
    Session s{random_token(), random_token(), std::move(user), now, now, std::move(credential)};
    std::lock_guard lock(mutex_);
    if (sessions_.size() >= kMaxSessions) {
        // Drop expired ones first; if still full, the least recently used.
        std::erase_if(sessions_, [now](const auto& kv) {
            return now - kv.second.last_seen > kIdleSeconds ||
                   now - kv.second.created > kAbsoluteSeconds;
        });
        if (sessions_.size() >= kMaxSessions) {
            std::string oldest;
            std::int64_t oldest_seen = now + 1;
            for (const auto& [id, session] : sessions_) {
                if (session.last_seen < oldest_seen) {
                    oldest_seen = session.last_seen;
                    oldest = id;
                }
            }
            sessions_.erase(oldest);
        }
    }
    sessions_[s.id] = s;
    return s;
}

std::optional<Session> SessionStore::find(const std::string& id, std::int64_t now) {
    std::lock_guard lock(mutex_);
    auto it = sessions_.find(id);
    if (it == sessions_.end()) return std::nullopt;
    if (now - it->second.last_seen > kIdleSeconds || now - it->second.created > kAbsoluteSeconds) {
        sessions_.erase(it);
        return std::nullopt;
    }
    it->second.last_seen = now;
    return it->second;
}

void SessionStore::remove(const std::string& id) {
    std::lock_guard lock(mutex_);
    sessions_.erase(id);
}

std::size_t SessionStore::size() {
    std::lock_guard lock(mutex_);
    return sessions_.size();
}

bool LoginLimiter::allowed(const std::string& ip, std::int64_t now) {
    std::lock_guard lock(mutex_);
    auto it = entries_.find(ip);
    if (it == entries_.end()) return true;
    if (now - it->second.window_start >= kWindowSeconds) {
        entries_.erase(it);
        return true;
    }
    return it->second.failures < kMaxFailures;
}

void LoginLimiter::failure(const std::string& ip, std::int64_t now) {
    std::lock_guard lock(mutex_);
    if (entries_.size() >= kMaxTracked) {
        std::erase_if(entries_, [now](const auto& kv) {
            return now - kv.second.window_start >= kWindowSeconds;
        });
    }
    auto& e = entries_[ip];
    if (e.failures == 0 || now - e.window_start >= kWindowSeconds) {
        e.failures = 0;
        e.window_start = now;
    }
    ++e.failures;
}

void LoginLimiter::success(const std::string& ip) {
    std::lock_guard lock(mutex_);
    entries_.erase(ip);
}

}  // namespace dmarc::web
