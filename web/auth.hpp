// Authentication for dmarc-web (issue 7 item 3): argon2id password hashes (libsodium
// crypto_pwhash_str), random session ids and CSRF tokens (randombytes), server-side sessions with
// idle and absolute expiry, and a per-IP limiter of failed logins. Time is a parameter.
#pragma once

#include <cstdint>
#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>

#include "core/result.hpp"

namespace dmarc::web {

// Must run once before any other function here (sodium_init); false if libsodium cannot start.
bool crypto_init() noexcept;

// crypto_pwhash_str with the "interactive" argon2id cost (64 MiB, 2 passes).
Result<std::string> hash_password(std::string_view password);
bool verify_password(const std::string& hash, std::string_view password) noexcept;
// Burns the time of one verification, so an unknown user name answers as slowly as a known one.
void verify_dummy(std::string_view password) noexcept;

// `bytes` random bytes as lower-case hex.
std::string random_token(std::size_t bytes = 32);
// A short tag (BLAKE2b-128, hex) of a stored password hash: a session keeps the tag of the hash
// it logged in with, so a new password (`user passwd`) ends the sessions opened with the old.
std::string credential_tag(std::string_view password_hash);
// A password to print once for a new user: 20 characters from a 56-symbol alphabet (~116 bits).
std::string generate_password();
// Constant-time comparison (sodium_memcmp) of two tokens; false on different lengths.
bool tokens_equal(std::string_view a, std::string_view b) noexcept;

// Who is logged in, not what they may do: the role and scope are read from the store on every
// request (routes.cpp), so a change made with the CLI applies to live sessions at once.
struct Session {
    std::string id;
    std::string csrf;  // the synchronizer token every POST must carry
    std::string user;
    std::int64_t created = 0;
    std::int64_t last_seen = 0;
    std::string credential;  // credential_tag at login; empty: not tied to a password
};

class SessionStore {
  public:
    static constexpr std::int64_t kIdleSeconds = 8 * 3600;
    static constexpr std::int64_t kAbsoluteSeconds = 24 * 3600;
    static constexpr std::size_t kMaxSessions = 10000;

    Session create(std::string user, std::int64_t now, std::string credential = {});
    // The live session for this id (touching its idle timer), or nullopt.
    std::optional<Session> find(const std::string& id, std::int64_t now);
    void remove(const std::string& id);
    std::size_t size();

  private:
    std::mutex mutex_;
    std::unordered_map<std::string, Session> sessions_;
};

// Failed logins per client IP: at most kMaxFailures in a sliding kWindowSeconds; then every
// attempt from that IP is refused (429) until the window has passed, right password or not.
class LoginLimiter {
  public:
    static constexpr int kMaxFailures = 5;
    static constexpr std::int64_t kWindowSeconds = 300;
    static constexpr std::size_t kMaxTracked = 100000;

    bool allowed(const std::string& ip, std::int64_t now);
    void failure(const std::string& ip, std::int64_t now);
    void success(const std::string& ip);

  private:
    struct Entry {
        int failures = 0;
        std::int64_t window_start = 0;
    };
    std::mutex mutex_;
    std::unordered_map<std::string, Entry> entries_;
};

}  // namespace dmarc::web
