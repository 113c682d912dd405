// `dmarc-milter -t message.eml`: the daemon's decision path without a socket. Each file goes
// through the same Session as a milter connection would (connect, helo, mail, rcpt, headers,
// end-of-message) with RecordingActions, and the verdict is printed.
#pragma once

#include <iosfwd>

#include "milter/options.hpp"
#include "milter/runtime.hpp"

namespace dmarc::milter {

// Returns the exit code (0, or 66 when a file cannot be read, 64 for a bad envelope option).
int run_test_mode(const Options& options, Runtime& runtime, std::ostream& out);

}  // namespace dmarc::milter
