// Fault-test support: a UDP front on a loopback port that relays DNS queries to a real server
// (the private unbound) and, switched at run time, drops them or answers with malformed
// packets: the "DNS server answers garbage" fault (RFC 1035 §4.1 messages broken in the ways a
// parser must survive). Its TCP port accepts and closes at once, so a truncated (TC) answer's
// retry over TCP fails too.
#pragma once

#include <poll.h>
#include <sys/socket.h>

#include <atomic>
#include <cstdint>
#include <cstring>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/local_unbound.hpp"

namespace dmarc::test_support {

class DnsFront : public LoopbackDnsSockets {
  public:
    enum class Mode : int { forward, drop, garbage };

    explicit DnsFront(std::uint16_t upstream_port) : upstream_port_(upstream_port) {
        upstream_ = Fd(::socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0));
        thread_ = std::thread([this] { run(); });
    }
    ~DnsFront() {
        stop_ = true;
        thread_.join();
    }
    DnsFront(const DnsFront&) = delete;
    DnsFront& operator=(const DnsFront&) = delete;

    void set_mode(Mode mode) { mode_ = mode; }
    std::uint64_t queries() const { return queries_; }
    std::uint64_t garbage_sent() const { return garbage_; }

  private:
    // One malformed reply to `query`, cycling through the kinds a hostile or broken server sends.
    std::vector<unsigned char> garbage_for(const unsigned char* query, std::size_t n) {
        std::vector<unsigned char> out;
        const unsigned kind = static_cast<unsigned>(garbage_++ % 7);
        auto header = [&](std::uint8_t flags2, std::uint16_t an) {
            out.assign(query, query + n);  // the ID and the question, echoed
            if (out.size() < 12) out.resize(12, 0);
            out[2] = static_cast<unsigned char>(0x80 | (out[2] & 0x01));  // QR, RD kept
            out[3] = flags2;
            out[6] = static_cast<unsigned char>(an >> 8);
            out[7] = static_cast<unsigned char>(an & 0xff);
            out[10] = out[11] = 0;  // additional section (EDNS) dropped
        };
        switch (kind) {
            case 0: {  // random bytes of random length
                std::uniform_int_distribution<int> len(0, 700), byte(0, 255);
                out.resize(static_cast<std::size_t>(len(random_)));
                for (auto& b : out) b = static_cast<unsigned char>(byte(random_));
                if (out.size() >= 2 && n >= 2) {  // sometimes with the right ID
                    out[0] = query[0];
                    out[1] = query[1];
                }
                break;
            }
            case 1:  // the right ID, then cut inside the header
                out.assign(query, query + std::min<std::size_t>(n, 7));
                break;
            case 2:  // one answer whose owner name is a compression pointer to itself
                header(0x80, 1);
                out.insert(out.end(), {0xc0, 0x00});
                out[out.size() - 1] = static_cast<unsigned char>(out.size() - 2);
                out.insert(out.end(), {0x00, 0x10, 0x00, 0x01, 0, 0, 0, 60, 0x00, 0x05, 4, 't', 'e',
                                       's', 't'});
                break;
            case 3:  // a TXT answer whose RDLENGTH runs past the end of the packet
                header(0x80, 1);
                out.insert(out.end(),
                           {0xc0, 0x0c, 0x00, 0x10, 0x00, 0x01, 0, 0, 0, 60, 0xff, 0xf0, 10, 'v'});
                break;
            case 4:  // claims 65535 answers, carries none
                header(0x80, 0xffff);
                break;
            case 5:  // truncated: the resolver retries over TCP, which is closed at once
                header(0x80, 0);
                out[2] = static_cast<unsigned char>(out[2] | 0x02);
                break;
            default:  // an answer to a different question (another ID): must be ignored
                header(0x80, 0);
                out[0] = static_cast<unsigned char>(out[0] ^ 0x5a);
                break;
        }
        return out;
    }

    void run() {
        std::vector<std::pair<std::uint16_t, sockaddr_in>> pending;  // query id -> client
        unsigned char buffer[65536];
        while (!stop_) {
            pollfd fds[3] = {{udp(), POLLIN, 0}, {upstream_.get(), POLLIN, 0}, {tcp(), POLLIN, 0}};
            if (::poll(fds, 3, 50) <= 0) continue;
            if (fds[2].revents & POLLIN) {
                int c = ::accept(tcp(), nullptr, nullptr);
                if (c >= 0) ::close(c);
            }
            if (fds[0].revents & POLLIN) {
                sockaddr_in client{};
                socklen_t len = sizeof client;
                const auto n = ::recvfrom(udp(), buffer, sizeof buffer, 0,
                                          reinterpret_cast<sockaddr*>(&client), &len);
                if (n < 12) continue;
                ++queries_;
                switch (mode_.load()) {
                    case Mode::forward: {
                        const std::uint16_t id =
                            static_cast<std::uint16_t>(buffer[0] << 8 | buffer[1]);
                        pending.emplace_back(id, client);
                        if (pending.size() > 4096) pending.erase(pending.begin());
                        sockaddr_in up = loopback(upstream_port_);
                        ::sendto(upstream_.get(), buffer, static_cast<std::size_t>(n), 0,
                                 reinterpret_cast<sockaddr*>(&up), sizeof up);
                        break;
                    }
                    case Mode::drop:
                        break;
                    case Mode::garbage: {
                        auto reply = garbage_for(buffer, static_cast<std::size_t>(n));
                        ::sendto(udp(), reply.data(), reply.size(), 0,
                                 reinterpret_cast<sockaddr*>(&client), sizeof client);
                        break;
                    }
                }
            }
            if (fds[1].revents & POLLIN) {
                const auto n = ::recv(upstream_.get(), buffer, sizeof buffer, 0);
                if (n < 12) continue;
                const std::uint16_t id = static_cast<std::uint16_t>(buffer[0] << 8 | buffer[1]);
                for (auto it = pending.begin(); it != pending.end(); ++it) {
                    if (it->first != id) continue;
                    ::sendto(udp(), buffer, static_cast<std::size_t>(n), 0,
                             reinterpret_cast<sockaddr*>(&it->second), sizeof it->second);
                    pending.erase(it);
                    break;
                }
            }
        }
    }

    std::uint16_t upstream_port_;
    Fd upstream_;
    std::atomic<Mode> mode_{Mode::forward};
    std::atomic<bool> stop_{false};
    std::atomic<std::uint64_t> queries_{0}, garbage_{0};
    std::mt19937 random_{20261129};
    std::thread thread_;
};

}  // namespace dmarc::test_support
