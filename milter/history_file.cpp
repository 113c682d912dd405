// HistoryFile appends (see history_file.hpp).
#include "milter/history_file.hpp"

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <thread>
#include <utility>

namespace dmarc::milter {
namespace {

Error sys_error(const std::string& what) {
    return Error{Errc::io, what + ": " + std::strerror(errno)};
}

}  // namespace

Result<std::unique_ptr<HistoryFile>> HistoryFile::open(const std::string& path) {
    int fd = ::open(path.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0) return tl::unexpected(sys_error("cannot open HistoryFile " + path));
    struct stat st {};
    if (::fstat(fd, &st) != 0) {
        auto e = sys_error("cannot stat HistoryFile " + path);
        ::close(fd);
        return tl::unexpected(e);
    }
    return std::unique_ptr<HistoryFile>(new HistoryFile(path, fd, st.st_dev, st.st_ino));
}

HistoryFile::~HistoryFile() {
    if (fd_ >= 0) ::close(fd_);
}

void HistoryFile::reopen_if_rotated() {
    struct stat st {};
    if (::stat(path_.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_) return;
    int fd = ::open(path_.c_str(), O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0640);
    if (fd < 0 || ::fstat(fd, &st) != 0) {
        std::string warning = "cannot reopen rotated HistoryFile " + path_ + ": " +
                              std::strerror(errno) + "; still writing to the old file";
        // Said once per distinct problem, not once per message.
        if (warning != last_warning_) warning_ = last_warning_ = std::move(warning);
        if (fd >= 0) ::close(fd);
        return;
    }
    ::close(fd_);
    fd_ = fd;
    dev_ = st.st_dev;
    ino_ = st.st_ino;
}

Result<void> HistoryFile::append(std::string_view text, const std::function<bool()>& keep_waiting) {
    std::lock_guard lock(mutex_);
    reopen_if_rotated();
    while (::flock(fd_, keep_waiting ? LOCK_EX | LOCK_NB : LOCK_EX) != 0) {
        if (errno == EINTR) continue;
        if (errno != EWOULDBLOCK) return tl::unexpected(sys_error("flock " + path_));
        if (!keep_waiting()) {
            return make_error(Errc::io, "locked by another process");
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
    }
    Result<void> result;
    std::string_view rest = text;
    while (!rest.empty()) {
        ssize_t n = ::write(fd_, rest.data(), rest.size());
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            result = tl::unexpected(sys_error("write " + path_));
            break;
        }
        rest.remove_prefix(static_cast<std::size_t>(n));
    }
    ::flock(fd_, LOCK_UN);
    return result;
}

std::string HistoryFile::take_warning() {
    std::lock_guard lock(mutex_);
    return std::exchange(warning_, std::string());
}

}  // namespace dmarc::milter
