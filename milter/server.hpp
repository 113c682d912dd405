// The milter protocol (version 6, as Postfix's milter8 client speaks it) served without
// libmilter: whole batches of commands per read and one write per batch of replies.
// libmilter's poll + two reads per command + one write per reply cost about 0.16 ms of kernel
// CPU per message (milter/README.md). Two engines serve the sockets: an io_uring event thread
// (ring_server.hpp, the default) and, with `IoUring false` or where the kernel refuses io_uring,
// idle worker threads that accept() connections themselves (no dispatcher, no hand-offs).
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"
#include "milter/session.hpp"

namespace dmarc::milter {

// One milter connection's protocol state over a Session: bytes in, reply bytes out. No sockets
// here (the tests feed it directly).
class ProtocolConnection {
  public:
    explicit ProtocolConnection(Services& services);
    ~ProtocolConnection();
    ProtocolConnection(const ProtocolConnection&) = delete;
    ProtocolConnection& operator=(const ProtocolConnection&) = delete;

    // Consumes what the MTA sent (any split into reads), appends every reply due to `out`.
    // false: the connection is over (quit, a protocol error, or a refused negotiation);
    // whatever is in `out` is still to be sent.
    bool feed(std::string_view bytes, std::string& out);

    // The same for a thread that must not wait (ring_server.cpp): an end-of-message whose
    // decision needs the network stops the feed there (Status::would_block) and the rest of
    // the bytes are kept; resume() then finishes them on a thread that may wait.
    enum class Fed : std::uint8_t { more, closed, blocked };
    Fed feed_no_wait(std::string_view bytes, std::string& out);
    bool resume(std::string& out);
    // The MTA went away: ends the session (an unfinished message counts as aborted).
    void close() noexcept;

    // Stage slots for macros: connect, helo, mail, rcpt, data, eom, eoh (SMFIM_* order).
    static constexpr std::size_t kStages = 7;
    using MacroList = std::vector<std::pair<std::string, std::string>>;

  private:
    Fed feed_bytes(std::string_view bytes, std::string& out, bool may_wait);
    bool command(char code, std::string_view data, std::string& out);
    void reply(Status status, std::uint32_t no_reply_flag, std::string& out);
    void new_session();

    Services& services_;
    std::unique_ptr<Session> session_;
    std::string pending_;  // an incomplete packet carried over to the next read
    std::array<MacroList, kStages> macros_;
    std::string reply_text_;  // set_reply at end-of-message: "550 5.7.1 text"
    std::uint32_t offered_actions_ = 0, offered_steps_ = 0, steps_ = 0;
    bool negotiated_ = false;
    bool may_wait_ = true;  // what the current feed allows on_eom
    bool blocked_ = false;  // on_eom said would_block: the feed stops at that packet
    friend class ProtocolActions;
};

// Opens the listening socket: `local:/path` or `unix:/path` or `/path` (an old socket file is
// removed first), `inet:port[@host]`, `inet6:port[@[addr]]`. TCP sockets get TCP_NODELAY, which
// accepted connections inherit (replies are single writes anyway). Returns how many got it.
Result<int> open_milter_socket(const std::string& spec, int backlog);
// Serves connections with `services` until stop_milter() (the engine as the snapshot's
// `io_uring` says, logged); returns 0 (or 1 if the socket failed).
int run_milter(Services& services);
// Stops accepting (the unix socket file is removed) and waits (up to 5 s) until no connection
// is between reading a batch and sending its replies. Idle connections are not cut: the caller
// drains messages first (Runtime::drain) and then exits.
void stop_milter();

}  // namespace dmarc::milter
