// Daemon, pid file, umask, privileges (see process.hpp).
#include "milter/process.hpp"

#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace dmarc::milter {
namespace {

Error sys_error(const std::string& what) {
    return Error{Errc::io, what + ": " + std::strerror(errno)};
}

}  // namespace

Result<Daemon> Daemon::detach() {
    int fds[2];
    if (::pipe2(fds, O_CLOEXEC) != 0) return tl::unexpected(sys_error("pipe"));
    pid_t pid = ::fork();
    if (pid < 0) return tl::unexpected(sys_error("fork"));
    if (pid > 0) {
        ::close(fds[1]);
        std::string message;
        char buffer[512];
        ssize_t n = 0;
        while ((n = ::read(fds[0], buffer, sizeof(buffer))) > 0) {
            message.append(buffer, static_cast<std::size_t>(n));
        }
        if (message.empty()) {
            std::fputs("dmarc-milter: the daemon exited during start-up\n", stderr);
            std::_Exit(70);
        }
        int code = message[0] - '0';
        if (code != 0) {
            std::fprintf(stderr, "dmarc-milter: %s\n", message.c_str() + 2);
            std::_Exit(code == 8 ? 78 : code == 5 ? 75 : 70);
        }
        std::_Exit(0);
    }
    ::close(fds[0]);
    ::setsid();
    int null = ::open("/dev/null", O_RDWR);
    if (null >= 0) {
        ::dup2(null, STDIN_FILENO);
        ::dup2(null, STDOUT_FILENO);
        ::dup2(null, STDERR_FILENO);
        if (null > STDERR_FILENO) ::close(null);
    }
    Daemon d;
    d.fd_ = fds[1];
    return d;
}

void Daemon::ready() {
    if (fd_ < 0) return;
    (void)!::write(fd_, "0", 1);
    ::close(fd_);
    fd_ = -1;
}

void Daemon::fail(int exit_code, const std::string& message) {
    if (fd_ >= 0) {
        // One digit class for the parent: 8 config, 5 tempfail, anything else software.
        std::string m = (exit_code == 78 ? "8 " : exit_code == 75 ? "5 " : "7 ") + message;
        (void)!::write(fd_, m.data(), m.size());
        ::close(fd_);
    } else {
        std::fprintf(stderr, "dmarc-milter: %s\n", message.c_str());
    }
    std::_Exit(exit_code);
}

Result<void> write_pid_file(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd < 0) return tl::unexpected(sys_error("cannot write PidFile " + path));
    std::string text = std::to_string(::getpid()) + "\n";
    bool ok = ::write(fd, text.data(), text.size()) == static_cast<ssize_t>(text.size());
    ::close(fd);
    if (!ok) return tl::unexpected(sys_error("cannot write PidFile " + path));
    return {};
}

void remove_pid_file(const std::string& path) noexcept {
    if (!path.empty()) ::unlink(path.c_str());
}

void apply_umask(const std::optional<std::uint32_t>& mask) noexcept {
    if (mask) ::umask(static_cast<mode_t>(*mask & 0777));
}

Result<void> drop_privileges(const std::string& spec) {
    if (spec.empty()) return {};
    auto colon = spec.find(':');
    std::string user = spec.substr(0, colon);
    std::string group_name = colon == std::string::npos ? "" : spec.substr(colon + 1);
    errno = 0;
    passwd* pw = ::getpwnam(user.c_str());
    if (pw == nullptr) {
        return make_error(Errc::invalid_value, "UserID: no such user " + user);
    }
    uid_t uid = pw->pw_uid;
    gid_t gid = pw->pw_gid;
    if (!group_name.empty()) {
        struct group* gr = ::getgrnam(group_name.c_str());
        if (gr == nullptr)
            return make_error(Errc::invalid_value, "UserID: no such group " + group_name);
        gid = gr->gr_gid;
    }
    if (::geteuid() != 0) {
        if (::geteuid() == uid) return {};
        return make_error(Errc::invalid_value,
                          "UserID " + spec + ": not running as root, cannot change user");
    }
    if (::initgroups(user.c_str(), gid) != 0) return tl::unexpected(sys_error("initgroups"));
    if (::setgid(gid) != 0) return tl::unexpected(sys_error("setgid"));
    if (::setuid(uid) != 0) return tl::unexpected(sys_error("setuid"));
    if (::setuid(0) == 0) return make_error(Errc::internal, "could regain root after setuid");
    return {};
}

}  // namespace dmarc::milter
