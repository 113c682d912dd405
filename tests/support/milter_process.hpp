// Test support: the real dmarc-milter binary (-f, foreground) in a child process with its stderr
// in a log file, a temporary directory for its files, and what the fault tests measure of it
// (resident memory and thread count from /proc/<pid>/status). Used by tests/milter/daemon_test
// and tests/fault.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/support/milter_client.hpp"

namespace dmarc::test_support {

inline std::string read_text_file(const std::filesystem::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::stringstream s;
    s << in.rdbuf();
    return s.str();
}

inline void write_text_file(const std::filesystem::path& p, const std::string& text) {
    std::ofstream out(p, std::ios::binary | std::ios::trunc);
    out << text;
}

// A field of /proc/<pid>/status in kB ("VmRSS", "VmHWM") or as a count ("Threads"); -1 when the
// process is gone.
inline long proc_status_value(pid_t pid, const std::string& field) {
    std::ifstream in("/proc/" + std::to_string(pid) + "/status");
    std::string line;
    while (std::getline(in, line)) {
        if (line.starts_with(field + ":"))
            return std::strtol(line.c_str() + field.size() + 1, nullptr, 10);
    }
    return -1;
}

class MilterTempDir {
  public:
    MilterTempDir() {
        std::string pattern =
            (std::filesystem::temp_directory_path() / "dmarc-milter-test-XXXXXX").string();
        path_ = ::mkdtemp(pattern.data());
    }
    ~MilterTempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path_, ec);
    }
    MilterTempDir(const MilterTempDir&) = delete;
    MilterTempDir& operator=(const MilterTempDir&) = delete;
    const std::filesystem::path& path() const { return path_; }

  private:
    std::filesystem::path path_;
};

// dmarc-milter -f -c config -p socket in a child process; stderr and stdout go to `log`.
class MilterProcess {
  public:
    MilterProcess(const std::string& binary, const std::filesystem::path& config,
                  const std::string& socket, const std::filesystem::path& log)
        : socket_(socket), log_(log) {
        pid_ = ::fork();
        if (pid_ == 0) {
            int fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
            ::dup2(fd, STDERR_FILENO);
            ::dup2(fd, STDOUT_FILENO);
            ::execl(binary.c_str(), binary.c_str(), "-f", "-c", config.c_str(), "-p",
                    socket.c_str(), static_cast<char*>(nullptr));
            ::_exit(127);
        }
    }
    ~MilterProcess() {
        if (pid_ > 0 && !exited_) {
            ::kill(pid_, SIGKILL);
            ::waitpid(pid_, nullptr, 0);
        }
    }
    MilterProcess(const MilterProcess&) = delete;
    MilterProcess& operator=(const MilterProcess&) = delete;

    pid_t pid() const { return pid_; }
    // Waits until the socket accepts connections.
    bool wait_ready(std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (auto c = milter_client::Client::open(socket_, std::chrono::seconds(1))) return true;
            if (!alive()) return false;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }
    bool alive() {
        if (exited_) return false;
        int status = 0;
        pid_t r = ::waitpid(pid_, &status, WNOHANG);
        if (r == pid_) {
            exited_ = true;
            exit_code_ = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
            return false;
        }
        return true;
    }
    void signal(int sig) { ::kill(pid_, sig); }
    // SIGTERM and wait; the exit code, or -1 on timeout.
    int stop(std::chrono::milliseconds limit = std::chrono::seconds(15)) {
        signal(SIGTERM);
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (!alive()) return exit_code_;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return -1;
    }
    long rss_kb() const { return proc_status_value(pid_, "VmRSS"); }
    long threads() const { return proc_status_value(pid_, "Threads"); }
    std::string log() const { return read_text_file(log_); }
    bool wait_for_log(const std::string& needle,
                      std::chrono::milliseconds limit = std::chrono::seconds(10)) {
        auto deadline = std::chrono::steady_clock::now() + limit;
        while (std::chrono::steady_clock::now() < deadline) {
            if (log().find(needle) != std::string::npos) return true;
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
        }
        return false;
    }

  private:
    pid_t pid_ = -1;
    bool exited_ = false;
    int exit_code_ = -1;
    std::string socket_;
    std::filesystem::path log_;
};

}  // namespace dmarc::test_support
