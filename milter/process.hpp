// Process chores for dmarc-milter: daemonizing with a readiness report to the parent, pid file,
// umask, and dropping root for UserID user[:group].
#pragma once

#include <cstdint>
#include <optional>
#include <string>

#include "core/result.hpp"

namespace dmarc::milter {

// fork()s; the parent waits until the child reports ready (exit 0) or a failure (its message
// on stderr, its exit code). Must run before any thread exists.
class Daemon {
  public:
    // Returns in the child only; the parent exits.
    static Result<Daemon> detach();
    Daemon() = default;  // foreground: ready()/fail() do nothing
    void ready();
    [[noreturn]] void fail(int exit_code, const std::string& message);

  private:
    int fd_ = -1;
};

Result<void> write_pid_file(const std::string& path);
void remove_pid_file(const std::string& path) noexcept;
void apply_umask(const std::optional<std::uint32_t>& mask) noexcept;
// "user" or "user:group"; only when running as root (otherwise it must name the current user).
Result<void> drop_privileges(const std::string& user_spec);

}  // namespace dmarc::milter
