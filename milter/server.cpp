// Milter protocol version 6 server (see server.hpp). Packet format (libmilter mfdef.h, Postfix
// milter8.c): a 4-byte big-endian length counting the command byte, the command byte, data.
#include "milter/server.hpp"

#include <arpa/inet.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <condition_variable>
#include <cstring>
#include <mutex>
#include <thread>

#include "core/limits.hpp"
#include "core/text.hpp"
#include "io/thread_name.hpp"
#include "milter/protocol_bits.hpp"
#include "milter/ring_server.hpp"

namespace dmarc::milter {
namespace {

constexpr std::uint32_t kProtocolVersion = 6;

void put_u32(std::string& out, std::uint32_t v) {
    const char bytes[4] = {static_cast<char>(v >> 24), static_cast<char>((v >> 16) & 0xff),
                           static_cast<char>((v >> 8) & 0xff), static_cast<char>(v & 0xff)};
    out.append(bytes, 4);
}

std::uint32_t get_u32(std::string_view data) {
    auto b = [&](std::size_t i) {
        return static_cast<std::uint32_t>(static_cast<unsigned char>(data[i]));
    };
    return (b(0) << 24) | (b(1) << 16) | (b(2) << 8) | b(3);
}

// Starts a packet; `finish_packet` fills in the length once the data is appended.
std::size_t begin_packet(std::string& out, char code) {
    std::size_t at = out.size();
    out.append(4, '\0');
    out.push_back(code);
    return at;
}

void finish_packet(std::string& out, std::size_t at) {
    auto len = static_cast<std::uint32_t>(out.size() - at - 4);
    std::string header;
    put_u32(header, len);
    out.replace(at, 4, header);
}

void append_cstr(std::string& out, std::string_view s) {
    out.append(s);
    out.push_back('\0');
}

// NUL-terminated strings of a command's data; a missing final NUL ends the last one anyway.
std::vector<std::string_view> split_nul(std::string_view data) {
    std::vector<std::string_view> parts;
    parts.reserve(static_cast<std::size_t>(std::count(data.begin(), data.end(), '\0')) + 1);
    while (!data.empty()) {
        auto nul = data.find('\0');
        if (nul == std::string_view::npos) {
            parts.push_back(data);
            break;
        }
        parts.push_back(data.substr(0, nul));
        data.remove_prefix(nul + 1);
    }
    return parts;
}

std::string_view unbraced(std::string_view name) {
    if (name.size() >= 2 && name.front() == '{' && name.back() == '}') {
        return name.substr(1, name.size() - 2);
    }
    return name;
}

int stage_of(char code) {
    switch (code) {
        case 'C':
            return 0;
        case 'H':
            return 1;
        case 'M':
            return 2;
        case 'R':
            return 3;
        case 'T':
            return 4;
        case 'E':
            return 5;
        case 'N':
            return 6;
        default:
            return -1;
    }
}

}  // namespace

// The Actions interface over the reply buffer: end-of-message modifications become packets
// before the final reply, in the order the session asks for them.
class ProtocolActions final : public Actions {
  public:
    ProtocolActions(ProtocolConnection& connection, std::string& out)
        : connection_(connection), out_(out) {}
    std::optional<std::string> macro(std::string_view name) override {
        std::string_view want = unbraced(name);
        for (std::size_t i = ProtocolConnection::kStages; i-- > 0;) {
            for (const auto& [n, v] : connection_.macros_[i]) {
                if (unbraced(n) == want) return v;
            }
        }
        return std::nullopt;
    }
    bool insert_header(std::size_t index, std::string_view name, std::string_view value) override {
        std::size_t at = begin_packet(out_, 'i');
        put_u32(out_, static_cast<std::uint32_t>(index));
        append_cstr(out_, name);
        append_cstr(out_, value);
        finish_packet(out_, at);
        return true;
    }
    bool remove_header(std::string_view name, std::size_t occurrence) override {
        std::size_t at = begin_packet(out_, 'm');
        put_u32(out_, static_cast<std::uint32_t>(occurrence));
        append_cstr(out_, name);
        append_cstr(out_, "");
        finish_packet(out_, at);
        return true;
    }
    bool add_recipient(std::string_view recipient) override {
        std::size_t at = begin_packet(out_, '+');
        append_cstr(out_, recipient);
        finish_packet(out_, at);
        return true;
    }
    bool quarantine(std::string_view reason) override {
        std::size_t at = begin_packet(out_, 'q');
        append_cstr(out_, reason);
        finish_packet(out_, at);
        return true;
    }
    bool set_reply(std::string_view code, std::string_view xcode, std::string_view text) override {
        // As smfi_setreply: a 4xx or 5xx code, then the text on one line.
        if (code.size() != 3 || (code[0] != '4' && code[0] != '5')) return false;
        for (char c : text) {
            if (c == '\r' || c == '\n') return false;
        }
        std::string& r = connection_.reply_text_;
        r.assign(code);
        if (!xcode.empty()) r.append(" ").append(xcode);
        r.append(" ").append(text);
        return true;
    }

  private:
    ProtocolConnection& connection_;
    std::string& out_;
};

ProtocolConnection::ProtocolConnection(Services& services) : services_(services) {
    new_session();
}

ProtocolConnection::~ProtocolConnection() {
    close();
}

void ProtocolConnection::new_session() {
    session_ = std::make_unique<Session>(services_);
}

void ProtocolConnection::close() noexcept {
    if (session_) session_->on_close();
    session_.reset();
}

void ProtocolConnection::reply(Status status, std::uint32_t no_reply_flag, std::string& out) {
    if (status == Status::no_reply) return;
    if (status == Status::proceed && no_reply_flag != 0 && (steps_ & no_reply_flag) != 0) return;
    char code = 'c';
    switch (status) {
        case Status::proceed:
        case Status::no_reply:
        case Status::would_block:
            code = 'c';
            break;
        case Status::accept:
            code = 'a';
            break;
        case Status::reject:
            code = 'r';
            break;
        case Status::tempfail:
            code = 't';
            break;
    }
    // As libmilter: the reply text goes with a reject (5xx) or tempfail (4xx) it matches.
    if ((code == 'r' && reply_text_.starts_with('5')) ||
        (code == 't' && reply_text_.starts_with('4'))) {
        std::size_t at = begin_packet(out, 'y');
        append_cstr(out, reply_text_);
        finish_packet(out, at);
    } else {
        std::size_t at = begin_packet(out, code);
        finish_packet(out, at);
    }
    reply_text_.clear();
}

bool ProtocolConnection::feed(std::string_view bytes, std::string& out) {
    return feed_bytes(bytes, out, true) == Fed::more;
}

ProtocolConnection::Fed ProtocolConnection::feed_no_wait(std::string_view bytes, std::string& out) {
    return feed_bytes(bytes, out, false);
}

bool ProtocolConnection::resume(std::string& out) {
    return feed_bytes({}, out, true) == Fed::more;
}

ProtocolConnection::Fed ProtocolConnection::feed_bytes(std::string_view bytes, std::string& out,
                                                       bool may_wait) {
    // Whole packets straight from `bytes`; only a trailing partial one is copied.
    std::string_view data = bytes;
    if (!pending_.empty()) {
        pending_.append(bytes);
        data = pending_;
    }
    may_wait_ = may_wait;
    blocked_ = false;
    bool keep = true;
    std::size_t used = 0;
    while (keep && data.size() - used >= 5) {
        std::uint32_t len = get_u32(data.substr(used, 4));
        if (len == 0 || len > limits::kMaxMilterPacketBytes) return Fed::closed;
        if (data.size() - used - 4 < len) break;
        char code = data[used + 4];
        keep = command(code, data.substr(used + 5, len - 1), out);
        if (blocked_) break;  // this packet is taken again by resume()
        used += 4 + len;
    }
    if (!keep) return Fed::closed;
    std::string rest(data.substr(used));
    pending_ = std::move(rest);
    return blocked_ ? Fed::blocked : Fed::more;
}

bool ProtocolConnection::command(char code, std::string_view data, std::string& out) {
    if (!session_) return false;
    Session& s = *session_;
    switch (code) {
        case 'O': {  // SMFIC_OPTNEG: version, actions, steps offered
            if (data.size() < 12) return false;
            std::uint32_t version = get_u32(data.substr(0, 4));
            if (version < 2) return false;
            offered_actions_ = get_u32(data.substr(4, 4));
            offered_steps_ = get_u32(data.substr(8, 4));
            Negotiation n;
            if (s.on_negotiate(offered_actions_, offered_steps_, n) == Status::reject) {
                return false;
            }
            std::uint32_t actions = n.actions, steps = n.steps;
            if (!n.ok || actions == 0) {  // internal error: every step, with replies
                actions = offered_actions_ & (bits::kAddHeaders | bits::kChangeHeaders |
                                              bits::kQuarantine | bits::kAddRecipient);
                steps = 0;
            }
            steps_ = steps;
            negotiated_ = true;
            std::size_t at = begin_packet(out, 'O');
            put_u32(out, std::min(version, kProtocolVersion));
            put_u32(out, actions);
            put_u32(out, steps);
            if ((actions & bits::kSetSymList) != 0) {
                // Only the macros the session reads, so the MTA sends less per message.
                for (auto [stage, names] : {std::pair<std::uint32_t, const char*>{0, "j"},
                                            {2, "{auth_authen}"},
                                            {5, "i j"}}) {
                    put_u32(out, stage);
                    append_cstr(out, names);
                }
            }
            finish_packet(out, at);
            return true;
        }
        case 'D': {  // SMFIC_MACRO: stage code, then name/value pairs
            if (data.empty()) return true;
            int stage = stage_of(data[0]);
            if (stage < 0) return true;
            auto parts = split_nul(data.substr(1));
            MacroList& list = macros_[static_cast<std::size_t>(stage)];
            list.clear();
            for (std::size_t i = 0; i + 1 < parts.size(); i += 2) {
                list.emplace_back(std::string(parts[i]), std::string(parts[i + 1]));
            }
            return true;
        }
        case 'C': {  // SMFIC_CONNECT: host name, family, port, address
            auto nul = data.find('\0');
            std::string_view host = data.substr(0, nul);
            std::optional<IpAddress> ip;
            std::uint16_t port = 0;
            if (nul != std::string_view::npos && nul + 1 < data.size()) {
                char family = data[nul + 1];
                if ((family == '4' || family == '6') && data.size() > nul + 4) {
                    port = static_cast<std::uint16_t>(
                        (static_cast<unsigned char>(data[nul + 2]) << 8) |
                        static_cast<unsigned char>(data[nul + 3]));
                    std::string_view address = data.substr(nul + 4);
                    if (auto end = address.find('\0'); end != std::string_view::npos) {
                        address = address.substr(0, end);
                    }
                    if (address.size() > 5 && text::iequals(address.substr(0, 5), "IPv6:")) {
                        address.remove_prefix(5);
                    }
                    if (auto parsed = IpAddress::parse(address)) ip = parsed->unmapped();
                }
            }
            ProtocolActions actions(*this, out);
            reply(s.on_connect(host, ip, actions, port), bits::kNoReplyConnect, out);
            return true;
        }
        case 'H': {
            auto nul = data.find('\0');
            reply(s.on_helo(data.substr(0, nul)), bits::kNoReplyHelo, out);
            return true;
        }
        case 'M': {
            for (std::size_t i = 3; i < kStages; ++i) macros_[i].clear();
            ProtocolActions actions(*this, out);
            reply(s.on_envfrom(split_nul(data), actions), bits::kNoReplyMail, out);
            return true;
        }
        case 'R': {
            reply(s.on_envrcpt(split_nul(data)), bits::kNoReplyRcpt, out);
            return true;
        }
        case 'L': {
            auto nul = data.find('\0');
            std::string_view name = data.substr(0, nul);
            std::string_view value;
            if (nul != std::string_view::npos) {
                value = data.substr(nul + 1);
                if (!value.empty() && value.back() == '\0') value.remove_suffix(1);
            }
            reply(s.on_header(name, value), bits::kNoReplyHeader, out);
            return true;
        }
        case 'E': {
            ProtocolActions actions(*this, out);
            reply_text_.clear();
            Status status = s.on_eom(actions, may_wait_);
            if (status == Status::would_block) {
                blocked_ = true;
                return true;
            }
            reply(status == Status::proceed ? Status::accept : status, 0, out);
            for (std::size_t i = 2; i < kStages; ++i) macros_[i].clear();
            return true;
        }
        case 'A':  // SMFIC_ABORT: no reply
            s.on_abort();
            for (std::size_t i = 2; i < kStages; ++i) macros_[i].clear();
            return true;
        case 'Q':
            return false;
        case 'K': {  // SMFIC_QUIT_NC: same socket, a new SMTP session, same negotiation
            close();
            new_session();
            for (auto& m : macros_) m.clear();
            if (negotiated_) {
                Negotiation n;
                (void)session_->on_negotiate(offered_actions_, offered_steps_, n);
            }
            return true;
        }
        case 'N':
            reply(Status::proceed, bits::kNoReplyEoh, out);
            return true;
        case 'B':
            reply(Status::proceed, bits::kNoReplyBody, out);
            return true;
        case 'T':
            reply(Status::proceed, bits::kNoReplyData, out);
            return true;
        case 'U':
            reply(Status::proceed, bits::kNoReplyUnknown, out);
            return true;
        default:
            return false;  // not milter protocol version 6
    }
}

// ---- sockets and workers ----------------------------------------------------------------------

namespace {

struct Listener {
    int fd = -1;
    std::string unix_path;
    std::atomic<bool> stopping{false};
    std::atomic<int> idle{0};
    std::atomic<int> workers{0};
    // Connections between reading a batch and having sent its replies: stop_milter() waits
    // for them, so a message the drain saw finish also has its reply on the wire.
    std::atomic<int> busy{0};
    std::mutex mutex;
    std::condition_variable stopped;
};

Listener g_listener;

// Spare threads kept blocked in accept(): enough for a burst, few enough to cost nothing.
constexpr int kMaxIdleWorkers = 32;
constexpr int kMaxWorkers = 4096;

bool send_all(int fd, std::string_view bytes) {
    while (!bytes.empty()) {
        ssize_t n = ::send(fd, bytes.data(), bytes.size(), MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return false;
        bytes.remove_prefix(static_cast<std::size_t>(n));
    }
    return true;
}

void serve(Services& services, int fd) {
    ProtocolConnection connection(services);
    // Per thread, not per connection: a worker serves connection after connection, and
    // neither buffer needs clearing (only the bytes read or appended are ever looked at).
    thread_local std::string out;
    thread_local std::array<char, 16384> buffer;
    out.clear();
    while (true) {
        ssize_t n = ::read(fd, buffer.data(), buffer.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        g_listener.busy.fetch_add(1);
        bool keep =
            connection.feed(std::string_view(buffer.data(), static_cast<std::size_t>(n)), out);
        bool sent = out.empty() || send_all(fd, out);
        g_listener.busy.fetch_sub(1);
        out.clear();
        if (!sent || !keep) break;
    }
    connection.close();
}

void spawn_worker(Services& services);

void worker(Services& services) {
    while (true) {
        int fd = ::accept4(g_listener.fd, nullptr, nullptr, SOCK_CLOEXEC);
        if (g_listener.stopping) {
            if (fd >= 0) ::close(fd);
            break;
        }
        if (fd < 0) {
            if (errno != EINTR && errno != ECONNABORTED && errno != EAGAIN) {
                // Out of descriptors or memory: back off rather than spin.
                std::this_thread::sleep_for(std::chrono::milliseconds(50));
            }
            continue;
        }
        // The last idle worker took this connection: start the next one before serving.
        if (g_listener.idle.fetch_sub(1) == 1) spawn_worker(services);
        serve(services, fd);
        ::close(fd);
        if (g_listener.idle.fetch_add(1) >= kMaxIdleWorkers) {
            g_listener.idle.fetch_sub(1);
            break;
        }
    }
    g_listener.workers.fetch_sub(1);
}

void spawn_worker(Services& services) {
    if (g_listener.workers.fetch_add(1) >= kMaxWorkers) {
        g_listener.workers.fetch_sub(1);
        return;
    }
    g_listener.idle.fetch_add(1);
    try {
        std::thread([&services] {
            io::name_this_thread("dmarc-conn");
            worker(services);
        }).detach();
    } catch (...) {
        g_listener.idle.fetch_sub(1);
        g_listener.workers.fetch_sub(1);
    }
}

Result<int> bind_unix(const std::string& path, int backlog) {
    sockaddr_un addr{};
    if (path.empty() || path.size() >= sizeof(addr.sun_path)) {
        return make_error(Errc::invalid_value, "bad unix socket path " + path);
    }
    addr.sun_family = AF_UNIX;
    std::memcpy(addr.sun_path, path.data(), path.size());
    int fd = ::socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd < 0) return make_error(Errc::io, "socket: " + std::string(std::strerror(errno)));
    ::unlink(path.c_str());  // an old socket file from a previous run
    if (::bind(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0 ||
        ::listen(fd, backlog) != 0) {
        std::string why = std::strerror(errno);
        ::close(fd);
        return make_error(Errc::io, "cannot listen on " + path + ": " + why);
    }
    g_listener.fd = fd;
    g_listener.unix_path = path;
    return 0;
}

Result<int> bind_inet(std::string_view rest, bool v6, int backlog) {
    std::string port(rest.substr(0, rest.find('@')));
    std::string host;
    if (auto at = rest.find('@'); at != std::string_view::npos) host = rest.substr(at + 1);
    if (host.size() >= 2 && host.front() == '[' && host.back() == ']') {
        host = host.substr(1, host.size() - 2);
    }
    addrinfo hints{};
    hints.ai_family = v6 ? AF_INET6 : AF_INET;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* found = nullptr;
    if (port.empty() ||
        ::getaddrinfo(host.empty() ? nullptr : host.c_str(), port.c_str(), &hints, &found) != 0 ||
        found == nullptr) {
        return make_error(Errc::invalid_value, "bad milter socket address " + std::string(rest));
    }
    int fd = ::socket(found->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    if (fd >= 0) ::setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (fd < 0 || ::bind(fd, found->ai_addr, found->ai_addrlen) != 0 ||
        ::listen(fd, backlog) != 0) {
        std::string why = std::strerror(errno);
        if (fd >= 0) ::close(fd);
        ::freeaddrinfo(found);
        return make_error(Errc::io, "cannot listen on " + std::string(rest) + ": " + why);
    }
    ::freeaddrinfo(found);
    g_listener.fd = fd;
    // The MTA's first packet (option negotiation) follows its connect at once: with
    // TCP_DEFER_ACCEPT the worker waiting in accept() is woken once, when that packet is
    // there, instead of once for the connection and again for the packet. A peer that sends
    // nothing is still accepted once the timeout (seconds) runs out.
    int defer_seconds = 5;
    (void)::setsockopt(fd, IPPROTO_TCP, TCP_DEFER_ACCEPT, &defer_seconds, sizeof(defer_seconds));
    return ::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0 ? 1 : 0;
}

}  // namespace

Result<int> open_milter_socket(const std::string& spec, int backlog) {
    std::string_view s = spec;
    if (s.starts_with("/")) return bind_unix(spec, backlog);
    auto colon = s.find(':');
    if (colon == std::string_view::npos) {
        return make_error(Errc::invalid_value, "bad milter socket " + spec);
    }
    std::string_view kind = s.substr(0, colon), rest = s.substr(colon + 1);
    if (kind == "local" || kind == "unix") return bind_unix(std::string(rest), backlog);
    if (kind == "inet") return bind_inet(rest, false, backlog);
    if (kind == "inet6") return bind_inet(rest, true, backlog);
    return make_error(Errc::invalid_value, "bad milter socket " + spec);
}

int run_milter(Services& services) {
    if (g_listener.fd < 0) return 1;
    auto snap = services.snapshot();
    bool rings = false;
    if (snap && snap->config.io_uring) {
        // One event thread: it serves about 20,000 messages a second here (milter/README.md),
        // far beyond what one Postfix host sends, and waits for nothing (ring_server.hpp).
        std::string why;
        rings = start_rings(
            services, RingListener{g_listener.fd, &g_listener.stopping, &g_listener.busy}, 1, why);
        services.log(
            rings ? LogLevel::info : LogLevel::notice,
            rings ? std::string("serving with io_uring (1 event thread)")
                  : "io_uring not available (" + why + "); serving with a thread per connection");
    } else {
        services.log(LogLevel::info, "serving with a thread per connection (IoUring false)");
    }
    snap.reset();
    if (!rings) spawn_worker(services);
    std::unique_lock lock(g_listener.mutex);
    g_listener.stopped.wait(lock, [] { return g_listener.stopping.load(); });
    return 0;
}

void stop_milter() {
    {
        std::lock_guard lock(g_listener.mutex);
        g_listener.stopping = true;
    }
    g_listener.stopped.notify_all();
    // shutdown() wakes every thread blocked in accept() on Linux; they see `stopping` and end.
    if (g_listener.fd >= 0) ::shutdown(g_listener.fd, SHUT_RDWR);
    if (!g_listener.unix_path.empty()) ::unlink(g_listener.unix_path.c_str());
    for (int i = 0; i < 500 && g_listener.busy.load() > 0; ++i) {
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
}

}  // namespace dmarc::milter
