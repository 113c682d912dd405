// libmilter callbacks <-> Session (session.hpp). Each callback is noexcept, finds its Session in
// the connection's private pointer, converts C arguments to values and the Status back to an
// SMFIS_* code; LibmilterActions is the Actions interface over smfi_*.
#include "milter/callbacks.hpp"

#include <arpa/inet.h>
#include <dirent.h>
#include <libmilter/mfapi.h>
#include <libmilter/mfdef.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <signal.h>

#include <array>
#include <cerrno>
#include <chrono>
#include <cstdlib>
#include <cstring>
#include <new>
#include <thread>
#include <vector>

#include "milter/protocol_bits.hpp"

namespace dmarc::milter {
namespace {

static_assert(bits::kAddHeaders == SMFIF_ADDHDRS && bits::kAddRecipient == SMFIF_ADDRCPT &&
              bits::kChangeHeaders == SMFIF_CHGHDRS && bits::kQuarantine == SMFIF_QUARANTINE &&
              bits::kSetSymList == SMFIF_SETSYMLIST);
static_assert(bits::kNoBody == SMFIP_NOBODY && bits::kNoEoh == SMFIP_NOEOH &&
              bits::kNoReplyHeader == SMFIP_NR_HDR && bits::kNoUnknown == SMFIP_NOUNKNOWN &&
              bits::kNoData == SMFIP_NODATA && bits::kNoReplyConnect == SMFIP_NR_CONN &&
              bits::kNoReplyHelo == SMFIP_NR_HELO && bits::kNoReplyMail == SMFIP_NR_MAIL &&
              bits::kNoReplyRcpt == SMFIP_NR_RCPT);

Services* g_services = nullptr;  // set once before smfi_main; outlives every connection

class LibmilterActions final : public Actions {
  public:
    explicit LibmilterActions(SMFICTX* ctx) : ctx_(ctx) {}
    std::optional<std::string> macro(std::string_view name) override {
        std::string n(name);
        const char* v = smfi_getsymval(ctx_, n.data());
        if (v == nullptr) return std::nullopt;
        return std::string(v);
    }
    bool insert_header(std::size_t index, std::string_view name, std::string_view value) override {
        std::string n(name), v(value);
        return smfi_insheader(ctx_, static_cast<int>(index), n.data(), v.data()) == MI_SUCCESS;
    }
    bool remove_header(std::string_view name, std::size_t occurrence) override {
        std::string n(name);
        return smfi_chgheader(ctx_, n.data(), static_cast<int>(occurrence), nullptr) == MI_SUCCESS;
    }
    bool add_recipient(std::string_view recipient) override {
        std::string r(recipient);
        return smfi_addrcpt(ctx_, r.data()) == MI_SUCCESS;
    }
    bool quarantine(std::string_view reason) override {
        std::string r(reason);
        return smfi_quarantine(ctx_, r.data()) == MI_SUCCESS;
    }
    bool set_reply(std::string_view code, std::string_view xcode, std::string_view text) override {
        std::string c(code), x(xcode), t(text);
        return smfi_setreply(ctx_, c.data(), x.data(), t.data()) == MI_SUCCESS;
    }

  private:
    SMFICTX* ctx_;
};

Session* session_of(SMFICTX* ctx) {
    return static_cast<Session*>(smfi_getpriv(ctx));
}

// The session, created on first use (negotiate normally; connect if the MTA skipped it).
Session* ensure_session(SMFICTX* ctx) {
    if (auto* s = session_of(ctx)) return s;
    auto* s = new (std::nothrow) Session(*g_services);
    if (s != nullptr) smfi_setpriv(ctx, s);
    return s;
}

sfsistat to_sfsistat(Status s) {
    switch (s) {
        case Status::proceed:
            return SMFIS_CONTINUE;
        case Status::accept:
            return SMFIS_ACCEPT;
        case Status::reject:
            return SMFIS_REJECT;
        case Status::tempfail:
            return SMFIS_TEMPFAIL;
        case Status::no_reply:
            return SMFIS_NOREPLY;
    }
    return SMFIS_ACCEPT;
}

std::vector<std::string> arguments(char** argv) {
    std::vector<std::string> out;
    for (; argv != nullptr && *argv != nullptr; ++argv) out.emplace_back(*argv);
    return out;
}

std::optional<IpAddress> address_of(const sockaddr* sa) {
    if (sa == nullptr) return std::nullopt;
    if (sa->sa_family == AF_INET) {
        sockaddr_in in{};
        std::memcpy(&in, sa, sizeof(in));
        return IpAddress::v4(ntohl(in.sin_addr.s_addr));
    }
    if (sa->sa_family == AF_INET6) {
        sockaddr_in6 in6{};
        std::memcpy(&in6, sa, sizeof(in6));
        std::array<std::uint8_t, 16> bytes{};
        std::memcpy(bytes.data(), &in6.sin6_addr, 16);
        return IpAddress::v6(bytes).unmapped();
    }
    return std::nullopt;  // AF_UNIX or unspec: a local client
}

// A callback that fails before it has a session accepts: never a crash, never a stuck MTA.
#define DMARC_SESSION_OR_ACCEPT(ctx)        \
    Session* session = ensure_session(ctx); \
    if (session == nullptr) return SMFIS_ACCEPT

sfsistat on_negotiate(SMFICTX* ctx, unsigned long f0, unsigned long f1, unsigned long /*f2*/,
                      unsigned long /*f3*/, unsigned long* pf0, unsigned long* pf1,
                      unsigned long* pf2, unsigned long* pf3) noexcept {
    DMARC_SESSION_OR_ACCEPT(ctx);
    Negotiation n;
    Status s =
        session->on_negotiate(static_cast<std::uint32_t>(f0), static_cast<std::uint32_t>(f1), n);
    if (s == Status::reject) return SMFIS_REJECT;
    if (!n.ok || n.actions == 0) return SMFIS_ALL_OPTS;
    *pf0 = n.actions;
    *pf1 = n.steps;
    *pf2 = 0;
    *pf3 = 0;
    if (n.actions & SMFIF_SETSYMLIST) {
        // Only the macros we read, so the MTA sends less per message.
        smfi_setsymlist(ctx, SMFIM_CONNECT, const_cast<char*>("j"));
        smfi_setsymlist(ctx, SMFIM_ENVFROM, const_cast<char*>("{auth_authen}"));
        smfi_setsymlist(ctx, SMFIM_EOM, const_cast<char*>("i j"));
    }
    return SMFIS_CONTINUE;
}

sfsistat on_connect(SMFICTX* ctx, char* hostname, _SOCK_ADDR* hostaddr) noexcept {
    DMARC_SESSION_OR_ACCEPT(ctx);
    LibmilterActions actions(ctx);
    try {
        return to_sfsistat(
            session->on_connect(hostname ? hostname : "", address_of(hostaddr), actions));
    } catch (...) {
        return SMFIS_ACCEPT;
    }
}

sfsistat on_helo(SMFICTX* ctx, char* helo) noexcept {
    DMARC_SESSION_OR_ACCEPT(ctx);
    return to_sfsistat(session->on_helo(helo ? helo : ""));
}

sfsistat on_envfrom(SMFICTX* ctx, char** argv) noexcept {
    DMARC_SESSION_OR_ACCEPT(ctx);
    LibmilterActions actions(ctx);
    try {
        return to_sfsistat(session->on_envfrom(arguments(argv), actions));
    } catch (...) {
        return SMFIS_ACCEPT;
    }
}

sfsistat on_envrcpt(SMFICTX* ctx, char** argv) noexcept {
    DMARC_SESSION_OR_ACCEPT(ctx);
    try {
        return to_sfsistat(session->on_envrcpt(arguments(argv)));
    } catch (...) {
        return SMFIS_ACCEPT;
    }
}

sfsistat on_header(SMFICTX* ctx, char* name, char* value) noexcept {
    DMARC_SESSION_OR_ACCEPT(ctx);
    return to_sfsistat(session->on_header(name ? name : "", value ? value : ""));
}

sfsistat on_eom(SMFICTX* ctx) noexcept {
    DMARC_SESSION_OR_ACCEPT(ctx);
    LibmilterActions actions(ctx);
    return to_sfsistat(session->on_eom(actions));
}

sfsistat on_abort(SMFICTX* ctx) noexcept {
    if (auto* s = session_of(ctx)) s->on_abort();
    return SMFIS_CONTINUE;
}

sfsistat on_close(SMFICTX* ctx) noexcept {
    if (auto* s = session_of(ctx)) {
        s->on_close();
        smfi_setpriv(ctx, nullptr);
        delete s;
    }
    return SMFIS_CONTINUE;
}

}  // namespace

Result<void> register_milter(Services& services, const std::string& name) {
    g_services = &services;
    static std::string milter_name;
    milter_name = name;
    smfiDesc desc{};
    desc.xxfi_name = milter_name.data();
    desc.xxfi_version = SMFI_VERSION;
    desc.xxfi_flags =
        SMFIF_ADDHDRS | SMFIF_CHGHDRS | SMFIF_QUARANTINE | SMFIF_ADDRCPT | SMFIF_SETSYMLIST;
    desc.xxfi_connect = on_connect;
    desc.xxfi_helo = on_helo;
    desc.xxfi_envfrom = on_envfrom;
    desc.xxfi_envrcpt = on_envrcpt;
    desc.xxfi_header = on_header;
    desc.xxfi_eom = on_eom;
    desc.xxfi_abort = on_abort;
    desc.xxfi_close = on_close;
    desc.xxfi_negotiate = on_negotiate;
    if (smfi_register(desc) != MI_SUCCESS) {
        return make_error(Errc::internal, "smfi_register failed");
    }
    return {};
}

namespace {

std::vector<int> g_listeners;  // libmilter's listening sockets, found after smfi_opensocket

// libmilter keeps its listening descriptor private; find it among ours: a listening socket.
// Only called right after smfi_opensocket, before any connection exists. TCP ones get
// TCP_NODELAY, which accepted connections inherit.
int find_listeners_and_set_nodelay() {
    int count = 0;
    DIR* dir = ::opendir("/proc/self/fd");
    if (dir == nullptr) return 0;
    std::vector<int> fds;
    while (dirent* entry = ::readdir(dir)) {
        if (entry->d_name[0] == '.') continue;
        fds.push_back(std::atoi(entry->d_name));
    }
    ::closedir(dir);
    for (int fd : fds) {
        int listening = 0, domain = 0;
        socklen_t len = sizeof(listening);
        if (::getsockopt(fd, SOL_SOCKET, SO_ACCEPTCONN, &listening, &len) != 0 || !listening) {
            continue;
        }
        g_listeners.push_back(fd);
        len = sizeof(domain);
        if (::getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0) continue;
        if (domain != AF_INET && domain != AF_INET6) continue;
        int one = 1;
        if (::setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one)) == 0) ++count;
    }
    return count;
}

}  // namespace

Result<int> open_milter_socket(const std::string& spec, int backlog, unsigned debug_level) {
    if (debug_level > 0) smfi_setdbg(static_cast<int>(debug_level));
    std::string conn = spec;
    if (conn.starts_with("/")) conn = "local:" + conn;
    if (smfi_setconn(conn.data()) != MI_SUCCESS) {
        return make_error(Errc::invalid_value, "bad milter socket " + spec);
    }
    smfi_setbacklog(backlog);
    if (smfi_opensocket(true) != MI_SUCCESS) {
        return make_error(Errc::io, "cannot open milter socket " + spec);
    }
    return find_listeners_and_set_nodelay();
}

int run_milter() {
    return smfi_main();
}

namespace {

// Connects to one of our listening sockets and hangs up, which wakes libmilter's listener.
void poke_listener(int fd) {
    sockaddr_storage addr{};
    socklen_t len = sizeof(addr);
    if (::getsockname(fd, reinterpret_cast<sockaddr*>(&addr), &len) != 0) return;
    if (addr.ss_family == AF_INET) {
        auto* in = reinterpret_cast<sockaddr_in*>(&addr);
        if (in->sin_addr.s_addr == htonl(INADDR_ANY)) in->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    } else if (addr.ss_family == AF_INET6) {
        auto* in6 = reinterpret_cast<sockaddr_in6*>(&addr);
        if (IN6_IS_ADDR_UNSPECIFIED(&in6->sin6_addr)) in6->sin6_addr = in6addr_loopback;
    }
    int s = ::socket(addr.ss_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) return;
    (void)::connect(s, reinterpret_cast<sockaddr*>(&addr), len);
    ::close(s);
}

}  // namespace

void stop_milter() {
    // smfi_stop() sets libmilter's stop flag at once, then waits for the listener's lock, which
    // the listener holds while it polls (up to 5 s, e2e-notes item 13). A connection to our own
    // socket ends that poll; the listener then sees the flag and returns normally, so sessions
    // in progress carry on (shutting the socket down instead makes libmilter abort them all).
    std::thread stopper([] { smfi_stop(); });
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
    for (int fd : g_listeners) poke_listener(fd);
    stopper.join();
}

}  // namespace dmarc::milter

// libmilter's signal thread sigwait()s for SIGHUP, SIGTERM and SIGINT and stops the milter on
// SIGHUP, which would race with our own signal thread (main.cpp), where SIGHUP means reload
// (OpenDMARC 1.4.2 dies on SIGHUP for this reason); on SIGTERM it stops only at its next poll
// timeout, 5 s later. libmilter is the only caller of sigwait() in this program, so this
// definition, which the dynamic linker prefers to libc's, gives it none of our signals: that
// thread then waits forever, and main.cpp alone decides (stop_milter() is immediate).
extern "C" int sigwait(const sigset_t* set, int* sig) {
    sigset_t narrowed = *set;
    sigdelset(&narrowed, SIGHUP);
    sigdelset(&narrowed, SIGUSR1);
    sigdelset(&narrowed, SIGUSR2);
    sigdelset(&narrowed, SIGTERM);
    sigdelset(&narrowed, SIGINT);
    int r = 0;
    do {
        r = sigwaitinfo(&narrowed, nullptr);
    } while (r < 0 && errno == EINTR);
    if (r < 0) return errno;
    *sig = r;
    return 0;
}

namespace dmarc::milter {}  // namespace dmarc::milter
