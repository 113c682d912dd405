// A small client for the milter protocol (version 6, as Postfix and sendmail speak it): what an
// MTA sends a milter, with the replies parsed. Used by the dmarc-milter integration tests and
// by the milter load generator in bench/. Blocking I/O with a per-call deadline; one client is
// one connection and is not shared between threads.
#pragma once

#include <chrono>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/result.hpp"

namespace dmarc::milter_client {

// Protocol constants (sendmail's mfdef.h / mfapi.h, milter protocol version 6).
namespace proto {
inline constexpr std::uint32_t kVersion = 6;
// Actions a milter may ask for.
inline constexpr std::uint32_t kAddHeaders = 0x01, kChangeBody = 0x02, kAddRecipient = 0x04,
                               kDeleteRecipient = 0x08, kChangeHeaders = 0x10, kQuarantine = 0x20,
                               kChangeFrom = 0x40, kAddRecipientPar = 0x80, kSetSymList = 0x100;
inline constexpr std::uint32_t kAllActions = 0x1ff;
// Protocol steps the milter may switch off, and steps it will not answer (NR).
inline constexpr std::uint32_t kNoConnect = 0x1, kNoHelo = 0x2, kNoMail = 0x4, kNoRcpt = 0x8,
                               kNoBody = 0x10, kNoHeaders = 0x20, kNoEoh = 0x40,
                               kNoReplyHeader = 0x80, kNoUnknown = 0x100, kNoData = 0x200,
                               kSkip = 0x400, kRcptRejected = 0x800, kNoReplyConnect = 0x1000,
                               kNoReplyHelo = 0x2000, kNoReplyMail = 0x4000, kNoReplyRcpt = 0x8000,
                               kNoReplyData = 0x10000, kNoReplyUnknown = 0x20000,
                               kNoReplyEoh = 0x40000, kNoReplyBody = 0x80000,
                               kHeaderLeadingSpace = 0x100000;
// What Postfix 3.7 offers (everything but SMFIP_RCPT_REJ and the data-size bits).
inline constexpr std::uint32_t kPostfixSteps = 0x1ff7ff & ~kRcptRejected;
// Macro stages for SETSYMLIST.
inline constexpr std::uint32_t kStageConnect = 0, kStageHelo = 1, kStageMail = 2, kStageRcpt = 3,
                               kStageData = 4, kStageEom = 5, kStageEoh = 6;
}  // namespace proto

// A modification requested at end-of-message.
struct Modification {
    char code = 0;            // 'h' add header, 'i' insert header, 'm' change header,
                              // '+' add recipient, '-' delete recipient, 'q' quarantine, ...
    std::uint32_t index = 0;  // 'i': position; 'm': occurrence (1-based)
    std::string name;         // header name, recipient, or quarantine reason
    std::string value;        // header value ('m' with empty value: delete)
};

// The milter's answer to one command.
struct Response {
    // 'c' continue, 'a' accept, 'r' reject, 't' tempfail, 'd' discard, 's' skip, 'y' reply code
    // (a reject or tempfail with text), 'f' connection failure, '4' shutdown;
    // 0 when the step is "no reply" (negotiated NR) and nothing was read.
    char code = 0;
    std::string reply;  // 'y': "550 5.7.1 text"
    std::vector<Modification> modifications;
    // Convenience views of modifications.
    std::optional<std::string> quarantine_reason() const;
    std::vector<const Modification*> headers_inserted() const;
    bool is_reject() const { return code == 'r' || (code == 'y' && reply.starts_with("5")); }
    bool is_tempfail() const { return code == 't' || (code == 'y' && reply.starts_with("4")); }
};

struct Negotiated {
    std::uint32_t version = 0;
    std::uint32_t actions = 0;
    std::uint32_t steps = 0;  // steps switched off and NR flags, as the milter returned them
    std::vector<std::pair<std::uint32_t, std::string>> symbol_lists;  // stage -> "j {x}"
    bool no_reply(std::uint32_t flag) const { return (steps & flag) != 0; }
};

using Macros = std::vector<std::pair<std::string, std::string>>;

struct Message {
    std::string client_host = "client.example";
    std::string client_ip = "192.0.2.1";  // IPv4 or IPv6 literal
    std::uint16_t client_port = 25000;
    std::string helo = "client.example";
    std::string mail_from;  // without brackets; empty = null reverse path
    std::vector<std::string> rcpt_to = {"user@example.net"};
    std::vector<std::pair<std::string, std::string>> headers;  // value without leading space
    std::string body = "body\r\n";
    Macros connect_macros = {{"j", "mx.example.net"}, {"{daemon_name}", "smtpd"}};
    Macros mail_macros;  // e.g. {"{auth_authen}", "user"}
    Macros eom_macros = {{"i", "4ABCDEF012"}};
};

// Splits a message file (RFC 5322 text, LF or CRLF) into header fields and body, the way an
// MTA hands them to a milter: name, value without the space after the colon, folding kept.
std::pair<std::vector<std::pair<std::string, std::string>>, std::string> split_message(
    std::string_view text);

class Client {
  public:
    // socket_spec: "inet:port@host", "inet6:port@[addr]", "local:/path" or "unix:/path".
    static Result<Client> open(std::string_view socket_spec,
                               std::chrono::milliseconds timeout = std::chrono::seconds(10));
    Client(Client&& other) noexcept;
    Client& operator=(Client&& other) noexcept;
    Client(const Client&) = delete;
    Client& operator=(const Client&) = delete;
    ~Client();

    // Immediate ACKs on TCP (TCP_QUICKACK after every read). Postfix does not do this; a
    // benchmark that wants to see delayed-ACK stalls (e2e-notes item 6) leaves it off.
    void set_quick_ack(bool on) { quick_ack_ = on; }
    // As Postfix's VSTREAM (milter8.c sends no-reply commands "in one VSTREAM transaction"):
    // commands wait in a buffer that is written when a reply is to be read, when
    // kVstreamBufsize bytes wait, at flush() (smtpd hands the milter to cleanup at DATA) and at
    // quit(). Replies are read as VSTREAM reads them too: up to kVstreamBufsize bytes per
    // read, packets parsed from the buffer. Off (the default): one write per command, and a
    // read for each reply packet's header and another for its data.
    void set_buffered(bool on) { buffered_ = on; }
    Result<void> flush();

    Result<Negotiated> negotiate(std::uint32_t actions = proto::kAllActions,
                                 std::uint32_t steps = proto::kPostfixSteps);
    const Negotiated& negotiated() const { return negotiated_; }

    Result<void> macros(char command, const Macros& macros);
    Result<Response> connect(std::string_view host, std::string_view ip, std::uint16_t port);
    Result<Response> helo(std::string_view name);
    Result<Response> mail(std::string_view sender, const std::vector<std::string>& args = {});
    Result<Response> rcpt(std::string_view recipient);
    Result<Response> header(std::string_view name, std::string_view value);
    Result<Response> end_of_headers();
    Result<Response> body(std::string_view chunk);
    Result<Response> end_of_message();
    Result<void> abort();
    Result<void> quit();

    // One whole message on this connection after negotiate(): connect (first message only),
    // helo, mail, rcpt, headers, eoh, body, eom. Stops early at a reject/accept/tempfail and
    // returns that response; otherwise the end-of-message response.
    Result<Response> send_message(const Message& message, bool first_on_connection = true);

  private:
    explicit Client(int fd, std::chrono::milliseconds timeout) : fd_(fd), timeout_(timeout) {}
    Result<void> write_packet(char command, std::string_view data);
    Result<std::pair<char, std::string>> read_packet();
    // Reads until a terminal reply; no_reply: the step is NR, read nothing.
    Result<Response> await_response(bool no_reply);
    Result<Response> step(char command, std::string_view data, std::uint32_t skip_flag,
                          std::uint32_t no_reply_flag);

    static constexpr std::size_t kVstreamBufsize = 4096;  // Postfix VSTREAM_BUFSIZE
    int fd_ = -1;
    std::chrono::milliseconds timeout_;
    bool quick_ack_ = false;
    bool buffered_ = false;
    std::string unsent_;
    std::string read_buffer_;  // buffered: bytes read, not yet taken from read_at_ on
    std::size_t read_at_ = 0;
    bool tcp_ = false;
    Negotiated negotiated_;
};

}  // namespace dmarc::milter_client
