// libmilter glue: registers the callbacks that translate smfi_* calls into Session methods and
// back. Nothing else in dmarc-milter includes libmilter's headers.
#pragma once

#include <string>

#include "core/result.hpp"
#include "milter/session.hpp"

namespace dmarc::milter {

// smfi_register with our callbacks; services must outlive smfi_main.
Result<void> register_milter(Services& services, const std::string& name);

}  // namespace dmarc::milter

namespace dmarc::milter {

// smfi_setconn + smfi_opensocket (an old unix socket file is removed), then TCP_NODELAY on the
// listening socket so accepted connections inherit it: libmilter writes each end-of-message
// action as its own small packet, and with Nagle the last one waits for a delayed ACK, about
// 40 ms per message (e2e-notes item 6). Returns how many listening sockets got TCP_NODELAY.
Result<int> open_milter_socket(const std::string& spec, int backlog, unsigned debug_level);
// Runs libmilter's accept loop until stop_milter() (or libmilter's own SIGTERM handling).
int run_milter();
void stop_milter();

}  // namespace dmarc::milter
