// Milter protocol client (see milter_client.hpp). Packet: 4-byte big-endian length (command
// byte included), command byte, data; strings are NUL-terminated.
#include "tests/support/milter_client.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

namespace dmarc::milter_client {
namespace {

constexpr std::size_t kMaxPacket = 1024 * 1024;

std::string be32(std::uint32_t v) {
    std::string s(4, '\0');
    s[0] = static_cast<char>((v >> 24) & 0xff);
    s[1] = static_cast<char>((v >> 16) & 0xff);
    s[2] = static_cast<char>((v >> 8) & 0xff);
    s[3] = static_cast<char>(v & 0xff);
    return s;
}

std::uint32_t read_be32(std::string_view s) {
    auto b = [&](std::size_t i) { return std::uint32_t{static_cast<unsigned char>(s[i])}; };
    return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

void append_cstr(std::string& out, std::string_view s) {
    out.append(s);
    out.push_back('\0');
}

// Splits NUL-terminated strings.
std::vector<std::string> cstrings(std::string_view data) {
    std::vector<std::string> out;
    while (!data.empty()) {
        auto nul = data.find('\0');
        out.emplace_back(data.substr(0, nul));
        if (nul == std::string_view::npos) break;
        data.remove_prefix(nul + 1);
    }
    return out;
}

Error sys_error(const std::string& what) {
    return Error{Errc::io, what + ": " + std::strerror(errno)};
}

bool is_terminal(char code) {
    switch (code) {
        case 'a':
        case 'c':
        case 'r':
        case 't':
        case 'd':
        case 's':
        case 'y':
        case 'f':
        case '4':
            return true;
        default:
            return false;
    }
}

}  // namespace

std::optional<std::string> Response::quarantine_reason() const {
    for (const auto& m : modifications) {
        if (m.code == 'q') return m.name;
    }
    return std::nullopt;
}

std::vector<const Modification*> Response::headers_inserted() const {
    std::vector<const Modification*> out;
    for (const auto& m : modifications) {
        if (m.code == 'i' || m.code == 'h') out.push_back(&m);
    }
    return out;
}

std::pair<std::vector<std::pair<std::string, std::string>>, std::string> split_message(
    std::string_view text) {
    std::vector<std::pair<std::string, std::string>> headers;
    std::string body;
    while (!text.empty()) {
        auto eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        std::string_view rest = eol == std::string_view::npos ? "" : text.substr(eol + 1);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        if (line.empty()) {
            text = rest;
            break;
        }
        if ((line.front() == ' ' || line.front() == '\t') && !headers.empty()) {
            headers.back().second += "\n";
            headers.back().second += line;
        } else {
            auto colon = line.find(':');
            std::string_view name = line.substr(0, colon);
            std::string_view value = colon == std::string_view::npos ? "" : line.substr(colon + 1);
            if (!value.empty() && value.front() == ' ') value.remove_prefix(1);
            headers.emplace_back(std::string(name), std::string(value));
        }
        text = rest;
    }
    // The body as SMTP carries it: CRLF line ends.
    while (!text.empty()) {
        auto eol = text.find('\n');
        std::string_view line = text.substr(0, eol);
        if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
        body.append(line);
        body.append("\r\n");
        if (eol == std::string_view::npos) break;
        text.remove_prefix(eol + 1);
    }
    return {std::move(headers), std::move(body)};
}

Result<Client> Client::open(std::string_view spec, std::chrono::milliseconds timeout) {
    auto colon = spec.find(':');
    if (colon == std::string_view::npos) {
        return make_error(Errc::invalid_value, "socket spec without a type: " + std::string(spec));
    }
    std::string_view type = spec.substr(0, colon);
    std::string_view rest = spec.substr(colon + 1);
    int fd = -1;
    bool tcp = false;
    if (type == "local" || type == "unix") {
        sockaddr_un sun{};
        sun.sun_family = AF_UNIX;
        if (rest.size() >= sizeof(sun.sun_path)) {
            return make_error(Errc::invalid_value, "socket path too long");
        }
        std::memcpy(sun.sun_path, rest.data(), rest.size());
        fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) return tl::unexpected(sys_error("socket"));
        // A milter that stopped accepting leaves connect() waiting on a full backlog for ever
        // (Postfix gives up after milter_connect_timeout); Linux bounds that wait by the send
        // timeout, so set it to ours for the connect only.
        timeval tv{};
        tv.tv_sec = static_cast<time_t>(timeout.count() / 1000);
        tv.tv_usec = static_cast<suseconds_t>((timeout.count() % 1000) * 1000);
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
        const int connected = ::connect(fd, reinterpret_cast<sockaddr*>(&sun), sizeof(sun));
        timeval none{};
        ::setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &none, sizeof none);
        if (connected != 0) {
            auto e = sys_error("connect " + std::string(rest));
            ::close(fd);
            return tl::unexpected(e);
        }
    } else if (type == "inet" || type == "inet6") {
        auto at = rest.find('@');
        std::string port(rest.substr(0, at));
        std::string host =
            at == std::string_view::npos ? "127.0.0.1" : std::string(rest.substr(at + 1));
        if (host.size() > 2 && host.front() == '[' && host.back() == ']') {
            host = host.substr(1, host.size() - 2);
        }
        addrinfo hints{};
        hints.ai_family = type == "inet6" ? AF_INET6 : AF_INET;
        hints.ai_socktype = SOCK_STREAM;
        hints.ai_flags = AI_NUMERICHOST | AI_NUMERICSERV;
        addrinfo* ai = nullptr;
        if (int rc = ::getaddrinfo(host.c_str(), port.c_str(), &hints, &ai); rc != 0) {
            return make_error(Errc::invalid_value,
                              "bad address " + host + " port " + port + ": " + gai_strerror(rc));
        }
        fd = ::socket(ai->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
        if (fd < 0) {
            ::freeaddrinfo(ai);
            return tl::unexpected(sys_error("socket"));
        }
        int rc = ::connect(fd, ai->ai_addr, ai->ai_addrlen);
        ::freeaddrinfo(ai);
        if (rc != 0) {
            auto e = sys_error("connect " + std::string(spec));
            ::close(fd);
            return tl::unexpected(e);
        }
        // Like Postfix: small writes go out at once (each milter command is one write).
        int one = 1;
        ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        tcp = true;
    } else {
        return make_error(Errc::invalid_value, "unknown socket type: " + std::string(type));
    }
    Client client(fd, timeout);
    client.tcp_ = tcp;
    return client;
}

Client::Client(Client&& other) noexcept
    : fd_(std::exchange(other.fd_, -1)),
      timeout_(other.timeout_),
      quick_ack_(other.quick_ack_),
      buffered_(other.buffered_),
      unsent_(std::move(other.unsent_)),
      read_buffer_(std::move(other.read_buffer_)),
      read_at_(other.read_at_),
      tcp_(other.tcp_),
      negotiated_(std::move(other.negotiated_)) {}

Client& Client::operator=(Client&& other) noexcept {
    if (this != &other) {
        if (fd_ >= 0) ::close(fd_);
        fd_ = std::exchange(other.fd_, -1);
        timeout_ = other.timeout_;
        quick_ack_ = other.quick_ack_;
        buffered_ = other.buffered_;
        unsent_ = std::move(other.unsent_);
        read_buffer_ = std::move(other.read_buffer_);
        read_at_ = other.read_at_;
        tcp_ = other.tcp_;
        negotiated_ = std::move(other.negotiated_);
    }
    return *this;
}

Client::~Client() {
    if (fd_ >= 0) ::close(fd_);
}

Result<void> Client::write_packet(char command, std::string_view data) {
    std::string packet = be32(static_cast<std::uint32_t>(data.size() + 1));
    packet.push_back(command);
    packet.append(data);
    if (buffered_) {
        unsent_.append(packet);
        return unsent_.size() >= kVstreamBufsize ? flush() : Result<void>{};
    }
    std::string_view rest = packet;
    while (!rest.empty()) {
        ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            return tl::unexpected(sys_error("send"));
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    return {};
}

Result<void> Client::flush() {
    std::string_view rest = unsent_;
    while (!rest.empty()) {
        ssize_t n = ::send(fd_, rest.data(), rest.size(), MSG_NOSIGNAL);
        if (n < 0) {
            if (errno == EINTR) continue;
            unsent_.clear();
            return tl::unexpected(sys_error("send"));
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    unsent_.clear();
    return {};
}

Result<std::pair<char, std::string>> Client::read_packet() {
    if (!unsent_.empty()) {
        if (auto r = flush(); !r) return tl::unexpected(r.error());
    }
    auto deadline = std::chrono::steady_clock::now() + timeout_;
    // Buffered (as VSTREAM): one poll + recv of up to kVstreamBufsize, packets parsed from
    // what it brought; unbuffered: each packet's header and data read on their own.
    auto read_exact = [&](char* buffer, std::size_t size) -> Result<void> {
        std::size_t got = 0;
        while (got < size) {
            if (read_at_ < read_buffer_.size()) {
                std::size_t take = std::min(size - got, read_buffer_.size() - read_at_);
                std::memcpy(buffer + got, read_buffer_.data() + read_at_, take);
                read_at_ += take;
                got += take;
                continue;
            }
            auto left = std::chrono::duration_cast<std::chrono::milliseconds>(
                deadline - std::chrono::steady_clock::now());
            if (left.count() <= 0) return make_error(Errc::temporary, "milter reply timed out");
            pollfd p{fd_, POLLIN, 0};
            int rc = ::poll(&p, 1, static_cast<int>(left.count()));
            if (rc < 0 && errno == EINTR) continue;
            if (rc < 0) return tl::unexpected(sys_error("poll"));
            if (rc == 0) return make_error(Errc::temporary, "milter reply timed out");
            char* into = buffer + got;
            std::size_t want = size - got;
            if (buffered_) {
                read_buffer_.resize(kVstreamBufsize);
                read_at_ = 0;
                into = read_buffer_.data();
                want = read_buffer_.size();
            }
            ssize_t n = ::recv(fd_, into, want, 0);
            if (buffered_) read_buffer_.resize(n > 0 ? static_cast<std::size_t>(n) : 0);
            if (n < 0 && errno == EINTR) continue;
            if (n < 0) return tl::unexpected(sys_error("recv"));
            if (n == 0) return make_error(Errc::io, "milter closed the connection");
            if (!buffered_) got += static_cast<std::size_t>(n);
            if (tcp_ && quick_ack_) {
                int one = 1;
                ::setsockopt(fd_, IPPROTO_TCP, TCP_QUICKACK, &one, sizeof(one));
            }
        }
        return {};
    };
    char header[4];
    if (auto r = read_exact(header, 4); !r) return tl::unexpected(r.error());
    std::uint32_t length = read_be32(std::string_view(header, 4));
    if (length == 0 || length > kMaxPacket) {
        return make_error(Errc::limit, "milter packet length " + std::to_string(length));
    }
    std::string data(length, '\0');
    if (auto r = read_exact(data.data(), length); !r) return tl::unexpected(r.error());
    char command = data[0];
    data.erase(0, 1);
    return std::make_pair(command, std::move(data));
}

Result<Response> Client::await_response(bool no_reply) {
    Response response;
    if (no_reply) return response;
    while (true) {
        auto packet = read_packet();
        if (!packet) return tl::unexpected(packet.error());
        auto& [code, data] = *packet;
        if (is_terminal(code)) {
            response.code = code;
            if (code == 'y') response.reply = cstrings(data).empty() ? "" : cstrings(data).front();
            return response;
        }
        Modification m;
        m.code = code;
        switch (code) {
            case 'p':  // progress: keep waiting
                continue;
            case 'i':
            case 'm': {
                if (data.size() < 4) return make_error(Errc::invalid_value, "short header change");
                m.index = read_be32(data);
                auto parts = cstrings(std::string_view(data).substr(4));
                if (!parts.empty()) m.name = parts[0];
                if (parts.size() > 1) m.value = parts[1];
                break;
            }
            case 'h': {
                auto parts = cstrings(data);
                if (!parts.empty()) m.name = parts[0];
                if (parts.size() > 1) m.value = parts[1];
                break;
            }
            default: {  // '+', '-', '2', 'q', 'e', 'b', 'l': first string is the argument
                auto parts = cstrings(data);
                if (!parts.empty()) m.name = parts[0];
                if (parts.size() > 1) m.value = parts[1];
                break;
            }
        }
        response.modifications.push_back(std::move(m));
    }
}

Result<Negotiated> Client::negotiate(std::uint32_t actions, std::uint32_t steps) {
    std::string data = be32(proto::kVersion) + be32(actions) + be32(steps);
    if (auto r = write_packet('O', data); !r) return tl::unexpected(r.error());
    auto packet = read_packet();
    if (!packet) return tl::unexpected(packet.error());
    auto& [code, reply] = *packet;
    if (code != 'O' || reply.size() < 12) {
        return make_error(Errc::invalid_value,
                          std::string("unexpected negotiation reply '") + code + "'");
    }
    Negotiated n;
    n.version = read_be32(reply);
    n.actions = read_be32(std::string_view(reply).substr(4));
    n.steps = read_be32(std::string_view(reply).substr(8));
    std::string_view lists = std::string_view(reply).substr(12);
    while (lists.size() >= 4) {
        std::uint32_t stage = read_be32(lists);
        lists.remove_prefix(4);
        auto nul = lists.find('\0');
        n.symbol_lists.emplace_back(stage, std::string(lists.substr(0, nul)));
        lists.remove_prefix(nul == std::string_view::npos ? lists.size() : nul + 1);
    }
    negotiated_ = n;
    return n;
}

Result<void> Client::macros(char command, const Macros& macros) {
    std::string data(1, command);
    for (const auto& [name, value] : macros) {
        append_cstr(data, name);
        append_cstr(data, value);
    }
    return write_packet('D', data);
}

Result<Response> Client::step(char command, std::string_view data, std::uint32_t skip_flag,
                              std::uint32_t no_reply_flag) {
    if (skip_flag != 0 && negotiated_.no_reply(skip_flag)) return Response{};
    if (auto r = write_packet(command, data); !r) return tl::unexpected(r.error());
    return await_response(no_reply_flag != 0 && negotiated_.no_reply(no_reply_flag));
}

Result<Response> Client::connect(std::string_view host, std::string_view ip, std::uint16_t port) {
    std::string data;
    append_cstr(data, host);
    bool v6 = ip.find(':') != std::string_view::npos;
    data.push_back(v6 ? '6' : '4');
    data.push_back(static_cast<char>((port >> 8) & 0xff));
    data.push_back(static_cast<char>(port & 0xff));
    append_cstr(data, ip);
    return step('C', data, proto::kNoConnect, proto::kNoReplyConnect);
}

Result<Response> Client::helo(std::string_view name) {
    std::string data;
    append_cstr(data, name);
    return step('H', data, proto::kNoHelo, proto::kNoReplyHelo);
}

Result<Response> Client::mail(std::string_view sender, const std::vector<std::string>& args) {
    std::string data;
    append_cstr(data, "<" + std::string(sender) + ">");
    for (const auto& a : args) append_cstr(data, a);
    return step('M', data, proto::kNoMail, proto::kNoReplyMail);
}

Result<Response> Client::rcpt(std::string_view recipient) {
    std::string data;
    append_cstr(data, "<" + std::string(recipient) + ">");
    return step('R', data, proto::kNoRcpt, proto::kNoReplyRcpt);
}

Result<Response> Client::header(std::string_view name, std::string_view value) {
    std::string data;
    append_cstr(data, name);
    append_cstr(data, value);
    return step('L', data, proto::kNoHeaders, proto::kNoReplyHeader);
}

Result<Response> Client::end_of_headers() {
    return step('N', "", proto::kNoEoh, proto::kNoReplyEoh);
}

Result<Response> Client::body(std::string_view chunk) {
    return step('B', chunk, proto::kNoBody, proto::kNoReplyBody);
}

Result<Response> Client::end_of_message() {
    return step('E', "", 0, 0);
}

Result<void> Client::abort() {
    return write_packet('A', "");
}

Result<void> Client::quit() {
    if (auto r = write_packet('Q', ""); !r) return r;
    return flush();
}

Result<Response> Client::send_message(const Message& m, bool first_on_connection) {
    auto stop = [](const Response& r) { return r.code != 0 && r.code != 'c'; };
    if (first_on_connection) {
        if (auto r = macros('C', m.connect_macros); !r) return tl::unexpected(r.error());
        auto c = connect(m.client_host, m.client_ip, m.client_port);
        if (!c || stop(*c)) return c;
        auto h = helo(m.helo);
        if (!h || stop(*h)) return h;
    }
    if (!m.mail_macros.empty()) {
        if (auto r = macros('M', m.mail_macros); !r) return tl::unexpected(r.error());
    }
    auto f = mail(m.mail_from);
    if (!f || stop(*f)) return f;
    for (const auto& rcpt_to : m.rcpt_to) {
        auto r = rcpt(rcpt_to);
        if (!r || stop(*r)) return r;
    }
    // smtpd passes the milter to cleanup here (milter8_send flushes; no-op when unbuffered).
    if (auto r = flush(); !r) return tl::unexpected(r.error());
    for (const auto& [name, value] : m.headers) {
        auto h = header(name, value);
        if (!h || stop(*h)) return h;
    }
    auto e = end_of_headers();
    if (!e || stop(*e)) return e;
    if (!m.body.empty()) {
        auto b = body(m.body);
        if (!b || stop(*b)) return b;
    }
    if (auto r = macros('E', m.eom_macros); !r) return tl::unexpected(r.error());
    return end_of_message();
}

}  // namespace dmarc::milter_client
