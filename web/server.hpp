// dmarc-web's HTTP/1.1 server (issue 7 item 1) on Boost.Beast: asynchronous over a small thread
// pool, a read timeout per request (a client trickling headers is cut off), header and body
// limits (core/limits.hpp), keep-alive, optional TLS (OpenSSL) and an access log line per
// request. It only moves bytes: every response comes from the handler (web/routes.hpp).
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "core/limits.hpp"
#include "core/result.hpp"
#include "web/http.hpp"
#include "web/metrics.hpp"

namespace dmarc::web {

struct ServerOptions {
    std::string address = "127.0.0.1";
    std::uint16_t port = 8080;    // 0: any free port (tests)
    std::string tls_certificate;  // PEM chain; TLS is on when both files are given
    std::string tls_key;
    std::size_t threads = 2;
    std::chrono::milliseconds read_timeout{limits::kHttpReadTimeoutMs};
    std::size_t header_limit = limits::kMaxHttpHeaderBytes;
    std::size_t body_limit = limits::kMaxHttpBodyBytes;
    std::size_t max_connections = limits::kMaxHttpConnections;
};

// "127.0.0.1:8080", "[::1]:8443", ":8080" (all addresses would be explicit: "0.0.0.0:8080").
Result<void> parse_listen(std::string_view text, ServerOptions& options);

using Handler = std::function<Response(const Request&)>;
using AccessLog = std::function<void(std::string_view line)>;

class Server {
  public:
    // Binds, listens and starts the threads; fails on a bad address, a busy port or bad TLS files.
    static Result<std::unique_ptr<Server>> start(const ServerOptions& options, Handler handler,
                                                 Metrics* metrics, AccessLog log);
    ~Server();
    std::uint16_t port() const noexcept;
    bool tls() const noexcept;
    void stop() noexcept;

    struct Impl;

  private:
    explicit Server(std::unique_ptr<Impl> impl);
    std::unique_ptr<Impl> impl_;
};

}  // namespace dmarc::web
