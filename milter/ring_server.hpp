// The milter protocol served from io_uring event threads (Linux 6.1 and later): each thread owns
// a ring with a multishot accept on the shared listening socket, and every read, reply and close
// of its connections goes through that ring, batched into one io_uring_enter(2) per wake-up.
// The threaded server (server.cpp) sleeps and wakes at each accept and each MTA write (three
// times per message) and makes about seven system calls per message; measured on the step-10
// load (milter/README.md, eighth session), the protocol alone cost 0.040 ms of CPU per message
// that way against 0.014 ms from a ring.
//
// Nothing on an event thread may wait: end-of-message is decided there only when every DNS
// answer it needs is cached (Session::on_eom with may_wait false); otherwise the connection is
// handed to a worker thread, which decides it and hands it back. Worker threads are started on
// demand and end after a minute idle.
#pragma once

#include <atomic>
#include <string>

#include "milter/session.hpp"

namespace dmarc::milter {

struct RingListener {
    int fd = -1;
    std::atomic<bool>* stopping = nullptr;  // set by stop_milter(): accept no more
    std::atomic<int>* busy = nullptr;       // connections between a read and its replies sent
};

// Starts `threads` event threads serving `listener` until the process ends. false (nothing
// started, `why` says what the kernel refused) when io_uring is not available as needed: no
// io_uring (ENOSYS), forbidden (EPERM: kernel.io_uring_disabled, a seccomp profile), or older
// than 6.1 (no IORING_SETUP_DEFER_TASKRUN). The caller then serves with threads.
bool start_rings(Services& services, const RingListener& listener, int threads, std::string& why);

}  // namespace dmarc::milter
