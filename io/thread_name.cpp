// Thread names (see thread_name.hpp).
#include "io/thread_name.hpp"

#include <pthread.h>

#include <algorithm>
#include <array>
#include <cstring>

namespace dmarc::io {

void name_this_thread(std::string_view name) noexcept {
    std::array<char, 16> buffer{};  // TASK_COMM_LEN, the terminating NUL included
    const std::size_t n = std::min(name.size(), buffer.size() - 1);
    std::memcpy(buffer.data(), name.data(), n);
    (void)pthread_setname_np(pthread_self(), buffer.data());
}

}  // namespace dmarc::io
