// Beast listener and sessions (RFC 9112 message syntax; Beast parses, we bound it). A session
// reads one request under a deadline (tcp_stream::expires_after covers the whole read, so a
// slow-drip client cannot hold a connection), hands it to the handler and writes the response
// with Beast's message_generator (Boost >= 1.81); keep-alive loops back to the next read.
#include "web/server.hpp"

#include <atomic>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/asio/strand.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/version.hpp>
#include <charconv>
#include <cstdio>
#include <optional>
#include <thread>
#include <vector>

#include "io/thread_name.hpp"

static_assert(BOOST_VERSION >= 108100, "Beast's message_generator needs Boost 1.81 (design.md §5)");

namespace dmarc::web {

namespace beast = boost::beast;
namespace http = boost::beast::http;
namespace net = boost::asio;
namespace ssl = boost::asio::ssl;
using tcp = boost::asio::ip::tcp;

Result<void> parse_listen(std::string_view text, ServerOptions& options) {
    auto colon = text.rfind(':');
    if (colon == std::string_view::npos) return make_error(Errc::syntax, "expected ADDRESS:PORT");
    std::string_view host = text.substr(0, colon);
    std::string_view port = text.substr(colon + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    unsigned value = 0;
    auto [ptr, ec] = std::from_chars(port.data(), port.data() + port.size(), value);
    if (ec != std::errc() || ptr != port.data() + port.size() || value > 65535) {
        return make_error(Errc::invalid_value, "bad port: " + std::string(port));
    }
    boost::system::error_code bec;
    auto address = net::ip::make_address(host.empty() ? "127.0.0.1" : std::string(host), bec);
    if (bec) return make_error(Errc::invalid_value, "bad address: " + std::string(host));
    options.address = address.to_string();
    options.port = static_cast<std::uint16_t>(value);
    return {};
}

namespace {

std::string log_safe(std::string_view text) {
    std::string out;
    for (char c : text) {
        auto u = static_cast<unsigned char>(c);
        if (u < 0x20 || u >= 0x7f || c == '"' || c == '\\') {
            char buf[8];
            std::snprintf(buf, sizeof buf, "\\x%02x", u);
            out += buf;
        } else {
            out += c;
        }
    }
    return out;
}

std::int64_t epoch_now() {
    return std::chrono::duration_cast<std::chrono::seconds>(
               std::chrono::system_clock::now().time_since_epoch())
        .count();
}

}  // namespace

struct Server::Impl {
    ServerOptions options;
    Handler handler;
    Metrics* metrics = nullptr;
    AccessLog log;
    // Declared before ioc so they outlive the sessions still queued in it at destruction.
    std::optional<ssl::context> tls;
    std::atomic<std::size_t> connections{0};
    std::atomic<bool> stopped{false};
    std::uint16_t port = 0;
    net::io_context ioc;
    tcp::acceptor acceptor{ioc};
    std::vector<std::thread> threads;

    void accept();
    void access_log(const std::string& ip, const Request& request, std::string_view method,
                    std::string_view target, unsigned status, std::size_t bytes, double seconds,
                    const std::string& user) {
        if (metrics) metrics->observe(status, seconds);
        if (!log) return;
        char timing[32];
        std::snprintf(timing, sizeof timing, "%.1fms", seconds * 1000.0);
        std::string line = log_safe(ip) + " \"" + log_safe(method) + " " + log_safe(target) +
                           "\" " + std::to_string(status) + " " + std::to_string(bytes) + " " +
                           timing + " user=" + (user.empty() ? "-" : log_safe(user)) +
                           (request.tls ? " tls" : "");
        log(line);
    }
};

namespace {

// One connection: plain TCP or TLS, the same request loop.
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  public:
    template <class... Args>
    Session(Server::Impl& server, std::string client_ip, Args&&... args)
        : server_(server), client_ip_(std::move(client_ip)), stream_(std::forward<Args>(args)...) {}

    ~Session() { server_.connections.fetch_sub(1); }

    void start() {
        beast::error_code ec;
        auto local = beast::get_lowest_layer(stream_).socket().local_endpoint(ec);
        if (!ec) local_ip_ = local.address().to_string();
        if constexpr (kTls) {
            beast::get_lowest_layer(stream_).expires_after(server_.options.read_timeout);
            stream_.async_handshake(
                ssl::stream_base::server,
                beast::bind_front_handler(&Session::on_handshake, this->shared_from_this()));
        } else {
            read();
        }
    }

  private:
    static constexpr bool kTls = !std::is_same_v<Stream, beast::tcp_stream>;

    void on_handshake(beast::error_code ec) {
        if (ec) return;  // bad or slow client: the stream closes with us
        read();
    }

    void read() {
        parser_.emplace();
        parser_->header_limit(static_cast<std::uint32_t>(server_.options.header_limit));
        parser_->body_limit(server_.options.body_limit);
        // One deadline for the whole request: trickled headers do not extend it.
        beast::get_lowest_layer(stream_).expires_after(server_.options.read_timeout);
        http::async_read(stream_, buffer_, *parser_,
                         beast::bind_front_handler(&Session::on_read, this->shared_from_this()));
    }

    void on_read(beast::error_code ec, std::size_t) {
        if (ec == http::error::end_of_stream) return close();
        if (ec == beast::error::timeout || ec == net::error::operation_aborted) return;
        if (ec == http::error::header_limit) return refuse(431, "request header too large");
        if (ec == http::error::body_limit) return refuse(413, "request body too large");
        if (ec) {
            if (ec.category() == make_error_code(http::error::bad_method).category()) {
                return refuse(400, "bad request");
            }
            return;
        }
        auto start = std::chrono::steady_clock::now();
        auto req = parser_->release();
        Request request;
        request.method = std::string(req.method_string());
        request.client_ip = client_ip_;
        request.now = epoch_now();
        request.tls = kTls;
        Response response;
        if (!fill_target(request, req.target())) {
            response = Response::plain(400, "bad request target");
        } else {
            if (auto it = req.find(http::field::cookie); it != req.end()) {
                request.cookies = parse_cookies(it->value());
            }
            if (auto it = req.find(http::field::host); it != req.end()) {
                request.host = std::string(it->value());
            }
            request.local_ip = local_ip_;
            if (auto it = req.find(http::field::content_type); it != req.end()) {
                request.content_type = std::string(it->value());
            }
            request.body = std::move(req.body());
            response = server_.handler(request);
        }
        const bool keep_alive = req.keep_alive() && response.status < 500;
        send(std::move(response), request, keep_alive, start);
    }

    void send(Response response, const Request& request, bool keep_alive,
              std::chrono::steady_clock::time_point start) {
        http::response<http::string_body> res{static_cast<http::status>(response.status), 11};
        res.set(http::field::server, "dmarc-web");
        res.set(http::field::content_type, response.content_type);
        for (auto& [name, value] : response.headers) res.insert(name, value);
        res.body() = std::move(response.body);
        res.keep_alive(keep_alive);
        res.prepare_payload();
        double seconds =
            std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
        server_.access_log(client_ip_, request, request.method,
                           request.target.empty() ? std::string_view("-") : request.target,
                           response.status, res.body().size(), seconds, response.user);
        beast::get_lowest_layer(stream_).expires_after(server_.options.read_timeout);
        beast::async_write(
            stream_, http::message_generator(std::move(res)),
            beast::bind_front_handler(&Session::on_write, this->shared_from_this(), keep_alive));
    }

    // A request we could not parse: answer once and close.
    void refuse(unsigned status, std::string text) {
        Request request;
        request.method = "-";
        request.tls = kTls;
        Response r = Response::plain(status, std::move(text));
        send(std::move(r), request, false, std::chrono::steady_clock::now());
    }

    void on_write(bool keep_alive, beast::error_code ec, std::size_t) {
        if (ec) return;
        if (!keep_alive) return close();
        read();
    }

    void close() {
        if constexpr (kTls) {
            beast::get_lowest_layer(stream_).expires_after(std::chrono::seconds(2));
            stream_.async_shutdown([self = this->shared_from_this()](beast::error_code) {});
        } else {
            beast::error_code ec;
            stream_.socket().shutdown(tcp::socket::shutdown_send, ec);
        }
    }

    Server::Impl& server_;
    std::string client_ip_;
    std::string local_ip_;
    Stream stream_;
    beast::flat_buffer buffer_;
    std::optional<http::request_parser<http::string_body>> parser_;
};

}  // namespace

void Server::Impl::accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
        if (stopped.load()) return;
        if (!ec) {
            if (connections.fetch_add(1) >= options.max_connections) {
                connections.fetch_sub(1);
                beast::error_code ignored;
                socket.close(ignored);
            } else {
                beast::error_code ep_ec;
                auto endpoint = socket.remote_endpoint(ep_ec);
                std::string ip = ep_ec ? std::string("-") : endpoint.address().to_string();
                if (tls) {
                    std::make_shared<Session<beast::ssl_stream<beast::tcp_stream>>>(
                        *this, std::move(ip), std::move(socket), *tls)
                        ->start();
                } else {
                    std::make_shared<Session<beast::tcp_stream>>(*this, std::move(ip),
                                                                 std::move(socket))
                        ->start();
                }
            }
        }
        accept();
    });
}

Server::Server(std::unique_ptr<Impl> impl) : impl_(std::move(impl)) {}

Server::~Server() {
    stop();
}

std::uint16_t Server::port() const noexcept {
    return impl_->port;
}
bool Server::tls() const noexcept {
    return impl_->tls.has_value();
}

Result<std::unique_ptr<Server>> Server::start(const ServerOptions& options, Handler handler,
                                              Metrics* metrics, AccessLog log) {
    auto impl = std::make_unique<Impl>();
    impl->options = options;
    impl->handler = std::move(handler);
    impl->metrics = metrics;
    impl->log = std::move(log);
    try {
        if (!options.tls_certificate.empty() || !options.tls_key.empty()) {
            if (options.tls_certificate.empty() || options.tls_key.empty()) {
                return make_error(Errc::invalid_value, "TLS needs both a certificate and a key");
            }
            impl->tls.emplace(ssl::context::tls_server);
            impl->tls->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 |
                                   ssl::context::no_sslv3 | ssl::context::no_tlsv1 |
                                   ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
            impl->tls->use_certificate_chain_file(options.tls_certificate);
            impl->tls->use_private_key_file(options.tls_key, ssl::context::pem);
        }
        tcp::endpoint endpoint{net::ip::make_address(options.address), options.port};
        impl->acceptor.open(endpoint.protocol());
        impl->acceptor.set_option(net::socket_base::reuse_address(true));
        impl->acceptor.bind(endpoint);
        impl->acceptor.listen(net::socket_base::max_listen_connections);
        impl->port = impl->acceptor.local_endpoint().port();
    } catch (const boost::system::system_error& e) {
        return make_error(Errc::io,
                          options.address + ":" + std::to_string(options.port) + ": " + e.what());
    }
    impl->accept();
    const std::size_t n = options.threads == 0 ? 1 : options.threads;
    for (std::size_t i = 0; i < n; ++i) {
        impl->threads.emplace_back([raw = impl.get()] {
            io::name_this_thread("dmarc-web-io");
            raw->ioc.run();
        });
    }
    return std::unique_ptr<Server>(new Server(std::move(impl)));
}

void Server::stop() noexcept {
    if (!impl_ || impl_->stopped.exchange(true)) return;
    net::post(impl_->ioc, [impl = impl_.get()] {
        beast::error_code ec;
        impl->acceptor.close(ec);
    });
    impl_->ioc.stop();
    for (auto& t : impl_->threads) {
        if (t.joinable()) t.join();
    }
}

}  // namespace dmarc::web
