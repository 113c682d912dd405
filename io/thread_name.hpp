// Names for the programs' threads, as top -H, ps -L, perf and /proc/PID/task/*/comm show them:
// without one every thread of dmarc-milter is "dmarc-milter", and which one burns the CPU (the
// event thread, the spool writer, the log writer...) cannot be told apart.
#pragma once

#include <string_view>

namespace dmarc::io {

// Names the calling thread. The kernel keeps 15 bytes: a longer name is cut. Never fails
// loudly: a thread without a name works the same.
void name_this_thread(std::string_view name) noexcept;

}  // namespace dmarc::io
